"""Score a data set with any scorer: cached, batched, deduplicated, optionally multi-process.

:func:`score_dataset` (pointwise) and :func:`compare_pairs` (pairwise) share one pipeline:

1. build the rows (input, messages, response[s], references) from the data set;
2. hash each row's content (:mod:`overcoat.scorers.cache`) and deduplicate: identical content is
   scored once per run, whatever its item or response id;
3. look every distinct row up in the cache (one bulk query) under the scorer's signature;
4. score only what is new, in batches of ``batch_size`` (in worker processes when ``workers > 1``,
   the scorer is ``parallel_safe`` and a pool is predicted to finish sooner than one process, see
   :func:`_pool_size`); each finished batch is committed to the cache at once,
   so an interrupted run (Ctrl-C, ``kill -9``, a crash) loses at most the batches in flight;
5. scatter the distinct scores back to the rows.

Results never depend on ``batch_size``, ``workers``, ``sort_by_length`` or row order, as long as
the scorer itself scores each row independently of its batch mates: the rows sent to the scorer
and the way they are cut into batches are the same for every ``workers``, and every score is
placed by index.

Scorers with ``cacheable = False`` (scores that depend on more than the content, e.g. looked up by
item id) are neither cached nor deduplicated. ``NaN`` results are not cached unless the scorer
sets ``cache_missing = True`` (see :mod:`overcoat.scorers.cache`).

Worker processes are started with the ``spawn`` method (safe with threads, CUDA and macOS): the
scorer must be picklable and importable, and a script that uses ``workers > 1`` needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import pickle
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ..data.model import Dataset, loads_messages
from ..errors import DataError, OvercoatError
from .base import DataRows, PairwiseScorer, Scorer, ScoringBatch, get_scorer
from .cache import ScoreCache, item_digest, open_cache, pair_key, response_keys

log = logging.getLogger("overcoat.scorers")

#: batches kept in flight per worker process
_IN_FLIGHT_PER_WORKER = 2
#: start-up cost of one spawned worker (interpreter, imports, unpickling the scorer), CPU seconds;
#: conservative: one chrF worker answered after 1.6 s wall on the busy 2-core development machine
_WORKER_START_SECONDS = 1.5
#: a pool is started only when its predicted time is below this share of the one-process time
_POOL_MAX_SHARE = 0.8
#: tests set this to start a pool whatever the prediction
_FORCE_POOL = False


@dataclass
class ScoreResult:
    """Scores aligned with the data set's responses (or with the pairs, for pairwise).

    Counts: ``n_total`` rows; ``n_unique`` distinct contents among them (``n_total`` for a
    non-cacheable scorer); of those, ``n_cached`` came from the cache and ``n_scored`` were
    computed now (``n_cached + n_scored == n_unique``); ``n_missing`` rows are NaN.
    """

    scores: np.ndarray
    signature: str
    scorer_name: str
    n_total: int
    n_cached: int
    n_scored: int
    n_missing: int
    seconds: float
    n_unique: int = 0
    workers: int = 1
    notes: list[str] = field(default_factory=list)
    #: notes the user should see (the scorer's :meth:`~overcoat.scorers.base.Scorer.bind`)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.scorer_name}: {self.n_total} scored in {self.seconds:.2f}s "
                f"({self.n_cached} cached, {self.n_scored} new, {self.n_missing} missing)")


# -- rows -------------------------------------------------------------------------------------
@dataclass
class _Items:
    """Item-level content; rows point into it."""

    ids: list[str]
    inputs: list[str]
    messages_json: list[str | None]
    references: list[list[str]]
    _digests: list[bytes] | None = None
    _messages: dict[int, Any] = field(default_factory=dict)

    def digests(self) -> list[bytes]:
        if self._digests is None:
            self._digests = [item_digest(i, m, r) for i, m, r in
                             zip(self.inputs, self.messages_json, self.references)]
        return self._digests

    def messages(self, k: int):
        if k not in self._messages:
            self._messages[k] = loads_messages(self.messages_json[k])
        return self._messages[k]


def _items_from_dataset(dataset: Dataset) -> _Items:
    t = dataset.items
    return _Items(t.column("item_id").to_pylist(), t.column("input").to_pylist(),
                  t.column("messages").to_pylist(), t.column("references").to_pylist())


def _items_from_batch(batch: ScoringBatch) -> _Items:
    n = len(batch)
    msgs = list(batch.messages) if batch.messages else [None] * n
    msgs = [m if m is None or isinstance(m, str) else _dumps(m) for m in msgs]
    refs = [list(r) for r in batch.references] if batch.references else [[] for _ in range(n)]
    ids = list(batch.item_ids) if batch.item_ids else [str(i) for i in range(n)]
    return _Items(ids, list(batch.inputs), msgs, refs)


def _dumps(messages) -> str:
    from ..data.model import dumps_messages
    return dumps_messages(messages)


def _check_references(scorer, items: _Items, used: Iterable[int]) -> None:
    if not getattr(scorer, "needs_references", False):
        return
    missing = sorted({k for k in used if not items.references[k]})
    if missing:
        more = f" (and {len(missing) - 1} more items)" if len(missing) > 1 else ""
        raise DataError(f"scorer {scorer.name!r} needs references but item "
                        f"{items.ids[missing[0]]!r} has none{more}", field="references")


# -- the shared pipeline ----------------------------------------------------------------------
def _resolve_scorer(scorer, kind):
    scorer = get_scorer(scorer)
    if not isinstance(scorer, kind):
        want = "score_dataset" if isinstance(scorer, Scorer) else "compare_pairs"
        raise OvercoatError(f"scorer {getattr(scorer, 'name', scorer)!r} is "
                            f"{'pointwise' if isinstance(scorer, Scorer) else 'pairwise'}; "
                            f"use {want}()")
    return scorer


def _dedupe(keys) -> tuple[list[int], np.ndarray]:
    """First-appearance representatives and the row -> distinct index map (hashable keys)."""
    first: dict = {}
    put = first.setdefault
    inverse = np.fromiter((put(k, len(first)) for k in keys), dtype=np.int64, count=len(keys))
    if not len(keys):
        return [], inverse
    # distinct ids are numbered in order of first appearance, so the first row of each id is
    # found by np.unique's first-index output
    _, reps = np.unique(inverse, return_index=True)
    return reps.tolist(), inverse


def _canonical_items(digests: list[bytes]) -> list[int]:
    """Per item, the first item with identical content (so rows can be deduplicated cheaply by
    (canonical item, response text) before any per-row hashing)."""
    first: dict[bytes, int] = {}
    return [first.setdefault(d, k) for k, d in enumerate(digests)]


@dataclass
class _Distinct:
    """Deduplicated rows: representative rows, the row -> distinct map, and cache keys."""

    reps: list[int]
    inverse: np.ndarray
    keys: list[bytes] | None  # None: not cacheable


def _distinct(n_rows: int, scorer, content, keys_of) -> _Distinct:
    """``content()`` gives one hashable tuple per row (only called for cacheable scorers);
    ``keys_of(reps)`` gives the cache keys of the representative rows."""
    if not getattr(scorer, "cacheable", True):
        return _Distinct(list(range(n_rows)), np.arange(n_rows, dtype=np.int64), None)
    reps, inverse = _dedupe(content())
    return _Distinct(reps, inverse, keys_of(reps))


def _pipeline(*, scorer, signature: str, n_rows: int, distinct: _Distinct,
              make_payload: Callable[[list[int]], Any], row_length: Callable[[int], int],
              cache, batch_size: int, workers: int, progress: bool, sort_by_length: bool,
              on_batch: Callable[[int, int], None] | None, t0: float) -> ScoreResult:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    notes: list[str] = []
    reps, inverse, keys = distinct.reps, distinct.inverse, distinct.keys
    cacheable = keys is not None
    n_unique = len(reps)
    values = np.full(n_unique, np.nan)

    store, owned = open_cache(cache) if cacheable else (None, False)
    try:
        todo = list(range(n_unique))
        n_cached = 0
        if store is not None and n_unique:
            hits = store.get_many(signature, keys)
            if hits:
                todo = []
                for u, k in enumerate(keys):
                    v = hits.get(k)
                    if v is None:
                        todo.append(u)
                    else:
                        values[u] = v
                n_cached = n_unique - len(todo)
        if sort_by_length and len(todo) > 1:
            lengths = [row_length(reps[u]) for u in todo]
            order = sorted(range(len(todo)), key=lambda i: -lengths[i])
            todo = [todo[i] for i in order]
        batches = [todo[s:s + batch_size] for s in range(0, len(todo), batch_size)]
        cache_missing = bool(getattr(scorer, "cache_missing", False))

        done = 0

        def finish(batch: list[int], out) -> None:
            nonlocal done
            out = np.asarray(out, dtype=np.float64)
            if out.shape != (len(batch),):
                raise OvercoatError(f"scorer {scorer.name!r} returned {out.shape} scores for a "
                                    f"batch of {len(batch)}")
            out = out + 0.0  # -0.0 -> +0.0: SQLite stores it as 0, so fresh == cached bitwise
            values[batch] = out
            if store is not None:
                if cache_missing:
                    store.put_many(signature, [keys[u] for u in batch], out)
                else:
                    ok = ~np.isnan(out)
                    store.put_many(signature, [keys[u] for u, g in zip(batch, ok) if g], out[ok])
            done += len(batch)
            if on_batch is not None:
                on_batch(done, len(todo))

        n_workers = _choose_workers(scorer, workers, len(batches), notes)
        desc = f"{scorer.name}" + (f" ({n_cached} cached)" if n_cached else "")
        with _progress_bar(progress, len(todo), desc) as advance:
            payloads = (make_payload([reps[u] for u in b]) for b in batches)
            if n_workers > 1:
                # score the first batches here (the first one warms the scorer up, the second
                # is timed) and start worker processes only when the rest is predicted to
                # finish sooner in a pool (scores are the same either way)
                per_batch = 0.0
                for _ in range(2 if len(batches) > 2 else 1):
                    t1 = time.perf_counter()
                    finish(batches[0], _call(scorer, next(payloads)))
                    advance(len(batches[0]))
                    per_batch = time.perf_counter() - t1
                    batches = batches[1:]
                n_workers = _pool_size(scorer.name, n_workers, per_batch, len(batches), notes)
            if n_workers <= 1:
                for b, payload in zip(batches, payloads):
                    finish(b, _call(scorer, payload))
                    advance(len(b))
            else:
                _run_pool(scorer, batches, payloads, n_workers, finish, advance)
    finally:
        if owned and store is not None:
            store.close()

    scores = values[inverse] if n_rows else np.empty(0)
    for n in notes:
        log.info(n)
    return ScoreResult(scores=scores, signature=signature, scorer_name=scorer.name,
                       n_total=n_rows, n_cached=n_cached, n_scored=len(todo),
                       n_missing=int(np.isnan(scores).sum()), seconds=time.perf_counter() - t0,
                       n_unique=n_unique, workers=max(n_workers, 1), notes=notes)


def _choose_workers(scorer, workers: int, n_batches: int, notes: list[str]) -> int:
    if workers is None or workers <= 1 or n_batches <= 1:
        return 1
    if not getattr(scorer, "parallel_safe", False):
        notes.append(f"scorer {scorer.name!r} is not parallel-safe; using 1 worker")
        return 1
    try:
        pickle.dumps(scorer)
    except Exception as e:  # noqa: BLE001 - any pickling failure means: no pool
        notes.append(f"scorer {scorer.name!r} cannot be pickled ({type(e).__name__}: {e}); "
                     f"using 1 worker")
        return 1
    return min(int(workers), n_batches)


def _cpus_and_load() -> tuple[int, float]:
    """CPUs this process may use (affinity mask) and the number of runnable processes of the rest
    of the machine (1-minute load average minus this process)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    try:
        busy = max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):  # pragma: no cover - no load average (Windows)
        busy = 0.0
    return max(1, n), busy


def _cpu_share(k: int, cpus: int, busy: float) -> float:
    """CPU seconds per second that ``k`` processes get on ``cpus`` CPUs shared with ``busy``
    other runnable processes (fair scheduling): ``min(k, cpus, k * cpus / (busy + k))``."""
    return min(float(k), float(cpus), k * cpus / (busy + k))


def _pool_size(name: str, n_workers: int, per_batch: float, n_left: int, notes: list[str]) -> int:
    """Workers for the remaining ``n_left`` batches, or 1 when a pool would not be faster.

    One process needs ``T1 = per_batch * n_left`` seconds, i.e. ``W = T1 * share(1)`` CPU
    seconds (see :func:`_cpu_share`; the load of the rest of the machine is part of it). A pool
    of ``p`` workers needs about ``(W + p * _WORKER_START_SECONDS) / share(p)``. The pool size
    with the smallest prediction is used when that prediction is below ``_POOL_MAX_SHARE * T1``,
    so ``--workers N`` is never predicted to be slower than one process.
    """
    if n_left <= 1:
        return 1
    if _FORCE_POOL:
        return min(n_workers, n_left)
    cpus, busy = _cpus_and_load()
    t1 = per_batch * n_left
    work = t1 * _cpu_share(1, cpus, busy)
    best_p, best_t = 1, t1
    for p in range(2, min(n_workers, n_left) + 1):
        t = (work + p * _WORKER_START_SECONDS) / _cpu_share(p, cpus, busy)
        if t < best_t:
            best_p, best_t = p, t
    if best_p > 1 and best_t < _POOL_MAX_SHARE * t1:
        return best_p
    notes.append(f"{name}: one process is predicted to be as fast (~{t1:.1f}s left, {cpus} CPUs, "
                 f"load {busy:.1f} elsewhere); no worker pool")
    return 1


def _call(scorer, payload):
    if isinstance(scorer, PairwiseScorer):
        return scorer.compare_batch(*payload)
    return scorer.score_batch(payload)


_WORKER_SCORER = None


#: how often a worker checks that the process that started it is still alive (seconds)
_PARENT_POLL_SECONDS = 0.25


def _exit_with_parent(parent_pid: int | None) -> None:
    """End this worker as soon as its parent is gone (``kill -9`` of the parent leaves workers
    re-parented, and they would wait for work forever): a daemon thread polls the parent pid."""
    import os
    import threading
    if parent_pid is None:
        return
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="overcoat-parent-watch", daemon=True).start()


def _init_worker(scorer, parent_pid: int | None = None) -> None:
    global _WORKER_SCORER
    _exit_with_parent(parent_pid)
    _WORKER_SCORER = scorer


def _worker_call(payload):
    return np.asarray(_call(_WORKER_SCORER, payload), dtype=np.float64)


def _run_pool(scorer, batches, payloads, n_workers, finish, advance) -> None:
    ctx = multiprocessing.get_context("spawn")
    import os
    ex = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(scorer, os.getpid()))
    pending: dict = {}
    it = iter(zip(batches, payloads))
    ok = False
    try:
        def submit() -> None:
            nxt = next(it, None)
            if nxt is not None:
                b, payload = nxt
                pending[ex.submit(_worker_call, payload)] = b

        for _ in range(n_workers * _IN_FLIGHT_PER_WORKER):
            submit()
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for f in finished:
                b = pending.pop(f)
                out = f.result()
                finish(b, out)
                advance(len(b))
                submit()
        ok = True
    finally:
        if not ok:
            for f in pending:
                f.cancel()
        ex.shutdown(wait=True, cancel_futures=not ok)


@contextmanager
def _progress_bar(enabled: bool, total: int, desc: str):
    """A rich progress bar on stderr when it is a terminal (or Jupyter); else a no-op."""
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.console import Console
    console = Console(stderr=True)
    if not (console.is_terminal or console.is_jupyter):
        yield lambda n: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                  transient=False) as bar:
        task = bar.add_task(desc, total=total)
        yield lambda n: bar.advance(task, n)


# -- pointwise --------------------------------------------------------------------------------
def score_dataset(dataset: Dataset | ScoringBatch, scorer: "Scorer | str", *,
                  cache: "str | ScoreCache | None" = "default", batch_size: int = 64,
                  workers: int = 1, progress: bool = True, sort_by_length: bool = False,
                  on_batch: Callable[[int, int], None] | None = None) -> ScoreResult:
    """Score every response of ``dataset`` (row-aligned with ``dataset.responses``).

    ``cache``: ``"default"`` (see :func:`~overcoat.scorers.cache.default_cache_path`), a path,
    a :class:`~overcoat.scorers.cache.ScoreCache`, or ``None`` for no cache. ``sort_by_length``
    scores the longest rows first (less padding for neural scorers). ``on_batch(done, total)``
    is called after each batch is committed. A :class:`ScoringBatch` may stand in for the data
    set (scores aligned with its rows).

    Raises :class:`~overcoat.errors.DataError` when the scorer needs references and an item has
    none (before anything is scored).
    """
    t0 = time.perf_counter()
    scorer = _resolve_scorer(scorer, Scorer)
    signature = scorer.signature()
    if isinstance(dataset, ScoringBatch):
        items = _items_from_batch(dataset)
        row_item = np.arange(len(dataset))
        texts = list(dataset.responses)
        resp_ids = list(dataset.response_ids) if dataset.response_ids else \
            [str(i) for i in range(len(texts))]
    else:
        items = _items_from_dataset(dataset)
        row_item = _index_of(items.ids, dataset.responses.column("item_id"))
        texts = dataset.responses.column("text").to_pylist()
        resp_ids = dataset.responses.column("response_id").to_pylist()
    row_item_l = row_item.tolist()
    _check_references(scorer, items, set(row_item_l))
    warnings: list[str] = []
    if type(scorer).bind is not Scorer.bind:  # only scorers that look at the whole data set
        warnings = list(scorer.bind(DataRows(
            [items.ids[i] for i in row_item_l], list(resp_ids),
            [items.inputs[i] for i in row_item_l], texts,
            {} if isinstance(dataset, ScoringBatch) else dict(dataset.info),
            "batch" if isinstance(dataset, ScoringBatch) else dataset.name)) or [])

    def content():
        canon = _canonical_items(items.digests())
        return [(canon[i], t) for i, t in zip(row_item_l, texts)]

    def keys_of(reps):
        return response_keys(items.digests(), [row_item_l[r] for r in reps],
                             [texts[r] for r in reps])

    distinct = _distinct(len(texts), scorer, content, keys_of)

    def make_payload(rows: list[int]) -> ScoringBatch:
        ii = [row_item_l[r] for r in rows]
        return ScoringBatch(inputs=[items.inputs[i] for i in ii],
                            responses=[texts[r] for r in rows],
                            references=[items.references[i] for i in ii],
                            messages=[items.messages(i) for i in ii],
                            item_ids=[items.ids[i] for i in ii],
                            response_ids=[resp_ids[r] for r in rows])

    def row_length(r: int) -> int:
        return len(texts[r]) + len(items.inputs[row_item_l[r]])

    res = _pipeline(scorer=scorer, signature=signature, n_rows=len(texts), distinct=distinct,
                    make_payload=make_payload, row_length=row_length, cache=cache,
                    batch_size=batch_size, workers=workers, progress=progress,
                    sort_by_length=sort_by_length, on_batch=on_batch, t0=t0)
    res.warnings = warnings
    return res


def _index_of(ids: list[str], wanted) -> np.ndarray:
    """Positions of ``wanted`` item ids (an Arrow column) in ``ids``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    idx = pc.index_in(wanted, value_set=pa.array(ids, pa.string()))
    if idx.null_count:
        first = pc.filter(wanted, pc.is_null(idx)).to_pylist()[0]
        raise DataError(f"response names unknown item {first!r}", field="item_id")
    return np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)


# -- pairwise ---------------------------------------------------------------------------------
def _pairs_list(pairs, dataset) -> list[tuple[str, str, str]]:
    if pairs is None:
        if not isinstance(dataset, Dataset) or dataset.judgments is None:
            raise OvercoatError("compare_pairs needs pairs (or a data set with judgments)")
        pairs = dataset.judgments.to_pairwise().table
    if hasattr(pairs, "column_names"):  # an Arrow table (e.g. pairwise judgments)
        return list(zip(pairs.column("item_id").to_pylist(),
                        pairs.column("response_a").to_pylist(),
                        pairs.column("response_b").to_pylist()))
    out = []
    for p in pairs:
        it, a, b = p
        out.append((str(it), str(a), str(b)))
    return out


def compare_pairs(dataset_or_batch: Dataset | ScoringBatch, scorer: "PairwiseScorer | str",
                  pairs: "Iterable[tuple[str, str, str]] | None" = None, *,
                  cache: "str | ScoreCache | None" = "default", batch_size: int = 16,
                  workers: int = 1, progress: bool = True, sort_by_length: bool = False,
                  on_batch: Callable[[int, int], None] | None = None) -> ScoreResult:
    """P(response A better than response B) for each ``(item_id, response_a, response_b)``.

    Responses are named by response id and looked up in the data set (or in a
    :class:`ScoringBatch`, by its ``item_ids``/``response_ids``). ``pairs`` may also be an Arrow
    table with ``item_id, response_a, response_b`` columns; when omitted, the data set's
    judgments give the pairs (:meth:`~overcoat.data.model.Judgments.to_pairwise`). Pairs are
    ordered: (A, B) and (B, A) are different questions to a judge with position bias and are
    cached apart. ``result.scores`` is aligned with ``pairs``.
    """
    t0 = time.perf_counter()
    scorer = _resolve_scorer(scorer, PairwiseScorer)
    signature = scorer.signature()
    if isinstance(dataset_or_batch, ScoringBatch):
        batch = dataset_or_batch
        if not batch.item_ids or not batch.response_ids:
            raise OvercoatError("compare_pairs on a ScoringBatch needs its item_ids and "
                                "response_ids")
        items_all = _items_from_batch(batch)
        # one item per distinct item id (first row wins)
        first: dict[str, int] = {}
        for r, it in enumerate(batch.item_ids):
            first.setdefault(it, r)
        sel = list(first.values())
        items = _Items([items_all.ids[r] for r in sel], [items_all.inputs[r] for r in sel],
                       [items_all.messages_json[r] for r in sel],
                       [items_all.references[r] for r in sel])
        text_of = {(it, rid): t for it, rid, t in
                   zip(batch.item_ids, batch.response_ids, batch.responses)}
    else:
        items = _items_from_dataset(dataset_or_batch)
        rt = dataset_or_batch.responses
        text_of = dict(zip(zip(rt.column("item_id").to_pylist(),
                               rt.column("response_id").to_pylist()),
                           rt.column("text").to_pylist()))
    pos = {v: k for k, v in enumerate(items.ids)}
    plist = _pairs_list(pairs, dataset_or_batch)
    p_item: list[int] = []
    ta: list[str] = []
    tb: list[str] = []
    for n, (it, a, b) in enumerate(plist):
        k = pos.get(it)
        if k is None:
            raise DataError(f"pair {n} names unknown item {it!r}", field="item_id")
        for rid, dst, fld in ((a, ta, "response_a"), (b, tb, "response_b")):
            t = text_of.get((it, rid))
            if t is None:
                raise DataError(f"pair {n} names unknown response {rid!r} of item {it!r}",
                                field=fld)
            dst.append(t)
        p_item.append(k)
    _check_references(scorer, items, set(p_item))

    def content():
        canon = _canonical_items(items.digests())
        return [(canon[i], a, b) for i, a, b in zip(p_item, ta, tb)]

    def keys_of(reps):
        dig = items.digests()
        return [pair_key(dig[p_item[r]], ta[r], tb[r]) for r in reps]

    distinct = _distinct(len(plist), scorer, content, keys_of)

    def make_payload(rows: list[int]):
        ii = [p_item[r] for r in rows]
        return ([items.inputs[i] for i in ii], [ta[r] for r in rows], [tb[r] for r in rows],
                [items.references[i] for i in ii])

    def row_length(r: int) -> int:
        return len(ta[r]) + len(tb[r]) + len(items.inputs[p_item[r]])

    return _pipeline(scorer=scorer, signature=signature, n_rows=len(plist), distinct=distinct,
                     make_payload=make_payload, row_length=row_length, cache=cache,
                     batch_size=batch_size, workers=workers, progress=progress,
                     sort_by_length=sort_by_length, on_batch=on_batch, t0=t0)


__all__ = ["ScoreResult", "score_dataset", "compare_pairs"]
