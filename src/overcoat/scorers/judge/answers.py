"""Raw judge answers kept in the score cache's SQLite file (table ``judge_answers``), so a rerun
re-parses what the server said instead of asking again: unparsable answers included (asked again
only with ``retry_failed=true``), failed requests excluded. Keyed by (the judge's signature,
sha256 of the prompt messages); the engine hands the open cache to the judge
(:meth:`~overcoat.scorers.judge.core._JudgeCore.use_cache`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from .backend import Completion

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judge_answers (
    sig         TEXT NOT NULL,
    key         BLOB NOT NULL,
    text        TEXT NOT NULL,
    tokens      TEXT,
    fingerprint TEXT,
    PRIMARY KEY (sig, key)
) WITHOUT ROWID
"""


def prompt_key(messages: list[dict]) -> bytes:
    return hashlib.sha256(
        json.dumps(messages, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass")
    ).digest()


class AnswerStore:
    """Answers by (signature, prompt) in the connection of a :class:`ScoreCache`."""

    def __init__(self, cache, signature: str):
        self.cache = cache
        self.signature = signature
        self._ready = False

    def _conn(self):
        conn = self.cache._connect()
        if not self._ready:
            conn.execute(_SCHEMA)
            self._ready = True
        return conn

    def get_many(self, prompts: Sequence[list[dict]]) -> dict[int, Completion]:
        if not prompts:
            return {}
        conn = self._conn()
        keys = [prompt_key(p) for p in prompts]
        found: dict[bytes, Completion] = {}
        for s in range(0, len(keys), 500):
            chunk = keys[s : s + 500]
            q = ",".join("?" * len(chunk))
            for key, text, tokens, fp in conn.execute(
                f"SELECT key, text, tokens, fingerprint FROM judge_answers "
                f"WHERE sig = ? AND key IN ({q})",
                [self.signature, *chunk],
            ):
                toks = None
                if tokens:
                    toks = [(t, dict(a)) for t, a in json.loads(tokens)]
                found[bytes(key)] = Completion(text, toks, fingerprint=fp)
        return {k: found[key] for k, key in enumerate(keys) if key in found}

    def put(self, messages: list[dict], c: Completion) -> None:
        if c.error is not None or c.text is None:
            return
        toks = json.dumps([[t, a] for t, a in c.tokens]) if c.tokens is not None else None
        self._conn().execute(
            "INSERT OR REPLACE INTO judge_answers (sig, key, text, tokens, fingerprint) "
            "VALUES (?, ?, ?, ?, ?)",
            (self.signature, prompt_key(messages), c.text, toks, c.fingerprint),
        )
