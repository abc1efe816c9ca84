"""Tests for overcoat.metaeval.resampling.

References below are slow and obviously correct: explicit loops over resamples that materialise each
resample with ``np.repeat``-ed / swapped rows and call a plain statistic.
"""

import math

import numpy as np
import pytest
from scipy import special, stats

from overcoat.metaeval.resampling import (
    BootstrapResult,
    ItemWeightedStatistic,
    TieCalibratedStatistic,
    _resolve,
    bca_tie_share,
    bootstrap_ci,
    bootstrap_indices,
    bootstrap_weights,
    item_weighted,
    jackknife_values,
    materialized,
    paired_bootstrap_ci,
    paired_permutation_test,
    permutation_pvalue,
    swap_masks,
    tie_calibrated_statistic,
)

nan = np.nan

# ---------------------------------------------------------------------------------------------
# a tiny weighted statistic (independent of the other metaeval modules)
# ---------------------------------------------------------------------------------------------


def _per_item_accuracy(h, m):
    """Per item: share of human-preference pairs the metric orders the same way (metric tie = wrong)."""
    n, r = h.shape
    jj, kk = np.triu_indices(r, 1)
    dh = h[:, jj] - h[:, kk]
    dm = m[:, jj] - m[:, kk]
    ok = np.isfinite(dh) & np.isfinite(dm) & (dh != 0)
    right = ok & (np.sign(dh) == np.sign(dm))
    npair = ok.sum(1)
    acc = np.divide(right.sum(1), npair, out=np.zeros(n), where=npair > 0)
    return acc, (npair > 0).astype(float)


def toy(human, metric, weights=None):
    """Item-grouped mean per-item pairwise accuracy, with the item-weights protocol."""
    h = np.asarray(human, float)
    m = np.asarray(metric, float)
    acc, defined = _per_item_accuracy(h, m)
    w = np.ones(h.shape[0]) if weights is None else np.asarray(weights, float)
    num = w @ (acc * defined)
    den = w @ defined
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return float(out) if np.ndim(out) == 0 else out


def toy_plain(human, metric):
    return toy(human, metric)


def make_data(n=40, r=4, seed=0, noise=1.0, tie_round=None):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, r))
    if tie_round:
        h = np.round(h * tie_round) / tie_round
    a = h + rng.normal(scale=noise, size=(n, r))
    b = h + rng.normal(scale=noise * 1.3, size=(n, r))
    return h, a, b


# ---------------------------------------------------------------------------------------------
# adapters and canonical draws
# ---------------------------------------------------------------------------------------------


def test_item_weighted_unwraps_result_objects_and_shapes():
    class Res:
        def __init__(self, s):
            self.statistic = s

    def f(h, m, weights=None):
        return Res(toy(h, m, weights))

    h, a, _ = make_data(10)
    st = item_weighted(f)
    assert isinstance(st(h, a), float)
    assert st(h, a) == pytest.approx(toy(h, a))
    W = np.ones((3, 10))
    assert st(h, a, W).shape == (3,)
    assert isinstance(st(h, a, np.ones(10)), float)


def test_materialized_repeats_rows():
    h, a, _ = make_data(6, seed=1)
    w = np.array([0, 1, 2, 3, 0, 1.0])
    st = materialized(toy_plain)
    expect = toy_plain(
        np.repeat(h, [0, 1, 2, 3, 0, 1], axis=0), np.repeat(a, [0, 1, 2, 3, 0, 1], axis=0)
    )
    assert st(h, a, w) == pytest.approx(expect)
    # for an item-decomposable statistic, repeating rows == item weights
    assert st(h, a, w) == pytest.approx(toy(h, a, w))
    W = np.vstack([w, np.ones(6)])
    np.testing.assert_allclose(st(h, a, W), [toy(h, a, w), toy(h, a)])
    with pytest.raises(ValueError):
        st(h, a, np.full(6, 0.5))


def test_bootstrap_indices_canonical_and_block_invariant():
    n, B, seed = 13, 37, 5
    rng = np.random.default_rng(seed)
    loop = np.stack([rng.integers(0, n, n) for _ in range(B)])
    for bs in (None, 1, 7, 37, 100):
        blocks = np.concatenate(list(bootstrap_indices(n, B, seed, batch_size=bs)))
        np.testing.assert_array_equal(blocks, loop)
    W = np.concatenate(list(bootstrap_weights(n, B, seed, batch_size=6)))
    np.testing.assert_array_equal(W, np.stack([np.bincount(r, minlength=n) for r in loop]))
    assert np.all(W.sum(1) == n)


def test_bootstrap_weights_large_n_path_matches_small_n_path():
    n = 5000  # row-wise bincount branch
    W = np.concatenate(list(bootstrap_weights(n, 5, 3, batch_size=2)))
    idx = np.concatenate(list(bootstrap_indices(n, 5, 3)))
    np.testing.assert_array_equal(W, np.stack([np.bincount(r, minlength=n) for r in idx]))


def test_swap_masks_canonical():
    rng = np.random.default_rng(9)
    loop = np.stack([rng.integers(0, 2, 11) for _ in range(20)])
    for bs in (None, 3):
        np.testing.assert_array_equal(
            np.concatenate(list(swap_masks(11, 20, 9, batch_size=bs))), loop
        )


# ---------------------------------------------------------------------------------------------
# bootstrap
# ---------------------------------------------------------------------------------------------


def reference_bootstrap(g, h, m, B, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(B):
        idx = rng.integers(0, h.shape[0], h.shape[0])
        counts = np.bincount(idx, minlength=h.shape[0])
        out.append(g(np.repeat(h, counts, axis=0), np.repeat(m, counts, axis=0)))
    return np.array(out)


def test_bootstrap_fast_path_equals_reference_loop():
    h, a, _ = make_data(30, seed=2)
    res = bootstrap_ci(toy, h, a, n_resamples=300, seed=11, batch_size=17)
    ref = reference_bootstrap(toy_plain, h, a, 300, 11)
    np.testing.assert_allclose(res.bootstrap_distribution, ref, rtol=0, atol=1e-12)
    lo, hi = np.percentile(ref, [2.5, 97.5])
    assert res.confidence_interval == pytest.approx((lo, hi))
    assert res.standard_error == pytest.approx(np.std(ref, ddof=1))
    assert res.statistic == pytest.approx(toy(h, a))
    assert (res.n_resamples, res.seed, res.method, res.level) == (300, 11, "percentile", 0.95)
    # the materialized fallback gives the same numbers
    res2 = bootstrap_ci(materialized(toy_plain), h, a, n_resamples=300, seed=11)
    np.testing.assert_allclose(res2.bootstrap_distribution, ref, atol=1e-12)


def test_bootstrap_deterministic_under_seed():
    h, a, _ = make_data(25, seed=3)
    r1 = bootstrap_ci(toy, h, a, n_resamples=200, seed=4)
    r2 = bootstrap_ci(toy, h, a, n_resamples=200, seed=4, batch_size=13)
    r3 = bootstrap_ci(toy, h, a, n_resamples=200, seed=5)
    again = bootstrap_ci(toy, h, a, n_resamples=200, seed=4)
    np.testing.assert_array_equal(r1.bootstrap_distribution, again.bootstrap_distribution)
    assert r1.confidence_interval == again.confidence_interval
    # other batch sizes: the same resamples (BLAS may round the last bit differently)
    np.testing.assert_allclose(
        r1.bootstrap_distribution, r2.bootstrap_distribution, rtol=0, atol=1e-12
    )
    assert not np.array_equal(r1.bootstrap_distribution, r3.bootstrap_distribution)


def test_bootstrap_hand_worked_two_items():
    # item 0: metric right (accuracy 1), item 1: wrong (0). A resample's statistic is the share of
    # item-0 draws: 0, 1/2 or 1.
    h = np.array([[1.0, 0.0], [1.0, 0.0]])
    m = np.array([[2.0, 1.0], [1.0, 2.0]])
    res = bootstrap_ci(toy, h, m, n_resamples=400, seed=0)
    assert res.statistic == 0.5
    assert set(np.unique(res.bootstrap_distribution)) <= {0.0, 0.5, 1.0}
    idx = np.concatenate(list(bootstrap_indices(2, 400, 0)))
    np.testing.assert_allclose(res.bootstrap_distribution, (idx == 0).mean(1))


def test_jackknife_hand_worked():
    # per-item accuracies 1, 0, 1/3 -> leave-one-out means 1/6, 2/3, 1/2
    h = np.array([[2.0, 1.0, 0.0]] * 3)
    m = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [1.0, 3.0, 2.0]])
    acc, _ = _per_item_accuracy(h, m)
    np.testing.assert_allclose(acc, [1.0, 0.0, 1 / 3])
    np.testing.assert_allclose(jackknife_values(toy, h, m), [(0 + 1 / 3) / 2, (1 + 1 / 3) / 2, 0.5])
    # materialized path: drop the row
    np.testing.assert_allclose(
        jackknife_values(materialized(toy_plain), h, m), [(0 + 1 / 3) / 2, (1 + 1 / 3) / 2, 0.5]
    )


def test_grouped_jackknife_partitions_items():
    h, a, _ = make_data(20, seed=6)
    vals = jackknife_values(toy, h, a, groups=4, seed=1)
    assert vals.shape == (4,)
    # each group leaves out 5 items: reconstruct via the same seeded permutation
    perm = np.random.default_rng([1, 7]).permutation(20)
    labels = np.empty(20, int)
    labels[perm] = np.arange(20) % 4
    for g in range(4):
        assert vals[g] == pytest.approx(toy(h[labels != g], a[labels != g]))


def test_bca_matches_formula_from_reference_pieces():
    h, a, _ = make_data(35, seed=7, r=3)
    res = bootstrap_ci(toy, h, a, n_resamples=500, seed=3, method="bca", level=0.9)
    dist = reference_bootstrap(toy_plain, h, a, 500, 3)
    theta = toy(h, a)
    jack = np.array([toy_plain(np.delete(h, i, 0), np.delete(a, i, 0)) for i in range(35)])
    # a bootstrap value within 1e-9 (relative) of theta is a tie and counts one half: the library and this
    # reference reach the same values by different summation orders, so exact == would be platform-dependent
    tol = 1e-9 * max(1.0, abs(theta))
    z0 = special.ndtri(
        (np.sum(dist < theta - tol) + 0.5 * np.sum(np.abs(dist - theta) <= tol)) / 500
    )
    d = jack.mean() - jack
    acc = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    qs = [special.ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z))) for z in special.ndtri([0.05, 0.95])]
    expect = np.percentile(dist, [100 * qs[0], 100 * qs[1]])
    assert res.confidence_interval == pytest.approx(tuple(expect))
    assert res.bias_correction == pytest.approx(z0)
    assert res.acceleration == pytest.approx(acc)


def test_bca_tie_rule_counts_values_equal_to_theta_as_one_half():
    """A small discrete statistic where many bootstrap values equal theta pins the mid-rank rule for z0."""
    # theta = 0.5; bootstrap values: 3 below, 4 equal (one off by a last-bit rounding), 3 above
    dist = np.array([0.1, 0.2, 0.3, 0.5, 0.5, 0.5, 0.5 + 1e-16, 0.7, 0.8, 0.9])
    assert bca_tie_share(0.5, dist) == (3 + 0.5 * 4) / 10
    assert bca_tie_share(0.5, dist[dist != 0.5]) == (3 + 0.5 * 1) / 7
    # through the public API: a statistic with few distinct values (share of positive entries among 4 items)
    h = np.array([[1.0, 0.0]] * 4)
    m = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    res = bootstrap_ci(toy, h, m, n_resamples=400, seed=0, method="bca")
    dist = res.bootstrap_distribution
    expect = (np.sum(dist < 0.5 - 1e-9) + 0.5 * np.sum(np.abs(dist - 0.5) <= 1e-9)) / dist.size
    assert res.statistic == 0.5
    assert np.sum(np.abs(dist - 0.5) <= 1e-9) > 50  # many ties: the rule matters
    assert res.bias_correction == pytest.approx(special.ndtri(expect))
    # counting a tie as 1 (or 0) would give a clearly different z0
    wrong = (np.sum(dist <= 0.5 + 1e-9)) / dist.size
    assert abs(res.bias_correction - special.ndtri(wrong)) > 0.1


def test_bca_agrees_with_scipy_on_a_skewed_mean():
    rng = np.random.default_rng(0)
    x = rng.exponential(size=60)
    h = np.column_stack([x, np.zeros(60)])

    def mean_stat(human, metric, weights=None):
        w = np.ones(human.shape[0]) if weights is None else weights
        out = w @ human[:, 0] / np.sum(w, axis=-1)
        return out

    ours = bootstrap_ci(mean_stat, h, h, n_resamples=20000, seed=1, method="bca")
    sp = stats.bootstrap(
        (x,), np.mean, n_resamples=20000, method="BCa", random_state=2
    ).confidence_interval
    width = sp.high - sp.low
    assert abs(ours.confidence_interval[0] - sp.low) < 0.05 * width
    assert abs(ours.confidence_interval[1] - sp.high) < 0.05 * width
    # BCa shifts the interval to the right of the percentile one for a right-skewed mean
    pct = bootstrap_ci(mean_stat, h, h, n_resamples=20000, seed=1)
    assert ours.confidence_interval[1] > pct.confidence_interval[1]


def test_bootstrap_nan_resamples_are_counted():
    # item 1 has only a gold tie: undefined; resamples of only item 1 give NaN
    h = np.array([[1.0, 0.0], [1.0, 1.0]])
    m = np.array([[2.0, 1.0], [1.0, 2.0]])
    res = bootstrap_ci(toy, h, m, n_resamples=200, seed=0)
    idx = np.concatenate(list(bootstrap_indices(2, 200, 0)))
    assert res.n_nan_resamples == int(np.sum((idx == 1).all(1)))
    assert res.confidence_interval == (1.0, 1.0)


def test_bootstrap_argument_checks():
    h, a, _ = make_data(5)
    with pytest.raises(ValueError):
        bootstrap_ci(toy, h, a, method="normal")
    with pytest.raises(ValueError):
        bootstrap_ci(toy, h, a, level=1.5)
    with pytest.raises(ValueError):
        bootstrap_ci(toy, h, a, n_resamples=0)
    with pytest.raises(ValueError):
        bootstrap_ci(toy, h, a[:, :2])


@pytest.mark.slow
def test_percentile_bootstrap_coverage():
    """95% percentile CIs cover the true value 95 +- 2% of the time (2,000 simulated data sets).

    Each data set: 200 items (chosen, rejected); item i has its own accuracy p_i ~ Beta(6, 3) and the
    scorer orders it correctly with probability p_i. The statistic is the mean item accuracy; its
    population value is E[p_i] = 2/3.
    """
    rng = np.random.default_rng(2024)
    n_items, reps, true = 200, 2000, 6 / 9
    h = np.tile([1.0, 0.0], (n_items, 1))
    covered = 0
    for rep in range(reps):
        p = rng.beta(6, 3, n_items)
        right = rng.random(n_items) < p
        m = np.where(right[:, None], [1.0, 0.0], [0.0, 1.0])
        lo, hi = bootstrap_ci(toy, h, m, n_resamples=1000, seed=rep).confidence_interval
        covered += lo <= true <= hi
    coverage = covered / reps
    assert 0.93 <= coverage <= 0.97, coverage


def test_paired_bootstrap_ci_reference():
    h, a, b = make_data(20, seed=8)
    res = paired_bootstrap_ci(toy, h, a, b, n_resamples=100, seed=2)
    ref = reference_bootstrap(toy_plain, h, a, 100, 2) - reference_bootstrap(
        toy_plain, h, b, 100, 2
    )
    np.testing.assert_allclose(res.bootstrap_distribution, ref, atol=1e-12)
    assert res.statistic == pytest.approx(toy(h, a) - toy(h, b))


def test_paired_bca_matches_formula_from_reference_pieces():
    """Paired BCa from explicit loops: bootstrap differences on materialised resamples, the
    leave-one-item-out jackknife of the difference, z0 with the mid-rank tie rule, acceleration."""
    h, a, b = make_data(30, seed=8, r=5)
    res = paired_bootstrap_ci(toy, h, a, b, n_resamples=400, seed=2, method="bca", level=0.9)
    assert isinstance(res, BootstrapResult)
    dist = reference_bootstrap(toy_plain, h, a, 400, 2) - reference_bootstrap(
        toy_plain, h, b, 400, 2
    )
    np.testing.assert_allclose(res.bootstrap_distribution, dist, atol=1e-12)
    theta = toy(h, a) - toy(h, b)
    jack = np.array(
        [
            toy_plain(np.delete(h, i, 0), np.delete(a, i, 0))
            - toy_plain(np.delete(h, i, 0), np.delete(b, i, 0))
            for i in range(30)
        ]
    )
    tol = 1e-9 * max(1.0, abs(theta))
    z0 = special.ndtri(
        (np.sum(dist < theta - tol) + 0.5 * np.sum(np.abs(dist - theta) <= tol)) / 400
    )
    d = jack.mean() - jack
    acc = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    qs = [special.ndtr(z0 + (z0 + z) / (1 - acc * (z0 + z))) for z in special.ndtri([0.05, 0.95])]
    expect = np.percentile(dist, [100 * qs[0], 100 * qs[1]])
    assert res.statistic == pytest.approx(theta, abs=1e-12)
    assert res.bias_correction == pytest.approx(z0, abs=1e-9)
    assert res.acceleration == pytest.approx(acc, abs=1e-9)
    assert res.confidence_interval == pytest.approx(tuple(expect), abs=1e-9)
    assert abs(acc) > 1e-3 and abs(z0) > 1e-3  # both corrections are exercised
    # it is not the percentile interval
    pct = np.percentile(dist, [5, 95])
    assert (
        max(abs(res.confidence_interval[0] - pct[0]), abs(res.confidence_interval[1] - pct[1]))
        > 1e-3
    )


# ---------------------------------------------------------------------------------------------
# permutation test
# ---------------------------------------------------------------------------------------------


def reference_permutation(g, h, a, b, B, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(B):
        s = rng.integers(0, 2, h.shape[0]).astype(bool)
        pa = np.where(s[:, None], b, a)
        pb = np.where(s[:, None], a, b)
        out.append(g(h, pa) - g(h, pb))
    return np.array(out)


def test_permutation_pvalue_hand_worked():
    null = np.array([-0.3, -0.1, 0.0, 0.1, 0.2, 0.2])
    assert permutation_pvalue(0.2, null, "greater") == pytest.approx((2 + 1) / 7)
    assert permutation_pvalue(0.2, null, "less") == pytest.approx((6 + 1) / 7)
    assert permutation_pvalue(0.2, null, "two-sided") == pytest.approx((3 + 1) / 7)
    assert permutation_pvalue(-0.25, null, "two-sided") == pytest.approx((1 + 1) / 7)
    assert permutation_pvalue(5.0, null, "greater") == pytest.approx(1 / 7)  # never 0
    assert permutation_pvalue(0.1 + 0.2 - 0.3, np.zeros(3), "greater") == 1.0  # float tolerance
    with pytest.raises(ValueError):
        permutation_pvalue(0.0, null, "bigger")


def test_permutation_pvalue_leaves_nan_null_values_out_of_the_count():
    null = np.array([0.3, nan, -0.1, 0.2, nan, nan, 0.5])
    # 4 finite values; >= 0.25: 0.3, 0.5; |.| >= 0.25: the same; <= 0.25: -0.1, 0.2
    assert permutation_pvalue(0.25, null, "greater") == (2 + 1) / (4 + 1)
    assert permutation_pvalue(0.25, null, "two-sided") == (2 + 1) / (4 + 1)
    assert permutation_pvalue(0.25, null, "less") == (2 + 1) / (4 + 1)
    assert permutation_pvalue(-0.2, null, "less") == (0 + 1) / (4 + 1)
    assert permutation_pvalue(0.25, null, "greater", plus_one=False) == 2 / 4  # mt-metrics-eval's
    assert permutation_pvalue(0.0, np.full(5, nan), "greater") == 1.0
    assert math.isnan(permutation_pvalue(nan, null, "greater"))


def test_permutation_test_with_undefined_resamples_counts_only_defined_ones():
    """A statistic that is undefined (NaN) on half of the permutations: the p-value is the hand
    count over the defined null values of an explicit loop."""

    def flagged_mean(h, m):
        # column 1 flags cells; two flagged items make the statistic undefined
        return nan if np.sum(m[:, 1]) >= 2 else float(np.mean(m[:, 0]))

    rng = np.random.default_rng(4)
    n = 25
    h = np.zeros((n, 2))
    a = np.column_stack([rng.normal(0.4, 1, n), np.zeros(n)])
    b = np.column_stack([rng.normal(0.0, 1, n), np.zeros(n)])
    a[1, 1] = 1.0  # A flags item 1, B flags item 0: permuted A is undefined when item 0 is swapped
    b[0, 1] = 1.0  # in and item 1 is not, permuted B in the opposite case
    ref = reference_permutation(flagged_mean, h, a, b, 200, 6)
    finite = ref[np.isfinite(ref)]
    assert 60 < finite.size < 140
    delta = flagged_mean(h, a) - flagged_mean(h, b)
    for alt, extreme in (
        ("greater", finite >= delta - 1e-12),
        ("two-sided", np.abs(finite) >= abs(delta) - 1e-12),
    ):
        res = paired_permutation_test(
            materialized(flagged_mean),
            h,
            a,
            b,
            n_resamples=200,
            seed=6,
            alternative=alt,
            return_null=True,
        )
        np.testing.assert_allclose(
            res.null_distribution, ref, atol=1e-12
        )  # NaN where the loop has NaN
        assert res.pvalue == pytest.approx((1 + np.sum(extreme)) / (1 + finite.size), abs=1e-15)


def test_permutation_fast_path_equals_reference_loop():
    h, a, b = make_data(30, seed=9)
    ref = reference_permutation(toy_plain, h, a, b, 250, 3)
    for st in (toy, materialized(toy_plain)):
        res = paired_permutation_test(
            st, h, a, b, n_resamples=250, seed=3, return_null=True, batch_size=40
        )
        np.testing.assert_allclose(res.null_distribution, ref, atol=1e-12)
        assert res.statistic == pytest.approx(toy(h, a) - toy(h, b))
        assert res.statistic_a == pytest.approx(toy(h, a))
        delta = toy(h, a) - toy(h, b)
        assert res.pvalue == pytest.approx((1 + np.sum(np.abs(ref) >= abs(delta) - 1e-12)) / 251)


def test_permutation_alternatives_and_determinism():
    h, a, b = make_data(30, seed=10)
    g = paired_permutation_test(
        toy, h, a, b, n_resamples=300, seed=1, alternative="greater", return_null=True
    )
    lt = paired_permutation_test(
        toy, h, a, b, n_resamples=300, seed=1, alternative="less", return_null=True
    )
    np.testing.assert_array_equal(g.null_distribution, lt.null_distribution)
    n_ge = np.sum(g.null_distribution >= g.statistic - 1e-12)
    n_le = np.sum(g.null_distribution <= g.statistic + 1e-12)
    assert g.pvalue == pytest.approx((n_ge + 1) / 301)
    assert lt.pvalue == pytest.approx((n_le + 1) / 301)
    g2 = paired_permutation_test(toy, h, a, b, n_resamples=300, seed=1, alternative="greater")
    assert g2.pvalue == g.pvalue and g2.null_distribution is None
    # swapping the roles of A and B mirrors the test
    ba = paired_permutation_test(toy, h, b, a, n_resamples=300, seed=1, alternative="less")
    assert ba.pvalue == pytest.approx(g.pvalue)


def test_identical_scorers_give_pvalue_one():
    h, a, _ = make_data(15, seed=11)
    res = paired_permutation_test(toy, h, a, a.copy(), n_resamples=99, seed=0)
    assert res.statistic == 0 and res.pvalue == 1.0


def linear_agreement(human, metric, weights=None):
    """Item-weighted mean of sum_j h_ij m_ij: continuous, so a permutation null has no ties."""
    v = np.sum(human * metric, axis=1)
    w = np.ones(human.shape[0]) if weights is None else np.asarray(weights, float)
    out = (w @ v) / w.sum(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def test_permutation_type_one_error_is_exact_under_h0():
    """A and B are exchangeable: with a continuous statistic and B = 99 resamples the p-value is
    exactly uniform on {1/100, ..., 100/100}, so P(p <= 0.05) = 5/100.  3,000 simulated data sets:
    the rejection rate must lie in the central 99.9% binomial interval (about 0.037-0.063), and the
    p-values in ten equal bins must pass a chi-square test at 0.1%."""
    rng = np.random.default_rng(123)
    N, B, alpha = 3000, 99, 0.05
    pvals = np.empty(N)
    for rep in range(N):
        h = rng.normal(size=(20, 2))
        a = h + rng.normal(size=h.shape)
        b = h + rng.normal(size=h.shape)
        pvals[rep] = paired_permutation_test(
            linear_agreement, h, a, b, n_resamples=B, seed=rep
        ).pvalue
    lo, hi = stats.binom.ppf(0.0005, N, alpha), stats.binom.isf(0.0005, N, alpha)
    assert lo <= np.sum(pvals <= alpha + 1e-12) <= hi, (lo, np.sum(pvals <= alpha + 1e-12), hi)
    k = np.rint(pvals * (B + 1)).astype(int)  # 1..100
    assert np.allclose(pvals * (B + 1), k) and k.min() >= 1 and k.max() <= B + 1
    counts = np.bincount((k - 1) // 10, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3, counts


def test_permutation_small_pvalue_under_clear_difference():
    rng = np.random.default_rng(5)
    h = rng.normal(size=(60, 4))
    good = h + 0.2 * rng.normal(size=h.shape)
    bad = rng.normal(size=h.shape)
    res = paired_permutation_test(toy, h, good, bad, n_resamples=499, seed=0, alternative="greater")
    assert res.statistic > 0.3
    assert res.pvalue == pytest.approx(1 / 500)
    assert paired_permutation_test(toy, h, good, bad, n_resamples=499, seed=0).pvalue <= 0.01


def test_standardize_equals_manual_zscore():
    h, a, b = make_data(20, seed=12)
    b = 100 * b + 3
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    r1 = paired_permutation_test(
        toy, h, a, b, n_resamples=50, seed=0, standardize=True, return_null=True
    )
    r2 = paired_permutation_test(toy, h, z(a), z(b), n_resamples=50, seed=0, return_null=True)
    np.testing.assert_allclose(r1.null_distribution, r2.null_distribution)


# ---------------------------------------------------------------------------------------------
# tie-calibrated acc_eq engine
# ---------------------------------------------------------------------------------------------


def brute_tie_calibrated(h, m, w=None, average="items"):
    """Loop over every candidate epsilon (0 and all |metric differences|)."""
    n, r = h.shape
    w = np.ones(n) if w is None else np.asarray(w, float)
    best = -np.inf
    cands = {0.0}
    for i in range(n):
        for j in range(r):
            for k in range(j + 1, r):
                if not np.isnan(h[i, j] + h[i, k] + m[i, j] + m[i, k]):
                    cands.add(abs(m[i, j] - m[i, k]))
    for eps in sorted(cands):
        num = den = 0.0
        for i in range(n):
            agree = npair = 0
            for j in range(r):
                for k in range(j + 1, r):
                    if np.isnan(h[i, j] + h[i, k] + m[i, j] + m[i, k]):
                        continue
                    npair += 1
                    dh, dm = h[i, j] - h[i, k], m[i, j] - m[i, k]
                    mtie = abs(dm) <= eps
                    if dh == 0:
                        agree += mtie
                    else:
                        agree += (not mtie) and (np.sign(dh) == np.sign(dm))
            if npair:
                if average == "items":
                    num += w[i] * agree / npair
                    den += w[i]
                else:
                    num += w[i] * agree
                    den += w[i] * npair
        if den > 0:
            best = max(best, num / den)
    return best if np.isfinite(best) else np.nan


@pytest.mark.parametrize("average", ["items", "pairs"])
def test_tie_engine_equals_brute_force(average):
    rng = np.random.default_rng(0)
    st = tie_calibrated_statistic(average=average)
    for trial in range(60):
        n, r = int(rng.integers(1, 9)), int(rng.integers(2, 6))
        h = rng.integers(0, 3, (n, r)).astype(float)
        m = rng.integers(0, 5, (n, r)).astype(float)
        if trial % 2:
            m = m + rng.random((n, r))
        h[rng.random((n, r)) < 0.1] = np.nan
        W = rng.integers(0, 3, (3, n)).astype(float)
        got = st(h, m, W)
        want = [brute_tie_calibrated(h, m, w, average) for w in W]
        np.testing.assert_allclose(got, want, atol=1e-12)
        assert st(h, m) == pytest.approx(brute_tie_calibrated(h, m, None, average), nan_ok=True)


def test_tie_engine_paired_null_equals_brute_force_loop():
    """The engine's permutation null (merged tables, swap masks as weights) against an explicit
    loop: swap the rows of each resample, then a brute-force threshold loop on each scorer."""
    rng = np.random.default_rng(21)
    n, r = 14, 4
    h = rng.integers(0, 3, (n, r)).astype(float)
    a = np.round(2 * (h + rng.normal(scale=0.7, size=h.shape))) / 2
    b = np.round(2 * (h + rng.normal(scale=1.2, size=h.shape))) / 2
    h[rng.random((n, r)) < 0.1] = np.nan
    for average in ("items", "pairs"):
        ref = reference_permutation(
            lambda x, y, average=average: brute_tie_calibrated(x, y, None, average), h, a, b, 40, 5
        )
        st = tie_calibrated_statistic(average=average)
        null = st.paired_null(h, a, b, n_resamples=40, seed=5)
        np.testing.assert_allclose(null, ref, rtol=0, atol=1e-12)
        assert np.unique(np.round(ref, 9)).size > 5  # a null with many distinct values
        res = paired_permutation_test(st, h, a, b, n_resamples=40, seed=5, alternative="greater")
        delta = brute_tie_calibrated(h, a, None, average) - brute_tie_calibrated(
            h, b, None, average
        )
        assert res.statistic == pytest.approx(delta, abs=1e-12)
        assert res.pvalue == pytest.approx((1 + np.sum(ref >= delta - 1e-9)) / 41, abs=1e-15)


def test_tie_engine_hand_worked():
    # one item, human [2, 1, 1], metric [3, 2, 2.5]: pairs (0,1) conc gap 1, (0,2) conc gap .5,
    # (1,2) gold tie gap .5. eps=0: 2/3; eps=.5: tie pair agrees, (0,2) lost -> 2/3; eps=1: 1/3.
    h = np.array([[2.0, 1.0, 1.0]])
    m = np.array([[3.0, 2.0, 2.5]])
    stat, eps = tie_calibrated_statistic().evaluate(h, m)
    assert stat == pytest.approx(2 / 3) and eps == 0.0  # ties go to the smaller epsilon
    m2 = np.array([[3.0, 2.0, 2.1]])  # tie gap .1 < conc gaps: eps=.1 gives 3/3
    stat, eps = tie_calibrated_statistic().evaluate(h, m2)
    assert stat == pytest.approx(1.0) and eps == pytest.approx(0.1)


def test_tie_engine_equals_accuracy_module():
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    h, a, b = make_data(80, r=6, seed=13, tie_round=2)
    b = np.round(b, 1)  # many equal gaps
    W = np.concatenate(list(bootstrap_weights(80, 40, 1)))
    for average in ("items", "pairs"):
        mine = tie_calibrated_statistic(average=average)
        for m in (a, b):
            ref = tie_calibrated_accuracy(h, m, group="item", average=average)
            assert mine(h, m) == pytest.approx(ref.statistic, abs=1e-12)
            refw = tie_calibrated_accuracy(h, m, group="item", average=average, weights=W)
            np.testing.assert_allclose(mine(h, m, W), refw.statistic, atol=1e-12)


def test_tie_calibrated_accuracy_is_routed_to_the_engine():
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    assert isinstance(
        _resolve(item_weighted(tie_calibrated_accuracy, group="item")), TieCalibratedStatistic
    )
    assert isinstance(_resolve(tie_calibrated_accuracy), TieCalibratedStatistic)
    r = _resolve(item_weighted(tie_calibrated_accuracy, group="item", average="pairs"))
    assert isinstance(r, TieCalibratedStatistic) and r.average == "pairs"
    assert isinstance(
        _resolve(item_weighted(tie_calibrated_accuracy, group="none")), ItemWeightedStatistic
    )
    assert isinstance(
        _resolve(item_weighted(tie_calibrated_accuracy, sample_rate=0.5)), ItemWeightedStatistic
    )


def test_permutation_with_tie_calibration_inside():
    """epsilon is re-fitted on every permuted scorer: engine == generic doubled path == explicit loop."""
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    h, a, b = make_data(40, r=5, seed=14, tie_round=2)
    b = np.round(2 * b) / 2

    def plain(hh, mm):
        return tie_calibrated_accuracy(hh, mm, group="item").statistic

    ref = reference_permutation(plain, h, a, b, 60, 7)
    generic = item_weighted(
        lambda hh, mm, weights=None: tie_calibrated_accuracy(hh, mm, group="item", weights=weights)
    )
    assert isinstance(
        _resolve(generic), ItemWeightedStatistic
    )  # not routed: the doubled-items path
    for st in (
        generic,
        tie_calibrated_statistic(),
        item_weighted(tie_calibrated_accuracy, group="item"),
    ):
        res = paired_permutation_test(
            st, h, a, b, n_resamples=60, seed=7, return_null=True, batch_size=25
        )
        np.testing.assert_allclose(res.null_distribution, ref, atol=1e-12)
        assert res.statistic == pytest.approx(plain(h, a) - plain(h, b))


def test_bootstrap_with_accuracy_module_functions():
    from overcoat.metaeval.accuracy import pairwise_accuracy, tie_calibrated_accuracy

    h, a, _ = make_data(30, seed=15, tie_round=2)
    st = item_weighted(pairwise_accuracy, group="item", ties="half")
    res = bootstrap_ci(st, h, a, n_resamples=80, seed=1)
    ref = reference_bootstrap(
        lambda x, y: pairwise_accuracy(x, y, group="item", ties="half").statistic, h, a, 80, 1
    )
    np.testing.assert_allclose(res.bootstrap_distribution, ref, atol=1e-12)
    res = bootstrap_ci(
        item_weighted(tie_calibrated_accuracy, group="item"), h, a, n_resamples=80, seed=1
    )
    ref = reference_bootstrap(
        lambda x, y: tie_calibrated_accuracy(x, y, group="item").statistic, h, a, 80, 1
    )
    np.testing.assert_allclose(res.bootstrap_distribution, ref, atol=1e-12)


def test_tie_engine_weight_checks():
    st = tie_calibrated_statistic()
    h, a, _ = make_data(5)
    with pytest.raises(ValueError):
        st(h, a, -np.ones(5))
    with pytest.raises(ValueError):
        st(h, a, np.ones(4))
    with pytest.raises(ValueError):
        tie_calibrated_statistic(average="none")
    assert math.isnan(st(h, a, np.zeros(5)))


def test_tie_engine_property_against_accuracy_module():
    from hypothesis import given, settings
    from hypothesis import strategies as hst

    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    @settings(max_examples=80, deadline=None)
    @given(
        hst.integers(1, 6),
        hst.integers(2, 5),
        hst.integers(0, 10_000),
        hst.sampled_from(["items", "pairs"]),
    )
    def check(n, r, seed, average):
        rng = np.random.default_rng(seed)
        h = rng.integers(0, 3, (n, r)).astype(float)
        m = rng.integers(0, 4, (n, r)) / 2.0
        h[rng.random((n, r)) < 0.15] = np.nan
        m[rng.random((n, r)) < 0.1] = np.nan
        W = rng.integers(0, 3, (4, n)).astype(float)
        ref = tie_calibrated_accuracy(h, m, group="item", average=average, weights=W).statistic
        got = tie_calibrated_statistic(average=average)(h, m, W)
        np.testing.assert_allclose(got, ref, atol=1e-12)

    check()
