"""``overcoat leaderboard``: the results store's best-known results as terminal tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.markup import escape
from rich.table import Table

from .console import _num


def _value(r: Mapping) -> str:
    s = _num(r.get("value"))
    if r.get("ci_low") is not None and r.get("ci_high") is not None:
        s += f" [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
    return s


def _when(utc: str) -> str:
    """``2026-11-30T23:06:10.123456+00:00`` -> ``2026-11-30 23:06``."""
    return utc[:16].replace("T", " ")


def empty_note(
    store: object, n_stored: int | None, data_names: Sequence[str], query: Mapping
) -> str:
    """Why the leaderboard has no rows (plain text; the terminal and the HTML page say the
    same): nothing recorded yet in ``store``, or nothing matches the query's filters."""
    if not n_stored:
        return (
            f"no results recorded yet in {store}: overcoat run, meta-eval, compare, "
            "translation-pairs and fit record theirs there"
        )
    asked = ", ".join(f"--{f} {query[f]}" for f in ("data", "stat", "scorer") if query.get(f))
    return f"no results match {asked} in {store}; data sets recorded: {', '.join(data_names)}"


def store_tables(rows: Sequence[Mapping], *, all_runs: bool = False) -> list[Table]:
    """One table per (data set, statistic): rows as :func:`overcoat.report.store.
    leaderboard_rows` orders them (best first; with ``all_runs``, per scorer newest first)."""
    groups: dict[tuple, list[Mapping]] = {}
    for r in rows:
        key = (r["data_name"], r["data_hash"], r["level"], r["statistic"], r["variant"])
        groups.setdefault(key, []).append(r)
    tables = []
    for (name, dhash, level, stat, variant), rs in groups.items():
        how = f"{level}" + (f", {variant}" if variant else "")
        t = Table(
            title=f"{escape(name)} ({escape(dhash)}) — {escape(stat)} ({escape(how)})"
            + (": every run" if all_runs else ": latest run per scorer")
        )
        t.add_column("scorer")
        t.add_column("value [95% CI]", justify="right", no_wrap=True)
        t.add_column("#", justify="right")
        t.add_column("n", justify="right")
        t.add_column("recorded (UTC)")
        t.add_column("run")
        t.add_column("scorer signature", overflow="fold")
        for r in rs:
            t.add_row(
                escape(r["scorer"]),
                _value(r),
                "" if r.get("cluster") is None else str(r["cluster"]),
                "" if r.get("n") is None else str(r["n"]),
                _when(r["created_utc"]),
                r["run_id"][:8],
                escape(r["signature"]),
            )
        runs = {r["run_id"][:8]: r["run_signature"] for r in rs}
        t.caption = "\n".join(
            [
                "# = significance cluster within its own run (across runs compare values and "
                "CIs); run = run id (first 8 characters), with its signature:",
                *(f"{k}: {escape(v)}" for k, v in runs.items()),
            ]
        )
        tables.append(t)
    return tables
