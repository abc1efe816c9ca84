"""Cell-level paired permutation null (PERM-BOTH; mt-metrics-eval's ``PermutationSigDiff``).

One fair coin per *score cell* (item x response) decides whether scorer A's and scorer B's scores of that
cell are exchanged. Permuted A takes B's score where the coin is 1, permuted B takes A's.

For item-grouped acc_eq with tie calibration (epsilon re-fitted on every permuted scorer) the null is
computed exactly and batched over resamples: every within-item pair (j, k) of a permuted scorer compares
one of four score differences, ``X_j - Y_k`` with X, Y in {A, B}, chosen by the two coins of its cells
(code ``2 * s_j + s_k``; permuted B uses the complementary code ``3 - code``). The four variants of every
pair are the "copies" of the tie-calibration engine of :mod:`.resampling` (sorted once); a resample
selects one variant per pair. The engine's stage-1 products (agreement at epsilon = 0 and the summed
gains in each cell of sorted thresholds) are polynomials of degree two in the coins (``[s_j = a][s_k = b]``
expands to ``1, s_j, s_k, s_j s_k``), so for a block of resamples they are two matrix products, with the
coin matrix and with the pair products ``s_j s_k`` (with up to 14 responses per item, one table look-up
per item gives its pairs' products from its coins read as an integer); stage 2 scans single cells for
many resamples at once, an event counting when its two cells' coins give its variant. The coins
themselves are read from the raw 64-bit random stream (:func:`~.resampling.swap_bits`: the same draws as
``rng.integers(0, 2, n)``, several times cheaper). Besides uniform cells, the grid has short cells
(128, 192, 288, ... events, growing by half) on both sides of the thresholds that tie calibration picks
for the unpermuted scorers: permuted scorers' optima lie near them, so stage 2 mostly scans a short cell.
The grid changes only the speed, never a value (beyond the last bit of float64 sums).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._util import snap_sorted
from .resampling import _ELEMENT_BUDGET, _Grid, _PairTable

#: Target number of cells of sorted thresholds in the stage-1 products (fewer columns: cheaper matrix
#: products, more stage-2 refinement).
_TARGET_CELLS = 16
#: Up to this many responses per item, pair products come from a table of 2**R rows (see _pair_lut).
_LUT_MAX_R = 14
_FINE_FIRST = 128
_FINE_GROWTH = 1.5
#: Elements (events x resamples) per step of a stage-2 scan.
_SCAN_BUDGET = 1 << 18


def check_same_cells(metric_a: np.ndarray, metric_b: np.ndarray) -> None:
    """The cell scheme exchanges scores cell by cell: both scorers must score the same cells."""
    diff = np.isnan(metric_a) != np.isnan(metric_b)
    if diff.any():
        i, j = np.argwhere(diff)[0]
        raise ValueError(
            f"permute='cells' needs both scorers to score the same cells; {int(diff.sum())} cells are "
            f"missing (NaN) in one scorer only (first: item {i}, response {j}); use permute='items' "
            "or drop those cells"
        )


class CellTable:
    """Precomputation for one scorer pair (A, B): the (pair, variant) copies, their sorted thresholds and
    the coefficient matrices of the degree-two stage-1 polynomials."""

    def __init__(
        self,
        human: np.ndarray,
        metric_a: np.ndarray,
        metric_b: np.ndarray,
        average: str,
        n_cells_target: int = _TARGET_CELLS,
        fixed: tuple[bool, float] | None = None,
    ):
        """``fixed=None``: acc_eq with tie calibration; ``fixed=(half, epsilon)``: pairwise accuracy at a
        fixed epsilon (gold ties left out; a metric tie, |difference| <= epsilon, counts 1/2 with
        ``half``, else wrong), as :func:`overcoat.metaeval.accuracy.pairwise_accuracy`."""
        check_same_cells(metric_a, metric_b)
        n, R = human.shape
        self.n_scores = n * R
        jj, kk = np.triu_indices(R, 1)
        hd = human[:, jj] - human[:, kk]
        ok = np.isfinite(hd) & np.isfinite(metric_a[:, jj]) & np.isfinite(metric_a[:, kk])
        if fixed is not None:
            ok &= hd != 0
        npairs = ok.sum(axis=1)
        ii, pp = np.nonzero(ok)
        P = ii.size
        self.n_pairs = P
        J, K = jj[pp], kk[pp]
        self.cj = (ii * R + J).astype(np.int64)
        self.ck = (ii * R + K).astype(np.int64)
        if average == "items":
            u = np.divide(1.0, npairs, out=np.zeros(n), where=npairs > 0)[ii]
            self.den = float((npairs > 0).sum())
        else:
            u = np.ones(P)
            self.den = float(P)
        src = (metric_a, metric_b)
        # variant v = 2 a + b: the pair compares src[a][j] - src[b][k]
        d = np.stack([src[v >> 1][ii, J] - src[v & 1][ii, K] for v in range(4)], axis=1)  # (P, 4)
        hdp = hd[ii, pp][:, None]
        htie = hdp == 0
        agree_sign = ~htie & (np.sign(d) == np.sign(hdp))
        agree0 = (htie & (d == 0)) | agree_sign
        base0 = u[:, None] * agree0
        gain = u[:, None] * (htie.astype(float) - agree_sign)
        ev = (d != 0) & (gain != 0)
        if fixed is not None:  # no threshold search: the value at the fixed epsilon only
            half, eps = fixed
            mtie = np.abs(d) <= eps
            base0 = u[:, None] * np.where(mtie, 0.5 if half else 0.0, (np.sign(d) == np.sign(hdp)))
            ev = np.zeros_like(ev)
        pe, ve = np.nonzero(ev)
        key = np.abs(d[pe, ve])
        order = np.argsort(key, kind="stable")
        pe, ve = pe[order], ve[order]
        copy = (4 * pe + ve).astype(np.int64)
        self.pe = pe.astype(np.int64)
        self.ve = (
            ve.astype(np.int8),
            (3 - ve).astype(np.int8),
        )  # variants of permuted A, permuted B
        self.table = _PairTable(
            4 * P, base0.reshape(-1), np.repeat(u, 4), snap_sorted(key[order]), copy, gain[pe, ve]
        )
        L = key.size
        self.grid = _Grid(
            self.table,
            cell=max(32, math.ceil(L / max(1, n_cells_target))) if L else None,
            cuts=self._fine_cuts(human, metric_a, metric_b, average) if L else None,
            sums=False,
        )
        Kc = self.grid.ends.size
        self.K = Kc
        # stage-1 columns of one permuted scorer: [cell sums (K) | positive parts (K) | base (1)]
        ncol = 2 * Kc + 1
        self.ncol = ncol
        P4 = 4 * P
        # Rows of the pair-product matrix: with few responses, every item's M = R(R-1)/2 pairs in
        # np.triu_indices order (pairs without both scores are zero rows), so that a block's pair
        # products are one table look-up per item (the item's R coins as an integer, see _pair_lut)
        # instead of two gathers per pair.
        M = R * (R - 1) // 2
        self.shape = (n, R)
        self.lut = R <= _LUT_MAX_R and P > 0 and 2 * P >= n * M
        self.rows = (ii * M + pp).astype(np.int64) if self.lut else np.arange(P, dtype=np.int64)
        n_rows = n * M if self.lut else P
        # stage 2: the coins of each event's two cells and the code 2 a + b of its variant (side 0;
        # side 1 uses 3 - code)
        self.ecj = self.cj[pe]
        self.eck = self.ck[pe]
        if L:
            g = self.table.gain
            pair_c = np.concatenate([pe, pe, np.repeat(np.arange(P), 4)])
            var_c = np.concatenate([ve, ve, np.tile(np.arange(4), P)])
            col_c = np.concatenate([self.grid.cell_of, Kc + self.grid.cell_of, np.full(P4, 2 * Kc)])
            val_c = np.concatenate([g, np.maximum(g, 0.0), base0.reshape(-1)])
        else:
            pair_c, var_c = np.repeat(np.arange(P), 4), np.tile(np.arange(4), P)
            col_c, val_c = np.full(P4, 2 * Kc), base0.reshape(-1)
        # A value that counts when a pair has variant (a, b) = (v >> 1, v & 1) adds value * [s_j = a] *
        # [s_k = b] to permuted A and value * [s_j = 1 - a] * [s_k = 1 - b] to permuted B, with
        # [s = a] = (1 - a) + (2a - 1) s. The s_j s_k coefficient, (2a - 1)(2b - 1), is the same for both.
        a = (var_c >> 1).astype(float)
        b = (var_c & 1).astype(float)
        nS = self.n_scores
        self.n_rows = n_rows
        sides = ((a, b), (1.0 - a, 1.0 - b))
        self.const = np.concatenate(
            [
                np.bincount(col_c, weights=(1 - aa) * (1 - bb) * val_c, minlength=ncol)
                for aa, bb in sides
            ]
        )
        # When every value is a multiple of 1/scale (every item has the same number of pairs, or
        # average="pairs"), the matrices are integer-valued after scaling and their products are exact
        # in float32 (see _scaled_integers), which halves the cost of the largest product. The check
        # and the rounding are done on the values, before they are summed into the matrices.
        self.quad32 = self.lin32 = None
        self.quad = self.lin = None
        counts = np.unique(npairs[npairs > 0])
        scale = 0.0
        if P and counts.size == 1:
            scale = (float(counts[0]) if average == "items" else 1.0) * (
                2.0 if fixed is not None else 1.0
            )
        flat_q = self.rows[pair_c] * ncol + col_c
        flat_j = self.cj[pair_c] * (2 * ncol) + col_c
        flat_k = self.ck[pair_c] * (2 * ncol) + col_c
        # every weight is a value times factors in {-1, 0, 1}: integers when the values are
        iv = _scaled_integers(val_c, scale, col_c, ncol)
        w = val_c if iv is None else iv
        w_quad = (2 * a - 1) * (2 * b - 1) * w
        w_lin = [
            np.concatenate([(2 * aa - 1) * (1 - bb) * w, (1 - aa) * (2 * bb - 1) * w])
            for aa, bb in sides
        ]
        if iv is not None:
            self.qscale = scale
            self.quad32 = _dense(flat_q, w_quad, n_rows, ncol, np.float32)
            self.lin32 = _dense_lin(flat_j, flat_k, w_lin, nS, ncol, np.float32)
        else:
            self.quad = _dense(flat_q, w_quad, n_rows, ncol, np.float64)
            self.lin = _dense_lin(flat_j, flat_k, w_lin, nS, ncol, np.float64)
        # stage 2 scans cells of the sorted events (the cell end itself is a stage-1 value)
        if L:
            self.lengths = self.grid.ends - self.grid.starts  # scanned positions per cell
            cand = self.grid.ge.copy()
            self.interior = np.add.reduceat(cand.astype(np.int64), self.grid.starts) - 1 > 0
            # candidates of each cell (group ends before the cell end), relative to the cell start
            self.cands = [
                np.flatnonzero(self.grid.ge[s0 : s0 + n_ev])
                for s0, n_ev in zip(self.grid.starts.tolist(), self.lengths.tolist())
            ]

    def _fine_cuts(self, human, metric_a, metric_b, average) -> np.ndarray:
        """Extra cell ends around the thresholds that the unpermuted scorers' tie calibration picks: a
        permuted scorer's optimum is usually near them, and stage 2 then scans a short cell (cells of
        128, 192, 288, ... events on each side). Only the speed depends on the cells, never the values."""
        from .resampling import TieCalibratedStatistic

        stat = TieCalibratedStatistic(average=average)
        key = self.table.key
        out, centres = [], []
        for m in (metric_a, metric_b):
            eps = stat.evaluate(human, m)[1]
            if not np.isfinite(eps) or eps <= 0:
                continue
            c = int(np.searchsorted(key, eps * (1.0 - 1e-9)))
            centres.append(c)
            steps = np.unique((_FINE_FIRST * _FINE_GROWTH ** np.arange(40)).astype(np.int64))
            steps = steps[steps < key.size]
            out += [c - 1, c, c + 1, *(c + steps), *(c - steps)]
        if not out:
            return np.zeros(0, dtype=np.int64)
        # two nearby centres: drop cuts that are close compared with their distance to the centres
        cuts = np.unique(np.asarray(out, dtype=np.int64))
        dist = np.min(np.abs(cuts[:, None] - np.asarray(centres)[None, :]), axis=1)
        keep, last = [], None
        for x, d in zip(cuts.tolist(), dist.tolist()):
            if last is None or x - last >= max(1, d // 2):
                keep.append(x)
                last = x
        return np.asarray(keep, dtype=np.int64)

    def null(self, masks: Iterable[np.ndarray]) -> np.ndarray:
        """stat(permuted A) - stat(permuted B) for each row of the (b, n_items * n_responses) 0/1 masks."""
        return null_many([self], masks)[0]

    def _maximise(self, n0, ncell, npos, coins_t, side):
        """Max over epsilon of the acc_eq numerator of permuted A (side 0) or B (side 1), per resample.

        Stage 1: the values at the cell ends (cumulative sums of the cells' gains) and, per cell, the
        upper bound value-at-start + positive gains. Stage 2, in rounds: every resample whose highest
        remaining bound beats its best value so far scans that cell event by event (candidates before
        the cell end; an event counts when its two cells' coins, read from ``coins_t``, the block's
        (n_scores, b) coins, give its variant). The scans run along the events for many resamples at
        once, each resample's sum in event order (the same additions as a loop over events)."""
        b = n0.shape[0]
        if self.table.key.size == 0:
            return n0.copy()
        ncum = n0[:, None] + np.cumsum(ncell, axis=1)
        prev = np.concatenate([n0[:, None], ncum[:, :-1]], axis=1)
        best = np.maximum(n0, ncum.max(axis=1))
        upper = np.where(self.interior[None, :], prev + npos, -np.inf)
        rows = np.arange(b)
        starts, lengths = self.grid.starts, self.lengths
        gain, ecj, eck, ve = self.table.gain, self.ecj, self.eck, self.ve[side]
        while (
            True
        ):  # refine the most promising cell of every resample until no bound beats the best
            k_top = np.argmax(upper, axis=1)
            u_top = upper[rows, k_top]
            rr = np.flatnonzero(u_top > best)
            if rr.size == 0:
                break
            kk = k_top[rr]
            upper[rr, kk] = -np.inf
            for k in np.unique(kk).tolist():  # one cell per resample in a round
                r_k = rr[kk == k]
                s0, n_ev = int(starts[k]), int(lengths[k])
                sl = slice(s0, s0 + n_ev)
                cj_t, ck_t = coins_t[ecj[sl]], coins_t[eck[sl]]  # (n_ev, b)
                want, gg, cand = ve[sl][:, None], gain[sl][:, None], self.cands[k]
                step = max(1, _SCAN_BUDGET // max(1, n_ev))
                for c0 in range(0, r_k.size, step):
                    r = r_k[c0 : c0 + step]
                    if r.size == b:
                        code = (cj_t << 1) | ck_t
                    else:
                        code = (cj_t[:, r] << 1) | ck_t[:, r]
                    cs = np.cumsum(np.where(code == want, gg, 0.0), axis=0)
                    v = cs[cand].max(axis=0) + prev[r, k]
                    best[r] = np.maximum(best[r], v)
        return best


def null_many(tables: list[CellTable], masks: Iterable[np.ndarray]) -> list[np.ndarray]:
    """:meth:`CellTable.null` of several scorer pairs on the same data and masks: the coin gathers, pair
    products and codes of a block of resamples are computed once for all of them (they depend only on
    the pairs' cells, which must be the same for every table)."""
    first = tables[0]
    if any(isinstance(t, KendallCellTable) for t in tables):
        blocks = [np.asarray(b) for b in masks]
        return [t.null(blocks) for t in tables]
    for t in tables[1:]:
        if not (np.array_equal(t.cj, first.cj) and np.array_equal(t.ck, first.ck)):
            raise ValueError("null_many needs tables over the same pairs")
    P = first.n_pairs
    n, R = first.shape
    n_rows = first.n_rows
    # blocks of ~4M pair products (TED: 100 resamples): as fast as larger ones, and their arrays are
    # reused by the allocator instead of being mapped afresh (page faults) for every block
    bs = max(1, (_ELEMENT_BUDGET // 2) // max(1, n_rows, max(t.ncol for t in tables)))
    lut = _pair_lut(R) if first.lut else None
    out: list[list[np.ndarray]] = [[] for _ in tables]
    for S8 in _uint8_blocks(masks, bs):
        b = S8.shape[0]
        if P == 0:
            for o in out:
                o.append(np.full(b, np.nan))
            continue
        X8 = _pair_products(S8, n, R, lut, first.cj, first.ck)
        X32 = X8.astype(np.float32) if any(t.quad32 is not None for t in tables) else None
        X64: Any = X8.astype(float) if any(t.quad32 is None for t in tables) else None
        del X8
        Sf: Any = S8.astype(float) if any(t.lin32 is None for t in tables) else None
        Sf32: Any = S8.astype(np.float32) if any(t.lin32 is not None for t in tables) else None
        coins_t = np.ascontiguousarray(S8.T)
        for t, o in zip(tables, out):
            K, nc = t.K, t.ncol
            if t.quad32 is not None:
                Q = (X32 @ t.quad32).astype(float) / t.qscale
            else:
                Q = X64 @ t.quad
            if t.lin32 is not None:
                F = (Sf32 @ t.lin32).astype(float) / t.qscale + t.const
            else:
                F = Sf @ t.lin + t.const
            vals = []
            for side in (0, 1):
                Fs = F[:, side * nc : (side + 1) * nc] + Q
                vals.append(
                    t._maximise(Fs[:, 2 * K], Fs[:, :K], Fs[:, K : 2 * K], coins_t, side) / t.den
                )
            o.append(vals[0] - vals[1])
    return [np.concatenate(o) if o else np.empty(0) for o in out]


_PAIR_LUTS: dict[int, np.ndarray] = {}


def _scaled_integers(w: np.ndarray, scale: float, col: np.ndarray, ncol: int) -> np.ndarray | None:
    """``w * scale`` rounded, when every value is an integer (within 1e-6) and every column's sum of
    |values| is below 2**23 (a weight is a value times factors in {-1, 0, 1}, and a column of the linear
    terms gets each value at most twice: every partial sum of a column's products is exact in float32);
    else None."""
    if scale <= 0:
        return None
    ws = w * scale
    iw = np.rint(ws)
    if w.size and (
        np.abs(ws - iw).max() >= 1e-6
        or np.bincount(col, weights=np.abs(iw), minlength=ncol).max() >= 2**23
    ):
        return None
    return iw


def _dense(flat: np.ndarray, w: np.ndarray, n_rows: int, ncol: int, dtype) -> np.ndarray:
    return np.bincount(flat, weights=w, minlength=n_rows * ncol).reshape(n_rows, ncol).astype(dtype)


def _dense_lin(flat_j, flat_k, weights, n_scores: int, ncol: int, dtype) -> np.ndarray:
    """The (n_scores, 2 ncol) linear terms of both sides: side 0 in the first ncol columns."""
    flat = np.concatenate([flat_j, flat_k, flat_j + ncol, flat_k + ncol])
    w = np.concatenate(weights)
    return (
        np.bincount(flat, weights=w, minlength=n_scores * 2 * ncol)
        .reshape(n_scores, 2 * ncol)
        .astype(dtype)
    )


def _uint8_blocks(masks: Iterable[np.ndarray], bs: int):
    """The rows of every mask block, ``bs`` at a time, as 0/1 uint8 (a view where possible)."""
    for block in masks:
        block = np.asarray(block)
        for s0 in range(0, block.shape[0], bs):
            Sb = block[s0 : s0 + bs]
            yield Sb if Sb.dtype == np.uint8 else (Sb != 0).view(np.uint8)


def _pair_products(S8: np.ndarray, n: int, R: int, lut, cj: np.ndarray, ck: np.ndarray):
    """(b, pairs) products of the coins of each pair's two cells: one table look-up of each
    item's coins read as an integer (``lut``), else two gathers."""
    b = S8.shape[0]
    if lut is not None:
        code = S8.reshape(b, n, R) @ (1 << np.arange(R, dtype=np.int32))
        return np.take(lut, code, axis=0).reshape(b, -1)
    return S8[:, cj] & S8[:, ck]


def _pair_lut(R: int) -> np.ndarray:
    """(2**R, R(R-1)/2) uint8: row c holds s_j * s_k for the pairs (j, k) of ``np.triu_indices(R, 1)``,
    where s_j is bit j of c."""
    if R not in _PAIR_LUTS:
        bits = ((np.arange(1 << R)[:, None] >> np.arange(R)) & 1).astype(np.uint8)
        jj, kk = np.triu_indices(R, 1)
        _PAIR_LUTS[R] = np.ascontiguousarray(bits[:, jj] & bits[:, kk])
    return _PAIR_LUTS[R]


class KendallCellTable:
    """Item-grouped Kendall tau-b (:func:`~overcoat.metaeval.correlation.kendall_tau` with
    ``group="item"``, ``variant="b"``) under the cell scheme, batched over resamples.

    Per item, tau-b is ``(C - D) / sqrt(C + D + T_h) / sqrt(C + D + T_m)``: ``C + D + T_m`` (pairs not
    tied in the human scores) does not depend on the metric, and ``C - D`` and the metric ties
    ``T_m + T_hm`` are sums over the item's pairs of a value of the pair's variant (code
    ``2 s_j + s_k``), i.e. polynomials of degree two in the coins: per block of resamples, an item's two
    sums are its constant plus its coins times linear terms plus its pair products times pair terms,
    all integers (exact in floating point). Then tau-b per item and the average over items (or pairs)
    as ``kendall_tau`` computes them from the same counts."""

    def __init__(self, human, metric_a, metric_b, average: str = "items", epsilon: float = 0.0):
        from ._util import classify

        check_same_cells(metric_a, metric_b)
        n, R = human.shape
        M = R * (R - 1) // 2
        self.shape = (n, R)
        self.average = average
        jj, kk = np.triu_indices(R, 1)
        base = (np.arange(n)[:, None] * R).astype(np.int64)
        self.cj = (base + jj).reshape(-1)  # every within-item pair, np.triu_indices order
        self.ck = (base + kk).reshape(-1)
        self.n_pairs = n * M
        self.lut = 0 < R <= _LUT_MAX_R
        hd = human[:, jj] - human[:, kk]
        valid = ~(np.isnan(hd) | np.isnan(metric_a[:, jj] - metric_a[:, kk]))
        src = (metric_a, metric_b)
        sig = np.zeros((4, n, M))
        tie = np.zeros((4, n, M))
        for v in range(4):
            d = src[v >> 1][:, jj] - src[v & 1][:, kk]
            con, dis, _t_h, t_m, t_hm = classify(hd, d, epsilon)
            sig[v] = (con & valid).astype(float) - (dis & valid)
            tie[v] = (t_m | t_hm) & valid
            if v == 0:
                self.not_tied_h = np.count_nonzero((con | dis | t_m) & valid, axis=1).astype(float)
        self.total = np.count_nonzero(valid, axis=1).astype(float)
        ej = np.zeros((M, R))
        ej[np.arange(M), jj] = 1.0
        ek = np.zeros((M, R))
        ek[np.arange(M), kk] = 1.0
        # f(code) = f0 + (f2 - f0) s_j + (f1 - f0) s_k + (f0 - f1 - f2 + f3) s_j s_k; permuted B reads
        # variant 3 - code (f0 <-> f3, f1 <-> f2): the same pair term
        self.terms = []
        for f in (sig, tie):
            sides = []
            for g in (f, f[::-1]):
                sides.append((g[0].sum(axis=1), (g[2] - g[0]) @ ej + (g[1] - g[0]) @ ek))
            self.terms.append((sides, (f[0] - f[1] - f[2] + f[3]).astype(np.float32)))

    def null(self, masks: Iterable[np.ndarray]) -> np.ndarray:
        """tau-b(permuted A) - tau-b(permuted B) for each row of the (b, n_items * n_responses) masks."""
        n, R = self.shape
        M = R * (R - 1) // 2
        lut = _pair_lut(R) if self.lut else None
        bs = max(1, _ELEMENT_BUDGET // max(1, self.n_pairs))
        out = []
        for S8 in _uint8_blocks(masks, bs):
            b = S8.shape[0]
            if M == 0:
                out.append(np.full(b, np.nan))
                continue
            X = _pair_products(S8, n, R, lut, self.cj, self.ck).reshape(b, n, M)
            X32 = X.astype(np.float32)
            Sr = S8.reshape(b, n, R).astype(float)
            sums = []  # [(C - D, metric ties) of permuted A, of permuted B]
            for sides, quad in self.terms:
                pq = np.einsum("bnm,nm->bn", X32, quad).astype(float)  # small integers: exact
                sums.append([c + np.einsum("bnr,nr->bn", Sr, lin) + pq for c, lin in sides])
            vals = [self._tau_b(sums[0][side], sums[1][side]) for side in (0, 1)]
            out.append(vals[0] - vals[1])
        return np.concatenate(out) if out else np.empty(0)

    def _tau_b(self, s: np.ndarray, ties: np.ndarray) -> np.ndarray:
        """The item-grouped tau-b of each row from its items' C - D and metric ties (as kendall_tau)."""
        not_tied_m = self.total - ties
        not_tied_h = self.not_tied_h
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(s / np.sqrt(not_tied_m) / np.sqrt(not_tied_h), -1.0, 1.0)
        defined = (not_tied_m > 0) & (not_tied_h > 0)
        a = np.where(defined, 1.0 if self.average == "items" else self.total, 0.0)
        num = (a * np.where(defined, t, 0.0)).sum(axis=1)
        den = a.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def generic_cell_null(
    stat, human: np.ndarray, metric_a: np.ndarray, metric_b: np.ndarray, masks: Iterable[np.ndarray]
) -> np.ndarray:
    """Any statistic: each permuted pair of scorers is materialised and the statistic called on it."""
    check_same_cells(metric_a, metric_b)
    shape = human.shape
    out = []
    for block in masks:
        for s in block:
            swap = np.asarray(s).reshape(shape) != 0
            pa = np.where(swap, metric_b, metric_a)
            pb = np.where(swap, metric_a, metric_b)
            out.append(
                float(np.asarray(stat(human, pa), dtype=float))
                - float(np.asarray(stat(human, pb), dtype=float))
            )
    return np.asarray(out, dtype=float)
