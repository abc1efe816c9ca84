"""`acc_eq` has one meaning in every command: the tie-calibrated acc_eq of Deutsch, Foster &
Freitag (2023) as mt-metrics-eval computes it (``KendallWithTiesOpt(variant="acc23")``): the
metric tie threshold epsilon that maximises item-grouped acc_eq, and that maximum. Checked in
`fit`, `meta-eval` and `quality` against a slow loop over every candidate epsilon."""

from __future__ import annotations

import numpy as np
import pytest

from overcoat import api
from overcoat.data.builder import DatasetBuilder
from overcoat.metaeval.accuracy import acc_eq
from overcoat.probes.quality import human_ceiling, rater_matrices


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache.sqlite"))


def loop_tie_calibrated(H: np.ndarray, M: np.ndarray) -> float:
    """Max over epsilon in {0} + every |metric gap| of the item-macro-averaged acc_eq."""
    pairs = []  # per item: list of (human gap, metric gap)
    for h, m in zip(H, M):
        ok = [j for j in range(len(h)) if np.isfinite(h[j]) and np.isfinite(m[j])]
        p = [(h[a] - h[b], m[a] - m[b]) for i, a in enumerate(ok) for b in ok[i + 1 :]]
        if p:
            pairs.append(p)
    candidates = {0.0} | {abs(dm) for p in pairs for _, dm in p}
    best = -1.0
    for eps in sorted(candidates):
        per_item = []
        for p in pairs:
            good = 0
            for dh, dm in p:
                if dh == 0:
                    good += abs(dm) <= eps
                else:
                    good += abs(dm) > eps and np.sign(dh) == np.sign(dm)
            per_item.append(good / len(p))
        best = max(best, float(np.mean(per_item)))
    return best


def tied_data(n=40, r=4, seed=0):
    """Human scores in coarse steps of the length (many human ties)."""
    rng = np.random.default_rng(seed)
    b = DatasetBuilder("ties")
    for i in range(n):
        b.add_item(f"i{i}", f"question {i}")
        for j in range(r):
            k = int(rng.integers(1, 30))
            b.add_response(f"i{i}", f"r{j}", " ".join(f"w{i}x{j}y{t}" for t in range(k)))
            b.add_score(f"i{i}", f"r{j}", float(k // 10))
    return b.build()


def test_fit_and_meta_eval_acc_eq_are_tie_calibrated():
    ds = tied_data()
    specs = ["length", "random"]
    doc, _ = api.fit(ds, specs, statistic="acc_eq", n_resamples=20, progress=False)
    sc = api.score(ds, specs, progress=False)
    res = api.meta_evaluate(sc, api.MetaEvalSettings(n_resamples=20, significance=False))
    seg = res.to_json()["segment_level"]
    H = ds.human_matrix()
    for name in sc.scores:
        want = loop_tie_calibrated(H, sc.matrix(name))
        assert doc["scorers"][name]["statistic"] == pytest.approx(want, abs=1e-12)
        assert seg[name]["acc_eq"]["statistic"] == pytest.approx(want, abs=1e-12)
    # not the plain acc_eq at epsilon 0 (what `fit --statistic acc_eq` used to report)
    assert doc["scorers"]["length"]["statistic"] > acc_eq(H, sc.matrix("length")).statistic + 0.1
    assert doc["statistic"] == "acc_eq"


def test_quality_acc_eq_is_tie_calibrated():
    b = DatasetBuilder("raters")
    rng = np.random.default_rng(1)
    for i in range(6):
        b.add_item(f"i{i}", f"input {i}")
        for j in range(4):
            b.add_response(f"i{i}", f"s{j}", f"t{i}{j}")
            for r in ("r1", "r2", "r3"):
                b.add_score(f"i{i}", f"s{j}", float(rng.integers(0, 3)), rater=r)
    ds = b.build()
    metric = rng.normal(size=ds.n_responses)
    res = human_ceiling(ds, {"m": metric}, statistic="acc_eq", n_resamples=0)
    mats = rater_matrices(ds)
    gold = (mats["r2"] + mats["r3"]) / 2  # the other raters' mean, for rater r1
    M = ds.to_matrix(metric)
    assert res["raters"]["r1"]["m"]["statistic"] == pytest.approx(
        loop_tie_calibrated(gold, M), abs=1e-12
    )
    assert res["raters"]["r1"]["human"]["statistic"] == pytest.approx(
        loop_tie_calibrated(gold, mats["r1"]), abs=1e-12
    )
