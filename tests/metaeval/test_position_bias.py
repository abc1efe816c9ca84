"""Position bias from verdicts in both orders: hand cases, a slow reference loop, a simulated judge
with a known bias, and the identities between the quantities."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval._util import percentile_interval
from overcoat.metaeval.position_bias import position_bias


def test_hand_cases():
    # p_ab = P(A better | A first), p_ba = P(B better | B first); human: + = A preferred
    # pair 1: A, then A (consistent, right)      pair 2: A, then B = first both times (flip)
    # pair 3: B, then A = second both times      pair 4: tie, then A
    p_ab = [0.9, 1.0, 0.0, 0.5]
    p_ba = [0.2, 1.0, 0.0, 0.0]
    human = [1, -1, 1, 1]
    r = position_bias(p_ab, p_ba, human, n_resamples=0)
    assert r.consistency.statistic == pytest.approx(1 / 4)
    assert r.flip_rate.statistic == pytest.approx(2 / 4)
    assert r.prefers_first_both.statistic == pytest.approx(1 / 4)
    assert r.prefers_second_both.statistic == pytest.approx(1 / 4)
    # first chosen: pair1 1,0  pair2 1,1  pair3 0,0  pair4 1/2,0 -> 3.5 of 8
    assert r.first_position_rate.statistic == pytest.approx(3.5 / 8)
    assert r.mean_p_first.statistic == pytest.approx(np.mean(p_ab + p_ba))
    # preferred shown first: pair1 order 1 (A) right; pair2 order 2 (B first) says B right;
    # pair3 order 1 says B wrong; pair4 order 1 tie -> wrong (strict)
    assert r.accuracy_preferred_first.statistic == pytest.approx(2 / 4)
    # preferred shown second: pair1 order 2 says A right; pair2 order 1 says A wrong;
    # pair3 order 2 says A right; pair4 order 2 says A right
    assert r.accuracy_preferred_second.statistic == pytest.approx(3 / 4)
    # averaged: 0.5(p_ab + 1 - p_ba) = 0.85, 0.5, 0.5, 0.75 -> right, tie, tie, right
    assert r.accuracy_both_orders.statistic == pytest.approx(2 / 4)
    half = position_bias(p_ab, p_ba, human, ties="half", n_resamples=0)
    assert half.accuracy_preferred_first.statistic == pytest.approx(2.5 / 4)
    assert half.accuracy_both_orders.statistic == pytest.approx(3 / 4)
    assert r.n_pairs == 4 and r.n_missing == 0 and r.consistency.confidence_interval is None


def test_missing_and_no_human():
    r = position_bias([1.0, np.nan, 0.0], [0.0, 1.0, 1.0], n_resamples=10)
    assert r.n_pairs == 2 and r.n_missing == 1
    assert np.isnan(r.accuracy_preferred_first.statistic)
    assert r.accuracy_preferred_first.n_pairs == 0
    assert r.accuracy_preferred_first.confidence_interval is None
    with pytest.raises(ValueError, match="both orders"):
        position_bias([np.nan], [0.5])
    with pytest.raises(ValueError, match="entries"):
        position_bias([0.5, 0.5], [0.5])


def _reference(p_ab, p_ba, human):
    """Slow, obvious loop."""
    n = cons = flip = 0
    first = 0.0
    acc_f, acc_s, n_h = 0.0, 0.0, 0

    def winner(p, first_is):  # first_is: the response shown first
        other = "B" if first_is == "A" else "A"
        return first_is if p > 0.5 else other if p < 0.5 else "tie"

    for x, y, h in zip(p_ab, p_ba, human):
        if np.isnan(x) or np.isnan(y):
            continue
        n += 1
        v1, v2 = winner(x, "A"), winner(y, "B")
        cons += v1 == v2
        flip += v1 != "tie" and v2 != "tie" and v1 != v2
        for p in (x, y):
            first += 1.0 if p > 0.5 else 0.5 if p == 0.5 else 0.0
        if not np.isnan(h) and h != 0:
            n_h += 1
            pref = "A" if h > 0 else "B"
            v_pref_first, v_pref_second = (v1, v2) if pref == "A" else (v2, v1)
            acc_f += v_pref_first == pref
            acc_s += v_pref_second == pref
    return cons / n, flip / n, first / (2 * n), acc_f / n_h, acc_s / n_h


def _judge(truth, bias, rng):
    """Asked with X first: picks the first shown with probability ``bias``, else the truth."""
    n = truth.size
    p_ab = np.where(rng.random(n) < bias, 1.0, np.where(truth > 0, 1.0, 0.0))
    p_ba = np.where(rng.random(n) < bias, 1.0, np.where(truth < 0, 1.0, 0.0))
    return p_ab, p_ba


def test_equals_the_loop_and_its_bootstrap():
    rng = np.random.default_rng(4)
    n = 60
    p_ab = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], n)
    p_ba = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], n)
    p_ab[3] = np.nan
    human = rng.choice([-1.0, 0.0, 1.0, np.nan], n)
    groups = np.arange(n) // 3
    r = position_bias(p_ab, p_ba, human, groups=groups, n_resamples=40, seed=9)
    ref = _reference(p_ab, p_ba, human)
    got = (
        r.consistency.statistic,
        r.flip_rate.statistic,
        r.first_position_rate.statistic,
        r.accuracy_preferred_first.statistic,
        r.accuracy_preferred_second.statistic,
    )
    assert got == pytest.approx(ref, abs=1e-12)
    # the bootstrap: the r-th integers(0, G, G) of default_rng(seed) over groups, the loop again
    ok = ~np.isnan(p_ab)
    gs = np.unique(groups[ok])
    boot = np.random.default_rng(9)
    dist = []
    for _ in range(40):
        draw = gs[boot.integers(0, gs.size, gs.size)]
        rows = np.concatenate([np.flatnonzero((groups == g) & ok) for g in draw])
        dist.append(_reference(p_ab[rows], p_ba[rows], human[rows]))
    dist = np.array(dist)
    for i, e in enumerate(
        (r.consistency, r.flip_rate, r.first_position_rate, r.accuracy_preferred_first)
    ):
        assert e.confidence_interval == pytest.approx(percentile_interval(dist[:, i], 0.95))


def test_simulated_judge_with_a_known_position_bias():
    # bias b: consistent with probability 1 - b, flips with b, first-position rate 1/2 + b/2,
    # right on every pair when the preferred response is shown first, on 1 - b otherwise
    rng = np.random.default_rng(0)
    truth = rng.choice([-1.0, 1.0], 4000)
    for b in (0.0, 0.3):
        p_ab, p_ba = _judge(truth, b, rng)
        r = position_bias(p_ab, p_ba, truth, n_resamples=200, seed=1)
        for e, expected in (
            (r.consistency, 1 - b),
            (r.flip_rate, b),
            (r.first_position_rate, 0.5 + b / 2),
            (r.prefers_first_both, b),
            (r.prefers_second_both, 0.0),
            (r.accuracy_preferred_first, 1.0),
            (r.accuracy_preferred_second, 1 - b),
        ):
            lo, hi = e.confidence_interval
            assert lo - 1e-12 <= expected <= hi + 1e-12, (b, e, expected)
        if b == 0:
            assert r.consistency.statistic == 1.0 and r.first_position_rate.statistic == 0.5


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]), st.sampled_from([0.0, 0.5, 1.0])),
        min_size=1,
        max_size=12,
    )
)
def test_identities(pairs):
    x = [a for a, _ in pairs]
    y = [b for _, b in pairs]
    r = position_bias(x, y, n_resamples=0)
    one_tie = np.mean([(a == 0.5) != (b == 0.5) for a, b in pairs])
    assert r.consistency.statistic + r.flip_rate.statistic + one_tie == pytest.approx(1.0)
    assert r.flip_rate.statistic == pytest.approx(
        r.prefers_first_both.statistic + r.prefers_second_both.statistic
    )
    # swapping the roles of A and B leaves every order-free quantity unchanged
    s = position_bias(y, x, n_resamples=0)
    assert s.consistency.statistic == pytest.approx(r.consistency.statistic)
    assert s.first_position_rate.statistic == pytest.approx(r.first_position_rate.statistic)
