"""Calibration of preference probabilities: reliability, ECE, Brier score, log loss, and calibrators.

A scorer's verdict on a pair (A, B) becomes a probability that A is preferred:

* a scorer of single responses gives a score difference ``delta = s(A) - s(B)``, turned into
  ``p = sigmoid(delta / T)`` (Bradley-Terry with temperature ``T``; :func:`preference_probability`);
* a pairwise judge already returns ``p``.

The human label of the pair is the target ``y``: 1 if A is preferred, 0 if B is, and **1/2 for a
human tie** (a tie is neither side's win; the proper scoring rules below then reward ``p = 1/2``).
:func:`preference_target` maps a human score difference to ``y``.

Which side of a pair is "A" is arbitrary for most data, so the default reliability measure is
*top-label* (Guo et al. 2017): the confidence of the verdict is ``max(p, 1 - p)`` (in [1/2, 1])
and its correctness is ``y`` when ``p >= 1/2`` else ``1 - y`` (a verdict of exactly 1/2 is half
right whatever ``y``). Top-label ECE, the Brier score and the log loss are invariant to swapping
A and B. ``kind="positive"`` bins ``p`` itself over [0, 1] instead (scikit-learn's
``calibration_curve``), which is what matters when the order means something (a judge's position).

ECE is ``sum_b (n_b / n) |accuracy_b - confidence_b|`` over bins of equal width (``binning="width"``)
or of equal mass (``"mass"``: edges at quantiles of the confidences, ties kept in one bin as
scikit-learn's ``strategy="quantile"``). Bootstrap confidence intervals resample pairs, or whole
groups (``groups=``, e.g. item ids: pairs of one item move together), with the bin edges of the
full data held fixed.

Calibrators (:class:`TemperatureScaling`, :class:`PlattScaling`, :class:`IsotonicCalibration`) map a
score difference to a probability. They are fitted on a dev split or cross-fitted over groups
(:func:`cross_fitted_probabilities`): a calibrator is never evaluated on the pairs it was fitted on.
Each serialises to a small dict (``to_dict`` / :func:`calibrator_from_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, log_expit

from ._util import percentile_interval
from .resampling import bootstrap_weights

__all__ = [
    "CalibrationResult",
    "ReliabilityBins",
    "TemperatureScaling",
    "PlattScaling",
    "IsotonicCalibration",
    "brier_score_loss",
    "calibrator_from_dict",
    "cross_fitted_probabilities",
    "expected_calibration_error",
    "log_loss",
    "make_calibrator",
    "preference_probability",
    "preference_target",
    "reliability_bins",
]


# ---------------------------------------------------------------------------------------------
# Probabilities and targets
# ---------------------------------------------------------------------------------------------


def preference_probability(score_difference: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """``sigmoid(delta / T)``: the Bradley-Terry probability that A is preferred (NaN stays NaN)."""
    if not np.isfinite(temperature) or temperature == 0:
        raise ValueError(f"temperature must be finite and non-zero, got {temperature!r}")
    return expit(np.asarray(score_difference, dtype=float) / temperature)


def preference_target(human_difference: ArrayLike) -> np.ndarray:
    """Human score difference (A - B) -> target: 1 (A preferred), 0 (B preferred), 1/2 (tie)."""
    d = np.asarray(human_difference, dtype=float)
    return np.where(np.isnan(d), np.nan, 0.5 * (np.sign(d) + 1.0))


def _check_prob_target(prob: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(prob, dtype=float).ravel()
    y = np.asarray(target, dtype=float).ravel()
    if p.shape != y.shape:
        raise ValueError(f"prob and target differ in length: {p.size} vs {y.size}")
    if p.size == 0:
        raise ValueError("no pairs: calibration needs at least one (prob, target) pair")
    if not (np.isfinite(p).all() and np.isfinite(y).all()):
        raise ValueError(
            "prob and target must be finite (drop pairs without a verdict or label first)"
        )
    if ((p < 0) | (p > 1)).any():
        raise ValueError("prob must lie in [0, 1]")
    if ((y < 0) | (y > 1)).any():
        raise ValueError("target must lie in [0, 1] (1 = A preferred, 0 = B, 1/2 = tie)")
    return p, y


# ---------------------------------------------------------------------------------------------
# Proper scoring rules
# ---------------------------------------------------------------------------------------------


def brier_score_loss(prob: ArrayLike, target: ArrayLike) -> float:
    """Mean squared error ``mean((p - y)^2)`` (lower is better; scikit-learn's name)."""
    p, y = _check_prob_target(prob, target)
    return float(np.mean((p - y) ** 2))


def log_loss(prob: ArrayLike, target: ArrayLike, *, eps: float = 1e-15) -> float:
    """Mean cross-entropy ``-mean(y log p + (1 - y) log(1 - p))``, ``p`` and ``1 - p`` floored at ``eps``.

    With soft targets (human ties, y = 1/2) the minimum is the entropy of ``y``, not 0."""
    p, y = _check_prob_target(prob, target)
    q = 1.0 - p  # clip both sides alike, so that swapping A and B changes nothing
    return float(-np.mean(y * np.log(np.maximum(p, eps)) + (1.0 - y) * np.log(np.maximum(q, eps))))


# ---------------------------------------------------------------------------------------------
# Reliability and ECE
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBins:
    """Reliability-diagram data: per bin its edges, count, mean confidence and mean accuracy
    (NaN for empty bins)."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    kind: str
    binning: str


@dataclass(frozen=True)
class CalibrationResult:
    """Expected calibration error with a bootstrap ``confidence_interval`` and the bins behind it."""

    statistic: float
    confidence_interval: tuple[float, float] | None
    n: int
    n_bins: int
    kind: str
    binning: str
    bins: ReliabilityBins
    n_resamples: int


def _confidence_correct(p: np.ndarray, y: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "positive":
        return p, y
    if kind != "top-label":
        raise ValueError(f"kind must be one of top-label, positive, got {kind!r}")
    conf = np.maximum(p, 1.0 - p)
    correct = np.where(p > 0.5, y, 1.0 - y)
    correct = np.where(p == 0.5, 0.5, correct)
    return conf, correct


def _edges(conf: np.ndarray, n_bins: int, kind: str, binning: str) -> np.ndarray:
    lo = 0.5 if kind == "top-label" else 0.0
    if binning == "width":
        # lo + (1 - lo) i / n: i / n is correctly rounded (np.linspace puts 3/5 at 0.6000000000000001,
        # which would move a confidence of exactly 0.6 into the bin below)
        return lo + (1.0 - lo) * (np.arange(n_bins + 1) / n_bins)
    if binning == "mass":
        edges = np.quantile(conf, np.arange(n_bins + 1) / n_bins)
        edges[0], edges[-1] = lo, 1.0
        return np.unique(edges)
    raise ValueError(f"binning must be one of width, mass, got {binning!r}")


def _bin_index(conf: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # bins are [e_i, e_{i+1}) except the last, which is closed: [e_{n-1}, e_n]
    return np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, edges.size - 2)


def _binned(
    prob: ArrayLike, target: ArrayLike, n_bins: int, kind: str, binning: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked inputs in bins: (confidence, correctness, edges, bin of each pair, and per bin the
    count, the sum of confidences and the sum of correctness)."""
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    p, y = _check_prob_target(prob, target)
    conf, correct = _confidence_correct(p, y, kind)
    edges = _edges(conf, int(n_bins), kind, binning)
    b = _bin_index(conf, edges)
    nb = edges.size - 1
    sums = np.stack(
        [
            np.bincount(b, minlength=nb).astype(float),
            np.bincount(b, conf, minlength=nb),
            np.bincount(b, correct, minlength=nb),
        ]
    )
    return conf, correct, edges, b, sums


def _reliability(sums: np.ndarray, edges: np.ndarray, kind: str, binning: str) -> ReliabilityBins:
    count, conf_sum, correct_sum = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = conf_sum / count
        mean_acc = correct_sum / count
    return ReliabilityBins(edges, count.astype(np.int64), mean_conf, mean_acc, kind, binning)


def reliability_bins(
    prob: ArrayLike,
    target: ArrayLike,
    *,
    n_bins: int = 10,
    kind: str = "top-label",
    binning: str = "width",
) -> ReliabilityBins:
    """Per-bin count, mean confidence and mean accuracy (the reliability diagram's points)."""
    _, _, edges, _, sums = _binned(prob, target, n_bins, kind, binning)
    return _reliability(sums, edges, kind, binning)


def _ece_from_sums(count: np.ndarray, conf_sum: np.ndarray, correct_sum: np.ndarray) -> np.ndarray:
    # sum_b (n_b / n) |acc_b - conf_b| = sum_b |correct_sum_b - conf_sum_b| / n; works on (..., bins)
    n = count.sum(axis=-1)
    return np.abs(correct_sum - conf_sum).sum(axis=-1) / n


def expected_calibration_error(
    prob: ArrayLike,
    target: ArrayLike,
    *,
    n_bins: int = 10,
    kind: str = "top-label",
    binning: str = "width",
    groups: ArrayLike | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> CalibrationResult:
    """ECE with a percentile bootstrap CI (``n_resamples=0``: no CI).

    ``groups`` (one id per pair, e.g. the item) makes the bootstrap resample whole groups, so pairs
    that share an item are not treated as independent. Bin edges are those of the full data."""
    conf, correct, edges, b, sums = _binned(prob, target, n_bins, kind, binning)
    bins = _reliability(sums, edges, kind, binning)
    nb = edges.size - 1
    n_pairs = conf.size
    ece = float(_ece_from_sums(*sums))
    ci = None
    if n_resamples:
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level!r}")
        if groups is None:
            g = np.arange(n_pairs)
        else:
            g = np.unique(np.asarray(groups).ravel(), return_inverse=True)[1]
            if g.size != n_pairs:
                raise ValueError(f"groups has {g.size} entries for {n_pairs} pairs")
        n_groups = int(g.max()) + 1
        # per-group sums in every bin: (groups, bins) for count, confidence and correctness
        flat = g * nb + b
        group_sums = [
            np.bincount(flat, w, minlength=n_groups * nb).reshape(n_groups, nb)
            for w in (None, conf, correct)
        ]
        step = max(1, min(n_resamples, 2_000_000 // max(n_groups, 1)))
        dist = np.concatenate(
            [
                _ece_from_sums(*(mult @ s for s in group_sums))
                for mult in bootstrap_weights(n_groups, n_resamples, seed, batch_size=step)
            ]
        )
        ci = percentile_interval(dist, level)
    return CalibrationResult(ece, ci, int(n_pairs), nb, kind, binning, bins, int(n_resamples))


# ---------------------------------------------------------------------------------------------
# Calibrators
# ---------------------------------------------------------------------------------------------


def _check_fit_data(
    score_difference: ArrayLike, target: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(score_difference, dtype=float).ravel()
    y = np.asarray(target, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"score_difference and target differ in length: {x.size} vs {y.size}")
    if x.size == 0:
        raise ValueError("no pairs to fit a calibrator on")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("score_difference and target must be finite")
    if ((y < 0) | (y > 1)).any():
        raise ValueError("target must lie in [0, 1]")
    return x, y


def _newton_logistic(
    X: np.ndarray, y: np.ndarray, l2: np.ndarray, max_iter: int = 100
) -> np.ndarray:
    """Minimise ``sum(-y log s(Xw) - (1-y) log s(-Xw)) + 1/2 sum(l2 w^2)`` (convex) by damped Newton."""
    w = np.zeros(X.shape[1])

    def loss(w):
        z = X @ w
        return float(
            -(y * log_expit(z) + (1.0 - y) * log_expit(-z)).sum() + 0.5 * (l2 * w * w).sum()
        )

    cur = loss(w)
    for _ in range(max_iter):
        s = expit(X @ w)
        grad = X.T @ (s - y) + l2 * w
        hess = (X * (s * (1.0 - s))[:, None]).T @ X + np.diag(l2)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while True:
            new = w - t * step
            val = loss(new)
            if val <= cur or t < 1e-10:
                break
            t *= 0.5
        done = abs(cur - val) <= 1e-12 * max(1.0, abs(cur))
        w, cur = new, min(val, cur)
        if done:
            break
    return w


def _ridge(x: np.ndarray, l2: float) -> float:
    # scale-free ridge: the penalty on the slope is l2 * sum(x^2), so rescaling the scores rescales
    # the fitted slope exactly; it only keeps separable data from an infinite slope
    return float(l2 * max(float((x * x).sum()), 1e-300))


class TemperatureScaling:
    """``p = sigmoid(delta / T)``, one parameter fitted by maximum likelihood (no intercept, so
    swapping A and B maps p to 1 - p). A negative ``temperature`` means the scorer's preferences
    run against the human ones."""

    name = "temperature"

    def __init__(self, temperature: float | None = None, l2: float = 1e-6):
        self.temperature = temperature
        self.l2 = l2

    def fit(self, score_difference: ArrayLike, target: ArrayLike) -> TemperatureScaling:
        x, y = _check_fit_data(score_difference, target)
        (a,) = _newton_logistic(x[:, None], y, np.array([_ridge(x, self.l2)]))
        self.temperature = float(1.0 / a) if a != 0 else float("inf")
        return self

    def predict(self, score_difference: ArrayLike) -> np.ndarray:
        if self.temperature is None:
            raise ValueError("TemperatureScaling is not fitted")
        x = np.asarray(score_difference, dtype=float)
        return (
            expit(x / self.temperature) if np.isfinite(self.temperature) else np.full(x.shape, 0.5)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"calibrator": self.name, "temperature": self.temperature}


class PlattScaling:
    """``p = sigmoid(a delta + b)`` (Platt 1999). The intercept ``b`` models an order effect (a
    pairwise judge's position bias); without one, use :class:`TemperatureScaling`."""

    name = "platt"

    def __init__(
        self, slope: float | None = None, intercept: float | None = None, l2: float = 1e-6
    ):
        self.slope, self.intercept, self.l2 = slope, intercept, l2

    def fit(self, score_difference: ArrayLike, target: ArrayLike) -> PlattScaling:
        x, y = _check_fit_data(score_difference, target)
        X = np.column_stack([x, np.ones_like(x)])
        a, b = _newton_logistic(X, y, np.array([_ridge(x, self.l2), self.l2 * x.size]))
        self.slope, self.intercept = float(a), float(b)
        return self

    def predict(self, score_difference: ArrayLike) -> np.ndarray:
        if self.slope is None or self.intercept is None:
            raise ValueError("PlattScaling is not fitted")
        return expit(self.slope * np.asarray(score_difference, dtype=float) + self.intercept)

    def to_dict(self) -> dict[str, Any]:
        return {"calibrator": self.name, "slope": self.slope, "intercept": self.intercept}


def _pava(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool adjacent violators: non-decreasing fit of ``y`` (weights ``w``); returns block
    values, block weights and block sizes."""
    vals: list[float] = []
    wts: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y.tolist(), w.tolist()):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] >= vals[-1]:
            wsum = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum
            vals[-2:] = [v]
            wts[-2:] = [wsum]
            sizes[-2:] = [sizes[-2] + sizes[-1]]
    return np.array(vals), np.array(wts), np.array(sizes)


class IsotonicCalibration:
    """Non-decreasing step-free map from score difference to probability (isotonic regression by
    pool-adjacent-violators; linear interpolation between the distinct fitted points, constant
    beyond them, as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``).

    ``symmetric=True`` (default) fits on every pair in both orders, ``(delta, y)`` and
    ``(-delta, 1 - y)``, so that swapping A and B maps p to 1 - p, as it should when the order of a
    pair carries no meaning."""

    name = "isotonic"

    def __init__(
        self, symmetric: bool = True, x: ArrayLike | None = None, y: ArrayLike | None = None
    ):
        self.symmetric = symmetric
        self.x = None if x is None else np.asarray(x, dtype=float)
        self.y = None if y is None else np.asarray(y, dtype=float)

    def fit(self, score_difference: ArrayLike, target: ArrayLike) -> IsotonicCalibration:
        x, y = _check_fit_data(score_difference, target)
        if self.symmetric:
            x, y = np.concatenate([x, -x]), np.concatenate([y, 1.0 - y])
        ux, inv = np.unique(x, return_inverse=True)
        w = np.bincount(inv).astype(float)
        ym = np.bincount(inv, y) / w
        vals, _, sizes = _pava(ym, w)
        fitted = np.repeat(vals, sizes)
        # keep the ends of every constant run: interpolation between them reproduces the steps
        keep = np.ones(ux.size, dtype=bool)
        if ux.size > 2:
            same_prev = fitted[1:-1] == fitted[:-2]
            same_next = fitted[1:-1] == fitted[2:]
            keep[1:-1] = ~(same_prev & same_next)
        self.x, self.y = ux[keep], fitted[keep]
        return self

    def predict(self, score_difference: ArrayLike) -> np.ndarray:
        if self.x is None or self.y is None:
            raise ValueError("IsotonicCalibration is not fitted")
        return np.interp(np.asarray(score_difference, dtype=float), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calibrator": self.name,
            "symmetric": self.symmetric,
            "x": None if self.x is None else self.x.tolist(),
            "y": None if self.y is None else self.y.tolist(),
        }


_CALIBRATORS = {c.name: c for c in (TemperatureScaling, PlattScaling, IsotonicCalibration)}


def calibrator_from_dict(
    d: dict[str, Any],
) -> TemperatureScaling | PlattScaling | IsotonicCalibration:
    """Rebuild a fitted calibrator from its ``to_dict()``."""
    kind = d.get("calibrator")
    if kind not in _CALIBRATORS:
        raise ValueError(f"calibrator must be one of {', '.join(_CALIBRATORS)}, got {kind!r}")
    args = {k: v for k, v in d.items() if k != "calibrator"}
    try:
        return _CALIBRATORS[kind](**args)
    except TypeError as e:
        raise ValueError(f"bad fields for calibrator {kind!r}: {e}") from None


def make_calibrator(name: str) -> TemperatureScaling | PlattScaling | IsotonicCalibration:
    """A fresh, unfitted calibrator by name (temperature, platt, isotonic)."""
    if name not in _CALIBRATORS:
        raise ValueError(f"calibrator must be one of {', '.join(_CALIBRATORS)}, got {name!r}")
    return _CALIBRATORS[name]()


def cross_fitted_probabilities(
    calibrator: str,
    score_difference: ArrayLike,
    target: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    n_folds: int = 5,
    seed: int = 0,
) -> np.ndarray:
    """Out-of-fold probabilities: groups (default: each pair its own) are split into ``n_folds``
    folds at random (``seed``); each fold is predicted by a calibrator fitted on the other folds."""
    x, y = _check_fit_data(score_difference, target)
    g = (
        np.arange(x.size)
        if groups is None
        else np.unique(np.asarray(groups).ravel(), return_inverse=True)[1]
    )
    if g.size != x.size:
        raise ValueError(f"groups has {g.size} entries for {x.size} pairs")
    n_groups = int(g.max()) + 1
    if int(n_folds) != n_folds or not 2 <= n_folds <= n_groups:
        raise ValueError(
            f"n_folds must be an integer in [2, {n_groups}] (the number of groups), got {n_folds!r}"
        )
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[np.random.default_rng(seed).permutation(n_groups)] = np.arange(n_groups) % n_folds
    fold = fold_of_group[g]
    out = np.empty(x.size)
    for f in range(int(n_folds)):
        test = fold == f
        cal = make_calibrator(calibrator).fit(x[~test], y[~test])
        out[test] = cal.predict(x[test])
    return out
