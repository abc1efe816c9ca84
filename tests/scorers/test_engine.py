"""score_dataset / compare_pairs: caching, dedup, determinism, workers, and the kill -9 test."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import overcoat.scorers.executors as executors_module

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcoat.data.builder import DatasetBuilder  # noqa: E402
from overcoat.errors import DataError, OvercoatError  # noqa: E402
from overcoat.scorers.base import Scorer, ScoringBatch  # noqa: E402
from overcoat.scorers.cache import ScoreCache  # noqa: E402
from overcoat.scorers.engine import ScoreResult, compare_pairs, score_dataset  # noqa: E402
from overcoat.scorers.executors import ProcessPool  # noqa: E402

import _slow_scorer as H  # noqa: E402


def expected(ds) -> np.ndarray:
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


# -- basics -----------------------------------------------------------------------------------
def test_scores_aligned_and_counts(tmp_path):
    ds = H.make_dataset(57, per_item=4)
    sc = H.ContentScorer()
    r = score_dataset(ds, sc, cache=tmp_path / "c.sqlite", batch_size=10)
    assert isinstance(r, ScoreResult)
    assert r.scores.dtype == np.float64 and r.scores.shape == (57,)
    assert np.array_equal(r.scores, expected(ds))
    assert (r.n_total, r.n_unique, r.n_cached, r.n_scored, r.n_missing) == (57, 57, 0, 57, 0)
    assert r.signature == sc.signature() and r.scorer_name == "content" and r.seconds >= 0
    assert sc.batch_sizes == [10] * 5 + [7]


def test_rerun_scores_nothing_new(tmp_path):
    ds = H.make_dataset(40)
    p = tmp_path / "c.sqlite"
    first = score_dataset(ds, H.ContentScorer(), cache=p)
    sc = H.ContentScorer()
    again = score_dataset(ds, sc, cache=p)
    assert sc.n_rows == 0
    assert (again.n_cached, again.n_scored) == (40, 0)
    assert again.scores.tobytes() == first.scores.tobytes()


def test_new_signature_rescores(tmp_path):
    ds = H.make_dataset(30)
    p = tmp_path / "c.sqlite"
    score_dataset(ds, H.ContentScorer(version="1"), cache=p)
    sc = H.ContentScorer(version="2")
    r = score_dataset(ds, sc, cache=p)
    assert (r.n_cached, r.n_scored, sc.n_rows) == (0, 30, 30)
    assert ScoreCache(p).stats()["signatures"] == {
        "content|refs:0|v:1": 30,
        "content|refs:0|v:2": 30,
    }


def test_only_new_rows_are_scored(tmp_path):
    ds = H.make_dataset(50, per_item=5)
    p = tmp_path / "c.sqlite"
    part = ds.filter_items([f"i{k}" for k in range(4)])  # 20 responses
    score_dataset(part, H.ContentScorer(), cache=p)
    sc = H.ContentScorer()
    r = score_dataset(ds, sc, cache=p)
    assert (r.n_cached, r.n_scored, sc.n_rows) == (20, 30, 30)
    assert np.array_equal(r.scores, expected(ds))


def test_cache_none_and_scorecache_object(tmp_path):
    ds = H.make_dataset(12)
    sc = H.ContentScorer()
    score_dataset(ds, sc, cache=None)
    score_dataset(ds, sc, cache=None)
    assert sc.n_rows == 24
    c = ScoreCache(tmp_path / "c.sqlite")
    score_dataset(ds, H.ContentScorer(), cache=c)
    assert c.count() == 12  # the caller's object stays open and usable


def test_default_cache_from_env(monkeypatch, tmp_path):
    ds = H.make_dataset(8)
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "env.sqlite"))
    score_dataset(ds, H.ContentScorer())
    assert ScoreCache(tmp_path / "env.sqlite").count() == 8
    monkeypatch.setenv("OVERCOAT_CACHE", "off")
    sc = H.ContentScorer()
    r = score_dataset(ds, sc)
    assert r.n_cached == 0 and sc.n_rows == 8


def test_duplicates_scored_once(tmp_path):
    ds = H.make_dataset(30, per_item=3, duplicates=True)  # 3 distinct contents
    sc = H.ContentScorer()
    r = score_dataset(ds, sc, cache=None, batch_size=2)
    assert (r.n_total, r.n_unique, r.n_scored, sc.n_rows) == (30, 3, 3, 3)
    assert np.array_equal(r.scores, expected(ds))
    assert len(set(r.scores.tolist())) == 3


def test_needs_references_names_the_item():
    b = DatasetBuilder("x")
    b.add_item("has", "src", references=["ref"])
    b.add_item("lacks", "src2")
    b.add_response("has", "s", "t")
    b.add_response("lacks", "s", "t")
    ds = b.build()
    sc = H.ContentScorer(needs_references=True)
    with pytest.raises(DataError, match="'lacks'"):
        score_dataset(ds, sc, cache=None)
    assert sc.n_rows == 0
    # an item without responses does not matter
    ok = ds.filter_items(["has"])
    assert score_dataset(ok, sc, cache=None).n_scored == 1


def test_nan_not_cached_unless_scorer_says_so(tmp_path):
    b = DatasetBuilder("x")
    b.add_item("i", "src")
    for k, t in enumerate(["good one", "flaky one", "good two", "flaky two"]):
        b.add_response("i", f"s{k}", t)
    ds = b.build()
    p = tmp_path / "c.sqlite"
    r = score_dataset(ds, H.FlakyScorer(), cache=p)
    assert r.n_missing == 2 and np.isnan(r.scores[[1, 3]]).all()
    sc = H.FlakyScorer()
    r2 = score_dataset(ds, sc, cache=p)
    assert (r2.n_cached, r2.n_scored, sc.n_rows) == (2, 2, 2)  # the judge is asked again

    class Deterministic(H.FlakyScorer):
        cache_missing = True

        def signature(self):
            return "flaky-but-deterministic"

    score_dataset(ds, Deterministic(), cache=p)
    sc = Deterministic()
    r3 = score_dataset(ds, sc, cache=p)
    assert (r3.n_cached, sc.n_rows, r3.n_missing) == (4, 0, 2)
    assert np.isnan(r3.scores[[1, 3]]).all()


class ById(Scorer):
    """Not a function of the content: must be neither cached nor deduplicated."""

    name = "byid"
    cacheable = False

    def __init__(self):
        self.n_rows = 0

    def signature(self):
        return "byid"

    def score_batch(self, batch):
        self.n_rows += len(batch)
        return np.array(
            [float(len(i) + len(r)) for i, r in zip(batch.item_ids, batch.response_ids)]
        )


def test_non_cacheable_scorer(tmp_path):
    ds = H.make_dataset(12, per_item=3, duplicates=True)
    p = tmp_path / "c.sqlite"
    sc = ById()
    r = score_dataset(ds, sc, cache=p)
    score_dataset(ds, sc, cache=p)
    assert sc.n_rows == 24 and r.n_unique == 12 and r.n_cached == 0
    t = ds.responses
    assert r.scores.tolist() == [
        float(len(i) + len(s))
        for i, s in zip(t.column("item_id").to_pylist(), t.column("response_id").to_pylist())
    ]
    assert not p.exists() or ScoreCache(p).count() == 0


def test_bad_scorer_output(tmp_path):
    class Short(H.ContentScorer):
        def score_batch(self, batch):
            return np.zeros(len(batch) - 1)

    with pytest.raises(OvercoatError, match="returned"):
        score_dataset(H.make_dataset(5), Short(), cache=None)


def test_failed_batch_keeps_committed_ones(tmp_path):
    class Boom(H.ContentScorer):
        def score_batch(self, batch):
            if self.n_rows >= 20:
                raise RuntimeError("boom")
            return super().score_batch(batch)

    ds = H.make_dataset(50)
    p = tmp_path / "c.sqlite"
    with pytest.raises(RuntimeError):
        score_dataset(ds, Boom(), cache=p, batch_size=10)
    assert ScoreCache(p).count() == 20
    r = score_dataset(ds, H.ContentScorer(), cache=p)
    assert (r.n_cached, r.n_scored) == (20, 30)


def test_response_naming_unknown_item():
    ds = H.make_dataset(6, per_item=3)
    bad = type(ds)(ds.name, ds.items.slice(0, 1), ds.responses)
    with pytest.raises(DataError, match="unknown item 'i1'"):
        score_dataset(bad, H.ContentScorer(), cache=None)


def test_scoring_batch_input():
    batch = ScoringBatch(
        inputs=["a", "b", "a"], responses=["x", "y", "x"], references=[["r"], ["r"], ["r"]]
    )
    sc = H.ContentScorer()
    r = score_dataset(batch, sc, cache=None)
    assert sc.n_rows == 2 and r.n_unique == 2
    assert r.scores.tolist() == [
        H.content_score(i, x, ["r"]) for i, x in zip(["a", "b", "a"], ["x", "y", "x"])
    ]


def test_messages_reach_the_scorer():
    b = DatasetBuilder("chat")
    b.add_item("c", [{"role": "user", "content": "hi"}])
    b.add_response("c", "s", "hello")
    ds = b.build()
    seen = []

    class Spy(H.ContentScorer):
        def score_batch(self, batch):
            seen.extend(batch.messages)
            return super().score_batch(batch)

    score_dataset(ds, Spy(), cache=None)
    assert seen == [[{"role": "user", "content": "hi"}]]


def test_engine_draws_nothing(capsys, monkeypatch):
    """Progress is the caller's (on_batch); the engine writes nothing, even to a terminal."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich would draw on stderr now
    score_dataset(H.make_dataset(20), H.ContentScorer(), cache=None, batch_size=3)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_on_batch_reports_progress():
    calls = []
    score_dataset(
        H.make_dataset(25),
        H.ContentScorer(),
        cache=None,
        batch_size=10,
        on_batch=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(10, 25), (20, 25), (25, 25)]


def test_empty_dataset():
    ds = H.make_dataset(5).filter_responses(["s0", "s1", "s2", "s3", "s4"])
    r = score_dataset(ds, H.ContentScorer(), cache=None)
    assert r.scores.shape == (0,) and r.n_total == 0


def test_pairwise_scorer_rejected_by_score_dataset():
    with pytest.raises(OvercoatError, match="compare_pairs"):
        score_dataset(H.make_dataset(3), H.ContentJudge(), cache=None)
    with pytest.raises(OvercoatError, match="score_dataset"):
        compare_pairs(H.make_dataset(3), H.ContentScorer(), [("i0", "s0", "s1")], cache=None)


# -- determinism ------------------------------------------------------------------------------
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch_size=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    sort_by_length=st.booleans(),
    pre=st.floats(0, 1),
    dup=st.booleans(),
)
def test_results_independent_of_batching_order_and_cache(
    batch_size, seed, sort_by_length, pre, dup
):
    rng = np.random.default_rng(seed)
    ds = H.make_dataset(60, per_item=6, duplicates=dup)
    truth = expected(ds)
    perm = rng.permutation(ds.n_responses)
    shuffled = type(ds)(ds.name, ds.items, ds.responses.take(perm))
    with tempfile.TemporaryDirectory() as d:
        cache = ScoreCache(os.path.join(d, "c.sqlite"))
        # pre-populate the cache with a random part of the data
        k = int(pre * ds.n_items)
        if k:
            ids = [f"i{x}" for x in rng.choice(ds.n_items, k, replace=False)]
            score_dataset(ds.filter_items(ids), H.ContentScorer(), cache=cache, batch_size=7)
        sc = H.ContentScorer()
        r = score_dataset(
            shuffled, sc, cache=cache, batch_size=batch_size, sort_by_length=sort_by_length
        )
        cache.close()
    assert r.scores.tobytes() == truth[perm].tobytes()
    assert r.n_cached + r.n_scored == r.n_unique and sc.n_rows == r.n_scored
    assert max(sc.batch_sizes, default=0) <= batch_size


# -- workers ----------------------------------------------------------------------------------
def test_workers_2_equals_workers_1(tmp_path, monkeypatch):
    # always start the pool, whatever the machine's load
    monkeypatch.setattr(executors_module, "_pool_size", lambda name, n, *a: n)
    ds = H.make_dataset(300, per_item=6)
    one = score_dataset(
        ds, H.ContentScorer(), cache=tmp_path / "a.sqlite", batch_size=16, workers=1
    )
    calls = []
    two = score_dataset(
        ds,
        H.ContentScorer(),
        cache=tmp_path / "b.sqlite",
        batch_size=16,
        workers=2,
        on_batch=lambda d, t: calls.append(d),
    )
    assert two.workers == 2 and one.workers == 1
    assert two.scores.tobytes() == one.scores.tobytes()
    assert (two.n_scored, two.n_cached) == (300, 0)
    assert calls[-1] == 300 and ScoreCache(tmp_path / "b.sqlite").count() == 300
    again = score_dataset(
        ds, H.ContentScorer(), cache=tmp_path / "b.sqlite", batch_size=16, workers=2
    )
    assert (again.n_cached, again.n_scored) == (300, 0)
    assert again.scores.tobytes() == one.scores.tobytes()


def test_fast_scorers_skip_the_worker_pool(monkeypatch):
    monkeypatch.setattr(executors_module, "_cpus_and_load", lambda: (2, 0.0))
    ds = H.make_dataset(200, per_item=4)
    r = score_dataset(ds, H.ContentScorer(), cache=None, workers=2, batch_size=10)
    assert r.workers == 1 and any("no worker pool" in n for n in r.notes)
    ref = score_dataset(ds, H.ContentScorer(), cache=None, workers=1)
    assert r.scores.tobytes() == ref.scores.tobytes()


def test_pool_size_rule(monkeypatch):
    """A pool of p only when (W + 1.5 p) / share(p) < 0.8 T1, with W = T1 share(1) the CPU seconds
    of the remaining work and share(k) = min(k, cpus, k cpus / (busy + k))."""
    monkeypatch.setattr(executors_module, "_WORKER_START_SECONDS", 1.5)
    E = executors_module
    notes: list[str] = []
    monkeypatch.setattr(E, "_cpus_and_load", lambda: (2, 0.0))  # quiet 2-CPU machine
    # T1 = 10 s: (10 + 3) / 2 = 6.5 < 8 -> 2 workers; with 4 allowed, 3 or 4 would not be faster
    assert E._pool_size("s", 4, 0.1, 100, notes) == 2
    # T1 = 5 s: (5 + 3) / 2 = 4.0, not below 4.0 -> one process, with a note
    assert E._pool_size("s", 2, 0.05, 100, notes) == 1
    assert "no worker pool" in notes[-1]
    assert E._pool_size("s", 2, 10.0, 1, notes) == 1  # one batch left
    # busy machine (5 other processes on 2 CPUs): share(1) = 1/3, share(2) = 4/7
    monkeypatch.setattr(E, "_cpus_and_load", lambda: (2, 5.0))
    # T1 = 130 s: W = 43.3, (43.3 + 3) * 7 / 4 = 81 < 104 -> pool (it gets a larger share)
    assert E._pool_size("s", 2, 1.3, 100, notes) == 2
    # T1 = 5 s: W = 1.67, (1.67 + 3) * 7 / 4 = 8.2 > 4 -> one process
    assert E._pool_size("s", 2, 0.05, 100, notes) == 1
    monkeypatch.setattr(E, "_cpus_and_load", lambda: (8, 0.0))
    assert E._pool_size("s", 3, 10.0, 100, notes) == 3


def test_cpu_share_and_load(monkeypatch):
    E = executors_module
    assert E._cpu_share(1, 2, 0.0) == 1 and E._cpu_share(4, 2, 0.0) == 2
    assert E._cpu_share(1, 2, 5.0) == pytest.approx(2 / 6) and E._cpu_share(
        2, 2, 5.0
    ) == pytest.approx(4 / 7)
    monkeypatch.setattr(E.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(E.os, "getloadavg", lambda: (2.2, 0.0, 0.0))
    assert E._cpus_and_load() == (4, pytest.approx(1.2))


def test_workers_fall_back_with_a_note():
    ds = H.make_dataset(40)

    class Serial(H.ContentScorer):
        parallel_safe = False

    r = score_dataset(ds, Serial(), cache=None, workers=4, batch_size=5)
    assert r.workers == 1 and any("not parallel-safe" in n for n in r.notes)

    sc = H.ContentScorer()
    sc.unpicklable = lambda: None
    r = score_dataset(ds, sc, cache=None, workers=4, batch_size=5)
    assert r.workers == 1 and any("cannot be pickled" in n for n in r.notes)
    assert np.array_equal(r.scores, expected(ds))


def test_worker_error_propagates(tmp_path):
    ds = H.make_dataset(40)
    with pytest.raises(OvercoatError, match="returned"):
        score_dataset(ds, _ShortInWorker(), cache=None, workers=2, batch_size=5)


class _ShortInWorker(H.ContentScorer):
    def score_batch(self, batch):
        return np.zeros(len(batch) + 1)


# -- pairwise ---------------------------------------------------------------------------------
def _pair_truth(ds, pairs):
    items = dict(
        zip(
            ds.items.column("item_id").to_pylist(),
            zip(ds.items.column("input").to_pylist(), ds.items.column("references").to_pylist()),
        )
    )
    rt = ds.responses
    text = dict(
        zip(
            zip(rt.column("item_id").to_pylist(), rt.column("response_id").to_pylist()),
            rt.column("text").to_pylist(),
        )
    )
    inp = [items[i][0] for i, _, _ in pairs]
    refs = [items[i][1] for i, _, _ in pairs]
    return H.ContentJudge().compare_batch(
        inp, [text[(i, a)] for i, a, _ in pairs], [text[(i, b)] for i, _, b in pairs], refs
    )


def test_compare_pairs_cached_and_ordered(tmp_path):
    ds = H.make_dataset(30, per_item=3)
    pairs = [(f"i{k}", "s0", "s1") for k in range(10)] + [(f"i{k}", "s1", "s0") for k in range(10)]
    p = tmp_path / "c.sqlite"
    j = H.ContentJudge()
    r = compare_pairs(ds, j, pairs, cache=p, batch_size=3)
    assert np.array_equal(r.scores, _pair_truth(ds, pairs))
    assert (r.n_total, r.n_unique, r.n_scored) == (20, 20, 20)  # (A,B) != (B,A)
    assert not np.allclose(r.scores[:10], 1 - r.scores[10:])
    j2 = H.ContentJudge()
    r2 = compare_pairs(ds, j2, pairs + pairs[:3], cache=p)
    assert j2.n_pairs == 0 and r2.n_cached == 20 and r2.n_total == 23
    assert np.array_equal(r2.scores[:20], r.scores)


def test_compare_pairs_from_judgments_and_batch():
    b = DatasetBuilder("p")
    b.add_item("i", "src", references=["ref"])
    for s in ("a", "b", "c"):
        b.add_response("i", s, f"text {s}")
    b.add_preference("i", "a", "b", "a")
    b.add_preference("i", "c", "a", "tie")
    ds = b.build()
    r = compare_pairs(ds, H.ContentJudge(), cache=None)
    assert np.array_equal(r.scores, _pair_truth(ds, [("i", "a", "b"), ("i", "c", "a")]))
    batch = ScoringBatch(
        inputs=["src"] * 3,
        responses=["text a", "text b", "text c"],
        references=[["ref"]] * 3,
        item_ids=["i"] * 3,
        response_ids=["a", "b", "c"],
    )
    rb = compare_pairs(batch, H.ContentJudge(), [("i", "a", "b"), ("i", "c", "a")], cache=None)
    assert np.array_equal(rb.scores, r.scores)
    with pytest.raises(DataError, match="unknown response 'zz'"):
        compare_pairs(ds, H.ContentJudge(), [("i", "a", "zz")], cache=None)
    with pytest.raises(DataError, match="unknown item"):
        compare_pairs(ds, H.ContentJudge(), [("nope", "a", "b")], cache=None)


def test_compare_pairs_workers():
    ds = H.make_dataset(120, per_item=4)
    pairs = [(f"i{k}", "s0", "s3") for k in range(30)] + [(f"i{k}", "s2", "s1") for k in range(30)]
    one = compare_pairs(ds, H.ContentJudge(), pairs, cache=None, batch_size=8)
    two = compare_pairs(
        ds,
        H.ContentJudge(),
        pairs,
        cache=None,
        batch_size=8,
        executor=ProcessPool(2, adaptive=False),
    )  # a pool whatever the load
    assert two.workers == 2 and two.scores.tobytes() == one.scores.tobytes()


# -- kill -9 ----------------------------------------------------------------------------------
N_KILL, BS_KILL = 3000, 40
SIG = H.ContentScorer().signature()


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines() if p.exists() else []


def _run_helper(tmp_path, tag, delay, **popen):
    args = [
        sys.executable,
        str(HERE / "_slow_scorer.py"),
        "--n",
        str(N_KILL),
        "--cache",
        str(tmp_path / "kill.sqlite"),
        "--delay",
        str(delay),
        "--batch-size",
        str(BS_KILL),
        "--marker",
        str(tmp_path / f"committed.{tag}"),
        "--calls",
        str(tmp_path / f"calls.{tag}"),
        "--out",
        str(tmp_path / f"out.{tag}.json"),
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_loses_at_most_the_batch_in_flight(tmp_path):
    proc = _run_helper(tmp_path, "a", delay=0.05)
    marker = tmp_path / "committed.a"
    deadline = time.monotonic() + 90
    while len(_lines(marker)) < 6:
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "helper made no progress"
        time.sleep(0.01)
    assert proc.poll() is None, "helper finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    committed = len(_lines(marker))  # batches the engine reported committed
    started = len(_lines(tmp_path / "calls.a"))  # batches the scorer began
    con = sqlite3.connect(tmp_path / "kill.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    n_cached = ScoreCache(tmp_path / "kill.sqlite").count(SIG)
    assert n_cached % BS_KILL == 0, "a batch was committed partially"
    in_cache = n_cached // BS_KILL
    assert in_cache >= committed >= 6  # everything reported committed survived
    assert started - in_cache in (0, 1)  # at most the batch in flight was lost
    assert n_cached < N_KILL

    # resume: only the missing rows are scored, and the result equals an uninterrupted run
    proc = _run_helper(tmp_path, "b", delay=0.0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    out = json.loads((tmp_path / "out.b.json").read_text())
    assert (out["n_cached"], out["n_scored"]) == (n_cached, N_KILL - n_cached)
    rescored = sum(int(x) for x in _lines(tmp_path / "calls.b"))
    assert rescored == N_KILL - n_cached

    ds = H.make_dataset(N_KILL)
    fresh = score_dataset(ds, H.ContentScorer(), cache=None, batch_size=BS_KILL)
    assert np.array(out["scores"]).tobytes() == fresh.scores.tobytes()
    assert ScoreCache(tmp_path / "kill.sqlite").count(SIG) == N_KILL
