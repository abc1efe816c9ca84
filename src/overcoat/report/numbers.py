"""How every report (terminal tables, HTML) writes a number: one rule, so the terminal and the
page show the same digits.

- missing (``None``) and NaN are a dash (``missing``: ``-`` by default; the meta-eval terminal
  tables use an en dash);
- integers (counts) are written as integers, booleans as ``True``/``False``;
- every other number with ``digits`` decimals;
- an estimate (a dict with ``statistic`` and ``confidence_interval``) as ``statistic [lo, hi]``,
  the interval left out where there is none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["fmt", "fmt_ci"]


def fmt(x: Any, digits: int = 3, missing: str = "-") -> str:
    """A number for a table cell: ``missing`` for None/NaN, integers as integers, else ``digits``
    decimals (anything that is not a number as ``str``)."""
    if x is None:
        return missing
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return missing if math.isnan(v) else f"{v:.{digits}f}"


def fmt_ci(estimate: Mapping[str, Any] | None, digits: int = 3, missing: str = "-") -> str:
    """``statistic [lo, hi]`` of a result dict (``statistic``, ``confidence_interval``)."""
    if not estimate or estimate.get("statistic") is None:
        return missing
    s = fmt(estimate["statistic"], digits, missing)
    ci = estimate.get("confidence_interval")
    if not ci or ci[0] is None:
        return s
    return f"{s} [{fmt(ci[0], digits, missing)}, {fmt(ci[1], digits, missing)}]"
