"""Rater agreement: Krippendorff's alpha against the krippendorff package and Krippendorff's own
worked example, kappas against scikit-learn / the textbook formula, severity against a loop."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    rater_severity,
)

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units
KRIPP_EXAMPLE = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


def test_krippendorffs_worked_example():
    # published values: nominal 0.743, ordinal 0.815, interval 0.849
    for level, published in (("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)):
        r = krippendorff_alpha(KRIPP_EXAMPLE, level=level, n_resamples=0)
        assert r.statistic == pytest.approx(published, abs=5e-4), level
    r = krippendorff_alpha(KRIPP_EXAMPLE, n_resamples=0)
    assert r.n_units == 11  # the last unit has one rating


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 4),
    st.integers(2, 12),
    st.sampled_from(["nominal", "ordinal", "interval"]),
    st.data(),
)
def test_alpha_equals_the_krippendorff_package(raters, units, level, data):
    kp = pytest.importorskip("krippendorff")
    cell = st.one_of(st.sampled_from([0.0, 0.1, 1.0, 2.0, 5.0, 6.1]), st.just(nan))
    x = np.array(
        data.draw(
            st.lists(
                st.lists(cell, min_size=units, max_size=units), min_size=raters, max_size=raters
            )
        )
    )
    pairable = (~np.isnan(x)).sum(axis=0) >= 2
    vals = np.unique(x[:, pairable][~np.isnan(x[:, pairable])])
    if pairable.sum() == 0 or vals.size < 2:
        return
    ours = krippendorff_alpha(x, level=level, n_resamples=0).statistic
    theirs = kp.alpha(reliability_data=x, level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_alpha_bootstrap_and_errors():
    r = krippendorff_alpha(KRIPP_EXAMPLE, level="ordinal", n_resamples=200, seed=3)
    lo, hi = r.confidence_interval
    assert lo <= r.statistic <= hi
    assert krippendorff_alpha(KRIPP_EXAMPLE, level="ordinal", n_resamples=200, seed=3) == r
    with pytest.raises(ValueError, match="pairable"):
        krippendorff_alpha([[1, nan], [nan, 2]])
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha(KRIPP_EXAMPLE, level="ratio")


def textbook_fleiss(x):
    cats = np.unique(x[~np.isnan(x)])
    n = np.array([[np.sum(col == c) for c in cats] for col in x.T], float)
    m = n.sum(axis=1)[0]
    P_i = (n * (n - 1)).sum(axis=1) / (m * (m - 1))
    p_j = n.sum(axis=0) / n.sum()
    Pe = (p_j**2).sum()
    return (P_i.mean() - Pe) / (1 - Pe)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(2, 15), st.data())
def test_fleiss_equals_textbook_with_equal_raters(raters, units, data):
    x = np.array(
        data.draw(
            st.lists(
                st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=units, max_size=units),
                min_size=raters,
                max_size=raters,
            )
        )
    )
    if np.unique(x).size < 2:
        return
    assert fleiss_kappa(x, n_resamples=0).statistic == pytest.approx(textbook_fleiss(x), abs=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 1.0, 2.0]), st.sampled_from([0.0, 1.0, 2.0])),
        min_size=2,
        max_size=30,
    )
)
def test_cohen_equals_sklearn(rows):
    sk = pytest.importorskip("sklearn.metrics")
    a = np.array([r[0] for r in rows])
    b = np.array([r[1] for r in rows])
    theirs = sk.cohen_kappa_score(a, b)
    ours = cohen_kappa(a, b, n_resamples=0).statistic
    assert ours == pytest.approx(theirs, abs=1e-12, nan_ok=True)


def test_severity_equals_loop_and_sees_a_harsh_rater():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200)
    x = truth[None, :] + rng.normal(0, 0.3, size=(4, 200))
    x[2] -= 1.0  # a harsh rater
    x[rng.uniform(size=x.shape) < 0.3] = nan
    r = rater_severity(x, n_resamples=300, seed=1)
    for rr in range(4):
        diffs = []
        for u in range(200):
            others = [x[o, u] for o in range(4) if o != rr and not np.isnan(x[o, u])]
            if not np.isnan(x[rr, u]) and others:
                diffs.append(x[rr, u] - np.mean(others))
        assert r.bias[rr] == pytest.approx(np.mean(diffs), abs=1e-12)
        assert r.n_units[rr] == len(diffs)
    assert r.confidence_interval[2, 1] < -0.8 < r.confidence_interval[2, 0] + 0.5
    assert r.bias[2] < min(r.bias[[0, 1, 3]])
