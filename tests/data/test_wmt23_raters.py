"""WMT23 side-by-side MQM (three ratings per cell): loader, attention checks, rater matrix."""

import gzip

import numpy as np
import pytest

from overcoat.data.bundled import _REGISTRY
from overcoat.data.mqm import load_mqm_tsv
from overcoat.metaeval import krippendorff_alpha

HEADER = "system\tdoc\tdocSegId\tglobalSegId\trater\tsource\ttarget\tcategory\tseverity\n"


def test_side_by_side_layout_attention_checks_and_rater_matrix(tmp_path):
    rows = [
        "s1\td\t1\t7\tr1\tsrc\tt<v>1</v>\tAccuracy/Mistranslation\tMajor",
        "s1\td\t1\t7\tr1\tsrc\tt1\tFound\tHOTW-test",
        "s1\td\t1\t7\tr2\tsrc\tt1\tNo-error\tNo-error",
        "s2\td\t1\t7\tr1\tsrc\tt2\tFluency/Punctuation\tMinor",
        "s2\td\t1\t7\tr2\tsrc\tt2\tSource issue\tMinor",
        "s2\td\t1\t7\tr2\tsrc\tt2\tFound\tHOTW-test",
        "s2\td\t1\t7\tr2\tsrc\tt2\tFound\tHOTW-test",
    ]
    p = tmp_path / "x.sxs3.tsv.gz"
    with gzip.open(p, "wt") as f:
        f.write(HEADER + "\n".join(rows) + "\n")
    ds = load_mqm_tsv(str(p))
    assert ds.info["attention_checks"] == {"r1": 1, "r2": 2}
    assert ds.items.column("item_id").to_pylist() == ["7"]
    raters, units, X = ds.judgments.rater_matrix()
    assert raters == ["r1", "r2"]
    assert units == [("7", "s1"), ("7", "s2")]
    # r1: s1 Major 5 (+ attention check 0), s2 punctuation 0.1; r2: s1 0, s2 source issue Minor 1
    assert X.tolist() == [[-5.0, -0.1], [0.0, -1.0]]


def test_rater_matrix_needs_rater_ids_and_one_score_per_rater(tmp_path):
    p = tmp_path / "dup.tsv"
    p.write_text(
        "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\n"
        "s1\td\t1\t1\t\tsrc\tt\tNo-error\tNo-error\n"
    )
    with pytest.raises(ValueError, match="rater ids"):
        load_mqm_tsv(str(p)).judgments.rater_matrix()


@pytest.mark.parametrize("name,n_items,n_raters", [("wmt23-ende", 104, 10), ("wmt23-zhen", 377, 8)])
def test_bundled_three_rater_data_and_alpha_parity(name, n_items, n_raters):
    ds = _REGISTRY[name].load()
    assert ds.items.num_rows == n_items
    raters, units, X = ds.judgments.rater_matrix()
    assert len(raters) == n_raters and len(units) == n_items * 10
    assert ((~np.isnan(X)).sum(axis=0) == 3).all()  # exactly three ratings per cell
    assert sum(ds.info["attention_checks"].values()) > 0
    kp = pytest.importorskip("krippendorff")
    for level in ("interval", "ordinal"):
        ours = krippendorff_alpha(X, level=level, n_resamples=0).statistic
        assert ours == pytest.approx(
            kp.alpha(reliability_data=X, level_of_measurement=level), abs=1e-9
        )
