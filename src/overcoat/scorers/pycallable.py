"""``python:MODULE:FUNCTION`` (or ``python:path/to/file.py:FUNCTION``) — any callable as a scorer.

The function is called per response as ``fn(input, response, references) -> float``; if it has the
attribute ``batched = True`` it is called once per batch with three lists and returns a sequence of
floats. Optional attributes ``higher_is_better`` and ``needs_references`` are honoured. The
signature includes a hash of the function's source file, so editing the function invalidates the
cache.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

import numpy as np

from ..errors import SpecError
from .base import Scorer, ScoringBatch
from .registry import register


def _local_file(module: str) -> Path | None:
    """``pkg.mod`` -> ``pkg/mod.py`` (or ``pkg/mod/__init__.py``) in the working directory, if
    there is one: the console script does not put the working directory on ``sys.path``, yet
    ``python:myscorer:f`` beside ``myscorer.py`` should work as ``python -c`` would."""
    base = Path.cwd().joinpath(*module.split("."))
    for cand in (base.with_name(base.name + ".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _load(module: str, func: str):
    try:
        local = None
        if not module.endswith(".py") and importlib.util.find_spec(module.split(".")[0]) is None:
            local = _local_file(module)
        if module.endswith(".py") or local is not None:
            path = local or Path(module)
            if not path.is_file():
                raise SpecError(f"python: no file {module!r}")
            modname = f"_overcoat_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
            spec = importlib.util.spec_from_file_location(modname, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"no module loader for {path}")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(module)
    except SpecError:
        raise
    except Exception as e:  # noqa: BLE001 - import errors of user code: one line
        raise SpecError(
            f"python:{module}:{func}: cannot import {module!r} ({type(e).__name__}: {e})"
        ) from None
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise SpecError(f"python:{module}:{func}: {module!r} has no callable {func!r}")
    return mod, fn


class CallableScorer(Scorer):
    def __init__(self, module: str, func: str):
        self.module, self.func = module, func
        mod, fn = _load(module, func)
        self.name = func
        self.higher_is_better = bool(getattr(fn, "higher_is_better", True))
        self.needs_references = bool(getattr(fn, "needs_references", False))
        self.batched = bool(getattr(fn, "batched", False))
        try:
            src = Path(inspect.getfile(mod)).read_bytes()
        except (TypeError, OSError):
            src = repr(fn).encode()
        self._digest = hashlib.sha256(src).hexdigest()[:16]
        self._fn = fn

    def __getstate__(self):
        return {**self.__dict__, "_fn": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fn = _load(self.module, self.func)[1]

    def signature(self) -> str:
        return (
            f"python|{self.module}:{self.func}|batched:{'yes' if self.batched else 'no'}"
            f"|sha256:{self._digest}"
        )

    def _where(self, batch: ScoringBatch, k: int) -> str:
        iid = batch.item_ids[k] if batch.item_ids else str(k)
        rid = batch.response_ids[k] if batch.response_ids else None
        return f"item {iid!r}" + (f" response {rid!r}" if rid is not None else "")

    def _fail(self, what: str, e: BaseException | None = None) -> SpecError:
        why = "" if e is None else f": {type(e).__name__}: {_first_line(e)}"
        return SpecError(f"python:{self.module}:{self.func} {what}{why}")

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        n = len(batch)
        if self.batched:
            try:
                out = self._fn(batch.inputs, batch.responses, batch.references)
            except Exception as e:  # noqa: BLE001 - the user's code: one line, not a traceback
                raise self._fail(
                    f"raised on a batch of {n} responses starting at {self._where(batch, 0)}", e
                ) from None
            try:
                arr = np.asarray(out, dtype=float)
            except (TypeError, ValueError):
                raise self._fail(
                    f"returned {type(out).__name__}, not numbers, for a batch "
                    f"starting at {self._where(batch, 0)}"
                ) from None
            if arr.shape != (n,):
                got = arr.shape[0] if arr.ndim == 1 else f"an array of shape {arr.shape}"
                raise self._fail(f"returned {got} scores for {n} responses")
            return arr
        arr = np.empty(n, dtype=float)
        for k, (x, r, refs) in enumerate(zip(batch.inputs, batch.responses, batch.references)):
            try:
                v = self._fn(x, r, refs)
            except Exception as e:  # noqa: BLE001 - the user's code: one line, not a traceback
                raise self._fail(f"raised on {self._where(batch, k)}", e) from None
            if (
                isinstance(v, (bool, np.bool_))
                or not isinstance(v, (int, float, np.number))
                and v is not None
            ):
                raise self._fail(
                    f"returned {type(v).__name__} {_short(v)} for "
                    f"{self._where(batch, k)}; it must return a number (or None "
                    "for no score)"
                )
            arr[k] = np.nan if v is None else float(v)
        return arr


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else "(no message)"


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


@register("python", "any callable: python:MODULE:FUNCTION or python:FILE.py:FUNCTION")
def _python(arg: str):
    module, _, func = arg.rpartition(":")
    if not module or not func:
        raise SpecError(f"python:{arg}: expected python:MODULE:FUNCTION")
    return CallableScorer(module, func)
