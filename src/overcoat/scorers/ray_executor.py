"""Scale-out on Ray: an :class:`~overcoat.scorers.executors.Executor` that scores the engine's
batches on a pool of Ray actors (``--engine ray``).

The engine (:mod:`overcoat.scorers.engine`) still decides what to score (deduplicated, not yet
cached, cut into batches of ``batch_size`` rows) and commits every result to the score cache;
:class:`RayExecutor` only changes *where* the batches are scored:

1. it starts ``actors`` Ray actors (:class:`_ScoreActor`, one CPU each, and ``gpus_per_actor``
   GPUs); each builds the scorer once: from the spec string that built the scorer in this
   process (:func:`~overcoat.scorers.registry.spec_of`; a model then loads on the actor's own
   device, a GPU when the actor has one), or, for a scorer made in Python or one that saw the
   whole data set (:meth:`~overcoat.scorers.base.Scorer.bind`), from the scorer pickled here.
   Actors the cluster cannot place now start as nodes join; work goes to those that are ready;
2. each ready actor is given one work unit (a :class:`~overcoat.scorers.base.ScoringBatch` or
   :class:`~overcoat.scorers.executors.PairBatch`, sent as the call's argument), so every row is
   scored in exactly the batch the local engine would score it in (bit-for-bit the same scores,
   padding included);
3. results are yielded as they finish (:func:`ray.wait`); the engine commits each one to the
   cache before it asks for the next result, and only then does the actor that scored it get its
   next unit.

Crash safety. An actor gets a unit only after the engine has committed its previous one, so at
any moment at most one unit per actor has been handed out and not committed: a run killed at any
moment (``kill -9`` of this process, a crash, a lost node) loses at most ``actors`` batches
(``actors * batch_size`` rows) of scoring, which a rerun (with either engine) scores again; it
re-scores nothing else (``tests/scorers/test_ray_crash.py``). The actors are owned by this
process and die with it; a local Ray instance started here (``ray.init()``) dies with it too (Ray
ties its GCS and raylet to this process; :mod:`~overcoat.scorers._ray_reaper` kills the agents
that Ray would leave up for a minute after a ``kill -9``; Linux). Ray Data's ``map_batches`` is
not used for this reason: its streaming executor hands blocks to actors whatever the consumer
has taken (its back-pressure is counted in object-store bytes, not results), so what a kill
loses would not be bounded by a number of batches. The cost is one round trip per batch between
this process and an actor (about a millisecond on one machine).

What is held where: this process holds the data set, as with the local engine (deduplication and
the cache look-up need every row), and builds each unit when an actor is given it; Ray holds the
units in flight and the scorer (once, in the object store). Scores come back as they finish and
are not kept by Ray.

LLM judges (scorers with a ``report()`` of their counts) run in this process: their HTTP
concurrency is inside them and their counts must stay here.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import OvercoatError
from .base import Scorer
from .executors import ExecutionReport, Executor, InProcess, run_batch
from .registry import get_scorer, spec_of

log = logging.getLogger("overcoat.scorers")

#: what to install when Ray is missing
INSTALL_HINT = "pip install 'overcoat[ray]'"
#: seconds to wait for a TCP connection to a ``HOST:PORT`` Ray address before giving up (Ray
#: itself retries an unreachable address for minutes)
CONNECT_TIMEOUT = 5.0
#: restarts of an actor that died (its node was lost, ...); its unit in progress is retried
ACTOR_RESTARTS = 3


def import_ray():
    """``ray``, or a one-line error naming the extra to install."""
    try:
        import ray
    except ImportError as e:
        raise OvercoatError(
            f"--engine ray needs Ray, which is not installed ({e}); {INSTALL_HINT}"
        ) from None
    return ray


def _check_address(address: str) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) address must accept a TCP connection within
    :data:`CONNECT_TIMEOUT` seconds: Ray would retry an unreachable one for minutes."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise OvercoatError(
            f"--ray-address {address!r}: expected 'auto', HOST:PORT or ray://HOST:PORT"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as e:
        raise OvercoatError(
            f"--ray-address {address!r}: cannot reach a Ray cluster there ({type(e).__name__}: {e})"
        ) from None


class RayExecutor(Executor):
    """Scores work units on a pool of Ray actors (see the module docstring).

    ``address``: ``None`` starts a local Ray instance (``ray.init()``; ``init_options`` are
    passed to it), ``"auto"`` joins the cluster this machine belongs to, ``HOST:PORT`` or
    ``ray://HOST:PORT`` a given one; when Ray is already initialised in this process it is used
    as it is. ``actors``: actors per scorer (default: one per CPU of the cluster, or one per GPU
    for a model scorer when the cluster has GPUs). ``gpus_per_actor``: GPUs each actor asks Ray
    for (default: 1 for a model scorer when the cluster has GPUs, else 0). ``verbose``: Ray's
    own logs.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        actors: int | None = None,
        gpus_per_actor: float | None = None,
        verbose: bool = False,
        init_options: dict[str, Any] | None = None,
    ):
        if actors is not None and actors < 1:
            raise OvercoatError(f"--ray-actors must be at least 1, got {actors}")
        if gpus_per_actor is not None and gpus_per_actor < 0:
            raise OvercoatError(f"--ray-gpus-per-actor must be >= 0, got {gpus_per_actor}")
        self.address = address
        self.actors = actors
        self.gpus_per_actor = gpus_per_actor
        self.verbose = verbose
        self.init_options = dict(init_options or {})
        self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor({self.address or 'local'!r}, actors={self.actors})"

    # -- connecting ---------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to Ray (or start it locally) now; a bad or unreachable address is a one-line
        :class:`~overcoat.errors.OvercoatError`. Called by :meth:`run` when needed."""
        ray = import_ray()
        address = None if self.address in (None, "", "local") else str(self.address)
        if address not in (None, "auto"):
            _check_address(str(address))
        if ray.is_initialized():  # a notebook or a test started Ray: used as it is
            return
        opts: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": self.verbose,
            "logging_level": logging.INFO if self.verbose else logging.ERROR,
        }
        if address is not None:
            opts["address"] = address
        opts.update(self.init_options)
        if not self.verbose:
            # Ray's C++ log lines (e.g. an ERROR line for every actor pool: "constructor
            # arguments in the object store and max_restarts > 0") only with -v; set before
            # ray.init, whose processes inherit it
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        # a local instance: its processes are watched, so that a kill -9 of this process leaves
        # none of them behind (see _ray_reaper.py)
        reaper = _start_reaper() if opts.get("address") is None else None
        before = _children()
        try:
            ray.init(**opts)
        except (ConnectionError, OSError, RuntimeError, ValueError) as e:
            if reaper is not None:
                _stop_reaper(reaper)
            where = self.address or "a local instance"
            msg = " ".join(str(e).split())
            raise OvercoatError(
                f"cannot start Ray at {where} ({type(e).__name__}: {msg})"
            ) from None
        self._started = True
        if reaper is not None:
            started = {p: t for p, t in _children().items() if before.get(p) != t}
            started.pop(reaper.pid, None)
            if started:  # (none when ray.init joined an instance started elsewhere)
                _tell_reaper(reaper, "r " + " ".join(f"{p}:{t}" for p, t in started.items()))
                _REAPERS.append(reaper)
            else:
                _stop_reaper(reaper)

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            import ray

            _stop_reapers()  # a normal shutdown: nothing for them to kill
            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running ------------------------------------------------------------------------------
    def run(self, scorer, units, report: ExecutionReport) -> Iterator[tuple[int, Any]]:
        if len(units) == 0:
            return
        how, payload = _how_to_build(scorer)
        if how == "here":
            report.notes.append(payload)
            yield from InProcess().run(scorer, units, report)
            return
        self.start()
        import ray

        resources = ray.cluster_resources()
        gpus = self.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) > 0 and _uses_torch(scorer) else 0.0
        # actors the cluster can hold now (one CPU each, and `gpus` GPUs)
        fit = int(resources.get("CPU", 1))
        if gpus > 0:
            fit = min(fit, int(resources.get("GPU", 0) // gpus))
        fit = max(1, fit)
        n_actors = min(self.actors if self.actors is not None else fit, len(units))
        report.workers = n_actors
        report.notes.append(
            f"{scorer.name}: {len(units)} batches on {n_actors} Ray actors"
            + (f" ({gpus:g} GPU each)" if gpus > 0 else "")
            + (f", {fit} of them placed now, the rest as nodes join" if n_actors > fit else "")
            + f", scorer {'built from its spec' if how == 'spec' else 'pickled'} in each actor"
            + f"; at most {n_actors} batches in flight"
        )
        options: dict[str, Any] = {
            "num_cpus": 1,
            # an actor lost with its node starts again elsewhere and its unit is retried there
            "max_restarts": ACTOR_RESTARTS,
            "max_task_retries": ACTOR_RESTARTS,
        }
        if gpus > 0:
            options["num_gpus"] = gpus
        actor_class = ray.remote(_ScoreActor).options(**options)
        # one copy in the object store for every actor, held until the run ends (an actor that
        # restarts reads it again)
        shared = ray.put(payload)
        actors: list[Any] = [
            actor_class.remote(how, shared, scorer.signature()) for _ in range(n_actors)
        ]
        # refs of the calls in progress: an actor's `ready` (its scorer built) or `score`
        starting = {actors[a].ready.remote(): a for a in range(n_actors)}
        scoring: dict[Any, tuple[int, int]] = {}  # ref -> (actor, unit)
        next_unit = 0

        def dispatch(a: int) -> None:
            nonlocal next_unit
            if next_unit < len(units):
                scoring[actors[a].score.remote(units[next_unit])] = (a, next_unit)
                next_unit += 1

        try:
            while scoring or next_unit < len(units):
                try:
                    (ref,), _ = ray.wait([*scoring, *starting], num_returns=1)
                    got = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - re-raised as the scorer's own error
                    raise _original(e) from None
                if ref in starting:
                    a = starting.pop(ref)
                    if got is not None:  # the actor could not build the scorer
                        raise pickle.loads(got)
                    dispatch(a)
                    continue
                a, k = scoring.pop(ref)
                out, err = got
                if err is not None:
                    raise pickle.loads(err)
                # the engine commits this unit before it asks for the next result: only then does
                # this actor get its next unit (one uncommitted unit per actor at any moment)
                yield k, np.array(out, dtype=np.float64)
                dispatch(a)
        finally:
            for actor in actors:  # also those never placed, and any still scoring
                ray.kill(actor, no_restart=True)


def _children() -> dict[int, int]:
    """This process's children (pid -> start time, from ``/proc``); empty where there is no
    ``/proc`` (not Linux: no reaper)."""
    if not sys.platform.startswith("linux"):
        return {}
    from ._ray_reaper import _processes

    me = os.getpid()
    return {p: t for p, (parent, t) in _processes().items() if parent == me}


#: the reapers of the Ray instances this process started, with the write ends of their pipes:
#: kept here (not on an executor, which may be collected while Ray runs on) until Ray is shut
#: down or this process ends
_REAPERS: list[subprocess.Popen] = []


def _start_reaper() -> subprocess.Popen | None:
    """Start :mod:`~overcoat.scorers._ray_reaper` for this process (Linux); it outlives this
    process (a session of its own) and holds the read end of a pipe whose write end only this
    process has."""
    if not sys.platform.startswith("linux"):
        return None
    from . import _ray_reaper

    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", _ray_reaper.__file__, str(os.getpid()), str(os.getsid(0))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as e:  # pragma: no cover - no interpreter to start: Ray's own clean-up only
        log.warning("cannot start the Ray reaper (%s); a killed run may leave Ray agents", e)
        return None


def _tell_reaper(proc: subprocess.Popen, line: str) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()
    except OSError:  # pragma: no cover - it died: nothing to tell
        pass


def _stop_reaper(proc: subprocess.Popen) -> None:
    _tell_reaper(proc, "q")
    try:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):  # pragma: no cover - gone or stuck
        proc.kill()


def _stop_reapers() -> None:
    while _REAPERS:
        _stop_reaper(_REAPERS.pop())


def _how_to_build(scorer) -> tuple[str, Any]:
    """How the actors get the scorer: ``("spec", SPEC)`` to build it from its spec,
    ``("pickle", BYTES)`` to unpickle it, or ``("here", NOTE)`` to score in this process."""
    if callable(getattr(scorer, "report", None)):
        return "here", (
            f"{scorer.name}: an LLM judge runs in this process under --engine ray (its HTTP "
            "concurrency is inside it)"
        )
    spec = spec_of(scorer)
    binds = isinstance(scorer, Scorer) and type(scorer).bind is not Scorer.bind
    if spec is not None and not binds:
        return "spec", spec
    try:
        return "pickle", pickle.dumps(scorer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - any pickling failure means: score here
        return "here", (
            f"{scorer.name}: cannot be sent to Ray actors ({type(e).__name__}: {e}); "
            "scored in this process"
        )


def _uses_torch(scorer) -> bool:
    """A model scorer (it has a ``device`` option), which a GPU speeds up."""
    return hasattr(scorer, "device")


def _original(e: BaseException) -> BaseException:
    """An :class:`~overcoat.errors.OvercoatError` inside Ray's wrapping of an actor's error
    (``RayTaskError`` keeps the cause as ``cause``), e.g. a signature mismatch when an actor
    builds its scorer, so that it stays one line for the user; else ``e`` itself. (Errors of
    ``score_batch`` come back as data, see :meth:`_ScoreActor.__call__`.)"""
    seen = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OvercoatError):
            return cur
        cause = getattr(cur, "cause", None)
        cur = cause if isinstance(cause, BaseException) else cur.__cause__
    return e


class _ScoreActor:
    """One Ray actor: builds the scorer once, then scores one unit per call."""

    def __init__(self, how: str, payload: Any, signature: str):
        self.scorer: Any = None
        self.error: bytes | None = None
        try:
            if how == "spec":
                scorer = get_scorer(payload)
                if scorer.signature() != signature:
                    raise OvercoatError(
                        f"scorer spec {payload!r} gives signature {scorer.signature()!r} on a "
                        f"Ray worker but {signature!r} here (different package versions or "
                        "files?)"
                    )
            else:
                scorer = pickle.loads(payload)
        except OvercoatError as e:  # sent back by `ready`, one line for the user
            self.error = _pickled_error(e)
            return
        except Exception as e:  # noqa: BLE001 - any other failure: named, one line
            self.error = _pickled_error(
                OvercoatError(
                    f"cannot build scorer on a Ray worker ({type(e).__name__}: "
                    + " ".join(str(e).split())
                    + ")"
                )
            )
            return
        self.scorer = scorer

    def ready(self) -> bytes | None:
        """``None`` once the scorer is built, else the pickled error that prevented it."""
        return self.error

    def score(self, unit) -> tuple[np.ndarray | None, bytes | None]:
        """``(scores, None)``, or ``(None, pickled error)`` for the user's error (one line)."""
        try:
            return np.asarray(run_batch(self.scorer, unit), dtype=np.float64), None
        except OvercoatError as e:
            return None, _pickled_error(e)


def _pickled_error(e: OvercoatError) -> bytes:
    try:
        data = pickle.dumps(e)
        pickle.loads(data)
        return data
    except Exception:  # noqa: BLE001 - an error class that does not round-trip: its message
        return pickle.dumps(OvercoatError(str(e)))


__all__ = ["RayExecutor", "import_ray"]
