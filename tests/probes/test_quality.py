"""Data-quality probes on hand-built multi-rater data."""

import numpy as np
import pytest

from overcoat.data.builder import DatasetBuilder
from overcoat.metaeval import fleiss_kappa, krippendorff_alpha
from overcoat.metaeval.correlation import kendall_tau
from overcoat.probes.quality import agreement_probe, duplicates, human_ceiling, rater_matrices


def raters_dataset():
    # 4 items x 3 responses; raters r1, r2 agree; r3 is reversed on item 0
    scores = {
        "r1": [[3, 2, 1], [1, 2, 3], [2, 1, 0], [0, 1, 2]],
        "r2": [[3, 1, 0], [1, 3, 4], [2, 2, 0], [1, 1, 3]],
        "r3": [[0, 2, 3], [0, 2, 3], [3, 1, 1], [0, 2, 2]],
    }
    b = DatasetBuilder("raters")
    for i in range(4):
        b.add_item(f"i{i}", "same input" if i < 2 else f"input {i}")
        for j in range(3):
            b.add_response(f"i{i}", f"s{j}", "dup" if (i == 3 and j > 0) else f"t{i}{j}")
    for r, m in scores.items():
        for i in range(4):
            for j in range(3):
                b.add_score(f"i{i}", f"s{j}", float(m[i][j]), rater=r)
    return b.build(), {r: np.array(m, float) for r, m in scores.items()}


def test_rater_matrices_and_agreement_equal_direct_estimators():
    ds, S = raters_dataset()
    mats = rater_matrices(ds)
    assert list(mats) == ["r1", "r2", "r3"]
    assert np.array_equal(mats["r2"], S["r2"])
    res = agreement_probe(ds, n_resamples=50)
    R = np.stack([S[r].ravel() for r in ("r1", "r2", "r3")])
    assert res["krippendorff_alpha_interval"]["statistic"] == pytest.approx(
        krippendorff_alpha(R, n_resamples=0).statistic
    )
    jj, kk = np.triu_indices(3, 1)
    labels = np.stack([np.sign(S[r][:, jj] - S[r][:, kk]).ravel() for r in ("r1", "r2", "r3")])
    assert res["fleiss_kappa_pairwise"]["statistic"] == pytest.approx(
        fleiss_kappa(labels, n_resamples=0).statistic
    )
    assert res["ratings_per_cell"] == {"3": 12}


def test_human_ceiling_uses_the_other_raters_mean_on_the_same_cells():
    ds, S = raters_dataset()
    metric = S["r1"].ravel()  # a scorer identical to rater r1
    res = human_ceiling(ds, {"copy_of_r1": metric}, n_resamples=0)
    gold_for_r1 = (S["r2"] + S["r3"]) / 2
    expect = kendall_tau(gold_for_r1, S["r1"], variant="b", group="item").statistic
    assert res["raters"]["r1"]["human"]["statistic"] == pytest.approx(expect)
    assert res["raters"]["r1"]["copy_of_r1"]["statistic"] == pytest.approx(expect)
    assert res["n_raters"] == 3
    assert set(res["mean_over_raters"]) == {"human", "copy_of_r1"}


def test_duplicates():
    ds, _ = raters_dataset()
    d = duplicates(ds)
    assert d["duplicate_inputs"] == [["i0", "i1"]]
    assert d["identical_responses"] == [{"item_id": "i3", "response_ids": ["s1", "s2"]}]


def test_single_rater_data_is_a_clear_error():
    b = DatasetBuilder("one")
    b.add_item("i", "x")
    b.add_response("i", "a", "t")
    b.add_response("i", "b", "u")
    b.add_score("i", "a", 1.0, rater="r")
    b.add_score("i", "b", 0.0, rater="r")
    with pytest.raises(ValueError, match="two or more raters"):
        agreement_probe(b.build())
    with pytest.raises(ValueError, match="one rater"):
        human_ceiling(b.build(), {})


# -- rater scores read once; near duplicates; stability, budget, suspects on hand data ------

import itertools  # noqa: E402

from overcoat.probes.quality import (  # noqa: E402
    near_duplicate_pairs,
    near_duplicates,
    rater_data,
    stability_probe,
    suspect_rows,
)


def test_rater_data_holds_both_views_of_one_read():
    ds, S = raters_dataset()
    d = rater_data(ds)
    raters, units, R = ds.judgments.rater_matrix()
    assert d.raters == raters and d.units == units and np.array_equal(d.R, R, equal_nan=True)
    for i, r in enumerate(raters):
        assert np.array_equal(d.X[i], S[r])
    # the probes accept it and give what they give without it
    a = agreement_probe(ds, n_resamples=30, data=d)
    assert a == agreement_probe(ds, n_resamples=30)
    h = human_ceiling(ds, {}, n_resamples=0, data=d)
    assert h == human_ceiling(ds, {}, n_resamples=0)


def ref_near(texts, n, threshold):
    from overcoat.probes.quality import _shingles

    sets = [_shingles(t, n) for t in texts]
    out = []
    for i, j in itertools.combinations(range(len(texts)), 2):
        if sets[i] and sets[j]:
            jac = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
            if jac >= threshold:
                out.append((i, j, jac))
    return sorted(out, key=lambda x: (-x[2], x[0], x[1]))


def test_near_duplicate_pairs_equal_all_pairs_reference():
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(30)]
    texts[5] = texts[3] + " kappa"  # a near duplicate
    texts[7] = texts[3].upper() + "!"  # a duplicate after normalisation
    texts[9] = ""
    for thr in (0.3, 0.6, 0.9, 1.0):
        got = near_duplicate_pairs(texts, ngram=4, threshold=thr, block=7)
        ref = ref_near(texts, 4, thr)
        assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in ref]
        assert [v for *_, v in got] == pytest.approx([v for *_, v in ref])
    assert (3, 7, 1.0) in near_duplicate_pairs(texts, ngram=4, threshold=1.0)
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_pairs(texts, threshold=0)


def test_near_duplicates_on_a_data_set():
    ds, _ = raters_dataset()
    nd = near_duplicates(ds, threshold=0.5)
    assert nd["n_pairs"] == 2  # i0/i1 (same input) and i2/i3 ("input 2" vs "input 3")
    assert nd["examples"][0]["item_ids"] == ["i0", "i1"] and nd["examples"][0]["jaccard"] == 1
    # i3's three responses: "t30", "dup", "dup": not all identical
    assert nd["n_items_with_all_responses_identical"] == 0
    b = DatasetBuilder("same")
    b.add_item("x", "q")
    for r in "abc":
        b.add_response("x", r, "one text")
    b.add_score("x", "a", 1.0)
    assert near_duplicates(b.build())["items_with_all_responses_identical"] == ["x"]


def test_stability_probe_on_hand_data():
    ds, S = raters_dataset()
    rng = np.random.default_rng(0)
    mean = np.mean([S[r] for r in S], axis=0).ravel()
    scores = {"good": mean + rng.normal(0, 0.1, 12), "noise": rng.normal(0, 1, 12)}
    st = stability_probe(ds, scores, n_splits=20, seed=1)
    assert st["split"] == "both" and st["scorers_ranked"] == ["good", "noise"]
    assert st["systems"]["n_entities"] == 3 and st["scorers"]["n_entities"] == 2
    assert repr(st) == repr(stability_probe(ds, scores, n_splits=20, seed=1))  # NaN too
    assert "scorers" not in stability_probe(ds, {"good": scores["good"]}, n_splits=5)


def test_suspect_rows_carry_what_a_reannotator_needs():
    ds, S = raters_dataset()
    H = np.mean([S[r] for r in S], axis=0)
    rev = -H.ravel()  # a scorer that always disagrees with the humans
    rows = suspect_rows(ds, {"rev": rev, "same": H.ravel()}, n_folds=2)
    n_pairs = int(sum((H[i, j] != H[i, k]) for i in range(4) for j, k in [(0, 1), (0, 2), (1, 2)]))
    assert len(rows) == n_pairs and [r["rank"] for r in rows] == list(range(1, n_pairs + 1))
    r = rows[0]
    assert set(r) >= {
        "item_id", "input", "preferred_response_id", "preferred_text", "other_response_id",
        "other_text", "human_score_preferred", "human_score_other", "ensemble_p_other_better",
        "unanimous", "vote:rev", "vote:same", "p_other_better:rev", "p_other_better:same",
    }  # fmt: skip
    for r in rows:
        assert r["human_score_preferred"] > r["human_score_other"]
        assert r["vote:rev"] == 1 and r["vote:same"] == -1 and not r["unanimous"]
        i = int(r["item_id"][1])
        assert r["input"] == ("same input" if i < 2 else f"input {i}")
        assert r["preferred_text"] == ("dup" if i == 3 and r["preferred_response_id"] != "s0"
                                       else f"t{i}{r['preferred_response_id'][1]}")  # fmt: skip
        assert r["ensemble_p_other_better"] == pytest.approx(
            (r["p_other_better:rev"] + r["p_other_better:same"]) / 2
        )
    with pytest.raises(ValueError, match="one or more scorers"):
        suspect_rows(ds, {})
