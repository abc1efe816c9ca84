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
coin matrix and with the pair products ``s_j s_k``; stage 2 scans single cells, reading the active
variants from the codes. Besides uniform cells, the grid has short cells (64, 128, 256, ... events) on
both sides of the thresholds that tie calibration picks for the unpermuted scorers: permuted scorers'
optima lie near them, so stage 2 mostly scans a short cell (on bundled TED this cut the cost of 1,000
resamples about threefold). The grid changes only the speed, never a value.
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
        self.const = np.empty(2 * ncol)
        self.lin = np.empty((nS, 2 * ncol))
        for side, (aa, bb) in enumerate(((a, b), (1.0 - a, 1.0 - b))):
            cols = slice(side * ncol, (side + 1) * ncol)
            self.const[cols] = np.bincount(
                col_c, weights=(1 - aa) * (1 - bb) * val_c, minlength=ncol
            )
            lin = np.bincount(
                self.cj[pair_c] * ncol + col_c,
                weights=(2 * aa - 1) * (1 - bb) * val_c,
                minlength=nS * ncol,
            )
            lin += np.bincount(
                self.ck[pair_c] * ncol + col_c,
                weights=(1 - aa) * (2 * bb - 1) * val_c,
                minlength=nS * ncol,
            )
            self.lin[:, cols] = lin.reshape(nS, ncol)
        self.quad = np.bincount(
            pair_c * ncol + col_c, weights=(2 * a - 1) * (2 * b - 1) * val_c, minlength=P * ncol
        ).reshape(P, ncol)
        # When every value is a multiple of 1/scale (every item has the same number of pairs, or
        # average="pairs"), the pair-product matrix is integer-valued after scaling and its product
        # is exact in float32 (sums below 2**24), which halves the largest product's cost.
        self.quad32 = None
        self.lin32 = None
        counts = np.unique(npairs[npairs > 0])
        if P and counts.size == 1:
            scale = (float(counts[0]) if average == "items" else 1.0) * (
                2.0 if fixed is not None else 1.0
            )
            q = np.rint(self.quad * scale)
            if np.all(np.abs(self.quad * scale - q) < 1e-6) and np.abs(q).sum(axis=0).max() < 2**24:
                self.quad32 = q.astype(np.float32)
                self.qscale = scale
                # the coin matrix's product with the linear terms: exact in float32 by the same
                # argument (integer-valued after scaling, every partial sum below 2**24)
                lq = np.rint(self.lin * scale)
                if (
                    np.all(np.abs(self.lin * scale - lq) < 1e-6)
                    and np.abs(lq).sum(axis=0).max() < 2**24
                ):
                    self.lin32 = lq.astype(np.float32)
        # stage 2 scans cells of the sorted events (the cell end itself is a stage-1 value)
        if L:
            self.lengths = self.grid.ends - self.grid.starts  # scanned positions per cell
            cand = self.grid.ge.copy()
            self.interior = np.add.reduceat(cand.astype(np.int64), self.grid.starts) - 1 > 0
            self.pe32 = self.pe.astype(np.int32 if P < 2**31 else np.int64)

    def _fine_cuts(self, human, metric_a, metric_b, average) -> np.ndarray:
        """Extra cell ends around the thresholds that the unpermuted scorers' tie calibration picks: a
        permuted scorer's optimum is usually near them, and stage 2 then scans a short cell (cells of
        64, 128, 256, ... events on each side). Only the speed depends on the cells, never the values."""
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
            steps = 64 * 2 ** np.arange(int(math.log2(max(64, key.size))) - 5)
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

    def _maximise(self, n0, ncell, npos, codes, side):
        """Max over epsilon of the acc_eq numerator of permuted A (side 0) or B (side 1), per resample.

        Stage 1: the values at the cell ends (cumulative sums of the cells' gains) and, per cell, the
        upper bound value-at-start + positive gains. Stage 2, in rounds: every resample whose highest
        remaining bound beats its best value so far scans that cell event by event (candidates before
        the cell end; the active variants read from the codes)."""
        b = n0.shape[0]
        if self.table.key.size == 0:
            return n0.copy()
        ncum = n0[:, None] + np.cumsum(ncell, axis=1)
        prev = np.concatenate([n0[:, None], ncum[:, :-1]], axis=1)
        best = np.maximum(n0, ncum.max(axis=1))
        upper = np.where(self.interior[None, :], prev + npos, -np.inf)
        rows = np.arange(b)
        starts, lengths = self.grid.starts, self.lengths
        var, gain, ge, pe = self.ve[side], self.table.gain, self.grid.ge, self.pe32
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
            for k in np.unique(kk):  # one cell per resample in a round
                r_k = rr[kk == k]
                s0, n_ev = int(starts[k]), int(lengths[k])
                sl = slice(s0, s0 + n_ev)
                pp, vv, gg = pe[sl], var[sl], gain[sl]
                cand = np.flatnonzero(ge[sl])
                step = max(1, _ELEMENT_BUDGET // (4 * max(1, n_ev)))
                for c0 in range(0, r_k.size, step):
                    r = r_k[c0 : c0 + step]
                    active = codes[r[:, None], pp] == vv
                    cs = np.cumsum(np.where(active, gg, 0.0), axis=1)
                    v = cs[:, cand].max(axis=1) + prev[r, k]
                    best[r] = np.maximum(best[r], v)
        return best


def null_many(tables: list[CellTable], masks: Iterable[np.ndarray]) -> list[np.ndarray]:
    """:meth:`CellTable.null` of several scorer pairs on the same data and masks: the coin gathers, pair
    products and codes of a block of resamples are computed once for all of them (they depend only on
    the pairs' cells, which must be the same for every table)."""
    first = tables[0]
    for t in tables[1:]:
        if not (np.array_equal(t.cj, first.cj) and np.array_equal(t.ck, first.ck)):
            raise ValueError("null_many needs tables over the same pairs")
    P = first.n_pairs
    bs = max(1, _ELEMENT_BUDGET // max(1, 2 * P, max(t.ncol for t in tables)))
    out: list[list[np.ndarray]] = [[] for _ in tables]
    for block in masks:
        for s0 in range(0, block.shape[0], bs):
            Sb = np.asarray(block[s0 : s0 + bs]) != 0
            b = Sb.shape[0]
            if P == 0:
                for o in out:
                    o.append(np.full(b, np.nan))
                continue
            Sj, Sk = Sb[:, first.cj], Sb[:, first.ck]
            X = Sj & Sk
            X32 = X.astype(np.float32) if any(t.quad32 is not None for t in tables) else None
            X64: Any = X.astype(float) if any(t.quad32 is None for t in tables) else None
            codes = (Sj.view(np.int8) << 1) | Sk.view(np.int8)
            del Sj, Sk
            Sf: Any = Sb.astype(float) if any(t.lin32 is None for t in tables) else None
            Sf32: Any = Sb.astype(np.float32) if any(t.lin32 is not None for t in tables) else None
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
                        t._maximise(Fs[:, 2 * K], Fs[:, :K], Fs[:, K : 2 * K], codes, side) / t.den
                    )
                o.append(vals[0] - vals[1])
    return [np.concatenate(o) if o else np.empty(0) for o in out]


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
