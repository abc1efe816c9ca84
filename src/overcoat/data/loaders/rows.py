"""Row sources: a file (JSONL, JSON, CSV/TSV, Parquet; gzipped or not) as ``(line, dict)`` rows.

Every row parser in :mod:`overcoat.data.loaders` consumes an iterable of ``(line_no, row)`` pairs,
so files and Hugging Face data sets share them. The line number is what an error names:

* JSONL: the physical line of the record;
* JSON (an array of objects): the line where the object starts;
* CSV/TSV: the line where the record starts (the header is line 1);
* Parquet and Hugging Face data sets: the row index + 1, reported as ``row N``
  (:class:`RowSource.unit` is ``"row"``; :func:`reported_as_rows` rewrites the error).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import DataError
from ..io import decode_text, read_bytes

Row = tuple[int, dict]

#: schema metadata key on Arrow tables whose nulls may stand for absent keys (JSON Lines)
SPARSE_KEY = b"overcoat.sparse"

#: container formats a file can be read as
FILE_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class RowDataError(DataError):
    """A :class:`DataError` whose position is a row index (Parquet, Hugging Face), not a line."""

    position_word = "row"


@contextlib.contextmanager
def reported_as_rows(unit: str):
    """Within this block, a :class:`DataError` with a line number says ``row N`` when ``unit`` is
    ``"row"`` (the builder and the parsers only know "line")."""
    try:
        yield
    except RowDataError:
        raise
    except DataError as e:
        if unit != "row" or e.line is None:
            raise
        detail = e.detail.replace("(first on line ", "(first on row ")
        raise RowDataError(detail, path=e.path, line=e.line, field=e.field) from None


@dataclass
class RowSource:
    """Rows of one file or data set, with what is known of its columns up front."""

    path: str  # as errors name it
    rows: Iterable[Row]
    columns: list[str] | None = None  # CSV header, Parquet / Arrow schema; None for JSONL
    unit: str = "line"  # "line" or "row" (Parquet, Hugging Face)
    display: dict[str, str] = field(default_factory=dict)  # our field -> their column (mapping)
    #: the same rows as one Arrow table, when cheaply available (Parquet, Hugging Face, JSONL that
    #: pyarrow can read); a zero-argument callable returning the table or None. Used by columnar
    #: fast paths, which must give exactly what the row path gives (or decline).
    arrow: Callable[[], pa.Table | None] | None = None
    #: what a row without an id is numbered by: ``"line"`` (its line: JSON Lines, CSV; its row:
    #: Parquet, Hugging Face) or ``"record"`` (its 1-based position: a JSON array, where
    #: ``json.dump`` puts every record on line 1)
    ids_from: str = "line"

    def default_id(self, line: int, k: int) -> str:
        """The id of the ``k``-th row (1-based), on ``line``, when the row has none."""
        return str(k) if self.ids_from == "record" else str(line)

    def name(self, ours: str | None) -> str | None:
        """The column name the user knows for our field ``ours`` (after a mapping)."""
        return None if ours is None else self.display.get(ours, ours)

    def peek(self) -> tuple[Row | None, RowSource]:
        """The first row (or None) and a source that still yields every row."""
        it = iter(self.rows)
        first = next(it, None)
        if first is None:
            return None, RowSource(
                self.path, [], self.columns, self.unit, self.display, self.arrow, self.ids_from
            )
        return first, RowSource(
            self.path,
            _chain(first, it),
            self.columns,
            self.unit,
            self.display,
            self.arrow,
            self.ids_from,
        )


def _chain(first, it):
    yield first
    yield from it


# -- detection -------------------------------------------------------------------------------------
def file_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The container format of ``path``: ``fmt`` when given, else by extension (``.gz`` dropped),
    else by sniffing the first bytes."""
    if fmt is not None:
        fmt = fmt.lower()
        if fmt == "ndjson":
            fmt = "jsonl"
        if fmt not in FILE_FORMATS:
            raise DataError(
                f"unknown file format {fmt!r} (known: {', '.join(FILE_FORMATS)})", path=str(path)
            )
        return fmt
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    raw = read_bytes(path)
    if raw[:4] == b"PAR1":
        return "parquet"
    head = raw[:4096].lstrip()
    if head[:1] == b"{":
        return "jsonl"
    if head[:1] == b"[":
        return "json"
    raise DataError(
        "cannot tell the file format from its name; name it .jsonl, .json, .csv, "
        ".tsv or .parquet, or write FORMAT:PATH (e.g. jsonl:PATH)",
        path=str(path),
    )


def open_rows(
    path: str | os.PathLike, fmt: str | None = None, *, mapping: dict[str, str] | None = None
) -> RowSource:
    """Open a file as a :class:`RowSource` (read lazily row by row where the format allows)."""
    fmt = file_format(path, fmt)
    p = str(path)
    if fmt == "parquet":
        src = _parquet_source(p)
    elif fmt == "csv":
        src = _csv_source(p, delimiter=",")
    elif fmt == "tsv":
        src = _csv_source(p, delimiter="\t")
    else:  # json or jsonl: an array of objects or one object per line, whichever it is
        raw = read_bytes(p)
        array = raw[:64].lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"["
        src = RowSource(
            p,
            _json_rows(p, raw),
            arrow=lambda: _jsonl_arrow(raw),
            ids_from="record" if array else "line",
        )
    return apply_mapping(src, mapping)


def arrow_source(table: pa.Table, path: str) -> RowSource:
    """Rows of an Arrow table, positions reported as ``row N``."""
    return RowSource(
        path, _arrow_rows(table), list(table.column_names), unit="row", arrow=lambda: table
    )


# -- mapping ---------------------------------------------------------------------------------------
def parse_mapping(items: Iterable[str] | dict | None) -> dict[str, str]:
    """``["prompt=question", ...]`` (the CLI's ``--map``) or a dict -> ``{ours: theirs}``."""
    if items is None:
        return {}
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out = {}
    for s in items:
        ours, sep, theirs = str(s).partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise DataError(f"a column mapping is OURS=THEIRS (e.g. prompt=question), got {s!r}")
        out[ours.strip()] = theirs.strip()
    return out


def apply_mapping(src: RowSource, mapping: dict[str, str] | None) -> RowSource:
    """Rename columns: ``mapping={"prompt": "question"}``: their ``question`` is our ``prompt``."""
    mapping = parse_mapping(mapping)
    if not mapping:
        return src
    for ours, theirs in mapping.items():
        if src.columns is not None and theirs not in src.columns:
            raise DataError(
                f"mapped column {theirs!r} (for {ours!r}) is not in the data; columns: "
                f"{', '.join(src.columns)}",
                path=src.path,
                field=theirs,
            )
    display = {**src.display, **mapping}
    columns = None if src.columns is None else [_rename(c, mapping) for c in src.columns]

    def rows():
        checked = src.columns is not None
        for line, row in src.rows:
            if not checked:
                checked = True
                for ours, theirs in mapping.items():
                    if theirs not in row:
                        raise DataError(
                            f"mapped column {theirs!r} (for {ours!r}) is not in the "
                            f"first record; its fields: {', '.join(map(str, row))}",
                            path=src.path,
                            line=line,
                            field=theirs,
                        )
            out = {k: v for k, v in row.items() if k not in mapping.values()}
            for ours, theirs in mapping.items():
                if theirs in row:
                    out[ours] = row[theirs]
            yield line, out

    def arrow():
        t = src.arrow() if src.arrow is not None else None
        if t is None or any(theirs not in t.column_names for theirs in mapping.values()):
            return None
        names = [c for c in t.column_names if c not in mapping.values()]
        values = {c: t.column(c) for c in names}
        for ours, theirs in mapping.items():
            if ours not in values:
                names.append(ours)
            values[ours] = t.column(theirs)
        return pa.table([values[c] for c in names], names=names).replace_schema_metadata(
            t.schema.metadata
        )

    return RowSource(
        src.path,
        rows(),
        columns,
        src.unit,
        display,
        arrow if src.arrow is not None else None,
        src.ids_from,
    )


def _rename(col: str, mapping: dict[str, str]) -> str:
    for ours, theirs in mapping.items():
        if col == theirs:
            return ours
    return col


# -- readers ---------------------------------------------------------------------------------------
def _text(path: str) -> str:
    return decode_text(read_bytes(path), path)


def _text_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) as :func:`overcoat.data.io.iter_lines` numbers them (``\r\n`` and
    ``\r`` end lines too), lazily and without copying the text line by line up front."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    start, n, end_all = 0, 1, len(text)
    while start < end_all:
        end = text.find("\n", start)
        if end < 0:
            end = end_all
        yield n, text[start:end]
        start, n = end + 1, n + 1


def _jsonl_rows(path: str, text: str) -> Iterator[Row]:
    for n, line in _text_lines(text):
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as e:
            raise DataError(
                f"malformed JSON ({e.msg} at column {e.colno})", path=path, line=n
            ) from None
        except RecursionError:
            raise DataError(NESTED_TOO_DEEPLY, path=path, line=n) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {_json_type(obj)}", path=path, line=n)
        yield n, obj


NESTED_TOO_DEEPLY = (
    "JSON nested too deeply (arrays/objects inside each other beyond Python's limit)"
)

_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not JSON whitespace."""
    m = _WS.match(text, pos)
    return pos if m is None else m.end()


def _json_rows(path: str, raw: bytes) -> Iterator[Row]:
    """A JSON array of objects, each with the line it starts on. A file that does not start with
    ``[`` is read as JSON Lines."""
    text = decode_text(raw, path)
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        yield from _jsonl_rows(path, text)
        return
    dec = json.JSONDecoder()
    line, counted = 1, 0
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise DataError(
                f"malformed JSON ({e.msg} at column {e.colno})", path=path, line=e.lineno
            ) from None
        except RecursionError:
            raise DataError(NESTED_TOO_DEEPLY, path=path, line=line) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {_json_type(obj)}", path=path, line=line)
        yield line, obj
        pos = _skip_ws(text, end)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
            continue
        if text.startswith("]", pos):
            rest = _skip_ws(text, pos + 1)
            if rest != len(text):
                ln = text.count("\n", 0, rest) + 1
                raise DataError("malformed JSON (extra data after the array)", path=path, line=ln)
            return
        ln = text.count("\n", 0, pos) + 1
        raise DataError(
            "malformed JSON (expected ',' or ']' after an array element)", path=path, line=ln
        )


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(obj), "a number"
    )


def _csv_source(path: str, *, delimiter: str) -> RowSource:
    text = _text(path)
    csv.field_size_limit(2**31 - 1)
    kw: dict[str, Any] = {"quoting": csv.QUOTE_NONE} if delimiter == "\t" else {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, **kw)
    header = None
    try:
        for rec in reader:
            if rec:
                header = [h.strip() for h in rec]
                break
    except csv.Error as e:
        raise DataError(f"malformed CSV ({e})", path=path, line=reader.line_num) from None
    if header is None:
        return RowSource(path, [], [])
    seen = set()
    for h in header:
        if not h:
            raise DataError("empty column name in the header", path=path, line=reader.line_num)
        if h in seen:
            raise DataError(
                f"duplicate column {h!r} in the header", path=path, line=reader.line_num, field=h
            )
        seen.add(h)

    def rows():
        prev = reader.line_num
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise DataError(f"malformed CSV ({e})", path=path, line=prev + 1) from None
            start, prev = prev + 1, reader.line_num
            if not rec or (len(rec) == 1 and not rec[0].strip() and len(header) > 1):
                continue
            if len(rec) != len(header):
                raise DataError(
                    f"record has {len(rec)} fields, the header has {len(header)}",
                    path=path,
                    line=start,
                )
            yield start, dict(zip(header, rec))

    return RowSource(path, rows(), header)


def _parquet_source(path: str) -> RowSource:
    import pyarrow.parquet as pq

    raw = read_bytes(path)
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError(f"not a readable Parquet file ({msg})", path=path) from None
    return arrow_source(table, path)


def _jsonl_arrow(raw: bytes) -> pa.Table | None:
    """JSON Lines parsed by pyarrow (fast), or None when pyarrow cannot (a JSON array, NaN
    literals, mixed types ...): the caller then keeps to the row path."""
    import pyarrow.json as pj

    if raw.lstrip()[:1] != b"{":
        return None
    try:
        t = pj.read_json(pa.BufferReader(raw), read_options=pj.ReadOptions(block_size=1 << 24))
    except (pa.ArrowException, ValueError, OSError):
        return None
    # a key absent from a record reads as null here: mark the table so that fast paths know
    return t.replace_schema_metadata({**(t.schema.metadata or {}), SPARSE_KEY: b"1"})


def _arrow_rows(table: pa.Table) -> Iterator[Row]:
    n = 0
    for batch in table.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            n += 1
            yield n, row


def as_source(
    rows: RowSource | Iterable[Row], *, path: str | None = None, unit: str = "line"
) -> RowSource:
    """A :class:`RowSource` from a source or from a plain iterable of ``(line_no, dict)`` rows."""
    if isinstance(rows, RowSource):
        return rows
    return RowSource(path if path is not None else "<rows>", rows, None, unit)
