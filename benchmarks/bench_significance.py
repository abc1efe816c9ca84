"""WMT's significance test: overcoat's permutation tests vs mt-metrics-eval's PermutationSigDiff loop.

    PYTHONPATH=src python benchmarks/bench_significance.py [--quick] [--markdown]   (--quick: 200 resamples)

Same inputs for all: bundled TED (529 segments x 13 systems), chrF (metric 2 / our A) vs BLEU, human
MQM scores, item-grouped acc_eq with tie calibration re-fitted on every permuted scorer, one-sided
("chrF better"), the same coins (our canonical ``swap_masks`` stream, 1 = swap). Rows:

* ours, ``permute="cells"`` (PERM-BOTH, scorers z-scored, p = count / k): must equal the peer's p;
* ours, item-grouped Kendall tau-b with ``permute="cells"``: the batched engine vs the generic path
  (``kendall_tau`` called on every materialised permuted scorer); the null values must be identical;
* ours, ``permute="items"`` (whole items swapped; p = (count + 1) / (k + 1)): a different test, shown for
  its p-value and speed;
* peer: a faithful reimplementation of ``stats.PermutationSigDiff`` with ``KendallWithTiesOpt``
  (``benchmarks/_mtme.py``): the per-resample Python loop, with ``tau_optimization``'s sweep done by one
  numpy sort + cumulative sum per call (mt-metrics-eval's own sweep is a Python loop over pair objects,
  slower still, so the ratio is conservative); a last row times mt-metrics-eval's own pure-Python
  sweep (``tau_optimization_python``) on 2 resamples and extrapolates.

Whole runs are timed (wall seconds; CPU seconds in the notes); the table prints ours, peer, ratio and
whether the p-values are equal.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overcoat import api
from overcoat.metaeval.correlation import kendall_tau
from overcoat.metaeval.resampling import (
    item_weighted,
    materialized,
    paired_permutation_test,
    swap_masks,
    tie_calibrated_statistic,
)

from _bench import Row, main
from _mtme import permutation_sig_diff, tau_optimization_python


def _cpu_timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def collect(quick: bool = False, data: str = "ted-zhen", resamples: int | None = None) -> list[Row]:
    k = resamples or (200 if quick else 1000)
    ds = api.load(data)
    scored = api.score(ds, ["chrf", "bleu"], cache=None, progress=False)
    H, A, B = ds.human_matrix(), scored.matrix("chrF"), scored.matrix("BLEU")
    stat = tie_calibrated_statistic()
    draws = np.concatenate(list(swap_masks(H.size, k, seed=0)))

    w_cells, c_cells, cells = _cpu_timed(
        lambda: paired_permutation_test(
            stat, H, A, B, n_resamples=k, permute="cells", alternative="greater"
        )
    )
    w_items, c_items, items = _cpu_timed(
        lambda: paired_permutation_test(
            stat, H, A, B, n_resamples=k, permute="items", alternative="greater", standardize=True
        )
    )
    # mt-metrics-eval: metric 1 = BLEU, metric 2 = chrF ("metric 2 better")
    w_peer, c_peer, (p_peer, k_peer) = _cpu_timed(
        lambda: permutation_sig_diff(H, B, A, k=k, draws=draws)
    )
    # mt-metrics-eval's own sweep (pure Python): time 2 resamples (4 calibrations), extrapolate to k
    za = (A - A.mean()) / A.std()
    t0 = time.perf_counter()
    for s in draws[:2]:
        sw = s.reshape(H.shape) == 1
        tau_optimization_python(np.where(sw, B, za), H)
        tau_optimization_python(np.where(sw, za, B), H)
    w_py = (time.perf_counter() - t0) / 2 * k

    # item-grouped Kendall tau-b (the ranking rule's fallback statistic) in the cell scheme: the batched
    # engine vs the generic path (kendall_tau on every materialised permuted scorer), same coins
    tau_fast = item_weighted(kendall_tau, group="item", variant="b")

    def tau_slow(h, m):
        return kendall_tau(h, m, group="item", variant="b").statistic

    kw = {"n_resamples": k, "permute": "cells", "alternative": "greater", "return_null": True}
    w_tau, c_tau, tau = _cpu_timed(lambda: paired_permutation_test(tau_fast, H, A, B, **kw))
    w_gen, c_gen, gen = _cpu_timed(
        lambda: paired_permutation_test(materialized(tau_slow), H, A, B, **kw)
    )
    tau_same = np.array_equal(tau.null_distribution, gen.null_distribution)

    n = f"{data} {H.shape[0]}x{H.shape[1]}, k={k}"
    same = cells.pvalue == p_peer and k_peer == cells.n_resamples
    eq = f"p {cells.pvalue:.4f} {'=' if same else '!='} {p_peer:.4f}"
    return [
        Row(
            "permutation test, cells (PERM-BOTH), tie-cal. acc_eq, chrF vs BLEU",
            n,
            w_cells,
            "PermutationSigDiff loop, numpy sweep",
            w_peer,
            eq,
            f"same coins; CPU s ours {c_cells:.2f}, peer {c_peer:.2f}",
        ),
        Row(
            "same, peer with mt-metrics-eval's pure-Python tau_optimization",
            n,
            w_cells,
            "PermutationSigDiff + tau_optimization as published",
            w_py,
            "same algorithm",
            f"peer extrapolated: 2 resamples timed, x{k / 2:g}",
        ),
        Row(
            "permutation test, cells, item-grouped Kendall τb, chrF vs BLEU",
            n,
            w_tau,
            "generic path: kendall_tau per permuted scorer",
            w_gen,
            f"p {tau.pvalue:.4f}; null {'identical' if tau_same else 'DIFFERENT'}",
            f"CPU s ours {c_tau:.2f}, generic {c_gen:.2f}",
        ),
        Row(
            "permutation test, items (PERM-INPUTS), same data",
            n,
            w_items,
            "PermutationSigDiff loop, numpy sweep",
            w_peer,
            f"p {items.pvalue:.4f} (other test)",
            f"CPU s ours {c_items:.2f}",
        ),
    ]


if __name__ == "__main__":
    main(collect, __doc__)
