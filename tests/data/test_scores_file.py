"""Precomputed scores files."""

import math

import pyarrow as pa
import pyarrow.parquet as pq

from overcoat.data.scores_file import SCORES_SCHEMA, read_scores_file


def test_jsonl_with_scorers(fixtures):
    t = read_scores_file(fixtures / "scores.jsonl")
    assert t.schema == SCORES_SCHEMA
    assert t.column("item_id").to_pylist() == ["q1", "q1", "q1", "2"]
    assert t.column("scorer").to_pylist() == ["bleu", "bleu", "chrf", "chrf"]
    assert t.column("score").to_pylist() == [0.9, 0.1, 0.7, -1500.0]


def test_csv_without_scorer_column(fixtures):
    t = read_scores_file(fixtures / "scores.csv")
    assert t.column("scorer").to_pylist() == [None, None]
    assert t.column("score").type == pa.float64()
    t = read_scores_file(fixtures / "scores.csv", scorer="my-metric")
    assert t.column("scorer").to_pylist() == ["my-metric"] * 2


def test_parquet_and_mapping(tmp_path):
    p = tmp_path / "s.parquet"
    pq.write_table(pa.table({"seg": [1, 2], "system": ["a", "b"], "value": [0.5, 1]}), p)
    t = read_scores_file(p, mapping={"item_id": "seg", "score": "value"})
    assert t.column("item_id").to_pylist() == ["1", "2"]
    assert t.column("response_id").to_pylist() == ["a", "b"]


def test_bad_scores(err, write, tmp_path):
    p = write("a.jsonl", '{"item_id": "q", "response_id": "r", "score": 1}\n{"item_id": "q", \n')
    assert (
        err(read_scores_file, p)
        == f"{p}, line 2: malformed JSON (Expecting property name enclosed in double quotes at "
        "column 17)"
    )
    p = write("b.jsonl", [{"item_id": "q", "score": 1}])
    assert err(read_scores_file, p) == f"{p}, line 1, field 'response_id': missing field"
    p = write("c.csv", "item_id,response_id,score\nq,r,1\nq,s,nan\n")
    assert err(read_scores_file, p) == f"{p}, line 3, field 'score': score is not finite ('nan')"
    p = write("d.csv", "item_id,response_id,score\nq,r,\n")
    assert err(read_scores_file, p) == f"{p}, line 2, field 'score': missing value"
    p = write("e.jsonl", [{"item_id": "q", "response_id": "r", "score": None}])
    assert err(read_scores_file, p) == f"{p}, line 1, field 'score': missing value"
    p = write(
        "f.jsonl",
        [
            {"item_id": "q", "response_id": "r", "score": 1, "scorer": "m"},
            {"item_id": "q", "response_id": "r", "score": 2, "scorer": "n"},
            {"item_id": "q", "response_id": "r", "score": 3, "scorer": "m"},
        ],
    )
    assert err(read_scores_file, p) == (
        f"{p}, line 3, field 'response_id': duplicate score for response 'r' of item 'q' from "
        "scorer 'm' (first on line 1)"
    )
    p = write("g.jsonl", [{"item_id": ["q"], "response_id": "r", "score": 1}])
    assert (
        err(read_scores_file, p)
        == f"{p}, line 1, field 'item_id': expected an id (text or integer), got list"
    )
    p = write("h.jsonl", b'{"item_id": "q", "response_id": "r\xff", "score": 1}\n')
    assert err(read_scores_file, p) == f"{p}, line 1: not valid UTF-8 (byte 0xff at offset 34)"
    p = write("i.jsonl", "")
    assert err(read_scores_file, p) == f"{p}: no scores found"


def test_parquet_rows_and_truncated_gzip(err, tmp_path):
    p = tmp_path / "s.parquet"
    pq.write_table(
        pa.table({"item_id": ["a", "a"], "response_id": ["x", "x"], "score": [1.0, 2.0]}), p
    )
    assert err(read_scores_file, p) == (
        f"{p}, row 2, field 'response_id': duplicate score for "
        "response 'x' of item 'a' (first on row 1)"
    )
    pq.write_table(pa.table({"item_id": ["a"], "response_id": ["x"], "score": [math.inf]}), p)
    assert err(read_scores_file, p) == f"{p}, row 1, field 'score': score is not finite (inf)"
    import gzip

    g = tmp_path / "s.jsonl.gz"
    g.write_bytes(gzip.compress(b'{"item_id": "a", "response_id": "x", "score": 1}\n' * 300)[:50])
    assert err(read_scores_file, g) == f"{g}: truncated gzip file"
