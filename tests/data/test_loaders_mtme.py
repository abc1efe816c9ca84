"""mt-metrics-eval directories."""

import shutil

import numpy as np
import pytest

from overcoat.data.loaders import load_mtme
from overcoat.data.loaders.mtme import language_pairs


@pytest.fixture
def mini(fixtures, tmp_path):
    """A writable copy of the fixture test set."""
    root = tmp_path / "wmt-mini"
    shutil.copytree(fixtures / "mtme" / "wmt-mini", root)
    return root


def test_mtme_default(fixtures):
    root = fixtures / "mtme" / "wmt-mini"
    assert language_pairs(root) == ["en-de"]
    ds = load_mtme(root)
    assert ds.name == "wmt-mini.en-de"
    assert ds.items.column("item_id").to_pylist() == ["en-de:1", "en-de:2", "en-de:3"]
    assert ds.items.column("input").to_pylist()[1] == "It is raining."
    assert ds.items.column("references").to_pylist() == [
        ["Das Haus ist klein."],
        ["Es regnet."],
        ["Guten Morgen!"],
    ]
    assert ds.items.column("domain").to_pylist() == ["news", "news", "conversation"]
    assert ds.items.column("doc").to_pylist() == ["doc1", "doc1", "doc2"]
    assert ds.items.column("lp").to_pylist() == ["en-de"] * 3
    # references are not evaluated systems by default; sysB's empty line 2 is skipped
    assert ds.response_ids() == ["sysA", "sysB"]
    assert ds.n_responses == 5
    assert ds.info["empty_outputs"] == 1
    assert ds.info["reference"] == "refA" and ds.info["references"] == ["refA", "refB"]
    assert ds.info["excluded_systems"] == ["refA", "refB"]
    assert ds.info["human"] == "mqm"
    assert ds.info["system_scores"] == {"refA": 0.0, "refB": -0.5, "sysA": -0.37, "sysB": -15.0}
    assert ds.judgments.raters == []
    np.testing.assert_array_equal(ds.human_matrix(), [[0, -5], [-0.1, np.nan], [-1, np.nan]])


def test_mtme_options(fixtures):
    root = fixtures / "mtme" / "wmt-mini"
    ds = load_mtme(
        root, "en-de", reference="refB", include_references=True, exclude_systems=["sysB"]
    )
    assert ds.response_ids() == ["refA", "refB", "sysA"]
    assert ds.items.column("references")[0].as_py() == ["Das Haus ist winzig."]
    np.testing.assert_array_equal(ds.human_matrix(), [[0, -1, 0], [0, 0, -0.1], [0, np.nan, -1]])
    z = load_mtme(root, human="wmt-z")
    assert z.info["human"] == "wmt-z" and "system_scores" not in z.info
    np.testing.assert_array_equal(z.human_matrix(), [[0.5, -0.3], [0.2, np.nan], [0.1, -0.8]])
    none = load_mtme(root, human=None)
    assert none.judgments is None


def test_mtme_bare_seg_score_name(mini):
    (mini / "human-scores" / "en-de.mqm.seg.score").rename(
        mini / "human-scores" / "en-de.seg.score"
    )
    (mini / "human-scores" / "en-de.mqm.sys.score").rename(
        mini / "human-scores" / "en-de.sys.score"
    )
    ds = load_mtme(mini)
    assert ds.info["human"] == ""
    assert ds.info["system_scores"]["sysB"] == -15.0
    assert ds.human_matrix()[0].tolist() == [0, -5]


def test_mtme_option_errors(err, fixtures, tmp_path):
    root = fixtures / "mtme" / "wmt-mini"
    assert err(load_mtme, root, "de-en") == f"{root}: no sources/de-en.txt (language pairs: en-de)"
    assert (
        err(load_mtme, root, reference="refC")
        == f"{root}/references/en-de.*.txt: no reference 'refC' (references: refA, refB)"
    )
    assert (
        err(load_mtme, root, human="esa")
        == f"{root}/human-scores: no human scores 'esa' for en-de (available: mqm, wmt-z)"
    )
    assert (
        err(load_mtme, tmp_path)
        == f"{tmp_path}: not an mt-metrics-eval test-set directory (no sources/ folder)"
    )
    assert (
        err(load_mtme, tmp_path / "nope")
        == f"{tmp_path / 'nope'}: not a directory (an mt-metrics-eval test set is a directory)"
    )


def test_mtme_several_language_pairs(err, mini):
    (mini / "sources" / "de-en.txt").write_text("x\n")
    assert (
        err(load_mtme, mini)
        == f"{mini}: 2 language pairs (de-en, en-de); pick one with lp=LP (spec mtme:PATH:LP)"
    )


def test_mtme_line_count_mismatch(err, mini):
    p = mini / "system-outputs" / "en-de" / "sysA.txt"
    p.write_text("one\ntwo\n")
    assert err(load_mtme, mini) == f"{p}: the system output has 2 lines but the source has 3"
    p = mini / "documents" / "en-de.docs"
    p.write_text("news doc1\nnews\n")
    assert err(load_mtme, mini) == f"{p}, line 2: expected 'DOMAIN DOC'"


def _seg(mini, text):
    p = mini / "human-scores" / "en-de.mqm.seg.score"
    p.write_text(text)
    return p


GOOD = "sysA\t0\nsysA\t-0.1\nsysA\t-1\nsysB\t-5\nsysB\t-25\nsysB\tNone\n"


def test_mtme_score_for_unknown_system(err, mini):
    p = _seg(mini, GOOD + "sysX\t-1\n")
    assert (
        err(load_mtme, mini) == f"{p}, line 7, field 'system': score for unknown system 'sysX' (no "
        "system-outputs/en-de/sysX.txt)"
    )


def test_mtme_bad_scores(err, mini):
    p = _seg(mini, GOOD.replace("sysA\t-0.1", "sysA\tnan"))
    assert err(load_mtme, mini) == f"{p}, line 2, field 'score': score is not finite ('nan')"
    p = _seg(mini, GOOD.replace("sysA\t-0.1", "sysA\tbad"))
    assert err(load_mtme, mini) == f"{p}, line 2, field 'score': not a number: 'bad'"
    p = _seg(mini, GOOD.replace("sysA\t-0.1", "sysA"))
    assert err(load_mtme, mini) == f"{p}, line 2: expected 'SYSTEM<TAB>SCORE'"
    p = _seg(mini, GOOD + "sysA\t0\n")
    assert err(load_mtme, mini) == (
        f"{p}, line 7, field 'score': more than 3 segment scores for "
        "system 'sysA' (the source has 3 segments)"
    )
    p = _seg(mini, GOOD.replace("sysB\tNone\n", ""))
    assert (
        err(load_mtme, mini) == f"{p}: 2 segment scores for system 'sysB', expected 3 (one "
        "per segment)"
    )


def test_mtme_non_utf8_and_gzip_truncation(err, mini):
    import gzip

    p = mini / "sources" / "en-de.txt"
    p.write_bytes(b"ok\nbad \xff\nok\n")
    assert err(load_mtme, mini) == f"{p}: line 2: not valid UTF-8 (byte 0xff at offset 7)".replace(
        ": line", ", line"
    )
    data = gzip.compress(b"x\n" * 5000)
    p.write_bytes(data[:40])
    assert err(load_mtme, mini) == f"{p}: truncated gzip file"
