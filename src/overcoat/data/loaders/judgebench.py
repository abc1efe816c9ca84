"""JudgeBench rows (``ScalerLab/JudgeBench``).

Each row: ``pair_id, original_id, source, question, response_model, response_A, response_B,
label`` with label ``A>B`` or ``B>A``. One item per row (id ``pair_id``), responses ``A`` and ``B``,
a pairwise preference; ``source``, ``original_id`` and ``response_model`` become item metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..benchmark_fields import JUDGEBENCH
from ..builder import DatasetBuilder
from ..model import Dataset
from .common import dataset_name, label_value, metadata, note_default_ids, require, row_item_id
from .rows import Row, RowSource, as_source, open_rows, reported_as_rows
from .tabular import input_value

QUESTION = ("question", "prompt", "input")


def parse_judgebench_rows(
    rows: RowSource | Iterable[Row],
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "judgebench",
) -> Dataset:
    """JudgeBench rows -> pairwise data set (responses ``A``/``B``)."""
    src = as_source(rows, path=path, unit=unit)
    with reported_as_rows(src.unit):
        b = DatasetBuilder(name, path=src.path, info={"format": JUDGEBENCH.format})
        seen: dict[str, int] = {}
        n_default = 0
        for n, (line, row) in enumerate(src.rows, 1):
            iid, idk = row_item_id(
                row,
                ("pair_id", "id", "item_id"),
                src=src,
                line=line,
                seen=seen,
                default=src.default_id(line, n),
            )
            n_default += idk is None
            v, qk = require(row, QUESTION, src, line)
            inp = input_value(v, src=src, line=line, field=qk)
            ra, _ = require(row, ("response_A",), src, line)
            rb, _ = require(row, ("response_B",), src, line)
            lv, _ = require(row, ("label",), src, line)
            label = label_value(lv, src=src, line=line, field="label")
            meta = metadata(row, {idk, qk, "response_A", "response_B", "label"})
            b.add_item(iid, inp, metadata=meta, line=line, field=src.name(qk))
            b.add_response(iid, "A", ra, line=line, field=src.name("response_A"))
            b.add_response(iid, "B", rb, line=line, field=src.name("response_B"))
            b.add_preference(iid, "A", "B", label, line=line, field=src.name("label"))
        note_default_ids(b.info, src, n_default)
        return b.build()


def load_judgebench(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
) -> Dataset:
    """A JudgeBench file (JSONL, JSON or Parquet, maybe gzipped)."""
    return parse_judgebench_rows(
        open_rows(path, fmt, mapping=mapping), name=name or dataset_name(str(path))
    )
