"""Anthropic HH-RLHF rows (``Anthropic/hh-rlhf``).

Each row: ``chosen`` and ``rejected``, whole transcripts ``"\\n\\nHuman: ... \\n\\nAssistant: ..."``
that share everything up to the last ``"\\n\\nAssistant:"``. That shared dialogue becomes the item's
input (as chat messages, rendered as text); the two final assistant replies become the responses
``chosen`` and ``rejected`` with the preference ``a``. Item ids are ``hh-<line>`` unless the row
has an ``id``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from ...errors import DataError
from ..benchmark_fields import HH_RLHF
from ..builder import DatasetBuilder
from ..model import Dataset
from .common import dataset_name, metadata, note_default_ids, require, row_item_id
from .rows import Row, RowSource, as_source, open_rows, reported_as_rows

ASSISTANT = "\n\nAssistant:"
_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def split_transcript(text: str) -> tuple[str, str] | None:
    """``(dialogue before the last assistant turn, final reply)``, or None without such a turn."""
    k = text.rfind(ASSISTANT)
    if k < 0:
        return None
    return text[:k], text[k + len(ASSISTANT) :].strip()


def dialogue_messages(prefix: str) -> list[dict]:
    """``"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: ..."`` -> chat messages."""
    parts = _TURN.split(prefix)
    messages = []
    if parts[0].strip():  # text before the first marker: taken as the user's
        messages.append({"role": "user", "content": parts[0].strip()})
    for role, content in zip(parts[1::2], parts[2::2]):
        messages.append({"role": _ROLES[role], "content": content.strip()})
    return messages


def parse_hh_rlhf_rows(
    rows: RowSource | Iterable[Row],
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "hh-rlhf",
    skip_bad: bool = False,
) -> Dataset:
    """HH-RLHF rows -> pairwise data set.

    The published data has a few rows that break the format: an empty final reply, or chosen and
    rejected transcripts that differ before their last assistant turn (a reply that itself
    contains "Human:"). By default such a row is an error naming its line; ``skip_bad=True``
    drops those rows instead and counts them in ``info["skipped"]`` (``empty_reply``,
    ``prefix_mismatch``).
    """
    src = as_source(rows, path=path, unit=unit)
    skipped = {"empty_reply": 0, "prefix_mismatch": 0}
    with reported_as_rows(src.unit):
        b = DatasetBuilder(name, path=src.path, info={"format": HH_RLHF.format})
        seen: dict[str, int] = {}
        n_default = 0
        for n, (line, row) in enumerate(src.rows, 1):
            iid, idk = row_item_id(
                row,
                ("id", "item_id"),
                src=src,
                line=line,
                seen=seen,
                default=f"hh-{src.default_id(line, n)}",
            )
            parts = {}
            for kind in ("chosen", "rejected"):
                v, _ = require(row, (kind,), src, line)
                if not isinstance(v, str):
                    got = "null" if v is None else type(v).__name__
                    raise DataError(
                        f"expected a Human/Assistant transcript (text), got {got}",
                        path=src.path,
                        line=line,
                        field=src.name(kind),
                    )
                sp = split_transcript(v)
                if sp is None:
                    raise DataError(
                        "transcript has no '\\n\\nAssistant:' turn",
                        path=src.path,
                        line=line,
                        field=src.name(kind),
                    )
                parts[kind] = sp
            if parts["chosen"][0] != parts["rejected"][0]:
                if skip_bad:
                    skipped["prefix_mismatch"] += 1
                    continue
                raise DataError(
                    "chosen and rejected transcripts differ before the last "
                    "'\\n\\nAssistant:' turn",
                    path=src.path,
                    line=line,
                    field=src.name("rejected"),
                )
            if skip_bad and not (parts["chosen"][1] and parts["rejected"][1]):
                skipped["empty_reply"] += 1
                continue
            messages = dialogue_messages(parts["chosen"][0])
            if not any(m["role"] == "user" for m in messages):
                raise DataError(
                    "no Human turn before the final assistant reply",
                    path=src.path,
                    line=line,
                    field=src.name("chosen"),
                )
            n_default += idk is None
            b.add_item(
                iid,
                messages,
                metadata=metadata(row, {"id", "item_id", "chosen", "rejected"}),
                line=line,
                field=src.name("chosen"),
            )
            b.add_response(iid, "chosen", parts["chosen"][1], line=line, field=src.name("chosen"))
            b.add_response(
                iid, "rejected", parts["rejected"][1], line=line, field=src.name("rejected")
            )
            b.add_preference(iid, "chosen", "rejected", "a", line=line)
        if skip_bad:
            b.info["skipped"] = skipped
        note_default_ids(b.info, src, n_default)
        return b.build()


def load_hh_rlhf(
    path: str | os.PathLike,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
    skip_bad: bool = False,
) -> Dataset:
    """An HH-RLHF file (JSONL as published, JSON or Parquet; gzipped is fine)."""
    return parse_hh_rlhf_rows(
        open_rows(path, fmt, mapping=mapping),
        name=name or dataset_name(str(path)),
        skip_bad=skip_bad,
    )
