"""The LLM judge against a real llama-cpp-python server serving SmolLM2 on 127.0.0.1 (issue 14's
"must show"): on N bundled HH-harmless items, pairwise (both orders), free text vs constrained
verdicts: requests sent per prompt, parse rate, wall time; a cached rerun's requests; the time
to stop when the server is killed mid-run; the meta-eval JSON counts.

    python benchmarks/bench_judge_server.py --python .venv-llama/bin/python --gguf PATH [--items 20]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def start(py: str, gguf: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    proc = subprocess.Popen(
        [
            py,
            "-m",
            "llama_cpp.server",
            "--model",
            gguf,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(480):
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.25)
    proc.kill()
    sys.exit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--free-max-tokens", type=int, default=512)
    ap.add_argument("--skip", default="", help="comma list of: free,constrained,kill,metaeval")
    a = ap.parse_args()
    skip = set(a.skip.split(","))

    from overcoat import api
    from overcoat.cli import main as cli
    from overcoat.scorers.engine import compare_pairs
    from overcoat.scorers.judge import JudgeError
    from overcoat.scorers.registry import get_scorer

    ds = api.load("hh-harmless")
    ids = ds.items.column("item_id").to_pylist()[: a.items]
    ds = ds.filter_items(ids)
    t = ds.judgments.to_pairwise().table
    pairs = list(
        zip(
            t.column("item_id").to_pylist(),
            t.column("response_a").to_pylist(),
            t.column("response_b").to_pylist(),
        )
    )
    tmp = Path(tempfile.mkdtemp())
    rows = []
    proc, url = start(a.python, a.gguf)
    try:
        for label, opts in (
            ("free text", f"constrain=off,max_tokens={a.free_max_tokens}"),
            ("constrained (grammar)", "constrain=auto"),
            ("constrained + logprobs", "constrain=auto,logprobs=true"),
        ):
            if ("free" in skip and label == "free text") or (
                "constrained" in skip and label != "free text"
            ):
                continue
            spec = f"judge-pair:{url}#smollm2,timeout=300,{opts}"
            cache = tmp / f"{len(rows)}.sqlite"
            sc = get_scorer(spec)
            t0 = time.perf_counter()
            compare_pairs(ds, sc, pairs, cache=cache)
            wall = time.perf_counter() - t0
            r = sc.report()
            again = get_scorer(spec)
            t1 = time.perf_counter()
            compare_pairs(ds, again, pairs, cache=cache)
            rows.append(
                {
                    "run": label,
                    "prompts": r["n_answers"],
                    "requests": r["requests"]["sent"],
                    "per prompt": round(r["requests"]["sent"] / max(1, r["n_answers"]), 3),
                    "parsed": r["n_answers"] - r["n_unparsable"] - r["n_failed"],
                    "parse rate": round(
                        (r["n_answers"] - r["n_unparsable"] - r["n_failed"])
                        / max(1, r["n_answers"]),
                        3,
                    ),
                    "logprob fallbacks": r["n_logprob_fallback"],
                    "position consistency": r.get("position_consistency"),
                    "one order only": r.get("n_pairs_one_order"),
                    "concurrency": r["requests"]["concurrency_reached"],
                    "timeouts": r["requests"]["timeouts"],
                    "wall s": round(wall, 1),
                    "rerun requests": again.report()["requests"]["sent"],
                    "rerun s": round(time.perf_counter() - t1, 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        proc.kill()
        proc.wait()

    if "kill" not in skip:
        proc, url = start(a.python, a.gguf)
        sc = get_scorer(f"judge-pair:{url}#smollm2,timeout=300,constrain=auto")
        sc.signature()
        be = sc.backend
        seen = threading.Event()
        orig = be.parse_response

        def spy(data):
            seen.set()
            return orig(data)

        be.parse_response = spy
        when: list[float] = []

        def killer():
            seen.wait(600)
            when.append(time.monotonic())
            proc.kill()

        threading.Thread(target=killer, daemon=True).start()
        try:
            compare_pairs(ds, sc, pairs, cache=tmp / "kill.sqlite")
            print("kill: the run finished before the kill")
        except JudgeError as e:
            print(
                json.dumps(
                    {
                        "kill: stopped after s": round(time.monotonic() - when[0], 2),
                        "answered before": be.stats.answered,
                        "requests after the kill": be.stats.connection_errors + be.stats.timeouts,
                        "error": str(e),
                    }
                ),
                flush=True,
            )
        proc.wait()

    if "metaeval" not in skip:
        proc, url = start(a.python, a.gguf)
        try:
            out = tmp / "meta.json"
            t0 = time.perf_counter()
            code = cli(
                [
                    "meta-eval",
                    "--data",
                    "hh-harmless",
                    "--max-items",
                    str(a.items),
                    "--scorer",
                    f"judge-pair:{url}#smollm2,timeout=300",
                    "--scorer",
                    "length",
                    "--resamples",
                    "200",
                    "--json",
                    str(out),
                    "--cache",
                    str(tmp / "meta.sqlite"),
                    "-q",
                ]
            )
            doc = json.loads(out.read_text())
            print(f"meta-eval exit {code} in {time.perf_counter() - t0:.1f} s")
            for s in doc["scorers"]:
                print(json.dumps({k: s.get(k) for k in ("name", "n_missing", "cluster", "judge")}))
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
