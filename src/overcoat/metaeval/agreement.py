"""Agreement between human raters: Krippendorff's alpha, Fleiss' and Cohen's kappa, rater severity.

Inputs are *reliability matrices*: one row per rater, one column per unit (e.g. a (system,
segment) cell of MQM data, or a pair of outputs for pairwise labels), NaN where a rater did not
rate a unit.

* :func:`krippendorff_alpha` (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"):
  ``alpha = 1 - D_o / D_e`` from the coincidence matrix of pairable values (units with fewer than
  two ratings are left out), for ``level`` nominal, ordinal or interval. Equal to the
  ``krippendorff`` package (tested). The bootstrap CI resamples units.
* :func:`fleiss_kappa`: categorical labels with any number of raters per unit (at least two);
  per-unit agreement averaged over units, chance agreement from the pooled label shares
  (Fleiss 1971, with unequal numbers of raters per unit handled as in the coincidence form:
  each unit's agreement is the share of agreeing ordered rater pairs).
* :func:`cohen_kappa`: two raters on the units both rated.
* :func:`rater_severity`: how much lower or higher each rater scores than the other raters of the
  same units (mean of rater minus leave-that-rater-out mean of the others), with item-bootstrap
  CIs: a per-rater bias that a noisy-label or calibration study should see first.

All bootstrap CIs are percentile intervals over units, deterministic under ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._util import check_choice, percentile_interval
from .resampling import bootstrap_weights

__all__ = [
    "AgreementResult",
    "RaterSeverity",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "rater_severity",
]


@dataclass(frozen=True)
class AgreementResult:
    """``statistic`` with a bootstrap ``confidence_interval`` over units; ``n_units`` used."""

    statistic: float
    confidence_interval: tuple[float, float] | None
    n_units: int
    n_values: int
    n_resamples: int


def _reliability(data: ArrayLike) -> np.ndarray:
    x = np.asarray(data, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"reliability data must be a (raters x units) matrix, got shape {x.shape}")
    if np.isinf(x).any():
        raise ValueError("ratings must be finite (NaN marks a missing rating)")
    return x


def _multiplicities(n_units: int, n_resamples: int, seed: int) -> np.ndarray:
    """(resamples, units) bootstrap multiplicities: the canonical draws of
    :func:`.resampling.bootstrap_weights`."""
    return np.concatenate(list(bootstrap_weights(n_units, n_resamples, seed)))


def _value_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and the (pairable units x values) count matrix."""
    present = ~np.isnan(x)
    pairable = present.sum(axis=0) >= 2
    x = x[:, pairable]
    present = present[:, pairable]
    values, inv = np.unique(x[present], return_inverse=True)
    unit = np.nonzero(present)[1]
    counts = np.zeros((x.shape[1], values.size))
    np.add.at(counts, (unit, inv), 1.0)
    return values, counts


def _observed_entries(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero entries of every unit's share of the coincidence matrix, ``o_u[c, k] =
    c_uc (c_uk - [c = k]) / (n_u - 1)``: (unit, c, k, value) arrays (a unit has few values)."""
    n_u = counts.sum(axis=1)
    unit, cat = np.nonzero(counts)
    # all ordered pairs of a unit's non-zero categories: entries sorted by unit, pair within runs
    starts = np.searchsorted(unit, np.arange(counts.shape[0]))
    sizes = np.bincount(unit, minlength=counts.shape[0])
    us, cs, ks = [], [], []
    for size in np.unique(sizes):
        rows = np.flatnonzero(sizes == size)
        a, b = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        first = starts[rows][:, None] + a.ravel()[None, :]
        second = starts[rows][:, None] + b.ravel()[None, :]
        us.append(np.repeat(rows, size * size))
        cs.append(cat[first].ravel())
        ks.append(cat[second].ravel())
    u, c, k = (np.concatenate(v) for v in (us, cs, ks))
    val = counts[u, c] * (counts[u, k] - (c == k)) / (n_u[u] - 1.0)
    keep = val != 0
    return u[keep], c[keep], k[keep], val[keep]


def _alpha_from(
    counts: np.ndarray,
    values: np.ndarray,
    level: str,
    w: np.ndarray,
    entries: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """alpha for unit weights ``w`` (B, U), from the unit x value counts.

    Interval and ordinal differences are both squared differences of a coordinate per value:
    the value itself (interval), or ``S_c - n_c / 2`` with ``S_c`` the cumulative frequency up to
    value c (ordinal: ``sum_{g=c..k} n_g - (n_c + n_k) / 2 = (S_k - n_k/2) - (S_c - n_c/2)``). Then
    ``sum_ck n_c n_k (M_c - M_k)^2 = 2 n sum_c n_c (M_c - mean M)^2`` is O(V)."""
    u, c, k, val = entries
    n_c = w @ counts  # (B, V) value frequencies
    n = n_c.sum(axis=1)
    if level == "nominal":
        D_o = w @ np.bincount(u, val * (c != k), minlength=counts.shape[0])
        D_e = (n * n - (n_c * n_c).sum(axis=1)) / (n - 1.0)
    else:
        if level == "interval":
            M = np.broadcast_to(values, n_c.shape)
            D_o = w @ np.bincount(u, val * (values[c] - values[k]) ** 2, minlength=counts.shape[0])
        else:
            M = np.cumsum(n_c, axis=1) - n_c / 2.0
            D_o = np.einsum("be,be->b", w[:, u], val * (M[:, c] - M[:, k]) ** 2)
        centred = M - ((n_c * M).sum(axis=1) / n)[:, None]  # the same sum, without cancellation
        D_e = 2.0 * n * (n_c * centred * centred).sum(axis=1) / (n - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - D_o / D_e


def krippendorff_alpha(
    data: ArrayLike,
    *,
    level: str = "interval",
    n_resamples: int = 1000,
    level_ci: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Krippendorff's alpha of a (raters x units) matrix (NaN = missing) at ``level`` nominal,
    ordinal or interval; NaN when the pairable values do not vary (no expected disagreement)."""
    check_choice("level", level, ("nominal", "ordinal", "interval"))
    x = _reliability(data)
    values, counts = _value_counts(x)
    if counts.shape[0] == 0:
        raise ValueError("no unit has two or more ratings: alpha needs pairable values")
    entries = _observed_entries(counts)
    alpha = float(_alpha_from(counts, values, level, np.ones((1, counts.shape[0])), entries)[0])
    ci = None
    if n_resamples:
        mult = _multiplicities(counts.shape[0], n_resamples, seed)
        dist = np.empty(n_resamples)
        step = max(1, 20_000_000 // max(entries[0].size, counts.shape[0], 1))
        for s in range(0, n_resamples, step):
            dist[s : s + step] = _alpha_from(counts, values, level, mult[s : s + step], entries)
        ci = percentile_interval(dist, level_ci)
    return AgreementResult(alpha, ci, int(counts.shape[0]), int(counts.sum()), int(n_resamples))


def _fleiss(counts: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    n_u = counts.sum(axis=1)
    agree_u = (counts * (counts - 1.0)).sum(axis=1) / (n_u * (n_u - 1.0))  # share of agreeing pairs
    if w is None:
        w = np.ones((1, counts.shape[0]))
    p_obs = (w @ agree_u) / w.sum(axis=1)
    share = w @ counts
    share = share / share.sum(axis=1, keepdims=True)
    p_exp = (share * share).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (p_obs - p_exp) / (1.0 - p_exp)


def fleiss_kappa(
    data: ArrayLike, *, n_resamples: int = 1000, level_ci: float = 0.95, seed: int = 0
) -> AgreementResult:
    """Fleiss' kappa of categorical labels in a (raters x units) matrix (NaN = missing).

    With the same number of raters on every unit this is Fleiss (1971) exactly (tested against the
    textbook formula); units rated once are left out."""
    x = _reliability(data)
    _, counts = _value_counts(x)
    if counts.shape[0] == 0:
        raise ValueError("no unit has two or more labels: kappa needs pairable labels")
    k = float(_fleiss(counts, None)[0])
    ci = None
    if n_resamples:
        ci = percentile_interval(
            _fleiss(counts, _multiplicities(counts.shape[0], n_resamples, seed)), level_ci
        )
    return AgreementResult(k, ci, int(counts.shape[0]), int(counts.sum()), int(n_resamples))


def _cohen(a: np.ndarray, b: np.ndarray, cats: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    ia = np.searchsorted(cats, a)
    ib = np.searchsorted(cats, b)
    C = cats.size
    cell = np.zeros((a.size, C * C))
    cell[np.arange(a.size), ia * C + ib] = 1.0
    if w is None:
        w = np.ones((1, a.size))
    tab = (w @ cell).reshape(-1, C, C)
    n = tab.sum(axis=(1, 2))
    p_obs = np.trace(tab, axis1=1, axis2=2) / n
    p_exp = (tab.sum(axis=2) * tab.sum(axis=1)).sum(axis=1) / (n * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (p_obs - p_exp) / (1.0 - p_exp)


def cohen_kappa(
    rater_a: ArrayLike,
    rater_b: ArrayLike,
    *,
    n_resamples: int = 1000,
    level_ci: float = 0.95,
    seed: int = 0,
) -> AgreementResult:
    """Cohen's kappa of two raters' categorical labels on the units both labelled (NaN = missing);
    equal to scikit-learn's ``cohen_kappa_score`` (tested)."""
    a = np.asarray(rater_a, dtype=float).ravel()
    b = np.asarray(rater_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"the raters' label vectors differ in length: {a.size} vs {b.size}")
    both = ~(np.isnan(a) | np.isnan(b))
    a, b = a[both], b[both]
    if a.size == 0:
        raise ValueError("the two raters share no labelled unit")
    cats = np.unique(np.concatenate([a, b]))
    k = float(_cohen(a, b, cats, None)[0])
    ci = None
    if n_resamples:
        ci = percentile_interval(
            _cohen(a, b, cats, _multiplicities(a.size, n_resamples, seed)), level_ci
        )
    return AgreementResult(k, ci, int(a.size), int(2 * a.size), int(n_resamples))


@dataclass(frozen=True)
class RaterSeverity:
    """Per rater (rows of the input): mean of (own score - the other raters' mean on the same
    unit), its CI over units, and the number of units the rater shares with another rater."""

    bias: np.ndarray
    confidence_interval: np.ndarray  # (raters, 2)
    n_units: np.ndarray
    n_resamples: int


def rater_severity(
    data: ArrayLike, *, n_resamples: int = 1000, level_ci: float = 0.95, seed: int = 0
) -> RaterSeverity:
    """Leave-one-rater-out severity: negative bias = the rater scores lower than the others."""
    x = _reliability(data)
    present = ~np.isnan(x)
    n_u = present.sum(axis=0)
    total = np.nansum(x, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = (total[None, :] - np.where(present, x, 0.0)) / (n_u[None, :] - 1.0)
    diff = np.where(present & (n_u[None, :] >= 2), x - others, np.nan)
    used = ~np.isnan(diff)
    cnt = used.sum(axis=1)
    s = np.where(used, diff, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = s.sum(axis=1) / cnt
    ci = np.full((x.shape[0], 2), np.nan)
    if n_resamples:
        mult = _multiplicities(x.shape[1], n_resamples, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = (mult @ s.T) / (mult @ used.T.astype(float))  # (B, raters)
        for r in range(x.shape[0]):
            c = percentile_interval(dist[:, r], level_ci)
            if c is not None and cnt[r] > 0:
                ci[r] = c
    return RaterSeverity(bias, ci, cnt, int(n_resamples))
