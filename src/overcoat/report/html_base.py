"""Building blocks of the HTML report (:mod:`overcoat.report.html`): a :class:`Section` (what
each renderer returns), matplotlib figures as inline SVG, escaped HTML tables, and the colours.

Renderers read the JSON documents only (meta-eval's and the pitfall commands'); they never
recompute a statistic. Plots are matplotlib figures serialised to SVG with real text
(``svg.fonttype = 'none'``), so the page needs no network, no script and no font files, prints,
and its numbers can be searched and copied. Every plot's numbers are also in a table beside it.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .numbers import fmt, fmt_ci

__all__ = [
    "OKABE_ITO",
    "Section",
    "figure",
    "fmt",
    "fmt_ci",
    "svg_of",
    "table_html",
]

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",
)


@dataclass
class Section:
    """One part of the page: ``anchor`` (unique id, ``[a-z0-9-]``), a heading, and its HTML body
    (already escaped where it holds data). ``n_plots`` counts the inline ``<svg>`` plots in
    ``html`` (the browser test checks that each one rendered). ``subsections`` nest one level."""

    anchor: str
    title: str
    html: str
    n_plots: int = 0
    subsections: list[Section] = field(default_factory=list)


def figure(width: float = 6.4, height: float = 3.6) -> tuple[Any, Any]:
    """A matplotlib (Agg, no display) figure and axes with the report's style."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_prop_cycle(color=OKABE_ITO)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def svg_of(fig: Any, title: str) -> str:
    """The figure as an inline ``<svg>`` element (text as text, no XML prolog), with ``title`` as
    its accessible name (``role="img"``, ``aria-label`` and a ``<title>``)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "overcoat"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.index("<svg")
    text = text[start:]
    head_end = text.index(">")
    t = html.escape(title, quote=True)
    return (
        text[:head_end]
        + f' role="img" aria-label="{t}" class="plot"'
        + text[head_end : head_end + 1]
        + f"<title>{t}</title>"
        + text[head_end + 1 :]
    )


def table_html(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
    numeric: Sequence[bool] | None = None,
    row_classes: Sequence[str] | None = None,
) -> str:
    """An escaped ``<table>``: cells are converted with ``str`` (format numbers first with
    :func:`fmt`); ``numeric`` right-aligns columns; ``row_classes`` adds a class per row (e.g.
    ``cluster-1``, ``degenerate``)."""
    num = list(numeric) if numeric is not None else [False] * len(headers)
    out = ['<table class="data">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(f'<th scope="col">{html.escape(str(h))}</th>' for h in headers)
        + "</tr></thead><tbody>"
    )
    for i, row in enumerate(rows):
        cls = f' class="{html.escape(row_classes[i])}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{html.escape(str(c))}</td>'
            if (j < len(num) and num[j])
            else f"<td>{html.escape(str(c))}</td>"
            for j, c in enumerate(row)
        )
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)
