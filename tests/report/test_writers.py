"""report/writers.py: the long scores table, each output format written and read back (plain and
gzipped), JSON with NaN/inf as null, and nothing left behind when a write fails."""

import gzip
import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from overcoat.data.scores_file import read_scores_file
from overcoat.errors import OvercoatError
from overcoat.report.writers import jsonable, score_format, scores_table, write_json, write_table

ITEMS = ["q1", "q1", "q2"]
RESPONSES = ["a", "b", "a"]
COLUMNS = {"bleu": ("bleu|v:1", np.array([1.5, np.nan, -2.0])), "len": ("len", np.array([3, 4, 5]))}


def expected_rows(hashes=None, hib=None):
    rows = []
    for name, (sig, scores) in COLUMNS.items():
        for k in range(3):
            s = float(scores[k])
            row = {
                "item_id": ITEMS[k],
                "response_id": RESPONSES[k],
                "scorer": name,
                "signature": sig,
                "score": None if math.isnan(s) else s,
            }
            if hashes is not None:
                row["content_hash"] = hashes[k]
            if hib is not None:
                row["higher_is_better"] = hib[name]
            rows.append(row)
    return rows


def test_scores_table_long_format():
    t = scores_table(ITEMS, RESPONSES, COLUMNS)
    assert t.column_names == ["item_id", "response_id", "scorer", "signature", "score"]
    assert t.schema.field("score").type == pa.float64()
    assert t.to_pylist() == expected_rows()
    hashes = ["h1", "h2", "h3"]
    hib = {"bleu": True, "len": False}
    t = scores_table(ITEMS, RESPONSES, COLUMNS, content_hashes=hashes, higher_is_better=hib)
    assert t.column_names[-2:] == ["content_hash", "higher_is_better"]
    assert t.to_pylist() == expected_rows(hashes, hib)


@pytest.mark.parametrize(
    "name,fmt",
    [
        ("s.parquet", ".parquet"),
        ("s.jsonl", ".jsonl"),
        ("s.csv", ".csv"),
        ("S.JSONL.GZ", ".jsonl"),
        ("s.csv.gz", ".csv"),
        ("s.parquet.gz", ".parquet"),
    ],
)
def test_write_table_reads_back(tmp_path, name, fmt):
    assert score_format(name) == fmt
    t = scores_table(ITEMS, RESPONSES, COLUMNS)
    p = tmp_path / name
    write_table(t, p)
    raw = p.read_bytes()
    gz = name.lower().endswith(".gz")
    assert (raw[:2] == b"\x1f\x8b") == gz  # gzipped exactly when the name says so
    data = gzip.decompress(raw) if gz else raw
    if fmt == ".parquet":
        back = pq.read_table(io.BytesIO(data)).to_pylist()
    elif fmt == ".csv":
        back = pcsv.read_csv(io.BytesIO(data)).to_pylist()
        assert (
            data.decode().splitlines()[0] == '"item_id","response_id","scorer","signature","score"'
        )
    else:
        back = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert back == expected_rows()
    assert [p.name] == [x.name for x in tmp_path.iterdir()]  # no temporary file left
    # the data layer reads each of them back as a scores file (which refuses missing scores)
    full = tmp_path / "full" / name
    write_table(scores_table(ITEMS, RESPONSES, {"len": COLUMNS["len"]}), full)
    st = read_scores_file(str(full))
    assert st.column("score").to_pylist() == [3.0, 4.0, 5.0]


def test_jsonl_keeps_unicode_and_one_row_a_line(tmp_path):
    t = scores_table(["ü\nx"], ["✓"], {"m": ("sig", np.array([0.5]))})
    write_table(t, tmp_path / "u.jsonl")
    text = (tmp_path / "u.jsonl").read_text(encoding="utf-8")
    assert text == (
        '{"item_id": "ü\\nx", "response_id": "✓", "scorer": "m", "signature": "sig", '
        '"score": 0.5}\n'
    )


@pytest.mark.parametrize("name", ["s.tsv", "s.json", "s", "s.gz", "s.jsonl.bz2"])
def test_score_format_refuses_other_extensions(name):
    with pytest.raises(OvercoatError, match="output must end in .parquet, .jsonl or .csv"):
        score_format(name)


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "s.parquet"
    p.write_bytes(b"old")

    def boom(*a, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(RuntimeError):
        write_table(scores_table(ITEMS, RESPONSES, COLUMNS), p)
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["s.parquet"]


def test_jsonable():
    doc = {
        1: np.float32(0.5),
        "nan": float("nan"),
        "inf": np.float64(-np.inf),
        "arr": np.array([[1.0, np.nan], [np.inf, 2.0]]),
        "i": np.int64(7),
        "b": np.bool_(True),
        "t": (np.int32(1), "x", None),
        "nested": [{"k": np.float64(1.25)}],
    }
    out = jsonable(doc)
    assert out == {
        "1": 0.5,
        "nan": None,
        "inf": None,
        "arr": [[1.0, None], [None, 2.0]],
        "i": 7,
        "b": True,
        "t": [1, "x", None],
        "nested": [{"k": 1.25}],
    }
    assert type(out["i"]) is int and type(out["b"]) is bool and type(out["1"]) is float
    json.dumps(out, allow_nan=False)  # plain JSON: no NaN literals


def test_write_json(tmp_path):
    p = tmp_path / "sub" / "r.json"
    write_json({"x": float("nan"), "y": [np.float64(0.1)], "z": "é"}, p)
    text = p.read_text(encoding="utf-8")
    assert text == '{\n  "x": null,\n  "y": [\n    0.1\n  ],\n  "z": "é"\n}\n'
