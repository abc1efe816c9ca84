"""The MQM loader reproduces every published TED segment score (Google's avg_seg_scores files)."""

import numpy as np
import pytest

from overcoat.data.bundled import bundled_datasets, bundled_path
from overcoat.data.mqm import load_mqm_tsv, read_avg_seg_scores
from overcoat.errors import DataError

# the averages file names the references ref-A / ref-B where the TSV says ref / refB
RENAME = {"ref": "ref-A", "refB": "ref-B"}


@pytest.mark.parametrize("pair,expected_n", [("ende", 7406), ("zhen", 7935)])
def test_reproduces_every_published_segment_score(pair, expected_n):
    ds = load_mqm_tsv(str(bundled_path("wmt21-ted-mqm", f"mqm_ted_{pair}.tsv.gz")))
    ours = ds.judgments.mean_scores()
    got = {
        (RENAME.get(s, s), seg): x
        for seg, s, x in zip(
            ours.column("item_id").to_pylist(),
            ours.column("response_id").to_pylist(),
            ours.column("score").to_pylist(),
        )
    }
    published = read_avg_seg_scores(
        str(bundled_path("wmt21-ted-mqm", f"mqm_ted_{pair}.avg_seg_scores.tsv.gz"))
    )
    rated = {k: v for k, v in published.items() if v is not None}
    assert len(rated) == expected_n
    assert set(got) == set(rated)
    mismatches = [k for k, v in rated.items() if round(got[k], 6) != v]
    assert mismatches == []


def test_weights_hand_case(tmp_path):
    rows = [
        "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\tcomment",
        "sysA\td\t1\t1\tr1\tHello <v>world</v>\tHallo <v>Welt</v>\tAccuracy/Mistranslation\tMajor\t",
        "sysA\td\t1\t1\tr1\tHello world\tHallo Welt\tFluency/Punctuation\tMinor\t",
        "sysA\td\t1\t1\tr2\tHello world\tHallo Welt\tStyle/Awkward\tMinor\t",
        "sysB\td\t1\t1\tr1\tHello world\tHallo, Welt\tNo-error\tNo-error\t",
        "sysB\td\t1\t2\tr1\tBye\tTschüss\tNon-translation!\tMinor\t",
        "sysA\td\t1\t2\tr1\tBye\tCiao\tOther\tNeutral\t",
    ]
    p = tmp_path / "m.tsv"
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ds = load_mqm_tsv(str(p))
    h = ds.human_matrix()
    cols = ds.layout().column_ids
    a, b = cols.index("sysA"), cols.index("sysB")
    # seg 1 sysA: rater r1 = 5 + 0.1, r2 = 1 -> mean 3.05, negated
    assert h[0, a] == pytest.approx(-3.05)
    assert h[0, b] == 0.0
    assert h[1, b] == -25.0 and h[1, a] == 0.0
    # marks stripped, raters kept
    assert ds.items.column("input").to_pylist()[0] == "Hello world"
    assert "Hallo Welt" in ds.responses.column("text").to_pylist()
    assert set(ds.judgments.raters) == {"r1", "r2"}


def test_bad_severity_names_line_and_field(tmp_path):
    p = tmp_path / "m.tsv"
    p.write_text(
        "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\n"
        "s\td\t1\t1\tr\tx\ty\tOther\tCatastrophic\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as e:
        load_mqm_tsv(str(p))
    assert str(e.value) == f"{p}, line 2, field 'severity': unknown severity 'Catastrophic'"


def test_bundled_ted_uses_ref_as_reference():
    b = bundled_datasets()
    ende = b["ted-ende"].load()
    zhen = b["ted-zhen"].load()
    assert ende.n_items == 529 and zhen.n_items == 529
    assert "ref" not in ende.response_ids() and len(ende.response_ids()) == 13
    assert not {"ref", "refB"} & set(zhen.response_ids()) and len(zhen.response_ids()) == 13
    assert all(len(r) == 1 for r in ende.items.column("references").to_pylist())
    assert ende.human_matrix().shape == (529, 13)
    assert not np.isnan(ende.human_matrix()).any()
