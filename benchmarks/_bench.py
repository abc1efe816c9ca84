"""Shared helpers of the benchmark scripts: rows, timing, the table, the machine line.

Every benchmark module defines ``collect(quick: bool) -> list[Row]`` (what ``run_all.py`` calls) and a
``__main__`` that prints its own table. A row compares overcoat with what a user would otherwise run on the
same inputs; ``equal`` says how the outputs were compared; ``ratio`` is peer seconds / ours seconds
(> 1: overcoat is faster). Times are whole runs (best of ``repeat`` where stated), never extrapolated unless
the row says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@dataclass
class Row:
    what: str
    n: str
    ours_s: float
    peer: str
    peer_s: float | None
    equal: str
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.peer_s is None or self.ours_s <= 0 else self.peer_s / self.ours_s


def timed(fn, repeat: int = 1):
    """(best wall seconds of ``repeat`` runs, result of the last run)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 0.01:
        return f"{s * 1000:.2f} ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s"


def machine() -> str:
    import numpy
    import scipy

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.machine()}, {cpus} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}"
    )


def table(rows: list[Row], markdown: bool = False) -> str:
    head = ["what", "n", "ours", "peer", "peer time", "ratio", "equal?"]
    body = []
    for r in rows:
        ratio = (
            "-" if r.ratio is None else f"{r.ratio:.1f}×" if r.ratio < 100 else f"{r.ratio:.0f}×"
        )
        body.append([r.what, r.n, fmt_s(r.ours_s), r.peer, fmt_s(r.peer_s), ratio, r.equal])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in b) + " |" for b in body]
        notes = [f"- {r.what}: {r.note}" for r in rows if r.note]
        return "\n".join(lines + ([""] + notes if notes else []))
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)
    ]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    notes = [f"- {r.what}: {r.note}" for r in rows if r.note]
    return "\n".join(out + ([""] + notes if notes else []))


def main(collect, doc: str) -> None:
    ap = argparse.ArgumentParser(description=doc.strip().split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a few seconds per row)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    rows = collect(args.quick)
    print(table(rows, args.markdown))
    print(f"\nmachine: {machine()}")
