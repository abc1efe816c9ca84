"""Progress bars for scoring, drawn from the engine's per-batch callback, and for the other long
loops (the probes' rescoring, stable ranking probability, the annotation budget), drawn from the
``on_step(done, total)`` callback that their library functions take the same way.

The scoring engine draws nothing; it calls ``on_batch(done, total)`` after each committed batch
(:func:`overcoat.scorers.engine.score_dataset`). :class:`ScoringProgress` turns those calls into
one rich bar per scorer on stderr, when stderr is a terminal (or in Jupyter); elsewhere (pipes,
logs, tests) it prints nothing::

    with ScoringProgress() as bars:
        task = bars.task("chrF")
        res = score_dataset(ds, "chrf", on_batch=task)
        task.close(res.n_cached)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress

OnBatch = Callable[[int, int], None]


class ProgressTask:
    """One scorer's bar: call it as ``on_batch(done, total)``; :meth:`close` when scoring ends.

    The bar appears when the task is created (no total yet: scoring has not started or the first
    batch is still running) and gets its total from the first call. ``then`` is called after
    the bar with the same arguments (a caller's own callback)."""

    def __init__(self, bar, name: str, then: OnBatch | None = None):
        self._bar, self._name, self._then = bar, name, then
        self._id = bar.add_task(name, total=None) if bar is not None else None
        self.calls = 0

    def __call__(self, done: int, total: int) -> None:
        self.calls += 1
        if self._id is not None:
            self._bar.update(self._id, completed=done, total=total)
        if self._then is not None:
            self._then(done, total)

    def close(self, n_cached: int = 0, *, keep: bool = True) -> None:
        """End the bar: it is removed when nothing was scored (everything came from the cache)
        or ``keep`` is False, else it stays with ``(N cached)`` in its description when N > 0."""
        if self._id is None:
            return
        if self.calls == 0 or not keep:
            self._bar.remove_task(self._id)
        elif n_cached:
            self._bar.update(self._id, description=f"{self._name} ({n_cached} cached)")
        self._id = None


class ScoringProgress:
    """A context manager holding one live rich display for the scorers run inside it.

    ``enabled=False`` (``--quiet``), or a console that is neither a terminal nor Jupyter, gives
    tasks that only pass the calls on to ``then``. ``console`` defaults to one on stderr."""

    def __init__(self, enabled: bool = True, console=None):
        self.enabled = enabled
        self._console = console
        self._bar: Progress | None = None

    def __enter__(self) -> ScoringProgress:
        if not self.enabled:
            return self
        from rich.console import Console

        console = self._console if self._console is not None else Console(stderr=True)
        if not (console.is_terminal or console.is_jupyter):
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def task(self, name: str, then: OnBatch | None = None) -> ProgressTask:
        """A bar for scorer ``name`` (shown now; see :class:`ProgressTask`)."""
        return ProgressTask(self._bar, name, then)


__all__ = ["ProgressTask", "ScoringProgress"]
