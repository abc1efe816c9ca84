"""calibration_probe on a simulated Bradley-Terry data set with a known temperature."""

import numpy as np
import pytest
from scipy.special import expit

from overcoat.data.builder import DatasetBuilder
from overcoat.probes.calibration import calibration_probe, preference_evidence


def bt_dataset(n=400, T=3.0, seed=0):
    rng = np.random.default_rng(seed)
    b = DatasetBuilder("bt")
    scores = []
    for i in range(n):
        s = rng.normal(0, 4, size=2)
        b.add_item(f"i{i}", "q")
        b.add_response(f"i{i}", "a", "x")
        b.add_response(f"i{i}", "b", "y")
        a_wins = rng.uniform() < expit((s[0] - s[1]) / T)
        b.add_score(f"i{i}", "a", 1.0 if a_wins else 0.0)
        b.add_score(f"i{i}", "b", 0.0 if a_wins else 1.0)
        scores.extend(s)
    return b.build(), np.array(scores)


def test_temperature_fixes_an_overconfident_scorer_held_out():
    ds, s = bt_dataset()
    res = calibration_probe(ds, s, n_resamples=100, seed=1)
    assert res["n_pairs"] == 400 and res["n_human_ties"] == 0
    raw, temp = res["methods"]["raw"], res["methods"]["temperature"]
    assert raw["ece"]["statistic"] > 0.08  # sigmoid(delta) with T=1 is overconfident
    assert temp["ece"]["statistic"] < raw["ece"]["statistic"] / 2
    assert temp["log_loss"] < raw["log_loss"]
    assert res["fitted"]["temperature"]["temperature"] == pytest.approx(3.0, rel=0.25)
    assert set(res["methods"]) == {"raw", "temperature", "platt", "isotonic"}
    assert "held_out_acc_eq" in res["tie_threshold"]
    assert sum(temp["reliability"]["count"]) == 400


def test_pairwise_probability_evidence_is_the_logit():
    H = np.array([[1.0, 0.0]])
    M = np.array([[0.8, 0.2]])
    d, y, item = preference_evidence(H, M, is_probability=True, seed=None)
    assert d[0] == pytest.approx(np.log(0.8 / 0.2)) and y[0] == 1.0 and item[0] == 0


def test_column_order_that_carries_the_label_is_not_learned():
    # preference data: the chosen response is always column 0, scores carry no signal
    rng = np.random.default_rng(3)
    H = np.tile([1.0, 0.0], (500, 1))
    M = rng.normal(size=(500, 2))
    d, y, _ = preference_evidence(H, M, seed=1)
    assert 0.4 < y.mean() < 0.6  # both orders present
    d0, y0, _ = preference_evidence(H, M, seed=None)
    assert (y0 == 1).all()
    flipped = y != y0
    assert np.array_equal(d[flipped], -d0[flipped]) and np.array_equal(d[~flipped], d0[~flipped])
