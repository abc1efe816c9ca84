"""Generic tables: JSONL, JSON, CSV/TSV and Parquet (any of them gzipped), with a column mapping.

Two shapes, told apart by the columns of the first record:

pointwise (one row per response, or per response and rater)
    ``item_id``; ``input`` (aliases ``prompt``, ``source``; text or chat messages);
    ``response`` (aliases ``output``, ``text``, ``hypothesis``); ``response_id`` (alias ``system``;
    default: the response's index within its item); ``score`` (optional: no value -> no judgment);
    ``rater`` (optional); ``reference`` / ``references`` (optional; text or list of texts).
pairwise
    ``prompt`` (aliases ``input``, ``source``), ``chosen``, ``rejected`` -> responses ``chosen`` and
    ``rejected`` with the preference ``a``; or ``prompt``, ``response_a``, ``response_b``, ``label``
    (alias ``winner``; ``a``/``b``/``tie``, also ``A>B``/``B>A``/``A=B``, ``model_a``/``model_b``)
    -> responses ``a`` and ``b``. ``item_id`` (alias ``id``) is optional: the default is the row's
    line number (its 1-based position in a JSON array). A response given as a whole
    chat (``[..., {"role": "assistant", ...}]``) is split into the dialogue (the input, when there
    is no prompt column) and the final reply.

Every other column becomes item metadata (``subset``, ``lp``, ``domain``, ``doc`` ...).
``mapping={"prompt": "question"}`` (CLI ``--map prompt=question``) reads our field ``prompt`` from
their column ``question``; errors then name ``question``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from ...errors import DataError
from ..builder import DatasetBuilder
from ..model import Dataset
from .common import (
    check_messages,
    dataset_name,
    id_value,
    is_messages,
    is_missing,
    label_value,
    metadata,
    note_default_ids,
    pick,
    references,
    require,
    split_final_reply,
)
from .fast import fast_pointwise
from .rows import Row, RowSource, as_source, open_rows, reported_as_rows

INPUT = ("input", "prompt", "source")
PROMPT = ("prompt", "input", "source")  # same aliases; a missing one is named "prompt"
RESPONSE = ("response", "output", "text", "hypothesis")
RESPONSE_ID = ("response_id", "system")
RATER = ("rater", "annotator")
LABEL = ("label", "winner")  # winner: model_a / model_b / tie, as Chatbot Arena writes it
REFERENCES = ("references", "reference")

POINTWISE_SHAPE = "pointwise"
CHOSEN_REJECTED = "chosen-rejected"
AB_LABEL = "ab-label"


def detect_shape(columns) -> str:
    """``chosen-rejected``, ``ab-label`` or ``pointwise`` from a record's keys / the columns."""
    cols = set(columns)
    if {"chosen", "rejected"} <= cols:
        return CHOSEN_REJECTED
    if {"response_a", "response_b"} <= cols:
        return AB_LABEL
    return POINTWISE_SHAPE


def load_table(
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
    shape: str | None = None,
) -> Dataset:
    """Load a generic table (see the module docstring). ``fmt``: jsonl, json, csv, tsv or parquet
    (default: by extension); ``shape``: pointwise, chosen-rejected or ab-label (default: by
    columns)."""
    src = open_rows(path, fmt, mapping=mapping)
    return parse_table_rows(src, name=name or dataset_name(str(path)), shape=shape)


def parse_table_rows(
    rows: RowSource | Iterable[Row],
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "data",
    shape: str | None = None,
    info: dict | None = None,
) -> Dataset:
    """Parse generic rows (a :class:`~overcoat.data.loaders.rows.RowSource` or an iterable of
    ``(line_no, dict)``; ``path`` and ``unit`` then say how errors name the position)."""
    src = as_source(rows, path=path, unit=unit)
    with reported_as_rows(src.unit):
        first, src = src.peek()
        if shape is None:
            shape = detect_shape(first[1] if first is not None else (src.columns or ()))
        info = {"format": "table", "shape": shape, **(info or {})}
        if shape == POINTWISE_SHAPE and src.arrow is not None:
            table = src.arrow()
            ds = (
                None
                if table is None
                else fast_pointwise(table, path=src.path, name=name, info=info)
            )
            if ds is not None:
                return ds
        b = DatasetBuilder(name, path=src.path, info=info)
        if shape == POINTWISE_SHAPE:
            _pointwise(src, b)
        elif shape == CHOSEN_REJECTED:
            _pairwise(src, b, ("chosen", "rejected"), None)
        elif shape == AB_LABEL:
            _pairwise(src, b, ("response_a", "response_b"), "label")
        else:
            raise DataError(
                f"unknown table shape {shape!r} (pointwise, chosen-rejected, ab-label)",
                path=src.path,
            )
        return b.build()


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def input_value(v: Any, *, src: RowSource, line: int, field: str | None) -> Any:
    """An input: text (may be empty) or chat messages (checked)."""
    if is_messages(v):
        return check_messages(v, src=src, line=line, field=field)
    if v is None:
        raise DataError("missing value", path=src.path, line=line, field=src.name(field))
    if not isinstance(v, str):
        raise DataError(
            f"expected text or chat messages, got {type(v).__name__}",
            path=src.path,
            line=line,
            field=src.name(field),
        )
    return v


def _pointwise(src: RowSource, b: DatasetBuilder) -> None:
    first_input: dict[str, tuple[int, Any, list]] = {}
    n_in_item: dict[str, int] = {}
    seen: dict[tuple, int] = {}
    for line, row in src.rows:
        v, _ = require(row, ("item_id",), src, line)
        iid = id_value(v, src=src, line=line, field="item_id")
        v, ik = require(row, INPUT, src, line)
        inp = input_value(v, src=src, line=line, field=ik)
        rv, rk = pick(row, REFERENCES)
        refs = references(rv, src=src, line=line, field=rk) if rk else []
        if iid not in first_input:
            used = {
                "item_id",
                ik,
                rk,
                *(k for k in RESPONSE + RESPONSE_ID + RATER if k in row),
                "score",
            }
            b.add_item(
                iid,
                inp,
                references=refs,
                metadata=metadata(row, used),
                line=line,
                field=src.name(ik),
            )
            first_input[iid] = (line, inp, refs)
        else:
            fl, finp, frefs = first_input[iid]
            if not _same(inp, finp):
                raise DataError(
                    f"item {iid!r} has a different input than on line {fl}",
                    path=src.path,
                    line=line,
                    field=src.name(ik),
                )
            if refs and not _same(refs, frefs):
                raise DataError(
                    f"item {iid!r} has different references than on line {fl}",
                    path=src.path,
                    line=line,
                    field=src.name(rk),
                )
        text, tk = require(row, RESPONSE, src, line)
        v, idk = pick(row, RESPONSE_ID)
        if idk is None or v is None:
            rid = str(n_in_item.get(iid, 0))
        else:
            rid = id_value(v, src=src, line=line, field=idk)
        n_in_item[iid] = n_in_item.get(iid, 0) + 1
        v, ratk = pick(row, RATER)
        rater = (
            None if ratk is None or is_missing(v) else id_value(v, src=src, line=line, field=ratk)
        )
        key = (iid, rid, rater)
        if key in seen:
            who = f" by rater {rater!r}" if rater is not None else ""
            raise DataError(
                f"duplicate row for response {rid!r} of item {iid!r}{who} (first on "
                f"line {seen[key]})",
                path=src.path,
                line=line,
                field=src.name(idk or "response_id"),
            )
        seen[key] = line
        b.add_response(
            iid, rid, text, line=line, field=src.name(tk), allow_duplicate_identical=True
        )
        score, sk = pick(row, ("score",))
        if (
            sk is not None
            and score is not None
            and not (isinstance(score, str) and not score.strip())
        ):
            b.add_score(iid, rid, score, rater=rater, line=line, field=src.name(sk))


def _pairwise(
    src: RowSource, b: DatasetBuilder, cols: tuple[str, str], label_col: str | None
) -> None:
    ca, cb = cols
    rids = ("chosen", "rejected") if label_col is None else ("a", "b")
    seen_items: dict[str, int] = {}
    n_default = 0
    for k, (line, row) in enumerate(src.rows, 1):
        v, idk = pick(row, ("item_id", "id"))
        if idk is None or v is None:
            iid, n_default = src.default_id(line, k), n_default + 1
        else:
            iid = id_value(v, src=src, line=line, field=idk)
        va, _ = require(row, (ca,), src, line)
        vb, _ = require(row, (cb,), src, line)
        conv_a, text_a = split_final_reply(va)
        conv_b, text_b = split_final_reply(vb)
        v, ik = pick(row, PROMPT)
        if conv_a is not None or conv_b is not None:
            if conv_a is not None and conv_b is not None and not _same(conv_a, conv_b):
                raise DataError(
                    f"{ca} and {cb} conversations differ before the final reply",
                    path=src.path,
                    line=line,
                    field=src.name(cb),
                )
            inp = check_messages(
                conv_a if conv_a is not None else conv_b,
                src=src,
                line=line,
                field=ca if conv_a is not None else cb,
            )
            ik = ik or (ca if conv_a is not None else cb)
        elif ik is None:
            raise DataError("missing field", path=src.path, line=line, field=src.name("prompt"))
        else:
            inp = input_value(v, src=src, line=line, field=ik)
        rv, rk = pick(row, REFERENCES)
        refs = references(rv, src=src, line=line, field=rk) if rk else []
        v, ratk = pick(row, RATER)
        rater = (
            None if ratk is None or is_missing(v) else id_value(v, src=src, line=line, field=ratk)
        )
        lk = None if label_col is None else (pick(row, LABEL)[1] or label_col)
        used = {idk, ik, rk, ratk, ca, cb, lk}
        multi = ratk is not None  # several raters may judge one pair: repeated rows are fine
        if not multi and iid in seen_items:
            raise DataError(
                f"duplicate item id {iid!r} (first on line {seen_items[iid]})",
                path=src.path,
                line=line,
                field=src.name(idk or "item_id"),
            )
        seen_items.setdefault(iid, line)
        b.add_item(
            iid,
            inp,
            references=refs,
            metadata=metadata(row, used),
            line=line,
            field=src.name(ik),
            allow_duplicate_identical=multi,
        )
        b.add_response(
            iid, rids[0], text_a, line=line, field=src.name(ca), allow_duplicate_identical=multi
        )
        b.add_response(
            iid, rids[1], text_b, line=line, field=src.name(cb), allow_duplicate_identical=multi
        )
        if label_col is None:
            label = "a"
        else:
            lv, lk = require(row, LABEL, src, line)
            label = label_value(lv, src=src, line=line, field=lk)
        b.add_preference(
            iid, rids[0], rids[1], label, rater=rater, line=line, field=src.name(lk or cb)
        )
    note_default_ids(b.info, src, n_default)
