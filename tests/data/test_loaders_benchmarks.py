"""RewardBench 1/2, RM-Bench, JudgeBench and HH-RLHF rows: happy paths and bad inputs."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from overcoat.data.loaders import (
    detect_row_format,
    load_file,
    load_hh_rlhf,
    load_judgebench,
    load_rewardbench,
    load_rewardbench2,
    load_rmbench,
    parse_hh_rlhf_rows,
)
from overcoat.data.loaders.hh_rlhf import dialogue_messages, split_transcript
from overcoat.data.model import PAIRWISE, POINTWISE, loads_messages


def rows_of(path):
    text = open(path).read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(x) for x in text.splitlines() if x.strip()]


# -- RewardBench v1 ------------------------------------------------------------------------------
def test_rewardbench(fixtures):
    ds = load_rewardbench(fixtures / "rewardbench.jsonl")
    assert ds.info["format"] == "rewardbench"
    assert ds.items.column("item_id").to_pylist() == ["30", "4001", "3001"]
    assert ds.items.column("subset").to_pylist() == [
        "alpacaeval-easy",
        "hep-python",
        "refusals-dangerous",
    ]
    assert ds.items.column("chosen_model").to_pylist()[0] == "gpt-4"
    assert ds.judgments.kind == PAIRWISE
    assert ds.response_ids() == ["chosen", "rejected"]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0]] * 3)


def test_rewardbench_parquet_row_errors(err, fixtures, tmp_path):
    rows = rows_of(fixtures / "rewardbench.jsonl")
    rows[2]["rejected"] = "   "
    p = tmp_path / "rb.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    assert err(load_rewardbench, p) == f"{p}, row 3, field 'rejected': empty text"


# -- RewardBench 2 -------------------------------------------------------------------------------
def test_rewardbench2(fixtures):
    ds = load_rewardbench2(fixtures / "rewardbench2.jsonl")
    assert ds.items.column("item_id").to_pylist() == ["rb2-1", "rb2-2"]
    assert ds.items.column("subset").to_pylist() == ["Factuality", "Ties"]
    assert ds.items.column("num_correct").to_pylist() == ["1", "3"]
    assert ds.items.column("models")[0].as_py() == '["m1", "m2", "m3", "m4"]'
    assert ds.judgments.kind == POINTWISE
    resp = ds.responses.filter(pa.compute.equal(ds.responses.column("item_id"), "rb2-2"))
    assert resp.column("response_id").to_pylist() == [
        "chosen-0",
        "chosen-1",
        "chosen-2",
        "rejected-0",
        "rejected-1",
    ]
    layout = ds.layout()
    assert layout.column_ids == [
        "chosen-0",
        "rejected-0",
        "rejected-1",
        "rejected-2",
        "chosen-1",
        "chosen-2",
    ]
    h = ds.human_matrix(layout)
    np.testing.assert_array_equal(h, [[1, 0, 0, 0, np.nan, np.nan], [1, 0, 0, np.nan, 1, 1]])


def test_rewardbench2_bad_rows(err, write):
    base = {"id": "x", "prompt": "p", "chosen": ["c"], "rejected": ["r1", "r2"]}
    p = write("a.jsonl", [dict(base, chosen=[])])
    assert (
        err(load_rewardbench2, p)
        == f"{p}, line 1, field 'chosen': needs at least one chosen response"
    )
    p = write("b.jsonl", [dict(base, rejected=["ok", ""])])
    assert err(load_rewardbench2, p) == f"{p}, line 1, field 'rejected[1]': empty text"
    p = write("c.jsonl", [dict(base, rejected=7)])
    assert (
        err(load_rewardbench2, p)
        == f"{p}, line 1, field 'rejected': expected a list of texts, got int"
    )
    p = write("d.jsonl", [base, base])
    assert (
        err(load_rewardbench2, p)
        == f"{p}, line 2, field 'id': duplicate item id 'x' (first on line 1)"
    )
    p = write("e.jsonl", [{k: v for k, v in base.items() if k != "prompt"}])
    assert err(load_rewardbench2, p) == f"{p}, line 1, field 'prompt': missing field"


# -- RM-Bench ------------------------------------------------------------------------------------
def test_rmbench(fixtures):
    ds = load_rmbench(fixtures / "rmbench.json")
    assert ds.items.column("item_id").to_pylist() == ["math:1", "chat:2"]  # DOMAIN:ID
    assert ds.items.column("domain").to_pylist() == ["math", "chat"]
    assert ds.response_ids() == [
        "chosen-concise",
        "chosen-detailed",
        "chosen-markdown",
        "rejected-concise",
        "rejected-detailed",
        "rejected-markdown",
    ]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 1, 1, 0, 0, 0]] * 2)
    text = ds.responses.column("text").to_pylist()
    assert text[2] == "**144**\n\n12 x 12 = 144"


def test_rmbench_wrong_number_of_styles(err, write):
    p = write(
        "r.json",
        json.dumps(
            [
                {
                    "id": 1,
                    "prompt": "p",
                    "chosen": ["a", "b", "c"],
                    "rejected": ["x", "y"],
                    "domain": "chat",
                }
            ],
            indent=1,
        ),
    )
    assert err(load_rmbench, p) == (
        f"{p}, line 2, field 'rejected': expected 3 style variants "
        "(concise, detailed, markdown), got 2"
    )


# -- JudgeBench ----------------------------------------------------------------------------------
def test_judgebench(fixtures):
    ds = load_judgebench(fixtures / "judgebench.jsonl")
    assert ds.items.column("item_id").to_pylist() == ["81ec57f2", "9a1b3c4d"]
    assert ds.items.column("source").to_pylist() == ["mmlu-pro-computer science", "livebench-math"]
    assert ds.items.column("original_id").to_pylist() == ["10646", "77"]
    assert ds.response_ids() == ["A", "B"]
    assert ds.judgments.table.column("label").to_pylist() == ["a", "b"]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0], [0, 1]])


def test_judgebench_bad_rows(err, fixtures, write):
    rows = rows_of(fixtures / "judgebench.jsonl")
    p = write("a.jsonl", [rows[0], dict(rows[1], label="A>>>B")])
    assert err(load_judgebench, p) == (
        f"{p}, line 2, field 'label': label must be a, b or tie (also A>B, B>A, A=B), got 'A>>>B'"
    )
    p = write("b.jsonl", [{k: v for k, v in rows[0].items() if k != "response_B"}])
    assert err(load_judgebench, p) == f"{p}, line 1, field 'response_B': missing field"
    p = write("c.jsonl", [rows[0], rows[0]])
    assert (
        err(load_judgebench, p)
        == f"{p}, line 2, field 'pair_id': duplicate item id '81ec57f2' (first on line 1)"
    )


# -- HH-RLHF -------------------------------------------------------------------------------------
def test_hh_rlhf(fixtures):
    ds = load_hh_rlhf(fixtures / "hh_rlhf.jsonl")
    assert ds.items.column("item_id").to_pylist() == ["hh-1", "hh-2"]
    msgs = loads_messages(ds.items.column("messages")[0].as_py())
    assert msgs == [
        {"role": "user", "content": "What are some good vegetables to grow?"},
        {"role": "assistant", "content": "Tomatoes, peppers and beans are easy."},
        {"role": "user", "content": "Which is easiest?"},
    ]
    assert ds.items.column("input")[0].as_py() == (
        "User: What are some good vegetables to grow?\n\nAssistant: Tomatoes, peppers and beans "
        "are easy.\n\nUser: Which is easiest?"
    )
    assert ds.items.column("input")[1].as_py() == "How do I make tea?"  # one message: its text
    assert ds.responses.column("text").to_pylist() == [
        "Beans are probably the easiest.",
        "I don't know.",
        "Steep a tea bag in hot water for three minutes.",
        "Tea is a drink.",
    ]
    np.testing.assert_array_equal(ds.human_matrix(), [[1, 0], [1, 0]])


def test_hh_rlhf_gzip_and_detection(fixtures, write):
    rows = rows_of(fixtures / "hh_rlhf.jsonl")
    p = write("train.jsonl.gz", rows)
    assert detect_row_format(rows[0]) == "hh-rlhf"
    ds = load_file(p)
    assert ds.info["format"] == "hh-rlhf" and ds.n_items == 2


def test_split_transcript_and_dialogue():
    assert split_transcript("\n\nHuman: hi\n\nAssistant: hello ") == ("\n\nHuman: hi", "hello")
    assert split_transcript("no turns") is None
    assert dialogue_messages("Human: a\n\nAssistant: b\n\nHuman: c") == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]


def test_hh_rlhf_bad_rows(err, write):
    ok = {"chosen": "\n\nHuman: q\n\nAssistant: good", "rejected": "\n\nHuman: q\n\nAssistant: bad"}
    p = write(
        "a.jsonl",
        [
            ok,
            {
                "chosen": "\n\nHuman: q\n\nAssistant: good",
                "rejected": "\n\nHuman: other\n\nAssistant: bad",
            },
        ],
    )
    assert err(load_hh_rlhf, p) == (
        f"{p}, line 2, field 'rejected': chosen and rejected "
        "transcripts differ before the last '\\n\\nAssistant:' turn"
    )
    p = write("b.jsonl", [{"chosen": "\n\nHuman: q only", "rejected": ok["rejected"]}])
    assert (
        err(load_hh_rlhf, p)
        == f"{p}, line 1, field 'chosen': transcript has no '\\n\\nAssistant:' turn"
    )
    p = write("c.jsonl", [dict(ok, chosen="\n\nHuman: q\n\nAssistant:  ")])
    assert err(load_hh_rlhf, p) == f"{p}, line 1, field 'chosen': empty text"
    p = write("d.jsonl", [dict(ok, rejected=["x"])])
    assert err(load_hh_rlhf, p) == (
        f"{p}, line 1, field 'rejected': expected a Human/Assistant transcript (text), got list"
    )
    p = write("e.jsonl", [{"chosen": ok["chosen"]}])
    assert err(load_hh_rlhf, p) == f"{p}, line 1, field 'rejected': missing field"


def test_hh_rlhf_skip_bad(write):
    ok = {"chosen": "\n\nHuman: q\n\nAssistant: good", "rejected": "\n\nHuman: q\n\nAssistant: bad"}
    rows = [
        ok,
        dict(ok, chosen="\n\nHuman: q\n\nAssistant:"),
        dict(ok, rejected="\n\nHuman: z\n\nAssistant: bad"),
        ok,
    ]
    ds = parse_hh_rlhf_rows(enumerate(rows, start=1), path="mem", skip_bad=True)
    assert ds.items.column("item_id").to_pylist() == ["hh-1", "hh-4"]
    assert ds.info["skipped"] == {"empty_reply": 1, "prefix_mismatch": 1}


# -- detection -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,fmt",
    [
        ("rewardbench.jsonl", "rewardbench"),
        ("rewardbench2.jsonl", "rewardbench2"),
        ("rmbench.json", "rmbench"),
        ("judgebench.jsonl", "judgebench"),
        ("hh_rlhf.jsonl", "hh-rlhf"),
        ("pairwise.jsonl", "table"),
        ("pointwise.jsonl", "table"),
    ],
)
def test_detect_row_format(fixtures, name, fmt):
    assert detect_row_format(rows_of(fixtures / name)[0]) == fmt
    assert load_file(fixtures / name).info["format"] == fmt
