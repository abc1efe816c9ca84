"""dataset_hash: the content of the data decides, not where it was loaded from."""

import json

from overcoat import api
from overcoat.data.fingerprint import dataset_hash


def _write(path, scores, text="out"):
    rows = [
        {
            "item_id": f"i{i}",
            "input": f"src {i}",
            "response_id": s,
            "response": f"{text} {s} {i}",
            "score": v,
        }
        for i, sc in enumerate(scores)
        for s, v in (("A", sc), ("B", 1.0))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_hash_follows_content_not_path(tmp_path):
    (tmp_path / "x").mkdir()
    a = dataset_hash(api.load(_write(tmp_path / "d.jsonl", [0.5, 2.0])))
    assert a.startswith("sha256:") and len(a) == len("sha256:") + 16
    assert dataset_hash(api.load(_write(tmp_path / "x" / "d.jsonl", [0.5, 2.0]))) == a
    assert dataset_hash(api.load(_write(tmp_path / "d2.jsonl", [0.5, 2.5]))) != a  # a score
    assert dataset_hash(api.load(_write(tmp_path / "d3.jsonl", [0.5, 2.0], "o"))) != a  # a text
    assert dataset_hash(api.load(_write(tmp_path / "d4.jsonl", [0.5, 2.0, 1.0]))) != a  # a row
    ds = api.load(_write(tmp_path / "d5.jsonl", [0.5, 2.0, 1.0]))
    assert dataset_hash(ds.sample_items(2, seed=0)) != dataset_hash(ds)
