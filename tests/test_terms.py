"""The terminology bridge: docs/terms.md is generated from report/terms.py (they cannot drift),
every overcoat command it names parses, the pairs the issue asks for are there, and
``overcoat terms WORD`` filters across both sides, case-insensitively."""

import shlex
from pathlib import Path

import pytest
import typer

from overcoat.cli import app, main
from overcoat.report.terms import TERMS, filter_terms, terms_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "terms.md"


def test_docs_page_is_generated_from_the_data():
    assert DOC.read_text(encoding="utf-8") == terms_markdown(), (
        "docs/terms.md is stale: python -m overcoat.report.terms > docs/terms.md"
    )


@pytest.mark.parametrize("term", TERMS, ids=lambda t: t.rl)
def test_every_named_command_parses(term):
    """The command line as written: a real subcommand, and its options and values parse (click
    builds the context; nothing runs)."""
    args = shlex.split(term.command)
    assert args[0] == "overcoat"
    group = typer.main.get_command(app)
    ctx = group.make_context("overcoat", [args[1]])
    cmd = group.get_command(ctx, args[1])
    assert cmd is not None, f"no command overcoat {args[1]}"
    cmd.make_context(args[1], args[2:])  # raises on an unknown option or a bad value


def test_the_checker_rejects_a_bad_command():
    group = typer.main.get_command(app)
    cmd = group.get_command(group.make_context("overcoat", ["probe"]), "probe")
    with pytest.raises(Exception, match="No such option"):
        cmd.make_context("probe", ["-d", "x", "-s", "y", "--no-such-flag"])


REQUIRED = [  # (a word of the RM/RL side, a word of the MT side), as issue 11 lists them
    ("RewardBench accuracy", "item-grouped pairwise accuracy"),
    ("reward hacking", "Goodhart"),
    ("reference-free reward model", "quality estimation"),
    ("best-of-n", "MBR"),
    ("preference pairs", "DARR"),
    ("Likert", "MQM"),
    ("process", "error-span"),
    ("calibration", "acc_eq"),
    ("position bias", "order effects"),
    ("length bias", "brevity penalty"),
    ("ensemble", "metric combination"),
    ("inter-annotator agreement", "human ceiling"),
    ("Bradley–Terry", "TrueSkill"),
]


@pytest.mark.parametrize(("rl", "mt"), REQUIRED)
def test_required_pairs_are_there(rl, mt):
    assert [t for t in TERMS if rl in t.rl and mt in t.mt], (rl, mt)


def test_filter_is_case_insensitive_across_both_sides():
    # "QE" is only on the MT side, "hacking" only on the RL side
    assert [t.rl for t in filter_terms("qe")] == [
        "reference-free reward model",
        "best-of-n with a reward model",
    ]
    assert [t.mt for t in filter_terms("HACKING")] == ["metric gaming (Goodhart's law)"]
    assert filter_terms(None) == list(TERMS) and filter_terms("") == list(TERMS)
    # a loop over both words is the reference
    for w in ("bias", "MQM", "pair", "reward"):
        want = [t for t in TERMS if w.lower() in t.rl.lower() or w.lower() in t.mt.lower()]
        assert filter_terms(w) == want


def test_terms_command(capsys):
    assert main(["terms", "goodhart"]) == 0
    out = capsys.readouterr().out
    assert "reward hacking" in out and "overopt" in out and "length bias" not in out
    assert main(["terms"]) == 0
    out = capsys.readouterr().out
    assert all(t.rl.split()[0] in out for t in TERMS)
    assert main(["terms", "zzzz"]) == 0
    assert capsys.readouterr().out.startswith("no term contains 'zzzz'")
