"""The judge against a real OpenAI-compatible server: llama-cpp-python's, serving the SmolLM2
GGUF on 127.0.0.1 (started and stopped here). Skipped unless ``OVERCOAT_LLAMA_PYTHON`` (a Python
with ``llama-cpp-python[server]``) and ``OVERCOAT_LLAMA_GGUF`` (the model file) are set;
``scripts/ci_llama_server.sh`` builds the server and runs these in CI."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import httpx
import numpy as np
import pytest

from overcoat import api
from overcoat.scorers.engine import compare_pairs
from overcoat.scorers.judge import JudgeError
from overcoat.scorers.registry import get_scorer

PY = os.environ.get("OVERCOAT_LLAMA_PYTHON")
GGUF = os.environ.get("OVERCOAT_LLAMA_GGUF")

pytestmark = [
    pytest.mark.judge,
    pytest.mark.llama_server,
    pytest.mark.skipif(
        not (PY and GGUF), reason="set OVERCOAT_LLAMA_PYTHON and OVERCOAT_LLAMA_GGUF"
    ),
]

N_ITEMS = 6  # HH pairs: 12 prompts, a few seconds each on 2 cores


class LlamaServer:
    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def start(self) -> LlamaServer:
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "llama_cpp.server",
                "--model",
                GGUF,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/models", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("llama_cpp.server exited at start")
            time.sleep(0.5)
        self.kill()
        raise RuntimeError("llama_cpp.server did not start within 120 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    srv = LlamaServer().start()
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def hh():
    ds = api.load("hh-harmless")
    ids = ds.items.column("item_id").to_pylist()[:N_ITEMS]
    return ds.filter_items(ids), ids


def _pairs(ds, ids):
    t = ds.judgments.to_pairwise().table
    rows = [
        (it, a, b)
        for it, a, b in zip(
            t.column("item_id").to_pylist(),
            t.column("response_a").to_pylist(),
            t.column("response_b").to_pylist(),
        )
        if it in set(ids)
    ]
    return rows[:N_ITEMS]


def test_constrained_verdicts_parse_no_duplicates_and_a_cached_rerun_sends_nothing(
    server, hh, tmp_path
):
    ds, ids = hh
    pairs = _pairs(ds, ids)
    spec = f"judge-pair:{server.url}#smollm2,timeout=120,logprobs=true"
    sc = get_scorer(spec)
    assert "|constrain:grammar" in sc.signature()
    res = compare_pairs(ds, sc, pairs, cache=tmp_path / "c.sqlite")
    r = sc.report()
    assert r["n_unparsable"] == 0 and r["n_failed"] == 0
    assert r["requests"]["sent"] == 2 * len(pairs)  # each prompt once: no duplicates
    assert r["requests"]["constraint_ignored"] == 0
    assert not np.isnan(res.scores).any()
    assert ((res.scores >= 0) & (res.scores <= 1)).all()
    again = get_scorer(spec)
    res2 = compare_pairs(ds, again, pairs, cache=tmp_path / "c.sqlite")
    assert again.report()["requests"]["sent"] == 0 and res2.n_cached == len(pairs)
    np.testing.assert_array_equal(res2.scores, res.scores)


def test_killing_the_server_stops_the_run_quickly(hh, tmp_path):
    ds, ids = hh
    pairs = _pairs(ds, ids)
    srv = LlamaServer().start()
    sc = get_scorer(f"judge-pair:{srv.url}#smollm2,timeout=120,constrain=off,max_tokens=64")
    sc.signature()
    answered = threading.Event()
    be = sc.backend
    old = be.parse_response

    def spy(data):
        answered.set()
        return old(data)

    be.parse_response = spy
    killed_at: list[float] = []

    def killer():
        answered.wait(300)
        killed_at.append(time.monotonic())
        srv.kill()

    threading.Thread(target=killer, daemon=True).start()
    try:
        with pytest.raises(JudgeError, match="in a row got no answer"):
            compare_pairs(ds, sc, pairs, cache=tmp_path / "c.sqlite")
        stopped = time.monotonic() - killed_at[0]
    finally:
        srv.kill()
    assert be.stats.answered >= 1
    assert stopped < 60  # generous; measured in the report of issue 14
    print(f"stopped {stopped:.2f} s after the kill; {be.stats.answered} answered")
