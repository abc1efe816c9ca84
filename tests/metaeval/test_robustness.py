"""perturbation_sensitivity against a loop, on a hand case and a simulated length-loving scorer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval.robustness import perturbation_sensitivity


def test_hand_case():
    p = [3.0, 3.0, 1.0, 2.0]
    d = [1.0, 2.0, 2.0, 2.0]
    d2 = [4.0, 2.5, 3.0, 2.0]
    r = perturbation_sensitivity(p, d, d2, n_resamples=0)
    assert r.accuracy_before.statistic == 0.5  # pairs 0, 1 right; 2 wrong; 3 tie (strict: wrong)
    assert r.accuracy_after.statistic == 0.25  # pair 0 flipped
    assert r.flip_rate.statistic == 0.5 and r.flip_rate.n_pairs == 2
    assert r.mean_shift.statistic == pytest.approx((3 + 0.5 + 1 + 0) / 4)
    sd = np.std(p + d)
    assert r.standardized_shift.statistic == pytest.approx(r.mean_shift.statistic / sd)
    h = perturbation_sensitivity(p, d, d2, ties="half", n_resamples=0)
    assert h.accuracy_before.statistic == pytest.approx(2.5 / 4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 4).map(float)] * 3), min_size=1, max_size=30))
def test_equals_loop(rows):
    p, d, d2 = (np.array(c) for c in zip(*rows))
    r = perturbation_sensitivity(p, d, d2, n_resamples=0)
    right = [i for i in range(len(p)) if p[i] > d[i]]
    flips = [i for i in right if not p[i] > d2[i]]
    assert r.accuracy_before.statistic == pytest.approx(len(right) / len(p))
    if right:
        assert r.flip_rate.statistic == pytest.approx(len(flips) / len(right))
    else:
        assert np.isnan(r.flip_rate.statistic) and r.flip_rate.confidence_interval is None


def test_simulated_length_loving_scorer_and_ci():
    rng = np.random.default_rng(0)
    n = 2000
    quality_p, quality_d = rng.normal(1, 1, n), rng.normal(0, 1, n)
    s_p, s_d = quality_p + rng.normal(0, 0.5, n), quality_d + rng.normal(0, 0.5, n)
    padded = s_d + 1.0  # the scorer adds 1 for padding
    r = perturbation_sensitivity(
        s_p, s_d, padded, groups=np.arange(n) // 2, n_resamples=400, seed=3
    )
    assert r.mean_shift.statistic == pytest.approx(1.0)
    assert r.flip_rate.statistic > 0.2
    lo, hi = r.flip_rate.confidence_interval
    assert lo < r.flip_rate.statistic < hi
    again = perturbation_sensitivity(
        s_p, s_d, padded, groups=np.arange(n) // 2, n_resamples=400, seed=3
    )
    assert again == r
    robust = perturbation_sensitivity(s_p, s_d, s_d, n_resamples=0)
    assert robust.flip_rate.statistic == 0.0 and robust.mean_shift.statistic == 0.0


def test_nan_pairs_left_out_and_errors():
    r = perturbation_sensitivity([1.0, np.nan], [0.0, 0.0], [0.5, 0.0], n_resamples=0)
    assert r.accuracy_before.n_pairs == 1
    with pytest.raises(ValueError, match="no pair"):
        perturbation_sensitivity([np.nan], [0.0], [0.0])
    with pytest.raises(ValueError, match="differ in length"):
        perturbation_sensitivity([1.0], [0.0, 1.0], [0.0])
