"""Hugging Face data sets, on local folders (no network)."""

import json
import sys

import numpy as np
import pytest

from overcoat.data.loaders.hf_datasets import load_hf
from overcoat.data.spec import load_data


def rows_of(path):
    return [json.loads(x) for x in open(path).read().splitlines() if x.strip()]


def test_datasets_not_installed(err, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes "import datasets" fail
    assert err(load_hf, "allenai/reward-bench") == (
        "reading Hugging Face data sets needs the 'datasets' package; install it with: "
        "pip install 'overcoat[hf]'"
    )
    assert err(load_data, "hf:allenai/reward-bench:filtered") == (
        "reading Hugging Face data sets needs the 'datasets' package; install it with: "
        "pip install 'overcoat[hf]'"
    )


def test_hub_unreachable_suggests_local_path(err, monkeypatch):
    datasets = pytest.importorskip("datasets")

    def boom(*a, **kw):
        raise ConnectionError(
            "Couldn't reach 'allenai/reward-bench' on the Hub (LocalEntryNotFoundError)"
        )

    monkeypatch.setattr(datasets, "load_dataset", boom)
    msg = err(load_data, "hf:allenai/reward-bench:filtered")
    assert msg == (
        "hf:allenai/reward-bench:filtered: cannot reach the Hugging Face Hub (Couldn't "
        "reach 'allenai/reward-bench' on the Hub (LocalEntryNotFoundError)); download "
        "the data and give its local path instead (a .jsonl/.parquet file, or a folder "
        "saved with save_to_disk)"
    )
    assert "\n" not in msg


def test_hub_other_errors_are_one_line(err, monkeypatch):
    datasets = pytest.importorskip("datasets")

    class DatasetNotFoundError(Exception):
        pass

    def missing(*a, **kw):
        raise DatasetNotFoundError("Dataset 'nobody/nothing' doesn't exist on the Hub\nmore")

    monkeypatch.setattr(datasets, "load_dataset", missing)
    assert err(load_hf, "nobody/nothing") == (
        "hf:nobody/nothing: data set not found (Dataset 'nobody/nothing' doesn't exist on the "
        "Hub); check the name, or give a local path"
    )

    def weird(*a, **kw):
        raise ValueError("bad config\ndetails")

    monkeypatch.setattr(datasets, "load_dataset", weird)
    assert (
        err(load_hf, "x/y", "train")
        == "hf:x/y:train: cannot load the data set (ValueError: bad config)"
    )


def test_saved_dataset_rewardbench(fixtures, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = rows_of(fixtures / "rewardbench.jsonl")
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "rb"))
    ds = load_data(f"hf:{tmp_path / 'rb'}")
    assert ds.info["format"] == "rewardbench"
    assert ds.items.column("item_id").to_pylist() == ["30", "4001", "3001"]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0]] * 3)
    # the same folder by plain path, and with the row format named
    assert load_data(str(tmp_path / "rb")).n_items == 3
    assert load_data(f"rewardbench:{tmp_path / 'rb'}").n_items == 3


def test_saved_dataset_dict_needs_a_split(err, fixtures, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = rows_of(fixtures / "judgebench.jsonl")
    d = datasets.DatasetDict(
        {"gpt": datasets.Dataset.from_list(rows), "claude": datasets.Dataset.from_list(rows[:1])}
    )
    d.save_to_disk(str(tmp_path / "jb"))
    where = f"hf:{tmp_path / 'jb'}"
    assert (
        err(load_data, where)
        == f"{where}: several splits (gpt, claude); pick one with hf:{tmp_path / 'jb'}:SPLIT"
    )
    ds = load_data(f"{where}:claude")
    assert ds.info["format"] == "judgebench" and ds.n_items == 1
    assert err(load_data, f"{where}:test") == f"{where}:test: no split 'test' (splits: gpt, claude)"


def test_rewardbench2_and_rmbench_from_arrow_lists(fixtures, tmp_path):
    datasets = pytest.importorskip("datasets")
    rb2 = rows_of(fixtures / "rewardbench2.jsonl")
    datasets.Dataset.from_list(rb2).save_to_disk(str(tmp_path / "rb2"))
    ds = load_hf(str(tmp_path / "rb2"))
    assert ds.info["format"] == "rewardbench2" and ds.n_responses == 9
    rm = json.loads((fixtures / "rmbench.json").read_text())
    datasets.Dataset.from_list(rm).save_to_disk(str(tmp_path / "rm"))
    ds = load_hf(str(tmp_path / "rm"))
    assert ds.info["format"] == "rmbench"
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 1, 1, 0, 0, 0]] * 2)


def test_hf_errors_name_rows(err, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [
        {"prompt": "p", "chosen": "c", "rejected": "r", "subset": "s", "id": i} for i in range(3)
    ]
    rows[1]["chosen"] = ""
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "bad"))
    where = f"hf:{tmp_path / 'bad'}"
    assert err(load_data, where) == f"{where}, row 2, field 'chosen': empty text"


def test_load_dataset_json_builder_with_mapping(fixtures, tmp_path):
    pytest.importorskip("datasets")
    rows = [
        {
            "qid": r["pair_id"],
            "q": r["question"],
            "response_A": r["response_A"],
            "response_B": r["response_B"],
            "label": r["label"],
        }
        for r in rows_of(fixtures / "judgebench.jsonl")
    ]
    p = tmp_path / "jb.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_hf(
        "json",
        "train",
        data_files=str(p),
        cache_dir=str(tmp_path / "cache"),
        mapping={"question": "q", "pair_id": "qid"},
    )
    assert ds.info["format"] == "judgebench"
    assert ds.items.column("item_id").to_pylist() == ["81ec57f2", "9a1b3c4d"]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0], [0, 1]])
