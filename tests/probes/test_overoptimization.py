import numpy as np
import pytest

from overcoat.data.builder import DatasetBuilder
from overcoat.metaeval.best_of_n import best_of_n_curve
from overcoat.probes.overoptimization import overoptimization_probe


def test_probe_equals_the_estimator_on_the_matrix_form():
    b = DatasetBuilder("pool")
    rng = np.random.default_rng(0)
    H = rng.integers(0, 5, size=(6, 4)).astype(float)
    P = rng.integers(0, 5, size=(6, 4)).astype(float)
    for i in range(6):
        b.add_item(f"i{i}", "q")
        for j in range(4):
            b.add_response(f"i{i}", f"sys{j}", f"t{i}{j}")
            b.add_score(f"i{i}", f"sys{j}", H[i, j])
    ds = b.build()
    res = overoptimization_probe(ds, P.ravel(), n_resamples=50, seed=2)
    ref = best_of_n_curve(P, H, n_resamples=50, seed=2)
    assert res["gold"] == pytest.approx(ref.gold.tolist())
    assert res["peak_n"] == ref.peak_n and res["gold_source"] == "human"
    other = overoptimization_probe(ds, P.ravel(), gold_scores=P.ravel(), n_resamples=0)
    assert other["gold"] == pytest.approx(other["proxy"]) and other["gold_source"] == "scorer"
