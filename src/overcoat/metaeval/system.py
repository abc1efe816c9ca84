"""System-level meta-evaluation: system scores, their correlations, and soft pairwise accuracy.

A *system* is a response column of the ``(n_items, n_responses)`` matrices; its score is the
mean of its item scores.  Missing values (NaN) are handled by ``missing``:

* ``"drop-items"`` (default): only items on which **every** system has a score are used, so all
  systems are averaged over the same items.  When both human and metric matrices are given, an
  item is kept only if every human *and* every metric score of it is present.
* ``"mean-available"``: each system is averaged over the items where it has a score (both human
  and metric present, when both are given); systems may then be averaged over different items.
  A system without any score gets NaN and is left out of the correlation.

Item weights (``weights=None | (n_items,) | (B, n_items)``) turn the means into weighted means
(bootstrap multiplicities, jackknife zeros, ...); 2-D weights give (B,) results.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ._util import as_matrices, as_matrix, as_weights, check_choice, classify, finish

__all__ = [
    "SoftPairwiseAccuracyResult",
    "SystemCorrelationResult",
    "MTME_SPA_SEED",
    "soft_pairwise_accuracy",
    "spa_signs",
    "system_kendall",
    "system_pearson",
    "system_scores",
]

FloatOrArray = float | np.ndarray
_MISSING = ("drop-items", "mean-available")


@dataclass(frozen=True)
class SystemCorrelationResult:
    """``statistic`` (float or (B,)); ``n_systems`` systems compared; ``n_items`` items used
    (for ``missing="mean-available"``: items with at least one score)."""

    statistic: FloatOrArray
    n_systems: int
    n_items: int


@dataclass(frozen=True)
class SoftPairwiseAccuracyResult:
    """Result of :func:`soft_pairwise_accuracy`.

    ``p_human`` / ``p_metric``: (n_systems, n_systems) matrices whose upper triangle holds the
    one-sided permutation p-values for "system i is better than system j" (NaN elsewhere).
    """

    statistic: float
    p_human: np.ndarray
    p_metric: np.ndarray
    n_systems: int
    n_items: int
    n_permutations: int


def _weighted_means(X, mask, W):
    """(B, n_sys) weighted column means of X over the cells in mask."""
    Xz = np.where(mask, X, 0.0)
    num = W @ Xz
    den = W @ mask.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def system_scores(matrix, *, missing: str = "drop-items", weights=None) -> np.ndarray:
    """System scores: the (weighted) mean of each column over items.

    ``missing="drop-items"`` uses only the items (rows) without any NaN; ``"mean-available"``
    averages each column over its non-NaN items.  Returns shape (n_responses,), or
    (B, n_responses) for 2-D weights.  A column without any usable item scores NaN.
    """
    check_choice("missing", missing, _MISSING)
    X = as_matrix(matrix)
    W, is_2d = as_weights(weights, X.shape[0])
    present = ~np.isnan(X)
    if missing == "drop-items":
        present = present & present.all(axis=1, keepdims=True)
    S = _weighted_means(X, present, W)
    return S if is_2d else S[0]


def _joint_scores(human, metric, missing, weights):
    check_choice("missing", missing, _MISSING)
    h, m = as_matrices(human, metric)
    W, is_2d = as_weights(weights, h.shape[0])
    present = ~(np.isnan(h) | np.isnan(m))
    if missing == "drop-items":
        present = present & present.all(axis=1, keepdims=True)
    n_items = int(present.any(axis=1).sum())
    return _weighted_means(h, present, W), _weighted_means(m, present, W), is_2d, n_items


def system_pearson(
    human, metric, *, missing: str = "drop-items", weights=None
) -> SystemCorrelationResult:
    """Pearson correlation between human and metric system scores (see :func:`system_scores`;
    missing values handled jointly, see the module docs).  NaN if fewer than two systems have
    scores or either score vector is constant."""
    Sh, Sm, is_2d, n_items = _joint_scores(human, metric, missing, weights)
    ok = ~(np.isnan(Sh) | np.isnan(Sm))
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mh = np.where(ok, Sh, 0.0).sum(axis=1) / n
        mm = np.where(ok, Sm, 0.0).sum(axis=1) / n
        xc = np.where(ok, Sh - mh[:, None], 0.0)
        yc = np.where(ok, Sm - mm[:, None], 0.0)
        sxx, syy = (xc * xc).sum(axis=1), (yc * yc).sum(axis=1)
        r = (xc * yc).sum(axis=1) / np.sqrt(sxx * syy)
    const = (np.where(ok, Sh, -np.inf).max(axis=1) == np.where(ok, Sh, np.inf).min(axis=1)) | (
        np.where(ok, Sm, -np.inf).max(axis=1) == np.where(ok, Sm, np.inf).min(axis=1)
    )
    r = np.where((n >= 2) & ~const & (sxx > 0) & (syy > 0), np.clip(r, -1, 1), np.nan)
    return SystemCorrelationResult(finish(r, is_2d), int(ok[0].sum()), n_items)


def system_kendall(
    human,
    metric,
    *,
    variant: str = "b",
    epsilon: float = 0.0,
    missing: str = "drop-items",
    weights=None,
) -> SystemCorrelationResult:
    """Kendall's tau between human and metric system scores.

    Variants as :func:`overcoat.metaeval.correlation.kendall_tau` ("a", "b", "c", "23",
    "acc23"); ``epsilon`` makes system-score differences ``<= epsilon`` metric ties.  NaN where
    undefined (tau-b / tau-c with a constant vector, fewer than two systems).
    """
    check_choice("variant", variant, ("a", "b", "c", "23", "acc23"))
    if variant == "c" and epsilon > 0:
        raise ValueError("tau-c is not defined with a non-zero epsilon")
    if epsilon < 0:
        raise ValueError("epsilon must be non-negative")
    Sh, Sm, is_2d, n_items = _joint_scores(human, metric, missing, weights)
    ok = ~(np.isnan(Sh) | np.isnan(Sm))
    n_sys = Sh.shape[1]
    j, k = np.triu_indices(n_sys, 1)
    pair_ok = ok[:, j] & ok[:, k]
    con, dis, th, tm, thm = (
        mk & pair_ok for mk in classify(Sh[:, j] - Sh[:, k], Sm[:, j] - Sm[:, k], epsilon)
    )
    C, D, Th, Tm, Thm = (x.sum(axis=1).astype(np.float64) for x in (con, dis, th, tm, thm))
    N = C + D + Th + Tm + Thm
    with np.errstate(invalid="ignore", divide="ignore"):
        if variant == "a":
            tau = np.where(N > 0, (C - D) / N, np.nan)
        elif variant == "b":
            a, b = C + D + Th, C + D + Tm
            tau = np.where(
                (a > 0) & (b > 0), np.clip((C - D) / np.sqrt(a) / np.sqrt(b), -1, 1), np.nan
            )
        elif variant == "c":
            n = ok.sum(axis=1)
            kk = np.array(
                [
                    min(len(np.unique(Sh[r, ok[r]])), len(np.unique(Sm[r, ok[r]])))
                    for r in range(Sh.shape[0])
                ],
                dtype=np.float64,
            )
            tau = np.where(
                (C + D + Th > 0) & (C + D + Tm > 0) & (kk > 1),
                2 * (C - D) / (n**2 * (kk - 1) / kk),
                np.nan,
            )
        elif variant == "23":
            tau = np.where(N > 0, (C + Thm - D - Th - Tm) / N, np.nan)
        else:
            tau = np.where(N > 0, (C + Thm) / N, np.nan)
    return SystemCorrelationResult(finish(tau, is_2d), int(ok[0].sum()), n_items)


#: The seed of mt-metrics-eval's ``pce.compute_pairwise_p_values`` (WMT24 SPA): the default stream.
MTME_SPA_SEED = 4


def spa_signs(n_permutations: int, n_items: int, seed: int = MTME_SPA_SEED) -> np.ndarray:
    """(n_permutations, n_items) +1/-1 signs (float64) of SPA's permutations: mt-metrics-eval's stream.

    ``numpy.random.default_rng(seed).random((n_permutations, n_items), dtype=float32)`` rounded to the
    nearest integer (``np.rint``: 0.5 rounds to 0) and mapped 0 -> -1, 1 -> +1, exactly as
    ``pce.compute_pairwise_p_values`` makes its ``two_m_minus_one``; +1 keeps an item's scores with their
    systems, -1 exchanges them. A float32 uniform is ``(x >> 8) / 2**24`` for the generator's next 32-bit
    output x, so it exceeds 0.5 exactly when ``x >= 2**31 + 256``; the 32-bit outputs of numpy's default
    PCG64 are the two halves (low first) of its 64-bit outputs, which are read directly. The signs are
    drawn once and cached (as float32, for the last few shapes and seeds): a meta-evaluation uses the same
    permutations for every scorer.
    """
    return _spa_signs(int(n_permutations), int(n_items), int(seed)).astype(np.float64)


#: Signs drawn per step of :func:`_spa_signs` (even).
_SIGN_CHUNK = 1 << 14


@lru_cache(maxsize=4)
def _spa_signs(n_permutations: int, n_items: int, seed: int) -> np.ndarray:
    """:func:`spa_signs` as a read-only float32 array (+-1, exact), cached."""
    rng = np.random.default_rng(seed)
    n = n_permutations * n_items
    signs = np.empty(n, dtype=np.float32)
    if type(rng.bit_generator).__name__ == "PCG64" and sys.byteorder == "little":
        # in chunks, so that the only large block of fresh memory is the result: a cold call's time is
        # mostly the first touch of new memory (page faults), not the draws
        kept = np.empty(_SIGN_CHUNK, dtype=bool)
        for s0 in range(0, n, _SIGN_CHUNK):  # _SIGN_CHUNK is even: chunks start on a 64-bit draw
            c = min(_SIGN_CHUNK, n - s0)
            x = rng.bit_generator.random_raw((c + 1) // 2).view(np.uint32)[:c]
            np.greater_equal(x, np.uint32(2**31 + 256), out=kept[:c])
            signs[s0 : s0 + c] = kept[:c]
    else:  # pragma: no cover - numpy's default generator is PCG64
        signs[:] = rng.random(size=n, dtype=np.float32) > 0.5
    signs *= 2.0  # 0/1 -> -1/+1 in place (np.where with scalars is ~8x slower)
    signs -= 1.0
    out = signs.reshape(n_permutations, n_items)
    out.flags.writeable = False
    return out


def soft_pairwise_accuracy(
    human, metric, *, n_permutations: int = 1000, seed: int = MTME_SPA_SEED
) -> SoftPairwiseAccuracyResult:
    """Soft pairwise accuracy (SPA; Thompson et al., WMT24 metrics task), as mt-metrics-eval computes it.

    For every pair of systems i < j (columns), a one-sided paired permutation test of "system
    i is better than system j" is run on the human scores and on the metric scores.  Each
    permutation flips, independently per item with probability 1/2, which of the two systems
    each item's pair of scores belongs to; the statistic is the difference of the two systems'
    summed (equivalently, mean) item scores, and the p-value is the fraction of permutations
    whose difference is ``>=`` the observed one (no +1 correction, as the reference
    implementation in mt-metrics-eval).  The same random flips are used for every system pair
    and for human and metric scores (as its two calls with the same seed do).  Then

        SPA = 1 - mean_{i<j} |p_human(i, j) - p_metric(i, j)|.

    Permutations: by default mt-metrics-eval's own stream (``pce.compute_pairwise_p_values``:
    ``numpy.random.default_rng(4)``, one float32 uniform per permutation and item, rounded to 0/1; see
    :func:`spa_signs`), so with ``n_permutations=1000`` this is the SPA of the WMT24 tables. ``seed``
    selects another stream of the same kind.

    Arithmetic: float64 sums, and a permuted difference that equals the observed one up to a rounding
    tolerance of ``64 * machine_eps * (sum |x_i| + sum |x_j|)`` counts as ``>=`` (mathematically
    equal: with discrete scores such as MQM's, the flipped items' differences often cancel exactly).
    mt-metrics-eval sums float32 scores and compares exactly, so rounding decides those ties there:
    its p-values can differ from these by a few permutations, and its SPA by up to about 1e-4 (bundled
    TED, 1,000 permutations: 3e-5 to 8e-5). Those differences come from its float32 sums only.
    (For speed, most comparisons are decided from float32 sums with a proven error bound, and only the
    few that bound cannot decide are recomputed in float64: the counts are those of float64 sums.)

    Speed: the permutations are drawn once per (n_permutations, n_items, seed) and cached, the human
    p-values are cached per human matrix (a meta-evaluation scores many metrics against one), and every
    system pair's counts come from one matrix product, without a loop over pairs.

    Items with any missing (NaN) human or metric score are dropped.
    """
    h, m = as_matrices(human, metric)
    keep = ~(np.isnan(h) | np.isnan(m)).any(axis=1)
    h, m = h[keep], m[keep]
    n_items, n_sys = h.shape
    if n_sys < 2:
        raise ValueError("soft pairwise accuracy needs at least two systems")
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ValueError("n_permutations must be a positive integer")
    n_permutations = int(n_permutations)
    if n_items == 0:  # no item with every score: no evidence, so no number (never a 1.0)
        P = np.full((n_sys, n_sys), np.nan)
        return SoftPairwiseAccuracyResult(float("nan"), P, P.copy(), n_sys, 0, n_permutations)
    ph = _human_pvalues_cache_get(
        h, n_permutations, seed
    )  # the human side repeats for every scorer
    if ph is None:  # one pass over the permutations for both sides
        ph, pm = _spa_pvalues([h, m], n_permutations, seed)
        _human_pvalues_cache_put(h, n_permutations, seed, ph)
    else:
        (pm,) = _spa_pvalues([m], n_permutations, seed)
    j, k = _pairs(n_sys)
    Ph = np.full((n_sys, n_sys), np.nan)
    Pm = np.full((n_sys, n_sys), np.nan)
    Ph[j, k] = ph
    Pm[j, k] = pm
    spa = 1.0 - float(np.mean(np.abs(ph - pm)))
    return SoftPairwiseAccuracyResult(spa, Ph, Pm, n_sys, n_items, n_permutations)


#: Filtered p-values (see :func:`_spa_pvalues`): a matrix whose undecided comparisons outnumber
#: ``_REFINE_LIMIT * n_permutations`` is recomputed in float64 altogether instead of one comparison at a time.
_REFINE_LIMIT = 1.0


def _spa_pvalues(Xs: list[np.ndarray], n_permutations: int, seed: int) -> list[np.ndarray]:
    """For each (n_items, n_sys) matrix of ``Xs``: the one-sided permutation p-values of "column i better
    than column j" for the pairs i < j (``np.triu_indices`` order), with SPA's permutations; the same
    counts as :func:`_spa_pvalues_float64`, faster.

    A filter, as in exact geometric predicates. All columns' permuted sums come from one float32 matrix
    product with the cached +-1 signs, and the pairs' permuted differences are float32 differences of
    those. With n = n_items, ``u = 2**-24``, ``g = (n - 1) u / (1 - (n - 1) u)`` and ``A_c = sum_i |x_ic|``,
    each permuted sum is within ``E_c = (g (1 + u) + u) A_c + n 2**-125`` of the exact one (rounding the
    scores to float32: ``u A_c``, plus underflow, also with flush-to-zero; summing n terms in any order,
    FMA or not: ``g`` times the rounded scores' absolute sum), and each difference within
    ``D = (1 + u)(E_j + E_k) + u (A_j + A_k)``. A difference farther than ``2 D`` from its threshold
    (observed difference minus the tolerance) decides its comparison as float64 sums do (their own
    error is ~2**-29 times smaller); the few that are not (MQM's exact ties among them; bundled TED: 13
    to 236 of 78,000) are recomputed from float64 products of their permutations' signs. Sums that
    could overflow float32 (``A_c >= 2**120``), more than 16,384 items, or more undecided comparisons
    than ``_REFINE_LIMIT * n_permutations``: :func:`_spa_pvalues_float64`.
    """
    n_items = Xs[0].shape[0]
    u = 2.0**-24
    g = (n_items - 1) * u / (1 - (n_items - 1) * u)
    cols = Xs[0] if len(Xs) == 1 else np.hstack(Xs)
    absum = np.abs(cols).sum(axis=0)
    if n_items > 2**14 or not absum.max() < 2.0**120:  # float32 sums must not overflow
        return _spa_pvalues_float64(Xs, n_permutations, seed)
    signs = _spa_signs(n_permutations, n_items, seed)
    sums = np.ascontiguousarray((signs @ cols.astype(np.float32)).T)  # (n_columns, n_permutations)
    obs = cols.sum(axis=0)
    err = (g * (1 + u) + u) * absum + n_items * 2.0**-125
    # (matrix, j, k, threshold, counts, undecided pairs, their permutations)
    blocks: list[tuple[Any, ...]] = []
    start = 0
    for X in Xs:
        j, k = _pairs(X.shape[1])
        j, k = j + start, k + start
        start += X.shape[1]
        thr = (obs[j] - obs[k]) - _spa_tolerance(absum[j] + absum[k])
        band = 2 * ((1 + u) * (err[j] + err[k]) + u * (absum[j] + absum[k]))
        hi = np.nextafter((thr + band).astype(np.float32), np.float32(np.inf))[:, None]
        lo = np.nextafter((thr - band).astype(np.float32), np.float32(-np.inf))[:, None]
        null = sums[j]
        null -= sums[k]  # (n_pairs, n_permutations), float32
        above = null > hi
        count = above.view(np.uint8).sum(axis=1, dtype=np.int64)
        undecided = np.flatnonzero(above ^ (null >= lo))
        if undecided.size > _REFINE_LIMIT * n_permutations:
            blocks.append((X, None, None, None, None, None, None))
        else:
            blocks.append((X, j, k, thr, count, *np.divmod(undecided, n_permutations)))
    perms = np.unique(
        np.concatenate([b[6] for b in blocks if b[1] is not None] or [np.zeros(0, int)])
    )
    if perms.size:  # the undecided comparisons' permuted sums in float64, as _spa_pvalues_float64's
        exact = cols.T @ signs[perms].astype(np.float64).T  # (n_columns, n_undecided_permutations)
    out = []
    for X, j, k, thr, count, pair, perm in blocks:
        if j is None:
            out.extend(_spa_pvalues_float64([X], n_permutations, seed))
            continue
        if pair.size:
            at = np.searchsorted(perms, perm)
            null = exact[j[pair], at] - exact[k[pair], at]
            count += np.bincount(pair[null >= thr[pair]], minlength=j.size)
        out.append(count / n_permutations)
    return out


@lru_cache(maxsize=8)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, 1)``, cached (read-only)."""
    j, k = np.triu_indices(n, 1)
    j.flags.writeable = k.flags.writeable = False
    return j, k


def _spa_tolerance(absum_pair: np.ndarray) -> np.ndarray:
    """A permuted difference within this of the observed one counts as equal (see soft_pairwise_accuracy)."""
    return 64 * np.finfo(np.float64).eps * absum_pair


def _spa_pvalues_float64(Xs: list[np.ndarray], n_permutations: int, seed: int) -> list[np.ndarray]:
    """:func:`_spa_pvalues` by float64 matrix products with the +-1 signs (the plain algorithm)."""
    signs = spa_signs(n_permutations, Xs[0].shape[0], seed)
    out = []
    for X in Xs:
        sums = X.T @ signs.T  # (n_sys, n_permutations): the reference's ``partial``, transposed
        j, k = _pairs(X.shape[1])
        absum = np.abs(X).sum(axis=0)
        obs = X.sum(axis=0)
        null = sums[j]
        null -= sums[k]
        thr = (obs[j] - obs[k]) - _spa_tolerance(absum[j] + absum[k])
        out.append(np.count_nonzero(null >= thr[:, None], axis=1) / n_permutations)
    return out


_PV_CACHE: dict = {}


def _human_pvalues_cache_get(X: np.ndarray, n_permutations: int, seed: int):
    """The p-values of :func:`_spa_pvalues` remembered for ``X`` (keyed by content), or None."""
    return _PV_CACHE.get((X.shape, X.tobytes(), int(n_permutations), int(seed)))


def _human_pvalues_cache_put(X: np.ndarray, n_permutations: int, seed: int, p: np.ndarray) -> None:
    p.flags.writeable = False
    if len(_PV_CACHE) >= 4:
        _PV_CACHE.pop(next(iter(_PV_CACHE)))
    _PV_CACHE[(X.shape, X.tobytes(), int(n_permutations), int(seed))] = p


def _clear_spa_caches() -> None:
    """Forget cached permutation signs and human p-values (benchmarks: cold starts)."""
    _spa_signs.cache_clear()
    _PV_CACHE.clear()
