"""Fresh vs cached scoring time (chrF on WMT21 TED en-de MQM) and raw cache throughput.

    python benchmarks/bench_cache.py [--repeats 5] [--keys 100000]

Prints a table. The cached path is what every re-run of ``overcoat`` pays: hash the rows, one
bulk SELECT, scatter. Target: cached at least 50x faster than fresh.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time

import numpy as np

from overcoat.scorers.cache import ScoreCache, content_key
from overcoat.scorers.engine import score_dataset
from overcoat.scorers.registry import get_scorer

TSV = "/work/shared/data/wmt21-ted-mqm/mqm_ted_ende.tsv"


def load_ted_ende():
    """The data set via the library's loader; else built here from the raw TSV."""
    try:
        from overcoat.data.spec import load_data

        return load_data("ted-ende"), "load_data('ted-ende')"
    except Exception as e:  # noqa: BLE001 - fall back to the raw file
        print(
            f"(load_data unavailable: {type(e).__name__}: {e}; building from {TSV})",
            file=sys.stderr,
        )
    import csv

    from overcoat.data.builder import DatasetBuilder

    mark = re.compile(r"</?v>")
    src, ref, hyp = {}, {}, {}
    with open(TSV, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            seg, sys_ = row["seg_id"], row["system"]
            src.setdefault(seg, mark.sub("", row["source"]))
            text = mark.sub("", row["target"])
            (ref if sys_ == "ref" else hyp).setdefault((seg, sys_), text)
    b = DatasetBuilder("ted-ende", path=TSV)
    for seg in sorted(src, key=int):
        b.add_item(seg, src[seg], references=[v for (s, _), v in ref.items() if s == seg])
    for (seg, sys_), text in sorted(hyp.items(), key=lambda kv: (int(kv[0][0]), kv[0][1])):
        if text.strip():
            b.add_response(seg, sys_, text)
    return b.build(), TSV


def timed(fn, repeats: int):
    ts, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return out, ts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keys", type=int, default=100_000)
    a = ap.parse_args(argv)

    ds, origin = load_ted_ende()
    scorer = get_scorer("chrf")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "scores.sqlite")
        fresh, t_fresh = timed(lambda: score_dataset(ds, scorer, cache=path), 1)
        assert fresh.n_scored == fresh.n_unique
        cached, t_cached = timed(lambda: score_dataset(ds, scorer, cache=path), a.repeats)
        assert cached.n_scored == 0 and np.array_equal(cached.scores, fresh.scores, equal_nan=True)
        nocache, t_nocache = timed(lambda: score_dataset(ds, scorer, cache=None), 1)
        assert np.array_equal(nocache.scores, fresh.scores, equal_nan=True)
        best = min(t_cached)
        rows += [
            ("data", origin),
            ("scorer signature", fresh.signature),
            ("responses (distinct)", f"{fresh.n_total} ({fresh.n_unique})"),
            ("no cache, s", f"{t_nocache[0]:.3f}"),
            ("fresh (score + write cache), s", f"{t_fresh[0]:.3f}"),
            (
                f"cached, s (best / median of {a.repeats})",
                f"{best:.4f} / {statistics.median(t_cached):.4f}",
            ),
            ("ratio fresh / cached", f"{t_fresh[0] / best:.0f}x"),
        ]

        # raw cache throughput on synthetic keys
        c = ScoreCache(os.path.join(d, "raw.sqlite"))
        n = a.keys
        t = time.perf_counter()
        keys = [content_key(f"input {i}", f"response {i}", [f"ref {i}"]) for i in range(n)]
        t_hash = time.perf_counter() - t
        vals = np.random.default_rng(0).random(n)
        _, t_put = timed(
            lambda: [
                c.put_many("sig", keys[s : s + 64], vals[s : s + 64]) for s in range(0, n, 64)
            ],
            1,
        )
        c.put_many("other", keys, vals)  # a second signature, so the probe path is used
        got, t_get = timed(lambda: c.get_many("sig", keys), 3)
        assert len(got) == n
        sub = keys[::10]
        _, t_get_sub = timed(lambda: c.get_many("sig", sub), 3)
        c.close()
        rows += [
            (f"hash {n:,} rows (content_key), s", f"{t_hash:.3f}"),
            (f"put {n:,} in batches of 64 (1 commit each), s", f"{t_put[0]:.3f}"),
            (f"get_many {n:,} keys (one call), s", f"{min(t_get):.3f}"),
            (f"get_many {len(sub):,} of {n:,} keys, s", f"{min(t_get_sub):.3f}"),
        ]

    w = max(len(k) for k, _ in rows)
    print(f"{'measure':<{w}}  value")
    print(f"{'-' * w}  {'-' * 40}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
