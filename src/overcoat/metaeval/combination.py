"""A learned, calibrated combination of scorers: Bradley-Terry (logistic) on score differences.

Given k scorers' scores of every response (``features``, items x responses x k) and human scores
(items x responses), the within-item pairs with their feature differences ``x_j - x_k`` and human
target ``y`` (1, 0, or 1/2 for a human tie; :func:`.calibration.preference_target`) fit

    P(j preferred over k) = sigmoid(w . (x_j - x_k) / scale)

by L2-penalised maximum likelihood (no intercept: swapping j and k flips the probability). Each
feature is divided by its standard deviation over responses (``scale``) so that the penalty
``l2/2 |w|^2`` treats scorers on different scales alike. The combined score of a response is
``w . x / scale``: a pointwise scorer whose differences are calibrated Bradley-Terry logits.

:func:`cross_fitted_combination` scores every item with a model fitted on the other folds of
items, so that the combination can be meta-evaluated like any scorer (same statistics, CIs and
significance tests) without ever being scored on its own training pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .calibration import _newton_logistic, preference_target

__all__ = ["PreferenceCombination", "cross_fitted_combination", "fit_preference_combination"]


@dataclass(frozen=True)
class PreferenceCombination:
    """A fitted combination: ``score(x) = sum_i weights_i x_i / scale_i``."""

    names: tuple[str, ...]
    weights: np.ndarray
    scale: np.ndarray
    l2: float
    n_pairs: int

    def score(self, features: ArrayLike) -> np.ndarray:
        """Combined score of responses; ``features`` has the scorers on its last axis (NaN in any
        feature gives NaN)."""
        x = np.asarray(features, dtype=float)
        if x.shape[-1] != len(self.names):
            raise ValueError(
                f"expected {len(self.names)} features ({', '.join(self.names)}), got {x.shape[-1]}"
            )
        return (x / self.scale) @ self.weights

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "bradley-terry-combination",
            "names": list(self.names),
            "weights": self.weights.tolist(),
            "scale": self.scale.tolist(),
            "l2": self.l2,
            "n_pairs": self.n_pairs,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PreferenceCombination:
        if d.get("model") != "bradley-terry-combination":
            raise ValueError(f"not a combination model: model={d.get('model')!r}")
        try:
            names = tuple(str(n) for n in d["names"])
            w = np.asarray(d["weights"], dtype=float)
            s = np.asarray(d["scale"], dtype=float)
            out = cls(names, w, s, float(d.get("l2", 0.0)), int(d.get("n_pairs", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"bad combination model: {e}") from None
        if not (w.shape == s.shape == (len(names),)) or not np.isfinite(w).all() or (s <= 0).any():
            raise ValueError(
                "bad combination model: weights and scale need one finite value per name, scale > 0"
            )
        return out


def _check(features: ArrayLike, human: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(features, dtype=float)
    H = np.asarray(human, dtype=float)
    if X.ndim != 3 or H.shape != X.shape[:2]:
        raise ValueError(
            f"features must be (items x responses x scorers) and human (items x "
            f"responses); got {X.shape} and {H.shape}"
        )
    return X, H


def _pairs(X: np.ndarray, H: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    R = X.shape[1]
    jj, kk = np.triu_indices(R, 1)
    Xr, Hr = X[rows], H[rows]
    dx = (Xr[:, jj, :] - Xr[:, kk, :]).reshape(-1, X.shape[2])
    dh = (Hr[:, jj] - Hr[:, kk]).ravel()
    ok = np.isfinite(dh) & np.isfinite(dx).all(axis=1)
    return dx[ok], preference_target(dh[ok])


def _scale(X: np.ndarray) -> np.ndarray:
    flat = X.reshape(-1, X.shape[2])
    flat = flat[np.isfinite(flat).all(axis=1)]
    sd = flat.std(axis=0) if flat.size else np.ones(X.shape[2])
    return np.where(sd > 0, sd, 1.0)


def fit_preference_combination(
    features: ArrayLike,
    human: ArrayLike,
    *,
    names: list[str] | tuple[str, ...] | None = None,
    l2: float = 1.0,
) -> PreferenceCombination:
    """Fit on every within-item pair of the data (use :func:`cross_fitted_combination` to evaluate)."""
    X, H = _check(features, human)
    return _fit(X, H, np.arange(X.shape[0]), names, l2)


def _fit(X: np.ndarray, H: np.ndarray, rows: np.ndarray, names, l2: float) -> PreferenceCombination:
    if l2 < 0 or not np.isfinite(l2):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    k = X.shape[2]
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(k))
    if len(names) != k:
        raise ValueError(f"{len(names)} names for {k} scorers")
    scale = _scale(X[rows])
    dx, y = _pairs(X, H, rows)
    if dx.shape[0] == 0:
        raise ValueError(
            "no within-item pair with every scorer's score and a human score to fit on"
        )
    w = _newton_logistic(dx / scale, y, np.full(k, float(l2)))
    return PreferenceCombination(names, w, scale, float(l2), int(dx.shape[0]))


def cross_fitted_combination(
    features: ArrayLike,
    human: ArrayLike,
    *,
    n_folds: int = 5,
    l2: float = 1.0,
    seed: int = 0,
    names: list[str] | tuple[str, ...] | None = None,
) -> np.ndarray:
    """(items x responses) combined scores, each item scored by the model fitted on the other
    folds (items assigned to ``n_folds`` folds at random under ``seed``)."""
    X, H = _check(features, human)
    n = X.shape[0]
    if int(n_folds) != n_folds or not 2 <= n_folds <= n:
        raise ValueError(
            f"n_folds must be an integer in [2, {n}] (the number of items), got {n_folds!r}"
        )
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % int(n_folds)
    out = np.full(X.shape[:2], np.nan)
    for f in range(int(n_folds)):
        test = np.flatnonzero(fold == f)
        model = _fit(X, H, np.flatnonzero(fold != f), names, l2)
        out[test] = model.score(X[test])
    return out
