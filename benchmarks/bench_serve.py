"""Load test of the reward server (``overcoat serve``) on loopback.

    python benchmarks/bench_serve.py [--clients 32] [--requests 10000] [--scorer chrf]
                                     [--unbatched] [--markdown]

Starts ``overcoat serve`` in a subprocess on 127.0.0.1 (a free port, a fresh score cache), then
``--clients`` threads, each with one keep-alive connection, send ``--requests`` requests in all,
each the exact body OpenRLHF's current client sends (``openrlhf/utils/agent.py``: one query per
request, ``{"query": [prompt + response + "<|im_end|>"], "prompts": [prompt], "labels": [ref]}``).
Every reward is checked equal to sacreBLEU's chrF of the response against its label (the server
strips ``<|im_end|>``); any non-200 answer, bad body or wrong reward counts as an error. Prints
requests, errors, p50/p99 latency, throughput, the server's batching (requests per scorer batch)
and its resident memory (VmRSS) before the load (after start-up and one request) and after.
``--unbatched`` adds a second run with ``--max-batch 1`` (each request its own scorer batch).
Bounded: requests not sent within ``--time-limit`` seconds (600) count as errors.

There is no peer row: no other tool serves arbitrary metrics as OpenRLHF rewards (OpenRLHF's own
``serve_rm.py`` serves one GPU reward model), so the table compares the server with itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import machine

WORDS = (
    "the a cat dog bird sat ran sang on in under mat park tree house river quick slow red green "
    "blue small large old new morning evening night day world hello friend water bread city"
).split()
END = "<|im_end|>"


def make_requests(n: int, seed: int = 0) -> list[tuple[dict, str, str]]:
    """(body, response, label) for n OpenRLHF single-query requests (random texts: few repeats)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        src = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 12))))
        ref = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 16))))
        hyp = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 16))))
        prompt = f"<|im_start|>user\nTranslate #{i}: {src}{END}\n<|im_start|>assistant\n"
        body = {"query": [prompt + hyp + END], "prompts": [prompt], "labels": [ref]}
        out.append((body, hyp, ref))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def get_json(port: int, path: str, body: dict | None = None) -> dict:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        return json.loads(r.read())
    finally:
        c.close()


def run(args, max_batch: int) -> dict:
    from sacrebleu.metrics import CHRF

    reqs = make_requests(args.requests)
    chrf = CHRF()
    want = [chrf.sentence_score(h, [r]).score for _, h, r in reqs]
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="bench_serve_")
    env = {**os.environ, "OVERCOAT_CACHE": os.path.join(tmp, "scores.sqlite")}
    cmd = [sys.executable, "-m", "overcoat.cli", "serve", "--scorer", args.scorer]
    cmd += ["--port", str(port), "--strip", END, "--max-batch", str(max_batch)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while True:
            try:
                get_json(port, "/health")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(
                        f"server did not start: {proc.stdout.read().decode()}"  # type: ignore[union-attr]
                    ) from None
                time.sleep(0.1)
        get_json(port, "/get_reward", {"query": ["warm up"], "labels": ["warm up"]})
        rss_before = rss_kib(proc.pid)

        latencies = np.full(len(reqs), np.nan)
        errors: list[str] = []  # one entry per failed or unsent request
        lock = threading.Lock()
        shares = [list(range(k, len(reqs), args.clients)) for k in range(args.clients)]

        stop_at = time.perf_counter() + args.time_limit

        def client(idx: list[int]) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for n, i in enumerate(idx):
                if time.perf_counter() > stop_at:
                    with lock:
                        errors.extend(["time limit: not sent"] * (len(idx) - n))
                    break
                data = json.dumps(reqs[i][0])
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/get_reward", data, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    raw = r.read()
                    latencies[i] = time.perf_counter() - t0
                    if r.status != 200:
                        raise ValueError(f"HTTP {r.status}: {raw[:200]!r}")
                    doc = json.loads(raw)
                    got = doc["scores"][0]
                    if got is None or abs(got - want[i]) > 1e-9 or doc["rewards"][0] != got:
                        raise ValueError(f"request {i}: reward {got} != {want[i]}")
                except (OSError, ValueError, KeyError, http.client.HTTPException) as e:
                    with lock:
                        errors.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.close()

        threads = [threading.Thread(target=client, args=(s,)) for s in shares]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        health = get_json(port, "/health")
        rss_after = rss_kib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "max_batch": max_batch,
        "requests": len(reqs),
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:3],
        "p50_ms": float(np.nanpercentile(latencies, 50) * 1000),
        "p99_ms": float(np.nanpercentile(latencies, 99) * 1000),
        "throughput": int(np.isfinite(latencies).sum()) / wall,  # answered requests per second
        "wall_s": wall,
        "batches": health["batches"],
        "served": health["requests"] - 1,  # less the warm-up request
        "largest_batch": health["largest_batch"],
        "rss_before_mib": rss_before / 1024,
        "rss_after_mib": rss_after / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--scorer", default="chrf")
    ap.add_argument("--unbatched", action="store_true", help="also run with --max-batch 1")
    ap.add_argument(
        "--time-limit", type=float, default=600.0, help="seconds of load per run (then: errors)"
    )
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if args.scorer != "chrf":
        ap.error("the rewards are checked against sacreBLEU's chrF: --scorer chrf only")
    results = [run(args, 256)] + ([run(args, 1)] if args.unbatched else [])
    head = [
        "max batch",
        "requests",
        "errors",
        "p50",
        "p99",
        "throughput",
        "requests/batch",
        "RSS before → after",
    ]
    rows = [
        [
            str(r["max_batch"]),
            f"{r['requests']:,}",
            str(r["errors"]),
            f"{r['p50_ms']:.1f} ms",
            f"{r['p99_ms']:.1f} ms",
            f"{r['throughput']:,.0f} req/s",
            f"{r['served'] / max(r['batches'] - 1, 1):.1f} (max {r['largest_batch']})",
            f"{r['rss_before_mib']:.0f} → {r['rss_after_mib']:.0f} MiB",
        ]
        for r in results
    ]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("| " + " | ".join("---" for _ in head) + " |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(
        f"\n{args.clients} concurrent clients (threads, keep-alive), OpenRLHF single-query bodies, "
        f"scorer {args.scorer}, fresh score cache; every reward checked against sacreBLEU"
    )
    for r in results:
        for e in r["first_errors"]:
            print(f"error (max batch {r['max_batch']}): {e}")
    print(f"machine: {machine()}")
    if any(r["errors"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
