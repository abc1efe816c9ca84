"""Each benchmark is one object: the loader writes its format, the object finds the data fields
its rule reads, and its rule inputs come out of the matrix in the benchmark's own order."""

import json

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.data import benchmark_fields as bf
from overcoat.data.loaders import parse_rewardbench2_rows
from overcoat.data.scored import ScoredDataset
from overcoat.errors import SettingError
from overcoat.evaluation import BENCHMARKS, MetaEvalSettings, benchmark_of, meta_evaluate

FIX = "tests/data/fixtures"


@pytest.mark.parametrize(
    "spec, fmt, has_rule",
    [
        (f"rewardbench:{FIX}/rewardbench.jsonl", "rewardbench", True),
        (f"rewardbench2:{FIX}/rewardbench2.jsonl", "rewardbench2", True),
        (f"rmbench:{FIX}/rmbench.json", "rmbench", True),
        (f"judgebench:{FIX}/judgebench.jsonl", "judgebench", True),
        (f"hh-rlhf:{FIX}/hh_rlhf.jsonl", "hh-rlhf", False),
        (f"{FIX}/pairwise.jsonl", "pairwise", False),
        (f"{FIX}/pointwise.jsonl", "pointwise", False),
        ("ted-ende", "pointwise", False),
    ],
)
def test_loader_format_names_its_benchmark(spec, fmt, has_rule):
    ds = api.load(spec)
    bm = benchmark_of(ds)
    assert bm is BENCHMARKS[fmt] and bm.format == fmt and bm.has_rule == has_rule
    # preference data: pairwise judgments, or the graded best-of-n benchmarks
    pairwise = ds.judgments.kind == "pairwise"
    assert bm.is_preference(ds) == (pairwise or fmt in ("rewardbench2", "rmbench"))
    # every fixed response id the benchmark names is a response of every item
    cols = ds.layout().column_ids
    for rid in bm.data.responses:
        if not rid.endswith("-k"):
            assert rid in cols, rid
    if fmt == "rewardbench2":
        assert any(c.startswith("chosen-") for c in cols)
        assert any(c.startswith("rejected-") for c in cols)


def test_rewardbench2_inputs_in_numeric_response_order():
    """chosen-k first, then rejected-k, each in k order as numbers (rejected-10 after
    rejected-9, not after rejected-1), NaN where an item has fewer answers."""
    rows = [
        (
            1,
            {
                "id": "a",
                "prompt": "p",
                "chosen": ["c0"],
                "rejected": [f"r{k}" for k in range(11)],
                "subset": "Math",
            },
        ),
        (
            2,
            {
                "id": "b",
                "prompt": "q",
                "chosen": ["c0", "c1"],
                "rejected": ["r0"],
                "num_correct": 2,
                "subset": "Ties",
            },
        ),
    ]
    ds = parse_rewardbench2_rows(rows)
    cols = ds.layout().column_ids
    # a scorer that gives response "kind-k" the score +k (chosen) / -k-1 (rejected)
    M = np.full((2, len(cols)), np.nan)
    ids = ds.responses.column("response_id").to_pylist()
    items = ds.responses.column("item_id").to_pylist()
    for it, rid in zip(items, ids):
        kind, k = rid.split("-")
        M[["a", "b"].index(it), cols.index(rid)] = int(k) if kind == "chosen" else -int(k) - 1
    x = bf.REWARDBENCH2.inputs(ds, cols, M)
    # the slow, obvious reference: build each row in the published order by hand
    want = np.full((2, 2 + 11), np.nan)
    want[0, :1] = [0]
    want[0, 2:] = [-k - 1 for k in range(11)]
    want[1, :2] = [0, 1]
    want[1, 2:3] = [-1]
    np.testing.assert_array_equal(x.scores, want)
    assert list(x.subsets) == ["Math", "Ties"] and list(x.num_correct) == [1, 2]
    assert x.ids == ["a", "b"]


def test_judgebench_labels_come_from_the_judgments():
    ds = api.load(f"judgebench:{FIX}/judgebench.jsonl")
    rows = [json.loads(line) for line in open(f"{FIX}/judgebench.jsonl")]
    cols = ds.layout().column_ids
    x = bf.JUDGEBENCH.inputs(ds, cols, np.zeros((ds.n_items, len(cols))))
    by_id = {r["pair_id"]: r for r in rows}
    order = ds.items.column("item_id").to_pylist()
    assert x.labels == [by_id[i]["label"] for i in order]
    assert x.sources == [by_id[i]["source"] for i in order]


def test_prior_sets_only_for_rewardbench_names_the_parameter(capsys):
    sc = api.score(api.load(f"judgebench:{FIX}/judgebench.jsonl"), ["length"], progress=False)
    with pytest.raises(SettingError) as e:
        meta_evaluate(sc, MetaEvalSettings(n_resamples=10), prior_sets=sc)
    assert str(e.value) == "prior_sets applies to RewardBench v1 data only"
    code = main(
        [
            "meta-eval",
            "--data",
            f"judgebench:{FIX}/judgebench.jsonl",
            "-s",
            "length",
            "--prior-sets",
            f"judgebench:{FIX}/judgebench.jsonl",
            "--no-cache",
            "-q",
        ]
    )
    assert code == 2
    assert (
        "overcoat: error: --prior-sets applies to RewardBench v1 data only"
        in capsys.readouterr().err
    )


def test_benchmark_without_rule_gives_no_rule_scores():
    ds = api.load(f"hh-rlhf:{FIX}/hh_rlhf.jsonl")
    sc = api.score(ds, ["length"], progress=False)
    res = meta_evaluate(sc, MetaEvalSettings(n_resamples=10, significance=False))
    assert res.benchmark == {} and res.primary == "pairwise_accuracy_strict"
    assert isinstance(sc, ScoredDataset) and api.ScoredDataset is ScoredDataset
