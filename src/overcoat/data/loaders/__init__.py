"""Loaders: files and data sets in their published layouts -> :class:`~overcoat.data.model.Dataset`.

Row-based formats share one design: a :class:`~overcoat.data.loaders.rows.RowSource` yields
``(line_no, dict)`` rows from a file (JSONL, JSON, CSV/TSV, Parquet, gzipped or not) or from a
Hugging Face data set, and a row parser (``parse_<format>_rows``) turns them into a Dataset through
the validating :class:`~overcoat.data.builder.DatasetBuilder`. :func:`detect_row_format` picks the
parser from the first row's columns.

Row formats: ``table`` (generic pointwise / pairwise tables), ``rewardbench``, ``rewardbench2``,
``rmbench``, ``judgebench``, ``hh-rlhf``. Directory formats: ``mtme`` (mt-metrics-eval).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable

from ...errors import DataError, SpecError
from ..model import Dataset
from .common import dataset_name
from .hh_rlhf import load_hh_rlhf, parse_hh_rlhf_rows
from .judgebench import load_judgebench, parse_judgebench_rows
from .mtme import load_mtme
from .rewardbench import (
    load_rewardbench,
    load_rewardbench2,
    parse_rewardbench2_rows,
    parse_rewardbench_rows,
)
from .rmbench import load_rmbench, parse_rmbench_rows
from .rows import Row, RowSource, as_source, open_rows, parse_mapping
from .tabular import load_table, parse_table_rows

ROW_PARSERS = {
    "table": parse_table_rows,
    "rewardbench": parse_rewardbench_rows,
    "rewardbench2": parse_rewardbench2_rows,
    "rmbench": parse_rmbench_rows,
    "judgebench": parse_judgebench_rows,
    "hh-rlhf": parse_hh_rlhf_rows,
}

FORMAT_ALIASES = {
    "tabular": "table",
    "reward-bench": "rewardbench",
    "rewardbench1": "rewardbench",
    "reward-bench-2": "rewardbench2",
    "rewardbench-2": "rewardbench2",
    "rm-bench": "rmbench",
    "hh": "hh-rlhf",
    "hh_rlhf": "hh-rlhf",
    "hhrlhf": "hh-rlhf",
}


def row_format(name: str) -> str:
    """The canonical row-format name (aliases accepted); unknown -> :class:`SpecError`."""
    key = name.strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in ROW_PARSERS:
        raise SpecError(f"unknown row format {name!r} (known: {', '.join(ROW_PARSERS)})")
    return key


#: fields that only one benchmark's rows have
RB2_FIELDS = frozenset({"num_correct", "num_rejected", "total_completions", "models"})
RB1_FIELDS = frozenset({"chosen_model", "rejected_model"})


def _texts(v) -> bool:
    return isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)


def row_format_candidates(row: dict) -> list[str]:
    """Every row format whose fields a record has (more than one: ambiguous).

    Benchmarks are told apart by the fields only they have: JudgeBench ``response_A``/
    ``response_B``; RewardBench 2 ``num_correct``/``num_rejected``/``total_completions``/
    ``models`` (lists of texts in ``chosen``/``rejected``); RM-Bench ``domain`` with exactly three
    style variants in both lists (``domain`` alone names RM-Bench); RewardBench v1 ``subset`` or
    ``chosen_model``/``rejected_model`` with text ``chosen``/``rejected``; HH-RLHF whole
    ``Human:/Assistant:`` transcripts without a prompt column. Lists of texts without either
    benchmark's fields fit RewardBench 2 (any lengths) and RM-Bench (three and three) alike.
    Anything else is a generic table.
    """
    keys = set(row)
    out = []
    if {"response_A", "response_B"} <= keys:
        out.append("judgebench")
    if {"chosen", "rejected"} <= keys:
        c, r = row["chosen"], row["rejected"]
        has_prompt = bool(keys & {"prompt", "input", "source"})
        if isinstance(c, str) and not has_prompt and "\n\nAssistant:" in c:
            out.append("hh-rlhf")
        elif _texts(c) and _texts(r):
            if keys & RB2_FIELDS:
                out.append("rewardbench2")
            if "domain" in keys:
                out.append("rmbench")
            if not out:  # neither benchmark's own fields: whatever the lists' shape allows
                out.append("rewardbench2")
                if len(c) == 3 and len(r) == 3:
                    out.append("rmbench")
        elif isinstance(c, str) and ("subset" in keys or keys & RB1_FIELDS):
            out.append("rewardbench")
    return out or ["table"]


def detect_row_format(row: dict, path: str | None = None) -> str:
    """Which row parser fits a record, from its columns (and the types of ``chosen``); a record
    that fits several formats is a :class:`SpecError` asking for ``FORMAT:PATH``."""
    fits = row_format_candidates(row)
    if len(fits) > 1:
        where = path or "PATH"
        raise SpecError(
            f"{where}: the first record fits several formats ({', '.join(fits)}); "
            f"say which with FORMAT:PATH, e.g. {fits[0]}:{where}"
        )
    return fits[0]


def parse_rows(
    rows: RowSource | Iterable[Row],
    format: str | None = None,
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "data",
    **options,
) -> Dataset:
    """Parse rows with the named row parser, or the one :func:`detect_row_format` picks."""
    src = as_source(rows, path=path, unit=unit)
    if format is None:
        first, src = src.peek()
        if first is None:
            raise DataError("no records found", path=src.path)
        format = detect_row_format(first[1], src.path)
    fmt = row_format(format)
    parser = ROW_PARSERS[fmt]
    accepted = set(inspect.signature(parser).parameters) - {"rows", "path", "unit"}
    for k in options:
        if k not in accepted:
            raise SpecError(
                f"option {k!r} does not apply to format {fmt!r}"
                + (
                    f" (its options: {', '.join(sorted(accepted - {'name'}))})"
                    if accepted - {"name"}
                    else ""
                )
            )
    return parser(src, name=name, **options)


def load_file(
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
    **options,
) -> Dataset:
    """Load a file: container ``fmt`` (jsonl/json/csv/tsv/parquet; default by extension) and row
    ``format`` (default: detected from the first record's columns)."""
    src = open_rows(path, fmt, mapping=mapping)
    return parse_rows(src, format, name=name or dataset_name(str(path)), **options)


__all__ = [
    "ROW_PARSERS",
    "RowSource",
    "detect_row_format",
    "row_format_candidates",
    "load_file",
    "load_hh_rlhf",
    "load_judgebench",
    "load_mtme",
    "load_rewardbench",
    "load_rewardbench2",
    "load_rmbench",
    "load_table",
    "open_rows",
    "parse_hh_rlhf_rows",
    "parse_judgebench_rows",
    "parse_mapping",
    "parse_rewardbench2_rows",
    "parse_rewardbench_rows",
    "parse_rmbench_rows",
    "parse_rows",
    "parse_table_rows",
    "row_format",
]
