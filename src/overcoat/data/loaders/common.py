"""Field helpers shared by the row parsers: ids, labels, optional values, metadata, chats."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ...errors import DataError
from .rows import RowSource

MISSING = object()


def is_missing(v: Any) -> bool:
    """None, NaN or an empty/blank string (CSV) count as "no value"."""
    return (
        v is None
        or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and not v.strip())
    )


def pick(row: dict, names: tuple[str, ...]) -> tuple[Any, str | None]:
    """The first present key among ``names`` (aliases): ``(value, key)``, or ``(MISSING, None)``."""
    for n in names:
        if n in row:
            return row[n], n
    return MISSING, None


def require(row: dict, names: tuple[str, ...], src: RowSource, line: int) -> tuple[Any, str]:
    """Like :func:`pick`, but a missing field is an error naming the first alias."""
    v, k = pick(row, names)
    if k is None:
        raise DataError("missing field", path=src.path, line=line, field=src.name(names[0]))
    return v, k


def id_value(v: Any, *, src: RowSource, line: int, field: str | None) -> str:
    """An id: a non-empty string or an integer (an integral float from a CSV/pandas is accepted)."""
    if isinstance(v, bool):
        raise DataError(
            "expected an id (text or integer), got bool",
            path=src.path,
            line=line,
            field=src.name(field),
        )
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return str(int(v))
    if isinstance(v, str):
        if not v.strip():
            raise DataError("empty id", path=src.path, line=line, field=src.name(field))
        return v.strip()
    if v is None:
        raise DataError("missing value", path=src.path, line=line, field=src.name(field))
    raise DataError(
        f"expected an id (text or integer), got {type(v).__name__}",
        path=src.path,
        line=line,
        field=src.name(field),
    )


def is_messages(v: Any) -> bool:
    """A chat: a non-empty list of dicts (``{role, content}``)."""
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) for m in v)


def check_messages(v: Any, *, src: RowSource, line: int, field: str | None) -> list[dict]:
    out = []
    for k, m in enumerate(v):
        if "role" not in m or "content" not in m:
            raise DataError(
                f"chat message {k} needs 'role' and 'content'",
                path=src.path,
                line=line,
                field=src.name(field),
            )
        content = m["content"]
        if not isinstance(content, str):
            raise DataError(
                f"chat message {k} content must be text, got {type(content).__name__}",
                path=src.path,
                line=line,
                field=src.name(field),
            )
        out.append({"role": str(m["role"]), "content": content})
    return out


def split_final_reply(v: Any) -> tuple[list[dict] | None, Any]:
    """A response given as a whole chat (``[..., {role: assistant, content}]``): the preceding
    messages and the final assistant reply. Anything else: ``(None, v)``."""
    if is_messages(v) and len(v) > 1 and str(v[-1].get("role", "")).lower() == "assistant":
        return list(v[:-1]), v[-1].get("content")
    return None, v


def text_list(v: Any, *, src: RowSource, line: int, field: str | None) -> list:
    """A list of texts (a single string counts as a one-element list)."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, tuple):
        v = list(v)
    if not isinstance(v, list):
        if v is None:
            raise DataError("missing value", path=src.path, line=line, field=src.name(field))
        raise DataError(
            f"expected a list of texts, got {type(v).__name__}",
            path=src.path,
            line=line,
            field=src.name(field),
        )
    return v


def references(v: Any, *, src: RowSource, line: int, field: str | None) -> list[str]:
    """``reference``/``references``: a string or a list of strings; missing -> []."""
    if is_missing(v):
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, (list, tuple)):
        out = []
        for k, r in enumerate(v):
            if not isinstance(r, str):
                raise DataError(
                    f"reference {k} must be text, got {type(r).__name__}",
                    path=src.path,
                    line=line,
                    field=src.name(field),
                )
            out.append(r)
        return out
    raise DataError(
        f"expected text or a list of texts, got {type(v).__name__}",
        path=src.path,
        line=line,
        field=src.name(field),
    )


def meta_value(v: Any) -> str | None:
    """Item metadata is text: scalars as ``str``, lists/dicts as JSON, NaN/None as null."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (list, dict, tuple)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def metadata(row: dict, used: set[str | None]) -> dict[str, str | None]:
    """Every column not in ``used`` (nor a reserved item column), as item metadata."""
    reserved = {"item_id", "input", "messages", "references"}
    return {str(k): meta_value(v) for k, v in row.items() if k not in used and k not in reserved}


#: accepted spellings of a pairwise label
LABEL_FORMS = {
    "a": "a",
    "b": "b",
    "tie": "tie",
    "A": "a",
    "B": "b",
    "TIE": "tie",
    "Tie": "tie",
    "A>B": "a",
    "B>A": "b",
    "A<B": "b",
    "B<A": "a",
    "A=B": "tie",
    "B=A": "tie",
    "A>>B": "a",
    "B>>A": "b",
    "model_a": "a",
    "model_b": "b",
    "tie (bothbad)": "tie",
}


def label_value(v: Any, *, src: RowSource, line: int, field: str | None = "label") -> str:
    key = v.strip() if isinstance(v, str) else v
    if isinstance(key, str) and key in LABEL_FORMS:
        return LABEL_FORMS[key]
    if v is None:
        raise DataError("missing value", path=src.path, line=line, field=src.name(field))
    raise DataError(
        f"label must be a, b or tie (also A>B, B>A, A=B), got {v!r}",
        path=src.path,
        line=line,
        field=src.name(field),
    )


def dataset_name(path: str) -> str:
    """A default data set name from a file path: the file name without extensions."""
    name = Path(str(path).rstrip("/")).name
    for ext in (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    return name or str(path)


def row_item_id(
    row: dict,
    keys: tuple[str, ...],
    *,
    src: RowSource,
    line: int,
    seen: dict[str, int],
    default: str,
) -> tuple[str, str | None]:
    """``(item id, the column it came from)`` of a benchmark row: the first of ``keys`` present
    (else ``default`` and None), unique across the file (``seen`` maps ids to their first line; a
    repeat is a DataError)."""
    v, key = pick(row, keys)
    iid = default if key is None or v is None else id_value(v, src=src, line=line, field=key)
    if iid in seen:
        raise DataError(
            f"duplicate item id {iid!r} (first on line {seen[iid]})",
            path=src.path,
            line=line,
            field=src.name(key or keys[0]),
        )
    seen[iid] = line
    return iid, key


def note_default_ids(info: dict, src: RowSource, n_defaulted: int) -> None:
    """Record in a data set's ``info`` that ``n_defaulted`` items got their id from their position
    (``default_ids``: the count; ``default_ids_from``: ``line``, ``record`` or ``row``), so that
    whatever matches other files to these ids (a scores file) knows they are not the user's own."""
    if n_defaulted:
        info["default_ids"] = int(n_defaulted)
        info["default_ids_from"] = "record" if src.ids_from == "record" else src.unit
