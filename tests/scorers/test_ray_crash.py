"""Crash-safe ``--engine ray``: ``kill -9`` of ``overcoat score --engine ray`` (the driver only) at
seeded random moments, then a rerun; the rerun's file equals an uninterrupted local-engine run's
bit for bit, each kill costs at most one batch per actor of re-scoring (counted response by
response), nothing of the killed run's Ray instance outlives it, and the cache is never corrupted.

Each run is a subprocess in a session of its own, with its own local Ray instance (2 actors,
``RAY_TMPDIR`` a fresh folder) and a ``python:`` scorer that sleeps per batch and logs every call
(pid and response texts, one ``O_APPEND`` write) when it starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads /proc to find left-over processes"
    ),
    pytest.mark.slow,
]

SEED = 1201
N, BS, ACTORS, DELAY = 1000, 10, 2, 0.1
#: what a kill may cost, from the executor's design (one uncommitted batch per actor)
BOUND = ACTORS * BS


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, session id) of a process, from /proc/PID/stat."""
    try:
        s = Path("/proc", str(pid), "stat").read_text()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2 :].split()
    return fields[0], int(fields[3])


def _left_over(driver: int) -> list[str]:
    """Live processes of the driver's session (Ray's processes inherit it) and the driver's
    reaper (a session of its own), as 'PID name'."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or (st := _stat(int(d))) is None or st[0] in ("Z", "X"):
            continue
        try:
            cmd = Path("/proc", d, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        reaper = any(c.endswith(b"_ray_reaper.py") for c in cmd) and str(driver).encode() in cmd
        if st[1] == driver or reaper:
            out.append(f"{d} {b' '.join(cmd).decode(errors='replace')[:80]}")
    return out


def _ray_started(driver: int) -> bool:
    """Whether the driver's ``ray.init`` has started Ray's raylet (in the driver's session)."""
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))) is not None and st[1] == driver:
            try:
                if Path("/proc", d, "comm").read_text().strip() == "raylet":
                    return True
            except OSError:
                continue
    return False


def _wait_gone(driver: int) -> list[str]:
    deadline = time.monotonic() + 30  # a liveness guard: Ray's processes go within seconds
    while (left := _left_over(driver)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _kill_left_over(driver: int) -> None:
    for ln in _left_over(driver):
        try:
            os.kill(int(ln.split()[0]), signal.SIGKILL)
        except OSError:
            pass


class Run:
    """``overcoat score --engine ray --ray-actors 2`` in a subprocess (its own session)."""

    def __init__(self, tmp: Path, ray_tmp: Path, tag: str, argv: list[str], delay: float):
        self.tmp, self.tag = tmp, tag
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE), os.environ.get("PYTHONPATH", "")]),
            "RAY_TMPDIR": str(ray_tmp),
            "OVERCOAT_TEST_IDS": str(self.path("ids")),
            "OVERCOAT_TEST_DELAY": str(delay),
        }
        env.pop("RAY_ADDRESS", None)
        with open(self.path("stderr"), "wb") as err:  # a file: a pipe could outlive the kill
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "overcoat.cli", *argv, "--engine", "ray"]
                + ["--ray-actors", str(ACTORS)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        self.pid = self.proc.pid  # also its session id

    def path(self, what: str) -> Path:
        return self.tmp / f"{what}.{self.tag}"

    def calls(self) -> list[list[str]]:
        """The response texts of every scoring call, in the order they started."""
        p = self.path("ids")
        lines = p.read_text().splitlines() if p.exists() else []
        return [ln.split(" ", 1)[1].split(",") for ln in lines]

    def wait_calls(self, k: int) -> None:
        deadline = time.monotonic() + 180  # a liveness guard, not a speed claim
        while len(self.calls()) < k:
            assert self.proc.poll() is None, (
                f"run {self.tag} ended before {k} calls: " + self.path("stderr").read_text()
            )
            assert time.monotonic() < deadline, f"run {self.tag}: not {k} calls after 180 s"
            time.sleep(0.005)


def _committed(cache: Path) -> int:
    if not cache.exists():
        return 0
    con = sqlite3.connect(cache)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return con.execute("SELECT COUNT(*) FROM scores").fetchone()[0] if "scores" in tables else 0
    finally:
        con.close()


def _schedule(rng: np.random.Generator):
    """(label, how to reach the moment of the kill)."""

    def in_ray_init(extra: float):
        def reach(run: Run) -> None:
            deadline = time.monotonic() + 180  # a liveness guard
            while not _ray_started(run.pid):
                assert run.proc.poll() is None, run.path("stderr").read_text()
                assert time.monotonic() < deadline, f"run {run.tag}: no raylet after 180 s"
                time.sleep(0.005)
            time.sleep(extra)
            assert run.calls() == [], "the kill meant for ray.init came after scoring began"

        return reach

    def calls(k: int, extra: float):
        def reach(run: Run) -> None:
            run.wait_calls(k)
            time.sleep(extra)

        return reach

    return [
        ("during start-up (ray.init)", in_ray_init(rng.uniform(0, 0.5))),
        ("first batches", calls(int(rng.integers(1, 4)), rng.uniform(0, DELAY))),
        ("mid-run", calls(int(rng.integers(4, 20)), rng.uniform(0, DELAY))),
        ("mid-run (2)", calls(int(rng.integers(4, 20)), rng.uniform(0, DELAY))),
    ]


def _rows(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def test_kill_9_of_overcoat_score_engine_ray(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'overcoat[ray]')")
    from overcoat.cli import main

    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(
            json.dumps({"item_id": f"i{i // 3}", "input": f"source {i // 3}", "response": f"r{i}"})
            + "\n"
            for i in range(N)
        )
    )
    cache, out = tmp_path / "c.sqlite", tmp_path / "o" / "s.jsonl"
    argv = ["score", "-d", str(data), "-s", "python:_slow_scorer:slow_batched", "-q"]
    argv += ["--batch-size", str(BS), "--cache", str(cache), "-o", str(out)]
    # a short folder of its own (Ray's socket paths must stay under 108 bytes)
    ray_tmp = Path(tempfile.mkdtemp(prefix="ocray-"))
    runs: list[Run] = []
    rows: list[tuple[str, int, int, int]] = []  # label, rows started, rows committed, lost
    before = 0
    try:
        for k, (label, reach) in enumerate(_schedule(np.random.default_rng(SEED))):
            run = Run(tmp_path, ray_tmp, f"k{k}", argv, DELAY)
            runs.append(run)
            reach(run)
            assert run.proc.poll() is None, f"run {k} ({label}) finished before the kill"
            os.kill(run.pid, signal.SIGKILL)  # the driver alone
            assert run.proc.wait(timeout=60) == -signal.SIGKILL
            # Ray's processes (GCS, raylet, agents, the actors' workers) and the reaper go too
            assert _wait_gone(run.pid) == [], f"kill {k} ({label}) left processes behind"
            assert not out.parent.exists() or list(out.parent.iterdir()) == []

            after = _committed(cache)  # (integrity_check passes)
            assert after % BS == 0, "a batch was committed partially"
            started = sum(len(c) for c in run.calls())
            lost = started - (after - before)
            assert 0 <= lost <= BOUND, (label, started, after - before)
            rows.append((label, started, after - before, lost))
            before = after
        assert before < N, "the killed runs finished the work: nothing left to resume"
        assert any(r[3] > 0 for r in rows), "no kill landed while batches were scored"

        final = Run(tmp_path, ray_tmp, "final", argv, 0.0)
        assert final.proc.wait(timeout=300) == 0, final.path("stderr").read_text()
        assert _wait_gone(final.pid) == []
    finally:
        for r in runs:
            _kill_left_over(r.pid)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert _committed(cache) == N

    # re-scoring, counted response by response: every response was scored once, plus exactly
    # the ones each kill lost (scored in that run, not committed, so scored again later)
    per_run = [Counter(t for c in r.calls() for t in c) for r in [*runs, final]]
    for c in per_run:
        assert max(c.values(), default=1) == 1  # no response twice within one run
    total = sum(per_run, Counter())
    assert set(total) == {f"r{i}" for i in range(N)}
    for k, (label, _, _, lost) in enumerate(rows):
        later = sum(per_run[k + 1 :], Counter())
        assert sum(1 for t in per_run[k] if t in later) == lost, label
    assert sum(total.values()) == N + sum(r[3] for r in rows)
    assert sum(per_run[-1].values()) == N - before  # the rerun scores what was not committed

    # an uninterrupted run with the local engine, in this process and without a cache: the
    # same file, bit for bit
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("OVERCOAT_TEST_DELAY", "0")
    monkeypatch.delenv("OVERCOAT_TEST_IDS", raising=False)
    ref = tmp_path / "ref.jsonl"
    assert main([*argv[:-4], "--no-cache", "-o", str(ref)]) == 0, capsys.readouterr().err
    assert _rows(out) == _rows(ref)
    assert len(_rows(out)) == N

    print(
        f"\nkill -9 of overcoat score --engine ray (seed {SEED}, {N} rows, batch {BS}, "
        f"{ACTORS} actors; at most {BOUND} rows re-scored per kill):"
    )
    for label, started, committed, lost in rows:
        print(f"  {label:28s} scored {started:4d}  committed {committed:4d}  re-scored {lost:3d}")
    print(f"  {'final run':28s} scored {sum(per_run[-1].values()):4d}")


# -- the reaper alone (no Ray): what it kills when the driver dies, and when it kills nothing --
_DRIVER = """
import os, subprocess, sys, time
reaper = subprocess.Popen(
    [sys.executable, "-I", "-S", sys.argv[1], str(os.getpid()), str(os.getsid(0))],
    stdin=subprocess.PIPE, start_new_session=True,
)
child = subprocess.Popen(["sleep", "1000"])  # started after the reaper: followed
time.sleep(1.5)  # (the reaper looks every 0.5 s until it is told which processes are Ray's)
if sys.argv[2] == "quit":
    reaper.stdin.write(b"q\\n")
    reaper.stdin.flush()
print(reaper.pid, child.pid, flush=True)
time.sleep(1000)
"""


@pytest.mark.parametrize("how", ["killed", "quit"])
def test_reaper_kills_what_the_dead_driver_started(tmp_path, how):
    script = SRC / "overcoat" / "scorers" / "_ray_reaper.py"
    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(script), how],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert driver.stdout is not None
        reaper, child = map(int, driver.stdout.readline().split())
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 30  # a liveness guard
        while _stat(reaper) is not None and _stat(reaper)[0] not in ("Z", "X"):
            assert time.monotonic() < deadline, "the reaper did not exit"
            time.sleep(0.02)
        alive = _stat(child) is not None and _stat(child)[0] not in ("Z", "X")
        # killed with the driver; after "q" (a normal shutdown) left alone
        assert alive == (how == "quit")
    finally:
        _kill_left_over(driver.pid)
