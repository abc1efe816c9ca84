"""Candidate pools as data files: one JSON Lines row per (item, candidate), in the pointwise table
shape that :func:`overcoat.data.spec.load_data` reads back (``overcoat generate`` writes them,
``overcoat overopt --data FILE`` reads them)::

    {"item_id": "hh-1", "input": [{"role": "user", "content": "..."}], "response_id": "sample-0",
     "response": "..."}

``input`` is the item's chat messages where it has them, else its text; ``references`` and the
item's metadata columns are kept (metadata whose name the table loader reads as a field of its own,
such as ``score`` or ``system``, is left out). No ``score`` column: a generated pool has no human
judgments, so best-of-n on it needs a gold scorer. An empty candidate cannot be a response in
overcoat's data model; it is left out of the file and counted.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping, Sequence

from .io import atomic_path
from .model import Dataset, loads_messages

__all__ = ["write_pool"]

#: columns the table loader reads as fields of a row, never as item metadata
_LOADER_FIELDS = {
    "item_id",
    "id",
    "input",
    "prompt",
    "source",
    "messages",
    "references",
    "reference",
    "response",
    "output",
    "text",
    "hypothesis",
    "response_id",
    "system",
    "rater",
    "annotator",
    "score",
    "chosen",
    "rejected",
    "response_a",
    "response_b",
    "label",
    "winner",
}


def write_pool(
    path: str | os.PathLike,
    dataset: Dataset,
    candidates: Mapping[str, Sequence[str]],
    *,
    prefix: str = "sample-",
) -> dict[str, int]:
    """Write the candidates of every item of ``dataset`` found in ``candidates`` (item id -> texts;
    candidate k gets the response id ``prefix + k``) atomically (gzipped when ``path`` ends in
    ``.gz``). Returns ``{"n_items", "n_responses", "n_empty"}`` (empty candidates left out)."""
    items = dataset.items
    meta_cols = [c for c in dataset.metadata_columns() if c not in _LOADER_FIELDS]
    cols = {c: items.column(c).to_pylist() for c in ("item_id", "input", "messages", "references")}
    meta = {c: items.column(c).to_pylist() for c in meta_cols}
    n_items = n_rows = n_empty = 0
    lines: list[str] = []
    for k, iid in enumerate(cols["item_id"]):
        texts = candidates.get(iid)
        if texts is None:
            continue
        n_items += 1
        msgs = loads_messages(cols["messages"][k])
        base: dict = {"item_id": iid, "input": msgs if msgs else cols["input"][k]}
        if cols["references"][k]:
            base["references"] = list(cols["references"][k])
        for c in meta_cols:
            if meta[c][k] is not None:
                base[c] = meta[c][k]
        for j, text in enumerate(texts):
            if not text.strip():
                n_empty += 1
                continue
            row = {**base, "response_id": f"{prefix}{j}", "response": text}
            lines.append(json.dumps(row, ensure_ascii=False))
            n_rows += 1
    data = ("\n".join(lines) + "\n" if lines else "").encode("utf-8")
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            tmp.write_bytes(gzip.compress(data, mtime=0))
        else:
            tmp.write_bytes(data)
    return {"n_items": n_items, "n_responses": n_rows, "n_empty": n_empty}
