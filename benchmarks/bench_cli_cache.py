"""End-to-end: `overcoat score` on bundled TED en-de with BLEU, chrF and TER, fresh vs cached.

Prints wall times of the whole command (process start, data load, scoring, writing) and of the
scoring stage alone (from the library, same inputs), with the fresh/cached ratios.

    python benchmarks/bench_cli_cache.py
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCORERS = ["bleu", "chrf", "ter"]


def cli(cache: Path, out: Path) -> float:
    args = [
        sys.executable,
        "-m",
        "overcoat.cli",
        "score",
        "--data",
        "ted-ende",
        "--out",
        str(out),
        "--cache",
        str(cache),
        "-q",
    ]
    for s in SCORERS:
        args += ["--scorer", s]
    t = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t


def stage(cache: Path) -> float:
    from overcoat import api

    ds = api.load("ted-ende")
    t = time.perf_counter()
    api.score(ds, SCORERS, cache=str(cache), progress=False)
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        fresh_cli = cli(d / "a.sqlite", d / "a.parquet")
        cached_cli = min(cli(d / "a.sqlite", d / "b.parquet") for _ in range(3))
        fresh_stage = stage(d / "c.sqlite")
        cached_stage = min(stage(d / "c.sqlite") for _ in range(3))
    rows = [
        ("overcoat score (whole command)", fresh_cli, cached_cli),
        ("scoring stage (library)", fresh_stage, cached_stage),
    ]
    print(f"TED en-de, 6,877 responses, scorers {', '.join(SCORERS)}; {os.cpu_count()} CPUs")
    print(f"{'what':34} {'fresh s':>9} {'cached s':>9} {'ratio':>8}")
    for what, f, c in rows:
        print(f"{what:34} {f:9.2f} {c:9.3f} {f / c:7.0f}x")


if __name__ == "__main__":
    main()
