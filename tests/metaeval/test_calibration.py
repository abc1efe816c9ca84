"""Calibration estimators: hand cases, slow loop references, simulated scorers with known answers."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from scipy.stats import norm

from overcoat.metaeval.calibration import (
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
    brier_score_loss,
    calibrator_from_dict,
    cross_fitted_probabilities,
    expected_calibration_error,
    log_loss,
    preference_probability,
    preference_target,
    reliability_bins,
)


def slow_ece(p, y, n_bins, kind="top-label", binning="width"):
    """Loop reference: bins by explicit comparisons, ECE as sum over bins of |acc - conf| n_b / n."""
    conf, corr = [], []
    for pi, yi in zip(p, y):
        if kind == "positive":
            conf.append(pi)
            corr.append(yi)
        elif pi == 0.5:
            conf.append(0.5)
            corr.append(0.5)
        elif pi > 0.5:
            conf.append(pi)
            corr.append(yi)
        else:
            conf.append(1 - pi)
            corr.append(1 - yi)
    lo = 0.5 if kind == "top-label" else 0.0
    if binning == "width":
        edges = [lo + (1 - lo) * i / n_bins for i in range(n_bins + 1)]
    else:
        edges = sorted(
            set([lo, 1.0] + [float(np.quantile(conf, i / n_bins)) for i in range(1, n_bins)])
        )
    total = 0.0
    for i in range(len(edges) - 1):
        last = i == len(edges) - 2
        members = [
            k
            for k, c in enumerate(conf)
            if (edges[i] <= c < edges[i + 1])
            or (last and c == edges[-1])
            or (i == 0 and c < edges[0])
        ]
        if members:
            total += abs(sum(corr[k] for k in members) - sum(conf[k] for k in members))
    return total / len(p)


def test_hand_case_ece_brier_logloss():
    p = np.array([0.9, 0.8, 0.3, 0.5])
    y = np.array([1.0, 0.0, 0.0, 0.5])
    # top-label: conf = .9,.8,.7,.5 ; correct = 1,0,1,.5 ;
    # 2 bins over [.5,1]: [.5,.75): {.7,.5}, [.75,1]: {.9,.8}
    r = expected_calibration_error(p, y, n_bins=2, n_resamples=0)
    expected = (abs((1 + 0.5) - (0.7 + 0.5)) + abs((1 + 0) - (0.9 + 0.8))) / 4
    assert r.statistic == pytest.approx(expected)
    assert list(r.bins.count) == [2, 2]
    assert r.bins.accuracy[1] == pytest.approx(0.5)
    assert brier_score_loss(p, y) == pytest.approx((0.01 + 0.64 + 0.09 + 0) / 4)
    ll = -(math.log(0.9) + math.log(0.2) + math.log(0.7) + 0.5 * math.log(0.5) * 2) / 4
    assert log_loss(p, y) == pytest.approx(ll)


def test_targets_and_probability():
    assert list(preference_target([2.0, -1.0, 0.0])) == [1.0, 0.0, 0.5]
    assert np.isnan(preference_target([np.nan])[0])
    assert preference_probability([0.0, 2.0], 2.0) == pytest.approx([0.5, expit(1.0)])
    with pytest.raises(ValueError, match="temperature"):
        preference_probability([1.0], 0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.sampled_from([0.0, 0.5, 1.0])), min_size=1, max_size=40
    ),
    st.integers(1, 6),
    st.sampled_from(["top-label", "positive"]),
    st.sampled_from(["width", "mass"]),
)
def test_ece_equals_loop_reference(rows, n_bins, kind, binning):
    p = np.array([r[0] / 20 for r in rows])
    y = np.array([r[1] for r in rows])
    r = expected_calibration_error(p, y, n_bins=n_bins, kind=kind, binning=binning, n_resamples=0)
    assert r.statistic == pytest.approx(slow_ece(p, y, n_bins, kind, binning), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    # p on a 2^-30 grid, so that 1 - p is exact: with p = 2.26e-15, 1 - (1 - p) rounds to 2.22e-15
    # and log loss would differ by rounding in the test's own complement, not in the estimator
    st.lists(
        st.tuples(st.integers(0, 2**30).map(lambda k: k / 2**30), st.sampled_from([0.0, 0.5, 1.0])),
        min_size=1,
        max_size=30,
    )
)
def test_swapping_a_and_b_changes_nothing_top_label(rows):
    p = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    a = expected_calibration_error(p, y, n_resamples=0).statistic
    b = expected_calibration_error(1 - p, 1 - y, n_resamples=0).statistic
    assert a == pytest.approx(b, abs=1e-12)
    assert brier_score_loss(p, y) == pytest.approx(brier_score_loss(1 - p, 1 - y))
    assert log_loss(p, y) == pytest.approx(log_loss(1 - p, 1 - y))


def test_perfectly_calibrated_scorer_has_ece_near_zero():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    r = expected_calibration_error(p, y, n_resamples=200)
    assert r.statistic < 0.006
    assert r.confidence_interval[0] <= r.statistic <= r.confidence_interval[1]


def test_mis_scaled_scorer_ece_as_derived():
    # truth: P(A better) = sigmoid(d), d ~ N(0, 2^2); the scorer reports sigmoid(2 d) (overconfident).
    # Population top-label ECE with 10 equal-width bins on [.5, 1]: per bin of the reported confidence
    # c = sigmoid(2|d|), accuracy is E[sigmoid(|d|)] over the d in that bin; computed by quadrature.
    rng = np.random.default_rng(2)
    d = rng.normal(0, 2, size=400_000)
    y = (rng.uniform(size=d.size) < expit(d)).astype(float)
    r = expected_calibration_error(expit(2 * d), y, n_resamples=0)
    grid = np.linspace(0, 12, 400_001)  # |d| >= 0, density of |d| is 2 * N(0, 2) pdf
    dens = 2 * norm.pdf(grid, scale=2)
    conf = expit(2 * grid)
    acc = expit(grid)
    edges = np.linspace(0.5, 1, 11)
    b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, 9)
    ece = sum(abs(np.trapezoid(np.where(b == i, dens * (acc - conf), 0), grid)) for i in range(10))
    assert ece > 0.05
    assert r.statistic == pytest.approx(ece, abs=0.004)


def test_ece_bootstrap_by_groups_is_deterministic_and_wider_for_clustered_pairs():
    rng = np.random.default_rng(3)
    items = np.repeat(np.arange(200), 10)
    item_effect = rng.normal(0, 1.5, size=200)[
        items
    ]  # pairs of one item share their miscalibration
    p = expit(rng.normal(0, 1, size=items.size))
    y = (rng.uniform(size=p.size) < expit(np.log(p / (1 - p)) + item_effect)).astype(float)
    a = expected_calibration_error(p, y, groups=items, n_resamples=300, seed=5)
    b = expected_calibration_error(p, y, groups=items, n_resamples=300, seed=5)
    c = expected_calibration_error(p, y, n_resamples=300, seed=5)
    assert a.confidence_interval == b.confidence_interval
    width = lambda r: r.confidence_interval[1] - r.confidence_interval[0]  # noqa: E731
    assert width(a) > width(c)


def test_temperature_scaling_recovers_the_true_temperature():
    rng = np.random.default_rng(4)
    d = rng.normal(0, 3, size=50_000)
    y = (rng.uniform(size=d.size) < expit(d / 2.5)).astype(float)
    t = TemperatureScaling().fit(d, y)
    assert t.temperature == pytest.approx(2.5, rel=0.05)
    # scale-equivariant: scores times 10 -> temperature times 10
    assert TemperatureScaling().fit(10 * d, y).temperature == pytest.approx(
        10 * t.temperature, rel=1e-6
    )
    # soft targets equal to the true probabilities: the population optimum
    y_soft = expit(d / 2.5)
    assert TemperatureScaling().fit(d, y_soft).temperature == pytest.approx(
        2.5, rel=1e-4
    )  # tiny ridge


def test_temperature_on_separable_data_is_finite_and_anti_correlated_negative():
    d = np.array([-2.0, -1.0, 1.0, 3.0])
    t = TemperatureScaling().fit(d, (d > 0).astype(float))
    assert 0 < t.temperature < 1
    assert TemperatureScaling().fit(d, (d < 0).astype(float)).temperature < 0
    assert TemperatureScaling().fit(np.zeros(3), [1.0, 0.0, 1.0]).predict([5.0])[0] == 0.5


def test_platt_recovers_slope_and_intercept():
    rng = np.random.default_rng(5)
    d = rng.normal(0, 2, size=60_000)
    y = (rng.uniform(size=d.size) < expit(0.7 * d + 0.4)).astype(float)
    p = PlattScaling().fit(d, y)
    assert p.slope == pytest.approx(0.7, abs=0.03)
    assert p.intercept == pytest.approx(0.4, abs=0.04)


def slow_isotonic(x, y):
    """Brute-force least squares over non-decreasing sequences of block means (exhaustive PAVA)."""
    order = np.argsort(x, kind="stable")
    ys = list(np.asarray(y, float)[order])
    blocks = [[v] for v in ys]
    changed = True
    while changed:
        changed = False
        for i in range(len(blocks) - 1):
            if np.mean(blocks[i]) > np.mean(blocks[i + 1]):
                blocks[i] = blocks[i] + blocks.pop(i + 1)
                changed = True
                break
    fit = np.concatenate([[np.mean(b)] * len(b) for b in blocks])
    out = np.empty(len(ys))
    out[order] = fit
    return out


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-50, 50), st.sampled_from([0.0, 0.5, 1.0])),
        min_size=2,
        max_size=25,
        unique_by=lambda r: r[0],
    )
)
def test_isotonic_fit_equals_brute_force(rows):
    x = np.array([r[0] for r in rows], float)
    y = np.array([r[1] for r in rows])
    cal = IsotonicCalibration(symmetric=False).fit(x, y)
    assert cal.predict(x) == pytest.approx(slow_isotonic(x, y), abs=1e-12)
    sk = pytest.importorskip("sklearn.isotonic")
    ref = sk.IsotonicRegression(out_of_bounds="clip").fit(x, y)
    grid = np.linspace(-60, 60, 97)
    assert cal.predict(grid) == pytest.approx(ref.predict(grid), abs=1e-12)


def test_symmetric_isotonic_is_antisymmetric():
    rng = np.random.default_rng(6)
    d = rng.normal(size=300)
    y = (rng.uniform(size=300) < expit(2 * d)).astype(float)
    cal = IsotonicCalibration().fit(d, y)
    grid = np.linspace(-3, 3, 41)
    assert cal.predict(grid) + cal.predict(-grid) == pytest.approx(np.ones(41), abs=1e-12)


@pytest.mark.parametrize("name", ["temperature", "platt", "isotonic"])
def test_round_trip_and_cross_fitting(name):
    rng = np.random.default_rng(7)
    items = np.repeat(np.arange(100), 3)
    d = rng.normal(0, 2, size=300)
    y = (rng.uniform(size=300) < expit(d / 2)).astype(float)
    oof = cross_fitted_probabilities(name, d, y, groups=items, n_folds=5, seed=1)
    # slow reference: the same folds, one calibrator per fold, predictions only on the held-out fold
    fold_of = np.empty(100, int)
    fold_of[np.random.default_rng(1).permutation(100)] = np.arange(100) % 5
    ref = np.empty(300)
    for f in range(5):
        test = fold_of[items] == f
        cal = {
            "temperature": TemperatureScaling,
            "platt": PlattScaling,
            "isotonic": IsotonicCalibration,
        }[name]().fit(d[~test], y[~test])
        ref[test] = cal.predict(d[test])
        again = calibrator_from_dict(cal.to_dict())
        assert again.predict(d) == pytest.approx(cal.predict(d), abs=0)
    assert oof == pytest.approx(ref, abs=0)
    assert brier_score_loss(oof, y) < 0.25


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="differ in length"):
        expected_calibration_error([0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score_loss([1.5], [1.0])
    with pytest.raises(ValueError, match="finite"):
        log_loss([np.nan], [1.0])
    with pytest.raises(ValueError, match="binning"):
        reliability_bins([0.5], [1.0], binning="quantiles")
    with pytest.raises(ValueError, match="n_folds"):
        cross_fitted_probabilities("temperature", [1.0, 2.0], [1.0, 0.0], n_folds=3)
    with pytest.raises(ValueError, match="calibrator must be one of"):
        calibrator_from_dict({"calibrator": "magic"})


def test_equal_mass_edges_are_the_quantiles_at_i_over_n():
    # found by hypothesis: quantile levels from linspace (0.6000000000000001) moved the 0.65 on a
    # bin edge; levels are i / n_bins exactly, as the loop reference takes them
    p = np.array([0.05, 0.4, 0.95, 0.65, 0.35, 1.0])
    y = np.array([0.5, 1.0, 0.0, 0.5, 1.0, 1.0])
    r = expected_calibration_error(p, y, n_bins=5, kind="positive", binning="mass", n_resamples=0)
    assert r.statistic == pytest.approx(slow_ece(p, y, 5, "positive", "mass"), abs=1e-12)
