"""WMT's significance test: overcoat's permutation tests vs mt-metrics-eval's PermutationSigDiff loop.

    PYTHONPATH=src python benchmarks/bench_significance.py [--resamples 1000] [--data ted-zhen]

Same inputs for all: bundled TED (529 segments x 13 systems), chrF (metric 2 / our A) vs BLEU, human
MQM scores, item-grouped acc_eq with tie calibration re-fitted on every permuted scorer, one-sided
("chrF better"), the same coins (our canonical ``swap_masks`` stream, 1 = swap). Rows:

* ours, ``permute="cells"`` (PERM-BOTH, scorers z-scored, p = count / k): must equal the peer's p;
* ours, ``permute="items"`` (whole items swapped; p = (count + 1) / (k + 1)): a different test, shown for
  its p-value and speed;
* peer: a faithful reimplementation of ``stats.PermutationSigDiff`` with ``KendallWithTiesOpt``
  (``benchmarks/_mtme.py``): the per-resample Python loop, with ``tau_optimization``'s sweep done by one
  numpy sort + cumulative sum per call (mt-metrics-eval's own sweep is a Python loop over pair objects,
  slower still, so the ratio is conservative); a last row times mt-metrics-eval's own pure-Python
  sweep (``tau_optimization_python``) on 2 resamples and extrapolates.

Whole runs are timed (wall and CPU seconds); the table prints ours, peer, ratio and whether the p-values
are equal.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mtme import permutation_sig_diff, tau_optimization_python  # noqa: E402

from overcoat import api  # noqa: E402
from overcoat.metaeval.resampling import (  # noqa: E402
    paired_permutation_test,
    swap_masks,
    tie_calibrated_statistic,
)


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--data", default="ted-zhen")
    args = ap.parse_args()
    k = args.resamples
    ds = api.load(args.data)
    scored = api.score(ds, ["chrf", "bleu"], cache=None, progress=False)
    H, A, B = ds.human_matrix(), scored.matrix("chrF"), scored.matrix("BLEU")
    stat = tie_calibrated_statistic()
    draws = np.concatenate(list(swap_masks(H.size, k, seed=0)))

    w_cells, c_cells, cells = timed(lambda: paired_permutation_test(
        stat, H, A, B, n_resamples=k, permute="cells", alternative="greater"))
    w_items, c_items, items = timed(lambda: paired_permutation_test(
        stat, H, A, B, n_resamples=k, permute="items", alternative="greater", standardize=True))
    # mt-metrics-eval: metric 1 = BLEU, metric 2 = chrF ("metric 2 better")
    w_peer, c_peer, (p_peer, k_peer) = timed(lambda: permutation_sig_diff(H, B, A, k=k, draws=draws))

    # mt-metrics-eval's own sweep (pure Python): time 2 resamples (4 calibrations), extrapolate to k
    za = (A - A.mean()) / A.std()
    t0 = time.perf_counter()
    for s in draws[:2]:
        sw = s.reshape(H.shape) == 1
        tau_optimization_python(np.where(sw, B, za), H)
        tau_optimization_python(np.where(sw, za, B), H)
    w_py = (time.perf_counter() - t0) / 2 * k

    print(f"{args.data}: {H.shape[0]} segments x {H.shape[1]} systems, chrF vs BLEU, acc_eq (tie-calibrated, "
          f"item-grouped), {k} resamples, one-sided")
    head = f"{'what':<44} {'ours s (cpu)':>14} {'peer s (cpu)':>14} {'ratio':>7}  p ours / p peer"
    print(head)
    print("-" * len(head))
    print(f"{'cells (PERM-BOTH) vs PermutationSigDiff':<44} {w_cells:>6.2f} ({c_cells:>5.2f}) "
          f"{w_peer:>6.2f} ({c_peer:>5.2f}) {w_peer / w_cells:>6.1f}x  {cells.pvalue:.4f} / {p_peer:.4f} "
          f"{'equal' if cells.pvalue == p_peer and k_peer == cells.n_resamples else 'DIFFERENT'}")
    print(f"{'items (PERM-INPUTS), same peer':<44} {w_items:>6.2f} ({c_items:>5.2f}) "
          f"{w_peer:>6.2f} ({c_peer:>5.2f}) {w_peer / w_items:>6.1f}x  {items.pvalue:.4f} (a different test)")
    print(f"{'cells vs PermutationSigDiff, pure-Python sweep':<44} {w_cells:>6.2f} ({c_cells:>5.2f}) "
          f"~{w_py:>6.0f}        {w_py / w_cells:>6.0f}x  (2 resamples timed, x{k / 2:g})")
    print("ratio = peer wall seconds / ours wall seconds (CPU seconds in parentheses)")


if __name__ == "__main__":
    main()
