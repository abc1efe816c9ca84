"""Multiple-comparison corrections, all-pairs significance matrices and WMT-style significance clusters.

* :func:`holm` and :func:`benjamini_hochberg` return adjusted p-values equal to statsmodels'
  ``multipletests(method="holm")`` and ``multipletests(method="fdr_bh")``.
* :func:`significance_matrix` runs the paired permutation test of
  :mod:`overcoat.metaeval.resampling` for every pair of scorers, with the same swap masks for every pair
  (each pair's test is an ordinary permutation test; reusing the draws makes the tests of different pairs
  dependent, which Holm allows; Benjamini-Hochberg assumes positive dependence).
* :func:`significance_clusters` groups scorers into significance clusters the way mt-metrics-eval's
  ``AssignRanks`` does for the WMT metrics tasks (WMT21-WMT24).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .resampling import (
    TieCalibratedStatistic,
    _check_count,
    _check_pair,
    _check_permute,
    _NullEngine,
    _resolve,
    _zscore,
    permutation_pvalue,
    swap_bits,
    swap_masks,
)

__all__ = [
    "ClusterResult",
    "SignificanceMatrix",
    "benjamini_hochberg",
    "holm",
    "significance_clusters",
    "significance_matrix",
]


# --------------------------------------------------------------------------------------------------
# multiple-comparison corrections
# --------------------------------------------------------------------------------------------------


def _prep(pvalues: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(pvalues, dtype=float)
    flat = p.reshape(-1)
    ok = np.isfinite(flat)
    if np.any((flat[ok] < 0) | (flat[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p, flat, ok


def _adjust(pvalues: Any, step) -> np.ndarray:
    """Apply ``step(sorted finite p-values) -> adjusted`` and put the results back in place;
    NaN entries are not part of the family and stay NaN."""
    p, flat, ok = _prep(pvalues)
    out = np.full(flat.shape, np.nan)
    vals = flat[ok]
    if vals.size:
        order = np.argsort(vals, kind="mergesort")
        res = np.empty(vals.size)
        res[order] = np.minimum(step(vals[order]), 1.0)
        out[ok] = res
    return out.reshape(p.shape)


def holm(pvalues: Any) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (same shape as the input).

    With the m finite p-values sorted ascending, ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``
    (statsmodels ``multipletests(method="holm")``). NaN entries are not part of the family and stay NaN.
    """
    return _adjust(pvalues, lambda v: np.maximum.accumulate((v.size - np.arange(v.size)) * v))


def benjamini_hochberg(pvalues: Any) -> np.ndarray:
    """Benjamini-Hochberg (1995) adjusted p-values (same shape as the input).

    With the m finite p-values sorted ascending, ``adj_(i) = min_{j >= i} min(1, m p_(j) / j)``
    (statsmodels ``multipletests(method="fdr_bh")``). NaN entries are not part of the family and stay NaN.
    """
    return _adjust(
        pvalues,
        lambda v: np.minimum.accumulate((v * v.size / np.arange(1, v.size + 1))[::-1])[::-1],
    )


_CORRECTIONS = {"holm": holm, "bh": benjamini_hochberg, "fdr_bh": benjamini_hochberg}


# --------------------------------------------------------------------------------------------------
# clusters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterResult:
    """Significance clusters.

    ``order``: scorer indices by decreasing statistic; ``ranks[k]``: 1-based cluster of scorer k (input
    order); ``clusters``: tuples of scorer indices, best cluster first, each in ranking order.
    """

    order: np.ndarray
    ranks: np.ndarray
    clusters: tuple[tuple[int, ...], ...]
    alpha: float
    names: tuple[str, ...] | None = None

    def named(self) -> list[list[str]]:
        """Clusters as lists of names (needs ``names``)."""
        if self.names is None:
            raise ValueError("no names")
        return [[self.names[i] for i in c] for c in self.clusters]


def significance_clusters(
    scores: Any, pvalue_matrix: Any, alpha: float = 0.05, *, names: Sequence[str] | None = None
) -> ClusterResult:
    """WMT-style significance clusters (mt-metrics-eval ``AssignRanks``).

    Scorers are ranked by ``scores`` (descending; equal scores keep input order; NaN last). Walking down
    the ranking, scorer ``s`` opens a new cluster when it is significantly worse than ANY scorer of the
    current cluster, i.e. when ``pvalue_matrix[t, s] <= alpha`` for some ``t`` ranked above ``s`` in the
    current cluster (``pvalue_matrix[t, s]``: p-value for "t is better than s"; a one-sided matrix from
    ``significance_matrix(..., alternative="greater")`` as in WMT, or a symmetric two-sided one).
    Consequently no scorer is significantly outperformed by a higher-ranked scorer of its own cluster, and
    the first scorer of every cluster after the first is significantly outperformed by at least one scorer
    of the cluster before it (clusters are a greedy partition, as in the WMT21-WMT24 metrics tasks; two
    scorers in different clusters are not necessarily significantly different). The comparison is
    ``<= alpha``, as in mt-metrics-eval.
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    p = np.asarray(pvalue_matrix, dtype=float)
    n = s.size
    if p.shape != (n, n):
        raise ValueError(f"pvalue_matrix must have shape ({n}, {n}), got {p.shape}")
    if not (0.0 <= alpha <= 1.0):
        raise ValueError("alpha must be in [0, 1]")
    key = np.where(np.isnan(s), np.inf, -s)
    order = np.argsort(key, kind="stable")
    ranks = np.zeros(n, dtype=np.int64)
    clusters: list[list[int]] = []
    start = 0
    current = 1
    for pos in range(n):
        i = order[pos]
        if pos > 0 and np.any(p[order[start:pos], i] <= alpha):
            current += 1
            start = pos
        if len(clusters) < current:
            clusters.append([])
        clusters[-1].append(int(i))
        ranks[i] = current
    return ClusterResult(
        order=order,
        ranks=ranks,
        clusters=tuple(tuple(c) for c in clusters),
        alpha=alpha,
        names=tuple(names) if names is not None else None,
    )


# --------------------------------------------------------------------------------------------------
# all-pairs matrix
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignificanceMatrix:
    """All-pairs paired permutation tests.

    ``deltas[a, b] = statistics[a] - statistics[b]``. ``pvalues[a, b]``: for ``alternative="greater"`` the
    one-sided p-value for "a is better than b" (full, asymmetric matrix); for ``"two-sided"`` the symmetric
    two-sided p-value. The diagonal is NaN. ``pvalues_corrected`` applies ``correction`` to the family of
    all off-diagonal entries for ``"greater"`` (every ordered pair is a pre-specified hypothesis), or to the
    upper triangle (mirrored) for ``"two-sided"``; None when ``correction`` is None.
    """

    names: tuple[str, ...]
    statistics: np.ndarray
    deltas: np.ndarray
    pvalues: np.ndarray
    pvalues_corrected: np.ndarray | None
    alternative: str
    correction: str | None
    n_resamples: int
    seed: int
    null_distributions: np.ndarray | None = field(default=None, repr=False)
    permute: str = "items"
    plus_one: bool = True

    def clusters(self, alpha: float = 0.05, *, corrected: bool = False) -> ClusterResult:
        """:func:`significance_clusters` on these statistics.

        Uses the raw p-values by default, as the WMT metrics tasks do. Note the resolution limit of a
        corrected family: the smallest permutation p-value is ``1 / (n_resamples + 1)``, so Holm over m
        hypotheses can reach ``alpha`` only if ``n_resamples + 1 >= m / alpha`` (for 20 scorers, one-sided:
        m = 380, i.e. about 7,600 resamples at alpha = 0.05).
        """
        p = self.pvalues_corrected if corrected else self.pvalues
        if p is None:
            raise ValueError("no corrected p-values (correction=None)")
        return significance_clusters(self.statistics, p, alpha, names=self.names)


def _metrics_list(metrics: Any) -> tuple[list[str], list[Any]]:
    if isinstance(metrics, Mapping):
        return [str(k) for k in metrics], list(metrics.values())
    mats = list(metrics)
    return [str(i) for i in range(len(mats))], mats


def significance_matrix(
    statistic: Any,
    human: Any,
    metrics: Mapping[str, Any] | Sequence[Any],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    correction: str | None = "holm",
    alternative: str = "greater",
    permute: str = "items",
    standardize: bool | None = None,
    plus_one: bool | None = None,
    batch_size: int | None = None,
    return_null: bool = False,
) -> SignificanceMatrix:
    """Paired permutation tests between all pairs of scorers.

    ``metrics``: a dict name -> (n_items, n_responses) matrix, or a list (names "0", "1", ...). Every pair
    uses the same canonical swap masks (``swap_masks(n_units, n_resamples, seed)``, one unit per item or,
    for ``permute="cells"``, per score cell), so each entry equals ``paired_permutation_test(statistic,
    human, A, B, seed=seed, permute=permute, ...)``. ``permute``, ``standardize`` and ``plus_one`` as
    there: ``permute="cells"`` is mt-metrics-eval's ``PermutationSigDiff`` (scorers z-scored, one coin per
    cell, p = count / k), the test behind the WMT metrics tasks' clusters. For
    :func:`~overcoat.metaeval.resampling.tie_calibrated_statistic` each scorer's pairs are sorted once
    (items) or each scorer pair's pair variants once (cells). ``alternative``: "greater" (one-sided, both
    directions; the WMT convention used by :func:`significance_clusters`) or "two-sided". ``correction``:
    "holm", "bh" or None. ``return_null`` keeps the (S, S, n_resamples) null distributions of
    ``stat(a) - stat(b)``.

    Resolution: a permutation p-value with ``plus_one`` is at least ``1 / (n_resamples + 1)``, so a
    corrected family of m tests can only reach ``alpha`` with ``n_resamples + 1 >= m / alpha`` (Holm,
    one-sided, 20 scorers: m = 380, about 7,600 resamples for alpha = 0.05). WMT clusters use raw p-values
    (:meth:`SignificanceMatrix.clusters` default).
    """
    n_resamples = _check_count(n_resamples, "n_resamples")
    if alternative not in ("greater", "two-sided"):
        raise ValueError("alternative must be 'greater' or 'two-sided'")
    if correction is not None and correction not in _CORRECTIONS:
        raise ValueError(
            f"correction must be one of {sorted(_CORRECTIONS)} or None, got {correction!r}"
        )
    _check_permute(permute)
    cells = permute == "cells"
    standardize = cells if standardize is None else bool(standardize)
    plus_one = (not cells) if plus_one is None else bool(plus_one)
    stat = _resolve(statistic)
    names, mats = _metrics_list(metrics)
    S = len(mats)
    if S < 2:
        raise ValueError("need at least two scorers")
    if len(set(names)) != S:
        raise ValueError("scorer names must be unique")
    checked = []
    for m in mats:  # (at least two: h is set)
        h, mm = _check_pair(human, m)
        checked.append(_zscore(mm) if standardize else mm)
    n_units = h.size if cells else h.shape[0]
    stats = np.array([float(np.asarray(stat(h, m), dtype=np.float64)) for m in checked])
    deltas = stats[:, None] - stats[None, :]
    nulls = np.full((S, S, n_resamples), np.nan) if return_null else None
    pv = np.full((S, S), np.nan)

    tables = None
    if isinstance(stat, TieCalibratedStatistic) and not cells:
        tables = [stat.table(h, m) for m in checked]
    masks = None
    draw = swap_bits if cells else swap_masks  # the same draws (cells: uint8, cheaper)
    if n_units * n_resamples <= (1 << 25):
        masks = np.concatenate(list(draw(n_units, n_resamples, seed)))
    pairs = [(a, b) for a in range(S) for b in range(a + 1, S)]
    group = 8  # scorer pairs whose precomputations are held at once (cells: one pass over the masks each)
    for g0 in range(0, len(pairs), group):
        chunk = pairs[g0 : g0 + group]
        engines = [
            _NullEngine(
                stat,
                h,
                checked[a],
                checked[b],
                permute,
                batch_size,
                tables=(tables[a], tables[b]) if tables is not None else None,
            )
            for a, b in chunk
        ]
        cts = [e.cell_table for e in engines if e.cell_table is not None]
        if (
            cells
            and len(cts) == len(engines)
            and all(
                np.array_equal(c.cj, cts[0].cj) and np.array_equal(c.ck, cts[0].ck) for c in cts
            )
        ):
            from ._cells import null_many

            blocks = [masks] if masks is not None else swap_bits(n_units, n_resamples, seed)
            chunk_nulls = null_many(cts, blocks)  # coin gathers shared by the pairs of the chunk
        elif masks is not None:
            chunk_nulls = [e(masks) for e in engines]
        else:
            chunk_nulls = [
                np.concatenate([e(s) for s in draw(n_units, n_resamples, seed)]) for e in engines
            ]
        del engines, cts
        for (a, b), null in zip(chunk, chunk_nulls):
            d = deltas[a, b]
            if alternative == "greater":
                pv[a, b] = permutation_pvalue(d, null, "greater", plus_one=plus_one)
                pv[b, a] = permutation_pvalue(-d, -null, "greater", plus_one=plus_one)
            else:
                pv[a, b] = pv[b, a] = permutation_pvalue(d, null, "two-sided", plus_one=plus_one)
            if nulls is not None:
                nulls[a, b] = null
                nulls[b, a] = -null

    corrected = None
    if correction is not None:
        fn = _CORRECTIONS[correction]
        if alternative == "greater":
            corrected = fn(pv)  # NaN diagonal is outside the family
        else:
            iu = np.triu_indices(S, 1)
            corrected = np.full((S, S), np.nan)
            adj = fn(pv[iu])
            corrected[iu] = adj
            corrected[(iu[1], iu[0])] = adj
    return SignificanceMatrix(
        names=tuple(names),
        statistics=stats,
        deltas=deltas,
        pvalues=pv,
        pvalues_corrected=corrected,
        alternative=alternative,
        correction=correction,
        n_resamples=n_resamples,
        seed=seed,
        null_distributions=nulls,
        permute=permute,
        plus_one=plus_one,
    )
