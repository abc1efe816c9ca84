"""Data spec strings -> loaders."""

import sys
import types

import pytest

from overcoat.data.spec import SPEC_FORMATS, load_data, split_spec
from overcoat.errors import DataError, SpecError


def test_split_spec(fixtures):
    assert split_spec("jsonl:/x/y.txt") == ("jsonl", "/x/y.txt")
    assert split_spec("HF:allenai/reward-bench:filtered") == ("hf", "allenai/reward-bench:filtered")
    assert split_spec("reward-bench:/a") == ("rewardbench", "/a")
    assert split_spec("RM-Bench:/a") == ("rmbench", "/a")
    assert split_spec("hh:/a") == ("hh-rlhf", "/a")
    assert split_spec("/plain/path.jsonl") == (None, "/plain/path.jsonl")
    assert split_spec("C:\\data\\x.jsonl") == (None, "C:\\data\\x.jsonl")  # a drive letter
    with pytest.raises(SpecError) as e:
        split_spec("yaml:/a.yaml")
    assert str(e.value) == (
        "unknown data format 'yaml' in 'yaml:/a.yaml' (known: "
        + ", ".join(SPEC_FORMATS)
        + "; or give a path)"
    )


def test_paths_and_prefixed_formats(fixtures):
    F = fixtures
    assert load_data(str(F / "rewardbench.jsonl")).info["format"] == "rewardbench"
    ds = load_data(f"table:{F / 'rewardbench.jsonl'}")
    assert ds.info["format"] == "table" and ds.source == f"table:{F / 'rewardbench.jsonl'}"
    assert load_data(f"jsonl:{F / 'rmbench.json'}").info["format"] == "rmbench"
    assert load_data(f"csv:{F / 'pairwise_ab.csv'}", mapping={"prompt": "question"}).n_items == 3
    assert (
        load_data(f"csv:{F / 'pairwise_ab.csv'}", mapping=["prompt=question"]).n_items == 3
    )  # CLI --map form
    assert load_data(f"judgebench:{F / 'judgebench.jsonl'}").n_items == 2
    assert load_data(f"hh-rlhf:{F / 'hh_rlhf.jsonl'}").n_items == 2
    assert load_data(f"rewardbench2:{F / 'rewardbench2.jsonl'}").n_responses == 9
    ds = load_data(str(F / "pointwise.jsonl"), name="mine")
    assert ds.name == "mine"


def test_mtme_specs(fixtures):
    root = fixtures / "mtme" / "wmt-mini"
    assert load_data(str(root)).info["format"] == "mtme"
    ds = load_data(f"mtme:{root}:en-de", human="wmt-z")
    assert ds.info["lp"] == "en-de" and ds.info["human"] == "wmt-z"
    assert ds.source == f"mtme:{root}:en-de"
    assert load_data(f"mtme:{root}", lp="en-de", exclude_systems=["sysB"]).response_ids() == [
        "sysA"
    ]
    with pytest.raises(SpecError) as e:
        load_data(f"mtme:{root}", colour="red")
    assert str(e.value) == (
        "option 'colour' does not apply to mtme data (its options: lp, "
        "reference, human, exclude_systems, include_references, name)"
    )
    with pytest.raises(SpecError, match="a column mapping does not apply to mtme data"):
        load_data(f"mtme:{root}", mapping={"a": "b"})


def test_option_errors_for_row_formats(fixtures):
    with pytest.raises(SpecError) as e:
        load_data(str(fixtures / "judgebench.jsonl"), lp="en-de")
    assert str(e.value) == "option 'lp' does not apply to format 'judgebench'"
    with pytest.raises(SpecError) as e:
        load_data(str(fixtures / "hh_rlhf.jsonl"), skip=True)
    assert (
        str(e.value) == "option 'skip' does not apply to format 'hh-rlhf' (its options: skip_bad)"
    )
    assert load_data(str(fixtures / "hh_rlhf.jsonl"), skip_bad=True).info["skipped"] == {
        "empty_reply": 0,
        "prefix_mismatch": 0,
    }


def test_bad_specs(tmp_path):
    with pytest.raises(SpecError, match="empty data spec"):
        load_data("  ")
    with pytest.raises(SpecError, match="nothing after 'jsonl': write JSONL:PATH"):
        load_data("jsonl:")
    with pytest.raises(DataError) as e:
        load_data(str(tmp_path / "missing.jsonl"))
    assert str(e.value) == f"{tmp_path / 'missing.jsonl'}: file not found"
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError) as e:
        load_data(str(tmp_path / "d"))
    assert str(e.value) == (
        f"{tmp_path / 'd'}: a directory that is neither an mt-metrics-eval "
        "test set (sources/, system-outputs/) nor a data set saved with "
        "datasets' save_to_disk"
    )


def test_bundled_hook_comes_first(monkeypatch, fixtures):
    from overcoat.data.model import Dataset  # noqa: F401

    sentinel = object()
    fake = types.ModuleType("overcoat.data.bundled")
    fake.BUNDLED = {"tiny": lambda: sentinel}
    monkeypatch.setitem(sys.modules, "overcoat.data.bundled", fake)
    assert load_data("tiny") is sentinel
    # a name that is not bundled falls through to paths
    assert load_data(str(fixtures / "judgebench.jsonl")).n_items == 2


def test_bundled_hook_absent(monkeypatch, fixtures):
    monkeypatch.setitem(sys.modules, "overcoat.data.bundled", None)  # ImportError
    assert load_data(str(fixtures / "judgebench.jsonl")).n_items == 2


def test_mqm_hook(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("overcoat.data.mqm")

    def load_mqm_tsv(path, *, lp=None):
        calls.append((path, lp))
        return "mqm-dataset"

    fake.load_mqm_tsv = load_mqm_tsv
    monkeypatch.setitem(sys.modules, "overcoat.data.mqm", fake)
    assert load_data("mqm:/data/mqm_newstest2020_ende.tsv", lp="en-de") == "mqm-dataset"
    assert calls == [("/data/mqm_newstest2020_ende.tsv", "en-de")]
    # a .tsv whose header has MQM columns is read as MQM
    p = tmp_path / "ratings.tsv"
    p.write_text("system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\n")
    assert load_data(str(p)) == "mqm-dataset"
    with pytest.raises(SpecError, match="option 'colour' does not apply to mqm data"):
        load_data("mqm:/x.tsv", colour="red")
