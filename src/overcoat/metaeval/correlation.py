"""Segment-level correlations: Kendall's tau variants, Pearson and Spearman, with grouping.

Grouping (docs/metaeval-conventions.md; mt-metrics-eval's ``average_by``):

* ``group="item"``: one correlation per item (row, over its responses), then the mean over
  items (mt-metrics-eval ``average_by="item"``);
* ``group="system"``: one correlation per response column (over items), then the mean
  (``average_by="sys"``);
* ``group="none"``: all present cells pooled into one pair of vectors (``average_by="none"``).

A cell is used when both its human and metric scores are present (non-NaN).  Groups where the
correlation is undefined (fewer than two cells; a constant vector for Pearson / Spearman / tau-b /
tau-c) are dropped from the mean and counted in ``n_dropped`` (as mt-metrics-eval drops NaN
correlations).

Item weights (``weights=None | (n_items,) | (B, n_items)``): for ``group="item"`` an item's
weight multiplies its correlation in the mean.  For pooled groups ("none", "system") the
weights are frequency weights of the cells of each item: Pearson and Spearman use weighted
moments and frequency-weighted mid-ranks, which equal the statistic of physically repeated
items for integer weights; Kendall counts a pair of distinct cells ``w_a * w_b`` (see
``overcoat.metaeval._util``).  2-D weights give (B,) arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from ._util import (
    as_matrices,
    as_weights,
    check_choice,
    finish,
    group_cells,
    pair_statistic,
    wdot,
)

__all__ = ["CorrelationResult", "KendallResult", "kendall_tau", "pearson", "spearman"]

FloatOrArray = float | np.ndarray


@dataclass(frozen=True)
class CorrelationResult:
    """``statistic`` (float or (B,)), groups used (``n_groups``) and dropped (``n_dropped``)."""

    statistic: FloatOrArray
    n_groups: int
    n_dropped: int


@dataclass(frozen=True)
class KendallResult:
    """Result of :func:`kendall_tau`; ``n_pairs`` counts the pairs of the unweighted data."""

    statistic: FloatOrArray
    variant: str
    epsilon: float
    n_pairs: int
    n_groups: int
    n_dropped: int


# ---------------------------------------------------------------------------------------------
# Kendall
# ---------------------------------------------------------------------------------------------


def _tau_stat(variant):
    def stat(counts, n, dh, dm):
        C, D, Th, Tm, Thm = counts.con, counts.dis, counts.t_h, counts.t_m, counts.t_hm
        tot = counts.total
        not_tied_m = C + D + Th  # pairs not tied in the metric: tot - xtie
        not_tied_h = C + D + Tm  # pairs not tied in the human scores: tot - ytie
        if variant == "a":
            return (C - D) / tot, tot > 0, tot
        if variant == "b":
            s = np.clip((C - D) / np.sqrt(not_tied_m) / np.sqrt(not_tied_h), -1.0, 1.0)
            return s, (not_tied_m > 0) & (not_tied_h > 0), tot
        if variant == "c":
            mm = np.minimum(dh, dm)
            s = np.clip(2.0 * (C - D) / (n**2 * (mm - 1) / mm), -1.0, 1.0)
            return s, (not_tied_m > 0) & (not_tied_h > 0) & (mm > 1), tot
        if variant == "23":
            return (C + Thm - D - Th - Tm) / tot, tot > 0, tot
        # acc23
        return (C + Thm) / tot, tot > 0, tot

    return stat


def kendall_tau(
    human,
    metric,
    *,
    variant: str = "b",
    group: str = "item",
    average: str = "items",
    epsilon: float = 0.0,
    weights=None,
) -> KendallResult:
    """Kendall's tau variants over pairs of cells, with metric ties up to ``epsilon``.

    With C / D the concordant / discordant pairs, T_h pairs tied only in the human scores,
    T_m pairs tied only in the metric (``|d_m| <= epsilon``), T_hm pairs tied in both and
    N = C + D + T_h + T_m + T_hm all pairs of a group of n cells:

    * ``"a"``: ``(C - D) / N``;
    * ``"b"``: ``(C - D) / sqrt((N - T_m - T_hm) (N - T_h - T_hm))`` (= scipy
      ``kendalltau(variant="b")``); undefined if either side is all tied;
    * ``"c"``: ``2 (C - D) / (n^2 (k - 1) / k)`` with k the smaller number of distinct human /
      metric values (Stuart's tau-c, = scipy ``kendalltau(variant="c")``); requires
      ``epsilon == 0`` (as mt-metrics-eval);
    * ``"23"``: ``(C + T_hm - D - T_h - T_m) / N`` (tau_eq of Deutsch, Foster & Freitag 2023,
      mt-metrics-eval ``KendallVariants(variant="23")``);
    * ``"acc23"``: ``(C + T_hm) / N`` (= :func:`overcoat.metaeval.accuracy.acc_eq`).

    ``epsilon`` turns metric differences ``|d_m| <= epsilon`` into ties (mt-metrics-eval's
    ``epsilon``).  ``average="pairs"`` weights each group by its number of pairs N instead of
    the plain mean over groups.  See the module docs for grouping and weights.  Like scipy,
    tau-b and tau-c are clipped to [-1, 1] (absorbing rounding in the square roots).
    """
    check_choice("variant", variant, ("a", "b", "c", "23", "acc23"))
    if variant == "c" and epsilon > 0:
        raise ValueError("tau-c is not defined with a non-zero epsilon")
    vals, is_2d, n_pairs, n_groups, n_dropped = pair_statistic(
        human,
        metric,
        epsilon=epsilon,
        group=group,
        average=average,
        weights=weights,
        stat_fn=_tau_stat(variant),
        need_distinct=variant == "c",
    )
    return KendallResult(finish(vals, is_2d), variant, float(epsilon), n_pairs, n_groups, n_dropped)


# ---------------------------------------------------------------------------------------------
# Pearson / Spearman
# ---------------------------------------------------------------------------------------------


def _row_pearson(x, y, valid):
    """Pearson r per row over valid cells; (r, defined)."""
    n = valid.sum(axis=1)
    xv = np.where(valid, x, 0.0)
    yv = np.where(valid, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = xv.sum(axis=1) / n
        my = yv.sum(axis=1) / n
        xc = np.where(valid, x - mx[:, None], 0.0)
        yc = np.where(valid, y - my[:, None], 0.0)
        sxy = (xc * yc).sum(axis=1)
        sxx = (xc * xc).sum(axis=1)
        syy = (yc * yc).sum(axis=1)
        r = sxy / np.sqrt(sxx * syy)
    xmax = np.where(valid, x, -np.inf).max(axis=1)
    xmin = np.where(valid, x, np.inf).min(axis=1)
    ymax = np.where(valid, y, -np.inf).max(axis=1)
    ymin = np.where(valid, y, np.inf).min(axis=1)
    defined = (n >= 2) & (xmax > xmin) & (ymax > ymin) & (sxx > 0) & (syy > 0)
    return np.clip(np.where(defined, r, 0.0), -1.0, 1.0), defined


def _row_ranks(x, valid):
    """Average ranks (1-based) of the valid cells of each row (others: arbitrary)."""
    return rankdata(np.where(valid, x, np.inf), method="average", axis=1)


def _weighted_pearson(x, y, w):
    """Frequency-weighted Pearson r of vectors x, y with weights w (> 0); (r, defined)."""
    if w.size < 2 or x.max() == x.min() or y.max() == y.min():
        return 0.0, False
    sw = w.sum()
    mx = (w * x).sum() / sw
    my = (w * y).sum() / sw
    xc, yc = x - mx, y - my
    sxx, syy = (w * xc * xc).sum(), (w * yc * yc).sum()
    if not (sxx > 0 and syy > 0):
        return 0.0, False
    r = (w * xc * yc).sum() / np.sqrt(sxx * syy)
    return float(np.clip(r, -1.0, 1.0)), True


def _weighted_midranks(x, w):
    """Frequency-weighted mid-ranks: a value with total weight W_v preceded by weight C_v
    gets rank C_v + (W_v + 1) / 2 (the ranks of repeated data for integer weights)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ws = w[order]
    new = np.ones(xs.size, dtype=bool)
    new[1:] = xs[1:] != xs[:-1]
    gid = np.cumsum(new) - 1
    gw = np.bincount(gid, weights=ws)
    before = np.concatenate(([0.0], np.cumsum(gw)[:-1]))
    r = np.empty_like(x)
    r[order] = (before + (gw + 1.0) / 2.0)[gid]
    return r


def _correlation(human, metric, group, weights, rank):
    check_choice("group", group, ("item", "none", "system"))
    h, m = as_matrices(human, metric)
    W, is_2d = as_weights(weights, h.shape[0])
    if group == "item":
        valid = ~(np.isnan(h) | np.isnan(m))
        if rank:
            x, y = _row_ranks(h, valid), _row_ranks(m, valid)
        else:
            x, y = h, m
        r, defined = _row_pearson(x, y, valid)
        d = defined.astype(np.float64)
        num, den = wdot(W, r * d), wdot(W, d)
        n_groups = int(defined.sum())
        n_dropped = int(h.shape[0] - n_groups)
    else:
        groups = list(group_cells(h, m, group))
        G = len(groups)
        rs = np.zeros((W.shape[0], G))
        ds = np.zeros((W.shape[0], G))
        d0 = np.zeros(G, dtype=bool)
        for g, (hc, mc, items) in enumerate(groups):
            ones = np.ones(hc.size)
            if rank:
                r0, d0[g] = _weighted_pearson(
                    _weighted_midranks(hc, ones), _weighted_midranks(mc, ones), ones
                )
            else:
                r0, d0[g] = _weighted_pearson(hc, mc, ones)
            if weights is None:
                rs[0, g], ds[0, g] = r0, d0[g]
                continue
            for b in range(W.shape[0]):
                w = W[b, items]
                pos = w > 0
                xc, yc, wc = hc[pos], mc[pos], w[pos]
                if rank:
                    xc, yc = _weighted_midranks(xc, wc), _weighted_midranks(yc, wc)
                rs[b, g], ds[b, g] = _weighted_pearson(xc, yc, wc)
        num, den = (rs * ds).sum(axis=1), ds.sum(axis=1)
        n_groups = int(d0.sum())
        n_dropped = int(G - n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return CorrelationResult(finish(vals, is_2d), n_groups, n_dropped)


def pearson(human, metric, *, group: str = "item", weights=None) -> CorrelationResult:
    """Pearson correlation, per group then averaged (see the module docs).

    Per group: ``r = sum (x - mean x)(y - mean y) / sqrt(sum (x - mean x)^2 sum (y - mean y)^2)``
    (= ``scipy.stats.pearsonr``); undefined for fewer than two cells or a constant vector.
    """
    return _correlation(human, metric, group, weights, rank=False)


def spearman(human, metric, *, group: str = "item", weights=None) -> CorrelationResult:
    """Spearman's rho: Pearson correlation of the average ranks (ties get mid-ranks), per group
    then averaged (= ``scipy.stats.spearmanr`` per group).  Undefined for fewer than two cells
    or a constant vector."""
    return _correlation(human, metric, group, weights, rank=True)
