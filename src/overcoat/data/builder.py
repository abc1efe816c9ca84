"""Build a :class:`~overcoat.data.model.Dataset` row by row, validating as it goes.

Every loader feeds a :class:`DatasetBuilder`; it knows the file and line of each row, so a problem
(duplicate id, empty response, a judgment that names an unknown response, a non-finite score)
becomes a one-line :class:`~overcoat.errors.DataError` naming file, line and field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from ..errors import DataError
from .model import (
    PAIRWISE,
    PAIRWISE_SCHEMA,
    POINTWISE,
    POINTWISE_SCHEMA,
    RESPONSE_SCHEMA,
    Dataset,
    Judgments,
    dumps_messages,
    messages_to_text,
)

LABELS = {"a": "a", "b": "b", "tie": "tie", "A": "a", "B": "b", "TIE": "tie", "Tie": "tie"}


def text_field(value: Any, *, path, line, field: str | None, allow_empty: bool = False) -> str:
    """A text field: a string, or chat messages (list of {role, content}) rendered as text."""
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        value = messages_to_text(value) if len(value) != 1 else str(value[0].get("content", ""))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise DataError("missing value", path=path, line=line, field=field)
    if not isinstance(value, str):
        raise DataError(
            f"expected text, got {type(value).__name__}", path=path, line=line, field=field
        )
    if not allow_empty and not value.strip():
        raise DataError("empty text", path=path, line=line, field=field)
    return value


def score_field(value: Any, *, path, line, field: str | None) -> float:
    """A finite float (numbers or numeric strings)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            raise DataError(f"not a number: {value!r}", path=path, line=line, field=field) from None
    elif value is None:
        raise DataError("missing value", path=path, line=line, field=field)
    else:
        raise DataError(
            f"expected a number, got {type(value).__name__}", path=path, line=line, field=field
        )
    if not math.isfinite(x):
        raise DataError(f"score is not finite ({value!r})", path=path, line=line, field=field)
    return x


class DatasetBuilder:
    """Accumulates items, responses and judgments with validation; ``build()`` makes the tables."""

    def __init__(self, name: str, *, path: str | None = None, info: dict | None = None):
        self.name = name
        self.path = path
        self.info = dict(info or {})
        self._items: dict[str, dict] = {}
        self._item_line: dict[str, int | None] = {}
        self._meta_keys: dict[str, None] = {}
        self._resp: dict[tuple[str, str], int] = {}
        self._resp_cols: dict[str, list] = {k: [] for k in RESPONSE_SCHEMA.names}
        self._kind: str | None = None
        self._judg: dict[str, list] = {}
        self._judg_seen: dict[tuple, int | None] = {}

    # -- items ---------------------------------------------------------------------------------
    def add_item(
        self,
        item_id: str,
        input: Any,
        *,
        references: Iterable[str] = (),
        metadata: dict | None = None,
        line: int | None = None,
        allow_duplicate_identical: bool = False,
        field: str | None = "input",
    ) -> None:
        item_id = str(item_id)
        messages = None
        if isinstance(input, list) and all(isinstance(m, dict) for m in input):
            for k, m in enumerate(input):
                if "content" not in m or "role" not in m:
                    raise DataError(
                        f"chat message {k} needs 'role' and 'content'",
                        path=self.path,
                        line=line,
                        field=field,
                    )
            messages = input
        text = text_field(input, path=self.path, line=line, field=field, allow_empty=True)
        refs = [str(r) for r in references]
        if item_id in self._items:
            prev = self._items[item_id]
            if allow_duplicate_identical and prev["input"] == text and prev["references"] == refs:
                return
            raise DataError(
                f"duplicate item id {item_id!r} (first on line {self._item_line[item_id]})",
                path=self.path,
                line=line,
                field="item_id",
            )
        meta = {k: (None if v is None else str(v)) for k, v in (metadata or {}).items()}
        for k in meta:
            self._meta_keys.setdefault(k, None)
        self._items[item_id] = {
            "input": text,
            "messages": dumps_messages(messages),
            "references": refs,
            "meta": meta,
        }
        self._item_line[item_id] = line

    def has_item(self, item_id: str) -> bool:
        return str(item_id) in self._items

    # -- responses -----------------------------------------------------------------------------
    def add_response(
        self,
        item_id: str,
        response_id: str,
        text: Any,
        *,
        line: int | None = None,
        field: str | None = "text",
        allow_duplicate_identical: bool = False,
        allow_empty: bool = False,
    ) -> None:
        """Add a response; an empty text is an error unless ``allow_empty`` (for data sets where
        an empty reply is a real, judged response, e.g. HH-RLHF)."""
        item_id, response_id = str(item_id), str(response_id)
        if item_id not in self._items:
            raise DataError(
                f"response names unknown item {item_id!r}",
                path=self.path,
                line=line,
                field="item_id",
            )
        value = text_field(text, path=self.path, line=line, field=field, allow_empty=allow_empty)
        key = (item_id, response_id)
        if key in self._resp:
            if allow_duplicate_identical and self._resp_cols["text"][self._resp[key]] == value:
                return
            raise DataError(
                f"duplicate response id {response_id!r} for item {item_id!r}",
                path=self.path,
                line=line,
                field="response_id",
            )
        self._resp[key] = len(self._resp_cols["text"])
        self._resp_cols["item_id"].append(item_id)
        self._resp_cols["response_id"].append(response_id)
        self._resp_cols["text"].append(value)

    def has_response(self, item_id: str, response_id: str) -> bool:
        return (str(item_id), str(response_id)) in self._resp

    # -- judgments -----------------------------------------------------------------------------
    def _set_kind(self, kind: str, line):
        if self._kind is None:
            self._kind = kind
            schema = POINTWISE_SCHEMA if kind == POINTWISE else PAIRWISE_SCHEMA
            self._judg = {k: [] for k in schema.names}
        elif self._kind != kind:
            raise DataError(
                f"cannot mix {self._kind} and {kind} judgments in one data set",
                path=self.path,
                line=line,
            )

    def _check_response(self, item_id, response_id, line, field):
        if (item_id, response_id) not in self._resp:
            raise DataError(
                f"judgment names unknown response {response_id!r} of item {item_id!r}",
                path=self.path,
                line=line,
                field=field,
            )

    def add_score(
        self,
        item_id: str,
        response_id: str,
        score: Any,
        *,
        rater: str | None = None,
        line: int | None = None,
        field: str | None = "score",
    ) -> None:
        item_id, response_id = str(item_id), str(response_id)
        self._set_kind(POINTWISE, line)
        self._check_response(item_id, response_id, line, "response_id")
        x = score_field(score, path=self.path, line=line, field=field)
        key = (item_id, response_id, rater)
        if key in self._judg_seen:
            raise DataError(
                f"duplicate judgment for response {response_id!r} of item "
                f"{item_id!r}" + (f" by rater {rater!r}" if rater else ""),
                path=self.path,
                line=line,
                field=field,
            )
        self._judg_seen[key] = line
        self._judg["item_id"].append(item_id)
        self._judg["response_id"].append(response_id)
        self._judg["rater"].append(None if rater is None else str(rater))
        self._judg["score"].append(x)

    def add_preference(
        self,
        item_id: str,
        response_a: str,
        response_b: str,
        label: Any,
        *,
        rater: str | None = None,
        line: int | None = None,
        field: str | None = "label",
    ) -> None:
        item_id, response_a, response_b = str(item_id), str(response_a), str(response_b)
        self._set_kind(PAIRWISE, line)
        self._check_response(item_id, response_a, line, "response_a")
        self._check_response(item_id, response_b, line, "response_b")
        if response_a == response_b:
            raise DataError(
                "a preference needs two different responses",
                path=self.path,
                line=line,
                field="response_b",
            )
        lab = LABELS.get(label) if isinstance(label, str) else None
        if lab is None:
            raise DataError(
                f"label must be 'a', 'b' or 'tie', got {label!r}",
                path=self.path,
                line=line,
                field=field,
            )
        self._judg["item_id"].append(item_id)
        self._judg["response_a"].append(response_a)
        self._judg["response_b"].append(response_b)
        self._judg["label"].append(lab)
        self._judg["rater"].append(None if rater is None else str(rater))

    # -- build ---------------------------------------------------------------------------------
    def build(self) -> Dataset:
        if not self._items:
            raise DataError("no items found", path=self.path)
        ids = list(self._items)
        cols: dict[str, list] = {
            "item_id": ids,
            "input": [self._items[i]["input"] for i in ids],
            "messages": [self._items[i]["messages"] for i in ids],
            "references": [self._items[i]["references"] for i in ids],
        }
        for k in self._meta_keys:
            cols[k] = [self._items[i]["meta"].get(k) for i in ids]
        schema = pa.schema(
            [
                ("item_id", pa.string()),
                ("input", pa.string()),
                ("messages", pa.string()),
                ("references", pa.list_(pa.string())),
            ]
            + [(k, pa.string()) for k in self._meta_keys]
        )
        items = pa.table(cols, schema=schema)
        responses = pa.table(self._resp_cols, schema=RESPONSE_SCHEMA)
        judgments = None
        if self._kind is not None:
            schema = POINTWISE_SCHEMA if self._kind == POINTWISE else PAIRWISE_SCHEMA
            judgments = Judgments(self._kind, pa.table(self._judg, schema=schema))
        return Dataset(self.name, items, responses, judgments, source=self.path, info=self.info)
