"""The micro-batching queue: concurrent requests share one scorer batch, every request gets its
own rows' scores back, and a request that trips the scorer fails alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.scorers.base import ScoringBatch
from overcoat.serve.batcher import MicroBatcher, merge


def rows(*texts: str) -> ScoringBatch:
    return ScoringBatch([""] * len(texts), list(texts), [[] for _ in texts])


def word_count(batch: ScoringBatch) -> np.ndarray:
    if any("BOOM" in r for r in batch.responses):
        raise ValueError("BOOM in a response")
    return np.array([len(r.split()) for r in batch.responses], dtype=float)


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_share_one_batch_and_get_their_own_scores():
    calls: list[int] = []

    def scorer(b):
        calls.append(len(b))
        return word_count(b)

    async def main():
        mb = MicroBatcher(scorer, max_rows=100, max_wait=0.5)
        await mb.start()
        reqs = [rows(*(" ".join(["w"] * (k + j)) for j in range(k % 3 + 1))) for k in range(10)]
        outs = await asyncio.gather(*(mb.submit(r) for r in reqs))
        await mb.stop()
        return reqs, outs, mb.stats

    reqs, outs, stats = run(main())
    for r, o in zip(reqs, outs):  # each request: the word counts of its own rows, in order
        assert o.tolist() == [float(len(t.split())) for t in r.responses]
    total = sum(len(r) for r in reqs)
    assert calls == [total]  # all queued before the loop ran: one scorer batch
    assert (stats.requests, stats.rows, stats.batches, stats.largest_batch) == (10, total, 1, total)


def test_max_rows_cuts_batches():
    calls: list[int] = []

    def scorer(b):
        calls.append(len(b))
        return word_count(b)

    async def main():
        mb = MicroBatcher(scorer, max_rows=4, max_wait=0.5)
        await mb.start()
        outs = await asyncio.gather(*(mb.submit(rows("a b", "c")) for _ in range(5)))
        await mb.stop()
        return outs

    outs = run(main())
    assert all(o.tolist() == [2.0, 1.0] for o in outs)
    assert calls == [4, 4, 2]  # two requests (4 rows) per batch


def test_a_failing_request_fails_alone():
    async def main():
        mb = MicroBatcher(word_count, max_rows=100, max_wait=0.05)
        await mb.start()
        outs = await asyncio.gather(
            mb.submit(rows("a b")),
            mb.submit(rows("x BOOM")),
            mb.submit(rows("c d e")),
            return_exceptions=True,
        )
        again = await mb.submit(rows("still", "up"))
        await mb.stop()
        return outs, again

    (a, boom, c), again = run(main())
    assert a.tolist() == [2.0] and c.tolist() == [3.0]
    assert isinstance(boom, ValueError) and "BOOM" in str(boom)
    assert again.tolist() == [1.0, 1.0]


def test_merge_fills_missing_messages():
    m = merge(
        [rows("a"), ScoringBatch(["i"], ["b"], [["r"]], [[{"role": "user", "content": "i"}]])]
    )
    assert m.responses == ["a", "b"] and m.references == [[], ["r"]]
    assert m.messages == [None, [{"role": "user", "content": "i"}]]
    assert merge([rows("a"), rows("b")]).messages == []


def test_bad_settings():
    with pytest.raises(ValueError, match="max_rows"):
        MicroBatcher(word_count, max_rows=0)
    with pytest.raises(ValueError, match="max_wait"):
        MicroBatcher(word_count, max_wait=-1)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=12),
    max_rows=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_scores_do_not_depend_on_batch_mates(sizes, max_rows, seed):
    """Whatever the requests' sizes and the batch limit, every request gets exactly the scores
    of its own rows scored alone (the batches cut requests only at their boundaries)."""
    rng = np.random.default_rng(seed)
    reqs = [rows(*(" ".join(["w"] * int(rng.integers(0, 9))) for _ in range(n))) for n in sizes]
    seen: list[int] = []

    def scorer(b):
        seen.append(len(b))
        return word_count(b)

    async def main():
        mb = MicroBatcher(scorer, max_rows=max_rows, max_wait=0.0)
        await mb.start()
        outs = await asyncio.gather(*(mb.submit(r) for r in reqs))
        await mb.stop()
        return outs

    outs = run(main())
    for r, o in zip(reqs, outs):
        assert o.tolist() == word_count(r).tolist()
    assert sum(seen) == sum(sizes)
    # a batch closes once it reaches max_rows: it holds at most max_rows - 1 + one request
    assert max(seen) <= max(max_rows - 1 + max(sizes), max(sizes))
