"""The HTML report: one self-contained ``index.html`` (styles inlined, plots as inline SVG, no
script, no external URL of any kind) rendered from the JSON documents of overcoat's commands.

:func:`sections_for` turns one document into page sections: meta-eval documents (``overcoat
meta-eval``, ``compare``, ``run``) here, the pitfall documents (``kind``: probe, calibrate,
overopt, quality, fit, translation-pairs) in :mod:`overcoat.report.html_pitfalls`.
:func:`render_report` lays the sections out with the Jinja templates in ``templates/``;
:func:`write_report` writes ``DIR/index.html`` atomically. Nothing here recomputes a statistic:
every number on the page is read from a document (the leaderboard's order and marks follow
:mod:`overcoat.report.console`, so the page and the terminal agree).
"""

from __future__ import annotations

import html
import importlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..data.io import atomic_write
from ..errors import OvercoatError
from .console import LABELS, leaderboard_legend, leaderboard_order, ranking_note
from .html_base import OKABE_ITO, Section, figure, fmt, fmt_ci, svg_of, table_html

__all__ = [
    "PITFALL_KINDS",
    "expand_docs",
    "load_docs",
    "metaeval_sections",
    "render_report",
    "sections_for",
    "write_report",
]

#: the ``kind`` of the documents that :mod:`overcoat.report.html_pitfalls` renders
PITFALL_KINDS = ("probe", "calibrate", "overopt", "quality", "fit", "translation-pairs")
#: ``overcoat leaderboard --json`` (the results store), rendered by :mod:`.html_store`
LEADERBOARD_KIND = "leaderboard"

DIGITS = 4  # as the terminal tables
ORIGIN = "__origin__"  # where a loaded document came from (error messages only)
CORRELATIONS = ("pearson", "kendall_tau_b", "spearman", "kendall_tau_a", "kendall_tau_c")


# --- documents ------------------------------------------------------------------------------


def is_metaeval(doc: Mapping[str, Any]) -> bool:
    return isinstance(doc, Mapping) and "segment_level" in doc and "scorers" in doc


def expand_docs(obj: Any, where: str = "document") -> list[dict]:
    """The documents in one parsed JSON file: a meta-eval or pitfall document, or ``run.json``
    of ``overcoat run`` (its ``results``: data set name -> meta-eval document)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("results"), Mapping) and "kind" not in obj:
        docs = [dict(d) for d in obj["results"].values()]
        if not docs or not all(is_metaeval(d) for d in docs):
            raise OvercoatError(f"{where}: 'results' does not hold meta-eval documents")
        return docs
    if isinstance(obj, Mapping) and (
        is_metaeval(obj) or obj.get("kind") in (*PITFALL_KINDS, LEADERBOARD_KIND)
    ):
        return [dict(obj)]
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    what = f"a {kind!r} document" if kind else "not a meta-eval, pitfall or run.json document"
    raise OvercoatError(
        f"{where}: {what}; the report renders meta-eval, compare, run.json, "
        f"{', '.join(PITFALL_KINDS)} and leaderboard documents"
    )


def load_docs(paths: Sequence[str | Path]) -> list[dict]:
    """Read and check every file first (one-line error naming the file otherwise). Each
    document remembers its file (``ORIGIN`` key, dropped when rendered) for error messages."""
    docs: list[dict] = []
    for p in paths:
        try:
            text = Path(p).read_text(encoding="utf-8")
        except OSError as e:
            raise OvercoatError(f"{p}: cannot read ({e.strerror or e})") from None
        except UnicodeDecodeError:
            raise OvercoatError(f"{p}: not UTF-8 text") from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise OvercoatError(f"{p}: line {e.lineno}: invalid JSON ({e.msg})") from None
        found = expand_docs(obj, str(p))
        for i, d in enumerate(found):
            where = str(p) if len(found) == 1 else f"{p}: document {i + 1}"
            if is_metaeval(d):
                _check_metaeval(d, where)
            elif d.get("kind") == LEADERBOARD_KIND:
                importlib.import_module(".html_store", __package__).check_leaderboard(d, where)
            d[ORIGIN] = where
        docs.extend(found)
    return docs


def _check_metaeval(doc: Mapping[str, Any], where: str) -> None:
    """Fields the page reads, with their types; a one-line error naming the field otherwise."""
    for key, typ in (
        ("data", Mapping),
        ("scorers", list),
        ("segment_level", Mapping),
        ("system_level", Mapping),
        ("settings", Mapping),
        ("primary_statistic", str),
    ):
        if not isinstance(doc.get(key), typ):
            raise OvercoatError(f"{where}: field {key!r} missing or of the wrong type")
    for s in doc["scorers"]:
        if not isinstance(s, Mapping) or not isinstance(s.get("name"), str):
            raise OvercoatError(f"{where}: field 'scorers': an entry without a 'name'")
    if not isinstance(doc["data"].get("name"), str):
        raise OvercoatError(f"{where}: field 'data.name' missing")


def sections_for(doc: Mapping[str, Any]) -> list[Section]:
    """The page sections of one document: meta-eval here, pitfall kinds in html_pitfalls, the
    results store's leaderboard in html_store."""
    if doc.get("kind") in PITFALL_KINDS:
        # imported when needed (matplotlib-heavy), by name: html_pitfalls is its own module
        pitfalls = importlib.import_module(".html_pitfalls", __package__)
        return pitfalls.pitfall_sections(doc)
    if doc.get("kind") == LEADERBOARD_KIND:
        return importlib.import_module(".html_store", __package__).leaderboard_sections(doc)
    if is_metaeval(doc):
        return metaeval_sections(doc)
    raise OvercoatError(f"no HTML view for a {doc.get('kind', 'unknown')!r} document")


# --- helpers --------------------------------------------------------------------------------


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "x"


def _label(stat: str) -> str:
    return LABELS.get(stat, stat)


def _num(x: Any) -> str:
    return fmt(x, DIGITS)


def _ci(e: Mapping[str, Any] | None) -> str:
    return fmt_ci(e, DIGITS)


def _p(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{html.escape(text)}</p>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _plot_context():
    """Scorer names are data, not TeX: no mathtext (a ``$`` in a name stays a ``$``)."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False, "font.size": 9})


# --- meta-eval ------------------------------------------------------------------------------


def metaeval_sections(doc: Mapping[str, Any]) -> list[Section]:
    """One section per meta-eval document (one data set): leaderboard (plot and table), system
    level, significance matrix (heat map and table), the benchmark's own breakdowns, notes."""
    data = doc["data"]
    name = str(data["name"])
    base = "metaeval-" + _slug(name)
    subs: list[Section] = []
    seg = doc.get("segment_level") or {}
    if any(seg.values()):
        subs.append(_leaderboard(doc, base + "-leaderboard"))
    if any((doc.get("system_level") or {}).values()):
        subs.append(_system(doc, base + "-system"))
    if doc.get("significance"):
        subs.append(_significance(doc, base + "-significance"))
    subs.extend(_benchmark(doc, base + "-breakdown"))
    notes = [str(n) for n in doc.get("notes") or []]
    if notes:
        body = '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
        subs.append(Section(base + "-notes", "Notes", body))
    kind = data.get("judgment_kind")
    facts = [
        f"{data.get('n_items')} items",
        f"{data.get('n_responses')} responses",
        f"{data.get('n_pairs')} human-judged pairs",
    ]
    if data.get("n_systems"):
        facts.append(f"{data['n_systems']} systems")
    if data.get("gold_tie_rate") is not None:
        facts.append(f"gold ties {fmt(data['gold_tie_rate'], 3)}")
    if data.get("sampled_items"):
        facts.append(f"sampled: {data['sampled_items']}")
    intro = _p(
        f"{kind or 'human'} judgments; " + ", ".join(facts) + f"; source {data.get('source')}.",
        "lead",
    )
    return [
        Section(
            base,
            f"{name}: meta-evaluation",
            intro,
            n_plots=0,
            subsections=subs,
        )
    ]


def _no_signal(doc: Mapping[str, Any], stat: str) -> set[str]:
    rk = doc.get("ranking") or {}
    return set((rk.get("at_no_signal") or {}).get(stat, []))


def _leaderboard(doc: Mapping[str, Any], anchor: str) -> Section:
    primary = str(doc["primary_statistic"])
    seg = doc["segment_level"]
    order = leaderboard_order(doc)  # type: ignore[arg-type]
    scorers = {s["name"]: s for s in doc["scorers"]}
    no_signal = _no_signal(doc, primary)
    extra: list[str] = []
    for n in seg:
        for k in seg[n] or {}:
            if k != primary and k not in extra:
                extra.append(k)
    cov = {n: scorers[n].get("coverage") for n in order}
    partial = {n for n, c in cov.items() if c and c.get("scored", 0) < c.get("total", 0)}
    clusters = {n: scorers[n].get("cluster") for n in order}
    has_clusters = any(c is not None for c in clusters.values())
    # ⚑ on the plot and a grey row only where the ranking statistic itself is degenerate
    all_ties = (
        {n for n in order if ((seg.get(n) or {}).get("acc_eq") or {}).get("all_ties")}
        if primary == "acc_eq"
        else set()
    )

    parts: list[str] = []
    note = ranking_note(doc)  # type: ignore[arg-type]
    if note:
        parts.append(_p(note))
    n_plots = 0
    plotted = [
        n for n in order if _finite(((seg.get(n) or {}).get(primary) or {}).get("statistic"))
    ]
    if plotted:
        parts.append(
            _figure(
                _leaderboard_svg(doc, primary, plotted, clusters, no_signal, all_ties, partial),
                f"{_label(primary)} per scorer with its 95% confidence interval, best first. "
                + (
                    "Colour and shaded bands: significance clusters (1 = best). "
                    if has_clusters
                    else ""
                )
                + (
                    "Hollow marker: not distinguishable from a scorer without signal. "
                    if no_signal
                    else ""
                )
                + ("Marked 'partial': scored on part of the responses only." if partial else ""),
            )
        )
        n_plots = 1
    left_out = [n for n in order if n not in plotted]
    if left_out:
        parts.append(_p(f"not plotted ({_label(primary)} undefined): {', '.join(left_out)}"))

    headers = ["#", "scorer", f"{_label(primary)} [95% CI]"]
    numeric = [True, False, True]
    show_eps = "acc_eq" in extra or primary == "acc_eq"
    if "acc_eq" in extra:
        extra.remove("acc_eq")
        headers.append(_label("acc_eq"))
        numeric.append(True)
    if show_eps:
        headers += ["ε", "all-ties baseline"]
        numeric += [True, True]
    for k in extra:
        headers.append(f"{_label(k)} [95% CI]")
        numeric.append(True)
    if partial:
        headers.append("scored")
        numeric.append(True)
    rows, classes = [], []
    for n in order:
        row_seg = seg.get(n) or {}
        e = row_seg.get(primary)
        row: list[Any] = [
            clusters.get(n) or "",
            n,
            _ci(e) + (" ○" if n in no_signal else ""),
        ]
        if show_eps:
            a = row_seg.get("acc_eq")
            if primary != "acc_eq":
                row.append(_num(a.get("statistic")) if a else "-")
            row += [
                fmt(a.get("epsilon"), 3) if a else "-",
                (_num(a.get("all_ties_baseline")) + (" ⚑" if a.get("all_ties") else ""))
                if a
                else "-",
            ]
        row += [_ci(row_seg.get(k)) for k in extra]
        if partial:
            c = cov.get(n)
            row.append(f"{c['scored']}/{c['total']}" if c else "-")
        rows.append(row)
        cl = clusters.get(n)
        cls = []
        if cl is not None:
            cls += [f"cluster-{cl}", "cluster-odd" if cl % 2 else "cluster-even"]
        if n in no_signal or n in all_ties:
            cls.append("degenerate")
        if n in partial:
            cls.append("partial")
        classes.append(" ".join(cls))
    legend = leaderboard_legend(
        permute=(doc.get("significance") or {}).get("permute"),
        alpha=doc["settings"].get("alpha"),
        no_signal=bool(no_signal),
        all_ties=show_eps,
        partial=bool(partial),
        pref_acc="pairwise_accuracy_strict" in extra or primary == "pairwise_accuracy_strict",
        clusters=has_clusters,
    )
    parts.append(
        table_html(
            headers,
            rows,
            caption=f"Segment level, every statistic (ranked by {_label(primary)})",
            numeric=numeric,
            row_classes=classes,
        )
    )
    if legend:
        parts.append(
            '<ul class="legend">' + "".join(f"<li>{html.escape(x)}</li>" for x in legend) + "</ul>"
        )
    return Section(anchor, "Leaderboard", "".join(parts), n_plots=n_plots)


def _cluster_colour(c: int | None) -> str:
    return "#777777" if c is None else OKABE_ITO[(c - 1) % 6]


def _leaderboard_svg(
    doc: Mapping[str, Any],
    primary: str,
    names: list[str],
    clusters: Mapping[str, int | None],
    no_signal: set[str],
    all_ties: set[str],
    partial: set[str],
) -> str:
    seg = doc["segment_level"]
    labels = []
    for name in names:
        c = clusters.get(name)
        lab = (f"[{c}] " if c is not None else "") + name
        if name in partial:
            lab += " (partial)"
        if name in all_ties:
            lab += " ⚑"
        labels.append(lab)
    cis = []
    for name in names:
        ci = seg[name][primary].get("confidence_interval")
        cis.append((ci[0], ci[1]) if ci else None)
    return ci_dot_svg(
        labels,
        [float(seg[name][primary]["statistic"]) for name in names],
        cis,
        colours=[_cluster_colour(clusters.get(name)) for name in names],
        hollow=[name in no_signal or name in all_ties for name in names],
        bands=[clusters.get(name) for name in names],
        zero_line=primary in CORRELATIONS or primary.startswith("system_"),
        xlabel=f"{_label(primary)} (95% CI)",
        title=f"{doc['data']['name']}: {_label(primary)} per scorer with 95% CI",
    )


def ci_dot_svg(
    labels: Sequence[str],
    values: Sequence[float],
    cis: Sequence[tuple[Any, Any] | None],
    *,
    colours: Sequence[str] | None = None,
    hollow: Sequence[bool] | None = None,
    bands: Sequence[int | None] | None = None,
    zero_line: bool = False,
    xlabel: str,
    title: str,
) -> str:
    """The leaderboard plot: one row per entry (top to bottom in the given order), a dot at its
    value with its 95% CI as error bars (left out where an end is missing or not finite).
    ``colours`` per row (default blue); ``hollow`` rows get a white marker; ``bands``: a
    significance cluster per row, runs of an odd cluster shaded (as the table's rows);
    ``zero_line``: a vertical line at 0 (correlations)."""
    n = len(labels)
    cols = list(colours) if colours is not None else [OKABE_ITO[0]] * n
    with _plot_context():
        fig, ax = figure(6.4, 0.9 + 0.32 * n)
        ys = list(range(n))
        # shaded bands: runs of one significance cluster, every other cluster (as the table)
        runs: list[list[Any]] = []  # [first row, last row, cluster]
        for i, c in enumerate(bands if bands is not None else [None] * n):
            if runs and runs[-1][2] == c:
                runs[-1][1] = i
            else:
                runs.append([i, i, c])
        for first, last, c in runs:
            if isinstance(c, int) and c % 2:
                ax.axhspan(first - 0.5, last + 0.5, color="#eef3f8", zorder=0, linewidth=0)
        for y, v, ci, col, h in zip(ys, values, cis, cols, hollow or [False] * n):
            v = float(v)
            if ci and _finite(ci[0]) and _finite(ci[1]):
                ax.errorbar(
                    [v],
                    [y],
                    xerr=[[v - float(ci[0])], [float(ci[1]) - v]],
                    fmt="none",
                    ecolor=col,
                    elinewidth=1.6,
                    capsize=3,
                    zorder=2,
                )
            ax.plot(
                [v],
                [y],
                marker="o",
                markersize=6,
                color=col,
                markerfacecolor="white" if h else col,
                markeredgewidth=1.5,
                linestyle="none",
                zorder=3,
            )
        ax.set_yticks(ys, labels=list(labels))
        ax.set_ylim(n - 0.5, -0.5)
        if zero_line:
            ax.axvline(0.0, color="#999999", linewidth=0.8, zorder=1)
        ax.set_xlabel(xlabel)
        ax.grid(False, axis="y")
        return svg_of(fig, title)


def _system(doc: Mapping[str, Any], anchor: str) -> Section:
    sysl = doc["system_level"]
    keys: list[str] = []
    for n in sysl:
        for k in sysl[n] or {}:
            if k not in keys:
                keys.append(k)
    order = leaderboard_order(doc)  # type: ignore[arg-type]
    rows = [[n] + [_ci((sysl.get(n) or {}).get(k)) for k in keys] for n in order]
    n_sys = doc["data"].get("n_systems")
    t = table_html(
        ["scorer"]
        + [_label(k) + (" [95% CI]" if k != "soft_pairwise_accuracy" else "") for k in keys],
        rows,
        caption=f"System level ({n_sys} systems)",
        numeric=[False] + [True] * len(keys),
    )
    return Section(anchor, "System level", t)


def _matrix(x: Any, n: int) -> list[list[float | None]] | None:
    if not isinstance(x, list) or len(x) != n:
        return None
    out = []
    for row in x:
        if not isinstance(row, list) or len(row) != n:
            return None
        out.append([float(v) if _finite(v) else None for v in row])
    return out


def _significance(doc: Mapping[str, Any], anchor: str) -> Section:
    s = doc["significance"]
    names = [str(n) for n in s.get("names") or []]
    k = len(names)
    corrected = s.get("pvalues_corrected") is not None
    p = _matrix(s.get("pvalues_corrected") if corrected else s.get("pvalues"), k)
    alpha = s.get("alpha", 0.05)
    stat = _label(str(s.get("statistic")))
    what = f"{s.get('correction')}-corrected p-values" if corrected else "p-values (uncorrected)"
    parts = [
        _p(
            f"{what}: row better than column on {stat}; {s.get('test')}; "
            f"{s.get('n_resamples')} resamples, seed {s.get('seed')}; bold: p ≤ {alpha}."
        )
    ]
    n_plots = 0
    if p is None or k < 2:
        parts.append(_p("no p-value matrix in this document"))
        return Section(anchor, "Significance", "".join(parts))
    parts.append(
        _figure(
            _heatmap_svg(doc, names, p, alpha, what, stat),
            f"{what}, row better than column; darker = smaller p.",
        )
    )
    n_plots = 1
    head = ["row better than →"] + names
    body = []
    for i, a in enumerate(names):
        cells = []
        for j in range(k):
            v = p[i][j]
            cells.append("-" if i == j or v is None else fmt(v, 3))
        body.append([a] + cells)
    tab = table_html(head, body, caption=what, numeric=[False] + [True] * k)
    # bold the significant cells (the table helper escapes; mark them after)
    tab = _bold_significant(tab, p, alpha)
    parts.append(tab)
    clusters = s.get("clusters") or []
    if clusters:
        parts.append(
            "<p>Clusters ("
            + html.escape(str(s.get("clusters_from") or "raw p-values"))
            + "): "
            + "; ".join(
                f"<b>{i + 1}</b>: " + html.escape(", ".join(str(x) for x in c))
                for i, c in enumerate(clusters)
            )
            + "</p>"
        )
    return Section(anchor, "Significance", "".join(parts), n_plots=n_plots)


def _bold_significant(tab: str, p: list[list[float | None]], alpha: float) -> str:
    rows = tab.split("<tr>")
    # rows[0]: before the header row; rows[1]: header; rows[2:]: body rows in order
    for i in range(len(p)):
        cells = rows[i + 2].split('<td class="num">')
        for j in range(len(p)):
            v = p[i][j]
            if i != j and v is not None and v <= alpha:
                c = cells[j + 1]
                end = c.index("</td>")
                cells[j + 1] = "<b>" + c[:end] + "</b>" + c[end:]
        rows[i + 2] = '<td class="num">'.join(cells)
    return "<tr>".join(rows)


def _heatmap_svg(
    doc: Mapping[str, Any],
    names: list[str],
    p: list[list[float | None]],
    alpha: float,
    what: str,
    stat: str,
) -> str:
    import numpy as np

    k = len(names)
    arr = np.array(
        [[np.nan if v is None or i == j else v for j, v in enumerate(r)] for i, r in enumerate(p)]
    )
    side = min(7.0, 1.6 + 0.55 * k)
    with _plot_context():
        fig, ax = figure(side + 1.2, side)
        ax.grid(False)
        cmap = _cmap()
        # vector cells (pcolormesh), not a raster image: sharp in print, no embedded PNG
        im = ax.pcolormesh(
            np.arange(k + 1) - 0.5,
            np.arange(k + 1) - 0.5,
            np.ma.masked_invalid(arr),
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            edgecolors="white",
            linewidth=0.5,
        )
        ax.set_xlim(-0.5, k - 0.5)
        ax.set_ylim(k - 0.5, -0.5)
        ax.set_aspect("equal")
        if k <= 16:
            for i in range(k):
                for j in range(k):
                    v = arr[i, j]
                    if np.isnan(v):
                        continue
                    ax.text(
                        j,
                        i,
                        f"{v:.3f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if v < 0.45 else "black",
                        fontweight="bold" if v <= alpha else "normal",
                    )
        ax.set_xticks(range(k), labels=names, rotation=45, ha="right")
        ax.set_yticks(range(k), labels=names)
        for side_ in ("left", "bottom"):
            ax.spines[side_].set_visible(False)
        ax.set_xlabel("column (worse)")
        ax.set_ylabel("row (better)")
        fig.colorbar(im, ax=ax, shrink=0.8, label="p")
        return svg_of(fig, f"{doc['data']['name']}: {what} on {stat}")


def _cmap():
    from matplotlib.colors import LinearSegmentedColormap

    # dark blue (small p) to white (p = 1): one hue, readable in grey and by colour-blind readers
    # 20 steps of 0.05: the colour bar is then vector too (matplotlib rasterises a colour bar
    # of 50 colours or more into an embedded PNG)
    return LinearSegmentedColormap.from_list(
        "p", ["#08306b", "#2171b5", "#9ecae1", "#ffffff"], N=20
    )


def _benchmark(doc: Mapping[str, Any], anchor: str) -> list[Section]:
    """The benchmark's own breakdowns (per subset / section / domain / source), as tables and
    one plot per breakdown: every number read from ``benchmark_rules``."""
    rules = {str(k): dict(v) for k, v in (doc.get("benchmark_rules") or {}).items()}
    if not rules:
        return []
    ok = {n: r for n, r in rules.items() if "error" not in r}
    first = next(iter(ok.values()), {})
    rule = str(first.get("rule", "benchmark rule"))
    parts = []
    errors = {n: r["error"] for n, r in rules.items() if "error" in r}
    for n, e in errors.items():
        parts.append(_p(f"{n}: the rule could not run: {e}"))
    totals = [k for k, v in first.items() if _finite(v) or v is None and k.startswith("overall")]
    totals = [k for k in totals if not k.startswith("n_")]
    if totals:
        parts.append(
            table_html(
                ["scorer"] + [t.replace("_", " ") for t in totals],
                [[n] + [_num(r.get(t)) for t in totals] for n, r in ok.items()],
                caption=f"{rule}: overall scores",
                numeric=[False] + [True] * len(totals),
            )
        )
    n_plots = 0
    groups = [
        k
        for k, v in first.items()
        if isinstance(v, Mapping)
        and v
        and all(_finite(x) or x is None for x in v.values())
        and not k.endswith("_counts")
    ]
    for g in groups:
        keys: list[str] = []
        for r in ok.values():
            for k in r.get(g) or {}:
                if k not in keys:
                    keys.append(k)
        counts = first.get(g[:-1] + "_counts") or first.get(g.rstrip("s") + "_counts") or {}
        if g.startswith("domain_"):
            counts = first.get("domain_counts") or {}
        head = [g.replace("_", " ")] + (["n"] if counts else []) + list(ok)
        rows = [
            [k]
            + ([counts.get(k, "")] if counts else [])
            + [_num((r.get(g) or {}).get(k)) for r in ok.values()]
            for k in keys
        ]
        parts.append(
            table_html(
                head,
                rows,
                caption=f"{rule}: {g.replace('_', ' ')}",
                numeric=[False] + ([True] if counts else []) + [True] * len(ok),
            )
        )
        if g in ("subsets", "sections", "domains", "sources") and len(keys) >= 2 and ok:
            parts.append(
                _figure(
                    _grouped_bars_svg(doc, rule, g, keys, ok),
                    f"{rule}: {g} per scorer (numbers in the table above).",
                )
            )
            n_plots += 1
    for n, r in ok.items():
        m = r.get("matrix")
        styles = r.get("styles") or first.get("styles")
        if isinstance(m, list) and styles and len(m) == len(styles):
            parts.append(
                table_html(
                    ["chosen \\ rejected"] + [str(s) for s in styles],
                    [[str(s)] + [_num(x) for x in row] for s, row in zip(styles, m)],
                    caption=f"RM-Bench style matrix, {n} (mean over domains; easy = below the "
                    "diagonal, normal = diagonal, hard = above)",
                    numeric=[False] + [True] * len(styles),
                )
            )
    if not parts:
        return []
    return [Section(anchor, f"Breakdown: {rule}", "".join(parts), n_plots=n_plots)]


def _grouped_bars_svg(
    doc: Mapping[str, Any], rule: str, group: str, keys: list[str], rules: Mapping[str, Any]
) -> str:
    k, m = len(keys), len(rules)
    height = min(9.0, 1.0 + 0.22 * k * max(1, m) ** 0.5 + 0.2 * m)
    with _plot_context():
        fig, ax = figure(6.4, height)
        width = 0.8 / m
        for j, (name, r) in enumerate(rules.items()):
            vals = [(r.get(group) or {}).get(key) for key in keys]
            # an undefined value gets no bar (never a bar at 0); the table shows "-"
            ys = [i - 0.4 + width * (j + 0.5) for i, v in enumerate(vals) if _finite(v)]
            xs = [float(v) for v in vals if v is not None and _finite(v)]
            ax.barh(ys, xs, height=width * 0.9, color=OKABE_ITO[j % 7], label=name)
        ax.set_yticks(range(k), labels=keys)
        ax.set_ylim(k - 0.5, -0.5)
        ax.set_xlabel("score")
        ax.grid(False, axis="y")
        if m > 1:
            ax.legend(fontsize=7, loc="lower right", frameon=False)
        return svg_of(fig, f"{doc['data']['name']}: {rule} {group} per scorer")


# --- reproducibility ------------------------------------------------------------------------


def _repro(docs: Sequence[Mapping[str, Any]], command_line: str | None) -> Section:
    from .. import __version__

    versions = sorted({str(d.get("overcoat_version")) for d in docs if d.get("overcoat_version")})
    facts = [
        ["overcoat version", ", ".join(versions) or f"{__version__} (the renderer's)"],
        ["command line", command_line or "- (rendered from saved JSON)"],
    ]
    parts = [table_html(["", ""], facts, caption="This report")]
    for d in docs:
        if not is_metaeval(d):
            continue
        data = d["data"]
        name = str(data.get("name"))
        sig_rows = [
            [
                s["name"],
                s.get("signature", "-"),
                "higher" if s.get("higher_is_better", True) else "lower (negated)",
                "{}/{}".format(
                    (s.get("coverage") or {}).get("scored", "-"),
                    (s.get("coverage") or {}).get("total", "-"),
                ),
            ]
            for s in d["scorers"]
        ]
        parts.append(
            table_html(
                ["scorer", "signature", "better", "scored"],
                sig_rows,
                caption=f"{name}: scorers",
                numeric=[False, False, False, True],
            )
        )
        data_rows = [[k, "-" if v is None else str(v)] for k, v in data.items()]
        settings = d.get("settings") or {}
        set_rows = [[k, "-" if v is None else str(v)] for k, v in settings.items()]
        parts.append(
            '<div class="pair">'
            + table_html(["data", ""], data_rows, caption=f"{name}: data")
            + table_html(
                ["setting", ""], set_rows, caption=f"{name}: settings (seed, resamples, ...)"
            )
            + "</div>"
        )
        if d.get("seconds") is not None:
            parts.append(_p(f"{name}: meta-evaluated in {fmt(d['seconds'], 1)} s"))
    for d in docs:
        if not is_metaeval(d):
            parts.extend(_repro_pitfall(d))
    return Section("reproducibility", "Reproducibility", "".join(parts))


def _repro_pitfall(d: Mapping[str, Any]) -> list[str]:
    """A pitfall document's settings (its top-level scalars: data, seed, resamples, units ...)
    and its scorers' signatures."""
    kind = str(d.get("kind"))
    data = d.get("data")
    name = data.get("name") if isinstance(data, Mapping) else data
    head = f"{kind} {name}" if name else kind
    facts = [[k, "-" if v is None else str(v)] for k, v in d.items() if _scalar(v)]
    for k in ("settings", "data"):
        if isinstance(d.get(k), Mapping):
            facts += [
                [f"{k}.{a}", "-" if v is None else str(v)] for a, v in d[k].items() if _scalar(v)
            ]
    out = [table_html(["setting", ""], facts, caption=f"{head}: settings")]
    sigs = d.get("signatures")
    if isinstance(sigs, Mapping) and sigs:
        out.append(
            table_html(
                ["scorer", "signature"],
                [[k, str(v)] for k, v in sigs.items()],
                caption=f"{head}: scorers",
            )
        )
    return out


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


# --- the page -------------------------------------------------------------------------------


_ID = re.compile(r'\bid="([^"]+)"')
# matplotlib's RDF <metadata> (namespace URLs of Dublin Core, Creative Commons) and the xmlns
# declarations: an inline SVG in HTML needs neither, and the page then holds no URL at all
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def _unique_svg_ids(body: str, prefix: str) -> str:
    """Prefix every id inside each inline ``<svg>`` of ``body`` (and the references to it), so
    that ids are unique on the page (matplotlib's ids repeat from figure to figure); drop the
    SVG's metadata and namespace declarations (not needed inline in HTML)."""
    out = []
    pos = 0
    k = 0
    while True:
        start = body.find("<svg", pos)
        if start < 0:
            out.append(body[pos:])
            break
        end = body.index("</svg>", start) + len("</svg>")
        out.append(body[pos:start])
        svg = _METADATA.sub("", body[start:end])
        svg = _XMLNS.sub("", svg)
        svg = _prefix_ids(svg, f"{prefix}{k}-")
        out.append(svg)
        k += 1
        pos = end
    return "".join(out)


def _prefix_ids(svg: str, p: str) -> str:
    ids = set(_ID.findall(svg))
    if not ids:
        return svg
    svg = _ID.sub(lambda m: f'id="{p}{m.group(1)}"', svg)
    return re.sub(
        r"(url\(#|href=\"#)([^)\"]+)",
        lambda m: m.group(1) + (p + m.group(2) if m.group(2) in ids else m.group(2)),
        svg,
    )


def _flatten(sections: list[Section]) -> list[tuple[int, Section]]:
    out = []
    for s in sections:
        out.append((2, s))
        out.extend((3, sub) for sub in s.subsections)
    return out


def n_plots(sections: Sequence[Section]) -> int:
    """Every plot of the page (sections and their subsections)."""
    return sum(s.n_plots + n_plots(s.subsections) for s in sections)


def page_sections(
    docs: Sequence[Mapping[str, Any]], *, command_line: str | None = None
) -> list[Section]:
    """Every section of the page, anchors unique, the reproducibility block last."""
    origins = [d.get(ORIGIN) for d in docs]
    docs = [{k: v for k, v in d.items() if k != ORIGIN} for d in docs]
    sections: list[Section] = []
    for i, d in enumerate(docs):
        try:
            sections.extend(sections_for(d))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            where = origins[i] or f"document {i + 1}"
            what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            raise OvercoatError(f"{where}: malformed document ({what})") from None
    sections.append(_repro(docs, command_line))
    seen: set[str] = set()
    for i, (_, s) in enumerate(_flatten(sections)):
        a, k = s.anchor, 1
        while a in seen:
            k += 1
            a = f"{s.anchor}-{k}"
        seen.add(a)
        s.anchor = a
        s.html = _unique_svg_ids(s.html, f"s{i}-")
    return sections


def _title(docs: Sequence[Mapping[str, Any]]) -> str:
    names = []
    for d in docs:
        data = d.get("data")
        n = data.get("name") if isinstance(data, Mapping) else d.get("data")
        label = str(n) if n else str(d.get("kind", "results"))
        if d.get("kind"):
            label = f"{d['kind']} {label}" if n else label
        if label not in names:
            names.append(label)
    return "overcoat report: " + ", ".join(names)


def render_report(docs: list[dict], *, command_line: str | None = None) -> str:
    """The page as one HTML string (deterministic: the same documents give the same bytes)."""
    import jinja2

    from .. import __version__

    if not docs:
        raise OvercoatError("no documents to report")
    sections = page_sections(docs, command_line=command_line)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("overcoat.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    css = env.loader.get_source(env, "report.css")[0]  # type: ignore[union-attr]
    tpl = env.get_template("report.html.j2")
    return tpl.render(
        title=_title(docs),
        css=css,
        sections=sections,
        version=__version__,
        command_line=command_line,
        n_plots=n_plots(sections),
    )


def write_report(docs: list[dict], out_dir: str | Path, *, command_line: str | None = None) -> Path:
    """Render and write ``out_dir/index.html`` atomically (nothing is written on an error)."""
    page = render_report(docs, command_line=command_line)
    path = Path(out_dir) / "index.html"
    with atomic_write(path, "w") as f:
        f.write(page)
    return path
