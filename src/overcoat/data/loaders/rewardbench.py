"""RewardBench (v1) and RewardBench 2 rows.

RewardBench v1 (``allenai/reward-bench``): ``prompt, chosen, chosen_model, rejected,
rejected_model, subset, id``. One item per row (id ``id``), responses ``chosen`` and ``rejected``,
the preference ``a``; ``subset`` and the model columns become item metadata.

RewardBench 2 (``allenai/reward-bench-2``): ``id, prompt, chosen`` (list), ``rejected`` (list),
``num_correct, num_rejected, total_completions, models, subset``. One item per row, responses
``chosen-0 ..`` and ``rejected-0 ..`` with pointwise scores 1 (chosen) and 0 (rejected), so a
"best of n" rule (every chosen above every rejected) applies on the human matrix.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ...errors import DataError
from ..benchmark_fields import REWARDBENCH, REWARDBENCH2
from ..builder import DatasetBuilder
from ..model import Dataset
from .common import dataset_name, metadata, note_default_ids, require, row_item_id, text_list
from .rows import Row, RowSource, as_source, open_rows, reported_as_rows
from .tabular import CHOSEN_REJECTED, PROMPT, input_value, parse_table_rows


def parse_rewardbench_rows(
    rows: RowSource | Iterable[Row],
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "reward-bench",
) -> Dataset:
    """RewardBench v1 rows -> pairwise data set (responses ``chosen``/``rejected``)."""
    return parse_table_rows(
        rows,
        path=path,
        unit=unit,
        name=name,
        shape=CHOSEN_REJECTED,
        info={"format": REWARDBENCH.format},
    )


def load_rewardbench(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
) -> Dataset:
    """A RewardBench v1 file (JSONL, JSON or Parquet, maybe gzipped)."""
    return parse_rewardbench_rows(
        open_rows(path, fmt, mapping=mapping), name=name or dataset_name(str(path))
    )


def parse_rewardbench2_rows(
    rows: RowSource | Iterable[Row],
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "reward-bench-2",
) -> Dataset:
    """RewardBench 2 rows -> pointwise data set (``chosen-k`` scored 1, ``rejected-k`` 0)."""
    src = as_source(rows, path=path, unit=unit)
    with reported_as_rows(src.unit):
        b = DatasetBuilder(name, path=src.path, info={"format": REWARDBENCH2.format})
        add_graded_rows(src, b, lambda kind, k, n, line: f"{kind}-{k}")
        return b.build()


def add_graded_rows(src: RowSource, b: DatasetBuilder, response_id) -> None:
    """Rows of ``prompt, chosen: [..], rejected: [..]`` -> one item each, responses named by
    ``response_id(kind, index, count, line)`` and scored 1 (chosen) / 0 (rejected)."""
    seen: dict[str, int] = {}
    n_default = 0
    for n, (line, row) in enumerate(src.rows, 1):
        iid, idk = row_item_id(
            row, ("id", "item_id"), src=src, line=line, seen=seen, default=src.default_id(line, n)
        )
        n_default += idk is None
        v, ik = require(row, PROMPT, src, line)
        inp = input_value(v, src=src, line=line, field=ik)
        lists = {}
        for kind in ("chosen", "rejected"):
            v, _ = require(row, (kind,), src, line)
            if isinstance(v, str):  # one text where the format has a list: a row of another shape
                raise DataError(
                    f"expected a list of texts, got a string (this format keeps "
                    f'{kind} answers in a list: ["..."])',
                    path=src.path,
                    line=line,
                    field=src.name(kind),
                )
            lists[kind] = text_list(v, src=src, line=line, field=kind)
            if not lists[kind]:
                raise DataError(
                    f"needs at least one {kind} response",
                    path=src.path,
                    line=line,
                    field=src.name(kind),
                )
        b.add_item(
            iid,
            inp,
            metadata=metadata(row, {idk, ik, "chosen", "rejected"}),
            line=line,
            field=src.name(ik),
        )
        for kind, score in (("chosen", 1.0), ("rejected", 0.0)):
            texts = lists[kind]
            for k, text in enumerate(texts):
                rid = response_id(kind, k, len(texts), line)
                b.add_response(iid, rid, text, line=line, field=f"{src.name(kind)}[{k}]")
                b.add_score(iid, rid, score, line=line, field=src.name(kind))
    note_default_ids(b.info, src, n_default)


def load_rewardbench2(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
) -> Dataset:
    """A RewardBench 2 file (JSONL, JSON or Parquet, maybe gzipped)."""
    return parse_rewardbench2_rows(
        open_rows(path, fmt, mapping=mapping), name=name or dataset_name(str(path))
    )
