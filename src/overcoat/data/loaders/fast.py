"""A columnar fast path for large pointwise tables (Parquet, Hugging Face, JSONL via pyarrow).

:func:`fast_pointwise` builds exactly the Dataset that the row path
(:func:`overcoat.data.loaders.tabular.parse_table_rows`) builds, with Arrow and numpy instead of
a Python call per row, or returns None to decline. It declines whenever the table holds anything
the row path would reject or treat specially (nulls in required fields, chat messages, empty
responses, non-finite scores, duplicates, conflicting inputs, list references, unusual types),
so every error still comes from the row path with its file, line and field.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import POINTWISE, POINTWISE_SCHEMA, RESPONSE_SCHEMA, Dataset, Judgments
from .common import meta_value
from .rows import SPARSE_KEY

INPUT = ("input", "prompt", "source")
RESPONSE = ("response", "output", "text", "hypothesis")
RESPONSE_ID = ("response_id", "system")
RATER = ("rater", "annotator")
REFERENCES = ("references", "reference")
RESERVED = {"item_id", "input", "messages", "references"}

#: below this many rows the row path is fast enough
MIN_ROWS = 2000

# exactly the characters for which Python's str.isspace() is true, as an RE2 class
_SPACE = r"\t-\r\x1c-\x1f\x{85}\p{Z}"
_BLANK = f"^[{_SPACE}]*$"
_EDGE = f"^[{_SPACE}]|[{_SPACE}]$"


class _Decline(Exception):
    pass


def _any(mask) -> bool:
    return bool(pc.any(mask).as_py() or False)


def _one(cols: list[str], names: tuple[str, ...], required: bool) -> str | None:
    present = [n for n in names if n in cols]
    if len(present) > 1 or (required and not present):
        raise _Decline
    return present[0] if present else None


def _strings(col: pa.ChunkedArray) -> pa.Array:
    """A string column as one ``pa.string()`` array, or decline."""
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), pa.string())
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        raise _Decline
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.string()) if arr.type != pa.string() else arr


def _ids(col: pa.ChunkedArray, *, nulls_ok: bool, blank_is_null: bool) -> pa.Array:
    """Ids as the row path makes them (stripped text, integers as text); nulls kept where
    ``nulls_ok``; blank text is null where ``blank_is_null``, else declines."""
    if pa.types.is_integer(col.type):
        arr = pc.cast(col, pa.string())
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    else:
        arr = _strings(col)
    if arr.null_count and not nulls_ok:
        raise _Decline
    if pa.types.is_integer(col.type):
        return arr
    blank = pc.match_substring_regex(arr, _BLANK)
    if _any(blank):
        if not blank_is_null:
            raise _Decline
        arr = pc.if_else(blank, pa.scalar(None, pa.string()), arr)
    if _any(pc.match_substring_regex(arr, _EDGE)):  # rare: strip exactly as Python does
        arr = pa.array([None if v is None else v.strip() for v in arr.to_pylist()], pa.string())
    return arr


def _codes(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Dictionary codes (first-appearance order; null -> -1) and the distinct values."""
    enc = pc.dictionary_encode(arr)
    idx = enc.indices
    codes = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary


def fast_pointwise(table: pa.Table, *, path: str, name: str, info: dict) -> Dataset | None:
    """The pointwise Dataset of ``table`` (one row per response and rater), or None."""
    if table.num_rows < MIN_ROWS:
        return None
    try:
        return _build(table, path=path, name=name, info=info)
    except _Decline:
        return None


def _build(table: pa.Table, *, path: str, name: str, info: dict) -> Dataset:
    cols = table.column_names
    if len(set(cols)) != len(cols) or "item_id" not in cols:
        raise _Decline
    ik = _one(cols, INPUT, True)
    tk = _one(cols, RESPONSE, True)
    idk = _one(cols, RESPONSE_ID, False)
    ratk = _one(cols, RATER, False)
    rk = next((k for k in REFERENCES if k in cols), None)
    n = table.num_rows
    rows = np.arange(n)

    # items in first-appearance order; every row of an item has the item's input
    item = _ids(table.column("item_id"), nulls_ok=False, blank_is_null=False)
    icode, item_ids = _codes(item)
    _, first = np.unique(icode, return_index=True)  # first row of each item
    inputs = _strings(table.column(ik))
    if inputs.null_count:
        raise _Decline
    incode, _ = _codes(inputs)
    if not np.array_equal(incode, incode[first[icode]]):
        raise _Decline

    # references: text (blank/null = none); a later non-empty one equals the item's first
    refs: list[list[str]] = [[] for _ in range(len(item_ids))]
    if rk is not None:
        rv = _strings(table.column(rk))
        blank = pc.fill_null(pc.match_substring_regex(rv, _BLANK), True)
        rv = pc.if_else(blank, pa.scalar(None, pa.string()), rv)
        rcode, rdict = _codes(rv)
        first_ref = rcode[first[icode]]
        given = rcode >= 0
        if not np.array_equal(rcode[given], first_ref[given]):
            raise _Decline
        rd = rdict.to_pylist()
        refs = [[rd[c]] if c >= 0 else [] for c in rcode[first]]

    # response ids: given, or the row's position within its item
    order = np.argsort(icode, kind="stable")
    per = np.bincount(icode, minlength=len(item_ids))
    starts = np.concatenate([[0], np.cumsum(per)[:-1]])
    pos = np.empty(n, np.int64)
    pos[order] = rows - np.repeat(starts, per)
    default = pa.array(pos).cast(pa.string())
    if idk is not None:
        rid = _ids(table.column(idk), nulls_ok=True, blank_is_null=False)
        rid = pc.if_else(pc.is_null(rid), default, rid)
    else:
        rid = default

    rater = (
        _ids(table.column(ratk), nulls_ok=True, blank_is_null=True)
        if ratk is not None
        else pa.nulls(n, pa.string())
    )

    texts = _strings(table.column(tk))
    if texts.null_count or _any(pc.match_substring_regex(texts, _BLANK)):
        raise _Decline

    # responses: unique (item, response id) in first-appearance order, one text each;
    # (item, response id, rater) at most once
    ridcode, rdistinct = _codes(rid)
    key = icode * max(len(rdistinct), 1) + ridcode
    _, rfirst, rinv = np.unique(key, return_index=True, return_inverse=True)
    tcode, _ = _codes(texts)
    if not np.array_equal(tcode, tcode[rfirst[rinv]]):
        raise _Decline
    ratcode, rtdistinct = _codes(rater)
    key3 = rinv.reshape(-1) * (len(rtdistinct) + 1) + (ratcode + 1)
    if len(np.unique(key3)) != n:
        raise _Decline
    resp_rows = pa.array(np.sort(rfirst))

    # scores: numbers; null = no judgment; every given score finite
    judgments = None
    if "score" in cols:
        sc = table.column("score")
        if pa.types.is_null(sc.type):
            mask = np.zeros(n, bool)
            vals = np.zeros(n)
        elif pa.types.is_integer(sc.type) or pa.types.is_floating(sc.type):
            vals = sc.to_numpy(zero_copy_only=False).astype(float)  # nulls -> NaN
            mask = ~np.asarray(sc.is_null().to_numpy(zero_copy_only=False), bool)
            if not np.all(np.isfinite(vals[mask])):
                raise _Decline
        else:
            raise _Decline
        if mask.any():
            keep = pa.array(mask)
            judgments = Judgments(
                POINTWISE,
                pa.table(
                    {
                        "item_id": item.filter(keep),
                        "response_id": rid.filter(keep),
                        "rater": rater.filter(keep),
                        "score": pa.array(vals[mask], pa.float64()),
                    },
                    schema=POINTWISE_SCHEMA,
                ),
            )

    # item metadata: every other column, from the item's first row, as text
    used = {"item_id", ik, rk, "score", *(k for k in RESPONSE + RESPONSE_ID + RATER if k in cols)}
    meta_cols = [c for c in cols if c not in used and c not in RESERVED]
    sparse = (table.schema.metadata or {}).get(SPARSE_KEY) == b"1"
    first_rows = pa.array(first)
    icols: dict[str, object] = {
        "item_id": item_ids,
        "input": inputs.take(first_rows),
        "messages": pa.nulls(len(item_ids), pa.string()),
        "references": pa.array(refs, pa.list_(pa.string())),
    }
    for c in meta_cols:
        col = table.column(c)
        if sparse and col.null_count:
            raise _Decline  # the row path only knows keys seen in an item's first record
        t = col.type
        if not (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_integer(t)
            or pa.types.is_boolean(t)
            or pa.types.is_null(t)
        ):
            raise _Decline  # floats, lists, structs: keep the row path's exact rendering
        icols[c] = pa.array([meta_value(v) for v in col.take(first_rows).to_pylist()], pa.string())
    schema = pa.schema(
        [
            ("item_id", pa.string()),
            ("input", pa.string()),
            ("messages", pa.string()),
            ("references", pa.list_(pa.string())),
        ]
        + [(c, pa.string()) for c in meta_cols]
    )
    items = pa.table(icols, schema=schema)
    responses = pa.table(
        {
            "item_id": item.take(resp_rows),
            "response_id": rid.take(resp_rows),
            "text": texts.take(resp_rows),
        },
        schema=RESPONSE_SCHEMA,
    )
    return Dataset(name, items, responses, judgments, source=path, info=dict(info))
