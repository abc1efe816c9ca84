"""Soft pairwise accuracy: overcoat vs mt-metrics-eval's pce.py (WMT24), same inputs.

    PYTHONPATH=src python benchmarks/bench_spa.py [--repeats 20]

Inputs: bundled TED en-de and zh-en (529 segments x 13 systems), human MQM vs chrF and BLEU, 1,000
permutations. Peer: a faithful reimplementation of ``stats.PairwiseConfidenceError`` (two calls of
``pce.compute_pairwise_p_values`` with ``default_rng(4)``, float32, then ``compute_one_minus_pce``;
``benchmarks/_mtme.py``). Ours: ``soft_pairwise_accuracy`` with its defaults (the same permutation stream,
float64 sums). Timed: best of ``--repeats`` runs, (a) one SPA from a cold start (our permutation cache
cleared before every run), (b) SPA of the 4 scorer/data combinations in a row, as a meta-evaluation
does (our permutation signs are drawn once per data shape, and the human p-values once per human matrix, and reused). Outputs compared: |SPA ours - SPA
peer|; differences up to ~1e-4 come from the peer's float32 sums deciding exact ties by rounding (see
``soft_pairwise_accuracy``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _mtme import pce_spa  # noqa: E402

from overcoat import api  # noqa: E402
from overcoat.metaeval import system as sysm  # noqa: E402


def best(fn, repeats, before=None):
    times = []
    out = None
    for _ in range(repeats):
        if before:
            before()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    cases = []
    for name in ("ted-ende", "ted-zhen"):
        ds = api.load(name)
        scored = api.score(ds, ["chrf", "bleu"], cache=None, progress=False)
        H = ds.human_matrix()
        for m in ("chrF", "BLEU"):
            cases.append((f"{name} {m}", H, scored.matrix(m)))
    clear = sysm._clear_spa_caches
    print(f"{'case':<16} {'SPA ours':>12} {'SPA peer':>12} {'|diff|':>9}")
    for label, H, M in cases:
        ours = sysm.soft_pairwise_accuracy(H, M).statistic
        peer = pce_spa(H, M)
        print(f"{label:<16} {ours:>12.6f} {peer:>12.6f} {abs(ours - peer):>9.1e}")
    label, H, M = cases[-1]
    r = args.repeats
    t_one, _ = best(lambda: sysm.soft_pairwise_accuracy(H, M), r, clear)
    p_one, _ = best(lambda: pce_spa(H, M), r)
    t_all, _ = best(lambda: [sysm.soft_pairwise_accuracy(h, m) for _, h, m in cases], r, clear)
    p_all, _ = best(lambda: [pce_spa(h, m) for _, h, m in cases], r)
    print()
    head = f"{'what (13 systems x 1,000 permutations)':<46} {'ours ms':>8} {'peer ms':>8} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    print(f"{'one SPA, cold (permutations drawn)':<46} {t_one * 1e3:>8.2f} {p_one * 1e3:>8.2f} {p_one / t_one:>6.1f}x")
    print(f"{'4 SPAs in a row (meta-evaluation)':<46} {t_all * 1e3:>8.2f} {p_all * 1e3:>8.2f} {p_all / t_all:>6.1f}x")
    print(f"best of {r} runs; ratio = peer / ours")


if __name__ == "__main__":
    main()
