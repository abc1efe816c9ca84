"""Bradley-Terry combination: recovers planted weights, cross-fitting never sees its test items,
beats its parts when they carry independent signal, round-trips."""

import numpy as np
import pytest

from overcoat.metaeval import pairwise_accuracy
from overcoat.metaeval.combination import (
    PreferenceCombination,
    cross_fitted_combination,
    fit_preference_combination,
)


def simulate(n=400, R=4, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, R))  # true quality
    a = q + rng.normal(0, 1.0, size=(n, R))
    b = q + rng.normal(0, 1.0, size=(n, R))  # independent noise: averaging helps
    junk = rng.normal(size=(n, R))
    return np.stack([a, 10 * b, junk], axis=2), q


def test_fit_weights_scale_invariant_and_junk_near_zero():
    X, H = simulate()
    m = fit_preference_combination(X, H, names=["a", "b", "junk"], l2=0.0)
    wa, wb, wj = m.weights * np.array([1, 1, 1])
    assert wa > 0 and wb > 0 and abs(wj) < 0.2 * min(wa, wb)
    assert wa == pytest.approx(wb, rel=0.25)  # equally informative once scaled
    assert m.scale[1] == pytest.approx(10 * m.scale[0], rel=0.1)
    # rescaling a feature rescales its scale, not the fitted combination
    X2 = X.copy()
    X2[..., 0] *= 3
    m2 = fit_preference_combination(X2, H, l2=0.0)
    assert m2.score(X2) == pytest.approx(m.score(X), rel=1e-6, abs=1e-9)


def test_cross_fitting_uses_other_folds_only_and_beats_single_scorers():
    X, H = simulate(seed=1)
    oof = cross_fitted_combination(X, H, n_folds=5, seed=2, names=["a", "b", "junk"])
    # slow reference: same folds, explicit loop
    n = X.shape[0]
    fold = np.empty(n, int)
    fold[np.random.default_rng(2).permutation(n)] = np.arange(n) % 5
    for f in range(5):
        train = fold != f
        m = fit_preference_combination(X[train], H[train], names=["a", "b", "junk"])
        assert oof[fold == f] == pytest.approx(m.score(X[fold == f]), abs=1e-12)
    acc = lambda M: pairwise_accuracy(H, M).statistic  # noqa: E731
    assert acc(oof) > max(acc(X[..., 0]), acc(X[..., 1])) + 0.02


def test_round_trip_and_bad_models():
    X, H = simulate(n=50)
    m = fit_preference_combination(X, H, names=["a", "b", "c"])
    again = PreferenceCombination.from_dict(m.to_dict())
    assert again.score(X) == pytest.approx(m.score(X), abs=0)
    with pytest.raises(ValueError, match="not a combination"):
        PreferenceCombination.from_dict({"model": "x"})
    with pytest.raises(ValueError, match="bad combination"):
        PreferenceCombination.from_dict({**m.to_dict(), "scale": [1, 0, 1]})
    with pytest.raises(ValueError, match="expected 3 features"):
        m.score(X[..., :2])
    with pytest.raises(ValueError, match="n_folds"):
        cross_fitted_combination(X, H, n_folds=1)
