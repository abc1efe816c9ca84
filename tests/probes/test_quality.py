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
