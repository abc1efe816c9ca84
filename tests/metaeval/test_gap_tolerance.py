"""Tie calibration is invariant to affine transforms of the metric (z-scoring included).

Gaps that are equal on the raw scale of an integer-valued scorer differ in the last bits after
``a * m + b`` or z-scoring; tie calibration treats gaps within a relative ``GAP_RTOL`` as equal (one
threshold candidate), in every engine: the exact sweep (``tie_calibrated_accuracy``), the batched
resampling engine (``tie_calibrated_statistic``, item permutations) and the cell engine (PERM-BOTH)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from overcoat.metaeval._util import GAP_RTOL, snap_sorted
from overcoat.metaeval.accuracy import acc_eq, tie_calibrated_accuracy
from overcoat.metaeval.resampling import paired_permutation_test, tie_calibrated_statistic

nan = np.nan


def zscore(m):
    v = m[np.isfinite(m)]
    return (m - v.mean()) / v.std()


def ref_tol_tie_calibration(h, m):
    """Slow reference: item-grouped acc_eq maximised over eps in {0} U {|gaps|}, where a pair is a metric
    tie when ``|d| <= eps`` or ``|d|`` is within a relative GAP_RTOL of eps (equal up to rounding)."""
    n, r = h.shape
    items = []
    for i in range(n):
        ps = [
            (h[i, j] - h[i, k], m[i, j] - m[i, k])
            for j in range(r)
            for k in range(j + 1, r)
            if not np.isnan([h[i, j], h[i, k], m[i, j], m[i, k]]).any()
        ]
        if ps:
            items.append(ps)
    if not items:
        return None
    best = None
    for eps in {0.0} | {abs(dm) for ps in items for _, dm in ps}:
        total = 0.0
        for ps in items:
            agree = 0
            for dh, dm in ps:
                tie = abs(dm) <= eps or abs(abs(dm) - eps) <= GAP_RTOL * eps
                agree += (dh == 0) == tie and (tie or np.sign(dh) == np.sign(dm))
            total += agree / len(ps)
        v = total / len(items)
        best = v if best is None else max(best, v)
    return best


def test_issue_reproducer_raw_and_zscored_agree():
    h = np.array([[1, 1, 1], [2, 0, 1], [0, 1, 2]], float)
    m = np.array([[5, 3, 7], [5, 7, 1], [4, 6, 6]], float)
    z = zscore(m)
    gaps = np.abs(np.diff(z, axis=1)).ravel()
    assert len(set(gaps[gaps > 0].tolist())) > 3  # the three raw gaps of 2 differ in the last bit
    for x in (m, z, 0.1 * m - 3):
        r = tie_calibrated_accuracy(h, x)
        assert r.statistic == pytest.approx(1 / 3, abs=1e-15)
        assert tie_calibrated_statistic()(h, x) == pytest.approx(1 / 3, abs=1e-15)
        # the reported epsilon reproduces the value with a plain (exact) threshold
        assert acc_eq(h, x, epsilon=r.epsilon).statistic == pytest.approx(r.statistic, abs=1e-15)


def test_snap_sorted_merges_runs_of_near_equal_values_only():
    x = np.array([0.0, 1.0, 1.0 + 1e-13, 1.0 + 2e-13, 1.5, 2.0, 2.0 * (1 + 1e-7)])
    got = snap_sorted(x)
    assert got.tolist() == [0.0, 1.0 + 2e-13, 1.0 + 2e-13, 1.0 + 2e-13, 1.5, 2.0, 2.0 * (1 + 1e-7)]
    assert snap_sorted(np.zeros(0)).size == 0
    # nothing near-equal: the very same values
    y = np.array([0.0, 0.0, 0.5, 3.0])
    assert snap_sorted(y).tolist() == y.tolist()


@st.composite
def integer_scores(draw, max_items=6, max_resp=5):
    n = draw(st.integers(1, max_items))
    r = draw(st.integers(2, max_resp))
    h = draw(arrays(float, (n, r), elements=st.integers(0, 2).map(float)))
    m = draw(arrays(float, (n, r), elements=st.integers(-6, 6).map(float)))
    hole = draw(arrays(bool, (n, r), elements=st.sampled_from([False] * 6 + [True])))
    m[hole] = nan
    return h, m


AFFINE = st.tuples(st.floats(0.01, 100), st.floats(-100, 100))


@settings(max_examples=150, deadline=None)
@given(
    integer_scores(),
    AFFINE,
    st.sampled_from(["item", "none", "system"]),
    st.sampled_from(["items", "pairs"]),
)
def test_tie_calibration_is_affine_invariant_for_integer_scores(hm, ab, group, average):
    h, m = hm
    a, b = ab
    if np.isfinite(m).sum() < 2 or np.nanstd(m) == 0:
        return
    base = tie_calibrated_accuracy(h, m, group=group, average=average)
    for x, scale in ((a * m + b, a), (zscore(m), 1 / np.nanstd(m))):
        r = tie_calibrated_accuracy(h, x, group=group, average=average)
        if np.isnan(base.statistic):
            assert np.isnan(r.statistic)
            continue
        assert r.statistic == pytest.approx(base.statistic, abs=1e-12)
        # the same threshold candidate: epsilon scales with the metric
        assert r.epsilon == pytest.approx(base.epsilon * scale, rel=1e-9, abs=1e-12)
        # weighted (2-D) path and the batched engine give the same values
        w = np.vstack([np.ones(h.shape[0]), 1.0 + np.arange(h.shape[0]) % 3])
        if group == "item":
            got = tie_calibrated_statistic(average=average)(h, x, w)
            want = tie_calibrated_statistic(average=average)(h, m, w)
            np.testing.assert_allclose(got, want, atol=1e-12)
            got = tie_calibrated_accuracy(h, x, group=group, average=average, weights=w).statistic
            np.testing.assert_allclose(got, want, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(integer_scores(), AFFINE)
def test_tolerant_sweep_equals_the_slow_reference(hm, ab):
    h, m = hm
    a, b = ab
    for x in (m, a * m + b, zscore(m) if np.isfinite(m).sum() >= 2 and np.nanstd(m) > 0 else m):
        ref = ref_tol_tie_calibration(h, x)
        r = tie_calibrated_accuracy(h, x)
        if ref is None:
            assert np.isnan(r.statistic)
        else:
            assert r.statistic == pytest.approx(ref, abs=1e-12)
            assert tie_calibrated_statistic()(h, x) == pytest.approx(ref, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(integer_scores(max_items=5, max_resp=4), AFFINE, st.integers(0, 3), st.data())
def test_permutation_nulls_are_affine_invariant(hm1, ab, seed, data):
    h, m1 = hm1
    m2 = data.draw(arrays(float, m1.shape, elements=st.integers(-6, 6).map(float)))
    m2[np.isnan(m1)] = nan  # the cell scheme needs the same scored cells
    if np.nanstd(m1) == 0 or np.nanstd(m2) == 0:
        return
    a, b = ab
    # (Not tested: separate maps or z-scoring of each scorer. A cross-scorer gap A_j - B_k that is exactly
    # 0 on one scale can become rounding noise on another, and 0 is never merged with other gaps.)
    stat = tie_calibrated_statistic()
    for permute in ("cells", "items"):
        ref = paired_permutation_test(
            stat,
            h,
            m1,
            m2,
            n_resamples=40,
            seed=seed,
            permute=permute,
            standardize=False,
            return_null=True,
        )
        # a common affine map of both scorers (no z-scoring): the same nulls
        got = paired_permutation_test(
            stat,
            h,
            a * m1 + b,
            a * m2 + b,
            n_resamples=40,
            seed=seed,
            permute=permute,
            standardize=False,
            return_null=True,
        )
        np.testing.assert_allclose(got.null_distribution, ref.null_distribution, atol=1e-12)
        np.testing.assert_equal(got.pvalue, ref.pvalue)
