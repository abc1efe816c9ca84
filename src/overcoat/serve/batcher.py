"""Concurrent requests -> scorer batches: a micro-batching queue.

Requests wait in one asyncio queue. A single loop takes the first waiting request, then gathers
more until the batch has ``max_rows`` rows or ``max_wait`` seconds have passed since the first,
and hands the merged batch to one scorer thread (the scorer and its cache are used by that one
thread only). While the scorer works, new requests queue up and form the next batch, so under
load batches grow by themselves and at low load a request waits at most ``max_wait``.

Scores are placed back by offset, so a request gets the same numbers whatever it was batched
with (the engine scores rows independently; :mod:`overcoat.scorers.engine`). When a merged batch
fails (one request's rows trip the scorer), each request of it is scored on its own, so only the
request at fault sees the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..scorers.base import ScoringBatch

_Waiting = tuple[ScoringBatch, "asyncio.Future[np.ndarray]"]


def merge(batches: list[ScoringBatch]) -> ScoringBatch:
    """One batch with the rows of ``batches`` in order (chat messages None where not given)."""
    with_messages = any(b.messages for b in batches)
    out = ScoringBatch([], [], [])
    for b in batches:
        out.inputs.extend(b.inputs)
        out.responses.extend(b.responses)
        out.references.extend(b.references)
        if with_messages:
            out.messages.extend(b.messages if b.messages else [None] * len(b))
    return out


@dataclass
class BatcherStats:
    requests: int = 0
    rows: int = 0
    batches: int = 0
    largest_batch: int = 0


class MicroBatcher:
    """``await submit(batch)`` -> that batch's scores; ``score(batch)`` runs on one thread."""

    def __init__(
        self,
        score: Callable[[ScoringBatch], np.ndarray],
        *,
        max_rows: int = 256,
        max_wait: float = 0.002,
    ):
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0, got {max_wait}")
        self._score = score
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.stats = BatcherStats()
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._task: asyncio.Task | None = None
        self._pool: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="overcoat-scorer")
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                _, fut = self._queue.get_nowait()
                if not fut.done():
                    fut.set_exception(RuntimeError("the server is shutting down"))
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def submit(self, batch: ScoringBatch) -> np.ndarray:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put((batch, fut))
        return await fut

    async def _gather(self) -> list[_Waiting]:
        assert self._queue is not None
        q = self._queue
        loop = asyncio.get_running_loop()
        group = [await q.get()]
        rows = len(group[0][0])
        deadline = loop.time() + self.max_wait
        while rows < self.max_rows:
            try:
                item = q.get_nowait()
            except asyncio.QueueEmpty:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(q.get(), left)
                except asyncio.TimeoutError:
                    break
            group.append(item)
            rows += len(item[0])
        return [g for g in group if not g[1].done()]  # a client that went away

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = await self._gather()
            if not group:
                continue
            merged = merge([b for b, _ in group])
            self.stats.requests += len(group)
            self.stats.rows += len(merged)
            self.stats.batches += 1
            self.stats.largest_batch = max(self.stats.largest_batch, len(merged))
            try:
                scores = await loop.run_in_executor(self._pool, self._score, merged)
            except Exception as e:  # noqa: BLE001 - handed to the request(s) at fault
                if len(group) == 1:
                    _settle(group[0][1], exc=e)
                    continue
                for b, fut in group:  # find the request at fault: each on its own
                    try:
                        _settle(fut, await loop.run_in_executor(self._pool, self._score, b))
                    except Exception as e1:  # noqa: BLE001
                        _settle(fut, exc=e1)
                continue
            start = 0
            for b, fut in group:
                _settle(fut, scores[start : start + len(b)])
                start += len(b)


def _settle(fut: asyncio.Future, value=None, *, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


__all__ = ["MicroBatcher", "BatcherStats", "merge"]
