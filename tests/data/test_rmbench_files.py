"""RM-Bench as published: one file per domain (ids repeat across files, no 'domain' field) or the
combined file with a 'domain' field; both load to the same items with DOMAIN:ID ids."""

import json

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.data.loaders import load_rmbench
from overcoat.data.loaders.rmbench import domain_of_file, rmbench_files
from overcoat.errors import DataError


def row(i, chosen=("a b", "a b c d", "a b c d e f"), rejected=("x", "x y z", "x y z w v"), **extra):
    return {
        "id": i,
        "prompt": f"prompt {i}",
        "chosen": list(chosen),
        "rejected": list(rejected),
        "subset": "s",
        **extra,
    }


# chat and code share id 1, as RM-Bench's chat and code files share ids
PER_DOMAIN = {
    "chat_filtered.json": [row(1), row(2, chosen=("a", "b", "c"))],
    "code_filtered.json": [row(1, rejected=("x x x x x x x", "y", "z"))],
    "math_filtered.json": [row(7)],
    "safety-refuse_filtered.json": [row(3)],
    "safety-response_filtered.json": [row(4, chosen=("a", "a", "a"))],
}


@pytest.fixture
def rm_dir(tmp_path):
    d = tmp_path / "rm"
    d.mkdir()
    for name, rows in PER_DOMAIN.items():
        (d / name).write_text(json.dumps(rows, indent=1))
    return d


@pytest.fixture
def combined(tmp_path):
    rows = [dict(r, domain=name.split("_")[0]) for name, rs in PER_DOMAIN.items() for r in rs]
    p = tmp_path / "total_dataset.json"
    p.write_text(json.dumps(rows, indent=1))
    return p


def test_domain_of_file():
    assert domain_of_file("data/safety-refuse_filtered.json") == "safety-refuse"
    assert domain_of_file("chat_filtered.json.gz") == "chat"
    assert domain_of_file("total_dataset.json") is None


def test_folder_of_per_domain_files(rm_dir, combined):
    (rm_dir / "total_dataset.json").write_text(
        combined.read_text()
    )  # skipped: per-domain files win
    assert [f.split("/")[-1] for f in rmbench_files(rm_dir)] == sorted(PER_DOMAIN)
    ds = api.load(f"rmbench:{rm_dir}")
    ids = ds.items.column("item_id").to_pylist()
    assert sorted(ids) == sorted(
        ["chat:1", "chat:2", "code:1", "math:7", "safety-refuse:3", "safety-response:4"]
    )
    assert dict(zip(ids, ds.items.column("domain").to_pylist()))["code:1"] == "code"
    assert ds.info["format"] == "rmbench" and len(ds.info["files"]) == 5
    assert ds.source == f"rmbench:{rm_dir}"


def test_combined_file_gives_the_same_items(rm_dir, combined):
    a = api.load(f"rmbench:{rm_dir}")
    b = api.load(f"rmbench:{combined}")
    order = lambda ds: np.argsort(ds.items.column("item_id").to_pylist())  # noqa: E731
    assert sorted(a.items.column("item_id").to_pylist()) == sorted(
        b.items.column("item_id").to_pylist()
    )
    np.testing.assert_array_equal(a.human_matrix()[order(a)], b.human_matrix()[order(b)])


def test_several_paths(rm_dir):
    ds = api.load(f"rmbench:{rm_dir / 'chat_filtered.json'},{rm_dir / 'code_filtered.json'}")
    assert sorted(ds.items.column("item_id").to_pylist()) == ["chat:1", "chat:2", "code:1"]
    ds = load_rmbench([rm_dir / "code_filtered.json", rm_dir / "math_filtered.json"])
    assert ds.items.column("item_id").to_pylist() == ["code:1", "math:7"]
    # one per-domain file alone: its domain from the file name
    one = load_rmbench(rm_dir / "chat_filtered.json")
    assert one.items.column("item_id").to_pylist() == ["chat:1", "chat:2"]
    assert one.items.column("domain").to_pylist() == ["chat", "chat"]


def test_errors_name_file_and_line(rm_dir, tmp_path):
    other = tmp_path / "mystery.json"
    other.write_text(json.dumps([row(1)], indent=1))
    with pytest.raises(DataError) as e:
        load_rmbench([rm_dir / "chat_filtered.json", other])
    assert str(e.value).startswith(
        f"{other}, line 2, field 'domain': cannot tell this row's RM-Bench domain"
    )
    dup = tmp_path / "chat_more.json"
    dup.write_text(json.dumps([row(1)], indent=1))
    with pytest.raises(DataError) as e:
        load_rmbench([rm_dir / "chat_filtered.json", dup])
    assert str(e.value).startswith(f"{dup}, line 2") and "duplicate item id 'chat:1'" in str(
        e.value
    )
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    (empty / "a.json").write_text("[]")
    (empty / "b.json").write_text("[]")
    with pytest.raises(DataError) as e:
        load_rmbench(empty)
    assert "per-domain files" in str(e.value)
    with pytest.raises(DataError):
        api.load(f"rmbench:{rm_dir / 'chat_filtered.json'},{tmp_path / 'nope.json'}")


def test_meta_eval_on_folder_equals_combined(rm_dir, combined, tmp_path):
    outs = []
    for spec in (f"rmbench:{rm_dir}", f"rmbench:{combined}"):
        out = tmp_path / f"{len(outs)}.json"
        assert (
            main(
                [
                    "meta-eval",
                    "-d",
                    spec,
                    "-s",
                    "length",
                    "--resamples",
                    "20",
                    "-q",
                    "--no-cache",
                    "--json",
                    str(out),
                ]
            )
            == 0
        )
        outs.append(json.loads(out.read_text())["benchmark_rules"]["length"])
    a, b = outs
    assert a["domains"] == b["domains"] and a["matrix"] == b["matrix"]
    assert set(a["domains"]) == {"chat", "code", "math", "safety"}  # safety-* pooled, as RM-Bench
    # code: the rejected concise answer has the most words, so length gets 2 of 3 columns right
    assert a["matrices"]["code"] == [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]


def test_missing_domain_is_a_note(rm_dir):
    from overcoat.evaluation import MetaEvalSettings, meta_evaluate

    ds = api.load(f"rmbench:{rm_dir / 'chat_filtered.json'},{rm_dir / 'code_filtered.json'}")
    res = meta_evaluate(
        api.score(ds, ["length"], progress=False, cache=None), MetaEvalSettings(n_resamples=20)
    )
    rule = res.benchmark["length"]
    assert rule["missing_domains"] == ["math", "safety"]
    assert set(rule["domains"]) == {"chat", "code"}
    assert rule["overall"] == (rule["domains"]["chat"] + rule["domains"]["code"]) / 2
    assert any(n.startswith("RM-Bench: no data for math, safety") for n in res.notes)
