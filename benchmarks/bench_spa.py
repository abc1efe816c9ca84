"""Soft pairwise accuracy: overcoat vs mt-metrics-eval's pce.py (WMT24), same inputs.

    PYTHONPATH=src python benchmarks/bench_spa.py [--quick] [--markdown]   (--quick: best of 5, else 20)

Inputs: bundled TED en-de and zh-en (529 segments x 13 systems), human MQM vs chrF and BLEU, 1,000
permutations. Peer: a faithful reimplementation of ``stats.PairwiseConfidenceError`` (two calls of
``pce.compute_pairwise_p_values`` with ``default_rng(4)``, float32, then ``compute_one_minus_pce``;
``benchmarks/_mtme.py``). Ours: ``soft_pairwise_accuracy`` with its defaults (the same permutation
stream, the counts of float64 sums). Timed: best of 20 runs (5 with --quick), ours and the peer's
alternating, (a) one SPA from a cold start (our permutation cache cleared before every run: the draw
of the 529,000 signs is part of the time), (b) SPA of the 4 scorer/data combinations in a row, as a
meta-evaluation does (caches cleared before the 4: our permutations are drawn once per data shape,
and the human p-values once per human matrix, and reused), (c) one more scorer on data already
evaluated (the steady state of a meta-evaluation over many scorers). The peer does the same work in
every run (it draws its permutations twice per SPA). Outputs compared: |SPA ours - SPA peer|;
differences up to ~1e-4 come from the peer's float32 sums deciding exact ties by rounding (see
``soft_pairwise_accuracy``).
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from overcoat import api
from overcoat.metaeval import system as sysm

from _bench import Row, main
from _mtme import pce_spa


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


def best_pair(ours, peer, repeats, before=None):
    """(best seconds of ours, best of peer): runs alternate, so both sides see the same load."""
    t_ours, t_peer = float("inf"), float("inf")
    for _ in range(repeats):
        t_ours = min(t_ours, best(ours, 1, before)[0])
        t_peer = min(t_peer, best(peer, 1)[0])
    return t_ours, t_peer


def collect(quick: bool = False) -> list[Row]:
    r = 5 if quick else 20
    cases = []
    for name in ("ted-ende", "ted-zhen"):
        ds = api.load(name)
        scored = api.score(ds, ["chrf", "bleu"], cache=None, progress=False)
        H = ds.human_matrix()
        for m in ("chrF", "BLEU"):
            cases.append((f"{name} {m}", H, scored.matrix(m)))
    diffs = []
    for label, H, M in cases:
        ours = sysm.soft_pairwise_accuracy(H, M).statistic
        peer = pce_spa(H, M)
        diffs.append(abs(ours - peer))
        print(
            f"SPA {label}: ours {ours:.6f}, mt-metrics-eval {peer:.6f}, |diff| {abs(ours - peer):.1e}",
            file=sys.stderr,
        )
    clear = sysm._clear_spa_caches
    label, H, M = cases[-1]
    t_one, p_one = best_pair(
        lambda: sysm.soft_pairwise_accuracy(H, M), lambda: pce_spa(H, M), r, clear
    )
    t_all, p_all = best_pair(
        lambda: [sysm.soft_pairwise_accuracy(h, m) for _, h, m in cases],
        lambda: [pce_spa(h, m) for _, h, m in cases],
        r,
        clear,
    )
    sysm.soft_pairwise_accuracy(H, M)
    t_warm, p_warm = best_pair(lambda: sysm.soft_pairwise_accuracy(H, M), lambda: pce_spa(H, M), r)
    eq = f"|SPA diff| <= {max(diffs):.0e}"
    why = "differences: the peer's float32 sums decide exact ties by rounding"
    return [
        Row(
            "SPA, one call from a cold start",
            f"{label}, 13 sys x 1000 perm",
            t_one,
            "pce.py (PairwiseConfidenceError)",
            p_one,
            eq,
            f"best of {r}; {why}",
        ),
        Row(
            "SPA, 4 scorer/data cases in a row (meta-evaluation)",
            "TED en-de + zh-en, chrF + BLEU",
            t_all,
            "pce.py (PairwiseConfidenceError)",
            p_all,
            eq,
            f"best of {r}; permutations and human p-values reused across calls",
        ),
        Row(
            "SPA, one more scorer on data already evaluated",
            f"{label}, 13 sys x 1000 perm",
            t_warm,
            "pce.py (PairwiseConfidenceError)",
            p_warm,
            eq,
            f"best of {r}; cached permutations and human p-values (the peer has no cache)",
        ),
    ]


if __name__ == "__main__":
    main(collect, __doc__)
