import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from overcoat.metaeval.system import (
    MTME_SPA_SEED,
    soft_pairwise_accuracy,
    spa_signs,
    system_kendall,
    system_pearson,
    system_scores,
)

nan = np.nan


def test_system_scores_missing_modes():
    X = np.array([[1, 2, 3], [3, nan, 5], [5, 6, 7]], float)
    np.testing.assert_allclose(system_scores(X), [3, 4, 5])  # item 1 dropped
    np.testing.assert_allclose(system_scores(X, missing="mean-available"), [3, 4, 5])
    X[2, 0] = nan
    np.testing.assert_allclose(system_scores(X), [1, 2, 3])
    np.testing.assert_allclose(system_scores(X, missing="mean-available"), [2, 4, 5])
    np.testing.assert_allclose(
        system_scores(X, missing="mean-available", weights=[3, 1, 1]),
        [(3 + 3) / 4, (6 + 6) / 4, (9 + 5 + 7) / 5],
    )
    S = system_scores(X, weights=np.array([[1, 1, 1], [0, 1, 1]]))
    assert S.shape == (2, 3) and np.isnan(S[1]).all()
    with pytest.raises(ValueError):
        system_scores(X, missing="zero")


def test_system_correlations_match_scipy():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(30, 7))
    m = h + rng.normal(size=h.shape)
    h[3, 2] = nan
    m[5, 1] = nan
    keep = ~(np.isnan(h) | np.isnan(m)).any(axis=1)
    sh, sm = h[keep].mean(axis=0), m[keep].mean(axis=0)
    r = system_pearson(h, m)
    assert r.statistic == pytest.approx(ss.pearsonr(sh, sm)[0], abs=1e-12)
    assert (r.n_systems, r.n_items) == (7, 28)
    for v in ("b", "c"):
        assert system_kendall(h, m, variant=v).statistic == pytest.approx(
            ss.kendalltau(sh, sm, variant=v).statistic, abs=1e-12
        )
    # mean-available: per-system means over the cells where both are present
    ok = ~(np.isnan(h) | np.isnan(m))
    sh2 = np.array([h[ok[:, j], j].mean() for j in range(7)])
    sm2 = np.array([m[ok[:, j], j].mean() for j in range(7)])
    assert system_pearson(h, m, missing="mean-available").statistic == pytest.approx(
        ss.pearsonr(sh2, sm2)[0], abs=1e-12
    )


def test_system_kendall_variants_hand_worked():
    h = np.array([[1, 2, 3, 3]], float)  # one item: system scores = the row
    m = np.array([[1, 3, 2, 2]], float)
    assert system_kendall(h, m, variant="a").statistic == pytest.approx(1 / 6)
    assert system_kendall(h, m, variant="23").statistic == pytest.approx(2 / 6)
    assert system_kendall(h, m, variant="acc23").statistic == pytest.approx(4 / 6)
    assert system_kendall(h, m, variant="23", epsilon=1.0).statistic == pytest.approx(-2 / 6)
    assert np.isnan(system_kendall(np.ones((2, 3)), m[:, :3].repeat(2, 0)).statistic)
    assert np.isnan(system_pearson(np.ones((2, 3)), m[:, :3].repeat(2, 0)).statistic)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        float,
        st.tuples(st.integers(1, 6), st.integers(2, 5)),
        elements=st.integers(0, 3).map(float),
    ),
    st.data(),
)
def test_2d_weights_equal_row_loop(h, data):
    m = data.draw(arrays(float, h.shape, elements=st.integers(0, 5).map(float)))
    W = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0]),
                min_size=1,
                max_size=3,
            )
        ),
        float,
    )
    for f, kw in (
        (system_pearson, {}),
        (system_kendall, {"variant": "b"}),
        (system_kendall, {"variant": "c"}),
        (system_kendall, {"variant": "23"}),
    ):
        got = f(h, m, weights=W, **kw).statistic
        loop = [f(h, m, weights=w, **kw).statistic for w in W]
        np.testing.assert_allclose(got, loop, atol=1e-12)
        # integer weights = repeated items
        for w in W:
            rep = np.repeat(np.arange(h.shape[0]), w.astype(int))
            a = f(h[rep], m[rep], **kw).statistic if rep.size else nan
            b = f(h, m, weights=w, **kw).statistic
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Soft pairwise accuracy
# ---------------------------------------------------------------------------------------------


def ref_spa(h, m, n_permutations, seed):
    """Loop reference: one system pair at a time, the same per-item flips for all pairs."""
    keep = ~(np.isnan(h) | np.isnan(m)).any(axis=1)
    h, m = h[keep], m[keep]
    n_items, n_sys = h.shape
    rng = np.random.default_rng(seed)
    flips = (rng.random(size=(n_permutations, n_items), dtype=np.float32) > 0.5).astype(int)
    diffs = []
    for i in range(n_sys):
        for j in range(i + 1, n_sys):
            ps = []
            for X in (h, m):
                obs = sum(X[t, i] - X[t, j] for t in range(n_items))
                count = 0
                for p in range(n_permutations):
                    # flips[p, t] == 1 keeps item t's scores with their systems
                    a = sum(X[t, i] if flips[p, t] == 1 else X[t, j] for t in range(n_items))
                    b = sum(X[t, j] if flips[p, t] == 1 else X[t, i] for t in range(n_items))
                    if a - b >= obs - 1e-9:
                        count += 1
                ps.append(count / n_permutations)
            diffs.append(abs(ps[0] - ps[1]))
    return 1 - np.mean(diffs)


def test_spa_matches_loop_reference():
    rng = np.random.default_rng(3)
    h = rng.integers(0, 5, size=(12, 4)).astype(float)
    m = h + rng.normal(scale=1.5, size=h.shape)
    h[2, 1] = nan
    r = soft_pairwise_accuracy(h, m, n_permutations=200, seed=7)
    assert r.statistic == pytest.approx(ref_spa(h, m, 200, 7), abs=1e-12)
    assert r.n_items == 11 and r.n_systems == 4 and r.n_permutations == 200
    assert np.isnan(r.p_human[1, 0]) and 0 <= r.p_human[0, 1] <= 1


def test_spa_perfect_metric_and_seed():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(40, 5))
    r = soft_pairwise_accuracy(h, 2 * h + 1, n_permutations=300)
    assert r.statistic == 1.0  # same flips, monotone transform of sums -> identical p-values
    m = h + rng.normal(size=h.shape)
    a = soft_pairwise_accuracy(h, m, seed=4)
    b = soft_pairwise_accuracy(h, m, seed=4)
    assert a.statistic == b.statistic and np.array_equal(a.p_metric, b.p_metric, equal_nan=True)
    assert 0 <= a.statistic <= 1
    # swapping human and metric is symmetric
    assert soft_pairwise_accuracy(m, h, seed=4).statistic == a.statistic
    with pytest.raises(ValueError):
        soft_pairwise_accuracy(h[:, :1], h[:, :1])


def test_spa_pvalues_approach_exact_permutation_distribution():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(9, 3))
    m = rng.normal(size=(9, 3))
    r = soft_pairwise_accuracy(h, m, n_permutations=40000, seed=2)
    for X, P in ((h, r.p_human), (m, r.p_metric)):
        for i, j in itertools.combinations(range(3), 2):
            d = X[:, i] - X[:, j]
            obs = d.sum()
            exact = np.mean(
                [np.dot(s, d) >= obs - 1e-12 for s in itertools.product([-1, 1], repeat=9)]
            )
            assert P[i, j] == pytest.approx(exact, abs=0.01)


def test_spa_wmt24_docstring_example():
    # the worked example of the WMT24 reference: A clearly better than B; a metric agreeing on
    # the direction gets the same p-value; an inverted metric gets |p_h - p_m| ~ 1
    A = [0.8, 0.9, 0.7, 1.0, 0.6]
    B = [0.2, 0.3, 0.1, 0.4, 0.0]
    h = np.array([A, B]).T
    r = soft_pairwise_accuracy(h, h * 10, n_permutations=2000, seed=4)
    assert r.statistic == 1.0
    # exact: the observed delta (3.0) is reached only when no item is flipped: p = 1/32
    assert r.p_human[0, 1] == pytest.approx(1 / 32, abs=0.01)
    r = soft_pairwise_accuracy(h, -h, n_permutations=2000, seed=4)
    assert r.statistic == pytest.approx(1 - abs(1 / 32 - 1.0), abs=0.01)


# mt-metrics-eval's pce.py (WMT24 SPA), step by step: the literal reimplementation shared with the
# benchmarks (benchmarks/_mtme.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _mtme import pce_pairwise_p_values as pce_compute_pairwise_p_values  # noqa: E402


def pce_one_minus_pce(human_p, metric_p):
    upper = np.triu_indices(human_p.shape[0], 1)
    return 1.0 - np.mean(np.abs(human_p - metric_p)[upper])


def mtme_spa(h, m, num_permutations=1000, dtype=np.float32):
    """mt-metrics-eval's PairwiseConfidenceError: (systems, segments) matrices, two p-value calls."""
    ph = pce_compute_pairwise_p_values(h.T, num_permutations, dtype=dtype)
    pm = pce_compute_pairwise_p_values(m.T, num_permutations, dtype=dtype)
    return pce_one_minus_pce(ph, pm), ph, pm


@pytest.mark.parametrize("shape", [(1000, 529), (333, 101), (37, 11), (5, 3)])
def test_spa_signs_are_mtme_stream(shape):
    u = np.random.default_rng(4).random(size=shape, dtype=np.float32)
    np.rint(u, out=u, casting="same_kind")
    assert np.array_equal(spa_signs(*shape), u * 2.0 - 1.0)
    assert MTME_SPA_SEED == 4
    other = np.random.default_rng(11).random(size=shape, dtype=np.float32)
    assert np.array_equal(spa_signs(*shape, seed=11), np.rint(other) * 2.0 - 1.0)


def test_spa_default_equals_literal_pce_on_exact_scores():
    # integer scores: every float32 sum is exact, so the published float32 code is exact here too
    rng = np.random.default_rng(5)
    h = rng.integers(-10, 1, size=(60, 6)).astype(float)
    m = h + rng.integers(-3, 4, size=h.shape)
    spa, ph, pm = mtme_spa(h, m, 700)
    r = soft_pairwise_accuracy(h, m, n_permutations=700)
    assert r.statistic == spa
    assert np.array_equal(r.p_human, ph, equal_nan=True) and np.array_equal(
        r.p_metric, pm, equal_nan=True
    )


def test_spa_default_equals_literal_pce_up_to_float32_rounding():
    rng = np.random.default_rng(6)
    tenths = rng.integers(-25, 1, size=(80, 7))
    h = tenths / 10  # MQM-like decimals: flipped differences often cancel exactly
    m = h + rng.normal(scale=0.8, size=h.shape)
    r = soft_pairwise_accuracy(h, m, n_permutations=1000)
    spa32, ph32, pm32 = mtme_spa(h, m, 1000, np.float32)
    iu = np.triu_indices(7, 1)
    # metric p-values: continuous scores, no exact ties: equal to the published float32 code
    assert np.array_equal(r.p_metric[iu], pm32[iu])
    # human p-values: equal to the exact ones (the same algorithm on the integers 10 h, where float64
    # sums are exact); the published float32 code decides the exact ties by rounding
    exact = pce_compute_pairwise_p_values(tenths.T.astype(float), 1000, dtype=np.float64)
    assert np.array_equal(r.p_human[iu], exact[iu])
    assert not np.array_equal(ph32[iu], exact[iu])  # this data does have ties float32 gets wrong
    assert r.statistic == pytest.approx(pce_one_minus_pce(exact, pm32), abs=1e-15)


# The float32 filter of SPA's p-values (system._spa_pvalues) against exact rational arithmetic: scores are
# decimals times a power of two, so the exact permuted differences, and so exact ties, are known.
def exact_spa_pvalues(ints, decimals, scale_exp, n_permutations, seed):
    """Loop reference in Fractions: p(i, j) = #{permutations: sum_t s_t (x_ti - x_tj) >= sum_t (x_ti - x_tj)}
    / n, x = ints / 10**decimals * 2**scale_exp exactly, s: spa_signs (mt-metrics-eval's stream)."""
    from fractions import Fraction

    n_items, n_sys = ints.shape
    x = [[Fraction(int(v), 10**decimals) * Fraction(2) ** scale_exp for v in row] for row in ints]
    signs = spa_signs(n_permutations, n_items, seed)
    out = []
    for i, j in itertools.combinations(range(n_sys), 2):
        d = [x[t][i] - x[t][j] for t in range(n_items)]
        obs = sum(d)
        out.append(
            sum(
                sum(d[t] if signs[p, t] > 0 else -d[t] for t in range(n_items)) >= obs
                for p in range(n_permutations)
            )
            / n_permutations
        )
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(2, 5),
    st.integers(1, 40),
    st.integers(0, 20),
    st.sampled_from([2, 30, 1000]),
    st.integers(0, 3),
    st.sampled_from([-600, -135, 0, 60, 130, 400]),
    st.sampled_from([0.0, 1.0, 1e9]),
    st.data(),
)
def test_spa_filtered_pvalues_equal_exact_arithmetic(
    n_items, n_sys, n_perm, seed, span, decimals, scale_exp, refine_limit, data
):
    import overcoat.metaeval.system as sysm

    ints = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(-span, span), min_size=n_sys, max_size=n_sys),
                min_size=n_items,
                max_size=n_items,
            )
        )
    )
    X = ints / 10**decimals * 2.0**scale_exp
    old = sysm._REFINE_LIMIT
    sysm._REFINE_LIMIT = (
        refine_limit  # 0: any undecided comparison -> float64 sums; 1e9: always refine
    )
    try:
        (got,) = sysm._spa_pvalues([X], n_perm, seed)
        both = sysm._spa_pvalues([X, X[:, ::-1]], n_perm, seed)  # one product for two matrices
    finally:
        sysm._REFINE_LIMIT = old
    want = exact_spa_pvalues(ints, decimals, scale_exp, n_perm, seed)
    assert np.array_equal(got, want)
    assert np.array_equal(both[0], want)
    assert np.array_equal(
        both[1], exact_spa_pvalues(ints[:, ::-1], decimals, scale_exp, n_perm, seed)
    )
    (plain,) = sysm._spa_pvalues_float64([X], n_perm, seed)
    assert np.array_equal(plain, want)


def test_spa_filter_decides_most_comparisons_in_float32_on_mqm_like_data(monkeypatch):
    # MQM-like scores (tenths, many exact ties) and a continuous metric: the float32 filter leaves only a
    # few comparisons to float64 (the exact ties among them) and gives the float64 counts
    import overcoat.metaeval.system as sysm

    rng = np.random.default_rng(8)
    h = -rng.integers(0, 60, size=(300, 9)) * rng.integers(0, 2, size=(300, 9)) / 10
    m = 50 + 20 * rng.normal(size=h.shape) + h
    plain = sysm._spa_pvalues_float64([h, m], 1000, 4)
    monkeypatch.setattr(sysm, "_REFINE_LIMIT", 1e9)
    calls = []
    orig = sysm._spa_pvalues_float64
    monkeypatch.setattr(sysm, "_spa_pvalues_float64", lambda *a: calls.append(a) or orig(*a))
    fast = sysm._spa_pvalues([h, m], 1000, 4)
    assert not calls and all(np.array_equal(a, b) for a, b in zip(fast, plain))
    # scores too large for float32 sums: the float64 sums, same counts
    big = sysm._spa_pvalues([h * 2.0**200], 1000, 4)
    assert len(calls) == 1 and np.array_equal(big[0], plain[0])
