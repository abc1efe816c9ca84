"""Best-of-n estimator: exact enumeration of every n-subset on small pools, KL formula, CIs."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval.best_of_n import best_of_n_curve, best_of_n_kl, best_of_n_weights


def brute_force(proxy_row, gold_row, n):
    """Mean over all n-subsets of the gold score of the proxy's pick (ties: mean over tied maxima)."""
    idx = [
        i
        for i in range(len(proxy_row))
        if not (math.isnan(proxy_row[i]) or math.isnan(gold_row[i]))
    ]
    vals, pvals = [], []
    for sub in itertools.combinations(idx, n):
        best = max(proxy_row[i] for i in sub)
        tied = [i for i in sub if proxy_row[i] == best]
        vals.append(sum(gold_row[i] for i in tied) / len(tied))
        pvals.append(best)
    return sum(vals) / len(vals), sum(pvals) / len(pvals)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(2, 7), st.data())
def test_equals_enumeration_of_all_subsets(n_items, m, data):
    proxy = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, 4), min_size=m, max_size=m),
                min_size=n_items,
                max_size=n_items,
            )
        ),
        float,
    )
    gold = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(-3, 3), min_size=m, max_size=m),
                min_size=n_items,
                max_size=n_items,
            )
        ),
        float,
    )
    if data.draw(st.booleans()):  # a missing candidate in the first item
        proxy[0, 0] = np.nan
    n_max = int(np.isfinite(proxy).sum(axis=1).min())
    r = best_of_n_curve(proxy, gold, n_max=n_max, n_resamples=0)
    for n in range(1, n_max + 1):
        bf = [brute_force(proxy[i], gold[i], n) for i in range(n_items)]
        assert r.gold[n - 1] == pytest.approx(np.mean([b[0] for b in bf]), abs=1e-9)
        assert r.proxy[n - 1] == pytest.approx(np.mean([b[1] for b in bf]), abs=1e-9)
    assert np.all(np.diff(r.proxy) >= -1e-12)  # the proxy's own score never falls


def test_weights_and_kl():
    w = best_of_n_weights(5, 5)
    assert w[0] == pytest.approx(np.full(5, 0.2))
    assert w[4] == pytest.approx([0, 0, 0, 0, 1])
    # n = 2 of m = 4: r-th smallest is the max of a pair with prob (r-1)/6
    assert best_of_n_weights(4, 2)[1] == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6])
    assert best_of_n_kl([1, 2, 4]) == pytest.approx([0, math.log(2) - 0.5, math.log(4) - 0.75])


def test_over_optimisation_is_detected_with_peak_and_crossing():
    # gold rises with proxy up to a point, then falls: the proxy's top candidates are "hacks"
    proxy = np.tile(np.arange(10.0), (50, 1))
    gold = np.tile([0, 1, 2, 3, 4, 5, 6, 7, 5, 1.0], (50, 1))
    gold = gold + np.random.default_rng(0).normal(0, 0.1, size=gold.shape)
    r = best_of_n_curve(proxy, gold, n_resamples=200, seed=1)
    assert r.n_items == 50 and r.n_dropped == 0
    assert 1 < r.peak_n < 10
    assert r.n_below_start is not None and r.n_below_start > r.peak_n
    assert r.gold[r.n_below_start - 1] < r.gold[0] <= r.gold[r.n_below_start - 2]
    assert np.all(r.gold_ci[0] <= r.gold + 1e-12) and np.all(r.gold + 1e-12 >= r.gold_ci[0])
    again = best_of_n_curve(proxy, gold, n_resamples=200, seed=1)
    assert np.array_equal(again.gold_ci, r.gold_ci)


def test_small_pools_are_dropped_and_counted_and_bad_input_errors():
    proxy = np.array([[1, 2, 3], [1, 2, np.nan]], float)
    gold = np.array([[1, 2, 3], [3, 2, 1]], float)
    r = best_of_n_curve(proxy, gold, n_max=3, n_resamples=0)
    assert r.n_items == 1 and r.n_dropped == 1
    assert r.gold[-1] == 3.0
    with pytest.raises(ValueError, match="n_max"):
        best_of_n_curve(proxy, gold, n_max=4)
    with pytest.raises(ValueError, match="one shape"):
        best_of_n_curve(proxy, gold[:, :2])
