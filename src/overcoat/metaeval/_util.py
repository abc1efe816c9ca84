"""Shared helpers for the pair-based statistics (validation, weights, pair counting).

Private module: nothing here is public API.  See docs/metaeval-conventions.md for the array
conventions (matrix form ``(n_items, n_responses)``, NaN = missing, item weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

EPS64 = np.finfo(np.float64).eps

GROUPS = ("item", "none", "system")
AVERAGES = ("items", "pairs")

# Target number of elements of one pooled pair block (rows x columns of the upper triangle).
POOL_BLOCK = 1 << 21

#: Relative tolerance within which tie calibration treats two metric gaps |d_m| as equal (one threshold
#: candidate). A gap computed from rescaled scores (``a * m + b``, z-scores) carries a rounding error of a
#: few ulps of the scores, i.e. a relative error of about ``machine eps * (score magnitude / gap)``:
#: 1e-10 covers scores whose magnitude is up to ~1e5 times their smallest gap, while distinct gaps of
#: real data are almost never this close.
GAP_RTOL = 1e-10


def snap_sorted(keys):
    """Sorted non-negative gaps with every run of near-equal values replaced by the run's largest value.

    A run continues while the next value is within a relative ``GAP_RTOL`` of the previous one, so
    values that differ only by rounding become one value (the largest: a threshold at that value makes
    every member a tie under an exact ``|d| <= eps``). 0 stays 0. Returns ``keys`` itself when no two
    distinct values are near-equal (the common case for exact data).
    """
    n = keys.shape[0]
    if n < 2:
        return keys
    near = keys[1:] <= keys[:-1] * (1.0 + GAP_RTOL)
    if not np.any(near & (keys[1:] != keys[:-1])):
        return keys
    ends = np.flatnonzero(np.append(~near, True))  # last position of each run
    run = np.concatenate(([0], np.cumsum(~near)))
    return keys[ends][run]


def snap_union(*sorted_arrays):
    """:func:`snap_sorted` applied to the union of several sorted gap arrays (near-equal values in
    different arrays become one value); returns the arrays in the same order."""
    arrays = [np.asarray(a) for a in sorted_arrays]
    if len(arrays) == 1:
        return (snap_sorted(arrays[0]),)
    cat = np.concatenate(arrays)
    order = np.argsort(cat, kind="stable")  # merges the sorted runs
    u = cat[order]
    s = snap_sorted(u)
    if s is u:
        return tuple(arrays)
    cat[order] = s
    return tuple(np.split(cat, np.cumsum([a.shape[0] for a in arrays[:-1]])))


def as_matrices(human, metric):
    """Validate and return ``(human, metric)`` as float64 2-D arrays of equal shape.

    A 1-D input is read as one item (a single row).  ``NaN`` marks a missing value; infinite
    values are rejected (their differences would be undefined).
    """
    h = np.asarray(human, dtype=np.float64)
    m = np.asarray(metric, dtype=np.float64)
    if h.ndim == 1:
        h = h[None, :]
    if m.ndim == 1:
        m = m[None, :]
    if h.ndim != 2 or m.ndim != 2:
        raise ValueError("human and metric must be 1-D or 2-D arrays (n_items, n_responses)")
    if h.shape != m.shape:
        raise ValueError(f"human and metric shapes differ: {h.shape} vs {m.shape}")
    if np.isinf(h).any() or np.isinf(m).any():
        raise ValueError("scores must be finite or NaN (missing); got an infinite value")
    return h, m


def as_matrix(x):
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError("expected a 1-D or 2-D array (n_items, n_responses)")
    if np.isinf(a).any():
        raise ValueError("scores must be finite or NaN (missing); got an infinite value")
    return a


def as_weights(weights, n_items):
    """Return ``(W, is_2d)`` with ``W`` of shape (B, n_items) (B = 1 for None / 1-D weights)."""
    if weights is None:
        return np.ones((1, n_items)), False
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        is_2d = False
        w = w[None, :]
    elif w.ndim == 2:
        is_2d = True
    else:
        raise ValueError("weights must be None, (n_items,) or (B, n_items)")
    if w.shape[1] != n_items:
        raise ValueError(f"weights have {w.shape[1]} items, data has {n_items}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return w, is_2d


def wdot(W, x):
    """``W @ x`` for a (B, n) matrix and an (n,) vector.  A single row is a plain elementwise sum:
    a BLAS matrix-vector product starts OpenBLAS's threads, which on a busy machine costs
    milliseconds per call (measured 24 ms for n = 20,000 at load 4 on 2 cores, vs 0.03 ms)."""
    if W.shape[0] == 1:
        return np.array([(W[0] * x).sum()])
    return W @ x


def percentile_interval(dist: np.ndarray, level: float) -> tuple[float, float] | None:
    """Percentile interval of the finite values of a bootstrap distribution (None if there are none)."""
    dist = dist[np.isfinite(dist)]
    if dist.size == 0:
        return None
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(dist, [a, 1.0 - a])
    return float(lo), float(hi)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def finish(values, is_2d):
    """Return a (B,) array as-is for 2-D weights, else its single element as a float."""
    values = np.asarray(values)
    if is_2d:
        return values
    v = values.reshape(-1)[0]
    return v.item() if hasattr(v, "item") else v


def first_argmax_tol(values, tol):
    """Index of the first entry within ``tol`` of the maximum, along the last axis.

    ``values`` is (R,) or (B, R); ``tol`` a scalar or (B,).  Used to break ties toward the
    smallest threshold while absorbing floating-point rounding in cumulative sums.
    """
    best = values.max(axis=-1, keepdims=True)
    tol = np.asarray(tol, dtype=np.float64)
    if tol.ndim:
        tol = tol[:, None]
    return np.argmax(values >= best - tol, axis=-1)


# --------------------------------------------------------------------------------------------
# Pair classification
# --------------------------------------------------------------------------------------------


def classify(dh, dm, epsilon):
    """Boolean masks (con, dis, t_h, t_m, t_hm) for human/metric differences of pairs.

    Gold tie: ``dh == 0``.  Metric tie: ``|dm| <= epsilon``.  Concordant: neither tied and the
    signs agree; discordant: neither tied and the signs differ.  ``t_h`` = tied in human only,
    ``t_m`` = tied in metric only, ``t_hm`` = tied in both.
    """
    gold = dh == 0
    mtie = np.abs(dm) <= epsilon
    untied = ~gold & ~mtie
    same = (dh > 0) == (dm > 0)
    con = untied & same
    dis = untied & ~same
    return con, dis, gold & ~mtie, ~gold & mtie, gold & mtie


@dataclass(frozen=True)
class Counts:
    """Weighted pair counts per group (arrays of shape (n_groups,) or (B, n_groups))."""

    con: np.ndarray
    dis: np.ndarray
    t_h: np.ndarray
    t_m: np.ndarray
    t_hm: np.ndarray

    @property
    def total(self):
        return self.con + self.dis + self.t_h + self.t_m + self.t_hm


def item_pair_counts(h, m, epsilon):
    """Per-item unweighted pair counts over within-item pairs (both cells present)."""
    n_resp = h.shape[1]
    j, k = np.triu_indices(n_resp, 1)
    dh = h[:, j] - h[:, k]
    dm = m[:, j] - m[:, k]
    valid = ~(np.isnan(dh) | np.isnan(dm))
    masks = classify(dh, dm, epsilon)
    sums = [np.count_nonzero(mk & valid, axis=1).astype(np.float64) for mk in masks]
    return Counts(*sums)


def _run_pair_weight(ws, new):
    """Weight of the pairs of distinct cells inside each run of a sorted sequence: per run
    ``((sum w)^2 - sum w^2) / 2``.  ``new`` marks the first cell of each run; ``ws`` is the
    weights in the same order, (n,) or (B, n).  Returns a float or (B,)."""
    starts = np.flatnonzero(new)
    sw = np.add.reduceat(ws, starts, axis=-1)
    sw2 = np.add.reduceat(ws * ws, starts, axis=-1)
    return ((sw * sw - sw2) / 2).sum(axis=-1)


def _run_pairs(new):
    """Number of pairs inside each run (exact integer), ``new`` marking the run starts."""
    if 2 * np.count_nonzero(new) > new.size:
        # mostly runs of one (continuous scores): from the few cells that continue a run; c
        # consecutive such cells make a run of c + 1 cells
        q = np.flatnonzero(~new)
        if q.size == 0:
            return 0
        brk = np.flatnonzero(q[1:] != q[:-1] + 1) + 1
        c = np.diff(np.concatenate(([0], brk, [q.size]))).astype(np.int64)
        return int((c * (c + 1) // 2).sum())
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, new.size)).astype(np.int64)
    return int((lengths * (lengths - 1) // 2).sum())


# Bits of an int64 sort key available for (pair id, rank) plus the position tag.
_KEY_BITS = 63


def _inversions(r, w=None):
    """Inversions ``#{a < b: r[a] > r[b]}`` of integer ranks ``r`` (weighted:
    ``sum w[a] w[b]``), by a vectorised natural merge sort (Knight 1966's counting step).

    The sequence is cut into its maximal non-decreasing runs (no inversions inside a run);
    each level merges adjacent pairs of runs with one stable sort of the keys
    ``pair_id * K + rank`` (tagged with the position in their low bits when they fit in 63
    bits, else an ``argsort``; numpy's stable sort merges sorted runs), so there are
    ``ceil(log2(#runs))`` levels: few when the data have many ties (a run per human score
    value at most), about ``log2 n`` for continuous data.  Unweighted, a cell of the right run
    moves left by exactly the number of left-run cells above it, so a level's inversions are
    half the total displacement ``sum |order - arange|``.  Weighted, a right-run cell b at
    merged position k adds ``w[b]`` times the weight of the left-run cells after k in its pair.
    ``w`` is (n,) or (B, n); returns an exact int (unweighted) or a float / (B,) array.
    """
    n = r.shape[0]
    weighted = w is not None
    total = np.zeros(np.shape(w)[:-1]) if weighted else 0
    if n < 2:
        return total
    r = r.astype(np.int64)
    K = int(r.max()) + 1
    run = np.zeros(n, dtype=np.int64)
    np.cumsum(r[1:] < r[:-1], out=run[1:])
    n_runs = int(run[-1]) + 1
    idx = np.arange(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.int64)  # work buffers, reused across levels
    buf = np.empty(n, dtype=np.int64)
    if weighted:
        w = np.asarray(w, dtype=np.float64)
    bits = max(1, (n - 1).bit_length())
    while n_runs > 1:
        pair = run >> 1
        np.multiply(pair, K, out=keys)
        keys += r
        if ((int(pair[-1]) + 1) * K) << bits < 1 << _KEY_BITS:
            # sort the keys with the position in the low bits (unique keys, direct sort: faster
            # than an indirect argsort), then read the order back from the low bits
            keys <<= bits
            keys |= idx
            keys.sort(kind="stable")
            order = keys & ((1 << bits) - 1)
        else:
            order = np.argsort(keys, kind="stable")
        if weighted:
            ws = w[..., order]
            left = (run[order] & 1) == 0
            lw = np.where(left, ws, 0.0)
            E = np.concatenate((np.zeros(lw.shape[:-1] + (1,)), np.cumsum(lw, axis=-1)), axis=-1)
            pend = np.cumsum(np.bincount(pair))[pair]  # end of each position's pair
            # E[k + 1] = left weight up to k (lw[k] = 0 for a right cell)
            total = total + np.where(left, 0.0, ws * (E[..., pend] - E[..., 1:])).sum(axis=-1)
            w = ws
        else:
            np.subtract(order, idx, out=buf)
            np.abs(buf, out=buf)
            total += int(buf.sum()) // 2
        np.take(r, order, out=buf)
        r, buf = buf, r
        run = pair
        n_runs = (n_runs + 1) // 2
    return total


def _compiled_discordant():
    """scipy's compiled discordant-pair count (``scipy.stats._stats._kendall_dis``: a merge sort
    over dense ranks, the routine behind ``scipy.stats.kendalltau``), or None where a scipy
    version lacks it.  It is private to scipy, so every use is checked against ``_inversions`` in
    the tests and falls back to it when missing."""
    try:
        from scipy.stats._stats import _kendall_dis
    except ImportError:  # pragma: no cover - depends on the scipy version
        return None
    return _kendall_dis


_KENDALL_DIS = _compiled_discordant()


def _discordant(x_codes, y_codes):
    """Exact number of discordant pairs of cells sorted by (x, y): the inversions of the integer
    codes ``y_codes`` (>= 1, at most about n: the size of the Fenwick tree) among cells of
    different ``x_codes`` (non-decreasing; only their equality is used).  Cells with equal x are
    sorted by y, so they add no inversion."""
    if _KENDALL_DIS is not None and y_codes.size > 1:
        return int(
            _KENDALL_DIS(
                np.ascontiguousarray(x_codes, dtype=np.intp),
                np.ascontiguousarray(y_codes, dtype=np.intp),
            )
        )
    return _inversions(y_codes)


def _small_codes(x):
    """Dense ranks of ``x`` as uint16 when it has at most 1,024 distinct values, else None.

    A stable argsort of uint16 codes is numpy's O(n) radix sort; a stable argsort of float64 is
    a merge sort.  Human scores (MQM, Likert, preferences) usually qualify; the codes come from
    a binary search in the (cache-resident) distinct values.  Costs one value sort (vectorised)
    to count the distinct values, after a check on the first 4,096 values (more than 1,024
    distinct values there: None at once, without sorting everything)."""
    if x.size > 4096 and np.unique(x[:4096]).size > 1024:
        return None
    s = np.sort(x)
    new = np.empty(s.size, dtype=bool)
    new[:1] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    distinct = s[new]
    if distinct.size > 1024:
        return None
    return np.searchsorted(distinct, x).astype(np.uint16)


_INT64_LOW63 = np.int64(0x7FFF_FFFF_FFFF_FFFF)

# Grid scales tried by _grid_codes: integers, then up to six decimals.
_GRID_SCALES = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)


def _float_keys(x):
    """int64 keys of float64 values (no NaN) with the same order: ``keys[a] < keys[b]`` iff
    ``x[a] < x[b]``, equal iff equal (-0.0 is first made +0.0).  The IEEE bits of a non-negative
    float read as an int64 already sort like the float; a negative float's low 63 bits are
    flipped so that a larger magnitude gives a smaller key (the sign bit keeps it below every
    non-negative key)."""
    u = np.add(x, 0.0).view(np.int64)
    k = u >> 63
    k &= _INT64_LOW63
    k ^= u
    return k


def _stable_order(k):
    """``(order, new)`` with ``order`` equal to ``np.argsort(k, kind="stable")`` for int64 keys
    ``k`` and ``new`` marking the first cell of each run of equal keys in that order, by one
    plain (non-indirect) sort: numpy sorts int64 values with a vectorised quicksort several times
    faster than it argsorts them, and a stable argsort (a merge sort) is slower still.

    The position of each key goes into its low ``b`` bits (``2**b >= n``), replacing the key's
    own low bits; after the sort those bits give the order.  Neighbours whose high bits differ
    are in key order; only neighbours with equal high bits need their full keys compared (read
    back for those neighbours alone when they are few, e.g. continuous scores: a full gather of
    the keys costs as much as the sort).  Keys that differ only in their low ``b`` bits (floats
    within about 1e-10 relative of each other, for n = 10^6) may come out in position order
    instead of key order: those runs of equal high bits are re-sorted by (low bits, position),
    alone when few neighbours share their high bits, else all cells in one more sort (with the
    dense rank of the high bits in place of the bits themselves, so that everything fits)."""
    n = k.shape[0]
    if n < 2:
        return np.arange(n, dtype=np.intp), np.ones(n, dtype=bool)
    b = (n - 1).bit_length()
    low = (1 << b) - 1
    packed = k & np.int64(~low)
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    order = packed & low
    packed >>= b  # the high bits, in sorted order
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(packed[1:], packed[:-1], out=new[1:])
    same = np.flatnonzero(~new[1:])  # neighbours (same, same + 1) with equal high bits
    if same.size > n // 4:
        # many of them (ties, clustered values): read all keys back in the new order
        ks = k[order]
        if (ks[1:] < ks[:-1]).any():
            if 3 * b > 63:  # pragma: no cover - more than 2 million cells
                order = np.argsort(k, kind="stable")
                ks = k[order]
            else:
                # sort again by (rank of the high bits, low bits, position): exact, and the
                # three parts of b bits each fit in one int64
                key = np.cumsum(new, dtype=np.int64)
                key <<= 2 * b
                key |= (ks & low) << b
                key |= order
                key.sort()
                order = key & low
                key >>= b
                np.not_equal(key[1:], key[:-1], out=new[1:])
                return order, new
        np.not_equal(ks[1:], ks[:-1], out=new[1:])
        return order, new
    # few of them (continuous scores): compare their full keys alone
    ka, kb = k[order[same]], k[order[same + 1]]
    new[same + 1] = kb != ka
    bad = kb < ka
    if bad.any():
        # re-sort each run of equal high bits that is out of key order by (run, low bits of
        # the key, place in the run): in a run the high bits are equal and the places follow
        # the positions
        cut = np.flatnonzero(packed[1:] != packed[:-1]) + 1
        starts = np.concatenate(([0], cut))
        ends = np.concatenate((cut, [n]))
        runs = np.unique(np.searchsorted(starts, same[bad] + 1, side="right") - 1)
        s, lengths = starts[runs], ends[runs] - starts[runs]
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        pos = np.repeat(s - offsets, lengths) + np.arange(int(lengths.sum()))
        sub = order[pos]
        S = pos.size  # at most n / 2: fits with the run index and the low bits for n <= 2**21
        bj = max(1, (S - 1).bit_length())
        rid = np.repeat(np.arange(runs.size, dtype=np.int64), lengths)
        if runs.size.bit_length() + b + bj > 63:  # pragma: no cover - > 2 million cells
            sub = sub[np.lexsort((sub, k[sub], rid))]
        else:
            rid <<= b + bj
            rid |= (k[sub] & low) << bj
            rid |= np.arange(S, dtype=np.int64)
            rid.sort()
            sub = sub[rid & ((1 << bj) - 1)]
        order[pos] = sub
        inner = pos[pos > 0]
        new[inner] = k[order[inner]] != k[order[inner - 1]]
    return order, new


def _grid_codes(x, limit):
    """Integer codes ``c - min(c) + 1`` with ``x == c / s`` exactly for every cell, for the
    first scale ``s`` of :data:`_GRID_SCALES` that fits (integers, halves, MQM's 0.1 weights,
    scores stored with a few decimals), as int32, their largest value R (at most ``limit``)
    and None (the tie count is left to the caller); else None.

    ``c = rint(x * s)`` is non-decreasing in x (both steps are monotone), and ``x == c / s``
    makes x a function of c, so the codes are strictly increasing in x: an exact order-preserving
    code, found with a few vectorised passes and no sort.  The scales are tried on the first
    4,096 cells, then the chosen one is checked on all of them."""
    head = x[:4096]
    for s in _GRID_SCALES:
        c = np.rint(head * s)
        if (c / s == head).all():
            break
    else:
        return None
    c = np.rint(x) if s == 1.0 else np.rint(np.multiply(x, s, out=np.empty_like(x)))
    lo, hi = c.min(), c.max()
    if hi - lo >= limit or max(-lo, hi) >= 2.0**52:
        return None
    if not ((c == x) if s == 1.0 else (np.divide(c, s) == x)).all():
        return None
    c -= lo - 1.0
    return c.astype(np.int32), int(hi - lo) + 1, None


def _dense_codes(x):
    """``(codes, R, tie_pairs)``: integer codes in ``[1, R]`` with the order and the ties of
    ``x``, where R <= max(n, 2**16), and the number of tied pairs when it comes for free (else
    None): grid codes when ``x`` lies on a decimal grid of moderate range (no sort), else the
    dense ranks of ``x`` from a binary search in its distinct values (at most
    1,024 of them) or from one packed sort (:func:`_stable_order`)."""
    n = x.shape[0]
    grid = _grid_codes(x, min(max(n, 1 << 16), 1 << 30))
    if grid is not None:
        return grid
    small = _small_codes(x)
    if small is not None:
        codes = small.astype(np.int32)
        codes += 1
        return codes, int(codes.max()), None
    order, new = _stable_order(_float_keys(x))
    ranks = np.cumsum(new, dtype=np.intp)
    codes = np.empty(n, dtype=np.intp)
    codes[order] = ranks
    return codes, int(ranks[-1]), _run_pairs(new)


def _code_tie_pairs(codes, R, known=None):
    """Pairs of cells with equal codes (codes in [1, R]): ``sum_v c_v (c_v - 1) / 2``, exact
    (``known`` when the caller has it already)."""
    if known is not None:
        return known
    cnt = np.bincount(codes, minlength=R + 1)
    return int((cnt * (cnt - 1) // 2).sum())


def _exact_tie_counts_unweighted(h, m):
    """Unweighted counts with epsilon = 0 (exact integers, as float64), n >= 2.

    Each vector is replaced by order-preserving integer codes (:func:`_dense_codes`), which
    also give the tie counts T_h + T_hm and T_m + T_hm.  One sort of the packed pair codes
    ``x << bits | y`` orders the cells by (x, y) (x, y = h, m or m, h: y is the vector with fewer
    codes, so the Fenwick tree of the discordant count is small); its runs give T_hm and the
    inversions of y in that order are the discordant pairs (Knight 1966, as scipy's
    ``kendalltau``, which argsorts the float values instead: two indirect sorts, one of them a
    stable merge sort)."""
    n = h.shape[0]
    ch, Rh, th = _dense_codes(h)
    cm, Rm, tm = _dense_codes(m)
    t_h_all, t_m_all = _code_tie_pairs(ch, Rh, th), _code_tie_pairs(cm, Rm, tm)
    (x, Rx), (y, Ry) = ((cm, Rm), (ch, Rh)) if Rh <= Rm else ((ch, Rh), (cm, Rm))
    by = Ry.bit_length()
    dt = np.int32 if Rx.bit_length() + by <= 31 else np.int64
    key = np.left_shift(x, by, dtype=dt)
    np.bitwise_or(key, y, out=key)
    key.sort()
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    t_hm = _run_pairs(new)
    dis = _discordant(
        np.right_shift(key, by, dtype=np.intp), np.bitwise_and(key, (1 << by) - 1, dtype=np.intp)
    )
    N = n * (n - 1) // 2
    con = N - dis - t_h_all - t_m_all + t_hm
    return Counts(*(np.float64(v) for v in (con, dis, t_h_all - t_hm, t_m_all - t_hm, t_hm)))


def _pooled_counts_exact_ties(h, m, w=None):
    """Counts with epsilon = 0 in O(n log n): sorts, run lengths and one inversion count.

    Unweighted (``w is None``): exact integer counts from :func:`_exact_tie_counts_unweighted`.
    With ``w`` (n,) or (B, n), product-weighted counts: cells are sorted by (h, m) (a sort by
    m, then a stable sort by h, as Knight 1966 and scipy's ``kendalltau``); the discordant
    pairs are the weighted inversions of the metric ranks in that order, and the tie counts
    come from run lengths.
    """
    n = h.shape[0]
    if w is None:
        if n < 2:
            return Counts(*(np.float64(0.0),) * 5)
        return _exact_tie_counts_unweighted(h, m)
    if n == 0:
        zero = np.zeros(np.shape(w)[:-1])
        return Counts(zero, zero, zero, zero, zero)
    pm = np.argsort(m)
    ms = m[pm]
    new_m = np.empty(n, dtype=bool)
    new_m[0] = True
    np.not_equal(ms[1:], ms[:-1], out=new_m[1:])
    hp = h[pm]
    h_codes = _small_codes(hp)
    po = np.argsort(hp if h_codes is None else h_codes, kind="stable")
    hs = hp[po]
    rs = np.cumsum(new_m)[po]  # dense metric ranks (from 1) in (h, m) order
    new_h = np.empty(n, dtype=bool)
    new_h[0] = True
    np.not_equal(hs[1:], hs[:-1], out=new_h[1:])
    new_hm = new_h.copy()
    new_hm[1:] |= rs[1:] != rs[:-1]
    sw = w.sum(axis=-1)
    N = (sw * sw - (w * w).sum(axis=-1)) / 2
    wo = w[..., pm[po]]  # weights in (h, m) order
    t_h_all = _run_pair_weight(wo, new_h)
    t_m_all = _run_pair_weight(w[..., pm], new_m)
    t_hm = _run_pair_weight(wo, new_hm)
    dis = _inversions(rs, wo)
    con = N - dis - t_h_all - t_m_all + t_hm
    # the subtraction may leave rounding residue with real-valued weights: snap it to 0
    tol = 1e-12 * N
    con = np.where(np.abs(con) <= tol, 0.0, con)
    t_h = np.where(np.abs(t_h_all - t_hm) <= tol, 0.0, t_h_all - t_hm)
    t_m = np.where(np.abs(t_m_all - t_hm) <= tol, 0.0, t_m_all - t_hm)
    return Counts(con, dis, t_h, t_m, t_hm)


def pooled_pair_counts(h, m, epsilon, w=None):
    """Counts over all pairs of a pooled vector of cells ``(h, m)`` (1-D, no NaN).

    Returns ``(weighted, unweighted)`` Counts.  With cell weights ``w`` a pair of distinct cells
    a, b counts ``w[a] * w[b]`` (product weights); ``w`` may be 2-D (B, n) for a batch of weight
    vectors, giving (B,) fields.  Without weights both results are the same plain counts.
    With ``epsilon == 0`` the counts come from sorting (O(n log n)); otherwise all pairs are
    enumerated in blocks (O(n^2) time, bounded memory).
    """
    n = h.shape[0]
    if epsilon == 0:
        c0 = _pooled_counts_exact_ties(h, m)
        if w is None:
            return c0, c0
        return _pooled_counts_exact_ties(h, m, w), c0
    batched = w is not None and w.ndim == 2
    shape = (w.shape[0],) if batched else ()
    acc = [np.zeros(shape) for _ in range(5)]
    acc0 = [0] * 5
    if n >= 2:
        rows = max(1, POOL_BLOCK // n)
        for r0 in range(0, n - 1, rows):
            r1 = min(n - 1, r0 + rows)
            dh = h[r0:r1, None] - h[None, r0:]
            dm = m[r0:r1, None] - m[None, r0:]
            upper = np.arange(r0, r1)[:, None] < np.arange(r0, n)[None, :]
            for t, mk in enumerate(classify(dh, dm, epsilon)):
                mk &= upper
                acc0[t] += int(np.count_nonzero(mk))
                if w is None:
                    continue
                if not batched:
                    acc[t] = acc[t] + w[r0:r1] @ (mk @ w[r0:])
                else:
                    # sum_{a,b} W[:,a] M[a,b] W[:,b]
                    acc[t] = acc[t] + np.einsum(
                        "ba,ba->b", w[:, r0:r1], w[:, r0:] @ mk.T.astype(np.float64)
                    )
    unweighted = Counts(*(np.float64(x) for x in acc0))
    if w is None:
        return unweighted, unweighted
    return Counts(*acc), unweighted


def n_distinct(values):
    """Number of distinct values of a 1-D array."""
    if values.size == 0:
        return 0
    s = np.sort(values)
    return int(1 + np.count_nonzero(s[1:] != s[:-1]))


def row_distinct(x, valid):
    """Number of distinct valid values per row of a 2-D array."""
    s = np.sort(np.where(valid, x, np.inf), axis=1)
    nv = valid.sum(axis=1)
    newval = np.ones_like(s, dtype=bool)
    newval[:, 1:] = s[:, 1:] != s[:, :-1]
    cols = np.arange(s.shape[1])[None, :]
    return np.count_nonzero(newval & (cols < nv[:, None]), axis=1)


# --------------------------------------------------------------------------------------------
# Grouped, weighted pair counts (C, D, T_h, T_m, T_hm)
# --------------------------------------------------------------------------------------------
#
#
# Private module shared by accuracy.py and correlation.py.
#
# Pair weights under the item-weights protocol
# -------------------------------------------
# * ``group="item"``: pairs never cross items; item ``i``'s weight multiplies its statistic in the
#   macro average (or its pairs, for ``average="pairs"``).  Integer weights are exactly the same as
#   physically repeating the items.
# * ``group="none"`` / ``"system"``: a pair of two distinct cells (of items ``a`` and ``b``,
#   possibly ``a == b``) counts ``w_a * w_b``.  With 0/1 weights (jackknife, the paired permutation
#   test's item selection) this is exactly sub-setting the items.  With integer weights it equals
#   physically repeating the items except that repetition would also create pairs between the
#   copies of the *same* cell (tied in both human and metric); those duplication artefacts are not
#   counted.  Statistics that ignore doubly-tied pairs (tau-b, tau-c, pairwise accuracy) therefore
#   equal their repeated-data values exactly.


def group_cells(h, m, group):
    """Yield ``(h_cells, m_cells, item_index)`` for each pooled group ("none" or "system").
    The cell arrays may be views of ``h`` and ``m``: read them, never write to them."""
    # without NaN every cell is used: no masks, and "none" pools views of the inputs
    complete = not (np.isnan(h).any() or np.isnan(m).any())
    if group == "none":
        if complete:
            yield (h.reshape(-1), m.reshape(-1), np.repeat(np.arange(h.shape[0]), h.shape[1]))
            return
        valid = ~(np.isnan(h) | np.isnan(m))
        items = np.nonzero(valid)[0]
        yield h[valid], m[valid], items
    elif complete:
        items = np.arange(h.shape[0])
        for c in range(h.shape[1]):
            yield np.ascontiguousarray(h[:, c]), np.ascontiguousarray(m[:, c]), items
    else:  # system: one group per column
        for c in range(h.shape[1]):
            valid = ~(np.isnan(h[:, c]) | np.isnan(m[:, c]))
            items = np.nonzero(valid)[0]
            yield h[items, c], m[items, c], items


def _grouped_counts(h, m, epsilon, group, W, weighted, need_distinct):
    """Weighted and unweighted per-group inputs of the statistic functions.

    Returns two dicts with keys counts (Counts of (B, G) or (1, G)), n (cells), dh, dm
    (distinct human / metric values among positively weighted cells), plus the (B, G) group
    weights used in the final average.
    """
    B = W.shape[0]
    if group == "item":
        c = item_pair_counts(h, m, epsilon)
        valid = ~(np.isnan(h) | np.isnan(m))
        n = valid.sum(axis=1).astype(np.float64)[None, :]
        dh = dm = None
        if need_distinct:
            dh = row_distinct(h, valid).astype(np.float64)[None, :]
            dm = row_distinct(m, valid).astype(np.float64)[None, :]
        counts = Counts(*(x[None, :] for x in (c.con, c.dis, c.t_h, c.t_m, c.t_hm)))
        data = {"counts": counts, "n": n, "dh": dh, "dm": dm}
        return data, data, W
    groups = list(group_cells(h, m, group))
    G = len(groups)
    fw = [np.zeros((B, G)) for _ in range(5)]
    f0 = [np.zeros((1, G)) for _ in range(5)]
    n_w, n_0 = np.zeros((B, G)), np.zeros((1, G))
    dh_w: Any = np.zeros((B, G)) if need_distinct else None
    dm_w: Any = np.zeros((B, G)) if need_distinct else None
    dh_0: Any = np.zeros((1, G)) if need_distinct else None
    dm_0: Any = np.zeros((1, G)) if need_distinct else None
    for g, (hc, mc, items) in enumerate(groups):
        wc: Any = W[:, items] if weighted else None
        cw, c0 = pooled_pair_counts(hc, mc, epsilon, w=wc)
        n_0[0, g] = hc.shape[0]
        n_w[:, g] = wc.sum(axis=1) if weighted else hc.shape[0]
        if need_distinct:
            dh_0[0, g], dm_0[0, g] = n_distinct(hc), n_distinct(mc)
            if weighted:
                for b in range(B):
                    pos = wc[b] > 0
                    dh_w[b, g], dm_w[b, g] = n_distinct(hc[pos]), n_distinct(mc[pos])
            else:
                dh_w[:, g], dm_w[:, g] = dh_0[0, g], dm_0[0, g]
        for t, (vw, v0) in enumerate(
            zip(
                (cw.con, cw.dis, cw.t_h, cw.t_m, cw.t_hm), (c0.con, c0.dis, c0.t_h, c0.t_m, c0.t_hm)
            )
        ):
            fw[t][:, g] = vw
            f0[t][0, g] = v0
    wdata = {"counts": Counts(*fw), "n": n_w, "dh": dh_w, "dm": dm_w}
    udata = {"counts": Counts(*f0), "n": n_0, "dh": dh_0, "dm": dm_0}
    return wdata, udata, np.ones((B, G))


def _average(stat, defined, size, group_weight, average):
    """``sum_g v_g a_g s_g / sum_g v_g a_g`` over defined groups -> (B,).

    ``v_g`` is the group weight (item weights for group="item", 1 otherwise) and ``a_g`` is 1
    (``average="items"``) or the group's (weighted) number of pairs (``average="pairs"``).
    """
    stat, defined, size = np.broadcast_arrays(stat, defined, size)
    a = np.where(defined, 1.0 if average == "items" else size, 0.0)
    s = np.where(defined, stat, 0.0)
    if stat.shape[0] == 1:
        num = wdot(group_weight, a[0] * s[0])
        den = wdot(group_weight, a[0])
    else:
        num = (group_weight * a * s).sum(axis=1)
        den = (group_weight * a).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def pair_statistic(
    human, metric, *, epsilon, group, average, weights, stat_fn, need_distinct=False
):
    """Evaluate a pair-count statistic with grouping, macro averaging and item weights.

    ``stat_fn(counts, n, dh, dm) -> (stat, defined, size)`` maps per-group counts to the
    per-group statistic, whether it is defined, and its size for ``average="pairs"``.
    Returns ``(values (B,), is_2d, n_pairs, n_groups, n_dropped)``; the last three describe the
    unweighted data.
    """
    check_choice("group", group, ("item", "none", "system"))
    check_choice("average", average, ("items", "pairs"))
    if epsilon < 0:
        raise ValueError("epsilon must be non-negative")
    h, m = as_matrices(human, metric)
    W, is_2d = as_weights(weights, h.shape[0])
    wdata, udata, gw = _grouped_counts(h, m, epsilon, group, W, weights is not None, need_distinct)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat, defined, size = stat_fn(**wdata)
        _, defined0, _ = stat_fn(**udata)
    values = _average(stat, defined, size, gw, average)
    d0 = np.asarray(defined0).reshape(-1)
    n_groups = int(np.count_nonzero(d0))
    n_pairs = round(float(np.sum(udata["counts"].total)))
    return values, is_2d, n_pairs, n_groups, int(d0.shape[0] - n_groups)


def item_ratio_terms(human, metric, *, epsilon, average, stat_fn, need_distinct=False):
    """Per-item terms ``(u, v)`` of an item-grouped pair statistic: for every weight matrix W,
    :func:`pair_statistic` with ``group="item"`` equals ``(W @ u) / (W @ v)`` (NaN where
    ``W @ v == 0``), since the final macro average is linear in the item weights.  Used to
    bootstrap such statistics from the per-item sums alone."""
    check_choice("average", average, ("items", "pairs"))
    if epsilon < 0:
        raise ValueError("epsilon must be non-negative")
    h, m = as_matrices(human, metric)
    data, _, _ = _grouped_counts(
        h, m, epsilon, "item", np.ones((1, h.shape[0])), False, need_distinct
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        stat, defined, size = stat_fn(**data)
    stat, defined, size = np.broadcast_arrays(stat, defined, size)
    a = np.where(defined, 1.0 if average == "items" else size, 0.0)[0]
    return a * np.where(defined, stat, 0.0)[0], a
