"""HTML report sections of the pitfall commands (``probe``, ``calibrate``, ``overopt``,
``quality``, ``fit``, ``translation-pairs``), rendered from their JSON documents only: every
number shown is read from the document (never recomputed), every plot's numbers are also in a
table, and a part the document lacks is said in words, never drawn as an empty plot.

:func:`pitfall_sections` dispatches on ``doc["kind"]``; each kind has one small renderer.
Anchors are ``KIND-DATA-PART`` (slugged; a repeat gets ``-2``, ``-3``), unique within one
document.

CSS classes the page's stylesheet should define (besides :func:`~.html_base.table_html`'s
``data`` and ``num``): ``note`` (a ``<p>`` saying what a section lacks or how to read it),
``notes`` (a ``<ul>`` of the document's notes), ``cluster-odd`` / ``cluster-even`` (table rows
of alternating significance clusters; each row also carries ``cluster-N``). Plots are
``<figure>`` elements holding one ``<svg class="plot">`` (``svg_of``: the class is the tag's
last attribute) and a ``<figcaption>``; long tables (reliability bins, p-values) sit in
``<details>``; a style matrix per scorer has an ``<h4>``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .html_base import OKABE_ITO, Section, figure, fmt, fmt_ci, svg_of, table_html
from .probes import SRP_LEGEND, stability_entries

__all__ = ["pitfall_sections"]

Est = Mapping[str, Any]  # {statistic, confidence_interval, ...}
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")


def pitfall_sections(doc: Mapping[str, Any]) -> list[Section]:
    """The report sections of one pitfall document; ``ValueError`` for another kind."""
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in _RENDERERS:
        raise ValueError(
            f"not a pitfall document: kind {kind!r} (expected one of {', '.join(_RENDERERS)})"
        )
    import matplotlib

    # names are data, not TeX: no mathtext (a ``$`` in a name stays a ``$``)
    with matplotlib.rc_context({"text.parse_math": False}):
        return _RENDERERS[kind](doc, _Anchors(kind, _data_name(doc)))


# --- small helpers --------------------------------------------------------------------------


class _Anchors:
    """Unique ``[a-z0-9-]`` anchors for one document."""

    def __init__(self, kind: str, data: str):
        self.prefix = _slug(f"{kind}-{data}")
        self.seen: set[str] = set()

    def __call__(self, part: str) -> str:
        base = f"{self.prefix}-{_slug(part)}".strip("-")
        a, i = base, 1
        while a in self.seen:
            i += 1
            a = f"{base}-{i}"
        self.seen.add(a)
        return a


def _slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(s).lower()).strip("-") or "x"


def _data_name(doc: Mapping[str, Any]) -> str:
    d = doc.get("data")
    return str(d.get("name", "")) if isinstance(d, Mapping) else str(d or "")


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{body}</details>"


def _stat(e: Est | None) -> float | None:
    if not e:
        return None
    v = e.get("statistic")
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _ci(e: Est | None) -> tuple[float, float] | None:
    ci = e.get("confidence_interval") if e else None
    if not ci or ci[0] is None or ci[1] is None:
        return None
    lo, hi = float(ci[0]), float(ci[1])
    return None if math.isnan(lo) or math.isnan(hi) else (lo, hi)


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def _est(stat: Any, ci: Any = None) -> dict:
    return {"statistic": stat, "confidence_interval": ci}


def _section(anchor: str, title: str, parts: Sequence[str], n_plots: int, subs=None) -> Section:
    return Section(anchor, title, "".join(parts), n_plots, list(subs or []))


# --- plots ----------------------------------------------------------------------------------


def _dot_plot(
    rows: Sequence[tuple[str, Sequence[Est | None]]],
    series: Sequence[str],
    *,
    xlabel: str,
    title: str,
    ref: tuple[float, str] | None = None,
    shade: Sequence[bool] = (),
) -> str | None:
    """Horizontal dot plot: one row per label (top to bottom), one marker per series (colour and
    shape, small vertical offsets) with its 95% CI as an error bar; rows whose ``shade`` is
    true get a grey band (e.g. alternate significance clusters). None when nothing to draw."""
    if not any(_stat(e) is not None for _, es in rows for e in es):
        return None
    k = len(series)
    fig, ax = figure(6.4, max(1.6, 0.8 + 0.2 * len(rows) * max(1, min(k, 3))))
    step = 0.7 / k if k > 1 else 0.0
    for j, name in enumerate(series):
        ys, xs, lo, hi = [], [], [], []
        for i, (_, es) in enumerate(rows):
            e = es[j] if j < len(es) else None
            v = _stat(e)
            if v is None:
                continue
            ci = _ci(e) or (v, v)
            ys.append(-i - (j - (k - 1) / 2) * step)
            xs.append(v)
            lo.append(max(0.0, v - ci[0]))
            hi.append(max(0.0, ci[1] - v))
        if xs:
            ax.errorbar(
                xs,
                ys,
                xerr=[lo, hi],
                fmt=MARKERS[j % len(MARKERS)],
                color=OKABE_ITO[j % len(OKABE_ITO)],
                ecolor=OKABE_ITO[j % len(OKABE_ITO)],
                elinewidth=1.2,
                capsize=2.5,
                markersize=5,
                label=name,
            )
    if ref is not None:
        ax.axvline(ref[0], color="#555555", linestyle="--", linewidth=1, label=ref[1])
    for i, on in enumerate(shade):
        if on:
            ax.axhspan(-i - 0.5, -i + 0.5, color="#eeeeee", zorder=0, linewidth=0)
    ax.set_yticks([-i for i in range(len(rows))], [label for label, _ in rows])
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.set_xlabel(xlabel)
    if k > 1 or ref is not None:
        fig.legend(fontsize="small", loc="outside right upper", frameon=False)
    return svg_of(fig, title)


def _curve_plot(
    x: Sequence[float],
    lines: Sequence[tuple[str, Sequence[Any], Sequence[Any] | None, Sequence[Any] | None]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
    marks: Sequence[tuple[float, str]] = (),
    top_ticks: tuple[Sequence[float], Sequence[str], str] | None = None,
    hlines: Sequence[tuple[float, str]] = (),
) -> str:
    """Lines (label, y, lo, hi) over ``x`` with shaded 95% bands, vertical marks, and an
    optional second x axis on top (e.g. n over KL)."""
    fig, ax = figure()
    for j, (label, y, lo, hi) in enumerate(lines):
        pts = [(a, b) for a, b in zip(x, y) if b is not None]
        if not pts:
            continue
        c = OKABE_ITO[j % len(OKABE_ITO)]
        ax.plot(*zip(*pts), marker=MARKERS[j % len(MARKERS)], color=c, markersize=4, label=label)
        if lo is not None and hi is not None:
            band = [(a, lo_, hi_) for a, lo_, hi_ in zip(x, lo, hi) if None not in (lo_, hi_)]
            if band:
                xs, ls, hs = zip(*band)
                ax.fill_between(xs, ls, hs, color=c, alpha=0.18, linewidth=0)
    for j, (xv, label) in enumerate(marks):
        ax.axvline(xv, color="#555555", linestyle=("--", ":")[j % 2], linewidth=1, label=label)
    if logx:
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(x), [str(v) for v in x])
        ax.minorticks_off()
    for yv, label in hlines:
        ax.axhline(yv, color="#999999", linestyle=":", linewidth=1, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if top_ticks is not None:
        sec = ax.secondary_xaxis("top")
        sec.set_xticks(list(top_ticks[0]), list(top_ticks[1]))
        sec.set_xlabel(top_ticks[2])
    if len(lines) > 1 or marks or hlines:
        ax.legend(fontsize="small", loc="best", frameon=False)
    return svg_of(fig, title)


def _reliability_plot(name: str, methods: Mapping[str, Any], title: str) -> str | None:
    """Accuracy vs mean confidence per non-empty bin, one line per method, with the diagonal."""
    have = {
        m: s["reliability"] for m, s in methods.items() if (s or {}).get("reliability") is not None
    }
    if not any(c is not None for r in have.values() for c in r.get("confidence", [])):
        return None
    fig, ax = figure(5.2, 4.2)
    lo_edge = min(float(r["edges"][0]) for r in have.values())
    ax.plot([lo_edge, 1.0], [lo_edge, 1.0], color="#555555", linestyle="--", linewidth=1)
    for j, (m, r) in enumerate(have.items()):
        pts = [
            (float(c), float(a))
            for c, a, n in zip(r["confidence"], r["accuracy"], r["count"])
            if c is not None and a is not None and n
        ]
        if pts:
            ax.plot(
                *zip(*pts),
                marker=MARKERS[j % len(MARKERS)],
                color=OKABE_ITO[j % len(OKABE_ITO)],
                markersize=4,
                label=m,
            )
    ax.set_xlabel("confidence: mean P(verdict) in the bin")
    ax.set_ylabel("accuracy in the bin")
    ax.legend(fontsize="small", loc="best", frameon=False, title=name)
    return svg_of(fig, title)


def _heat_map(matrix: Sequence[Sequence[Any]], styles: Sequence[str], title: str) -> str:
    """RM-Bench's style matrix: rows = chosen style, columns = rejected style, value printed."""
    fig, ax = figure(4.6, 3.6)
    ax.grid(False)
    vals = [[math.nan if v is None else float(v) for v in row] for row in matrix]
    im = ax.imshow(vals, cmap="cividis", vmin=0.0, vmax=1.0)
    for i, row in enumerate(vals):
        for j, v in enumerate(row):
            ax.text(
                j,
                i,
                "-" if math.isnan(v) else f"{v:.3f}",
                ha="center",
                va="center",
                color="black" if (not math.isnan(v) and v > 0.55) else "white",
                fontsize="small",
            )
    ax.set_xticks(range(len(styles)), list(styles))
    ax.set_yticks(range(len(styles)), list(styles))
    for t in ax.get_xticklabels():
        t.set_rotation(20)
        t.set_horizontalalignment("right")
    ax.set_xlabel("rejected response's style")
    ax.set_ylabel("chosen response's style")
    fig.colorbar(im, ax=ax, label="accuracy")
    return svg_of(fig, title)


# --- probe ----------------------------------------------------------------------------------


def _probe(doc: Mapping[str, Any], anchor: _Anchors) -> list[Section]:
    out = [_length_bias(doc, anchor)]
    if doc.get("perturbations") and any(doc["perturbations"].values()):
        out.append(_perturbations(doc, anchor))
    if doc.get("style"):
        out.append(_style(doc, anchor))
    if doc.get("position_bias"):
        out.append(_position(doc, anchor))
    return out


LENGTH_SERIES = (
    ("accuracy", "all pairs"),
    ("longer_preferred", "longer preferred"),
    ("shorter_preferred", "shorter preferred"),
    ("length_matched_accuracy", "length-matched"),
)


def _length_bias(doc: Mapping[str, Any], anchor: _Anchors) -> Section:
    data, sc = _data_name(doc), doc.get("scorers") or {}
    headers = [
        "scorer",
        "accuracy [95% CI]",
        "longer preferred [95% CI]",
        "shorter preferred [95% CI]",
        "length-balanced [95% CI]",
        "length-matched [95% CI]",
        "length-matched pairs",
        "length-only baseline",
        "τb(score, length) [95% CI]",
    ]
    rows = []
    for name, r in sc.items():
        m = r.get("length_matched_accuracy") or {}
        rows.append(
            [
                name,
                fmt_ci(r.get("accuracy")),
                fmt_ci(r.get("longer_preferred")),
                fmt_ci(r.get("shorter_preferred")),
                fmt_ci(r.get("length_balanced_accuracy")),
                fmt_ci(m),
                fmt(m.get("n_pairs")),
                fmt((r.get("length_baseline") or {}).get("statistic")),
                fmt_ci(r.get("score_length_correlation")),
            ]
        )
    parts = [
        _note(
            f"Length unit: {doc.get('length_unit', '-')}; the preferred response is the longer "
            f"one in {fmt(doc.get('share_longer_preferred'))} of pairs. A scorer with no length "
            "bias is about as accurate on longer- as on shorter-preferred pairs; the "
            "length-only baseline scores every response by its length."
        )
    ]
    h = next(iter(sc.values()), None)
    if h is not None and h.get("human_length_correlation"):
        parts.append(
            _note(f"Humans: τb(human score, length) = {fmt_ci(h['human_length_correlation'])}.")
        )
    n = 0
    base = _stat((h or {}).get("length_baseline"))
    svg = _dot_plot(
        [(name, [r.get(k) for k, _ in LENGTH_SERIES]) for name, r in sc.items()],
        [label for _, label in LENGTH_SERIES],
        xlabel="pair accuracy",
        title=f"{data}: accuracy on longer- vs shorter-preferred pairs, 95% CIs",
        ref=(base, "length-only baseline") if base is not None else None,
    )
    if svg:
        n += 1
        parts.append(
            _figure(
                svg,
                "Pair accuracy per scorer (95% CIs): all pairs, pairs whose preferred response is "
                "the longer / the shorter one, and length-matched pairs; dashed: the length-only "
                "baseline.",
            )
        )
    parts.append(
        _note(
            "The document holds no per-pair scores and lengths, so score against length within "
            "items is summarised by τb(score, length) in the table."
        )
    )
    parts.append(table_html(headers, rows, numeric=[False] + [True] * 8))
    return _section(anchor("length-bias"), f"{data} — length bias", parts, n)


def _perturbations(doc: Mapping[str, Any], anchor: _Anchors) -> Section:
    data, per = _data_name(doc), doc["perturbations"]
    names = list(per)
    perts = list(dict.fromkeys(p for d in per.values() for p in d))
    rows = []
    for name in names:
        for p, r in per[name].items():
            rows.append(
                [
                    name,
                    p,
                    fmt((r.get("accuracy_before") or {}).get("statistic")),
                    fmt((r.get("accuracy_after") or {}).get("statistic")),
                    fmt_ci(r.get("flip_rate")),
                    fmt((r.get("flip_rate") or {}).get("n_pairs")),
                    fmt_ci(r.get("mean_shift")),
                    fmt_ci(r.get("standardized_shift")),
                ]
            )
    svg = _dot_plot(
        [(p, [per[n].get(p, {}).get("flip_rate") for n in names]) for p in perts],
        names,
        xlabel="flip rate (share of correct pairs made wrong)",
        title=f"{data}: flip rate per perturbation and scorer, 95% CIs",
    )
    parts = [
        _note(
            f"The dispreferred response of every pair is perturbed (seed {doc.get('seed')}). "
            "Flip rate: share of pairs the scorer had right that the perturbation alone makes it "
            "get wrong; truncate is the control (a scorer reading the answer lowers its score). "
            "Shift: the perturbed response's score minus the original's, raw and in standard "
            "deviations of the scorer's scores."
        )
    ]
    if svg:
        parts.append(_figure(svg, "Flip rate per perturbation (rows) and scorer (markers)."))
    headers = [
        "scorer",
        "perturbation",
        "accuracy before",
        "accuracy after",
        "flip rate [95% CI]",
        "pairs it had right",
        "mean shift [95% CI]",
        "shift (SDs) [95% CI]",
    ]
    parts.append(table_html(headers, rows, numeric=[False, False] + [True] * 6))
    return _section(anchor("perturbations"), f"{data} — perturbations", parts, 1 if svg else 0)


def _style(doc: Mapping[str, Any], anchor: _Anchors) -> Section:
    data, st = _data_name(doc), doc["style"]
    synthetic = st.get("source") == "synthetic"
    what = (
        "synthetic: every pair's responses rewritten as plain, padded, padded + markdown"
        if synthetic
        else "the data's style variants (RM-Bench's computation)"
    )
    parts = [
        _note(
            f"RM-Bench's style matrix, {what}. Rows: the chosen response's style, columns: the "
            "rejected one's. Easy = below the diagonal (chosen in the fancier style), normal = "
            "the diagonal, hard = above it."
        )
    ]
    summary, n = [], 0
    for name, r in (st.get("scorers") or {}).items():
        styles = r.get("styles") or []
        matrix = r.get("matrix")
        if matrix:
            parts.append(f"<h4>{_e(name)}</h4>")
            parts.append(
                _figure(
                    _heat_map(matrix, styles, f"{data}: style matrix of {name}"),
                    f"{name}: accuracy per (chosen style, rejected style).",
                )
            )
            n += 1
            ci = r.get("matrix_ci")
            cells = [
                [row_style]
                + [
                    fmt_ci(_est(matrix[i][j], [ci[0][i][j], ci[1][i][j]] if ci else None))
                    for j in range(len(styles))
                ]
                for i, row_style in enumerate(styles)
            ]
            parts.append(
                table_html(
                    ["chosen \\ rejected", *styles],
                    cells,
                    caption=f"{name}: style matrix [95% CI]",
                    numeric=[False] + [True] * len(styles),
                )
            )
        summary.append(
            [
                name,
                fmt_ci(r.get("easy")),
                fmt_ci(r.get("normal")),
                fmt_ci(r.get("hard")),
                fmt_ci(r.get("overall")),
                fmt(r.get("n_rows")),
                fmt(r.get("n_groups")),
                fmt(r.get("n_missing")),
            ]
        )
        doms = r.get("domains") or {}
        if len(doms) > 1:
            parts.append(
                table_html(
                    ["domain", "easy", "normal", "hard", "mean", "rows"],
                    [
                        [
                            d,
                            fmt_ci(v.get("easy")),
                            fmt_ci(v.get("normal")),
                            fmt_ci(v.get("hard")),
                            fmt_ci(v.get("overall")),
                            fmt((v.get("overall") or {}).get("n_rows")),
                        ]
                        for d, v in doms.items()
                    ],
                    caption=f"{name}: per domain",
                    numeric=[False] + [True] * 5,
                )
            )
    parts.append(
        table_html(
            [
                "scorer",
                "easy [95% CI]",
                "normal [95% CI]",
                "hard [95% CI]",
                "mean [95% CI]",
                "pairs" if synthetic else "examples",
                "items",
                "missing scores",
            ],
            summary,
            caption="easy / normal / hard",
            numeric=[False] + [True] * 7,
        )
    )
    return _section(anchor("style"), f"{data} — style matrix", parts, n)


POSITION_SERIES = (
    ("consistency", "consistency"),
    ("flip_rate", "flip rate"),
    ("first_position_rate", "first-position rate"),
)


def _position(doc: Mapping[str, Any], anchor: _Anchors) -> Section:
    data, pb = _data_name(doc), doc["position_bias"]
    judged = {n: r for n, r in pb.items() if r.get("applicable")}
    rows = []
    for name, r in pb.items():
        if not r.get("applicable"):
            rows.append([name, "not applicable (pointwise scorer)", "", "", "", "", "", ""])
            continue
        rows.append(
            [
                name,
                fmt_ci(r.get("consistency")),
                fmt_ci(r.get("flip_rate")),
                fmt_ci(r.get("first_position_rate")),
                fmt_ci(r.get("accuracy_preferred_first")),
                fmt_ci(r.get("accuracy_preferred_second")),
                fmt(r.get("n_pairs")),
                fmt(r.get("n_missing")),
            ]
        )
    parts = [
        _note(
            "Every judged pair asked in both orders. Consistency: same verdict in both orders; "
            "flip rate: the winner reverses with the order; first-position rate: share of "
            "verdicts for the response shown first (1/2: no position preference)."
        )
    ]
    svg = _dot_plot(
        [(n, [r.get(k) for k, _ in POSITION_SERIES]) for n, r in judged.items()],
        [label for _, label in POSITION_SERIES],
        xlabel="rate",
        title=f"{data}: position bias of pairwise judges, 95% CIs",
        ref=(0.5, "no position preference (first-position rate)"),
    )
    if svg:
        parts.append(_figure(svg, "Position bias per pairwise judge (95% CIs)."))
    else:
        parts.append(_note("No pairwise judge among the scorers: nothing to plot."))
    headers = [
        "scorer",
        "consistency [95% CI]",
        "flip rate [95% CI]",
        "first-position rate [95% CI]",
        "accuracy, preferred first [95% CI]",
        "accuracy, preferred second [95% CI]",
        "pairs",
        "missing",
    ]
    parts.append(table_html(headers, rows, numeric=[False] + [True] * 7))
    return _section(anchor("position-bias"), f"{data} — position bias", parts, 1 if svg else 0)


# --- calibrate ------------------------------------------------------------------------------


def _calibrate(doc: Mapping[str, Any], anchor: _Anchors) -> list[Section]:
    data = _data_name(doc)
    rows, ties = [], []
    for name, r in (doc.get("scorers") or {}).items():
        for m, s in (r.get("methods") or {}).items():
            rows.append(
                [
                    name,
                    m,
                    fmt_ci(s.get("ece")),
                    fmt(s.get("brier")),
                    fmt(s.get("log_loss")),
                    fmt(r.get("n_pairs")),
                ]
            )
        tt = r.get("tie_threshold")
        if tt:
            ties.append(
                [
                    name,
                    fmt(tt.get("held_out_acc_eq")),
                    fmt(tt.get("in_sample_acc_eq")),
                    fmt(tt.get("all_ties_baseline")),
                    ", ".join(fmt(e) for e in tt.get("epsilon_per_fold") or []),
                ]
            )
    parts = [
        _note(
            f"Preference probabilities held out by {doc.get('n_folds')}-fold cross-fitting over "
            f"items; {doc.get('n_bins')} bins ({doc.get('binning')}) of the top-label confidence "
            "max(p, 1 − p). raw = sigmoid(score difference), or a judge's own probability; human "
            "ties are targets of 1/2."
        ),
        table_html(
            ["scorer", "method", "ECE [95% CI]", "Brier", "log loss", "pairs"],
            rows,
            caption="calibration, held out",
            numeric=[False, False, True, True, True, True],
        ),
    ]
    if ties:
        parts.append(
            table_html(
                [
                    "scorer",
                    "held-out acc_eq",
                    "in-sample acc_eq",
                    "all-ties baseline",
                    "tie threshold ε per fold",
                ],
                ties,
                caption="tie threshold fitted on the other folds (calibration-aware acc_eq)",
                numeric=[False, True, True, True, False],
            )
        )
    fitted = [
        [name, m, _params(f)]
        for name, r in (doc.get("scorers") or {}).items()
        for m, f in (r.get("fitted") or {}).items()
    ]
    if fitted:
        parts.append(
            table_html(
                ["scorer", "calibrator", "parameters"],
                fitted,
                caption="calibrators fitted on all pairs (what --save writes)",
            )
        )
    subs = [
        _reliability_section(data, name, r, anchor)
        for name, r in (doc.get("scorers") or {}).items()
    ]
    return [_section(anchor("calibration"), f"{data} — calibration", parts, 0, subs)]


def _params(f: Mapping[str, Any]) -> str:
    """A fitted calibrator's scalar parameters (isotonic: its number of steps)."""
    out = []
    for k, v in f.items():
        if k == "calibrator":
            continue
        if isinstance(v, list):
            out.append(f"{k}: {len(v)} points")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(f"{k} = {fmt(v, 4)}")
        else:
            out.append(f"{k} = {v}")
    return "; ".join(out)


def _reliability_section(data: str, name: str, r: Mapping[str, Any], anchor: _Anchors) -> Section:
    methods = r.get("methods") or {}
    svg = _reliability_plot(name, methods, f"{data}: reliability diagram of {name}")
    parts = []
    if svg:
        parts.append(
            _figure(
                svg,
                f"{name}: accuracy against confidence per bin, before (raw) and after each "
                "calibrator; dashed: perfect calibration.",
            )
        )
    else:
        parts.append(_note("The document has no reliability data for this scorer."))
    for m, s in methods.items():
        rel = (s or {}).get("reliability")
        if not rel:
            continue
        edges = rel.get("edges") or []
        cells = [
            [f"{fmt(edges[i])}–{fmt(edges[i + 1])}", fmt(c), fmt(conf), fmt(acc)]
            for i, (c, conf, acc) in enumerate(
                zip(rel.get("count", []), rel.get("confidence", []), rel.get("accuracy", []))
            )
            if i + 1 < len(edges)
        ]
        parts.append(
            _details(
                f"{name}, {m}: reliability bins",
                table_html(
                    ["bin", "pairs", "confidence", "accuracy"],
                    cells,
                    caption=f"{name}, {m}",
                    numeric=[False, True, True, True],
                ),
            )
        )
    return _section(
        anchor(f"reliability-{name}"), f"{name}: reliability diagram", parts, 1 if svg else 0
    )


# --- overopt --------------------------------------------------------------------------------


def _overopt(doc: Mapping[str, Any], anchor: _Anchors) -> list[Section]:
    data, n = _data_name(doc), list(doc.get("n") or [])
    kl = _aligned(doc.get("kl"), n)
    gold, proxy = _aligned(doc.get("gold"), n), _aligned(doc.get("proxy"), n)
    gci = [_aligned(c, n) for c in (doc.get("gold_ci") or [None, None])]
    pci = [_aligned(c, n) for c in (doc.get("proxy_ci") or [None, None])]
    proxy_name, gold_name = str(doc.get("proxy_scorer")), str(doc.get("gold_scorer"))
    peak, below = doc.get("peak_n"), doc.get("n_below_start")
    rows = [
        [
            n[i],
            fmt(kl[i]),
            fmt_ci(_est(gold[i], _ci_at(gci, i))),
            fmt_ci(_est(proxy[i], _ci_at(pci, i))),
        ]
        for i in range(len(n))
    ]
    summary = f"Gold peaks at n = {peak} ({fmt(doc.get('gold_gain_at_peak'), 4)} above n = 1); " + (
        f"it falls below n = 1 from n = {below}." if below else "it never falls below n = 1."
    )
    parts = [
        _note(
            f"Best-of-n with proxy {proxy_name} and gold {gold_name} over "
            f"{doc.get('n_items')} items: the expected score of the proxy's pick among n random "
            "candidates, exact over all n-subsets; KL = log n − (n − 1)/n nats. " + summary
        )
    ]
    n_plots = 0
    kidx = {v: kl[i] for i, v in enumerate(n) if kl[i] is not None}
    marks = []
    if peak in kidx:
        marks.append((kidx[peak], f"peak: n = {peak}"))
    if below in kidx:
        marks.append((kidx[below], f"gold below n = 1 from n = {below}"))
    for label, y, ci, scorer in (("gold", gold, gci, gold_name), ("proxy", proxy, pci, proxy_name)):
        pts = [i for i in range(len(n)) if kl[i] is not None and y[i] is not None]
        if len(pts) < 2:
            parts.append(_note(f"Fewer than two values of n with a {label} score: no curve."))
            continue
        svg = _curve_plot(
            [kl[i] for i in pts],
            [
                (
                    f"{label}: {scorer}",
                    [y[i] for i in pts],
                    [ci[0][i] for i in pts],
                    [ci[1][i] for i in pts],
                )
            ],
            xlabel="KL(best-of-n ‖ base) = log n − (n−1)/n (nats)",
            ylabel=f"{label} score of the pick",
            title=f"{data}: {label} score vs KL, best-of-n by {proxy_name}",
            marks=marks if label == "gold" else (),
            top_ticks=_top_ticks([n[i] for i in pts], [kl[i] for i in pts]),
            hlines=[(y[0], f"{label} at n = 1")] if n[0] == 1 and y[0] is not None else [],
        )
        parts.append(_figure(svg, f"{label.capitalize()} score ({scorer}) vs KL, 95% band."))
        n_plots += 1
    parts.append(
        table_html(
            ["n", "KL (nats)", "gold [95% CI]", "proxy [95% CI]"],
            rows,
            numeric=[True] * 4,
        )
    )
    return [
        _section(
            anchor("overoptimisation"), f"{data} — best-of-n over-optimisation", parts, n_plots
        )
    ]


def _ci_at(ci: Sequence[Sequence[Any]], i: int) -> list[Any] | None:
    lo, hi = ci[0][i], ci[1][i]
    return None if lo is None or hi is None else [lo, hi]


def _aligned(xs: Any, n: Sequence[Any]) -> list[Any]:
    """A per-n list padded with None to the length of ``n`` (a missing list: all None)."""
    xs = list(xs or [])[: len(n)]
    return xs + [None] * (len(n) - len(xs))


def _top_ticks(n: Sequence[int], kl: Sequence[float]) -> tuple[list[float], list[str], str]:
    keep = [i for i, v in enumerate(n) if v in (1, 2, 4, 8, 16, 32, 64, 128) or i == len(n) - 1]
    return [kl[i] for i in keep], [str(n[i]) for i in keep], "n"


# --- quality --------------------------------------------------------------------------------


def _quality(doc: Mapping[str, Any], anchor: _Anchors) -> list[Section]:
    data = _data_name(doc)
    out = []
    for key, render in (
        ("agreement", _agreement),
        ("human_ceiling", _ceiling),
        ("stability", _stability),
        ("budget", _budget),
        ("near_duplicates", _duplicates),
        ("suspects", _suspects),
    ):
        if doc.get(key):
            out.append(render(doc, data, anchor))
    if not out:
        out.append(
            _section(
                anchor("quality"),
                f"{data} — data quality",
                [_note(f"No quality part in the document (parts run: {doc.get('parts')}).")],
                0,
            )
        )
    return out


def _agreement(doc: Mapping[str, Any], data: str, anchor: _Anchors) -> Section:
    a = doc["agreement"]
    stats = [
        ("Krippendorff's α (interval)", a.get("krippendorff_alpha_interval")),
        ("Krippendorff's α (ordinal)", a.get("krippendorff_alpha_ordinal")),
        ("Fleiss' κ (pairwise preferences)", a.get("fleiss_kappa_pairwise")),
    ]
    for k, v in a.items():  # any other κ the document carries (e.g. Cohen's)
        if "kappa" in k and k != "fleiss_kappa_pairwise" and isinstance(v, Mapping):
            stats.append((k.replace("_", " "), v))
    raters = a.get("raters") or {}
    parts = [
        _note(f"{a.get('n_raters')} raters, {a.get('n_cells')} rated cells."),
        table_html(
            ["statistic", "value [95% CI]", "units"],
            [[label, fmt_ci(e), fmt((e or {}).get("n_units"))] for label, e in stats],
            numeric=[False, True, True],
        ),
    ]
    svg = _dot_plot(
        [(r, [_est(x.get("severity"), x.get("severity_ci"))]) for r, x in raters.items()],
        ["severity"],
        xlabel="severity: own score − other raters' mean (same cells)",
        title=f"{data}: rater severity, 95% CIs",
        ref=(0.0, "no severity bias"),
    )
    if svg:
        parts.append(_figure(svg, "Per-rater severity with 95% CIs."))
    parts.append(
        table_html(
            ["rater", "severity [95% CI]", "cells", "attention checks found"],
            [
                [
                    r,
                    fmt_ci(_est(x.get("severity"), x.get("severity_ci"))),
                    fmt(x.get("n_cells")),
                    fmt(x.get("attention_checks")),
                ]
                for r, x in raters.items()
            ],
            caption="raters: severity = mean of own score − the other raters' mean (same cells)",
            numeric=[False, True, True, True],
        )
    )
    return _section(anchor("agreement"), f"{data} — rater agreement", parts, 1 if svg else 0)


def _ceiling(doc: Mapping[str, Any], data: str, anchor: _Anchors) -> Section:
    c = doc["human_ceiling"]
    names = list(c.get("mean_over_raters") or {})
    raters = c.get("raters") or {}
    label = {n: "human (the rater)" if n == "human" else n for n in names}
    svg = _dot_plot(
        [(r, [row.get(n) for n in names]) for r, row in raters.items()],
        [label[n] for n in names],
        xlabel=f"{c.get('statistic')} against the other raters' mean",
        title=f"{data}: humans as scorers beside the scorers, 95% CIs",
    )
    parts = [
        _note(
            f"Each rater scored against the other raters' mean ({c.get('statistic')}) on that "
            "rater's cells, beside every scorer against the same gold on the same cells: the "
            "human ceiling."
        )
    ]
    if svg:
        parts.append(_figure(svg, "Human-ceiling rows: each rater and each scorer, 95% CIs."))
    rows = [[r, *[fmt_ci(row.get(n)) for n in names]] for r, row in raters.items()]
    rows.append(["mean over raters", *[fmt(c["mean_over_raters"][n]) for n in names]])
    parts.append(
        table_html(
            ["rater", *[label[n] for n in names]],
            rows,
            numeric=[False] + [True] * len(names),
            row_classes=[""] * len(raters) + ["summary"],
        )
    )
    at_least = c.get("scorer_at_least_human_for_n_raters") or {}
    if at_least:
        parts.append(
            _note(
                "Raters a scorer matches or beats: "
                + "; ".join(f"{n} {v} of {c.get('n_raters')}" for n, v in at_least.items())
                + "."
            )
        )
    return _section(anchor("human-ceiling"), f"{data} — human ceiling", parts, 1 if svg else 0)


STABILITY_COLUMNS = (
    ("n_entities", "entities"),
    ("srp", "SRP"),
    ("stable_splits", "stable splits"),
    ("identical_ranking", "identical ranking"),
    ("pair_agreement", "pairs same order"),
    ("mean_significant_pairs", "sig. pairs"),
)


def _stability(doc: Mapping[str, Any], data: str, anchor: _Anchors) -> Section:
    st = doc["stability"]
    split = "items and raters" if st.get("split") == "both" else "items"
    rows = [
        [name, *[fmt(x.get(k)) for k, _ in STABILITY_COLUMNS]] for name, x in stability_entries(st)
    ]
    parts = [
        _note(
            f"{st.get('n_splits')} random splits of the {split} into disjoint halves; paired "
            f"t-test, α = {st.get('alpha')}. {SRP_LEGEND}."
        ),
        table_html(
            ["ranked", *[label for _, label in STABILITY_COLUMNS]],
            rows,
            numeric=[False] + [True] * len(STABILITY_COLUMNS),
        ),
    ]
    return _section(anchor("stability"), f"{data} — stable ranking probability", parts, 0)


def _budget(doc: Mapping[str, Any], data: str, anchor: _Anchors) -> Section:
    b = doc["budget"]
    brows = b.get("rows") or []
    names = list(brows[0].get("scorers") or {}) if brows else []
    two = len(names) >= 2
    headers = ["items", "ratings/item", "judgments", "system pairs sig."]
    headers += ["scorer pairs sig."] if two else []
    for n in names:
        headers += [f"{n} statistic", f"{n} CI width"]
    rows = []
    for r in brows:
        cells = [
            fmt(r.get("n_items")),
            fmt(r.get("ratings_per_item")),
            fmt(r.get("n_judgments"), 0),
            fmt(r.get("system_pairs_significant")),
        ]
        cells += [fmt(r.get("scorer_pairs_significant"))] if two else []
        for n in names:
            x = (r.get("scorers") or {}).get(n) or {}
            cells += [fmt(x.get("statistic")), fmt(x.get("ci_width"))]
        rows.append(cells)
    parts = [
        _note(
            f"{b.get('statistic')}: verdicts by items × ratings per item (mean of "
            f"{b.get('n_draws')} subsamples; α = {b.get('alpha')})."
        )
    ]
    ratings = sorted({r.get("ratings_per_item") for r in brows if r.get("ratings_per_item")})
    items = sorted({r["n_items"] for r in brows if r.get("n_items")})

    def curve(get: Callable[[Mapping[str, Any]], Any], k: int) -> list[Any]:
        by = {r.get("n_items"): get(r) for r in brows if r.get("ratings_per_item") == k}
        return [by.get(i) for i in items]

    def ci_width(name: str) -> Callable[[Mapping[str, Any]], Any]:
        return lambda r: ((r.get("scorers") or {}).get(name) or {}).get("ci_width")

    width = [(f"{n}, {k} rating(s)/item", curve(ci_width(n), k)) for n in names for k in ratings]
    sig = [
        (f"{k} rating(s)/item", curve(lambda r: r.get("system_pairs_significant"), k))
        for k in ratings
    ]
    n_plots = 0
    for lines, ylabel, what in (
        (width, "95% CI width", "CI width of each scorer's statistic"),
        (sig, "share of system pairs significant", "Share of system pairs significantly different"),
    ):
        if sum(v is not None for _, ys in lines for v in ys) < 2 or len(items) < 2:
            parts.append(_note(f"{what}: fewer than two points, no curve."))
            continue
        svg = _curve_plot(
            items,
            [(label, ys, None, None) for label, ys in lines],
            xlabel="items",
            ylabel=ylabel,
            title=f"{data}: annotation budget, {ylabel} by items × ratings",
            logx=True,
        )
        parts.append(_figure(svg, f"{what} by items and ratings per item."))
        n_plots += 1
    parts.append(table_html(headers, rows, numeric=[True] * len(headers)))
    return _section(anchor("budget"), f"{data} — annotation budget", parts, n_plots)


def _duplicates(doc: Mapping[str, Any], data: str, anchor: _Anchors) -> Section:
    nd = doc["near_duplicates"]
    dup = doc.get("duplicates") or {}
    ex = nd.get("examples") or []
    parts = [
        table_html(
            ["check", "count"],
            [
                [
                    "items in exact-duplicate input groups",
                    fmt(dup.get("n_items_in_duplicate_groups")),
                ],
                [
                    "items with two responses of identical text",
                    fmt(dup.get("n_items_with_identical_responses")),
                ],
                ["near-duplicate input pairs", fmt(nd.get("n_pairs"))],
                ["items in near-duplicate pairs", fmt(nd.get("n_items_in_near_duplicate_pairs"))],
                [
                    "items whose responses are all one text",
                    fmt(nd.get("n_items_with_all_responses_identical")),
                ],
            ],
            caption=(
                f"character {nd.get('ngram')}-gram Jaccard ≥ {nd.get('threshold')} counts as "
                "near duplicate"
            ),
            numeric=[False, True],
        )
    ]
    if ex:
        parts.append(
            table_html(
                ["items", "Jaccard", "inputs"],
                [
                    [
                        " / ".join(str(i) for i in e.get("item_ids", [])),
                        fmt(e.get("jaccard")),
                        " | ".join((x or "")[:80] for x in e.get("inputs", [])),
                    ]
                    for e in ex
                ],
                caption=f"near-duplicate inputs, first {len(ex)} of {nd.get('n_pairs')}",
                numeric=[False, True, False],
            )
        )
    else:
        parts.append(_note("No near-duplicate inputs."))
    return _section(anchor("duplicates"), f"{data} — duplicates", parts, 0)


def _suspects(doc: Mapping[str, Any], data: str, anchor: _Anchors) -> Section:
    s = doc["suspects"]
    top = s.get("top") or []
    parts = [
        _note(
            f"{s.get('n_pairs')} labelled pairs, {s.get('n_unanimous')} where every scorer "
            f"prefers the other response, {s.get('n_confident')} with ensemble P(other better) "
            "≥ 0.8; ranked by that probability."
            + (f" All exported to {s['exported_to']}." if s.get("exported_to") else "")
        ),
        table_html(
            [
                "#",
                "item",
                "human prefers",
                "over",
                "human score",
                "other's score",
                "P(other better)",
                "all agree",
            ],
            [
                [
                    fmt(r.get("rank")),
                    r.get("item_id"),
                    r.get("preferred_response_id"),
                    r.get("other_response_id"),
                    fmt(r.get("human_score_preferred")),
                    fmt(r.get("human_score_other")),
                    fmt(r.get("ensemble_p_other_better")),
                    "yes" if r.get("unanimous") else "no",
                ]
                for r in top
            ],
            caption=f"noisy-label candidates, first {len(top)}",
            numeric=[True, False, False, False, True, True, True, False],
        ),
    ]
    return _section(anchor("suspects"), f"{data} — noisy-label candidates", parts, 0)


# --- fit ------------------------------------------------------------------------------------


def _fit(doc: Mapping[str, Any], anchor: _Anchors) -> list[Section]:
    data, stat = _data_name(doc), str(doc.get("statistic"))
    sc, w = doc.get("scorers") or {}, doc.get("weights") or {}
    diff = doc.get("combination_minus_scorer") or {}
    svg = _dot_plot(
        [(n, [e]) for n, e in sc.items()],
        [stat],
        xlabel=f"{stat} (held out)",
        title=f"{data}: cross-fitted combination vs each scorer, 95% CIs",
    )
    parts = [
        _note(
            f"A Bradley–Terry combination of the scorers' standardized score differences "
            f"(L2 {doc.get('l2')}), cross-fitted over items ({doc.get('n_folds')} folds), "
            "against each scorer alone on the same held-out items."
        )
    ]
    if svg:
        parts.append(_figure(svg, f"{stat} with 95% CIs."))
    parts.append(
        table_html(
            ["scorer", f"{stat} [95% CI]", "combination − scorer [95% CI]", "weight (per SD)"],
            [[n, fmt_ci(e), fmt_ci(diff.get(n)), fmt(w.get(n))] for n, e in sc.items()],
            numeric=[False, True, True, True],
        )
    )
    return [
        _section(anchor("combination"), f"{data} — learned combination", parts, 1 if svg else 0)
    ]


# --- translation-pairs ----------------------------------------------------------------------

BUCKETS = (("all", "all pairs"), ("easy", "easy"), ("hard", "hard"))


def _translation_pairs(doc: Mapping[str, Any], anchor: _Anchors) -> list[Section]:
    d, st, buckets = doc.get("data") or {}, doc.get("settings") or {}, doc.get("buckets") or {}
    data = _data_name(doc)
    shown = [(b, label) for b, label in BUCKETS if (buckets.get(b) or {}).get("n_pairs")]
    allrows = (buckets.get("all") or {}).get("scorers") or {}
    order = sorted(allrows, key=lambda n: -_or(_stat(allrows[n]), -1.0))
    parts = [
        _note(
            f"{d.get('n_pairs')} pairs from {(buckets.get('all') or {}).get('n_segments')} "
            f"segments; easy {d.get('n_easy')} (MQM gap ≥ {st.get('easy_gap')}), hard "
            f"{d.get('n_hard')} ({st.get('min_gap')} < gap < {st.get('easy_gap')}). Accuracy: "
            "share of pairs where the scorer rates the lower-MQM-error translation strictly "
            f"higher (ties: {st.get('ties')}; a missing score counts wrong). 95% CIs by "
            f"bootstrap over segments ({st.get('n_resamples')} resamples, seed {st.get('seed')}); "
            "# = significance cluster (paired permutation test, whole segments swapped, "
            f"α = {st.get('alpha')})."
        )
    ]
    svg = _dot_plot(
        [(n, [(buckets[b]["scorers"] or {}).get(n) for b, _ in shown]) for n in order],
        [label for _, label in shown],
        xlabel="pair accuracy",
        title=f"{data}: translation-pairs accuracy per bucket, 95% CIs",
        shade=[int(allrows[n].get("cluster") or 0) % 2 == 0 for n in order],
    )
    if svg:
        parts.append(
            _figure(
                svg,
                "Pair accuracy per scorer and bucket (95% CIs); grey bands: even-numbered "
                "significance clusters on all pairs.",
            )
        )
    headers = ["scorer"]
    for _, label in shown:
        headers += [f"# {label}", f"{label} [95% CI]"]
    headers += ["ties", "missing"]
    rows, classes = [], []
    for n in order:
        cells: list[Any] = [n]
        for b, _ in shown:
            e = (buckets[b]["scorers"] or {}).get(n) or {}
            c = e.get("cluster")
            cells += [fmt(c) if c is not None else "", fmt_ci(e)]
        a = allrows[n]
        cells += [
            fmt(a["n_ties"] / a["n_pairs"]) if a.get("n_pairs") else "-",
            fmt(a.get("n_missing")),
        ]
        rows.append(cells)
        c0 = a.get("cluster")
        classes.append(
            f"cluster-{int(c0)} cluster-{'odd' if int(c0) % 2 else 'even'}"
            if c0 is not None
            else ""
        )
    parts.append(
        table_html(
            headers,
            rows,
            caption="leaderboard; rows shaded by cluster on all pairs",
            numeric=[False] + [True] * (len(headers) - 1),
            row_classes=classes,
        )
    )
    parts.append(
        table_html(
            ["bucket", "pairs", "segments", "MQM gap min", "MQM gap max"],
            [
                [
                    label,
                    fmt(buckets[b].get("n_pairs")),
                    fmt(buckets[b].get("n_segments")),
                    fmt(buckets[b].get("gap_min")),
                    fmt(buckets[b].get("gap_max")),
                ]
                for b, label in shown
            ],
            numeric=[False, True, True, True, True],
        )
    )
    for b, label in shown:
        sig = buckets[b].get("significance")
        if sig and sig.get("names"):
            parts.append(_pvalues(sig, label))
    skipped = doc.get("skipped_scorers") or []
    notes = list(doc.get("notes") or [])
    if skipped and not notes:
        notes = [f"{s.get('spec')} left out: {s.get('reason')}" for s in skipped]
    if notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_e(x)}</li>" for x in notes) + "</ul>")
    return [
        _section(anchor("translation-pairs"), f"{data} — translation pairs", parts, 1 if svg else 0)
    ]


def _pvalues(sig: Mapping[str, Any], label: str) -> str:
    """The corrected p-value matrix of one bucket (row better than column), folded."""
    names = list(sig["names"])
    pv = sig.get("pvalues_corrected") or sig.get("pvalues") or []
    rows = [[n, *[fmt(pv[i][j]) for j in range(len(names))]] for i, n in enumerate(names)]
    return _details(
        f"{label}: p-values ({sig.get('correction')}-corrected, {sig.get('test')}; "
        f"H1: row better than column)",
        table_html(["row \\ column", *names], rows, numeric=[False] + [True] * len(names)),
    )


_RENDERERS: dict[str, Callable[[Mapping[str, Any], _Anchors], list[Section]]] = {
    "probe": _probe,
    "calibrate": _calibrate,
    "overopt": _overopt,
    "quality": _quality,
    "fit": _fit,
    "translation-pairs": _translation_pairs,
}
