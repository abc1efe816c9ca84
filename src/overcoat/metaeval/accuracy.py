"""Pairwise accuracies: RewardBench-style preference accuracy, best-of-k, and the tie-aware
pairwise accuracy ``acc_eq`` of Deutsch, Foster & Freitag (2023, "Ties Matter") with tie
calibration.

Notation (docs/metaeval-conventions.md).  A *pair* is two cells of one group (two responses of
one item for ``group="item"``) with both human and metric scores present.  With
``d_h``/``d_m`` the human/metric differences of a pair:

* gold tie: ``d_h == 0``;  metric tie: ``|d_m| <= epsilon``;
* concordant (C): no gold tie, no metric tie, ``sign(d_h) == sign(d_m)``;
* discordant (D): no gold tie, no metric tie, ``sign(d_h) != sign(d_m)``;
* T_h: gold tie only, T_m: metric tie only, T_hm: tied in both.

Grouping: ``group="item"`` computes the statistic per item and macro-averages it (items where it
is undefined are dropped and counted in ``n_dropped``); ``average="pairs"`` weights each item by
its number of pairs entering the statistic (which makes the result the ratio of pooled counts).
``group="none"`` pools all cells of all items into one group (pairs also cross items, as
mt-metrics-eval's ``average_by="none"``).  ``group="system"`` groups the cells of each column.

Item weights ``weights=None | (n_items,) | (B, n_items)`` follow the resampling protocol: for
``group="item"`` an item's weight multiplies its contribution; for pooled groupings a pair of two
distinct cells of items a and b counts ``w_a * w_b`` (exact sub-setting for 0/1 weights; see
``overcoat.metaeval._util`` for integer weights).  2-D weights give (B,) arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._util import (
    EPS64,
    POOL_BLOCK,
    as_matrices,
    as_weights,
    check_choice,
    finish,
    first_argmax_tol,
    group_cells,
    pair_statistic,
    snap_sorted,
    snap_union,
)

__all__ = [
    "BestOfKResult",
    "CrossFittedTieResult",
    "PairAccuracyResult",
    "TieCalibrationResult",
    "acc_eq",
    "best_of_k_accuracy",
    "cross_fitted_tie_accuracy",
    "pairwise_accuracy",
    "tie_calibrated_accuracy",
]

FloatOrArray = float | np.ndarray


@dataclass(frozen=True)
class PairAccuracyResult:
    """Result of :func:`pairwise_accuracy` / :func:`acc_eq`.

    ``statistic`` is a float, or a (B,) array for 2-D weights.  ``n_pairs`` is the number of
    pairs in the (unweighted) data, ``n_groups`` the number of groups where the statistic is
    defined and ``n_dropped`` the number of groups where it is not.
    """

    statistic: FloatOrArray
    epsilon: float
    n_pairs: int
    n_groups: int
    n_dropped: int


@dataclass(frozen=True)
class BestOfKResult:
    """Result of :func:`best_of_k_accuracy` (``n_groups`` items scored, ``n_dropped`` skipped)."""

    statistic: FloatOrArray
    n_groups: int
    n_dropped: int


@dataclass(frozen=True)
class TieCalibrationResult:
    """Result of :func:`tie_calibrated_accuracy`.

    Attributes
    ----------
    statistic : acc_eq at the fitted epsilon (float or (B,)).
    epsilon : the fitted metric tie threshold (float or (B,)).
    all_ties_baseline : acc_eq of a constant scorer (every pair a metric tie) = the weighted
        gold-tie rate (float or (B,)).
    all_ties : True when the fitted epsilon calls every gold-tie and every concordant pair a tie
        (epsilon >= the largest gap among them), so that the statistic equals
        ``all_ties_baseline``: the calibrated metric is no better than a constant scorer
        (bool or (B,) bool).  Only discordant pairs, whose ordering earns nothing, may remain
        ordered.
    n_pairs, n_groups, n_dropped : pairs used (after sampling), groups with at least one pair,
        groups without any.
    """

    statistic: FloatOrArray
    epsilon: FloatOrArray
    all_ties_baseline: FloatOrArray
    all_ties: bool | np.ndarray
    n_pairs: int
    n_groups: int
    n_dropped: int


@dataclass(frozen=True)
class CrossFittedTieResult:
    """Result of :func:`cross_fitted_tie_accuracy`.

    ``statistic``: held-out acc_eq (pooled over folds); ``epsilon``: the threshold fitted on
    the dev data (float) or one per fold ((k,) array); ``fold_statistics``: held-out acc_eq per
    fold ((k,) array, or a 1-element array for a dev split); ``in_sample_statistic``: tie-
    calibrated acc_eq fitted and evaluated on the evaluation data itself (the usual, optimistic
    number) for comparison; ``all_ties_baseline``: gold-tie rate of the evaluation data.
    """

    statistic: FloatOrArray
    epsilon: FloatOrArray
    fold_statistics: np.ndarray
    in_sample_statistic: FloatOrArray
    all_ties_baseline: FloatOrArray
    n_folds: int
    n_pairs: int
    n_groups: int
    n_dropped: int


# ---------------------------------------------------------------------------------------------
# Fixed-epsilon statistics
# ---------------------------------------------------------------------------------------------


def _pa_stat(half):
    def stat(counts, n, dh, dm):
        den = counts.con + counts.dis + counts.t_m
        num = counts.con + (0.5 * counts.t_m if half else 0.0)
        return num / den, den > 0, den

    return stat


def _acc_eq_stat(counts, n, dh, dm):
    tot = counts.total
    return (counts.con + counts.t_hm) / tot, tot > 0, tot


def pairwise_accuracy(
    human,
    metric,
    *,
    ties: str = "strict",
    epsilon: float = 0.0,
    group: str = "item",
    average: str = "items",
    weights=None,
) -> PairAccuracyResult:
    """Pairwise preference accuracy over the pairs that are not gold ties.

    For every pair whose human scores differ, the metric is *correct* when it orders the pair
    the same way as the human (``sign(d_m) == sign(d_h)`` and ``|d_m| > epsilon``) and wrong
    when it orders it the other way.  A metric tie (``|d_m| <= epsilon``) counts

    * ``ties="strict"``: wrong (RewardBench v1: the chosen response must score strictly higher);
    * ``ties="half"``: 1/2.

    Per group: ``(C + [half] T_m / 2) / (C + D + T_m)``; undefined (dropped) when the group has
    no pair with a human preference.  Gold ties never enter.  For a preference data set in
    matrix form (columns [chosen, rejected], human [1, 0]) with ``group="item"`` this is the
    RewardBench accuracy.  ``average="pairs"`` weights each item by its number of non-gold-tie
    pairs (= pooled ratio of correct to preference pairs within items).
    """
    check_choice("ties", ties, ("strict", "half"))
    vals, is_2d, n_pairs, n_groups, n_dropped = pair_statistic(
        human,
        metric,
        epsilon=epsilon,
        group=group,
        average=average,
        weights=weights,
        stat_fn=_pa_stat(ties == "half"),
    )
    return PairAccuracyResult(finish(vals, is_2d), float(epsilon), n_pairs, n_groups, n_dropped)


def acc_eq(
    human,
    metric,
    *,
    epsilon: float = 0.0,
    group: str = "item",
    average: str = "items",
    weights=None,
) -> PairAccuracyResult:
    """Tie-aware pairwise accuracy ``acc_eq`` (Deutsch, Foster & Freitag 2023).

    ``acc_eq = (C + T_hm) / (C + D + T_h + T_m + T_hm)``: the fraction of *all* pairs (gold ties
    included) on which the metric agrees with the human, where agreeing on a gold tie means
    calling it a metric tie (``|d_m| <= epsilon``).  Equal to mt-metrics-eval's
    ``KendallVariants(variant="acc23", epsilon=...)`` per group.  Undefined for groups without
    pairs.
    """
    vals, is_2d, n_pairs, n_groups, n_dropped = pair_statistic(
        human,
        metric,
        epsilon=epsilon,
        group=group,
        average=average,
        weights=weights,
        stat_fn=_acc_eq_stat,
    )
    return PairAccuracyResult(finish(vals, is_2d), float(epsilon), n_pairs, n_groups, n_dropped)


def best_of_k_accuracy(human, metric, weights=None) -> BestOfKResult:
    """RewardBench 2 best-of-k accuracy.

    Per item the *chosen* response is the one with the maximal human score (exactly one per
    item, e.g. one chosen and three rejected responses); the other present responses are the
    rejected ones.  The item earns 1 if the chosen response has the strictly largest metric
    score, ``1/k`` if it is one of ``k`` responses tied at the maximal metric score, and 0
    otherwise.  The statistic is the (item-weighted) mean over items.

    The chosen response is determined from the human scores alone.  Rejected responses with a
    NaN human or metric score are absent; items whose chosen response has no metric score, or
    with fewer than two present responses, are dropped (``n_dropped``).  An item whose maximal
    human score is shared by several responses has no unique chosen response and raises
    ``ValueError``.
    """
    h, m = as_matrices(human, metric)
    W, is_2d = as_weights(weights, h.shape[0])
    rows = np.arange(h.shape[0])
    hp = ~np.isnan(h)
    hv = np.where(hp, h, -np.inf)
    hmax = hv.max(axis=1, keepdims=True)
    n_top = np.count_nonzero(hp & (hv == hmax), axis=1)
    bad = (hp.sum(axis=1) >= 2) & (n_top > 1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} item(s) have no unique chosen response (tied "
            f"maximal human score), e.g. item {int(np.flatnonzero(bad)[0])}"
        )
    chosen = np.argmax(hv, axis=1)
    valid = hp & ~np.isnan(m)
    defined = valid[rows, chosen] & (valid.sum(axis=1) >= 2)
    mv = np.where(valid, m, -np.inf)
    mmax = mv.max(axis=1)
    m_chosen = mv[rows, chosen]
    k = np.count_nonzero(valid & (mv == mmax[:, None]), axis=1)
    credit = np.where(defined & (m_chosen == mmax), 1.0 / np.maximum(k, 1), 0.0)
    d = defined.astype(np.float64)
    num, den = W @ (credit * d), W @ d
    with np.errstate(invalid="ignore", divide="ignore"):
        vals = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    n_groups = int(defined.sum())
    return BestOfKResult(finish(vals, is_2d), n_groups, int(h.shape[0] - n_groups))


# ---------------------------------------------------------------------------------------------
# Tie calibration: sorting-based sweep over all candidate thresholds
# ---------------------------------------------------------------------------------------------
#
# For a threshold eps, acc_eq(eps) = sum_p u_p ([p concordant and |d_m| > eps] +
#                                               [p gold tie and |d_m| <= eps])
#                    = A0 + sum_{p: |d_m,p| <= eps} u_p ([gold tie] - [concordant at eps=0]),
# with u_p the pair's share of the (weighted, normalised) average and A0 = sum_p u_p [conc].
# Only gold-tie (+u) and concordant (-u) pairs move the sum, so sorting their gaps once and
# taking a cumulative sum gives acc_eq at every candidate threshold.  The maximum can only be
# reached at 0 or at the gap of a gold-tie pair (the sum only rises there), and the smallest
# maximising candidate is returned.

_SWEEP_CHUNK = 1 << 21
# integers below this bound are exact in float64 with room for the sums of the sweep
_EXACT_LIMIT = float(2**50)


def _small_lcm(values, bound):
    """Least common multiple of positive integers, or None if it exceeds ``bound``."""
    import math

    L = 1
    for v in values.tolist():
        L = L * int(v) // math.gcd(L, int(v))
        if L > bound:
            return None
    return L


def _run_ends(sorted_vals, start, stop):
    """Positions i in [start, stop) that end a run of equal values in ``sorted_vals``."""
    n = sorted_vals.shape[0]
    hi = min(stop + 1, n)
    seg = sorted_vals[start:hi]
    ends = np.flatnonzero(seg[1:] != seg[:-1]) + start
    if stop == n:
        ends = np.append(ends, n - 1)
    return ends


def _sweep_counts(g_sorted, c_sorted, chunk=1 << 16):
    """Exact sweep with unit pair weights.

    ``g_sorted``/``c_sorted``: sorted metric gaps of gold-tie / concordant pairs.  Maximises
    ``f(eps) = #{G <= eps} - #{C <= eps}`` over eps = 0 and the gold-tie gaps (f only rises
    at those); returns ``(eps, f, all_ties)`` for the smallest maximising candidate.

    The gold-tie gaps are cut into chunks; since ``#{C <= eps}`` never decreases, a chunk's
    values are at most ``#{G <= chunk end} - #{C <= chunk start}``, and chunks whose bound
    cannot beat the best value found so far are skipped (the chunks are visited by decreasing
    bound), so only a few chunks need a ``searchsorted`` per candidate.
    """
    g_sorted, c_sorted = snap_union(g_sorted, c_sorted)
    n = g_sorted.shape[0]
    top = max(g_sorted[-1] if n else 0.0, c_sorted[-1] if c_sorted.size else 0.0)
    best_f, best_eps = 0, 0.0  # candidate eps = 0 (C gaps are > 0, so #C <= 0 is 0)
    if n == 0:
        return best_eps, best_f, bool(best_eps >= top)
    starts = np.arange(0, n, chunk)
    stops = np.minimum(starts + chunk, n)
    c_at_start = np.searchsorted(c_sorted, g_sorted[starts], side="left")
    bound = stops - c_at_start
    for k in np.argsort(-bound, kind="stable"):
        if bound[k] < best_f or (bound[k] == best_f and g_sorted[starts[k]] > best_eps):
            if bound[k] < best_f:
                break
            continue
        ends = _run_ends(g_sorted, int(starts[k]), int(stops[k]))
        if ends.size == 0:
            continue
        ux = g_sorted[ends]
        f = (ends + 1) - np.searchsorted(c_sorted, ux, side="right")
        i = int(np.argmax(f))
        if f[i] > best_f or (f[i] == best_f and ux[i] < best_eps):
            best_f, best_eps = int(f[i]), float(ux[i])
    return best_eps, best_f, bool(best_eps >= top)


def _sweep_weighted(gap, contrib, base, norm, exact):
    """Sweep with real pair contributions (one weight vector).

    ``contrib``: +u for gold-tie pairs, -u for concordant pairs (unnormalised); ``base`` = the
    unnormalised A0 and ``norm`` the normaliser.  Returns ``(eps, acc, all_ties)``.  With
    ``exact`` (integer contributions) ties are decided exactly, otherwise within a rounding
    bound.
    """
    if gap.size == 0:
        return 0.0, float(base) / norm, True
    order = np.argsort(gap, kind="stable")
    gs = snap_sorted(gap[order])
    cs = contrib[order]
    nz = np.flatnonzero(cs != 0)
    last = int(nz[-1]) if nz.size else -1
    scale = abs(base) + float(np.abs(cs).sum())
    np.cumsum(cs, out=cs)
    ends = _run_ends(gs, 0, gs.shape[0])
    cand = gs[ends]
    vals = base + cs[ends]
    if cand[0] > 0:
        cand = np.concatenate(([0.0], cand))
        vals = np.concatenate(([base], vals))
        ends = np.concatenate(([-1], ends))
    tol = 0.0 if exact else 8 * EPS64 * (gap.size + 2) * scale
    i = int(first_argmax_tol(vals, tol))
    return float(cand[i]), float(vals[i]) / norm, bool(ends[i] >= last)


def _sweep_item_weighted(gap, item, factor, W, base_num, norm, exact, chunk_elems=1 << 22):
    """Sweep for item-grouped pairs under a batch of item weights ``W`` (B, n_items).

    Pair p (gold tie: ``factor > 0``, concordant: ``factor < 0``) contributes
    ``W[b, item[p]] * factor[p] / norm[b]``; ``base_num[b] / norm[b]`` is A0.  The pairs are
    sorted by gap once.  Only thresholds that end a run of equal gaps containing a gold-tie
    pair (plus 0) can be maximisers, so the sorted pairs are cut into segments ending at those
    candidates and written as a sparse (segments x items) matrix; one sparse-dense product per
    chunk of rows gives every row's per-segment sums, and a cumulative sum over segments gives
    acc_eq at every candidate for every row.  Returns (eps, acc, all_ties), each (B,).

    The maximum is located on the unnormalised sums.  With ``exact`` (all contributions are
    integers, so every sum is exact in float64) ties are decided exactly; otherwise values
    within ``32 * machine_eps * (P + 2) * norm`` of the maximum count as tied.
    """
    from scipy import sparse

    B, n_items = W.shape
    eps_out = np.zeros(B)
    all_out = np.ones(B, dtype=bool)
    ok = norm > 0
    nrm = np.where(ok, norm, 1.0)
    base = base_num / nrm
    if gap.size == 0 or not (factor > 0).any():
        acc = np.where(ok, base, np.nan)
        if gap.size:
            # only concordant pairs: eps = 0 keeps them all; all_ties iff a row weighs none
            all_out = ~((W[:, item] > 0).any(axis=1))
        return eps_out, acc, all_out
    order = np.argsort(gap, kind="stable")
    gs = snap_sorted(gap[order])
    it = item[order]
    fs = factor[order]
    P = gs.shape[0]
    ends = _run_ends(gs, 0, P)
    starts = np.concatenate(([0], ends[:-1] + 1))
    has_gold = np.maximum.reduceat((fs > 0).view(np.int8), starts) > 0
    cand_end = ends[has_gold]
    cand_eps = gs[cand_end]
    zero_first = cand_eps[0] > 0
    last = int(cand_end[-1])
    indptr = np.concatenate(([0], cand_end + 1))
    At = sparse.csr_matrix(
        (fs[: last + 1], it[: last + 1], indptr), shape=(cand_end.shape[0], n_items)
    )
    if zero_first:
        cand_eps = np.concatenate(([0.0], cand_eps))
        cand_end = np.concatenate(([-1], cand_end))
    # last sorted position of each item's pairs (to decide all_ties per row)
    lastpos = np.full(n_items, -1, dtype=np.int64)
    np.maximum.at(lastpos, it, np.arange(P))
    R = At.shape[0]
    bc = max(1, chunk_elems // max(R, 1))
    acc_out = np.full(B, np.nan)
    for b0 in range(0, B, bc):
        b1 = min(B, b0 + bc)
        Wc = W[b0:b1]
        Y = At @ np.ascontiguousarray(Wc.T)  # (R, Bc) segment sums
        np.cumsum(Y, axis=0, out=Y)
        Y += base_num[b0:b1]
        if zero_first:
            Y = np.concatenate((base_num[b0:b1][None, :], Y), axis=0)
        tol = 0.0 if exact else 32 * EPS64 * (P + 2) * nrm[b0:b1]
        idx = first_argmax_tol(Y.T, tol)
        eps_out[b0:b1] = cand_eps[idx]
        acc_out[b0:b1] = Y[idx, np.arange(b1 - b0)] / nrm[b0:b1]
        lastw = np.max(np.where(Wc > 0, lastpos[None, :], -1), axis=1)
        all_out[b0:b1] = cand_end[idx] >= lastw
    acc_out[~ok] = np.nan
    return eps_out, acc_out, all_out


def _item_gc(h, m, sample_rate, rng):
    """Within-item gold-tie and concordant pairs (the only ones that move acc_eq(eps)).

    Each item's responses are first sorted by human score, so that for every pair (j < k in
    that order) ``d_h = h_k - h_j >= 0``: gold ties are ``d_h == 0`` and concordant pairs are
    ``d_h > 0 and d_m > 0`` with gap ``d_m``.  Cells missing either score are set to NaN in
    the human matrix, which makes every pair touching them neither gold nor concordant.
    """
    n_resp = h.shape[1]
    cell_ok = ~(np.isnan(h) | np.isnan(m))
    missing = not cell_ok.all()
    hh = np.where(cell_ok, h, np.nan) if missing else h
    order = np.argsort(hh, axis=1, kind="stable")
    hs = np.take_along_axis(hh, order, axis=1)
    ms = np.take_along_axis(m, order, axis=1)
    jj, kk = np.triu_indices(n_resp, 1)
    dh = hs[:, kk] - hs[:, jj]
    dm = ms[:, kk] - ms[:, jj]
    gold = dh == 0
    conc = dh > 0
    conc &= dm > 0
    if sample_rate < 1.0:
        keep = rng.random(dh.shape) < sample_rate
        gold &= keep
        conc &= keep
        n_i = np.count_nonzero(keep & ~np.isnan(dh), axis=1)
    else:
        v = cell_ok.sum(axis=1)
        n_i = v * (v - 1) // 2
    return {
        "n": n_i,
        "c": np.count_nonzero(conc, axis=1),
        "g": np.count_nonzero(gold, axis=1),
        "gold": gold,
        "conc": conc,
        "dm": dm,
    }


def _calibrate_item(h, m, W, is_2d, weighted, average, sample_rate, rng):
    n_items = h.shape[0]
    d = _item_gc(h, m, sample_rate, rng)
    n_i, c_i, g_i = d["n"], d["c"], d["g"]
    defined = n_i > 0
    n_groups = int(defined.sum())
    info = (int(n_i.sum()), n_groups, int(n_items - n_groups))
    if n_groups == 0:
        B = W.shape[0]
        return (np.zeros(B), np.full(B, np.nan), np.full(B, np.nan), np.ones(B, bool)), info
    w_def = W[0, defined]
    uniform = (
        not is_2d
        and ((not weighted) or bool(np.all(w_def == w_def[0])))
        and (average == "pairs" or bool(np.all(n_i[defined] == n_i[defined][0])))
    )
    if uniform:
        # every pair has the same share: exact integer sweep
        if weighted and w_def[0] == 0:
            return (np.zeros(1), np.full(1, np.nan), np.full(1, np.nan), np.ones(1, bool)), info
        g_sorted = np.abs(d["dm"][d["gold"]])
        g_sorted.sort()
        c_sorted = d["dm"][d["conc"]]
        c_sorted.sort()
        eps, f, all_ties = _sweep_counts(g_sorted, c_sorted)
        n_tot = int(n_i.sum())
        acc = (int(c_i.sum()) + f) / n_tot
        return (
            np.array([eps]),
            np.array([acc]),
            np.array([g_i.sum() / n_tot]),
            np.array([all_ties]),
        ), info
    # per-item share factor a_i: 1/N_i (average="items") or 1 ("pairs"), 0 if undefined; scaled
    # by L = lcm of the N_i when that keeps integer weights' sums exact integers in float64
    a = np.zeros(n_items)
    size = np.zeros(n_items)
    integer_w = bool(np.all(W == np.round(W)))
    if average == "items":
        L = (
            _small_lcm(
                np.unique(n_i[defined]),
                bound=_EXACT_LIMIT / max(1.0, float(W.sum(axis=1).max()) * float(n_i.max())),
            )
            if integer_w
            else None
        )
        if L is not None:
            a[defined] = L // n_i[defined]
            size[defined] = L
        else:
            a[defined] = 1.0 / n_i[defined]
            size[defined] = 1.0
    else:
        a[defined] = 1.0
        size[defined] = n_i[defined]
        L = (
            1
            if integer_w and float(W.sum(axis=1).max()) * float(n_i.max()) ** 2 < _EXACT_LIMIT
            else None
        )
    exact = L is not None
    norm = W @ size
    base_num = W @ (a * c_i)
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(norm > 0, (W @ (a * g_i)) / np.where(norm > 0, norm, 1.0), np.nan)
    ig, pg = np.nonzero(d["gold"])
    ic, pc = np.nonzero(d["conc"])
    item = np.concatenate((ig, ic))
    gap = np.concatenate((np.abs(d["dm"][ig, pg]), d["dm"][ic, pc]))
    factor = np.concatenate((a[ig], -a[ic]))
    eps, acc, all_ties = _sweep_item_weighted(gap, item, factor, W, base_num, norm, exact)
    return (eps, acc, baseline, all_ties), info


def _pooled_gc(hc, mc, wc, sample_rate, rng):
    """Gold-tie and concordant gaps (and product weights) of all pairs of one pooled group.

    Cells are sorted by metric so that for a pair a < b the gap is ``m[b] - m[a] >= 0``: the
    pair is a gold tie when ``h[b] == h[a]`` and concordant when ``h[b] > h[a]`` and
    ``m[b] > m[a]``.  The gaps are written into one preallocated buffer (gold ties from the
    front, concordant pairs from the back), block of rows by block of rows; each block is split
    into its small triangular part and a rectangle that needs no ``a < b`` mask.
    """
    order = np.argsort(mc, kind="stable")
    h = hc[order]
    m = mc[order]
    w = None if wc is None else wc[order]
    n = h.shape[0]
    P = n * (n - 1) // 2
    buf = np.empty(P)
    wbuf: Any = None if w is None else np.empty(P)
    gi, ci = 0, P
    n_pairs = 0
    n_w = g_w = c_w = 0.0

    def emit(ra, ca, mask):
        # rows ra (slice), columns ca (slice) of the pair block; mask: a < b (or None)
        nonlocal gi, ci, n_pairs, n_w, g_w, c_w
        ha, hb = h[ra, None], h[None, ca]
        ma, mb = m[ra, None], m[None, ca]
        gold = ha == hb
        conc = hb > ha
        conc &= mb > ma
        if sample_rate < 1.0:
            keep = rng.random(gold.shape) < sample_rate
            if mask is not None:
                keep &= mask
            mask = keep
        if mask is not None:
            gold &= mask
            conc &= mask
        gap = mb - ma
        gv = gap[gold]
        cv = gap[conc]
        buf[gi : gi + gv.size] = gv
        buf[ci - cv.size : ci] = cv
        n_pairs += int(np.count_nonzero(mask)) if mask is not None else gold.size
        if w is not None:
            pw = w[ra, None] * w[None, ca]
            gw_, cw_ = pw[gold], pw[conc]
            wbuf[gi : gi + gv.size] = gw_
            wbuf[ci - cv.size : ci] = cw_
            n_w += float(pw[mask].sum()) if mask is not None else float(pw.sum())
            g_w += float(gw_.sum())
            c_w += float(cw_.sum())
        gi += gv.size
        ci -= cv.size

    if n >= 2:
        rows = max(1, POOL_BLOCK // n)
        for r0 in range(0, n - 1, rows):
            r1 = min(n - 1, r0 + rows)
            tri = np.arange(r0, r1)[:, None] < np.arange(r0 + 1, r1 + 1)[None, :]
            emit(slice(r0, r1), slice(r0 + 1, r1 + 1), tri)
            if r1 + 1 < n:
                emit(slice(r0, r1), slice(r1 + 1, n), None)
    out = {"g": buf[:gi], "c": buf[ci:], "n_pairs": n_pairs}
    if w is None:
        out.update(n_w=float(n_pairs), g_w=float(gi), c_w=float(P - ci))
    else:
        out.update(gw=wbuf[:gi], cw=wbuf[ci:], n_w=n_w, g_w=g_w, c_w=c_w)
    return out


def _calibrate_pooled(h, m, group, W, is_2d, weighted, average, sample_rate, rng):
    groups = list(group_cells(h, m, group))
    B = W.shape[0]
    # the same sampled pairs in every row: restart the generator from one state per row
    seed_state = rng.bit_generator.state
    out_eps, out_acc, out_base, out_all = (
        np.zeros(B),
        np.full(B, np.nan),
        np.full(B, np.nan),
        np.ones(B, dtype=bool),
    )
    if sample_rate == 1.0:
        sizes = np.array([g[0].shape[0] for g in groups])
        n_groups = int(np.count_nonzero(sizes >= 2))
        info = (int((sizes * (sizes - 1) // 2).sum()), n_groups, len(groups) - n_groups)
    else:
        info = None
    for b in range(B):
        rng.bit_generator.state = seed_state
        row_groups, row_weighted = groups, weighted
        if weighted and sample_rate == 1.0:
            # zero-weight cells carry no pair weight: drop them; 0/1 weights then are plain
            # sub-setting and take the exact unweighted path
            row_groups = [
                (hc[W[b, it] > 0], mc[W[b, it] > 0], it[W[b, it] > 0]) for hc, mc, it in groups
            ]
            row_weighted = not bool(np.all((W[b] == 0) | (W[b] == 1)))
        wrow = W[b] if row_weighted else None
        parts = [
            _pooled_gc(hc, mc, None if wrow is None else wrow[items], sample_rate, rng)
            for hc, mc, items in row_groups
        ]
        n_pairs_g = np.array([p["n_pairs"] for p in parts])
        n_w = np.array([p["n_w"] for p in parts])
        if info is None:
            n_groups = int(np.count_nonzero(n_pairs_g))
            info = (int(n_pairs_g.sum()), n_groups, len(groups) - n_groups)
        ok = n_w > 0
        if not ok.any():
            continue
        # unnormalised share of a pair of group g: s_g; statistic = sum s_g (...) / norm
        integer_w = (not row_weighted) or bool(np.all(W[b] == np.round(W[b])))
        if average == "pairs" or len(parts) == 1:
            share = np.where(ok, 1.0, 0.0)
            norm = float(n_w[ok].sum())
            exact = integer_w and norm < _EXACT_LIMIT
        else:
            L = (
                _small_lcm(n_w[ok].astype(np.int64), _EXACT_LIMIT / max(1.0, float(n_w.max())))
                if integer_w
                else None
            )
            if L is not None:
                share = np.where(ok, L / np.where(ok, n_w, 1.0), 0.0)
                norm = float(L * ok.sum())
            else:
                share = np.where(ok, 1.0 / np.where(ok, n_w, 1.0), 0.0)
                norm = float(ok.sum())
            exact = L is not None
        out_base[b] = float(sum(sh * p["g_w"] for sh, p in zip(share, parts))) / norm
        base = float(sum(sh * p["c_w"] for sh, p in zip(share, parts)))
        uniform = (not row_weighted) and len(set(share[ok].tolist())) == 1
        if uniform:
            if len(parts) == 1:
                g_sorted, c_sorted = parts[0]["g"], parts[0]["c"]
            else:
                g_sorted = np.concatenate([p["g"] for p in parts])
                c_sorted = np.concatenate([p["c"] for p in parts])
            del parts
            g_sorted.sort()
            c_sorted.sort()
            eps, f, all_ties = _sweep_counts(g_sorted, c_sorted)
            sh = float(share[ok][0])
            out_eps[b], out_acc[b], out_all[b] = eps, (base + sh * f) / norm, all_ties
        else:
            gaps, contrib = [], []
            for sh, p in zip(share, parts):
                if sh == 0:
                    continue
                gw = p["gw"] if row_weighted else np.ones(p["g"].size)
                cw = p["cw"] if row_weighted else np.ones(p["c"].size)
                gaps += [p["g"], p["c"]]
                contrib += [sh * gw, -sh * cw]
            del parts
            gap = np.concatenate(gaps) if gaps else np.zeros(0)
            con = np.concatenate(contrib) if contrib else np.zeros(0)
            del gaps, contrib
            eps, acc, all_ties = _sweep_weighted(gap, con, base, norm, exact)
            out_eps[b], out_acc[b], out_all[b] = eps, acc, all_ties
    return (out_eps, out_acc, out_base, out_all), info


def tie_calibrated_accuracy(
    human,
    metric,
    *,
    group: str = "item",
    average: str = "items",
    weights=None,
    sample_rate: float = 1.0,
    seed: int | None = 0,
) -> TieCalibrationResult:
    """acc_eq with tie calibration (Deutsch, Foster & Freitag 2023).

    Tie calibration picks the metric tie threshold ``epsilon`` that maximises
    :func:`acc_eq` on the given data, and reports that maximum.  The candidates are 0 and
    every distinct metric gap ``|d_m|`` of a pair (acc_eq is a step function of epsilon that
    only changes at those values); among maximising candidates the **smallest** epsilon is
    returned (mt-metrics-eval's ``tau_optimization`` also returns the first maximum).  This
    equals mt-metrics-eval's ``KendallWithTiesOpt(variant="acc23", sample_rate=1.0)`` (its
    default ``sample_rate`` is 0.1).

    The search is a sorting-based sweep: the gaps of gold-tie and concordant pairs are sorted
    once and a cumulative sum of per-pair weights (``+w`` for a gold tie, ``-w`` for a
    concordant pair) gives acc_eq at every candidate threshold; no loop over candidates.
    Ties between candidates are decided exactly whenever the pair shares can be written as
    integers (no weights or integer weights, with per-group shares scaled by the least common
    multiple of the group sizes when that stays below 2**50); otherwise (real-valued weights)
    candidates within a floating-point rounding bound of the maximum count as tied.

    Parameters
    ----------
    group : "item" | "none" | "system"
        ``"item"``: acc_eq per item, macro-averaged (WMT23 segment-level "item-grouped");
        one epsilon shared by all items.  ``"none"``: all cells pooled into one group.
        ``"system"``: per column.
    average : "items" | "pairs"
        Macro average over groups, or each group weighted by its number of pairs.
    weights : None | (n_items,) | (B, n_items)
        Item weights; with 2-D weights epsilon is re-fitted for every row and all outputs are
        (B,) arrays.  The item-grouped 2-D case is vectorised (one sort; per chunk of rows one
        sparse product giving the per-segment sums and a cumulative sum over segments).
        Pooled groupings ("none", "system") loop over rows; zero-weight items are dropped per
        row and 0/1 rows take the exact unweighted path, so a paired permutation test costs
        about one unweighted call per resample.
    sample_rate : float in (0, 1]
        Use a random Bernoulli(sample_rate) subset of the pairs, for both the search and the
        reported value (as mt-metrics-eval's ``sample_rate``; the sampled subset differs from
        theirs).  Groups without sampled pairs are dropped.
    seed : int
        Seed of the pair sampling (only used when ``sample_rate < 1``).
    """
    check_choice("group", group, ("item", "none", "system"))
    check_choice("average", average, ("items", "pairs"))
    if not 0.0 < sample_rate <= 1.0:
        raise ValueError("sample_rate must be in (0, 1]")
    h, m = as_matrices(human, metric)
    W, is_2d = as_weights(weights, h.shape[0])
    rng = np.random.default_rng(seed)
    weighted = weights is not None
    if group == "item":
        (eps, acc, base, all_ties), info = _calibrate_item(
            h, m, W, is_2d, weighted, average, sample_rate, rng
        )
    else:
        (eps, acc, base, all_ties), info = _calibrate_pooled(
            h, m, group, W, is_2d, weighted, average, sample_rate, rng
        )
    n_pairs, n_groups, n_dropped = info
    return TieCalibrationResult(
        statistic=finish(acc, is_2d),
        epsilon=finish(eps, is_2d),
        all_ties_baseline=finish(base, is_2d),
        all_ties=finish(all_ties, is_2d) if is_2d else bool(all_ties[0]),
        n_pairs=n_pairs,
        n_groups=n_groups,
        n_dropped=n_dropped,
    )


# ---------------------------------------------------------------------------------------------
# Calibration-aware evaluation
# ---------------------------------------------------------------------------------------------


def _counts_at(h, m, eps, group):
    """(numerator, denominator) sums of acc_eq on (h, m) at threshold eps, for pooling."""
    from ._util import _grouped_counts  # local import: private helper

    W = np.ones((1, h.shape[0]))
    wdata, _, _ = _grouped_counts(h, m, eps, group, W, False, False)
    c = wdata["counts"]
    return c.con + c.t_hm, c.total


def cross_fitted_tie_accuracy(
    human,
    metric,
    *,
    dev=None,
    k_folds: int | None = None,
    seed: int = 0,
    group: str = "item",
    average: str = "items",
) -> CrossFittedTieResult:
    """Tie-calibrated acc_eq with the threshold fitted on data it is not evaluated on.

    In-sample tie calibration (:func:`tie_calibrated_accuracy`) reports the maximum of acc_eq
    over thresholds on the evaluation data itself, an optimistic number.  This function
    separates fitting and evaluation:

    * ``dev=(human_dev, metric_dev)``: fit epsilon on the dev data (a dev split or another
      data set) with :func:`tie_calibrated_accuracy` and report :func:`acc_eq` on
      ``(human, metric)`` at that epsilon.
    * ``k_folds=k``: split the items into k folds (a seeded random permutation of the items,
      cut into k near-equal parts); for each fold, fit epsilon on the other k-1 folds and
      evaluate acc_eq on the held-out fold at that epsilon.  The held-out results are pooled:
      for ``group="item"`` every item's acc_eq (at its fold's epsilon) enters one macro
      average over all items (or pair-weighted for ``average="pairs"``); for ``"none"`` /
      ``"system"`` the pairs of each held-out fold (pairs within the fold) are pooled per
      group.  Deterministic for a given seed.

    Exactly one of ``dev`` and ``k_folds`` must be given.
    """
    check_choice("group", group, ("item", "none", "system"))
    check_choice("average", average, ("items", "pairs"))
    if (dev is None) == (k_folds is None):
        raise ValueError("give exactly one of dev=(human_dev, metric_dev) and k_folds")
    h, m = as_matrices(human, metric)
    insample = tie_calibrated_accuracy(h, m, group=group, average=average)
    if dev is not None:
        hd, md = as_matrices(*dev)
        fit = tie_calibrated_accuracy(hd, md, group=group, average=average)
        ev = acc_eq(h, m, epsilon=float(fit.epsilon), group=group, average=average)
        return CrossFittedTieResult(
            statistic=ev.statistic,
            epsilon=float(fit.epsilon),
            fold_statistics=np.array([ev.statistic]),
            in_sample_statistic=insample.statistic,
            all_ties_baseline=insample.all_ties_baseline,
            n_folds=1,
            n_pairs=ev.n_pairs,
            n_groups=ev.n_groups,
            n_dropped=ev.n_dropped,
        )
    assert k_folds is not None  # (exactly one of dev and k_folds)
    k = int(k_folds)
    n_items = h.shape[0]
    if not 2 <= k <= n_items:
        raise ValueError("k_folds must be between 2 and the number of items")
    perm = np.random.default_rng(seed).permutation(n_items)
    folds = np.array_split(perm, k)
    eps_f = np.zeros(k)
    fold_stats = np.full(k, np.nan)
    num_tot: Any = None
    den_tot: Any = None
    item_num = np.zeros(n_items)
    item_den = np.zeros(n_items)
    for f, test in enumerate(folds):
        train = np.setdiff1d(perm, test)
        fit = tie_calibrated_accuracy(h[train], m[train], group=group, average=average)
        eps_f[f] = fit.epsilon
        fold_stats[f] = acc_eq(
            h[test], m[test], epsilon=float(fit.epsilon), group=group, average=average
        ).statistic
        num, den = _counts_at(h[test], m[test], fit.epsilon, group)
        if group == "item":
            item_num[test] = num[0]
            item_den[test] = den[0]
        else:
            num_tot = num if num_tot is None else num_tot + num
            den_tot = den if den_tot is None else den_tot + den
    if group == "item":
        num, den = item_num, item_den
    else:
        num, den = num_tot.reshape(-1), den_tot.reshape(-1)
    ok = den > 0
    if average == "items":
        stat = float(np.mean(num[ok] / den[ok])) if ok.any() else float("nan")
    else:
        stat = float(num[ok].sum() / den[ok].sum()) if ok.any() else float("nan")
    n_groups = int(ok.sum())
    return CrossFittedTieResult(
        statistic=stat,
        epsilon=eps_f,
        fold_statistics=fold_stats,
        in_sample_statistic=insample.statistic,
        all_ties_baseline=insample.all_ties_baseline,
        n_folds=k,
        n_pairs=int(den.sum()),
        n_groups=n_groups,
        n_dropped=int(ok.size - n_groups),
    )
