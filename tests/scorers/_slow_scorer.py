"""Test helpers for the scoring engine: deterministic scorers, synthetic data, and a CLI.

Importable (picklable scorers for ``workers > 1``, whose spawned children import this module by
name) and runnable as a script (the kill -9 test runs it in a subprocess)::

    python tests/scorers/_slow_scorer.py --n 3000 --cache C.sqlite --delay 0.05 \\
        --batch-size 40 --marker committed.txt --calls calls.txt --out result.json

``--workers 2`` scores in a ``ProcessPool(2, adaptive=False)`` (always a pool, whatever the load);
``--ids ids.txt`` logs every scoring call as one line ``PID ITEM/RESPONSE,...`` (one ``write`` to
a file opened with ``O_APPEND``, so lines of several workers never mix); ``--pause-commit K:S``
writes ``K`` to ``--commit-marker`` and sleeps ``S`` seconds inside the write transaction of the
K-th batch committed (before its ``COMMIT``), so a test can kill the run mid-transaction.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from overcoat.data.builder import DatasetBuilder
from overcoat.scorers.base import PairwiseScorer, Scorer, ScoringBatch


def content_score(input: str, response: str, references, messages=None) -> float:
    """A deterministic float of the content (distinct contents give distinct scores)."""
    h = hashlib.sha256(
        json.dumps([input, response, list(references), messages], ensure_ascii=False).encode()
    ).digest()
    return int.from_bytes(h[:6], "little") / 2**48 + len(response)


class ContentScorer(Scorer):
    """Scores a row by hashing its content; counts rows it was asked to score."""

    name = "content"
    needs_references = False
    parallel_safe = True

    def __init__(
        self,
        version: str = "1",
        needs_references: bool = False,
        calls_path: str | None = None,
        ids_path: str | None = None,
    ):
        self.version = version
        self.needs_references = needs_references
        self.calls_path = calls_path
        self.ids_path = ids_path
        self.n_rows = 0
        self.batch_sizes: list[int] = []

    def signature(self) -> str:
        return f"content|refs:{int(self.needs_references)}|v:{self.version}"

    def _log(self, batch: ScoringBatch) -> None:
        n = len(batch)
        self.n_rows += n
        self.batch_sizes.append(n)
        if self.calls_path:
            with open(self.calls_path, "a") as f:
                f.write(f"{n}\n")
        if self.ids_path:
            ids = ",".join(f"{i}/{r}" for i, r in zip(batch.item_ids, batch.response_ids))
            fd = os.open(self.ids_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, f"{os.getpid()} {ids}\n".encode())
            finally:
                os.close(fd)

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        self._log(batch)
        msgs = batch.messages or [None] * len(batch)
        return np.array(
            [
                content_score(i, r, refs, m)
                for i, r, refs, m in zip(batch.inputs, batch.responses, batch.references, msgs)
            ]
        )


class SlowScorer(ContentScorer):
    """ContentScorer that sleeps ``delay`` seconds per batch (same signature: same scores)."""

    name = "slow"

    def __init__(self, delay: float = 0.05, **kw):
        super().__init__(**kw)
        self.delay = delay

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        self._log(batch)  # logged when the batch starts: it may be lost by a kill
        time.sleep(self.delay)
        msgs = batch.messages or [None] * len(batch)
        return np.array(
            [
                content_score(i, r, refs, m)
                for i, r, refs, m in zip(batch.inputs, batch.responses, batch.references, msgs)
            ]
        )


class FlakyScorer(ContentScorer):
    """NaN for responses containing 'flaky' (a judge that failed to answer)."""

    name = "flaky"
    cache_missing = False

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        out = super().score_batch(batch)
        out[["flaky" in r for r in batch.responses]] = np.nan
        return out


class ContentJudge(PairwiseScorer):
    """P(A better) from the content scores of A and B; order-sensitive (position bias)."""

    name = "judge"
    parallel_safe = True

    def __init__(self, version: str = "1"):
        self.version = version
        self.n_pairs = 0

    def signature(self) -> str:
        return f"judge|v:{self.version}"

    def compare_batch(self, inputs, responses_a, responses_b, references) -> np.ndarray:
        self.n_pairs += len(inputs)
        out = []
        for i, a, b, refs in zip(inputs, responses_a, responses_b, references):
            sa = content_score(i, a, refs) % 1.0
            sb = content_score(i, b, refs) % 1.0
            out.append(0.9 * (sa / (sa + sb + 1e-12)) + 0.1)  # biased towards A
        return np.array(out)


def slow_batched(inputs, responses, references):
    """A ``python:_slow_scorer:slow_batched`` scorer for the CLI: :func:`content_score` of each
    row, after sleeping ``$OVERCOAT_TEST_DELAY`` seconds; appends the batch's size to
    ``$OVERCOAT_TEST_CALLS`` (one ``O_APPEND`` write) when it starts, and its pid and response
    texts to ``$OVERCOAT_TEST_IDS``."""
    log = os.environ.get("OVERCOAT_TEST_CALLS")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {len(responses)}\n".encode())
        finally:
            os.close(fd)
    ids = os.environ.get("OVERCOAT_TEST_IDS")  # one line 'PID response,...' (texts without ',')
    if ids:
        fd = os.open(ids, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {','.join(responses)}\n".encode())
        finally:
            os.close(fd)
    time.sleep(float(os.environ.get("OVERCOAT_TEST_DELAY", "0")))
    return [content_score(i, r, refs) for i, r, refs in zip(inputs, responses, references)]


slow_batched.batched = True  # type: ignore[attr-defined]


def make_dataset(
    n_responses: int,
    per_item: int = 5,
    *,
    with_refs: bool = True,
    duplicates: bool = False,
    name: str = "synthetic",
):
    """Items ``i0, i1, ...`` with ``per_item`` responses ``s0..`` each; all texts distinct
    unless ``duplicates`` (then every item shares one input and response texts repeat)."""
    b = DatasetBuilder(name)
    n_items = (n_responses + per_item - 1) // per_item
    k = 0
    for i in range(n_items):
        src = "same source" if duplicates else f"source sentence {i} " + "x" * (i % 7)
        refs = (
            [f"reference {i}"]
            if with_refs and not duplicates
            else (["shared ref"] if with_refs else [])
        )
        b.add_item(f"i{i}", src, references=refs)
        for j in range(per_item):
            if k >= n_responses:
                break
            text = f"response {j}" if duplicates else f"translation {i}.{j} " + "y" * (j % 5)
            b.add_response(f"i{i}", f"s{j}", text)
            k += 1
    return b.build()


class _PausingConnection:
    """A sqlite3 connection that pauses before the ``COMMIT`` of the K-th write transaction."""

    def __init__(self, conn, owner):
        self._c, self._owner = conn, owner

    def __getattr__(self, name):
        return getattr(self._c, name)

    def execute(self, sql, *args):
        if sql == "COMMIT":
            self._owner._commits += 1
            if self._owner._commits == self._owner.pause_at:
                with open(self._owner.marker, "a") as f:
                    f.write(f"{self._owner._commits}\n")
                time.sleep(self._owner.pause_seconds)
        return self._c.execute(sql, *args)


def _pausing_cache(path: str, pause: str, marker: str):
    from overcoat.scorers.cache import ScoreCache

    class PausingCache(ScoreCache):
        def _connect(self):
            return _PausingConnection(super()._connect(), self)

    k, _, sec = pause.partition(":")
    c = PausingCache(path)
    c.pause_at, c.pause_seconds, c.marker, c._commits = int(k), float(sec), marker, 0
    return c


def main(argv=None) -> int:
    from overcoat.scorers.engine import score_dataset
    from overcoat.scorers.executors import ProcessPool

    import _slow_scorer as me  # by module name, so pool workers unpickle the scorer

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=40)
    ap.add_argument("--workers", type=int, default=1, help="> 1: an always-on process pool")
    ap.add_argument("--marker", help="one line appended after each committed batch")
    ap.add_argument("--calls", help="one line (rows) appended when each batch starts scoring")
    ap.add_argument("--ids", help="one line 'PID ids' appended when each batch starts scoring")
    ap.add_argument("--pause-commit", help="K:SECONDS, sleep inside the K-th write transaction")
    ap.add_argument("--commit-marker", help="where --pause-commit says that it paused")
    ap.add_argument("--out", help="JSON result written at the end")
    a = ap.parse_args(argv)

    ds = make_dataset(a.n)
    scorer = me.SlowScorer(delay=a.delay, calls_path=a.calls, ids_path=a.ids)
    cache = (
        a.cache if not a.pause_commit else _pausing_cache(a.cache, a.pause_commit, a.commit_marker)
    )

    def on_batch(done: int, total: int) -> None:
        if a.marker:
            with open(a.marker, "a") as f:
                f.write(f"{done} {total}\n")

    res = score_dataset(
        ds,
        scorer,
        cache=cache,
        batch_size=a.batch_size,
        on_batch=on_batch,
        executor=ProcessPool(a.workers, adaptive=False) if a.workers > 1 else None,
    )
    if a.out:
        tmp = a.out + ".tmp"
        Path(tmp).write_text(
            json.dumps(
                {
                    "n_total": res.n_total,
                    "n_cached": res.n_cached,
                    "n_scored": res.n_scored,
                    "n_missing": res.n_missing,
                    "workers": res.workers,
                    "signature": res.signature,
                    "scores": [float(x) for x in res.scores],
                }
            )
        )
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
