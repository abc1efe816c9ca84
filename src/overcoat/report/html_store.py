"""The HTML view of ``overcoat leaderboard`` (its ``--json`` export, ``kind``: leaderboard): per
data set and statistic the latest value of each scorer with its 95% CI as a dot plot (best
first, the meta-eval leaderboard's plot) and a table with the export's columns; with
``--all-runs`` the history too (a table, and a line plot where a scorer has several runs).

Rendered from the export's rows only: values, CIs, clusters and the order are the store's
(:func:`overcoat.report.store.leaderboard_rows`); numbers are written as the terminal writes
them (:mod:`overcoat.report.store_tables`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import OvercoatError
from .html import CORRELATIONS, _figure, _finite, _p, _plot_context, _slug, ci_dot_svg
from .html_base import OKABE_ITO, Section, figure, svg_of, table_html
from .store import best_first
from .store_tables import _value, _when, empty_note

__all__ = ["KIND", "check_leaderboard", "leaderboard_sections"]

KIND = "leaderboard"

#: the fields of a row that the page reads, each a string
_TEXT_FIELDS = (
    "data_name",
    "data_hash",
    "level",
    "statistic",
    "variant",
    "scorer",
    "signature",
    "created_utc",
    "run_id",
    "run_signature",
)
_NUMBER_FIELDS = ("value", "ci_low", "ci_high")


def check_leaderboard(doc: Mapping[str, Any], where: str) -> None:
    """The fields the page reads, with their types; a one-line error naming the field."""
    rows = doc.get("rows")
    if not isinstance(rows, list):
        raise OvercoatError(f"{where}: field 'rows' missing or of the wrong type")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise OvercoatError(f"{where}: rows[{i}] is not an object")
        for k in _TEXT_FIELDS:
            if not isinstance(r.get(k), str):
                raise OvercoatError(f"{where}: rows[{i}]: field {k!r} missing or not a string")
        for k in _NUMBER_FIELDS:
            v = r.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise OvercoatError(f"{where}: rows[{i}]: field {k!r} is not a number")


def _all_runs(doc: Mapping[str, Any]) -> bool:
    q = doc.get("query")
    if isinstance(q, Mapping) and "all_runs" in q:
        return bool(q["all_runs"])
    return doc.get("best_known") == "all runs"


def _groups(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, list[Mapping[str, Any]]]:
    """Rows per (data set, data hash, level, statistic, variant), in the export's order (as the
    terminal's tables)."""
    out: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (r["data_name"], r["data_hash"], r["level"], r["statistic"], r["variant"])
        out.setdefault(key, []).append(r)
    return out


def _latest(rs: Sequence[Mapping[str, Any]], all_runs: bool) -> list[Mapping[str, Any]]:
    """One row per scorer signature: the export's rows as they are, or (``--all-runs``, rows per
    scorer newest first) each scorer's first row, then best value first, undefined last (the
    store's leaderboard order)."""
    if not all_runs:
        return list(rs)
    seen: set[tuple] = set()
    first = []
    for r in rs:
        k = (r["scorer"], r["signature"])
        if k not in seen:
            seen.add(k)
            first.append(r)
    return sorted(first, key=lambda r: best_first(r["value"]))


def _names(rs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Scorer names, with the signature where one name has several signatures in the group."""
    sigs: dict[str, set[str]] = {}
    for r in rs:
        sigs.setdefault(r["scorer"], set()).add(r["signature"])
    return [
        r["scorer"] + (f" ({r['signature']})" if len(sigs[r["scorer"]]) > 1 else "") for r in rs
    ]


def _cell(x: Any) -> str:
    return "" if x is None else str(x)


def _group_section(key: tuple, rs: Sequence[Mapping[str, Any]], all_runs: bool) -> Section:
    name, dhash, level, stat, variant = key
    how = f"{level}" + (f", {variant}" if variant else "")
    latest = _latest(rs, all_runs)
    parts = [_p(f"data set {name}, data hash {dhash}; {stat} ({how})")]
    n_plots = 0
    plotted = [r for r in latest if _finite(r.get("value"))]
    if plotted:
        svg = ci_dot_svg(
            _names(plotted),
            [float(r["value"]) for r in plotted],
            [(r.get("ci_low"), r.get("ci_high")) for r in plotted],
            xlabel=f"{stat} (95% CI)",
            title=f"{name}: {stat} per scorer with 95% CI (latest run)",
            zero_line=stat in CORRELATIONS
            or stat.startswith("system_")
            or any(float(r["value"]) < 0 for r in plotted),
        )
        parts.append(
            _figure(
                svg,
                f"{stat} of each scorer's latest run with its 95% confidence interval, best "
                "first. Values come from different runs: compare them with their CIs.",
            )
        )
        n_plots += 1
    left_out = [n for r, n in zip(latest, _names(latest)) if not _finite(r.get("value"))]
    if left_out:
        parts.append(_p(f"not plotted ({stat} undefined): {', '.join(left_out)}"))
    headers = [
        "scorer",
        "value [95% CI]",
        "#",
        "rank",
        "n",
        "recorded (UTC)",
        "run",
        "command",
        "scorer signature",
    ]
    numeric = [False, True, True, True, True, False, False, False, False]

    def row(r: Mapping[str, Any]) -> list[str]:
        return [
            r["scorer"],
            _value(r),
            _cell(r.get("cluster")),
            _cell(r.get("rank")),
            _cell(r.get("n")),
            _when(r["created_utc"]),
            r["run_id"][:8],
            _cell(r.get("command")),
            r["signature"],
        ]

    parts.append(
        table_html(
            headers,
            [row(r) for r in latest],
            caption=f"{name} — {stat}: latest run per scorer",
            numeric=numeric,
        )
    )
    if all_runs:
        svg_h = _history_svg(name, stat, rs)
        if svg_h:
            parts.append(
                _figure(svg_h, f"{stat} of each scorer over its runs (oldest left), 95% CI.")
            )
            n_plots += 1
        parts.append(
            table_html(
                headers,
                [row(r) for r in rs],
                caption=f"{name} — {stat}: every run (per scorer, newest first)",
                numeric=numeric,
            )
        )
    # the runs behind these rows: the export's remaining columns
    runs: dict[str, Mapping[str, Any]] = {}
    for r in rs:
        runs.setdefault(r["run_id"], r)
    parts.append(
        table_html(
            [
                "run id",
                "recorded (UTC)",
                "run signature",
                "command line",
                "overcoat version",
                "seed",
            ],
            [
                [
                    k,
                    r["created_utc"],
                    r["run_signature"],
                    _cell(r.get("command_line")),
                    _cell(r.get("overcoat_version")),
                    _cell(r.get("seed")),
                ]
                for k, r in runs.items()
            ],
            caption=f"{name} — {stat}: runs",
        )
    )
    title = f"{name} — {stat} ({how})"
    return Section(f"lb-{_slug(name)}-{_slug(stat)}", title, "".join(parts), n_plots=n_plots)


def _history_svg(name: str, stat: str, rs: Sequence[Mapping[str, Any]]) -> str | None:
    """One line per scorer over the group's runs in time order (x: the run's recording time),
    where some scorer has two or more runs with a value."""
    times = sorted({r["created_utc"] for r in rs})
    at = {t: i for i, t in enumerate(times)}
    series: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rs:
        if _finite(r.get("value")):
            series.setdefault((r["scorer"], r["signature"]), []).append(r)
    if not any(len(v) > 1 for v in series.values()):
        return None
    labels = dict(zip([(r["scorer"], r["signature"]) for r in rs], _names(rs)))
    with _plot_context():
        fig, ax = figure(6.4, 3.2)
        for k, (key, pts) in enumerate(series.items()):
            pts = sorted(pts, key=lambda r: r["created_utc"])
            xs = [at[r["created_utc"]] for r in pts]
            ys = [float(r["value"]) for r in pts]
            col = OKABE_ITO[k % len(OKABE_ITO)]
            lo = [
                y - float(r["ci_low"]) if _finite(r.get("ci_low")) else 0.0 for y, r in zip(ys, pts)
            ]
            hi = [
                float(r["ci_high"]) - y if _finite(r.get("ci_high")) else 0.0
                for y, r in zip(ys, pts)
            ]
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                color=col,
                marker="o",
                markersize=5,
                capsize=3,
                linewidth=1.4,
                label=labels[key],
            )
        ticks = [_when(t) for t in times]
        if len(set(ticks)) < len(ticks):  # runs within one minute: to the second
            ticks = [t[:19].replace("T", " ") for t in times]
        ax.set_xticks(range(len(times)), labels=ticks, rotation=30, ha="right")
        ax.set_xlim(-0.5, len(times) - 0.5)
        ax.set_ylabel(f"{stat} (95% CI)")
        ax.legend(fontsize=8, frameon=False)
        return svg_of(fig, f"{name}: {stat} per scorer over runs")


def leaderboard_sections(doc: Mapping[str, Any]) -> list[Section]:
    """One section "Leaderboard across runs" (the store, the query), a subsection per data set
    and statistic; with no rows, the terminal's note on why."""
    rows = doc["rows"]
    all_runs = _all_runs(doc)
    q = doc.get("query")
    query: Mapping[str, Any] = q if isinstance(q, Mapping) else {}
    facts = [f"results store {doc.get('store', '-')}", f"best known: {doc.get('best_known', '-')}"]
    asked = [f"--{f} {query[f]}" for f in ("data", "stat", "scorer") if query.get(f)]
    if asked:
        facts.append("filters: " + ", ".join(asked))
    parts = [_p("; ".join(facts))]
    if not rows:
        if "n_stored" in doc:
            note = empty_note(
                doc.get("store", "-"), doc.get("n_stored"), doc.get("data_names") or [], query
            )
        else:
            note = "no rows in this leaderboard export"
        parts.append(_p(note))
        return [Section("leaderboard-across-runs", "Leaderboard across runs", "".join(parts))]
    parts.append(
        '<ul class="legend">'
        + "".join(
            f"<li>{html.escape(x)}</li>"
            for x in (
                "# = significance cluster within its own run (across runs compare values and "
                "CIs); rank = rank within its own run",
                "run = run id (first 8 characters); the runs table gives each run's "
                "signature, command line, overcoat version and seed",
            )
        )
        + "</ul>"
    )
    subs = [_group_section(k, rs, all_runs) for k, rs in _groups(rows).items()]
    return [
        Section(
            "leaderboard-across-runs", "Leaderboard across runs", "".join(parts), subsections=subs
        )
    ]
