"""Generic tables (JSONL, JSON, CSV, Parquet, gzipped): happy paths and every bad input."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from overcoat.data.loaders import load_file, load_table, parse_rows, parse_table_rows
from overcoat.data.model import PAIRWISE, POINTWISE, loads_messages


# -- happy paths ---------------------------------------------------------------------------------
def test_pointwise_jsonl(fixtures):
    ds = load_table(fixtures / "pointwise.jsonl")
    assert ds.name == "pointwise"
    assert ds.items.column("item_id").to_pylist() == ["q1", "q2"]
    assert ds.n_responses == 5
    assert ds.response_ids() == ["sysA", "sysB", "sysC"]
    assert ds.judgments.kind == POINTWISE and len(ds.judgments) == 6
    assert ds.judgments.raters == ["r1", "r2"]
    assert ds.metadata_columns() == ["domain"]
    assert ds.items.column("domain").to_pylist() == ["news", "math"]
    assert ds.items.column("references").to_pylist() == [["The cat sat on the mat."], []]
    # chat messages as input: kept as JSON and rendered as text
    msgs = loads_messages(ds.items.column("messages")[1].as_py())
    assert msgs == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert ds.items.column("input")[1].as_py() == "System: Be brief.\n\nUser: What is 2+2?"
    assert ds.items.column("messages")[0].as_py() is None
    # mean over raters; sysC has no score -> NaN
    np.testing.assert_array_equal(ds.human_matrix(), [[4.5, 1.5, np.nan], [5.0, 1.0, np.nan]])


def test_pointwise_csv_with_aliases_and_multiline_records(fixtures):
    ds = load_file(fixtures / "pointwise.csv")
    assert ds.info["format"] == "table" and ds.info["shape"] == "pointwise"
    assert ds.items.column("input").to_pylist() == ["Der Hund bellt.", "Ein\nzweizeiliger Satz."]
    assert ds.responses.column("text").to_pylist()[1:3] == [
        "The dog, it barks.",
        "A two-line\nsentence.",
    ]
    assert ds.items.column("lp").to_pylist() == ["de-en", "de-en"]
    # an empty score cell is "no judgment"
    np.testing.assert_array_equal(ds.human_matrix(), [[-0.5, -3.0], [0.0, np.nan]])


def test_pointwise_default_response_ids_are_positions(write):
    p = write(
        "x.jsonl",
        [
            {"item_id": "a", "input": "q", "response": "r1"},
            {"item_id": "a", "input": "q", "response": "r2"},
            {"item_id": "b", "input": "q2", "response": "r3"},
        ],
    )
    ds = load_table(p)
    assert ds.responses.column("response_id").to_pylist() == ["0", "1", "0"]
    assert ds.judgments is None


def test_pairwise_chosen_rejected(fixtures):
    ds = load_table(fixtures / "pairwise.jsonl")
    assert ds.items.column("item_id").to_pylist() == ["1", "p2", "3"]  # default id: line number
    assert ds.judgments.kind == PAIRWISE
    assert ds.judgments.table.column("label").to_pylist() == ["a", "a", "a"]
    assert ds.response_ids() == ["chosen", "rejected"]
    # a column that is not used as input ("source" here) stays metadata
    assert ds.items.column("source").to_pylist() == ["poetry", "math", "chat"]
    # chosen/rejected given as whole chats: dialogue -> input, final reply -> response
    assert loads_messages(ds.items.column("messages")[2].as_py()) == [
        {"role": "user", "content": "Hi!"}
    ]
    assert ds.items.column("input")[2].as_py() == "Hi!"
    assert ds.responses.column("text").to_pylist()[4:] == ["Hello! How can I help?", "What."]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0], [1, 0], [1, 0]])


def test_pairwise_ab_csv_with_mapping(fixtures):
    ds = load_table(fixtures / "pairwise_ab.csv", mapping={"prompt": "question"})
    assert ds.items.column("item_id").to_pylist() == ["1", "2", "3"]
    assert ds.items.column("input").to_pylist()[0] == "Capital of France?"
    assert ds.judgments.table.column("label").to_pylist() == ["a", "b", "tie"]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0], [0, 1], [0.5, 0.5]])


def test_mapping_cli_form_and_error_names_their_column(err, write):
    p = write("m.jsonl", [{"qid": 1, "question": "Q?", "answer": "A", "rating": 3}])
    ds = load_table(
        p, mapping={"item_id": "qid", "input": "question", "response": "answer", "score": "rating"}
    )
    assert ds.human_matrix().tolist() == [[3.0]]
    from overcoat.data.loaders import parse_mapping

    assert parse_mapping(["prompt=question", " score = rating "]) == {
        "prompt": "question",
        "score": "rating",
    }
    assert (
        err(parse_mapping, ["prompt"])
        == "a column mapping is OURS=THEIRS (e.g. prompt=question), got 'prompt'"
    )
    p2 = write("m2.jsonl", [{"qid": 1, "question": "Q?", "answer": "A", "rating": "x"}])
    assert (
        err(
            load_table,
            p2,
            mapping={
                "item_id": "qid",
                "input": "question",
                "response": "answer",
                "score": "rating",
            },
        )
        == f"{p2}, line 1, field 'rating': not a number: 'x'"
    )
    assert err(load_table, p2, mapping={"input": "prompt_text"}) == (
        f"{p2}, line 1, field 'prompt_text': mapped column 'prompt_text' (for 'input') is not "
        f"in the first record; its fields: qid, question, answer, rating"
    )


def test_csv_mapping_to_missing_column_is_checked_against_header(err, fixtures):
    p = fixtures / "pairwise_ab.csv"
    assert err(load_table, p, mapping={"prompt": "query"}) == (
        f"{p}, field 'query': mapped column 'query' (for 'prompt') is not in the data; "
        f"columns: id, question, response_a, response_b, label"
    )


def test_gzip_json_array_and_parquet_give_the_same_data(fixtures, write, tmp_path):
    rows = [json.loads(line) for line in (fixtures / "pointwise.jsonl").read_text().splitlines()]
    rows = [r for r in rows if isinstance(r["input"], str)]  # one type per Parquet column
    for r in rows:
        r.setdefault("reference", None)
    a = load_table(write("p.jsonl.gz", rows))
    b = load_table(write("p.json", json.dumps(rows, indent=2)))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    c = load_table(tmp_path / "p.parquet")
    for ds in (b, c):
        assert ds.items.select(["item_id", "input", "references"]).equals(
            a.items.select(["item_id", "input", "references"])
        )
        assert ds.responses.equals(a.responses)
        np.testing.assert_array_equal(ds.human_matrix(), a.human_matrix())


def test_parse_table_rows_takes_plain_rows(err):
    ds = parse_table_rows([(10, {"prompt": "p", "chosen": "c", "rejected": "r"})], path="mem")
    assert ds.items.column("item_id").to_pylist() == ["10"]
    assert (
        err(parse_table_rows, [(7, {"prompt": "p", "chosen": "", "rejected": "r"})], path="mem")
        == "mem, line 7, field 'chosen': empty text"
    )


def test_parse_rows_rejects_unknown_option():
    from overcoat.errors import SpecError

    with pytest.raises(SpecError, match="option 'lp' does not apply to format 'table'"):
        parse_rows([(1, {"prompt": "p", "chosen": "c", "rejected": "r"})], lp="en-de")


def test_multi_rater_pairwise_rows(write):
    p = write(
        "r.jsonl",
        [
            {
                "item_id": "x",
                "prompt": "p",
                "response_a": "A",
                "response_b": "B",
                "label": "a",
                "rater": "r1",
            },
            {
                "item_id": "x",
                "prompt": "p",
                "response_a": "A",
                "response_b": "B",
                "label": "B>A",
                "rater": "r2",
            },
        ],
    )
    ds = load_table(p)
    assert ds.judgments.table.column("rater").to_pylist() == ["r1", "r2"]
    np.testing.assert_array_equal(ds.human_matrix(), [[0.5, 0.5]])


# -- bad inputs ----------------------------------------------------------------------------------
POINT = {"item_id": "a", "input": "src", "response": "out", "score": 1.0}


def test_malformed_json_line(err, write):
    p = write("bad.jsonl", json.dumps(POINT) + "\n\n" + '{"item_id": "b", "input": \n')
    assert err(load_table, p) == f"{p}, line 3: malformed JSON (Expecting value at column 26)"


def test_json_line_that_is_not_an_object(err, write):
    p = write("bad.jsonl", json.dumps(POINT) + "\n[1, 2]\n")
    assert err(load_table, p) == f"{p}, line 2: expected a JSON object, got an array"


def test_malformed_json_array(err, write):
    p = write(
        "bad.json", '[\n  {"item_id": "a", "input": "x", "response": "y"},\n  {"item_id": }\n]'
    )
    assert err(load_table, p) == f"{p}, line 3: malformed JSON (Expecting value at column 15)"
    p2 = write("bad2.json", '[\n {"item_id": "a", "input": "x", "response": "y"}\n 5\n]')
    assert (
        err(load_table, p2)
        == f"{p2}, line 3: malformed JSON (expected ',' or ']' after an array element)"
    )


def test_json_array_lines_are_object_start_lines(err, write):
    rows = [dict(POINT, item_id=str(i)) for i in range(3)]
    rows[2]["response"] = " "
    p = write("arr.json", json.dumps(rows, indent=2))
    # each object spans 6 lines after the opening "[" line: the third starts on line 14
    assert err(load_table, p) == f"{p}, line 14, field 'response': empty text"


@pytest.mark.parametrize(
    "drop,field", [("item_id", "item_id"), ("input", "input"), ("response", "response")]
)
def test_missing_field(err, write, drop, field):
    row = {k: v for k, v in POINT.items() if k != drop}
    p = write("m.jsonl", [POINT, row] if drop != "item_id" else [row])
    line = 1 if drop == "item_id" else 2
    assert err(load_table, p) == f"{p}, line {line}, field '{field}': missing field"


def test_missing_field_pairwise(err, write):
    p = write(
        "m.jsonl",
        [{"prompt": "p", "chosen": "c", "rejected": "r"}, {"chosen": "c", "rejected": "r"}],
    )
    assert err(load_table, p) == f"{p}, line 2, field 'prompt': missing field"
    p2 = write("m2.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "y"}])
    assert err(load_table, p2) == f"{p2}, line 1, field 'label': missing field"


@pytest.mark.parametrize(
    "field,value,detail",
    [
        ("response", 5, "expected text, got int"),
        ("input", 3.5, "expected text or chat messages, got float"),
        ("item_id", {"x": 1}, "expected an id (text or integer), got dict"),
        ("item_id", True, "expected an id (text or integer), got bool"),
        ("score", "high", "not a number: 'high'"),
        ("score", [1], "expected a number, got list"),
        ("response_id", 1.5, "expected an id (text or integer), got float"),
        ("references", 7, "expected text or a list of texts, got int"),
        ("rater", [], "expected an id (text or integer), got list"),
    ],
)
def test_mistyped_field(err, write, field, value, detail):
    bad = dict(POINT, response_id="s2")
    bad[field] = value
    p = write("t.jsonl", [POINT, bad])
    assert err(load_table, p) == f"{p}, line 2, field '{field}': {detail}"


def test_chat_message_without_role(err, write):
    p = write("c.jsonl", [dict(POINT, input=[{"content": "hi"}])])
    assert (
        err(load_table, p)
        == f"{p}, line 1, field 'input': chat message 0 needs 'role' and 'content'"
    )


@pytest.mark.parametrize("value", ["", "   \n"])
def test_empty_response(err, write, value):
    p = write("e.jsonl", [dict(POINT, response=value)])
    assert err(load_table, p) == f"{p}, line 1, field 'response': empty text"


def test_empty_response_csv(err, write):
    p = write("e.csv", "item_id,input,response\na,src,out\nb,src,\n")
    assert err(load_table, p) == f"{p}, line 3, field 'response': empty text"


@pytest.mark.parametrize("text,shown", [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf")])
def test_non_finite_score_jsonl(err, write, text, shown):
    p = write(
        "n.jsonl",
        json.dumps(POINT)
        + "\n"
        + '{"item_id": "b", "input": "s", "response": "o", "score": '
        + text
        + "}\n",
    )
    assert err(load_table, p) == f"{p}, line 2, field 'score': score is not finite ({shown})"


def test_non_finite_score_csv(err, write):
    p = write("n.csv", "item_id,input,response,score\na,s,o,1\nb,s,o,inf\n")
    assert err(load_table, p) == f"{p}, line 3, field 'score': score is not finite ('inf')"


def test_non_finite_score_parquet_names_row(err, tmp_path):
    p = tmp_path / "n.parquet"
    pq.write_table(pa.Table.from_pylist([POINT, dict(POINT, item_id="b", score=math.nan)]), p)
    assert err(load_table, p) == f"{p}, row 2, field 'score': score is not finite (nan)"


def test_duplicate_pointwise_row(err, write):
    # without response ids, rows of one item are its responses by position: no duplicate
    p = write("d.jsonl", [POINT, dict(POINT, score=2.0)])
    assert load_table(p).responses.column("response_id").to_pylist() == ["0", "1"]
    p2 = write("d2.jsonl", [dict(POINT, response_id="s"), dict(POINT, response_id="s")])
    assert err(load_table, p2) == (
        f"{p2}, line 2, field 'response_id': duplicate row for "
        f"response 's' of item 'a' (first on line 1)"
    )
    p3 = write("d3.jsonl", [dict(POINT, system="s", rater="r"), dict(POINT, system="s", rater="r")])
    assert err(load_table, p3) == (
        f"{p3}, line 2, field 'system': duplicate row for response "
        f"'s' of item 'a' by rater 'r' (first on line 1)"
    )


def test_duplicate_response_id_with_other_text(err, write):
    p = write(
        "d.jsonl",
        [
            dict(POINT, response_id="s", rater="r1"),
            dict(POINT, response_id="s", rater="r2", response="other"),
        ],
    )
    assert (
        err(load_table, p)
        == f"{p}, line 2, field 'response_id': duplicate response id 's' for item 'a'"
    )


def test_duplicate_item_id_pairwise(err, write):
    row = {"id": 7, "prompt": "p", "chosen": "c", "rejected": "r"}
    p = write("d.jsonl", [row, row])
    assert err(load_table, p) == f"{p}, line 2, field 'id': duplicate item id '7' (first on line 1)"


def test_duplicate_item_id_parquet_says_row(err, tmp_path):
    row = {"item_id": "x", "prompt": "p", "chosen": "c", "rejected": "r"}
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([row, row]), p)
    assert (
        err(load_table, p) == f"{p}, row 2, field 'item_id': duplicate item id 'x' (first on row 1)"
    )


def test_item_with_conflicting_input(err, write):
    p = write(
        "c.jsonl", [dict(POINT, response_id="s1"), dict(POINT, response_id="s2", input="other")]
    )
    assert (
        err(load_table, p)
        == f"{p}, line 2, field 'input': item 'a' has a different input than on line 1"
    )


def test_bad_label(err, write):
    p = write("l.jsonl", [{"prompt": "p", "response_a": "x", "response_b": "y", "label": "first"}])
    assert (
        err(load_table, p)
        == f"{p}, line 1, field 'label': label must be a, b or tie (also A>B, B>A, A=B), got 'first'"
    )


def test_conversations_that_differ_before_the_reply(err, write):
    c = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    r = [{"role": "user", "content": "Hey"}, {"role": "assistant", "content": "Yo"}]
    p = write("c.jsonl", [{"chosen": c, "rejected": r}])
    assert (
        err(load_table, p)
        == f"{p}, line 1, field 'rejected': chosen and rejected conversations differ before the "
        "final reply"
    )


def test_non_utf8_file(err, write):
    p = write(
        "u.jsonl",
        json.dumps(POINT).encode()
        + b"\n"
        + b'{"item_id": "b", "input": "caf\xe9", "response": "o"}\n',
    )
    assert err(load_table, p) == f"{p}, line 2: not valid UTF-8 (byte 0xe9 at offset 96)"


def test_non_utf8_csv(err, write):
    p = write("u.csv", b"item_id,input,response\na,s,o\nb,\xff,o\n")
    assert err(load_table, p) == f"{p}, line 3: not valid UTF-8 (byte 0xff at offset 31)"


def test_truncated_gzip(err, write, tmp_path):
    import gzip

    data = gzip.compress(
        ("\n".join(json.dumps(dict(POINT, item_id=str(i))) for i in range(200))).encode()
    )
    p = tmp_path / "t.jsonl.gz"
    p.write_bytes(data[: len(data) // 2])
    assert err(load_table, p) == f"{p}: truncated gzip file"


def test_csv_record_with_wrong_field_count(err, write):
    p = write("w.csv", "item_id,input,response\na,s,o\nb,s,o,extra\n")
    assert err(load_table, p) == f"{p}, line 3: record has 4 fields, the header has 3"


def test_csv_duplicate_header(err, write):
    p = write("h.csv", "item_id,input,input\na,s,o\n")
    assert (
        err(load_table, p) == f"{p}, line 1, field 'input': duplicate column 'input' in the header"
    )


def test_unreadable_parquet(err, write):
    p = write("x.parquet", b"PAR1 this is not parquet")
    assert err(load_table, p).startswith(f"{p}: not a readable Parquet file (")


def test_missing_file_and_empty_file(err, tmp_path, write):
    assert err(load_table, tmp_path / "nope.jsonl") == f"{tmp_path / 'nope.jsonl'}: file not found"
    p = write("empty.jsonl", "\n\n")
    assert err(load_table, p) == f"{p}: no items found"


def test_unknown_extension_is_sniffed(err, write):
    p = write("data.txt", json.dumps(POINT) + "\n")
    assert load_file(p).n_items == 1
    p2 = write("data.dat", "a,b\n1,2\n")
    assert err(load_file, p2) == (
        f"{p2}: cannot tell the file format from its name; name it "
        ".jsonl, .json, .csv, .tsv or .parquet, or write FORMAT:PATH "
        "(e.g. jsonl:PATH)"
    )
