"""The reward server over real HTTP on 127.0.0.1 (a free port, in a thread of the test process):
the exact bodies OpenRLHF's clients send, overcoat's own /score, /health, bad requests (4xx,
the server stays up), the bearer token, the cache, and a short load test."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from sacrebleu.metrics import CHRF

from overcoat import __version__
from overcoat.scorers.base import ScoringBatch
from overcoat.scorers.cache import ScoreCache
from overcoat.scorers.engine import score_dataset
from overcoat.serve import RewardService, ServeSettings, running

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def chrf(hyp: str, refs: list[str]) -> float:
    return CHRF().sentence_score(hyp, refs).score


@pytest.fixture(scope="module")
def chrf_url():
    with running("chrf", ServeSettings(cache=None, strip=("<|im_end|>",))) as url:
        yield url


def openrlhf_2025_05_client(url: str, queries, prompts, labels):
    """OpenRLHF 7046facc openrlhf/utils/remote_rm_utils.py request_api_wrapper: posts
    {"query", "prompts", "labels"} with a JSON content type, then reads "rewards", "scores" and
    every "extra_logs" entry as tensors (numpy here)."""
    r = httpx.post(
        url,
        json={"query": queries, "prompts": prompts, "labels": labels},
        headers={"Content-Type": "application/json"},
    )
    r.raise_for_status()
    response = r.json()
    response["rewards"] = np.asarray(response["rewards"], dtype=float)
    response["scores"] = np.asarray(response["scores"], dtype=float)
    for key in response["extra_logs"]:
        response["extra_logs"][key] = np.asarray(response["extra_logs"][key], dtype=float)
    return response


def test_every_openrlhf_client_shape(chrf_url):
    url = chrf_url + "/get_reward"
    prompt = "<|im_start|>user\nTranslate: Hallo Welt<|im_end|>\n<|im_start|>assistant\n"
    answers = ["Hello world", "Hi world", "Greetings, planet"]
    queries = [prompt + a + "<|im_end|>" for a in answers]
    want = [chrf(a, ["Hello world"]) for a in answers]

    # 2025-05 .. 2025-12 client (several queries per request)
    got = openrlhf_2025_05_client(url, queries, [prompt] * 3, ["Hello world"] * 3)
    assert got["rewards"].tolist() == pytest.approx(want)
    assert got["scores"].tolist() == pytest.approx(want)
    assert got["extra_logs"]["overcoat_missing"].tolist() == [0.0, 0.0, 0.0]

    # 2026 client, openrlhf/utils/agent.py SingleTurnAgentExecutor._fetch_rewards_via_http: one
    # query per request, aiohttp session.post(url, json=payload); reads scores, else rewards
    for q, w in zip(queries, want):
        info = httpx.post(url, json={"query": [q], "prompts": [prompt], "labels": ["Hello world"]})
        info = info.json()
        score_value = info.get("scores")
        if score_value is None:
            score_value = info.get("rewards")
        assert score_value == pytest.approx([w]) and info["extra_logs"] == {
            "overcoat_missing": [0.0]
        }

    # 2025-02 client (1eb14991): same body, reads response["rewards"] (score_key)
    r = httpx.post(
        url, json={"query": queries, "prompts": [prompt] * 3, "labels": ["Hello world"] * 3}
    )
    assert r.json()["rewards"] == pytest.approx(want)

    # a458821e (branch): "metadata" in place of "labels"
    r = httpx.post(
        url, json={"query": queries, "prompts": [prompt] * 3, "metadata": ["Hello world"] * 3}
    )
    assert r.json()["rewards"] == pytest.approx(want)


def test_query_only_2024_client():
    """OpenRLHF 707b1060 remote_rm_fn: {"query": queries}, reads "rewards"; a reference-free
    scorer scores the whole query."""
    with running("length:unit=chars", ServeSettings(cache=None)) as url:
        r = httpx.post(url + "/get_reward", json={"query": ["User: hi\nAssistant: hello", "xyz"]})
        assert r.status_code == 200
        assert r.json()["rewards"] == [float(len("User: hi\nAssistant: hello")), 3.0]


def test_score_endpoint_matches_the_engine(chrf_url):
    body = {
        "responses": ["the cat sat", "a dog", "the cat sat"],
        "inputs": ["x", "y", "x"],
        "references": ["the cat sat on the mat", ["a dog ran", "dogs"], "the cat"],
    }
    r = httpx.post(chrf_url + "/score", json=body)
    assert r.status_code == 200
    doc = r.json()
    direct = score_dataset(
        ScoringBatch(
            body["inputs"],
            body["responses"],
            [["the cat sat on the mat"], ["a dog ran", "dogs"], ["the cat"]],
        ),
        "chrf",
        cache=None,
    )
    assert doc["scores"] == pytest.approx(direct.scores.tolist())
    assert (
        doc["signature"] == direct.signature and doc["scorer"] == "chrF" and doc["n_missing"] == 0
    )


def test_health(chrf_url):
    doc = httpx.get(chrf_url + "/health").json()
    assert doc["status"] == "ok" and doc["overcoat"] == __version__
    assert doc["scorer"] == "chrF" and doc["signature"].startswith("chrf|")
    assert doc["needs_references"] is True and doc["higher_is_better"] is True


@pytest.mark.parametrize(
    "method, path, content, status, message",
    [
        ("POST", "/get_reward", b'{"query": ["a"', 400, "malformed JSON at line 1 column 15"),
        ("POST", "/get_reward", b"", 400, "empty request body"),
        ("POST", "/get_reward", b'{"query": "a"}', 422, "field 'query' must be a list of strings"),
        ("POST", "/get_reward", b'{"query": []}', 422, "field 'query' is an empty list"),
        ("POST", "/get_reward", b'{"query": [1]}', 422, "query[0] must be a string"),
        (
            "POST",
            "/get_reward",
            b'{"query": ["a"]}',
            422,
            "labels[0] is missing: scorer 'chrF' needs",
        ),
        (
            "POST",
            "/score",
            b'{"responses": ["a"], "references": [null]}',
            422,
            "references[0] is missing",
        ),
        ("POST", "/score", b"[]", 422, "expected a JSON object, got an array"),
        (
            "POST",
            "/get_reward",
            b'{"query": ["' + b"x" * 3000 + b'"]}',
            413,
            "exceeds the limit of 2000 bytes",
        ),
        ("GET", "/get_reward", b"", 405, "GET /get_reward: Method Not Allowed"),
        ("GET", "/nowhere", b"", 404, "GET /nowhere: Not Found"),
    ],
)
def test_bad_requests_get_4xx_and_the_server_stays_up(method, path, content, status, message):
    with running("chrf", ServeSettings(cache=None, max_body=2000, max_rows=3)) as url:
        r = httpx.request(method, url + path, content=content)
        assert r.status_code == status, r.text
        assert message in r.json()["error"], r.json()
        ok = httpx.post(url + "/get_reward", json={"query": ["abc"], "labels": ["abc"]})
        assert ok.status_code == 200 and ok.json()["rewards"] == [100.0]
        assert httpx.get(url + "/health").json()["errors"] == 1


def test_oversized_body_without_content_length_and_too_many_rows():
    with running("length", ServeSettings(cache=None, max_body=100, max_rows=2)) as url:

        def chunks():
            yield b'{"query": ["'
            yield b"y" * 200
            yield b'"]}'

        r = httpx.post(url + "/get_reward", content=chunks())  # chunked: no Content-Length
        assert r.status_code == 413 and "exceeds the limit of 100 bytes" in r.json()["error"]
        r = httpx.post(url + "/get_reward", json={"query": ["a", "b", "c"]})
        assert r.status_code == 413 and "3 rows in one request; the limit is 2" in r.json()["error"]
        assert httpx.post(url + "/get_reward", json={"query": ["a b"]}).json()["rewards"] == [2.0]


def test_bearer_token(monkeypatch):
    with running("length", ServeSettings(cache=None, token="s3cret")) as url:
        body = {"query": ["a b c"]}
        r = httpx.post(url + "/get_reward", json=body)
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        assert r.headers["www-authenticate"] == "Bearer"
        r = httpx.post(url + "/get_reward", json=body, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = httpx.post(
            url + "/score", json={"responses": ["a"]}, headers={"Authorization": "Bearer s3cret"}
        )
        assert r.status_code == 200 and r.json()["scores"] == [1.0]
        assert httpx.get(url + "/health").status_code == 200  # health needs no token


def test_missing_scores_are_null_or_the_given_reward(tmp_path):
    path = tmp_path / "num.py"
    path.write_text(
        "import math\n"
        "def value(input, response, references):\n"
        "    try:\n        return float(response)\n"
        "    except ValueError:\n        return math.nan\n"
    )
    spec = f"python:{path}:value"
    with running(spec, ServeSettings(cache=None)) as url:
        r = httpx.post(url + "/get_reward", json={"query": ["2.5", "two"]}).json()
        assert r["rewards"] == [2.5, None] and r["extra_logs"]["overcoat_missing"] == [0.0, 1.0]
        assert httpx.post(url + "/score", json={"responses": ["x"]}).json()["scores"] == [None]
    with running(spec, ServeSettings(cache=None, missing_reward=-1.0)) as url:
        r = httpx.post(url + "/get_reward", json={"query": ["2.5", "two"]}).json()
        assert r["rewards"] == [2.5, -1.0] and r["extra_logs"]["overcoat_missing"] == [0.0, 1.0]


def test_scores_go_through_the_cache(tmp_path):
    cache = tmp_path / "c.sqlite"
    service = RewardService("chrf", ServeSettings(cache=str(cache)))
    body = {"query": ["the cat", "the cat", "a dog"], "labels": ["the cat sat"] * 3}
    with running(service) as url:
        first = httpx.post(url + "/get_reward", json=body).json()["rewards"]
        again = httpx.post(url + "/get_reward", json=body).json()["rewards"]
    assert first == again == pytest.approx([chrf(q, ["the cat sat"]) for q in body["query"]])
    with ScoreCache(cache) as c:
        assert c.count(service.signature) == 2  # deduplicated: two distinct rows


def test_pairwise_scorer_is_refused():
    from overcoat.errors import OvercoatError

    with pytest.raises(OvercoatError, match="pairwise"):
        RewardService("judge-pair:http://127.0.0.1:9/v1#m")


def test_load_8_clients_x_200_requests(tmp_path):
    """Bounded load: 8 threads x 200 requests on loopback, zero errors, every reward right
    (the batching itself is checked deterministically in test_batcher.py)."""
    words = "the cat sat on a mat dog ran in park and bird sang".split()
    rng = np.random.default_rng(0)
    jobs = [
        [" ".join(rng.choice(words, size=int(rng.integers(1, 12)))) for _ in range(200)]
        for _ in range(8)
    ]
    errors: list[str] = []
    wrong: list[tuple[str, float]] = []
    service = RewardService("length", ServeSettings(cache=str(tmp_path / "c.sqlite")))
    with running(service) as url:

        def client(texts):
            with httpx.Client(base_url=url) as c:
                for t in texts:
                    try:
                        r = c.post(
                            "/get_reward", json={"query": [t], "prompts": [""], "labels": [""]}
                        )
                        r.raise_for_status()
                        got = r.json()["rewards"][0]
                    except (httpx.HTTPError, json.JSONDecodeError, KeyError) as e:
                        errors.append(repr(e))
                        continue
                    if got != float(len(t.split())):
                        wrong.append((t, got))

        threads = [threading.Thread(target=client, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        health = httpx.get(url + "/health").json()
    assert errors == [] and wrong == []
    assert health["requests"] == 1600 and health["rows"] == 1600 and health["errors"] == 0


def _cli(*args: str, env: dict | None = None):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "overcoat.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_cli_serve_runs_and_stops(tmp_path):
    """``overcoat serve`` as a user starts it: prints its address, answers, stops on SIGTERM."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OVERCOAT_CACHE": str(tmp_path / "c.sqlite"), "RM_TOKEN": "tok"}
    cmd = [sys.executable, "-m", "overcoat.cli", "serve", "-s", "length", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--token-env", "RM_TOKEN"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert f"on http://127.0.0.1:{port} " in first and "length|unit:words" in first
        for _ in range(600):
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}/get_reward",
                    json={"query": ["a b"]},
                    headers={"Authorization": "Bearer tok"},
                )
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert r.json()["rewards"] == [2.0]
    finally:
        proc.terminate()
        # uvicorn shuts down cleanly, then re-raises the signal it caught
        assert proc.wait(30) == -signal.SIGTERM


def test_cli_serve_errors_are_one_line():
    r = _cli("-s", "length", "--token-env", "OVERCOAT_NO_SUCH_VAR")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "overcoat: error: --token-env OVERCOAT_NO_SUCH_VAR: the environment variable is unset or empty"
    )
    r = _cli("-s", "judge-pair:http://127.0.0.1:9/v1#m")
    assert (
        r.returncode == 2 and "is pairwise; the reward server needs a pointwise scorer" in r.stderr
    )
    assert "Traceback" not in r.stderr
    import socket

    with socket.socket() as s:  # the port is taken
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = _cli("-s", "length", "--port", str(s.getsockname()[1]))
    assert r.returncode == 2 and "overcoat: error: cannot listen on 127.0.0.1:" in r.stderr
