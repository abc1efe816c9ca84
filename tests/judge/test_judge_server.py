"""The judge against servers that misbehave as real ones do (fake servers on 127.0.0.1, started
and stopped by each test): one request at a time, dying mid-run, 400 for a long prompt, any model
name accepted, constrained answers. Requests are counted; no timing is asserted tighter than
generous bounds."""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from test_judge import _order, batch, pair_batch, pairs  # noqa: E402

from overcoat.scorers.engine import compare_pairs, score_dataset  # noqa: E402
from overcoat.scorers.judge import JudgeError  # noqa: E402
from overcoat.scorers.judge.http_backend import AIMD  # noqa: E402
from overcoat.scorers.registry import get_scorer  # noqa: E402

from fake_server import FakeChatServer, Reply, answer, error  # noqa: E402

pytestmark = pytest.mark.judge

FAST = "timeout=2,backoff=0.001,max_backoff=0.05"


def serial(seconds: float, reply=lambda req: answer("Rating: [[6]]")):
    """A handler that computes one request at a time (the others wait in its queue), as
    llama.cpp's server does with one slot."""
    lock = threading.Lock()

    def handler(req):
        with lock:
            time.sleep(seconds)
            return reply(req)

    return handler


def prompts_sent(srv) -> list[str]:
    return [r.user for r in srv.chat_requests()]


# -- adaptive concurrency ---------------------------------------------------------------------
def test_serial_server_gets_each_prompt_once():
    # 12 prompts, 0.2 s each, one at a time; 8 in flight would wait 1.6 s > timeout 1.5 s
    with FakeChatServer(serial(0.2)) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,timeout=1.5,backoff=0.001,concurrency=8")
        res = score_dataset(batch([f"r{i}" for i in range(12)]), sc, cache=None)
        sent = prompts_sent(srv)
    assert (res.scores == 6).all()
    assert len(sent) == 12 and len(set(sent)) == 12  # no prompt sent twice
    rq = sc.report()["requests"]
    assert rq["sent"] == 12 and rq["timeouts"] == 0 and rq["answered"] == 12
    assert 1 <= rq["concurrency_reached"] < 8


def test_parallel_server_lets_concurrency_grow():
    # 0.3 s per answer: scheduling jitter on a loaded machine (tens of ms) stays far below the
    # 2.5x-the-fastest latency that would make AIMD step down
    with FakeChatServer(lambda req: Reply(200, answer("Rating: 3").body, delay=0.3)) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST},concurrency=4")
        score_dataset(batch([f"r{i}" for i in range(40)]), sc, cache=None)
        assert srv.max_in_flight >= 2
    assert sc.report()["requests"]["concurrency_reached"] == 4
    assert sc.report()["requests"]["sent"] == 40


def test_fixed_high_concurrency_times_out_then_backs_off():
    # what the old fixed pool did: 8 at once to a serial server with a short timeout. Requests
    # time out and are sent again, but only after the limit was halved; every prompt is answered
    with FakeChatServer(serial(0.1)) as srv:
        sc = get_scorer(
            f"judge:{srv.url}#m,timeout=0.35,backoff=0.001,concurrency=8,start_concurrency=8,"
            "max_retries=10,fail_after=0"
        )
        res = score_dataset(batch([f"r{i}" for i in range(12)]), sc, cache=None)
    rq = sc.report()["requests"]
    assert (res.scores == 6).all()
    assert rq["timeouts"] > 0 and rq["sent"] == 12 + rq["timeouts"]
    assert rq["concurrency_final"] < 8


def test_aimd_by_hand():
    c = AIMD(1, 4)
    c.success(1.0)  # streak 1 >= limit 1 -> 2
    assert c.limit == 2
    c.success(1.2)
    c.success(1.4)  # within 1.5x + 0.05 of the best: streak 2 -> 3
    assert c.limit == 3
    c.success(3.0)  # > 2.5x the best: the server queues -> one off
    assert c.limit == 2
    c.backoff()
    assert c.limit == 1 and c.max_limit == 3
    c.backoff()
    assert c.limit == 1


def test_connect_and_read_timeouts_are_separate():
    with FakeChatServer(lambda req: Reply(200, answer("Rating: 2").body, delay=0.8)) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,timeout=3,connect_timeout=0.2,backoff=0.001")
        res = score_dataset(batch(["a"]), sc, cache=None)
    assert res.scores.tolist() == [2.0]  # a slow answer is not a connect timeout
    client = sc.backend._get_client()
    assert client.timeout.connect == 0.2 and client.timeout.read == 3


# -- fail fast --------------------------------------------------------------------------------
def test_server_killed_mid_run_stops_fast_and_a_rerun_resumes(tmp_path):
    cache = tmp_path / "c.sqlite"
    n = 30
    state = {"answered": 0}
    srv = FakeChatServer()

    def handler(req):
        state["answered"] += 1
        if state["answered"] == 8:
            threading.Thread(target=srv.kill).start()
        return answer("Rating: [[4]]")

    srv.handler = handler
    srv.start()
    port = srv.port
    spec = f"judge:{srv.url}#m,timeout=2,backoff=0.01,max_backoff=0.05,max_retries=5"
    sc = get_scorer(spec)
    t0 = time.monotonic()
    with pytest.raises(JudgeError) as ei:
        score_dataset(batch([f"r{i}" for i in range(n)]), sc, cache=cache, batch_size=64)
    took = time.monotonic() - t0
    msg = str(ei.value)
    assert "5 requests in a row got no answer" in msg and "rerun to resume" in msg
    assert "\n" not in msg
    got = sc.report()["requests"]["answered"]
    assert 7 <= got < n  # the 8th answer may be dropped by the death
    # at most fail_after failed tries after the death, plus the requests still in flight when the
    # run stopped (sent under the concurrency reached before the death, never retried): no try
    # per prompt x retries (that would be up to 22 x 6 here)
    q = sc.report()["requests"]
    assert q["sent"] - len(srv.chat_requests()) <= 5 + q["concurrency_reached"]
    assert took < 30  # generous: 6 tries x backoff for every prompt would be far more
    srv.stop()
    # the server is back on the same URL: only the prompts without an answer are asked
    with FakeChatServer(lambda req: answer("Rating: [[4]]"), port=port) as back:
        sc2 = get_scorer(spec)
        res = score_dataset(batch([f"r{i}" for i in range(n)]), sc2, cache=cache)
        asked = prompts_sent(back)
    assert (res.scores == 4).all()
    assert len(asked) == n - got and sc2.n_cached_answers == got


def test_dead_server_after_probe_stops_after_fail_after(tmp_path):
    srv = FakeChatServer().start()
    sc = get_scorer(f"judge:{srv.url}#m,{FAST},fail_after=3,max_retries=10")
    sc.signature()  # probed while alive
    srv.kill()
    with pytest.raises(JudgeError, match="3 requests in a row"):
        score_dataset(batch([f"r{i}" for i in range(10)]), sc, cache=None)
    assert sc.backend.stats.sent == 3


# -- HTTP 400: context length -----------------------------------------------------------------
def test_context_length_400_is_reported_once_with_its_count(caplog):
    def handler(req):
        if "LONG" in req.user:
            return error(400, "Requested tokens (5000) exceed context window of 2048")
        return answer("Rating: 7")

    caplog.set_level(logging.WARNING)
    with FakeChatServer(handler) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST}")
        b = batch(["LONG a", "ok", "LONG b", "LONG c", "fine"])
        res = score_dataset(b, sc, cache=None, batch_size=2)  # three batches
        assert len(srv.chat_requests()) == 5  # never retried
    assert np.isnan(res.scores).sum() == 3
    r = sc.report()
    assert r["n_failed"] == 3 and r["failed_by_reason"] == {"context length exceeded": 3}
    warned = [m for m in caplog.messages if "context" in m]
    assert len(warned) == 1 and "max_chars" in warned[0]
    assert "3 failed (context length exceeded: 3)" in sc.report_line()


def test_max_chars_truncates_every_text():
    with FakeChatServer(lambda req: answer("Rating: 7")) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST},max_chars=5")
        res = score_dataset(batch(["0123456789", "abc"], inputs=["QQQQQQQQ", "q"]), sc, cache=None)
        users = prompts_sent(srv)
    assert (res.scores == 7).all()
    assert "01234 [...]" in users[0] and "0123456789" not in users[0]
    assert "QQQQQ [...]" in users[0] and "<assistant_answer>\nabc" in users[1]
    assert sc.n_truncated == 2 and "max_chars:5" in sc.signature()


# -- identity ---------------------------------------------------------------------------------
def test_served_model_goes_into_the_signature_and_a_wrong_name_warns(caplog):
    caplog.set_level(logging.WARNING)
    with FakeChatServer(models=[("/models/SmolLM2.gguf", "me")]) as srv:
        sc = get_scorer(f"judge:{srv.url}#gpt-4o,{FAST},constrain=off")
        sig = sc.signature()
        assert "|served:/models/SmolLM2.gguf" in sig
        assert any("serves '/models/SmolLM2.gguf', not 'gpt-4o'" in m for m in caplog.messages)
        right = get_scorer(f"judge:{srv.url}#/models/SmolLM2.gguf,{FAST},constrain=off")
        assert "|served:/models/SmolLM2.gguf" in right.signature()
    # a server that lists nothing: the signature is the one without identity
    with FakeChatServer() as srv:
        assert "served:" not in get_scorer(f"judge:{srv.url}#m,{FAST}").signature()


def test_changed_system_fingerprint_warns(caplog):
    caplog.set_level(logging.WARNING)
    fps = iter(["fp_1", "fp_2"])
    with FakeChatServer(lambda req: answer("Rating: 4", fingerprint=next(fps))) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST}")
        score_dataset(batch(["a", "b"]), sc, cache=None)
    assert sc.report()["system_fingerprints"] == ["fp_1", "fp_2"]
    assert any("system_fingerprint" in m for m in caplog.messages)


# -- constrained verdicts ---------------------------------------------------------------------
def test_llama_cpp_server_gets_a_grammar_and_short_answers():
    def handler(req):
        g = req.body.get("grammar", "")
        return answer("[[8]]" if g else "I think it is good")

    with FakeChatServer(handler, models=[("smol", "me")]) as srv:
        sc = get_scorer(f"judge:{srv.url}#smol,{FAST}")
        res = score_dataset(batch(["a", "b"]), sc, cache=None)
        body = srv.chat_requests()[0].body
    assert res.scores.tolist() == [8.0, 8.0]
    assert body["grammar"] == (
        'root ::= "[[" ("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10") "]]"'
    )
    assert body["max_tokens"] == 12 and "response_format" not in body
    assert "|constrain:grammar" in sc.signature()
    assert sc.report()["constrain"] == "grammar"


def test_vllm_gets_a_json_schema_and_logprobs_are_read_at_the_verdict():
    def handler(req):
        fmt = req.body["response_format"]["json_schema"]["schema"]
        assert fmt["properties"]["answer"]["enum"] == ["A", "B", "C"]
        alts = [('"A', math.log(0.6)), ('"B', math.log(0.3)), ('"C', math.log(0.1))]
        first = '"A' if _order(req) == "AB" else '"B'
        toks = [('{"', -0.1, []), ("answer", -0.1, []), ('":', -0.1, []), (" ", -0.1, [])]
        toks += [(first, math.log(0.6), alts), ('"}', -0.1, [])]
        return answer('{"answer": ' + first + '"}', toks)

    with FakeChatServer(handler, models=[("m", "vllm")]) as srv:
        sc = get_scorer(f"judge-pair:{srv.url}#m,{FAST},logprobs=true")
        res = compare_pairs(pair_batch(), sc, pairs(), cache=None)
    # each order: P(first better) = (0.6 + 0.1 / 2) / 1.0 = 0.65; mean 0.5 (1 - 0.65 for BA)
    assert res.scores[0] == pytest.approx(0.5 * (0.65 + (1 - 0.65)))
    assert sc.n_logprob_fallback == 0 and sc.n_unparsable == 0


def test_server_refusing_the_constraint_falls_back_to_free_text(caplog):
    caplog.set_level(logging.WARNING)

    def handler(req):
        if "grammar" in req.body:
            return error(400, "grammar is not supported")
        return answer("Rating: 5")

    with FakeChatServer(handler, models=[("m", "llamacpp")]) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST}")
        res = score_dataset(batch(["a", "b", "c"]), sc, cache=None)
        n = len(srv.chat_requests())
    assert (res.scores == 5).all() and sc.n_failed == 0
    assert n == 4  # one refused, then every prompt once without the grammar
    assert sc.report()["requests"]["constraint_refused"] == 1
    assert sum("refused constrained answers" in m for m in caplog.messages) == 1


def test_constrain_off_and_unknown_servers_send_free_text():
    with FakeChatServer(models=[("m", "openai")]) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST}")
        score_dataset(batch(["a"]), sc, cache=None)
        body = srv.chat_requests()[0].body
    assert "grammar" not in body and "response_format" not in body and body["max_tokens"] == 512
    with FakeChatServer(models=[("m", "me")]) as srv:
        sc = get_scorer(f"judge:{srv.url}#m,{FAST},constrain=off")
        score_dataset(batch(["a"]), sc, cache=None)
        assert "grammar" not in srv.chat_requests()[0].body


# -- pairs: one order, position consistency ---------------------------------------------------
def test_one_order_pairs_are_counted_and_position_consistency_reported():
    def handler(req):
        i = int(req.user.split("RESP-A ")[1][0])
        if i == 0:  # position-biased: always the first shown
            return answer("[[A]]")
        if i == 1:  # consistent: RESP-A wins in both orders
            return answer("[[A]]" if _order(req) == "AB" else "[[B]]")
        return answer("[[B]]" if _order(req) == "AB" else "no idea")  # one order only

    with FakeChatServer(handler) as srv:
        sc = get_scorer(f"judge-pair:{srv.url}#m,{FAST}")
        res = compare_pairs(pair_batch(3), sc, pairs(3), cache=None)
        keep = get_scorer(f"judge-pair:{srv.url}#m,{FAST},one_order=keep")
        kept = compare_pairs(pair_batch(3), keep, pairs(3), cache=None)
    assert res.scores[:2].tolist() == [0.5, 1.0] and math.isnan(res.scores[2])
    r = sc.report()
    assert r["n_pairs_one_order"] == 1 and r["n_pairs_both_orders"] == 2
    assert r["position_consistency"] == 0.5 and r["n_unparsable"] == 1
    assert "1 pairs judged in one order only" in sc.report_line()
    assert kept.scores.tolist() == [0.5, 1.0, 0.0] and "one_order:keep" in keep.signature()
