"""Precomputed scores: a file of ``item_id, response_id, score`` (and optionally ``scorer``,
``content_hash``), or a wide file of ``chosen_score, rejected_score`` per pair.

JSONL, JSON, CSV/TSV or Parquet (gzipped or not). :func:`read_scores_file` validates every row
(missing fields, mistyped ids, NaN/inf or non-numeric scores, duplicate
``(scorer, item_id, response_id)``, malformed lines) with errors that name file, line and field,
and returns an Arrow table.

Long rows (one per response): ``item_id``, ``response_id`` (alias ``system``), ``score``; optional
``scorer`` (several scorers in one file), ``higher_is_better`` (``true``/``false``; written by
``overcoat score``), ``content_hash`` (written by ``overcoat score``: :func:`content_hash` of the
item's input and the response), or the texts themselves (``input``/``prompt`` and ``response``),
from which the hash is computed.

Wide rows (one per preference pair): ``chosen_score`` and ``rejected_score`` give the responses
``chosen`` and ``rejected`` of item ``item_id`` (alias ``id``); with ``prompt``, ``chosen`` and
``rejected`` texts (or chats) in the row, each response also gets its content hash, and the ids
may be left out.
"""

from __future__ import annotations

import hashlib
import json
import os

import pyarrow as pa

from ..errors import DataError
from .builder import score_field, text_field
from .loaders.common import id_value, is_missing, pick, require, split_final_reply
from .loaders.rows import open_rows, reported_as_rows

SCORES_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("response_id", pa.string()),
        ("score", pa.float64()),
        ("scorer", pa.string()),
        ("content_hash", pa.string()),
        ("higher_is_better", pa.bool_()),
    ]
)

#: hex digits of :func:`content_hash` (64 bits)
HASH_DIGITS = 16


def content_hash(input: str, response: str) -> str:
    """The content key of one response: the first 16 hex digits of
    ``sha256(json.dumps([input, response]))`` (``input`` is the item's input text, a chat rendered
    as the data model renders it). ``overcoat score`` writes it beside the ids, so that a scores
    file finds its responses even when the data's ids are only line numbers."""
    return hashlib.sha256(json.dumps([input, response]).encode("utf-8")).hexdigest()[:HASH_DIGITS]


def response_content_hashes(dataset) -> list[str]:
    """:func:`content_hash` of every response of a data set (aligned with ``dataset.responses``)."""
    inputs = dict(
        zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("input").to_pylist())
    )
    return [
        content_hash(inputs[i], t)
        for i, t in zip(
            dataset.responses.column("item_id").to_pylist(),
            dataset.responses.column("text").to_pylist(),
        )
    ]


def _text(v, src, line, field, allow_empty=False) -> str:
    return text_field(v, path=src.path, line=line, field=src.name(field), allow_empty=allow_empty)


def _hash_value(v, src, line, field) -> str | None:
    if is_missing(v):
        return None
    if not isinstance(v, str):
        raise DataError(
            f"expected a content hash (text), got {type(v).__name__}",
            path=src.path,
            line=line,
            field=src.name(field),
        )
    return v.strip().lower()


def _bool_value(v, src, line, field) -> bool | None:
    if is_missing(v):
        return None
    if isinstance(v, (bool, int)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise DataError(
        f"expected true or false, got {v!r}", path=src.path, line=line, field=src.name(field)
    )


def read_scores_file(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    scorer: str | None = None,
) -> pa.Table:
    """Read precomputed scores -> ``pa.Table(item_id, response_id, score float64, scorer,
    content_hash, higher_is_better)`` (see the module docstring for the two shapes).

    ``scorer`` fills the ``scorer`` column for rows without one (default: null). ``mapping``
    renames columns as for data files (``{"score": "metric_value"}``). ``item_id`` is null only
    for rows that carry a content hash.
    """
    src = open_rows(path, fmt, mapping=mapping)
    cols: dict[str, list] = {k: [] for k in SCORES_SCHEMA.names}
    seen: dict[tuple, int] = {}

    def add(line, iid, rid, x, name, h, rk, hib=None):
        key = (name, iid, rid) if iid is not None else (name, h, rid)
        if key in seen:
            who = f" from scorer {name!r}" if name is not None else ""
            what = f"item {iid!r}" if iid is not None else f"content hash {h!r}"
            raise DataError(
                f"duplicate score for response {rid!r} of {what}{who} (first on line {seen[key]})",
                path=src.path,
                line=line,
                field=src.name(rk),
            )
        seen[key] = line
        for k, v in zip(SCORES_SCHEMA.names, (iid, rid, x, name, h, hib)):
            cols[k].append(v)

    def score(row, key, line):
        v, sk = require(row, (key,), src, line)
        if isinstance(v, str) and not v.strip():
            raise DataError("missing value", path=src.path, line=line, field=src.name(sk))
        return score_field(v, path=src.path, line=line, field=src.name(sk))

    with reported_as_rows(src.unit):
        for line, row in src.rows:
            name = row.get("scorer")
            name = (
                scorer if is_missing(name) else id_value(name, src=src, line=line, field="scorer")
            )
            if "score" not in row and ("chosen_score" in row or "rejected_score" in row):
                _wide_row(row, src, line, name, add, score)
                continue
            hv, hk = pick(row, ("content_hash",))
            h = _hash_value(hv, src, line, hk) if hk else None
            if h is None and "response" in row and pick(row, ("input", "prompt"))[1]:
                iv, ik = pick(row, ("input", "prompt"))
                h = content_hash(
                    _text(iv, src, line, ik, allow_empty=True),
                    _text(row["response"], src, line, "response", allow_empty=True),
                )
            v, ik = pick(row, ("item_id",))
            if h is not None and (ik is None or is_missing(v)):
                iid = None
            else:
                v, _ = require(row, ("item_id",), src, line)
                iid = id_value(v, src=src, line=line, field="item_id")
            v, rk = require(row, ("response_id", "system"), src, line)
            rid = id_value(v, src=src, line=line, field=rk)
            hv, hk = pick(row, ("higher_is_better",))
            hib = _bool_value(hv, src, line, hk) if hk else None
            add(line, iid, rid, score(row, "score", line), name, h, rk, hib)
    if not cols["score"]:
        raise DataError("no scores found", path=str(path))
    return pa.table(cols, schema=SCORES_SCHEMA)


def _wide_row(row, src, line, name, add, score) -> None:
    """``chosen_score``/``rejected_score`` (+ ``item_id``/``id``, + texts) -> two long rows."""
    v, idk = pick(row, ("item_id", "id"))
    iid = None if idk is None or is_missing(v) else id_value(v, src=src, line=line, field=idk)
    hashes: dict[str, str | None] = {"chosen": None, "rejected": None}
    if "chosen" in row and "rejected" in row:
        convs, replies = {}, {}
        for kind in hashes:
            convs[kind], replies[kind] = split_final_reply(row[kind])
        pv, pk = pick(row, ("prompt", "input", "source"))
        if pk is not None:
            inp = _text(pv, src, line, pk, allow_empty=True)
        elif convs["chosen"] is not None:
            inp = _text(convs["chosen"], src, line, "chosen", allow_empty=True)
        else:
            inp = None
        if inp is not None:
            for kind in hashes:
                hashes[kind] = content_hash(
                    inp, _text(replies[kind], src, line, kind, allow_empty=True)
                )
    if iid is None and hashes["chosen"] is None:
        raise DataError(
            "a wide scores row needs item_id (or id), or the prompt, chosen and "
            "rejected texts, to be matched to the data",
            path=src.path,
            line=line,
            field=src.name("item_id"),
        )
    for kind in ("chosen", "rejected"):
        add(line, iid, kind, score(row, f"{kind}_score", line), name, hashes[kind], f"{kind}_score")
