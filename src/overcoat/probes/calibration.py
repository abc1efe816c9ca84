"""Calibration of a scorer's preferences on a data set: reliability before and after calibrators
fitted out of sample, and the tie threshold fitted on other items.

Every within-item pair (j, k) with human scores gives a target ``y`` (1: j preferred, 0: k, 1/2:
a human tie) and the scorer's evidence ``delta``: the score difference ``s_j - s_k`` of a pointwise
scorer, or the logit of P(j better) for a pairwise judge (``is_probability=True``, where a
response's score is that probability).

Each pair is presented in a seeded random order, so that a data set's column order (preference
data stores the chosen response first) cannot be learned by a calibrator's intercept.

* ``raw``: the scorer's own probability without fitting: ``sigmoid(delta)`` (meaningful for reward
  models trained as Bradley-Terry logits) or the judge's probability;
* ``temperature``, ``platt``, ``isotonic``: cross-fitted over items (``n_folds``): each pair's
  probability comes from a calibrator fitted on the other folds; the reported numbers are held out;
* ``tie_threshold``: the tie-calibration epsilon fitted on other folds with its held-out acc_eq
  (:func:`overcoat.metaeval.accuracy.cross_fitted_tie_accuracy`), the meta-evaluation side of the
  same question ("when is a small score difference a tie?").

The calibrators fitted on all pairs are returned too (``fitted``), to be saved and used as part of
a scorer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.model import Dataset
from ..metaeval.accuracy import cross_fitted_tie_accuracy
from ..metaeval.calibration import (
    brier_score_loss,
    cross_fitted_probabilities,
    expected_calibration_error,
    log_loss,
    make_calibrator,
    preference_target,
)
from ..scorers.fitted import probability_logit

__all__ = ["CALIBRATORS", "calibration_probe", "preference_evidence"]

CALIBRATORS = ("temperature", "platt", "isotonic")


def preference_evidence(
    human: np.ndarray,
    metric: np.ndarray,
    *,
    is_probability: bool = False,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(delta, target, item) for every within-item pair with human and scorer scores.

    The column order of a data set can carry the label (preference data stores the chosen
    response first), which a calibrator with an intercept (Platt) would learn. So each pair is
    presented in a random order (seeded; ``seed=None`` keeps the column order): a flipped pair
    has ``-delta`` and ``1 - target``."""
    jj, kk = np.triu_indices(human.shape[1], 1)
    dh = human[:, jj] - human[:, kk]
    if is_probability:
        dm = probability_logit(metric[:, jj])
    else:
        dm = metric[:, jj] - metric[:, kk]
    ok = np.isfinite(dh) & np.isfinite(dm)
    item, p_idx = np.nonzero(ok)
    delta, target = dm[item, p_idx], preference_target(dh[item, p_idx])
    if seed is not None:
        flip = np.random.default_rng(seed).random(delta.size) < 0.5
        delta = np.where(flip, -delta, delta)
        target = np.where(flip, 1.0 - target, target)
    return delta, target, item


def _summary(
    prob: np.ndarray,
    y: np.ndarray,
    item: np.ndarray,
    *,
    n_bins: int,
    binning: str,
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    ece = expected_calibration_error(
        prob, y, n_bins=n_bins, binning=binning, groups=item, n_resamples=n_resamples, seed=seed
    )
    b = ece.bins
    return {
        "ece": {"statistic": ece.statistic, "confidence_interval": ece.confidence_interval},
        "brier": brier_score_loss(prob, y),
        "log_loss": log_loss(prob, y),
        "reliability": {
            "edges": b.edges.tolist(),
            "count": b.count.tolist(),
            "confidence": b.confidence.tolist(),
            "accuracy": b.accuracy.tolist(),
        },
    }


def calibration_probe(
    dataset: Dataset,
    scores: np.ndarray,
    *,
    is_probability: bool = False,
    calibrators: tuple[str, ...] = CALIBRATORS,
    n_folds: int = 5,
    n_bins: int = 10,
    binning: str = "width",
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Calibration summary of one scorer's per-response ``scores`` (oriented: higher = better)."""
    H = dataset.human_matrix()
    M = dataset.to_matrix(np.asarray(scores, dtype=float))
    delta, y, item = preference_evidence(H, M, is_probability=is_probability, seed=seed)
    if delta.size == 0:
        raise ValueError(f"{dataset.name!r}: no pair with human and scorer scores to calibrate on")
    n_groups = np.unique(item).size
    folds = min(n_folds, n_groups)
    if folds < 2:
        raise ValueError(
            f"{dataset.name!r}: calibration needs pairs from at least 2 items, got {n_groups}"
        )
    common: dict[str, Any] = {
        "n_bins": n_bins,
        "binning": binning,
        "n_resamples": n_resamples,
        "seed": seed,
    }
    with np.errstate(over="ignore"):
        raw = 1.0 / (1.0 + np.exp(-delta))
    out: dict[str, Any] = {
        "n_pairs": int(delta.size),
        "n_items": int(n_groups),
        "n_human_ties": int((y == 0.5).sum()),
        "n_folds": folds,
        "methods": {"raw": _summary(raw, y, item, **common)},
        "fitted": {},
    }
    for name in calibrators:
        prob = cross_fitted_probabilities(name, delta, y, groups=item, n_folds=folds, seed=seed)
        out["methods"][name] = _summary(prob, y, item, **common)
        out["fitted"][name] = make_calibrator(name).fit(delta, y).to_dict()
    if not is_probability:
        tie = cross_fitted_tie_accuracy(H, M, k_folds=folds, seed=seed)
        out["tie_threshold"] = {
            "held_out_acc_eq": float(tie.statistic),
            "in_sample_acc_eq": float(tie.in_sample_statistic),
            "all_ties_baseline": float(tie.all_ties_baseline),
            "epsilon_per_fold": [float(e) for e in np.atleast_1d(tie.epsilon)],
        }
    return out
