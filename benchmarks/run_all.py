"""All peer benchmarks in one table: what, n, ours, peer, peer time, ratio, equal?

    python benchmarks/run_all.py [--quick] [--markdown] [--only stats,tiecal,...]

Runs ``collect(quick)`` of every module below (each is also runnable alone, with the same options) and
prints one table; ratio = peer seconds / ours seconds (> 1: overcoat is faster). Modules:

* ``bench_stats``: pooled Kendall tau vs ``scipy.stats.kendalltau``; percentile and BCa bootstrap CIs vs
  ``scipy.stats.bootstrap``;
* ``bench_tiecal``: tie calibration vs a reimplementation of mt-metrics-eval's tau optimisation;
* ``bench_scoring``: chrF / BLEU vs sacreBLEU's sentence loop; ``--workers 2`` vs ``--workers 1``;
* ``bench_models``: ``hf:`` reward model vs a transformers pipeline (and the SmolLM2 load timing);
* ``bench_significance``, ``bench_spa`` (permutation tests vs mt-metrics-eval's PermutationSigDiff, SPA vs
  its pce.py): rows of the table when they define ``collect``; otherwise run as scripts with their
  defaults (not with ``--quick``) and their own tables printed below this one;
* ``bench_probes``: every pitfall command (probe, calibrate, overopt, quality, fit) on every bundled data set
  with CPU scorers, wall times against the 60 s budget (its own table; no peer).

Other scripts in this folder measure overcoat against itself (cache, batching) and print their own tables.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import machine, table

MODULES = ["stats", "tiecal", "scoring", "models", "significance", "spa", "probes"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (about a minute in all)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--only", default="", help="comma-separated module names (stats, tiecal, ...)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = [n for n in args.only.split(",") if n] or MODULES
    rows = []
    own = []  # (script, its printed table) for scripts without collect()
    t0 = time.perf_counter()
    before = machine()
    for name in names:
        path = Path(__file__).resolve().parent / f"bench_{name}.py"
        if not path.exists():
            print(f"(bench_{name}.py: not present, skipped)", file=sys.stderr)
            continue
        if "def collect(" not in path.read_text():
            if args.quick:
                print(f"(bench_{name}.py has its own table; skipped with --quick)", file=sys.stderr)
                continue
            print(f"running bench_{name}.py ...", file=sys.stderr, flush=True)
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    [
                        str(Path(__file__).resolve().parents[1] / "src"),
                        os.environ.get("PYTHONPATH", ""),
                    ]
                ),
            }
            res = subprocess.run(
                [sys.executable, str(path)], capture_output=True, text=True, env=env
            )
            own.append((f"bench_{name}.py", res.stdout + (res.stderr if res.returncode else "")))
            continue
        mod = importlib.import_module(f"bench_{name}")
        print(f"running bench_{name} ...", file=sys.stderr, flush=True)
        rows += mod.collect(args.quick)
    print(table(rows, args.markdown))
    for name, text in own:
        print(f"\n{name}:\n{text.rstrip()}")
    print(
        f"\nmachine at the start: {before}\nmachine at the end:   {machine()}\n"
        f"whole run {time.perf_counter() - t0:.0f} s{' (--quick)' if args.quick else ''}"
    )


if __name__ == "__main__":
    main()
