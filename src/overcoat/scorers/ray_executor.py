"""Scale-out on Ray: an :class:`~overcoat.scorers.executors.Executor` that scores the engine's
batches with Ray Data (``--engine ray``).

The engine (:mod:`overcoat.scorers.engine`) still decides what to score (deduplicated, not yet
cached, cut into batches of ``batch_size`` rows) and commits every result to the score cache;
:class:`RayExecutor` only changes *where* the batches are scored:

1. each work unit (a :class:`~overcoat.scorers.base.ScoringBatch` or
   :class:`~overcoat.scorers.executors.PairBatch`) is pickled into one row of an Arrow table
   (``unit``, ``payload``); the tables go to Ray's object store a few units at a time and become
   one Ray Dataset (:func:`ray.data.from_arrow_refs`);
2. ``Dataset.map_batches`` runs :class:`_ScoreActor` on an actor pool
   (:class:`ray.data.ActorPoolStrategy`), one unit per call, so every row is scored in exactly
   the batch the local engine would score it in (bit-for-bit the same scores, padding included);
   each actor builds its scorer once: from the spec string that built the scorer in this
   process (:func:`~overcoat.scorers.registry.spec_of`; a model then loads on the actor's own
   device, a GPU when the actor has one), or, for a scorer made in Python or one that saw the
   whole data set (:meth:`~overcoat.scorers.base.Scorer.bind`), from the scorer pickled here;
3. results stream back (``iter_batches``) in the order they finish, and the engine commits each
   one to the cache before it takes the next, as for the local engine: a killed run loses only
   the units in flight, and a rerun (with either engine) scores only what is not cached.

What is held where: this process holds the data set, as with the local engine (deduplication and
the cache look-up need every row), plus one chunk of units at a time while they are handed to
Ray; Ray's object store holds every unit still to score once (it spills to disk when full); the
actors hold the units in flight. Scores come back as they finish and are not kept by Ray.

LLM judges (scorers with a ``report()`` of their counts) run in this process: their HTTP
concurrency is inside them and their counts must stay here.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
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
#: units per input block at most (a block's results come back together, so this bounds what a
#: killed run loses per actor)
MAX_UNITS_PER_BLOCK = 8
#: input blocks per actor aimed for (enough to keep every actor busy to the end)
BLOCKS_PER_ACTOR = 4


def import_ray():
    """``ray`` and ``ray.data``, or a one-line error naming the extra to install."""
    try:
        import ray
        import ray.data
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
    """Scores work units with Ray Data on an actor pool (see the module docstring).

    ``address``: ``None`` starts a local Ray instance (``ray.init()``; ``init_options`` are
    passed to it), ``"auto"`` joins the cluster this machine belongs to, ``HOST:PORT`` or
    ``ray://HOST:PORT`` a given one; when Ray is already initialised in this process it is used
    as it is. ``actors``: actors per scorer (default: one per CPU of the cluster, or one per GPU
    for a model scorer when the cluster has GPUs). ``gpus_per_actor``: GPUs each actor asks Ray
    for (default: 1 for a model scorer when the cluster has GPUs, else 0). ``verbose``: Ray's
    own logs and progress bars.
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
            self._quiet(ray)
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
            # arguments in the object store and max_restarts > 0") only with -v
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        try:
            ray.init(**opts)
        except (ConnectionError, OSError, RuntimeError, ValueError) as e:
            where = self.address or "a local instance"
            msg = " ".join(str(e).split())
            raise OvercoatError(
                f"cannot start Ray at {where} ({type(e).__name__}: {msg})"
            ) from None
        self._started = True
        self._quiet(ray)

    def _quiet(self, ray) -> None:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.verbose
        if hasattr(ctx, "print_on_execution_start"):
            ctx.print_on_execution_start = self.verbose
        if not self.verbose:
            logging.getLogger("ray.data").setLevel(logging.ERROR)

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            import ray

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
        import pyarrow as pa
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
        # a pool of up to n_actors that starts with what fits now (an autoscaling cluster adds
        # nodes for the rest; a fixed one never waits for actors it cannot place)
        min_actors = min(n_actors, fit)
        per_block = max(
            1, min(MAX_UNITS_PER_BLOCK, math.ceil(len(units) / (n_actors * BLOCKS_PER_ACTOR)))
        )
        refs: list[Any] = []
        for s in range(0, len(units), per_block):
            ks = list(range(s, min(s + per_block, len(units))))
            table = pa.table(
                {
                    "unit": pa.array(ks, pa.int64()),
                    "payload": pa.array(
                        [pickle.dumps(units[k], protocol=pickle.HIGHEST_PROTOCOL) for k in ks],
                        pa.binary(),
                    ),
                }
            )
            refs.append(ray.put(table))
            del table
        ds = ray.data.from_arrow_refs(refs)
        del refs  # the dataset holds them now
        remote: dict[str, Any] = {"num_cpus": 1}
        if gpus > 0:
            remote["num_gpus"] = gpus
        mapped = ds.map_batches(
            _ScoreActor,
            fn_constructor_kwargs={
                "how": how,
                "payload": payload,
                "signature": scorer.signature(),
            },
            batch_size=1,
            batch_format="pyarrow",
            compute=(
                ray.data.ActorPoolStrategy(size=n_actors)
                if min_actors == n_actors
                else ray.data.ActorPoolStrategy(min_size=min_actors, max_size=n_actors)
            ),
            **remote,
        )
        report.workers = n_actors
        report.notes.append(
            f"{scorer.name}: {len(units)} batches on "
            + (f"{n_actors}" if min_actors == n_actors else f"{min_actors} to {n_actors}")
            + " Ray actors"
            + (f" ({gpus:g} GPU each)" if gpus > 0 else "")
            + f", scorer {'built from its spec' if how == 'spec' else 'pickled'} in each actor"
        )
        batches = mapped.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0)
        it: Iterator[Any] | None = None
        try:
            while True:
                try:
                    if it is None:  # the first actor errors may surface here already
                        it = iter(batches)
                    out = next(it)
                except StopIteration:
                    break
                except Exception as e:  # noqa: BLE001 - re-raised as the scorer's own error
                    raise _original(e) from None
                ks = out.column("unit").to_pylist()
                shapes = out.column("shape").to_pylist()
                data = out.column("scores").to_pylist()
                errors = out.column("error").to_pylist()
                for k, shape, raw, err in zip(ks, shapes, data, errors):
                    if err is not None:
                        raise pickle.loads(err)
                    yield k, np.frombuffer(raw, dtype=np.float64).reshape(shape).copy()
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


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
        if how == "spec":
            scorer = get_scorer(payload)
            if scorer.signature() != signature:
                raise OvercoatError(
                    f"scorer spec {payload!r} gives signature {scorer.signature()!r} on a Ray "
                    f"worker but {signature!r} here (different package versions or files?)"
                )
        else:
            scorer = pickle.loads(payload)
        self.scorer = scorer

    def __call__(self, batch):
        import pyarrow as pa

        ks = batch.column("unit").to_pylist()
        raws: list[bytes] = []
        shapes: list[list[int]] = []
        errors: list[bytes | None] = []
        for p in batch.column("payload").to_pylist():
            try:
                out = np.asarray(run_batch(self.scorer, pickle.loads(p)), dtype=np.float64)
            except OvercoatError as e:  # the user's error (one line): sent back as it is
                raws.append(b"")
                shapes.append([0])
                errors.append(_pickled_error(e))
                continue
            raws.append(np.ascontiguousarray(out).tobytes())
            shapes.append(list(out.shape))
            errors.append(None)
        return pa.table(
            {
                "unit": pa.array(ks, pa.int64()),
                "shape": pa.array(shapes, pa.list_(pa.int64())),
                "scores": pa.array(raws, pa.binary()),
                "error": pa.array(errors, pa.binary()),
            }
        )


def _pickled_error(e: OvercoatError) -> bytes:
    try:
        data = pickle.dumps(e)
        pickle.loads(data)
        return data
    except Exception:  # noqa: BLE001 - an error class that does not round-trip: its message
        return pickle.dumps(OvercoatError(str(e)))


__all__ = ["RayExecutor", "import_ray"]
