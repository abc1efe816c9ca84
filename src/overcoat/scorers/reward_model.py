"""``hf:`` - sequence-classification reward models (``AutoModelForSequenceClassification``).

Spec: ``hf:PATH_OR_HUB_ID[,opt=value...]``. The score of a response is output ``head`` of the
classifier on the formatted conversation:

* ``template=auto`` (default): the tokenizer's chat template on the dialogue (the item's
  ``messages``, else one user turn from ``input``) plus the response as an assistant turn, tokenised
  without extra special tokens (the template writes them); tokenizers without a chat template use
  the plain template ``User: <input>\\n\\nAssistant: <response>`` (tokenised with the tokenizer's
  special tokens). ``template=chat`` / ``template=plain`` force one.
* Inputs longer than the model's maximum length (``maxlen``; default the smaller of the
  tokenizer's ``model_max_length`` and the config's position limit) are truncated on the
  ``truncation`` side (default ``right``, the tokenizer's convention; ``left`` keeps the end of
  the response). :attr:`RewardModelScorer.n_truncated` counts them and every batch with
  truncations is logged (``overcoat.scorers`` logger, warning level).
* Padding is on the right with attention masks; a tokenizer without a pad token pads with eos,
  and the model's ``config.pad_token_id`` is set to the pad id, so last-token pooling (Llama, Gemma,
  Mistral ... classifiers take the last token that is not the pad id) finds the same token for a
  row alone and in a padded batch. Note that when pad == eos, such classifiers read the token
  before a trailing eos - that is the model family's own rule, applied identically at any batch
  size.
* Rows are sorted by token length inside :meth:`score_batch` and run in sub-batches of at most
  ``max_batch`` rows (default 16) and ``max_tokens`` padded tokens (default 16384); scores are put
  back by index, so they do not depend on batch size or order (up to float rounding: < 1e-5 in
  fp32).

Options: ``head`` (default 0), ``max_batch``, ``max_tokens``, ``maxlen``, ``truncation``
(right|left), ``template`` (auto|chat|plain), ``device`` (auto|cpu|cuda|cuda:N|mps), ``dtype``
(auto|fp32|fp16|bf16; auto = bf16/fp16 on CUDA, fp16 on mps, fp32 on cpu), ``revision`` (hub
revision), ``gguf_file``, ``trust_remote_code`` (default false: models that need their own code
are refused).

Signature: ``hf|model:NAME|rev:REV|head:N|template:chat|maxlen:N|trunc:right|dtype:float32``
(``rev`` is the hub commit or a content hash of a local folder, see
:func:`~overcoat.scorers.transformers_models.model_revision`).
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import SpecError
from . import transformers_models as H
from ._spec import split_args
from .base import Scorer, ScoringBatch
from .registry import register

log = logging.getLogger("overcoat.scorers")

_OPTIONS = {
    "head": int,
    "max_batch": int,
    "max_tokens": int,
    "maxlen": int,
    "truncation": str,
    "template": str,
    "device": str,
    "dtype": str,
    "revision": str,
    "gguf_file": str,
    "trust_remote_code": bool,
}


class RewardModelScorer(H.TemplatedModel, Scorer):
    """A sequence-classification reward model; see the module docstring."""

    higher_is_better = True
    needs_references = False
    parallel_safe = False  # GPU models are not forked

    def __init__(
        self,
        model: str,
        *,
        head: int = 0,
        truncation: str = "right",
        spec: str | None = None,
        **options,
    ):
        spec = spec or f"hf:{model}"
        if head < 0:
            raise SpecError(f"scorer spec {spec!r}: head must be >= 0, got {head}")
        if truncation not in ("right", "left"):
            raise SpecError(f"scorer spec {spec!r}: truncation must be right or left")
        super().__init__(model, spec=spec, **options)
        self.head = int(head)
        self.truncation = truncation
        self.name = f"hf:{self.ref.label}" + (f"[{head}]" if head else "")
        self._sig: str | None = None

    # -- lazy pieces ----------------------------------------------------------------------------
    @property
    def model(self):
        model = H.load_model(self.ref, "seqcls", self.device, self.dtype)
        n_out = int(getattr(model.config, "num_labels", 1))
        if self.head >= n_out:
            raise SpecError(
                f"scorer spec {self.spec!r}: head={self.head} is out of range: "
                f"the model has {n_out} output(s) (heads 0..{n_out - 1})"
            )
        H.set_pad_token(self.tokenizer, model)
        return model

    def signature(self) -> str:
        if self._sig is None:
            self._sig = (
                f"hf|model:{self.ref.label}|rev:{H.model_revision(self.ref)}"
                f"|head:{self.head}|template:{self.template}|maxlen:{self.maxlen_label()}"
                f"|trunc:{self.truncation}|dtype:{H.dtype_name(self.dtype)}"
            )
        return self._sig

    # -- scoring --------------------------------------------------------------------------------
    def format(self, input_text: str, messages, response: str) -> str:
        turns = H.conversation(input_text, messages)
        if self.template == "chat":
            turns.append({"role": "assistant", "content": response})
            return H.render_chat(
                self.tokenizer, turns, add_generation_prompt=False, model_label=self.ref.spec
            )
        return H.render_plain(turns, response)

    def encode(self, texts: list[str]) -> tuple[list[dict], int]:
        """Token features per text, truncated to ``maxlen``; returns (features, n truncated)."""
        tok = self.tokenizer
        special = self.template == "plain"
        enc = tok(texts, add_special_tokens=special, truncation=False, verbose=False)
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        rows = [{k: list(enc[k][i]) for k in keys} for i in range(len(texts))]
        long = [i for i, r in enumerate(rows) if len(r["input_ids"]) > self.maxlen]
        if long:
            side = tok.truncation_side
            tok.truncation_side = self.truncation
            try:
                cut = tok(
                    [texts[i] for i in long],
                    add_special_tokens=special,
                    truncation=True,
                    max_length=self.maxlen,
                    verbose=False,
                )
            finally:
                tok.truncation_side = side
            for j, i in enumerate(long):
                rows[i] = {k: list(cut[k][j]) for k in keys}
        return rows, len(long)

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        out = np.full(len(batch), np.nan)
        if not len(batch):
            return out
        torch = H.require("torch")
        model = self.model
        pad_id = H.set_pad_token(self.tokenizer, model)
        texts = [self.format(i, m, r) for i, m, r in H.batch_rows(batch)]
        rows, n_cut = self.encode(texts)
        if n_cut:
            self.n_truncated += n_cut
            log.warning(
                "%s: %d of %d inputs truncated to %d tokens (%d so far)",
                self.name,
                n_cut,
                len(rows),
                self.maxlen,
                self.n_truncated,
            )
        lengths = [len(r["input_ids"]) for r in rows]
        with torch.inference_mode():
            for idx in H.plan_batches(
                lengths, self.max_batch, self.max_tokens, sort=self.sort_by_length
            ):
                feats = H.pad_right([rows[i] for i in idx], pad_id, self.device)
                logits = model(**feats).logits
                if logits.ndim == 1:
                    logits = logits[:, None]
                if self.head >= logits.shape[-1]:
                    raise SpecError(
                        f"scorer spec {self.spec!r}: head={self.head} is out of "
                        f"range: the model returns {logits.shape[-1]} output(s)"
                    )
                out[idx] = logits[:, self.head].float().cpu().numpy()
        return out


@register(
    "hf",
    "sequence-classification reward model (transformers): hf:PATH_OR_HUB_ID"
    "[,head=N,max_batch=16,maxlen=N,template=auto|chat|plain,device=..,dtype=..,"
    "trust_remote_code=false]",
)
def _hf(arg: str) -> RewardModelScorer:
    spec = f"hf:{arg}"
    pos, opts = split_args(arg, spec, _OPTIONS, max_positional=1)
    if not pos:
        raise SpecError(f"scorer spec {spec!r}: give a model, e.g. hf:PATH_OR_HUB_ID")
    return RewardModelScorer(pos[0], spec=spec, **opts)
