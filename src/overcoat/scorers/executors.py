"""Where the scoring engine's batches run: in this process, in a process pool, or elsewhere.

:mod:`overcoat.scorers.engine` decides *what* to score (deduplicated, not yet cached, cut into
batches) and commits every result to the cache; an :class:`Executor` decides *where* the batches
are scored. The contract between the two is small:

* the engine hands :meth:`Executor.run` the scorer and a :class:`~typing.Sequence` of work units,
  built on demand: a :class:`~overcoat.scorers.base.ScoringBatch` per batch for a pointwise
  scorer, a :class:`PairBatch` for a pairwise one. Besides the scorer itself (pickled once per
  worker), these plain picklable values are all a remote worker (a worker process, a Ray
  actor, a reward server) receives; :func:`run_batch` scores one of them;
* ``run`` yields ``(index, scores)`` once per unit, in any order, as each unit finishes; the
  engine places the scores by index and commits them to the cache before it asks for the next
  result, so an executor that yields as soon as it can keeps a run crash-safe (a killed run
  loses only the units still in flight);
* ``run`` records what it did in the :class:`ExecutionReport` it is given (workers used, notes
  for the user).

An executor that yields a unit twice or never is reported as an error by the engine, not turned
into a score. Scores never depend on the executor (the units and their rows are the same for
every executor), provided the scorer scores each row independently of its batch mates.

Built in: :class:`InProcess` (``workers=1``) and :class:`ProcessPool` (``workers > 1``; starts
worker processes only when they are predicted to finish sooner, see :func:`_pool_size`).
:func:`executor_for` maps ``workers`` to one of them.
"""

from __future__ import annotations

import abc
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures import ProcessPoolExecutor as _FuturesPool
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from .base import PairwiseScorer, Scorer, ScoringBatch


@dataclass
class PairBatch:
    """The work unit of a pairwise scorer: parallel lists, one entry per ordered pair (A, B)."""

    inputs: list[str]
    responses_a: list[str]
    responses_b: list[str]
    references: list[list[str]]

    def __len__(self) -> int:
        return len(self.responses_a)


Unit = ScoringBatch | PairBatch


def run_batch(scorer: Scorer | PairwiseScorer, unit: Unit) -> Any:
    """Score one work unit with ``scorer`` (what every executor's worker does); the result is
    whatever the scorer returns (the engine checks its shape)."""
    if isinstance(scorer, PairwiseScorer):
        pair = cast(PairBatch, unit)
        return scorer.compare_batch(
            pair.inputs, pair.responses_a, pair.responses_b, pair.references
        )
    return scorer.score_batch(cast(ScoringBatch, unit))


@dataclass
class ExecutionReport:
    """What an executor did, filled in by :meth:`Executor.run`: ``workers`` that scored (1 when
    everything ran in this process) and ``notes`` for the user (why fewer workers, ...)."""

    workers: int = 1
    notes: list[str] = field(default_factory=list)


class Executor(abc.ABC):
    """Runs a scorer over work units (see the module docstring for the contract)."""

    @abc.abstractmethod
    def run(
        self, scorer: Scorer | PairwiseScorer, units: Sequence[Unit], report: ExecutionReport
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index into units, scores)`` once for every unit, in any order, as each
        finishes. Exceptions of the scorer propagate. The engine calls the returned iterator's
        ``close()`` (a generator's) when it is done or stops early (an error, Ctrl-C): that is
        where workers are released."""


class InProcess(Executor):
    """Every unit in this process, in order."""

    def run(self, scorer, units, report):
        for k in range(len(units)):
            yield k, run_batch(scorer, units[k])

    def __repr__(self) -> str:
        return "InProcess()"


#: units submitted to the pool per worker process. One: a worker starts its next unit only after
#: the engine has committed the last one it returned, so a run killed at any moment (``kill -9``)
#: has scored at most one uncommitted unit per worker. (Two would hide the round trip, a few
#: milliseconds per unit, but a kill could then lose two units per worker.)
_IN_FLIGHT_PER_WORKER = 1
#: start-up cost of one spawned worker (interpreter, imports, unpickling the scorer), CPU seconds;
#: conservative: one chrF worker answered after 1.6 s wall on the busy 2-core development machine
_WORKER_START_SECONDS = 1.5
#: a pool is started only when its predicted time is below this share of the one-process time
_POOL_MAX_SHARE = 0.8


class ProcessPool(Executor):
    """Up to ``workers`` spawned worker processes (``--workers``).

    The first units run in this process (the first warms the scorer up, the second is timed);
    the rest go to a pool only when the scorer is ``parallel_safe`` and picklable, and a pool is
    predicted to finish sooner than this process alone (:func:`_pool_size`), so ``--workers N``
    is never predicted to be slower than one process. ``adaptive=False`` skips the prediction
    (the pool is started whenever it is allowed; tests use it). Workers are started with the
    ``spawn`` method (safe with threads, CUDA and macOS): a script that uses them needs the usual
    ``if __name__ == "__main__":`` guard. Each worker exits when this process dies.
    """

    def __init__(self, workers: int, *, adaptive: bool = True):
        self.workers = int(workers)
        self.adaptive = adaptive

    def __repr__(self) -> str:
        return f"ProcessPool({self.workers}{'' if self.adaptive else ', adaptive=False'})"

    def run(self, scorer, units, report):
        n_workers = _choose_workers(scorer, self.workers, len(units), report.notes)
        k = 0
        if n_workers > 1:
            # score the first units here (the first one warms the scorer up, the second is
            # timed, together with the engine's commit of it) and start worker processes only
            # when the rest is predicted to finish sooner in a pool (scores are the same)
            per_batch = 0.0
            for _ in range(2 if len(units) > 2 else 1):
                t1 = time.perf_counter()
                yield k, run_batch(scorer, units[k])
                per_batch = time.perf_counter() - t1
                k += 1
            n_left = len(units) - k
            if self.adaptive:
                n_workers = _pool_size(scorer.name, n_workers, per_batch, n_left, report.notes)
            else:
                n_workers = min(n_workers, n_left) if n_left > 1 else 1
        report.workers = max(n_workers, 1)
        if n_workers <= 1:
            for j in range(k, len(units)):
                yield j, run_batch(scorer, units[j])
        else:
            yield from _run_pool(scorer, units, range(k, len(units)), n_workers)


def executor_for(workers: int | None) -> Executor:
    """The executor of ``--workers``: :class:`InProcess` for 1, else :class:`ProcessPool`."""
    if workers is None or workers <= 1:
        return InProcess()
    return ProcessPool(workers)


def _choose_workers(scorer, workers: int, n_batches: int, notes: list[str]) -> int:
    if workers is None or workers <= 1 or n_batches <= 1:
        return 1
    if not getattr(scorer, "parallel_safe", False):
        notes.append(f"scorer {scorer.name!r} is not parallel-safe; using 1 worker")
        return 1
    try:
        pickle.dumps(scorer)
    except Exception as e:  # noqa: BLE001 - any pickling failure means: no pool
        notes.append(
            f"scorer {scorer.name!r} cannot be pickled ({type(e).__name__}: {e}); using 1 worker"
        )
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
    notes.append(
        f"{name}: one process is predicted to be as fast (~{t1:.1f}s left, {cpus} CPUs, "
        f"load {busy:.1f} elsewhere); no worker pool"
    )
    return 1


# -- the worker side of ProcessPool -----------------------------------------------------------
_WORKER_SCORER: Scorer | PairwiseScorer | None = None

#: how often a worker checks that the process that started it is still alive (seconds)
_PARENT_POLL_SECONDS = 0.25


def _die_with_parent() -> bool:
    """Ask the kernel to ``SIGKILL`` this worker as soon as the process that started it dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return False


_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent_pid: int | None) -> None:
    """End this worker as soon as its parent is gone (``kill -9`` of the parent leaves workers
    re-parented, and they would wait for work forever, or finish a unit no one will commit).

    On Linux the kernel kills the worker when its parent dies (:func:`_die_with_parent`; the pool
    starts its workers from the thread that runs the engine, which lives as long as the pool);
    elsewhere a daemon thread polls the parent pid. The check after ``prctl`` closes the race of
    a parent that died before the worker asked."""
    if parent_pid is None:
        return
    watched = _die_with_parent()
    if os.getppid() != parent_pid:
        os._exit(1)
    if watched:
        return

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


def _worker_call(unit):
    assert _WORKER_SCORER is not None, "the pool initialiser sets the scorer"
    return np.asarray(run_batch(_WORKER_SCORER, unit), dtype=np.float64)


def _run_pool(scorer, units, indices, n_workers: int) -> Iterator[tuple[int, Any]]:
    ctx = multiprocessing.get_context("spawn")
    ex = _FuturesPool(
        max_workers=n_workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(scorer, os.getpid()),
    )
    pending: dict = {}
    it = iter(indices)
    ok = False
    try:

        def submit() -> None:
            k = next(it, None)
            if k is not None:
                pending[ex.submit(_worker_call, units[k])] = k

        for _ in range(n_workers * _IN_FLIGHT_PER_WORKER):
            submit()
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for f in finished:
                k = pending.pop(f)
                yield k, f.result()
                submit()
        ok = True
    finally:
        if not ok:
            for f in pending:
                f.cancel()
        ex.shutdown(wait=True, cancel_futures=not ok)


__all__ = [
    "Executor",
    "ExecutionReport",
    "InProcess",
    "PairBatch",
    "ProcessPool",
    "Unit",
    "executor_for",
    "run_batch",
]
