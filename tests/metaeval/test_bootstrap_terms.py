"""The bootstrap's per-item sufficient-statistics path equals the generic weights path.

``bootstrap_ci`` / ``paired_bootstrap_ci`` evaluate item-grouped pair statistics and correlations from two
per-item sums per resample instead of calling the statistic with a (B, n_items) weight matrix. The reference
here is the generic path (``_bootstrap_distribution``: bootstrap multiplicity weights passed to the statistic
itself) and a literal loop over ``np.repeat``-ed resamples.
"""

from __future__ import annotations

import numpy as np
import pytest

from overcoat.metaeval import resampling as R
from overcoat.metaeval.accuracy import acc_eq, pairwise_accuracy, tie_calibrated_accuracy
from overcoat.metaeval.correlation import kendall_tau, pearson, spearman

CASES = [
    (pairwise_accuracy, {}),
    (pairwise_accuracy, {"ties": "half", "epsilon": 0.3, "average": "pairs"}),
    (acc_eq, {"epsilon": 0.2}),
    (kendall_tau, {"variant": "b"}),
    (kendall_tau, {"variant": "c"}),
    (kendall_tau, {"variant": "23", "epsilon": 0.1, "average": "pairs"}),
    (pearson, {}),
    (spearman, {}),
]


def _data(seed=0, n=120, r=5):
    rng = np.random.default_rng(seed)
    h = np.round(rng.normal(size=(n, r)))
    m = np.round(rng.normal(size=(n, r)), 1)
    m[rng.random(m.shape) < 0.1] = np.nan
    h[:3] = 0.0  # items whose statistic is undefined (all gold ties)
    return h, m


@pytest.mark.parametrize(("func", "kw"), CASES)
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_terms_path_equals_weights_path(func, kw, method):
    h, m = _data()
    st = R.item_weighted(func, **kw)
    assert R._item_terms(st, h, m) is not None  # the fast path is taken
    got = R.bootstrap_ci(st, h, m, n_resamples=300, seed=5, method=method)
    ref = R._bootstrap_distribution(st, h, m, 300, 5, None)
    np.testing.assert_allclose(got.bootstrap_distribution, ref, rtol=0, atol=1e-13)
    if method == "bca":
        u, v = R._item_terms(st, h, m)
        jack = R.jackknife_values(st, h, m)
        np.testing.assert_allclose(R._terms_jackknife(u, v, None, 5), jack, rtol=0, atol=1e-13)
        jg = R.jackknife_values(st, h, m, groups=7, seed=5)
        np.testing.assert_allclose(R._terms_jackknife(u, v, 7, 5), jg, rtol=0, atol=1e-13)


def test_binary_terms_bit_identical_and_loop_reference():
    """Preference pairs (RewardBench form): per-item values are 0/1, sums are exact, so the distribution is
    bit-identical to the weights path, and equal to a literal loop over materialised resamples."""
    rng = np.random.default_rng(1)
    n = 500
    h = np.tile([1.0, 0.0], (n, 1))
    m = np.column_stack([rng.normal(0.3, 1, n), rng.normal(0, 1, n)])
    m[:20, 1] = m[:20, 0]  # metric ties: wrong under ties="strict"
    st = R.item_weighted(pairwise_accuracy, group="item")
    res = R.bootstrap_ci(st, h, m, n_resamples=200, seed=3)
    assert np.array_equal(
        res.bootstrap_distribution, R._bootstrap_distribution(st, h, m, 200, 3, None)
    )
    draws = np.random.default_rng(3)
    loop = []
    for _ in range(200):
        idx = draws.integers(0, n, n)
        mm = m[idx]
        loop.append(np.mean(mm[:, 0] > mm[:, 1]))
    np.testing.assert_allclose(res.bootstrap_distribution, loop, rtol=0, atol=1e-15)


def test_paired_terms_path_equals_weights_path():
    h, m = _data(2)
    _, m2 = _data(3)
    st = R.item_weighted(kendall_tau, variant="b")
    got = R.paired_bootstrap_ci(st, h, m, m2, n_resamples=200, seed=1, method="bca")
    generic = R.item_weighted(
        lambda a, b, weights=None: kendall_tau(a, b, variant="b", weights=weights)
    )
    assert R._item_terms(generic, h, m) is None  # an unknown function takes the weights path
    ref = R.paired_bootstrap_ci(generic, h, m, m2, n_resamples=200, seed=1, method="bca")
    np.testing.assert_allclose(
        got.bootstrap_distribution, ref.bootstrap_distribution, rtol=0, atol=1e-13
    )
    assert got.confidence_interval == pytest.approx(ref.confidence_interval, abs=1e-12)
    assert got.acceleration == pytest.approx(ref.acceleration, abs=1e-9)


def test_not_linear_statistics_keep_weights_path():
    h, m = _data()
    for st in (
        R.item_weighted(kendall_tau, group="none"),
        R.item_weighted(pairwise_accuracy, group="system"),
        R.item_weighted(tie_calibrated_accuracy, group="item", sample_rate=0.5),
        R.materialized(lambda a, b: float(np.nanmean(a - b))),
    ):
        assert R._item_terms(st, h, m) is None
