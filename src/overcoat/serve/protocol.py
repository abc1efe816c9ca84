"""Request bodies of the reward server, parsed and checked; response bodies built.

Pure functions (no HTTP): every check raises :class:`RequestError` with the HTTP status and one
line that names the field and the row, so a client sees what to fix and the server stays up.

OpenRLHF's remote reward model protocol (``POST /get_reward``), every version of its client
(OpenRLHF/OpenRLHF ``openrlhf/utils/remote_rm_utils.py``, removed in 2026-01 when the client
moved to ``openrlhf/utils/agent.py``; the reference server is ``openrlhf/cli/serve_rm.py``):

* 2024-07 (707b1060) to 2025-02: ``{"query": [...]}``, reads ``response["rewards"]``;
* 2025-02 (1eb14991): ``{"query", "prompts", "labels"}``, reads ``rewards``;
* 2025-05 (2cedb6ab, 7046facc): same request, reads ``rewards``, ``scores`` and ``extra_logs``
  (each value a list, turned into a tensor);
* 2025-07 (a458821e, an unmerged branch): ``"metadata"`` in place of ``"labels"``;
* 2025-12 on (``agent.py``, ``SingleTurnAgentExecutor._fetch_rewards_via_http``): one query per
  request, ``{"query": [q], "prompts": [p], "labels": [label]}``; reads ``scores`` (falling back
  to ``rewards``), ``rewards`` and ``extra_logs``.

``query`` is the prompt and the response decoded together (with special tokens); when
``prompts[i]`` is a prefix of ``query[i]`` the response is the rest and the prompt is the input,
otherwise the whole query is the response (counted in ``extra_logs.overcoat_prompt_not_prefix``).
``labels`` (or ``metadata``) are the references: a string, a list of strings, or null/empty for
none. The answer always carries ``rewards``, ``scores`` (the same values) and ``extra_logs``
(``overcoat_missing``: 1.0 where the scorer gave no score), so every client version finds its
key. A missing score is ``null`` unless the server was given a ``missing_reward``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..scorers.base import ScoringBatch


class RequestError(Exception):
    """A bad request: ``status`` (4xx) and a one-line message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_json(body: bytes) -> Any:
    """The decoded JSON body; 400 naming line and column when it is not JSON."""
    if not body.strip():
        raise RequestError(400, "empty request body (expected a JSON object)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(400, f"request body is not UTF-8 (byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RequestError(
            400, f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except RecursionError:
        raise RequestError(400, "JSON nested too deeply") from None


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise RequestError(422, f"expected a JSON object, got {_jtype(body)}")
    return body


def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    return "an object"


def _str_list(body: dict, key: str, *, n: int | None = None, required: bool = False) -> list | None:
    """``body[key]`` as a list of strings (``None`` entries allowed only where noted by callers)."""
    v = body.get(key)
    if v is None:
        if required:
            raise RequestError(422, f"missing field {key!r} (a list of strings)")
        return None
    if not isinstance(v, list):
        raise RequestError(422, f"field {key!r} must be a list of strings, got {_jtype(v)}")
    if required and not v:
        raise RequestError(422, f"field {key!r} is an empty list (nothing to score)")
    if n is not None and len(v) != n:
        raise RequestError(
            422, f"field {key!r} has {len(v)} entries but 'query' has {n} (one per query)"
        )
    return v


def _text(v: Any, key: str, i: int, *, nullable: bool = False) -> str | None:
    if v is None and nullable:
        return None
    if not isinstance(v, str):
        raise RequestError(422, f"{key}[{i}] must be a string, got {_jtype(v)}")
    return v


def _refs(v: Any, key: str, i: int) -> list[str]:
    """A label: a string, a list of strings (empty ones dropped), or null/"" for none."""
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return [x for x in v if x]
    raise RequestError(
        422, f"{key}[{i}] must be a string, a list of strings or null, got {_jtype(v)}"
    )


@dataclass
class Parsed:
    """A request's rows to score, plus per-row notes for ``extra_logs``."""

    batch: ScoringBatch
    prompt_not_prefix: list[bool]


def _strip_end(text: str, suffixes: Sequence[str]) -> str:
    changed = True
    while changed and suffixes:
        changed = False
        for s in suffixes:
            if s and text.endswith(s):
                text = text[: -len(s)]
                changed = True
    return text


def parse_openrlhf(body: Any, *, strip: Sequence[str] = ()) -> Parsed:
    """An OpenRLHF ``/get_reward`` body (any client version, see the module doc)."""
    body = _object(body)
    queries = _str_list(body, "query", required=True)
    assert queries is not None
    n = len(queries)
    qs = [_text(q, "query", i) for i, q in enumerate(queries)]
    prompts = _str_list(body, "prompts", n=n)
    label_key = "labels" if body.get("labels") is not None else "metadata"
    labels = _str_list(body, label_key, n=n)
    inputs: list[str] = []
    responses: list[str] = []
    not_prefix: list[bool] = []
    for i, q in enumerate(qs):
        assert q is not None
        p = _text(prompts[i], "prompts", i, nullable=True) if prompts is not None else None
        if p and q.startswith(p):
            inputs.append(p)
            responses.append(_strip_end(q[len(p) :], strip))
            not_prefix.append(False)
        else:
            inputs.append(p or "")
            responses.append(_strip_end(q, strip))
            not_prefix.append(p is not None and p != "")
    refs = (
        [_refs(v, label_key, i) for i, v in enumerate(labels)]
        if labels is not None
        else [[] for _ in range(n)]
    )
    return Parsed(ScoringBatch(inputs, responses, refs), not_prefix)


def _message_list(v: Any, i: int) -> list[dict] | None:
    if v is None:
        return None
    if not isinstance(v, list) or not v:
        raise RequestError(422, f"messages[{i}] must be a non-empty list of chat messages or null")
    for k, m in enumerate(v):
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise RequestError(
                422, f"messages[{i}][{k}] must be an object with string 'role' and 'content'"
            )
    return v


def parse_score(body: Any) -> Parsed:
    """overcoat's own ``/score`` body: parallel lists, like a
    :class:`~overcoat.scorers.base.ScoringBatch`::

        {"responses": [str, ...],             # required, non-empty
         "inputs": [str, ...],                # optional (default "")
         "references": [str | [str] | null],  # optional
         "messages": [[{role, content}] | null]}  # optional chat form of each input
    """
    body = _object(body)
    unknown = sorted(set(body) - {"responses", "inputs", "references", "messages"})
    if unknown:
        raise RequestError(
            422,
            f"unknown field {unknown[0]!r} (expected responses, inputs, references, messages)",
        )
    raw = _str_list(body, "responses", required=True)
    assert raw is not None
    n = len(raw)
    responses = [_text(r, "responses", i) or "" for i, r in enumerate(raw)]

    def same_length(key: str) -> list | None:
        v = body.get(key)
        if v is None:
            return None
        if not isinstance(v, list):
            raise RequestError(422, f"field {key!r} must be a list, got {_jtype(v)}")
        if len(v) != n:
            raise RequestError(422, f"field {key!r} has {len(v)} entries but 'responses' has {n}")
        return v

    ins = same_length("inputs")
    refs = same_length("references")
    msgs = same_length("messages")
    inputs = [_text(x, "inputs", i) or "" for i, x in enumerate(ins)] if ins else [""] * n
    references = (
        [_refs(x, "references", i) for i, x in enumerate(refs)] if refs else [[] for _ in range(n)]
    )
    messages = [_message_list(x, i) for i, x in enumerate(msgs)] if msgs else []
    return Parsed(ScoringBatch(inputs, responses, references, messages), [False] * n)


def _float_or_none(x: float, missing: float | None) -> float | None:
    x = float(x)
    if math.isnan(x):
        return missing
    return x


def openrlhf_response(scores: Sequence[float], parsed: Parsed, missing: float | None) -> dict:
    """``rewards``, ``scores`` (same values) and ``extra_logs`` (lists, one value per query)."""
    values = [_float_or_none(s, missing) for s in scores]
    logs = {"overcoat_missing": [1.0 if math.isnan(float(s)) else 0.0 for s in scores]}
    if any(parsed.prompt_not_prefix):
        logs["overcoat_prompt_not_prefix"] = [1.0 if b else 0.0 for b in parsed.prompt_not_prefix]
    return {"rewards": values, "scores": values, "extra_logs": logs}


def score_response(scores: Sequence[float], info: dict) -> dict:
    values = [_float_or_none(s, None) for s in scores]
    return {"scores": values, "n_missing": sum(v is None for v in values), **info}


__all__ = [
    "RequestError",
    "Parsed",
    "parse_json",
    "parse_openrlhf",
    "parse_score",
    "openrlhf_response",
    "score_response",
]
