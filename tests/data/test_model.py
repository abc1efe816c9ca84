"""Data model conversions against slow, obviously-correct references."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.data.builder import DatasetBuilder


def _build(rows):
    b = DatasetBuilder("t")
    items = sorted({r[0] for r in rows})
    for i in items:
        b.add_item(i, f"input {i}")
    seen = set()
    for item, resp, rater, score in rows:
        if (item, resp) not in seen:
            b.add_response(item, resp, f"text {item} {resp}")
            seen.add((item, resp))
        b.add_score(item, resp, score, rater=rater)
    return b.build()


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["i1", "i2", "i3"]),
        st.sampled_from(["A", "B", "C", "D"]),
        st.sampled_from(["r1", "r2"]),
        st.integers(-3, 3).map(float),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda r: (r[0], r[1], r[2]),
)


@settings(max_examples=60, deadline=None)
@given(rows_strategy)
def test_to_pairwise_equals_naive_loop(rows):
    ds = _build(rows)
    # reference: mean over raters, then every unordered pair within an item
    means = {}
    for item, resp, _, score in rows:
        means.setdefault((item, resp), []).append(score)
    means = {k: np.mean(v) for k, v in means.items()}
    expected = set()
    for item in {k[0] for k in means}:
        resps = [r for (i, r) in means if i == item]
        for a, b in itertools.combinations(resps, 2):
            sa, sb = means[(item, a)], means[(item, b)]
            lab = "a" if sa > sb else "b" if sb > sa else "tie"
            expected.add(
                frozenset([(item, a, b, lab), (item, b, a, {"a": "b", "b": "a"}.get(lab, lab))])
            )
    got = set()
    for r in ds.judgments.to_pairwise().table.to_pylist():
        lab = r["label"]
        flip = {"a": "b", "b": "a"}.get(lab, lab)
        got.add(
            frozenset(
                [
                    (r["item_id"], r["response_a"], r["response_b"], lab),
                    (r["item_id"], r["response_b"], r["response_a"], flip),
                ]
            )
        )
    assert got == expected
    # per rater: one preference per pair of responses the same rater scored
    per = ds.judgments.to_pairwise(per_rater=True).table
    by_rater = {}
    for item, resp, rater, _ in rows:
        by_rater.setdefault((item, rater), []).append(resp)
    assert per.num_rows == sum(len(v) * (len(v) - 1) // 2 for v in by_rater.values())


def test_pairwise_to_pointwise_is_win_rate():
    b = DatasetBuilder("p")
    b.add_item("x", "prompt")
    for r in ("A", "B", "C"):
        b.add_response("x", r, f"resp {r}")
    b.add_preference("x", "A", "B", "a")
    b.add_preference("x", "A", "C", "tie")
    b.add_preference("x", "B", "C", "b")
    ds = b.build()
    pts = {r["response_id"]: r["score"] for r in ds.judgments.to_pointwise().table.to_pylist()}
    assert pts == {"A": 0.75, "B": 0.0, "C": 0.75}
    h = ds.human_matrix()
    assert h.shape == (1, 3) and list(h[0]) == [0.75, 0.0, 0.75]
