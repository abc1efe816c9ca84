"""The executor interface of the scoring engine: built-in executors agree, a custom executor
needs nothing but the interface, progress is reported once per batch, misbehaviour is an error."""

from __future__ import annotations

import math
import multiprocessing
import pickle
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcoat.errors import OvercoatError  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.cache import ScoreCache  # noqa: E402
from overcoat.scorers.engine import compare_pairs, score_dataset  # noqa: E402
from overcoat.scorers.executors import (  # noqa: E402
    ExecutionReport,
    Executor,
    InProcess,
    PairBatch,
    ProcessPool,
    executor_for,
    run_batch,
)

import _slow_scorer as H  # noqa: E402


# -- test doubles: executors written against the interface only --------------------------------
class Reversed(Executor):
    """Runs the units last to first, each after a pickle round trip of the scorer and the unit
    (as a remote worker would receive them), and reports ``workers`` and a note."""

    def __init__(self):
        self.seen: list = []

    def run(self, scorer, units, report):
        remote = pickle.loads(pickle.dumps(scorer))
        report.workers = 3
        report.notes.append("ran in reverse")
        for k in reversed(range(len(units))):
            unit = pickle.loads(pickle.dumps(units[k]))
            self.seen.append(unit)
            yield k, run_batch(remote, unit)


class Shuffled(Executor):
    """Runs the units in a seeded random order."""

    def __init__(self, seed: int):
        self.seed = seed

    def run(self, scorer, units, report):
        for k in np.random.default_rng(self.seed).permutation(len(units)):
            yield int(k), run_batch(scorer, units[int(k)])


class Faulty(Executor):
    """Yields the units of ``order`` (indices, possibly wrong)."""

    def __init__(self, order):
        self.order = order

    def run(self, scorer, units, report):
        for k in self.order(len(units)):
            yield k, run_batch(scorer, units[k % len(units)])


def cache_rows(path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return sorted(
            con.execute(
                "SELECT s.signature, c.key, c.score FROM scores c JOIN signatures s ON s.id = c.sig"
            ).fetchall()
        )
    finally:
        con.close()


def truth(ds) -> np.ndarray:
    t = ds.response_inputs()
    return np.array(
        [
            H.content_score(i, r, refs, None)
            for i, r, refs in zip(
                t.column("input").to_pylist(),
                t.column("text").to_pylist(),
                t.column("references").to_pylist(),
            )
        ]
    )


PAIRS = [(f"i{k}", "s0", "s3") for k in range(20)] + [(f"i{k}", "s2", "s1") for k in range(20)]


# -- the built-in executors agree --------------------------------------------------------------
def test_in_process_and_process_pool_give_identical_results(tmp_path):
    ds = H.make_dataset(200, per_item=5, duplicates=False)
    pre = ds.filter_items([f"i{k}" for k in range(5)])  # 25 rows cached before each run
    runs = {}
    for name, executor in (
        ("inproc", InProcess()),
        ("pool", ProcessPool(2, adaptive=False)),
        ("reversed", Reversed()),
    ):
        cache = tmp_path / f"{name}.sqlite"
        score_dataset(pre, H.ContentScorer(), cache=cache)
        sc = H.ContentScorer()
        r = score_dataset(ds, sc, cache=cache, batch_size=16, executor=executor)
        p = compare_pairs(ds, H.ContentJudge(), PAIRS, cache=cache, batch_size=6, executor=executor)
        runs[name] = (r, p, cache_rows(cache))
    ref_r, ref_p, ref_cache = runs["inproc"]
    assert ref_r.scores.tobytes() == truth(ds).tobytes()
    assert (ref_r.n_cached, ref_r.n_scored, ref_r.workers) == (25, 175, 1)
    assert len(ref_cache) == 200 + 40
    for name in ("pool", "reversed"):
        r, p, rows = runs[name]
        assert r.scores.tobytes() == ref_r.scores.tobytes(), name
        assert p.scores.tobytes() == ref_p.scores.tobytes(), name
        assert (r.n_total, r.n_unique, r.n_cached, r.n_scored, r.n_missing) == (
            ref_r.n_total,
            ref_r.n_unique,
            ref_r.n_cached,
            ref_r.n_scored,
            ref_r.n_missing,
        )
        assert rows == ref_cache, name  # the same keys and bit-identical scores in the cache
    assert runs["pool"][0].workers == 2 and runs["pool"][1].workers == 2


def test_a_custom_executor_needs_only_the_interface():
    """Reversed order, pickled units and scorer, its own workers count and note: same result,
    the scorer saw ScoringBatch / PairBatch units, and the report reaches the ScoreResult."""
    ds = H.make_dataset(53, per_item=4)
    ex = Reversed()
    r = score_dataset(ds, H.ContentScorer(), cache=None, batch_size=10, executor=ex)
    ref = score_dataset(ds, H.ContentScorer(), cache=None, batch_size=10)
    assert r.scores.tobytes() == ref.scores.tobytes() == truth(ds).tobytes()
    assert [len(u) for u in ex.seen] == [3, 10, 10, 10, 10, 10]
    assert all(isinstance(u, ScoringBatch) for u in ex.seen)
    assert r.workers == 3 and r.notes == ["ran in reverse"]

    ex = Reversed()
    p = compare_pairs(ds, H.ContentJudge(), PAIRS[:13], cache=None, batch_size=5, executor=ex)
    ref = compare_pairs(ds, H.ContentJudge(), PAIRS[:13], cache=None, batch_size=5)
    assert p.scores.tobytes() == ref.scores.tobytes()
    assert [len(u) for u in ex.seen] == [3, 5, 5] and all(isinstance(u, PairBatch) for u in ex.seen)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch_size=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    sort_by_length=st.booleans(),
    dup=st.booleans(),
)
def test_any_order_gives_the_same_scores(batch_size, seed, sort_by_length, dup):
    ds = H.make_dataset(48, per_item=6, duplicates=dup)
    calls: list[tuple[int, int]] = []
    r = score_dataset(
        ds,
        H.ContentScorer(),
        cache=None,
        batch_size=batch_size,
        sort_by_length=sort_by_length,
        executor=Shuffled(seed),
        on_batch=lambda d, t: calls.append((d, t)),
    )
    assert r.scores.tobytes() == truth(ds).tobytes()
    assert len(calls) == math.ceil(r.n_unique / batch_size)
    assert calls[-1] == (r.n_unique, r.n_unique)


def test_api_score_takes_an_executor():
    from overcoat import api

    ds = H.make_dataset(30, per_item=3)
    a = api.score(ds, [H.ContentScorer()], cache=None, progress=False, executor=Reversed())
    b = api.score(ds, [H.ContentScorer()], cache=None, progress=False)
    assert a.scores["content"].tobytes() == b.scores["content"].tobytes()


# -- progress: once per committed batch ----------------------------------------------------------
def _sizes(n: int, bs: int) -> list[int]:
    return [min(bs, n - s) for s in range(0, n, bs)]


@pytest.mark.parametrize(
    "make",
    [InProcess, lambda: ProcessPool(2, adaptive=False), Reversed],
    ids=["inproc", "pool", "reversed"],
)
def test_on_batch_once_per_batch_with_counts(make, tmp_path):
    ds = H.make_dataset(95, per_item=5)
    cache = tmp_path / "c.sqlite"
    score_dataset(ds.filter_items(["i0", "i1", "i2"]), H.ContentScorer(), cache=cache)
    calls: list[tuple[int, int]] = []
    r = score_dataset(
        ds,
        H.ContentScorer(),
        cache=cache,
        batch_size=20,
        executor=make(),
        on_batch=lambda d, t: calls.append((d, t)),
    )
    n_todo = 95 - 15  # the 15 cached rows are neither scored nor counted
    assert r.n_scored == n_todo
    sizes = _sizes(n_todo, 20)  # [20, 20, 20, 20]
    assert len(calls) == len(sizes)
    assert all(t == n_todo for _, t in calls)
    done = [d for d, _ in calls]
    steps = np.diff([0] + done).tolist()
    assert sorted(steps) == sorted(sizes) and done[-1] == n_todo
    # a run with nothing left to score reports nothing
    again: list = []
    score_dataset(
        ds,
        H.ContentScorer(),
        cache=cache,
        batch_size=20,
        executor=make(),
        on_batch=lambda d, t: again.append((d, t)),
    )
    assert again == []


def test_on_batch_counts_follow_the_executors_order():
    calls: list[tuple[int, int]] = []
    score_dataset(
        H.make_dataset(25),
        H.ContentScorer(),
        cache=None,
        batch_size=10,
        executor=Reversed(),
        on_batch=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(5, 25), (15, 25), (25, 25)]  # the short last batch runs first


# -- misbehaving executors are errors, never scores --------------------------------------------
@pytest.mark.parametrize(
    "order, message",
    [
        (lambda n: range(n - 1), "returned no scores for 1 of 3 batches"),
        (lambda n: [0, 1, 1, 2], "returned batch 1 twice"),
        (lambda n: [0, 1, 2, 3], "returned batch 3 that does not exist"),
        (lambda n: [0, -1], "returned batch -1 that does not exist"),
    ],
)
def test_misbehaving_executor_is_an_error(order, message, tmp_path):
    with pytest.raises(OvercoatError, match=message):
        score_dataset(
            H.make_dataset(25),
            H.ContentScorer(),
            cache=tmp_path / "c.sqlite",
            batch_size=10,
            executor=Faulty(order),
        )


def test_executor_and_workers_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        score_dataset(
            H.make_dataset(5), H.ContentScorer(), cache=None, workers=2, executor=InProcess()
        )
    with pytest.raises(TypeError, match="Executor"):
        score_dataset(H.make_dataset(5), H.ContentScorer(), cache=None, executor=object())


def test_executor_for_workers():
    assert isinstance(executor_for(1), InProcess) and isinstance(executor_for(None), InProcess)
    ex = executor_for(3)
    assert isinstance(ex, ProcessPool) and ex.workers == 3 and ex.adaptive


def test_pool_is_released_when_the_caller_stops(tmp_path):
    """An error in the caller's commit (here: on_batch) closes the executor: no worker outlives
    the call, and the batches committed before the error stay in the cache."""
    cache = tmp_path / "c.sqlite"

    def stop(done, total):
        if done >= 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:  # (its traceback keeps the frames alive)
        score_dataset(
            H.make_dataset(200),
            H.ContentScorer(),
            cache=cache,
            batch_size=10,
            executor=ProcessPool(2, adaptive=False),
            on_batch=stop,
        )
    assert multiprocessing.active_children() == []
    del info
    assert ScoreCache(cache).count() == 30


def test_process_pool_stays_in_process_for_one_batch():
    """One batch (or a scorer that may not run in workers): no pool, and ScoreResult.workers
    says so."""
    report = ExecutionReport()
    batch = ScoringBatch(["a"], ["x"], [[]])
    out = list(ProcessPool(4, adaptive=False).run(H.ContentScorer(), [batch], report))
    assert [k for k, _ in out] == [0] and report.workers == 1
    r = score_dataset(H.make_dataset(10), H.ContentScorer(), cache=None, batch_size=64, workers=4)
    assert r.workers == 1
