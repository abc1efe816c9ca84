"""Score a data set with any scorer: cached, batched, deduplicated, on a pluggable executor.

:func:`score_dataset` (pointwise) and :func:`compare_pairs` (pairwise) share one pipeline:

1. build the rows (input, messages, response[s], references) from the data set;
2. hash each row's content (:mod:`overcoat.scorers.cache`) and deduplicate: identical content is
   scored once per run, whatever its item or response id;
3. look every distinct row up in the cache (one bulk query) under the scorer's signature;
4. cut what is new into batches of ``batch_size`` and hand them to an executor
   (:mod:`overcoat.scorers.executors`: in this process for ``workers=1``, a process pool for
   ``workers > 1`` when it is predicted to finish sooner, or any ``executor=`` given); each
   finished batch is committed to the cache at once and reported to ``on_batch(done, total)``,
   so an interrupted run (Ctrl-C, ``kill -9``, a crash) loses at most the batches in flight:
   one per worker with the built-in executors (``tests/scorers/test_crash.py``), one per actor
   with :class:`~overcoat.scorers.ray_executor.RayExecutor` (``test_ray_crash.py``);
5. scatter the distinct scores back to the rows.

The unit of work. Every batch reaches the scorer as one value: a
:class:`~overcoat.scorers.base.ScoringBatch` (parallel lists of inputs, responses, references,
chat messages, item and response ids; ``Scorer.score_batch`` scores it) or, for a pairwise
scorer, a :class:`~overcoat.scorers.executors.PairBatch` (``PairwiseScorer.compare_batch``).
Both are plain picklable data, so the same unit is what a worker process, a Ray actor or a
reward server receives, and ``score_dataset`` also accepts a ``ScoringBatch`` in place of a data
set (a server scores a request's batch through the same cache and deduplication).

Results never depend on ``batch_size``, the executor (``workers``), ``sort_by_length`` or row
order, as long as the scorer itself scores each row independently of its batch mates: the rows
sent to the scorer and the way they are cut into batches are the same for every executor, and
every score is placed by index.

Scorers with ``cacheable = False`` (scores that depend on more than the content, e.g. looked up by
item id) are neither cached nor deduplicated. ``NaN`` results are not cached unless the scorer
sets ``cache_missing = True`` (see :mod:`overcoat.scorers.cache`).

The engine draws nothing: progress goes to ``on_batch`` (the CLI draws its bar from it, see
:mod:`overcoat.report.progress`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ..data.model import Dataset, loads_messages
from ..errors import DataError, OvercoatError
from .base import DataRows, PairwiseScorer, Scorer, ScoringBatch
from .cache import ScoreCache, item_digest, open_cache, pair_key, response_keys
from .executors import ExecutionReport, Executor, PairBatch, Unit, executor_for
from .registry import get_scorer

log = logging.getLogger("overcoat.scorers")


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
        return (
            f"{self.scorer_name}: {self.n_total} scored in {self.seconds:.2f}s "
            f"({self.n_cached} cached, {self.n_scored} new, {self.n_missing} missing)"
        )


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
            self._digests = [
                item_digest(i, m, r)
                for i, m, r in zip(self.inputs, self.messages_json, self.references)
            ]
        return self._digests

    def messages(self, k: int):
        if k not in self._messages:
            self._messages[k] = loads_messages(self.messages_json[k])
        return self._messages[k]


def _items_from_dataset(dataset: Dataset) -> _Items:
    t = dataset.items
    return _Items(
        t.column("item_id").to_pylist(),
        t.column("input").to_pylist(),
        t.column("messages").to_pylist(),
        t.column("references").to_pylist(),
    )


def _items_from_batch(batch: ScoringBatch) -> _Items:
    n = len(batch)
    given = list(batch.messages) if batch.messages else [None] * n
    msgs = [m if m is None or isinstance(m, str) else _dumps(m) for m in given]
    refs = [list(r) for r in batch.references] if batch.references else [[] for _ in range(n)]
    ids = list(batch.item_ids) if batch.item_ids else [str(i) for i in range(n)]
    return _Items(ids, list(batch.inputs), msgs, refs)


def _dumps(messages) -> str | None:
    from ..data.model import dumps_messages

    return dumps_messages(messages)


def _check_references(scorer, items: _Items, used: Iterable[int]) -> None:
    if not getattr(scorer, "needs_references", False):
        return
    missing = sorted({k for k in used if not items.references[k]})
    if missing:
        more = f" (and {len(missing) - 1} more items)" if len(missing) > 1 else ""
        raise DataError(
            f"scorer {scorer.name!r} needs references but item "
            f"{items.ids[missing[0]]!r} has none{more}",
            field="references",
        )


# -- the shared pipeline ----------------------------------------------------------------------
_Kind = TypeVar("_Kind", Scorer, PairwiseScorer)


def _resolve_scorer(spec: str | Scorer | PairwiseScorer, kind: type[_Kind]) -> _Kind:
    scorer = get_scorer(spec)
    if not isinstance(scorer, kind):
        want = "score_dataset" if isinstance(scorer, Scorer) else "compare_pairs"
        raise OvercoatError(
            f"scorer {getattr(scorer, 'name', scorer)!r} is "
            f"{'pointwise' if isinstance(scorer, Scorer) else 'pairwise'}; "
            f"use {want}()"
        )
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


class _Units(Sequence):
    """The work units of a run, each built when an executor asks for it (so a run holds only the
    units in flight, not a copy of every row)."""

    def __init__(self, batches: list[list[int]], reps: list[int], make_unit):
        self._batches, self._reps, self._make = batches, reps, make_unit

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        return self._make([self._reps[u] for u in self._batches[k]])


def _pipeline(
    *,
    scorer,
    signature: str,
    n_rows: int,
    distinct: _Distinct,
    make_unit: Callable[[list[int]], Unit],
    row_length: Callable[[int], int],
    cache,
    batch_size: int,
    executor: Executor,
    sort_by_length: bool,
    on_batch: Callable[[int, int], None] | None,
    t0: float,
) -> ScoreResult:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    reps, inverse, keys = distinct.reps, distinct.inverse, distinct.keys
    cacheable = keys is not None
    n_unique = len(reps)
    values = np.full(n_unique, np.nan)
    report = ExecutionReport()

    store, owned = open_cache(cache) if cacheable else (None, False)
    use_cache = getattr(scorer, "use_cache", None)  # scorers that keep more than scores
    if callable(use_cache):
        use_cache(store)
    try:
        todo = list(range(n_unique))
        n_cached = 0
        if store is not None and keys is not None and n_unique:
            hits = store.get_many(signature, keys)
            if hits:
                todo = []
                for u, key in enumerate(keys):
                    v = hits.get(key)
                    if v is None:
                        todo.append(u)
                    else:
                        values[u] = v
                n_cached = n_unique - len(todo)
        if sort_by_length and len(todo) > 1:
            lengths = [row_length(reps[u]) for u in todo]
            order = sorted(range(len(todo)), key=lambda i: -lengths[i])
            todo = [todo[i] for i in order]
        batches = [todo[s : s + batch_size] for s in range(0, len(todo), batch_size)]
        cache_missing = bool(getattr(scorer, "cache_missing", False))

        done = 0

        def finish(batch: list[int], out) -> None:
            nonlocal done
            out = np.asarray(out, dtype=np.float64)
            if out.shape != (len(batch),):
                raise OvercoatError(
                    f"scorer {scorer.name!r} returned {out.shape} scores for a "
                    f"batch of {len(batch)}"
                )
            out = out + 0.0  # -0.0 -> +0.0: SQLite stores it as 0, so fresh == cached bitwise
            values[batch] = out
            if store is not None and keys is not None:
                if cache_missing:
                    store.put_many(signature, [keys[u] for u in batch], out)
                else:
                    ok = ~np.isnan(out)
                    store.put_many(signature, [keys[u] for u, g in zip(batch, ok) if g], out[ok])
            done += len(batch)
            if on_batch is not None:
                on_batch(done, len(todo))

        # each result is committed before the executor is asked for the next one
        returned = np.zeros(len(batches), dtype=bool)
        results = executor.run(scorer, _Units(batches, reps, make_unit), report)
        try:
            for k, out in results:
                if not _valid(k, len(batches)) or returned[k]:
                    what = "twice" if _valid(k, len(batches)) else "that does not exist"
                    raise OvercoatError(
                        f"executor {executor!r} returned batch {k!r} {what} (of {len(batches)})"
                    )
                returned[k] = True
                finish(batches[k], out)
        finally:
            close = getattr(results, "close", None)
            if close is not None:  # a generator: release its workers now, not when collected
                close()
        if not returned.all():
            raise OvercoatError(
                f"executor {executor!r} returned no scores for "
                f"{int((~returned).sum())} of {len(batches)} batches"
            )
    finally:
        if callable(use_cache):
            use_cache(None)
        if owned and store is not None:
            store.close()

    scores = values[inverse] if n_rows else np.empty(0)
    for n in report.notes:
        log.info(n)
    return ScoreResult(
        scores=scores,
        signature=signature,
        scorer_name=scorer.name,
        n_total=n_rows,
        n_cached=n_cached,
        n_scored=len(todo),
        n_missing=int(np.isnan(scores).sum()),
        seconds=time.perf_counter() - t0,
        n_unique=n_unique,
        workers=max(report.workers, 1),
        notes=list(report.notes),
    )


def _valid(k, n: int) -> bool:
    return bool(isinstance(k, (int, np.integer)) and 0 <= k < n)


def _resolve_executor(executor: Executor | None, workers: int | None) -> Executor:
    if executor is None:
        return executor_for(workers)
    if workers not in (None, 1):
        raise ValueError(f"give workers ({workers}) or an executor ({executor!r}), not both")
    if not isinstance(executor, Executor):
        raise TypeError(
            f"executor must be an overcoat.scorers.executors.Executor, got "
            f"{type(executor).__name__}"
        )
    return executor


# -- pointwise --------------------------------------------------------------------------------
def score_dataset(
    dataset: Dataset | ScoringBatch,
    scorer: Scorer | str,
    *,
    cache: str | ScoreCache | None = "default",
    batch_size: int = 64,
    workers: int = 1,
    executor: Executor | None = None,
    sort_by_length: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """Score every response of ``dataset`` (row-aligned with ``dataset.responses``).

    ``cache``: ``"default"`` (see :func:`~overcoat.scorers.cache.default_cache_path`), a path,
    a :class:`~overcoat.scorers.cache.ScoreCache`, or ``None`` for no cache. ``sort_by_length``
    scores the longest rows first (less padding for neural scorers). ``on_batch(done, total)``
    is called once after each batch is committed (``done`` rows of the ``total`` to score in
    this call, cached rows not counted; never called when nothing is left to score).
    ``workers > 1`` scores in a :class:`~overcoat.scorers.executors.ProcessPool` when that is
    predicted to be faster; ``executor`` runs the batches on any
    :class:`~overcoat.scorers.executors.Executor` instead (not together with ``workers``). A
    :class:`ScoringBatch` may stand in for the data set (scores aligned with its rows).

    Raises :class:`~overcoat.errors.DataError` when the scorer needs references and an item has
    none (before anything is scored).
    """
    t0 = time.perf_counter()
    executor = _resolve_executor(executor, workers)
    scorer = _resolve_scorer(scorer, Scorer)  # type: ignore[type-abstract]  # (mypy #4717)
    signature = scorer.signature()
    if isinstance(dataset, ScoringBatch):
        items = _items_from_batch(dataset)
        row_item = np.arange(len(dataset))
        texts = list(dataset.responses)
        resp_ids = (
            list(dataset.response_ids)
            if dataset.response_ids
            else [str(i) for i in range(len(texts))]
        )
    else:
        items = _items_from_dataset(dataset)
        row_item = _index_of(items.ids, dataset.responses.column("item_id"))
        texts = dataset.responses.column("text").to_pylist()
        resp_ids = dataset.responses.column("response_id").to_pylist()
    row_item_l = row_item.tolist()
    _check_references(scorer, items, set(row_item_l))
    warnings: list[str] = []
    if type(scorer).bind is not Scorer.bind:  # only scorers that look at the whole data set
        warnings = list(
            scorer.bind(
                DataRows(
                    [items.ids[i] for i in row_item_l],
                    list(resp_ids),
                    [items.inputs[i] for i in row_item_l],
                    texts,
                    {} if isinstance(dataset, ScoringBatch) else dict(dataset.info),
                    "batch" if isinstance(dataset, ScoringBatch) else dataset.name,
                )
            )
            or []
        )

    def content():
        canon = _canonical_items(items.digests())
        return [(canon[i], t) for i, t in zip(row_item_l, texts)]

    def keys_of(reps):
        return response_keys(
            items.digests(), [row_item_l[r] for r in reps], [texts[r] for r in reps]
        )

    distinct = _distinct(len(texts), scorer, content, keys_of)

    def make_unit(rows: list[int]) -> ScoringBatch:
        ii = [row_item_l[r] for r in rows]
        return ScoringBatch(
            inputs=[items.inputs[i] for i in ii],
            responses=[texts[r] for r in rows],
            references=[items.references[i] for i in ii],
            messages=[items.messages(i) for i in ii],
            item_ids=[items.ids[i] for i in ii],
            response_ids=[resp_ids[r] for r in rows],
        )

    def row_length(r: int) -> int:
        return len(texts[r]) + len(items.inputs[row_item_l[r]])

    res = _pipeline(
        scorer=scorer,
        signature=signature,
        n_rows=len(texts),
        distinct=distinct,
        make_unit=make_unit,
        row_length=row_length,
        cache=cache,
        batch_size=batch_size,
        executor=executor,
        sort_by_length=sort_by_length,
        on_batch=on_batch,
        t0=t0,
    )
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
        return list(
            zip(
                pairs.column("item_id").to_pylist(),
                pairs.column("response_a").to_pylist(),
                pairs.column("response_b").to_pylist(),
            )
        )
    out = []
    for p in pairs:
        it, a, b = p
        out.append((str(it), str(a), str(b)))
    return out


def compare_pairs(
    dataset_or_batch: Dataset | ScoringBatch,
    scorer: PairwiseScorer | str,
    pairs: Iterable[tuple[str, str, str]] | None = None,
    *,
    cache: str | ScoreCache | None = "default",
    batch_size: int = 16,
    workers: int = 1,
    executor: Executor | None = None,
    sort_by_length: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """P(response A better than response B) for each ``(item_id, response_a, response_b)``.

    Responses are named by response id and looked up in the data set (or in a
    :class:`ScoringBatch`, by its ``item_ids``/``response_ids``). ``pairs`` may also be an Arrow
    table with ``item_id, response_a, response_b`` columns; when omitted, the data set's
    judgments give the pairs (:meth:`~overcoat.data.model.Judgments.to_pairwise`). Pairs are
    ordered: (A, B) and (B, A) are different questions to a judge with position bias and are
    cached apart. ``result.scores`` is aligned with ``pairs``. ``workers``, ``executor`` and
    ``on_batch`` as in :func:`score_dataset` (the work units are
    :class:`~overcoat.scorers.executors.PairBatch`).
    """
    t0 = time.perf_counter()
    executor = _resolve_executor(executor, workers)
    scorer = _resolve_scorer(scorer, PairwiseScorer)  # type: ignore[type-abstract]  # (mypy #4717)
    signature = scorer.signature()
    if isinstance(dataset_or_batch, ScoringBatch):
        batch = dataset_or_batch
        if not batch.item_ids or not batch.response_ids:
            raise OvercoatError(
                "compare_pairs on a ScoringBatch needs its item_ids and response_ids"
            )
        items_all = _items_from_batch(batch)
        # one item per distinct item id (first row wins)
        first: dict[str, int] = {}
        for r, it in enumerate(batch.item_ids):
            first.setdefault(it, r)
        sel = list(first.values())
        items = _Items(
            [items_all.ids[r] for r in sel],
            [items_all.inputs[r] for r in sel],
            [items_all.messages_json[r] for r in sel],
            [items_all.references[r] for r in sel],
        )
        text_of = {
            (it, rid): t for it, rid, t in zip(batch.item_ids, batch.response_ids, batch.responses)
        }
    else:
        items = _items_from_dataset(dataset_or_batch)
        rt = dataset_or_batch.responses
        text_of = dict(
            zip(
                zip(rt.column("item_id").to_pylist(), rt.column("response_id").to_pylist()),
                rt.column("text").to_pylist(),
            )
        )
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
                raise DataError(
                    f"pair {n} names unknown response {rid!r} of item {it!r}", field=fld
                )
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

    def make_unit(rows: list[int]) -> PairBatch:
        ii = [p_item[r] for r in rows]
        return PairBatch(
            [items.inputs[i] for i in ii],
            [ta[r] for r in rows],
            [tb[r] for r in rows],
            [items.references[i] for i in ii],
        )

    def row_length(r: int) -> int:
        return len(ta[r]) + len(tb[r]) + len(items.inputs[p_item[r]])

    return _pipeline(
        scorer=scorer,
        signature=signature,
        n_rows=len(plist),
        distinct=distinct,
        make_unit=make_unit,
        row_length=row_length,
        cache=cache,
        batch_size=batch_size,
        executor=executor,
        sort_by_length=sort_by_length,
        on_batch=on_batch,
        t0=t0,
    )


__all__ = ["ScoreResult", "score_dataset", "compare_pairs"]
