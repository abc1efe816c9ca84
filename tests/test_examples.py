"""Every example file in examples/ (one per input shape the README documents) loads as documented,
and every example scores file matches its data in full."""

import json
from pathlib import Path

import pytest

from overcoat import api
from overcoat.data.scores_file import read_scores_file
from overcoat.data.spec import load_data

EX = Path(__file__).resolve().parents[1] / "examples"


def test_every_example_is_covered():
    assert sorted(p.name for p in EX.iterdir()) == sorted(
        list(DATA) + ["mapped.csv", "scores_hashed.jsonl", "scores_long.jsonl", "scores_wide.jsonl"]
    )


# file -> (item ids, response ids of the first item, judgment kind, number of judgments)
DATA = {
    "pairwise.jsonl": (["q1", "q2", "q3"], ["chosen", "rejected"], "pairwise", 3),
    "pairwise.json": (["1", "2", "3"], ["chosen", "rejected"], "pairwise", 3),
    "pairwise_ab.jsonl": (["1", "2", "3"], ["a", "b"], "pairwise", 3),
    "pairwise_chat.jsonl": (["1", "2"], ["chosen", "rejected"], "pairwise", 2),
    "pointwise.jsonl": (["s1", "s2"], ["sysA", "sysB", "sysC"], "pointwise", 6),
    "pointwise_raters.csv": (["s1"], ["sysA", "sysB", "sysC"], "pointwise", 6),
}


@pytest.mark.parametrize("name", list(DATA))
def test_example_data_loads(name):
    ids, first_resp, kind, n_judg = DATA[name]
    ds = load_data(str(EX / name))
    assert ds.items.column("item_id").to_pylist() == ids
    rt = ds.responses
    assert [
        r
        for i, r in zip(rt.column("item_id").to_pylist(), rt.column("response_id").to_pylist())
        if i == ids[0]
    ] == first_resp
    assert ds.judgments.kind == kind and ds.judgments.table.num_rows == n_judg


def test_example_details():
    ab = load_data(str(EX / "pairwise_ab.jsonl")).judgments.table
    assert ab.column("label").to_pylist() == ["a", "b", "tie"]
    chat = load_data(str(EX / "pairwise_chat.jsonl"))
    assert json.loads(chat.items.column("messages")[0].as_py())[-1] == {
        "role": "user",
        "content": "Recommend a book.",
    }
    assert chat.responses.column("text").to_pylist()[:2] == ["Try 'The Hobbit'.", "No."]
    pw = load_data(str(EX / "pointwise.jsonl"))
    assert pw.items.column("references").to_pylist() == [
        ["The dog is sleeping."],
        ["It is raining."],
    ]
    raters = load_data(str(EX / "pointwise_raters.csv")).judgments.table
    assert raters.column("rater").to_pylist() == ["r1", "r2"] * 3
    assert raters.column("score").to_pylist() == [4.5, 3.5, 5.0, 4.0, 2.0, 1.0]


def test_mapped_example():
    ds = load_data(
        str(EX / "mapped.csv"), mapping={"prompt": "question", "chosen": "good", "rejected": "bad"}
    )
    assert ds.items.column("input").to_pylist()[0] == "What is the capital of France?"
    assert ds.responses.column("text").to_pylist()[:2] == [
        "Paris.",
        "Lyon, the largest city of France.",
    ]


@pytest.mark.parametrize(
    "scores,data,name,expected",
    [
        ("scores_long.jsonl", "pointwise.jsonl", "len10", [1.5, 2.0, 1.0, 0.9, 1.4, 0.8]),
        ("scores_hashed.jsonl", "pairwise.json", "words", [1.0, 6.0, 1.0, 1.0, 8.0, 1.0]),
        (
            "scores_wide.jsonl",
            "pairwise.json",
            "scores_wide",
            [-6.0, -33.0, -7.0, -4.0, -36.0, -3.0],
        ),
        (
            "scores_wide.jsonl",
            "pairwise.jsonl",
            "scores_wide",
            [-6.0, -33.0, -7.0, -4.0, -36.0, -3.0],
        ),
    ],
)
def test_example_scores_match_in_full(scores, data, name, expected):
    read_scores_file(EX / scores)
    scored = api.score(
        load_data(str(EX / data)), [f"scores:{EX / scores}"], cache=None, progress=False
    )
    assert scored.scores[name].tolist() == expected
    assert scored.stats[name]["notes"] == []
