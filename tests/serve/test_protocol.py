"""Request parsing of the reward server (no HTTP): every OpenRLHF client version's body, overcoat's
own schema, and one clear 4xx line for each kind of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from overcoat.serve.protocol import (
    RequestError,
    openrlhf_response,
    parse_json,
    parse_openrlhf,
    parse_score,
)


def bad(fn, *args, **kw) -> tuple[int, str]:
    with pytest.raises(RequestError) as e:
        fn(*args, **kw)
    return e.value.status, e.value.message


def test_query_only_2024_client():
    # OpenRLHF 707b1060 remote_rm_fn: request_api_wrapper(api_url, {"query": queries}, score_key)
    p = parse_openrlhf({"query": ["User: hi\nAssistant: hello", "x"]})
    assert p.batch.inputs == ["", ""]
    assert p.batch.responses == ["User: hi\nAssistant: hello", "x"]
    assert p.batch.references == [[], []]
    assert p.prompt_not_prefix == [False, False]


def test_query_prompts_labels_splits_the_prompt_off():
    # OpenRLHF 1eb14991 .. 62987083 and agent.py: {"query", "prompts", "labels"}
    q = "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>"
    prompt = "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    p = parse_openrlhf({"query": [q], "prompts": [prompt], "labels": ["4"]}, strip=["<|im_end|>"])
    assert p.batch.inputs == [prompt]
    assert p.batch.responses == ["4"]
    assert p.batch.references == [["4"]]


def test_labels_forms_and_metadata_alias():
    p = parse_openrlhf({"query": ["a", "b", "c", "d"], "labels": ["x", ["y", "z"], None, ""]})
    assert p.batch.references == [["x"], ["y", "z"], [], []]
    # a458821e (branch): "metadata" in place of "labels"
    p = parse_openrlhf({"query": ["a"], "prompts": ["p"], "metadata": ["ref"]})
    assert p.batch.references == [["ref"]]


def test_prompt_that_is_not_a_prefix_is_counted():
    p = parse_openrlhf({"query": ["whole text", "pfx rest"], "prompts": ["other", "pfx "]})
    assert p.batch.responses == ["whole text", "rest"]
    assert p.batch.inputs == ["other", "pfx "]
    assert p.prompt_not_prefix == [True, False]
    body = openrlhf_response(np.array([1.0, np.nan]), p, None)
    assert body == {
        "rewards": [1.0, None],
        "scores": [1.0, None],
        "extra_logs": {"overcoat_missing": [0.0, 1.0], "overcoat_prompt_not_prefix": [1.0, 0.0]},
    }
    assert openrlhf_response(np.array([1.0, np.nan]), p, -1.0)["rewards"] == [1.0, -1.0]


def test_strip_removes_repeated_suffixes():
    p = parse_openrlhf({"query": ["ans</s><pad><pad>"]}, strip=["<pad>", "</s>"])
    assert p.batch.responses == ["ans"]


@pytest.mark.parametrize(
    "body, status, message",
    [
        ([1, 2], 422, "expected a JSON object, got an array"),
        ({}, 422, "missing field 'query'"),
        ({"query": "text"}, 422, "field 'query' must be a list of strings, got a string"),
        ({"query": []}, 422, "field 'query' is an empty list"),
        ({"query": ["a", 3]}, 422, "query[1] must be a string, got a number"),
        ({"query": ["a"], "prompts": ["a", "b"]}, 422, "'prompts' has 2 entries but 'query' has 1"),
        ({"query": ["a"], "prompts": [7]}, 422, "prompts[0] must be a string, got a number"),
        (
            {"query": ["a"], "labels": [{"x": 1}]},
            422,
            "labels[0] must be a string, a list of strings or null",
        ),
        ({"query": ["a"], "labels": "x"}, 422, "field 'labels' must be a list of strings"),
    ],
)
def test_openrlhf_bad_bodies(body, status, message):
    got = bad(parse_openrlhf, body)
    assert got[0] == status and message in got[1], got


def test_own_schema():
    p = parse_score(
        {
            "responses": ["r1", "r2"],
            "inputs": ["i1", "i2"],
            "references": ["a", ["b", "c"]],
            "messages": [[{"role": "user", "content": "i1"}], None],
        }
    )
    assert p.batch.inputs == ["i1", "i2"] and p.batch.responses == ["r1", "r2"]
    assert p.batch.references == [["a"], ["b", "c"]]
    assert p.batch.messages == [[{"role": "user", "content": "i1"}], None]
    p = parse_score({"responses": ["only"]})
    assert p.batch.inputs == [""] and p.batch.references == [[]]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"responses": []}, "field 'responses' is an empty list"),
        ({"responses": ["a"], "input": ["x"]}, "unknown field 'input'"),
        (
            {"responses": ["a"], "inputs": ["x", "y"]},
            "'inputs' has 2 entries but 'responses' has 1",
        ),
        ({"responses": [None]}, "responses[0] must be a string, got null"),
        (
            {"responses": ["a"], "messages": [[{"role": "user"}]]},
            "messages[0][0] must be an object",
        ),
        ({"responses": ["a"], "references": {"a": 1}}, "field 'references' must be a list"),
    ],
)
def test_own_schema_bad_bodies(body, message):
    status, got = bad(parse_score, body)
    assert status == 422 and message in got, got


def test_parse_json_errors():
    assert bad(parse_json, b"") == (400, "empty request body (expected a JSON object)")
    assert bad(parse_json, b'{"query": [')[1].startswith("malformed JSON at line 1 column 12")
    assert bad(parse_json, b"\xff\xfe")[1] == "request body is not UTF-8 (byte 0)"
    assert bad(parse_json, b"[" * 100000)[1] == "JSON nested too deeply"
    assert parse_json(json.dumps({"query": ["é"]}).encode()) == {"query": ["é"]}


@given(
    prompt=st.text(min_size=1, max_size=30),
    response=st.text(max_size=30),
    label=st.one_of(st.none(), st.text(max_size=10), st.lists(st.text(max_size=5), max_size=3)),
)
def test_prompt_prefix_split_recovers_the_response(prompt, response, label):
    """query = prompt + response (OpenRLHF decodes them together): the server scores exactly the
    response, with the prompt as input and the label(s) as references."""
    p = parse_openrlhf(
        json.loads(
            json.dumps({"query": [prompt + response], "prompts": [prompt], "labels": [label]})
        )
    )
    assert p.batch.inputs == [prompt] and p.batch.responses == [response]
    if isinstance(label, list):
        want = [x for x in label if x != ""]
    else:
        want = [] if label in (None, "") else [label]
    assert p.batch.references == [want] and p.prompt_not_prefix == [False]
