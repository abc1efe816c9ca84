"""Pool files (``overcoat generate`` output) round-trip through the table loader."""

from __future__ import annotations

import gzip
import json

import pytest

from overcoat import api
from overcoat.data.builder import DatasetBuilder
from overcoat.data.pools import write_pool


def _dataset():
    b = DatasetBuilder("src")
    b.add_item("a", "translate: hallo", references=["hello"], metadata={"lp": "de-en"})
    b.add_item("b", [{"role": "user", "content": "hi"}], metadata={"lp": "en-en"})
    b.add_item("c", "unused")
    for k in "abc":
        b.add_response(k, "orig", "x")
    return b.build()


@pytest.mark.parametrize("name", ["pool.jsonl", "pool.jsonl.gz"])
def test_pool_roundtrip_keeps_inputs_references_metadata(tmp_path, name):
    out = tmp_path / name
    counts = write_pool(out, _dataset(), {"a": ["one", "", "three"], "b": ["  ", "yo"]})
    assert counts == {"n_items": 2, "n_responses": 3, "n_empty": 2}
    ds = api.load(str(out))
    assert ds.judgments is None
    items = {r["item_id"]: r for r in ds.items.to_pylist()}
    assert set(items) == {"a", "b"}
    assert items["a"]["input"] == "translate: hallo" and items["a"]["references"] == ["hello"]
    assert items["a"]["lp"] == "de-en" and items["b"]["lp"] == "en-en"
    assert json.loads(items["b"]["messages"]) == [{"role": "user", "content": "hi"}]
    resp = [(r["item_id"], r["response_id"], r["text"]) for r in ds.responses.to_pylist()]
    assert resp == [("a", "sample-0", "one"), ("a", "sample-2", "three"), ("b", "sample-1", "yo")]


def test_pool_file_is_deterministic_and_drops_loader_fields_from_metadata(tmp_path):
    b = DatasetBuilder("src")
    b.add_item("a", "q", metadata={"score": "9", "system": "s", "domain": "news"})
    b.add_response("a", "orig", "x")
    ds = b.build()
    p1, p2 = tmp_path / "1.jsonl.gz", tmp_path / "2.jsonl.gz"
    write_pool(p1, ds, {"a": ["r"]})
    write_pool(p2, ds, {"a": ["r"]})
    assert p1.read_bytes() == p2.read_bytes()
    row = json.loads(gzip.decompress(p1.read_bytes()))
    assert row == {
        "item_id": "a",
        "input": "q",
        "domain": "news",
        "response_id": "sample-0",
        "response": "r",
    }
