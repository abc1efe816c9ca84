"""Pointwise <-> pairwise conversions on loaded data, and format round trips."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.data.loaders import load_file, load_mtme
from overcoat.data.model import PAIRWISE, POINTWISE


def _pairs(ds):
    t = ds.judgments.to_pairwise().table
    return sorted(
        zip(
            t.column("item_id").to_pylist(),
            t.column("response_a").to_pylist(),
            t.column("response_b").to_pylist(),
            t.column("label").to_pylist(),
        )
    )


def test_pointwise_to_pairwise_on_multi_rater_data(fixtures):
    ds = load_file(fixtures / "pointwise.jsonl")
    assert ds.judgments.kind == POINTWISE
    # means over raters: q1 sysA 4.5 > sysB 1.5; q2 sysA 5 > sysB 1 (sysC unscored: no pair)
    assert _pairs(ds) == [("q1", "sysA", "sysB", "a"), ("q2", "sysA", "sysB", "a")]
    per_rater = ds.judgments.to_pairwise(per_rater=True).table
    assert sorted(
        zip(per_rater.column("item_id").to_pylist(), per_rater.column("rater").to_pylist())
    ) == [("q1", "r1"), ("q1", "r2"), ("q2", "r1")]
    # and back: win rates 1 / 0
    back = ds.judgments.to_pairwise().to_pointwise().mean_scores()
    got = {
        (i, r): s
        for i, r, s in zip(
            back.column("item_id").to_pylist(),
            back.column("response_id").to_pylist(),
            back.column("score").to_pylist(),
        )
    }
    assert got == {
        ("q1", "sysA"): 1.0,
        ("q1", "sysB"): 0.0,
        ("q2", "sysA"): 1.0,
        ("q2", "sysB"): 0.0,
    }


def test_pairwise_to_pointwise_is_the_human_matrix(fixtures):
    ds = load_file(fixtures / "judgebench.jsonl")
    assert ds.judgments.kind == PAIRWISE
    pw = ds.judgments.to_pointwise()
    assert pw.kind == POINTWISE
    m = ds.layout().scatter(
        pw.table.column("item_id"),
        pw.table.column("response_id"),
        pw.table.column("score").to_numpy(),
    )
    np.testing.assert_array_equal(m, ds.human_matrix())
    # pairwise again: the same preferences
    again = pw.to_pairwise().table
    assert again.column("label").to_pylist() == ["a", "b"]


def test_rewardbench2_best_of_n_pairs(fixtures):
    ds = load_file(fixtures / "rewardbench2.jsonl")
    pairs = _pairs(ds)
    one = [p for p in pairs if p[0] == "rb2-1"]
    assert len(one) == 6  # 4 responses -> 6 pairs
    for _, a, b, label in one:
        ka, kb = a.split("-")[0], b.split("-")[0]
        assert label == ("tie" if ka == kb else ("a" if ka == "chosen" else "b"))
    ties = [p for p in pairs if p[0] == "rb2-2" and p[3] == "tie"]
    assert len(ties) == 3 + 1  # chosen-chosen (3 pairs) and rejected-rejected (1 pair)


def test_mtme_pairwise_ties_and_order(fixtures):
    ds = load_mtme(fixtures / "mtme" / "wmt-mini", include_references=True)
    pairs = _pairs(ds)
    seg1 = {(a, b): lab for i, a, b, lab in pairs if i == "en-de:1"}
    assert seg1[("refA", "refB")] == "a"  # 0 > -1
    assert seg1[("refA", "sysA")] == "tie"  # 0 == 0
    assert seg1[("sysA", "sysB")] == "a"  # 0 > -5


rows_strategy = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.sampled_from(["s1", "s2", "s3"]),
        st.floats(-100, 100, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda t: (t[0], t[1]),
)


@settings(max_examples=30, deadline=None)
@given(rows_strategy)
def test_jsonl_csv_parquet_agree_and_pairwise_follows_scores(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("rt")
    recs = [
        {
            "item_id": f"i{i}",
            "input": f"source {i}",
            "system": s,
            "response": f"{s} out {i}",
            "score": x,
        }
        for i, s, x in rows
    ]
    (d / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    with open(d / "a.csv", "w") as f:
        f.write("item_id,input,system,response,score\n")
        for r in recs:
            f.write(f"{r['item_id']},{r['input']},{r['system']},{r['response']},{r['score']!r}\n")
    pq.write_table(pa.Table.from_pylist(recs), d / "a.parquet")
    loaded = [load_file(d / n) for n in ("a.jsonl", "a.csv", "a.parquet")]
    for ds in loaded[1:]:
        assert ds.responses.equals(loaded[0].responses)
        np.testing.assert_array_equal(ds.human_matrix(), loaded[0].human_matrix())
    ds = loaded[0]
    score = {(f"i{i}", s): x for i, s, x in rows}
    for item, a, b, label in _pairs(ds):
        sa, sb = score[(item, a)], score[(item, b)]
        assert label == ("a" if sa > sb else "b" if sb > sa else "tie")
    # back to pointwise: the win rate keeps the within-item order of the scores
    back = ds.judgments.to_pairwise().to_pointwise().mean_scores()
    win = {
        (i, r): w
        for i, r, w in zip(
            back.column("item_id").to_pylist(),
            back.column("response_id").to_pylist(),
            back.column("score").to_pylist(),
        )
    }
    for (i1, r1), w1 in win.items():
        for (i2, r2), w2 in win.items():
            if i1 == i2 and score[(i1, r1)] > score[(i2, r2)]:
                assert w1 > w2
