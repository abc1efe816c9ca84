"""A data set's content hash: what the results store (``overcoat leaderboard``) keys results on, so
that two runs on the same data compare and two data sets of one name do not."""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from .model import Dataset

#: hex digits kept of the sha256
HASH_DIGITS = 16


def _feed_table(h, label: str, table: pa.Table) -> None:
    h.update(f"\x00table:{label}:{table.num_rows}\x00".encode())
    for name in sorted(table.column_names):
        h.update(f"\x00column:{name}\x00".encode())
        col = table.column(name).to_pylist()
        h.update(json.dumps(col, ensure_ascii=False, default=str).encode("utf-8"))


def dataset_hash(ds: Dataset) -> str:
    """``sha256:`` + the first 16 hex digits of a sha256 over the data's content: every column of
    items, responses and judgments (values, in row order; columns by name) and the judgment kind.
    The name, source path and free metadata (``info``) do not enter: the same rows loaded from
    another path hash alike; a changed score, text or extra row changes the hash."""
    h = hashlib.sha256(b"overcoat-dataset-v1")
    _feed_table(h, "items", ds.items)
    _feed_table(h, "responses", ds.responses)
    if ds.judgments is not None:
        h.update(f"\x00judgments:{ds.judgments.kind}\x00".encode())
        _feed_table(h, "judgments", ds.judgments.table)
    return "sha256:" + h.hexdigest()[:HASH_DIGITS]
