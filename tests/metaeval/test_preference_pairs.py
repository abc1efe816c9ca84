"""Preference pairs from pointwise human scores, and pair accuracy on pair matrices: hand cases,
a slow loop as reference, the existing accuracy functions, determinism under a seed."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval.accuracy import pairwise_accuracy
from overcoat.metaeval.benchmarks import rewardbench_correct
from overcoat.metaeval.preference_pairs import (
    derive_preference_pairs,
    pair_accuracy,
    pair_matrix,
)
from overcoat.metaeval.resampling import bootstrap_ci, bootstrap_weights, item_weighted
from overcoat.metaeval.significance import significance_matrix

NAN = math.nan


def slow_pairs(H, min_gap, easy_gap, text=None):
    """Every (item, chosen, rejected, gap, easy) by brute force."""
    out = []
    for i, row in enumerate(H):
        for j, k in itertools.combinations(range(len(row)), 2):
            a, b = row[j], row[k]
            if math.isnan(a) or math.isnan(b):
                continue
            gap = round(abs(a - b), 9)
            if gap <= min_gap or gap == 0:
                continue
            if text is not None and text[i][j] == text[i][k]:
                continue
            c, r = (j, k) if a > b else (k, j)
            out.append((i, c, r, gap, gap >= easy_gap))
    return out


def as_tuples(d):
    return list(
        zip(
            d.item.tolist(),
            d.chosen.tolist(),
            d.rejected.tolist(),
            d.gap.tolist(),
            d.easy.tolist(),
        )
    )


def test_hand_case():
    # MQM negated: 0 best. item 0: gaps 5 (a-b), 0.5 (a-c: too small), 4.5 (c-b)
    H = np.array([[0.0, -5.0, -0.5, NAN], [-1.0, -1.0, -3.0, -10.0]])
    d = derive_preference_pairs(H, min_gap=1.0, easy_gap=5.0)
    assert as_tuples(d) == [
        (0, 0, 1, 5.0, True),
        (0, 2, 1, 4.5, False),
        (1, 0, 2, 2.0, False),
        (1, 0, 3, 9.0, True),
        (1, 1, 2, 2.0, False),
        (1, 1, 3, 9.0, True),
        (1, 2, 3, 7.0, True),
    ]
    # candidates: 3 in item 0 (the NaN cell has no pairs) + 6 in item 1; one MQM tie (-1, -1)
    assert (d.n_candidates, d.n_tied, d.n_small, d.n_pairs) == (9, 1, 1, 7)
    assert d.n_items_with_pairs == 2 and d.n_sampled_out == 0


def test_threshold_boundaries_are_exact_after_rounding():
    # 1.4 - 0.4 = 0.9999999999999999 in floats: still a gap of exactly 1
    H = np.array([[-0.4, -1.4, -2.4, -6.4]])
    assert (-0.4) - (-1.4) != 1.0
    d = derive_preference_pairs(H, min_gap=1.0, easy_gap=5.0)
    gaps = {(c, r): g for _, c, r, g, _ in as_tuples(d)}
    assert (0, 1) not in gaps  # gap exactly min_gap: not more than it
    assert gaps[(0, 2)] == 2.0 and gaps[(1, 3)] == 5.0
    easy = {(c, r): e for _, c, r, _, e in as_tuples(d)}
    assert easy[(1, 3)] is True  # gap == easy_gap is easy
    assert easy[(2, 3)] is False and easy[(0, 3)] is True  # 4 hard, 6 easy


def test_ties_are_never_pairs_even_at_zero_gap():
    H = np.array([[-2.0, -2.0, -2.0], [0.0, -0.1, -0.1]])
    d = derive_preference_pairs(H, min_gap=0.0, easy_gap=0.5)
    assert as_tuples(d) == [(1, 0, 1, 0.1, False), (1, 0, 2, 0.1, False)]
    assert d.n_tied == 4


def test_identical_texts_are_left_out_and_counted():
    H = np.array([[0.0, -5.0, -10.0]])
    text = np.array([[7, 7, 8]])
    d = derive_preference_pairs(H, text_ids=text)
    assert as_tuples(d) == [(0, 0, 2, 10.0, True), (0, 1, 2, 5.0, True)]
    assert d.n_identical == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([0.0, -0.1, -1.0, -1.1, -2.0, -5.0, -6.0, -10.0, NAN]),
            min_size=5,
            max_size=5,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    st.sampled_from([1.0, 5.0, 6.0]),
    st.booleans(),
)
def test_derivation_equals_the_slow_loop(rows, min_gap, easy_gap, with_text):
    if easy_gap <= min_gap:
        easy_gap = min_gap + 1
    H = np.array(rows)
    text = (np.arange(H.size).reshape(H.shape) % 3) if with_text else None
    d = derive_preference_pairs(H, min_gap=min_gap, easy_gap=easy_gap, text_ids=text)
    assert as_tuples(d) == slow_pairs(H, min_gap, easy_gap, text)
    assert (d.gap > min_gap).all() and (d.gap > 0).all()
    assert (H[d.item, d.chosen] > H[d.item, d.rejected]).all()


def test_sampling_is_deterministic_and_a_subset():
    rng = np.random.default_rng(5)
    H = -rng.integers(0, 12, size=(40, 8)).astype(float)
    full = set(as_tuples(derive_preference_pairs(H)))
    a = derive_preference_pairs(H, max_per_item=3, max_items=10, seed=7)
    b = derive_preference_pairs(H, max_per_item=3, max_items=10, seed=7)
    c = derive_preference_pairs(H, max_per_item=3, max_items=10, seed=8)
    assert as_tuples(a) == as_tuples(b) and as_tuples(a) != as_tuples(c)
    assert set(as_tuples(a)) <= full
    assert len(np.unique(a.item)) == 10 and np.bincount(a.item).max() <= 3
    assert a.n_pairs + a.n_sampled_out == len(full)
    # an item's sample does not depend on which other items were sampled
    only = derive_preference_pairs(H, max_per_item=3, seed=7)
    kept = set(np.unique(a.item).tolist())
    assert [t for t in as_tuples(only) if t[0] in kept] == as_tuples(a)


def test_stratified_sample_caps_each_bucket_and_is_seeded():
    rng = np.random.default_rng(3)
    H = -rng.integers(0, 15, size=(30, 6)).astype(float)
    full = as_tuples(derive_preference_pairs(H, min_gap=1.0, easy_gap=5.0))
    n_easy = sum(t[4] for t in full)
    n_hard = len(full) - n_easy
    assert n_easy > 20 and n_hard > 20
    a = derive_preference_pairs(H, max_pairs=20, seed=4)
    assert as_tuples(a) == as_tuples(derive_preference_pairs(H, max_pairs=20, seed=4))
    assert as_tuples(a) != as_tuples(derive_preference_pairs(H, max_pairs=20, seed=5))
    ta = as_tuples(a)
    # exactly 20 of each bucket, a subset of the full set, in the full set's order
    assert sum(t[4] for t in ta) == 20 and sum(not t[4] for t in ta) == 20
    assert [t for t in full if t in set(ta)] == ta
    assert (a.n_easy_found, a.n_hard_found) == (n_easy, n_hard)
    assert a.n_pairs + a.n_sampled_out == len(full) and a.max_pairs == 20
    # the slow reference: each bucket's sample is rng([seed, easy]).choice over its pairs in order
    for flag in (True, False):
        pos = [t for t in full if t[4] == flag]
        pick = np.random.default_rng([4, int(flag)]).permutation(len(pos))[:20]
        assert sorted(pos[i] for i in pick.tolist()) == sorted(t for t in ta if t[4] == flag)
    # a larger sample under the same seed contains the smaller one
    assert set(ta) <= set(as_tuples(derive_preference_pairs(H, max_pairs=30, seed=4)))
    # a bucket no larger than the cap is kept whole; the other bucket's sample is unchanged
    b = derive_preference_pairs(H, max_pairs=n_hard, seed=4)
    assert [t for t in as_tuples(b) if not t[4]] == [t for t in full if not t[4]]
    assert sum(t[4] for t in as_tuples(b)) == min(n_hard, n_easy)


@pytest.mark.parametrize(
    "kw",
    [
        {"max_pairs": 0},
        {"min_gap": -1.0},
        {"min_gap": math.nan},
        {"easy_gap": 1.0},
        {"easy_gap": 0.5},
        {"max_per_item": 0},
        {"max_items": 1.5},
    ],
)
def test_bad_settings(kw):
    with pytest.raises(ValueError):
        derive_preference_pairs(np.zeros((2, 3)), **kw)


def test_pair_matrix_layout():
    M = pair_matrix([2, 0, 2, 2], [1.0, 2.0, 3.0, 4.0], 4)
    np.testing.assert_array_equal(
        M,
        [[2.0, NAN, NAN], [NAN, NAN, NAN], [1.0, 3.0, 4.0], [NAN, NAN, NAN]],
    )


def slow_accuracy(dh, dm, ties):
    num = den = 0.0
    for h, m in zip(dh, dm):
        den += 1
        if math.isnan(m):
            continue
        if m == 0:
            num += 0.5 if ties == "half" else 0.0
        elif (m > 0) == (h > 0):
            num += 1
    return num / den


def test_pair_accuracy_hand_case():
    # segment 0: right, wrong, tie; segment 1: right, missing
    dh = pair_matrix([0, 0, 0, 1, 1], [5.0, 2.0, 3.0, 9.0, 1.5])
    dm = pair_matrix([0, 0, 0, 1, 1], [0.3, -1.0, 0.0, 2.0, NAN])
    assert pair_accuracy(dh, dm).statistic == pytest.approx(2 / 5)
    assert pair_accuracy(dh, dm, ties="half").statistic == pytest.approx(2.5 / 5)
    r = pair_accuracy(dh, dm)
    assert (r.n_pairs, r.n_groups, r.n_dropped) == (5, 2, 0)
    # weights = segment multiplicities: segment 1 twice
    assert pair_accuracy(dh, dm, weights=[1, 2]).statistic == pytest.approx((1 + 2) / 7)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.sampled_from([0.5, 1.0, 5.0, -2.0]),
            st.sampled_from([-1.0, 0.0, 0.5, 2.0, NAN]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["strict", "half"]),
)
def test_pair_accuracy_equals_slow_loop_and_weights_repeat_segments(pairs, ties):
    g = np.array([p[0] for p in pairs])
    dh_v = np.array([p[1] for p in pairs])
    dm_v = np.array([p[2] for p in pairs])
    dh, dm = pair_matrix(g, dh_v, 5), pair_matrix(g, dm_v, 5)
    assert pair_accuracy(dh, dm, ties=ties).statistic == pytest.approx(
        slow_accuracy(dh_v, dm_v, ties)
    )
    # integer weights = the segments repeated (what a bootstrap resample is)
    w = np.array([0, 1, 2, 3, 1])
    rep = np.repeat(np.arange(5), w)
    sel = np.concatenate([np.flatnonzero(g == s) for s in rep]) if rep.size else np.array([], int)
    want = slow_accuracy(dh_v[sel], dm_v[sel], ties) if sel.size else math.nan
    got = pair_accuracy(dh, dm, ties=ties, weights=w).statistic
    assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want)
    W = np.stack([w, np.ones(5)])
    two = pair_accuracy(dh, dm, ties=ties, weights=W).statistic
    assert two.shape == (2,)
    assert two[1] == pytest.approx(slow_accuracy(dh_v, dm_v, ties))


def test_pair_accuracy_agrees_with_rewardbench_and_pairwise_accuracy():
    rng = np.random.default_rng(0)
    n = 200
    chosen, rejected = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
    seg = rng.integers(0, 30, n)
    dh = pair_matrix(seg, np.full(n, 2.0), 30)
    dm = pair_matrix(seg, chosen - rejected, 30)
    # RewardBench: chosen strictly above rejected
    rb = rewardbench_correct(chosen, rejected).mean()
    assert pair_accuracy(dh, dm).statistic == pytest.approx(rb)
    # the matrix-form pairwise accuracy of one pair per row, pooled over pairs (ties: strict / half)
    H2 = np.stack([np.ones(n), np.zeros(n)], axis=1)
    M2 = np.stack([chosen, rejected], axis=1)
    for ties in ("strict", "half"):
        pa = pairwise_accuracy(H2, M2, ties=ties, group="item").statistic
        assert pair_accuracy(dh, dm, ties=ties).statistic == pytest.approx(pa)


def test_segment_bootstrap_equals_resampled_segments():
    rng = np.random.default_rng(1)
    n = 120
    seg = rng.integers(0, 15, n)
    dh_v = np.ones(n)
    dm_v = rng.normal(size=n) + 0.3
    dh, dm = pair_matrix(seg, dh_v, 15), pair_matrix(seg, dm_v, 15)
    stat = item_weighted(pair_accuracy)
    b = bootstrap_ci(stat, dh, dm, n_resamples=50, seed=3)
    W = np.concatenate(list(bootstrap_weights(15, 50, seed=3)))
    slow = []
    for w in W:
        sel = np.concatenate(
            [np.flatnonzero(seg == s) for s in np.repeat(np.arange(15), w.astype(int))]
        )
        slow.append(slow_accuracy(dh_v[sel], dm_v[sel], "strict"))
    lo, hi = np.quantile(slow, [0.025, 0.975])
    assert b.confidence_interval == pytest.approx((lo, hi))


def test_significance_between_scorers_swaps_whole_segments():
    rng = np.random.default_rng(2)
    n = 300
    seg = rng.integers(0, 40, n)
    dh = pair_matrix(seg, np.ones(n), 40)
    good = pair_matrix(seg, rng.normal(size=n) + 1.0, 40)
    bad = pair_matrix(seg, rng.normal(size=n), 40)
    sm = significance_matrix(
        item_weighted(pair_accuracy), dh, {"good": good, "bad": bad}, n_resamples=200, seed=0
    )
    assert sm.pvalues[0, 1] < 0.01 < 0.5 < sm.pvalues[1, 0]
    assert sm.clusters(0.05).named() == [["good"], ["bad"]]
