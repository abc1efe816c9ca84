"""report/console.py on small result documents written by hand (the JSON form of meta_evaluate):
row order, numbers with their intervals, the columns that appear only when needed, captions, the
ranking note and the p-value matrix."""

import copy

import pytest
from rich.console import Console

from overcoat.report.console import (
    benchmark_tables,
    leaderboard_table,
    ranking_note,
    significance_table,
    system_table,
)


def cells(table):
    """{header: [cell, ...]} in row order."""
    return {str(c.header): [str(x) for x in c.cells] for c in table.columns}


def rendered(table) -> str:
    console = Console(width=240, record=True, color_system=None)
    console.print(table)
    return console.export_text()


RES = {
    "primary_statistic": "pairwise_accuracy_strict",
    "data": {
        "name": "toy",
        "n_items": 3,
        "n_responses": 6,
        "n_pairs": 3,
        "gold_tie_rate": 0.25,
        "n_systems": 2,
    },
    "settings": {"alpha": 0.05},
    "scorers": [
        {"name": "low", "cluster": 2, "coverage": {"scored": 6, "total": 6}},
        {"name": "high", "cluster": 1, "coverage": {"scored": 5, "total": 6}},
        {"name": "[b]x", "cluster": 2, "coverage": {"scored": 6, "total": 6}},
    ],
    "segment_level": {
        "low": {
            "pairwise_accuracy_strict": {"statistic": 0.5, "confidence_interval": [0.25, 0.75]},
            "pearson": {"statistic": None},
        },
        "high": {
            "pairwise_accuracy_strict": {"statistic": 0.8125, "confidence_interval": [0.6, None]},
            "pearson": {"statistic": 0.123456},
        },
        "[b]x": {"pairwise_accuracy_strict": {"statistic": None, "confidence_interval": None}},
    },
    "system_level": {},
    "significance": {"permute": "items"},
}


def test_leaderboard_rows_best_first_with_intervals_and_coverage():
    t = leaderboard_table(RES)
    c = cells(t)
    assert list(c) == ["#", "scorer", "pref. acc [95% CI]", "Pearson", "scored"]
    # best first; a scorer without the statistic last; rich markup in a name is escaped
    assert c["scorer"] == ["high", "low", "\\[b]x"]
    assert c["#"] == ["1", "2", "2"]
    # an interval with a missing end shows a dash; no statistic: a dash and no interval
    assert c["pref. acc [95% CI]"] == ["0.8125 [0.6000, –]", "0.5000 [0.2500, 0.7500]", "–"]
    assert c["Pearson"] == ["0.1235", "–", "–"]
    assert c["scored"] == ["5/6", "6/6", "6/6"]
    assert t.title == "toy — segment level: 3 items, 6 responses, 3 pairs, gold ties 0.250"
    caption = t.caption.splitlines()
    assert caption[0] == (
        "# = significance cluster (paired permutation test over items; clusters "
        "from raw p < 0.05; corrected p-values: overcoat compare)"
    )
    assert caption[1].startswith("scored = responses with a score")
    assert caption[2].startswith("pref. acc = the RM view")
    assert len(caption) == 3
    text = rendered(t)
    assert "[b]x" in text and "0.8125 [0.6000, –]" in text


def test_leaderboard_without_missing_scores_has_no_coverage_column():
    res = copy.deepcopy(RES)
    for s in res["scorers"]:
        s["coverage"] = {"scored": 6, "total": 6}
    assert "scored" not in cells(leaderboard_table(res))
    assert not any(x.startswith("scored") for x in leaderboard_table(res).caption.splitlines())


def test_leaderboard_acc_eq_columns_and_all_ties_flag():
    res = copy.deepcopy(RES)
    res["primary_statistic"] = "acc_eq"
    res["significance"] = {"permute": "cells"}
    res["scorers"] = res["scorers"][:2]
    res["segment_level"] = {
        "low": {
            "acc_eq": {
                "statistic": 0.4,
                "epsilon": 0.0,
                "all_ties_baseline": 0.3,
                "all_ties": False,
                "confidence_interval": [0.3, 0.5],
            }
        },
        "high": {
            "acc_eq": {
                "statistic": 0.3,
                "epsilon": 2.5,
                "all_ties_baseline": 0.3,
                "all_ties": True,
                "confidence_interval": [0.2, 0.4],
            }
        },
    }
    t = leaderboard_table(res)
    c = cells(t)
    assert list(c) == ["#", "scorer", "acc_eq (tie-cal.) [95% CI]", "ε", "all-ties", "scored"]
    assert c["scorer"] == ["low", "high"]
    assert c["ε"] == ["0.000", "2.500"]
    assert c["all-ties"] == ["0.3000", "0.3000 ⚑"]
    caption = t.caption
    assert "over score cells, as WMT" in caption
    assert "⚑ = ε calls every pair a tie" in caption
    assert "pref. acc" not in caption


def test_ranking_note_and_no_signal_marks():
    res = copy.deepcopy(RES)
    assert ranking_note(res) is None
    res["ranking"] = {
        "requested": "acc_eq",
        "statistic": "pairwise_accuracy_strict",
        "at_no_signal": {"acc_eq": ["low", "high", "[b]x"], "pairwise_accuracy_strict": ["low"]},
        "n_scorers": 3,
        "informative": True,
    }
    note = ranking_note(res)
    assert note == (
        "ranked by pref. acc, not acc_eq (tie-cal.): acc_eq (tie-cal.) is at the "
        "all-ties baseline for 3 of 3 scorers"
    )
    t = leaderboard_table(res)
    assert t.title.splitlines()[1] == note
    assert cells(t)["pref. acc [95% CI]"][1] == "0.5000 [0.2500, 0.7500] ○"
    assert "○ = not distinguishable from a scorer without signal" in t.caption
    res["ranking"]["informative"] = False
    assert ranking_note(res) == (
        "not informative: acc_eq (tie-cal.), pref. acc are at their "
        "no-signal values for most of the 3 scorers; this order is noise"
    )
    # the ranking statistic is the one requested: nothing to say
    res["ranking"] = {
        "requested": "pearson",
        "statistic": "pearson",
        "at_no_signal": {},
        "n_scorers": 3,
    }
    assert ranking_note(res) is None


def test_system_table():
    assert system_table(RES) is None
    res = copy.deepcopy(RES)
    res["system_level"] = {
        "low": {
            "system_pearson": {"statistic": -0.5, "confidence_interval": [-0.9, 0.1]},
            "soft_pairwise_accuracy": {"statistic": 0.75},
        },
        "high": {"system_pearson": {"statistic": 1.0, "confidence_interval": None}},
    }
    t = system_table(res)
    assert t.title == "toy — system level: 2 systems"
    c = cells(t)
    # same order as the segment table (by the segment-level primary statistic)
    assert c == {
        "scorer": ["high", "low", "\\[b]x"],
        "sys Pearson [95% CI]": ["1.0000", "-0.5000 [-0.9000, 0.1000]", "–"],
        "sys SPA": ["–", "0.7500", "–"],
    }


@pytest.mark.parametrize("corrected", [True, False])
def test_significance_table_bold_at_alpha(corrected):
    raw = [[None, 0.01, 0.2], [0.99, None, 0.05], [0.8, 0.951, None]]
    fixed = [[None, 0.03, 0.4], [1.0, None, 0.1], [1.0, 1.0, None]]
    sig = {
        "names": ["a", "b", "[c]"],
        "pvalues": raw,
        "alpha": 0.05,
        "correction": "holm",
        "statistic": "acc_eq",
        "pvalues_corrected": fixed if corrected else None,
    }
    t = significance_table({"significance": sig})
    assert t.title == "p-values (holm-corrected): row better than column on acc_eq (tie-cal.)"
    c = cells(t)
    assert list(c) == ["", "a", "b", "\\[c]"]
    p = fixed if corrected else raw
    for i in range(3):
        for j, col in enumerate(["a", "b", "\\[c]"]):
            v = p[i][j]
            want = "–" if v is None else (f"[bold]{v:.3f}[/bold]" if v <= 0.05 else f"{v:.3f}")
            assert c[col][i] == want
    assert c[""] == ["a", "b", "\\[c]"]


def test_benchmark_table_judgebench_and_errors():
    assert benchmark_tables(RES) == []
    res = copy.deepcopy(RES)
    res["benchmark_rules"] = {
        "m1": {
            "rule": "JudgeBench (both orders)",
            "overall": 0.6,
            "ties": "judgebench",
            "n_pairs": 30,
            "source_counts": {"knowledge": 9, "math": 7},
            "sources": {"knowledge": 0.5, "reasoning": None, "math": 0.75, "coding": 1.0},
        },
        "m2": {"error": "no verdicts"},
    }
    (t,) = benchmark_tables(res)
    assert t.title == "toy — JudgeBench (both orders)"
    c = cells(t)
    assert c["scorer"] == ["m1", "m2"]
    assert c["overall"] == ["0.6000", "error: no verdicts"]
    assert c["knowledge"] == ["0.5000", ""]
    assert c["reasoning"] == ["–", ""]
    assert t.caption == "ties: judgebench convention; pairs: 30 overall, knowledge 9, math 7"
