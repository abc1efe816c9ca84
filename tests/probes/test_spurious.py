"""Probe orchestration on small in-memory data sets with a length scorer and chrF."""

import pytest

from overcoat.data.builder import DatasetBuilder
from overcoat.metaeval.robustness import perturbation_sensitivity
from overcoat.probes.spurious import (
    length_probe,
    perturbation_probe,
    perturbed_dataset,
    response_lengths,
)


def pairs_dataset():
    b = DatasetBuilder("toy")
    rows = [
        ("q1", "Paris is the capital.", "It is Lyon, I think, or maybe some other city."),
        ("q2", "Four.", "The answer is five, because two plus two is five."),
        ("q3", "Water boils at 100 degrees Celsius at sea level.", "Hot."),
    ]
    for i, (q, good, bad) in enumerate(rows):
        b.add_item(f"i{i}", q)
        b.add_response(f"i{i}", "chosen", good)
        b.add_response(f"i{i}", "rejected", bad)
        b.add_score(f"i{i}", "chosen", 1.0)
        b.add_score(f"i{i}", "rejected", 0.0)
    return b.build()


def test_lengths_and_length_probe():
    ds = pairs_dataset()
    L = response_lengths(ds)
    assert L[0] == len("Paris is the capital.")
    assert response_lengths(ds, "words")[1] == 10
    res = length_probe(ds, {"length": L}, n_resamples=0)["length"]
    # chosen is longer only in q3
    assert res.accuracy.statistic == pytest.approx(1 / 3)
    assert res.longer_preferred.n_pairs == 1 and res.shorter_preferred.n_pairs == 2
    with pytest.raises(ValueError, match="unit"):
        response_lengths(ds, "tokens")


def test_perturbed_dataset_keeps_ids_and_is_deterministic():
    ds = pairs_dataset()
    p1 = perturbed_dataset(ds, "filler", seed=3)
    p2 = perturbed_dataset(ds, "filler", seed=3)
    assert p1.responses.column("text").to_pylist() == p2.responses.column("text").to_pylist()
    assert (
        p1.responses.column("response_id").to_pylist()
        == ds.responses.column("response_id").to_pylist()
    )
    assert all(
        n.startswith(o)
        for n, o in zip(
            p1.responses.column("text").to_pylist(), ds.responses.column("text").to_pylist()
        )
    )
    with pytest.raises(ValueError, match="perturbation must be one of"):
        perturbed_dataset(ds, "nope")


def test_perturbation_probe_equals_direct_estimator():
    ds = pairs_dataset()
    score = lambda d: response_lengths(d)  # noqa: E731  a length-loving scorer
    base = score(ds)
    res = perturbation_probe(ds, base, score, ["filler", "truncate"], n_resamples=0)
    pert = response_lengths(perturbed_dataset(ds, "filler"))
    direct = perturbation_sensitivity(base[0::2], base[1::2], pert[1::2], n_resamples=0)
    assert res["filler"] == direct
    assert res["filler"].mean_shift.statistic > 50  # padding adds length
    assert res["truncate"].mean_shift.statistic < 0
    assert res["filler"].flip_rate.statistic == 1.0  # q3, the only pair right before, flips
