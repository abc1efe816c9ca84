"""The translation-pairs leaderboard (``overcoat translation-pairs``), from its JSON document."""

from __future__ import annotations

from typing import cast

from rich.markup import escape
from rich.table import Table

from ..evaluation.schema import Estimate
from .console import _num, _with_ci

BUCKET_LABELS = {"all": "all pairs", "easy": "easy", "hard": "hard"}


def translation_pairs_table(doc: dict) -> Table:
    """One row per scorer, best first by accuracy on all pairs: per bucket the significance
    cluster and the pair accuracy with its 95% CI; then the scorer's tie share on all pairs."""
    d, st, buckets = doc["data"], doc["settings"], doc["buckets"]
    mg, eg = st["min_gap"], st["easy_gap"]

    def of(n: int, found: int | None) -> str:
        return f"{n}" if found is None or found == n else f"{n} of {found}"

    sampled = d.get("n_pairs_found") not in (None, d["n_pairs"])
    title = (
        f"{d['name']} — translation pairs: {of(d['n_pairs'], d.get('n_pairs_found'))} pairs "
        f"{'(seeded sample) ' if sampled else ''}from {buckets['all']['n_segments']} segments; "
        f"easy {of(d['n_easy'], d.get('n_easy_found'))} (MQM gap ≥ {mg_fmt(eg)}), "
        f"hard {of(d['n_hard'], d.get('n_hard_found'))} ({mg_fmt(mg)} < gap < {mg_fmt(eg)})"
    )
    t = Table(title=title)
    t.add_column("scorer")
    shown = [b for b in ("all", "easy", "hard") if buckets[b]["n_pairs"]]
    for b in shown:
        t.add_column("#", justify="right")
        t.add_column(f"{BUCKET_LABELS[b]} [95% CI]", justify="right")
    t.add_column("ties", justify="right")
    rows = buckets["all"]["scorers"]

    def key(name):
        v = rows[name]["statistic"]
        return -(v if v is not None else -1.0)

    for name in sorted(rows, key=key):
        cells = [escape(name)]
        for b in shown:
            e = dict(buckets[b]["scorers"].get(name) or {})
            c = e.get("cluster")
            cells += [str(c) if c is not None else "", _with_ci(cast(Estimate, e), 3)]
        a = rows[name]
        cells.append(_num(a["n_ties"] / a["n_pairs"], 3) if a.get("n_pairs") else "–")
        t.add_row(*cells)
    tie_rule = "counts wrong" if st["ties"] == "strict" else "counts ½"
    t.caption = "\n".join(
        [
            "accuracy = share of pairs where the scorer rates the lower-MQM-error translation "
            f"strictly higher (a scorer tie {tie_rule}, a missing score counts wrong)",
            f"95% CIs: bootstrap over segments ({st['n_resamples']} resamples, seed "
            f"{st['seed']}); # = significance cluster per bucket (paired permutation test, "
            f"whole segments swapped; raw p ≤ {st['alpha']})",
            "ties = share of all pairs the scorer scores equal",
        ]
    )
    return t


def mg_fmt(x: float) -> str:
    return f"{x:g}"
