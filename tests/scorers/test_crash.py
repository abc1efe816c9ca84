"""Crash-safe large runs: ``kill -9`` at seeded random moments of a run with a worker pool, then
reruns until one finishes; the result equals an uninterrupted run bit for bit, each kill costs at
most one batch per worker of re-scoring (counted exactly, response by response), no worker
outlives its run, and the cache file is never corrupted.

The run is ``tests/scorers/_slow_scorer.py`` in a subprocess of its own session (so the test can
kill the whole process group): a ``ProcessPool(2, adaptive=False)`` over a scorer that sleeps per
batch and logs every scoring call (pid and response ids, one ``O_APPEND`` write per call).
A second test kills ``overcoat score --workers 2`` itself and compares the rerun's output file
with an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcoat.scorers.cache import ScoreCache  # noqa: E402
from overcoat.scorers.engine import score_dataset  # noqa: E402

import _slow_scorer as H  # noqa: E402

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find left-over processes"
)

SEED = 1130
N, BS, WORKERS, DELAY = 1200, 20, 2, 0.15
SIG = H.SlowScorer().signature()


# -- the run in a subprocess ------------------------------------------------------------------
class Run:
    def __init__(self, tmp: Path, tag: str, *, delay: float = DELAY, pause: str | None = None):
        self.tmp, self.tag = tmp, tag
        args = [
            sys.executable,
            str(HERE / "_slow_scorer.py"),
            *("--n", str(N), "--batch-size", str(BS), "--workers", str(WORKERS)),
            *("--cache", str(tmp / "cache.sqlite"), "--delay", str(delay)),
            *("--marker", str(self.path("committed")), "--ids", str(self.path("ids"))),
            *("--out", str(self.path("out"))),
        ]
        if pause:
            args += ["--pause-commit", pause, "--commit-marker", str(self.path("paused"))]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        }
        with open(self.path("stderr"), "wb") as err:  # a file: a pipe could outlive the kill
            self.proc = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True
            )
        self.pid = self.proc.pid  # also the process group id (a new session)

    def path(self, what: str) -> Path:
        return self.tmp / f"{what}.{self.tag}"

    def lines(self, what: str) -> list[str]:
        p = self.path(what)
        return p.read_text().splitlines() if p.exists() else []

    def calls(self) -> list[tuple[int, list[str]]]:
        """(pid, response ids) of every scoring call, in the order they started."""
        out = []
        for ln in self.lines("ids"):
            pid, ids = ln.split(" ")
            out.append((int(pid), ids.split(",")))
        return out

    def worker_calls(self) -> int:
        return sum(pid != self.pid for pid, _ in self.calls())

    def wait_until(self, cond, what: str) -> None:
        deadline = time.monotonic() + 180  # a liveness guard, not a speed claim
        while not cond():
            assert self.proc.poll() is None, (
                f"run {self.tag} ended before {what}: " + self.path("stderr").read_text()
            )
            assert time.monotonic() < deadline, f"run {self.tag}: no {what} after 180 s"
            time.sleep(0.005)


def _live_group_members(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that are not zombies (from /proc/PID/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path("/proc", d, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(d))
    return out


def _wait_group_gone(pgid: int) -> list[int]:
    deadline = time.monotonic() + 30  # liveness guard: workers die within the parent's poll
    while (left := _live_group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def _cache_count(path: Path) -> int:
    if not path.exists():
        return 0
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    with ScoreCache(path) as c:
        return c.count(SIG)


# -- the kill schedule: (label, how to reach the moment, kill the whole group?) ----------------
def _schedule(rng: np.random.Generator):
    def after(seconds):
        return lambda run: time.sleep(seconds)

    def first_commit(extra):
        def reach(run):
            run.wait_until(lambda: len(run.lines("committed")) >= 1, "first commit")
            time.sleep(extra)

        return reach

    def pool_calls(k, extra):
        def reach(run):
            run.wait_until(lambda: run.worker_calls() >= k, f"{k} calls in pool workers")
            time.sleep(extra)

        return reach

    def paused(run):
        run.wait_until(lambda: len(run.lines("paused")) >= 1, "the paused commit")

    return [
        ("during start-up", after(rng.uniform(0.05, 1.0)), True, None),
        (
            "after the first commit (in-process units)",
            first_commit(rng.uniform(0, DELAY)),
            True,
            None,
        ),
        (
            "mid-run, pool busy",
            pool_calls(int(rng.integers(2, 7)), rng.uniform(0, DELAY)),
            True,
            None,
        ),
        ("inside a commit's transaction", paused, True, f"{int(rng.integers(3, 6))}:60"),
        (
            "mid-run, parent only",
            pool_calls(int(rng.integers(2, 7)), rng.uniform(0, DELAY)),
            False,
            None,
        ),
        (
            "mid-run, pool busy (2)",
            pool_calls(int(rng.integers(2, 7)), rng.uniform(0, DELAY)),
            True,
            None,
        ),
    ]


@pytest.mark.slow
def test_kill_9_at_random_moments_with_workers(tmp_path):
    cache = tmp_path / "cache.sqlite"
    rng = np.random.default_rng(SEED)
    runs: list[Run] = []
    rows: list[tuple[str, int, int, int]] = []  # label, rows started, rows committed, rows lost
    before = 0
    for k, (label, reach, group, pause) in enumerate(_schedule(rng)):
        run = Run(tmp_path, f"k{k}", pause=pause)
        runs.append(run)
        reach(run)
        assert run.proc.poll() is None, f"run {k} ({label}) finished before the kill"
        if group:
            os.killpg(run.pid, signal.SIGKILL)
        else:
            os.kill(run.pid, signal.SIGKILL)
        run.proc.wait(timeout=60)
        assert run.proc.returncode == -signal.SIGKILL
        # no worker (nor the pool's helper processes) outlives the run, even when only the parent
        # was killed: the workers die with their parent
        assert _wait_group_gone(run.pid) == [], f"kill {k} ({label}) left processes behind"

        after = _cache_count(cache)  # integrity_check passes
        assert after % BS == 0, "a batch was committed partially"
        assert len(run.lines("committed")) <= (after - before) // BS  # reported => on disk
        started = sum(len(ids) for _, ids in run.calls())
        lost = started - (after - before)
        assert 0 <= lost <= BS * WORKERS, (label, started, after - before)
        rows.append((label, started, after - before, lost))
        before = after
    assert any(r.worker_calls() for r in runs), "the pool never started: the test tests nothing"
    assert before < N, "the killed runs finished the work: nothing left to resume"

    final = Run(tmp_path, "final", delay=0.0)
    assert final.proc.wait(timeout=300) == 0, final.path("stderr").read_text()
    out = json.loads(final.path("out").read_text())
    assert (out["n_cached"], out["n_scored"], out["workers"]) == (before, N - before, WORKERS)
    assert _wait_group_gone(final.pid) == []  # (the resource tracker exits just after)

    # bit for bit the scores of an uninterrupted run
    fresh = score_dataset(H.make_dataset(N), H.ContentScorer(), cache=None, batch_size=BS)
    assert np.array(out["scores"]).tobytes() == fresh.scores.tobytes()
    assert _cache_count(cache) == N

    # re-scoring, counted response by response: every response was scored once, plus exactly
    # the ones each kill lost (scored in that run, not committed, so scored again later)
    per_run = [Counter(i for _, ids in r.calls() for i in ids) for r in [*runs, final]]
    for c in per_run:
        assert max(c.values(), default=1) == 1  # no response twice within one run
    total = sum(per_run, Counter())
    assert set(total) == {f"i{i}/s{j}" for i in range(N // 5) for j in range(5)}
    for k, (label, _, _, lost) in enumerate(rows):
        later = sum(per_run[k + 1 :], Counter())
        assert sum(1 for i in per_run[k] if i in later) == lost, label
    assert sum(total.values()) == N + sum(r[3] for r in rows)

    print(f"\nkill -9 schedule (seed {SEED}, {N} responses, batch {BS}, {WORKERS} workers):")
    for label, started, committed, lost in rows:
        print(f"  {label:45s} scored {started:4d}  committed {committed:4d}  re-scored {lost:3d}")
    print(f"  {'final run':45s} scored {out['n_scored']:4d}  (cached {out['n_cached']})")


# -- the same through `overcoat score --workers 2` ----------------------------------------------
def _rows(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


@pytest.mark.slow
def test_kill_9_of_overcoat_score_then_rerun(tmp_path, monkeypatch, capsys):
    """The command users run: killed mid-run, no output file, rerun = an uninterrupted run.
    (``--workers 2`` starts its pool only when predicted faster, which depends on the machine's
    load; either way at most one batch per worker is lost.)"""
    from overcoat.cli import main

    n, bs = 600, 20
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(
            json.dumps({"item_id": f"i{i // 3}", "input": f"source {i // 3}", "response": f"r{i}"})
            + "\n"
            for i in range(n)
        )
    )
    cache, out, calls = tmp_path / "c.sqlite", tmp_path / "o" / "s.jsonl", tmp_path / "calls"
    argv = ["score", "-d", str(data), "-s", "python:_slow_scorer:slow_batched", "-q"]
    argv += ["--workers", "2", "--batch-size", str(bs), "--cache", str(cache), "-o", str(out)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE), os.environ.get("PYTHONPATH", "")]),
        "OVERCOAT_TEST_CALLS": str(calls),
        "OVERCOAT_TEST_DELAY": str(DELAY),
    }

    def started() -> list[int]:
        return (
            [int(ln.split()[1]) for ln in calls.read_text().splitlines()] if calls.exists() else []
        )

    rng = np.random.default_rng(SEED + 1)
    k, extra = int(rng.integers(3, 7)), rng.uniform(0, DELAY)
    with open(tmp_path / "stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "overcoat.cli", *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while len(started()) < k:
        assert proc.poll() is None, (tmp_path / "stderr").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(extra)
    assert proc.poll() is None, "the run finished before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert _wait_group_gone(proc.pid) == []
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no output, no temp

    con = sqlite3.connect(cache)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    (cached,) = con.execute("SELECT COUNT(*) FROM scores").fetchone()
    con.close()
    first = sum(started())
    assert cached % bs == 0 and cached < n
    assert 0 <= first - cached <= bs * 2, (first, cached)

    env["OVERCOAT_TEST_DELAY"] = "0"
    calls.unlink()
    p = subprocess.run([sys.executable, "-m", "overcoat.cli", *argv], env=env, capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    assert sum(started()) == n - cached  # the rerun scores exactly what was not committed

    # an uninterrupted run, in this process and without a cache: the same file, bit for bit
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("OVERCOAT_TEST_DELAY", "0")
    monkeypatch.delenv("OVERCOAT_TEST_CALLS", raising=False)
    ref = tmp_path / "ref.jsonl"
    assert main([*argv[:-2], "--no-cache", "-o", str(ref)]) == 0, capsys.readouterr().err
    assert _rows(out) == _rows(ref)
    assert len(_rows(out)) == n
    print(
        f"\novercoat score --workers 2 killed after {first} rows scored, {cached} committed: "
        f"re-scored {first - cached}"
    )
