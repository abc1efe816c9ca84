"""report.progress: the scoring bars are drawn from the engine's per-batch callback."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from rich.console import Console

from overcoat.report.progress import ScoringProgress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scorers"))
import _slow_scorer as H


def _terminal() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=100, color_system=None), buf


def test_bar_follows_on_batch_and_closes():
    console, buf = _terminal()
    seen = []
    with ScoringProgress(console=console) as bars:
        a = bars.task("chrF", then=lambda d, t: seen.append((d, t)))
        b = bars.task("BLEU")
        names = [t.description for t in bars._bar.tasks]
        assert names == ["chrF", "BLEU"]  # shown before the first batch, total unknown
        assert bars._bar.tasks[0].total is None
        a(10, 25)
        a(25, 25)
        a.close(n_cached=5)
        b.close()  # nothing scored (all cached): its bar goes away
        left = [(t.description, t.completed, t.total) for t in bars._bar.tasks]
    assert left == [("chrF (5 cached)", 25, 25)]
    assert seen == [(10, 25), (25, 25)]
    assert "chrF (5 cached)" in buf.getvalue() and "25/25" in buf.getvalue()


def test_nothing_drawn_off_a_terminal_or_when_disabled():
    for enabled, console in (
        (True, Console(file=io.StringIO(), force_terminal=False)),
        (False, _terminal()[0]),
    ):
        seen = []
        with ScoringProgress(enabled, console=console) as bars:
            t = bars.task("chrF", then=lambda d, n, seen=seen: seen.append((d, n)))
            t(3, 3)
            t.close(1)
        assert console.file.getvalue() == "" and seen == [(3, 3)]


def test_api_score_draws_from_the_engine_callback(capsys, monkeypatch):
    from overcoat import api

    ds = H.make_dataset(30, per_item=3)
    api.score(ds, [H.ContentScorer()], cache=None, batch_size=7)  # stderr is no terminal
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    api.score(ds, [H.ContentScorer()], cache=None, batch_size=7)
    err = capsys.readouterr().err
    assert "content" in err and "30/30" in err
    api.score(ds, [H.ContentScorer()], cache=None, batch_size=7, progress=False)
    assert capsys.readouterr().err == ""
