"""Factual consistency with an NLI cross-encoder (``nli:MODEL``), SummaC-ZS / MiniCheck style.

``nli:MODEL[,premise=input|reference][,agg=min|mean][,entail_label=N][,max_length=N]
[,batch_size=N][,device=D][,dtype=T]``

The score of a response is the probability that the premise - the item's input (source document,
the default) or, with ``premise=reference``, its references - ENTAILS the response, computed
claim by claim:

1. the response is split into sentences by :func:`split_sentences` (a simple regex splitter);
2. each (premise, sentence) pair goes through an ``AutoModelForSequenceClassification`` NLI model
   (premise first, sentence second); the score of the pair is the softmax probability of the
   entailment label, found in ``config.id2label`` (the one label whose name contains "entail" and
   not "not"/"non"; ``entail_label=N`` overrides);
3. a premise longer than the model's window is cut into consecutive word-aligned chunks that fit
   with the sentence (``max_length``: the tokenizer's ``model_max_length``, capped by the model's
   ``max_position_embeddings``); the sentence's score is the best over chunks (and over
   references with ``premise=reference``): a claim is supported if some part of the premise
   supports it (SummaC-ZS's max over premise blocks);
4. sentence scores are aggregated with ``agg=min`` (default: the least supported claim, a
   MiniCheck-style document-level decision) or ``agg=mean``.

A sentence longer than half the window is truncated to it (longest-first truncation). A response
with no sentence (empty or only punctuation) gets NaN (missing). The model runs in fp32 unless
``dtype=`` says otherwise. Scores may differ between batch compositions by float rounding only.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import SpecError
from ._common import (
    TORCH,
    TRANSFORMERS,
    check_installed,
    dtype_name,
    package_version,
    require,
    resolve_device,
    resolve_dtype,
)
from ._spec import model_and_options
from .base import ScoringBatch
from .encoder_models import EncoderModelScorer, hub_folder, model_fingerprint
from .registry import register

#: a sentence ends after . ! ? or … (plus closing quotes/brackets) when white space and a
#: character that is not a lower-case letter follow, or after a CJK full stop / ! / ?
_SENT_END = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s+[^\sa-z])"
    r"|[\u3002\uff01\uff1f]+[\"'\u201d\u2019)\]\u300d\u300f]*"
)
_HAS_WORD = re.compile(r"\w")
SPLITTER_VERSION = "regex-v1"


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences: at line breaks, after ``. ! ? …`` (with any closing quotes
    or brackets) followed by white space and a character that is not a lower-case ASCII letter,
    and after ``。！？``. Pieces without any word character are dropped; the others are stripped.

    Known limits: abbreviations followed by a capitalised word ("Dr. Smith") are split; a
    sentence starting in lower case after a full stop is not.
    """
    out: list[str] = []
    for line in text.splitlines():
        start = 0
        cuts = [m.end() for m in _SENT_END.finditer(line)] + [len(line)]
        for end in cuts:
            piece = line[start:end].strip()
            start = end
            if piece and _HAS_WORD.search(piece):
                out.append(piece)
    return out


def find_entailment_label(id2label: dict) -> int:
    """The index of the entailment label in ``config.id2label`` (case-insensitive "entail",
    excluding "not entailment"-style labels); SpecError when there is not exactly one."""
    hits = []
    for k, v in (id2label or {}).items():
        name = str(v).lower()
        if "entail" in name and not re.search(r"\bnot|non[-_ ]?entail|not[-_ ]?entail", name):
            hits.append(int(k))
    if len(hits) != 1:
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted((id2label or {}).items(), key=lambda kv: int(kv[0]))
        )
        raise SpecError(
            f"nli: cannot tell which label means entailment (id2label: "
            f"{labels or 'none'}); pass entail_label=N"
        )
    return hits[0]


class NLIScorer(EncoderModelScorer):
    """Probability that the premise entails the response, sentence by sentence (module doc)."""

    _loaded = ("_model", "_tok")
    _tok: Any  # the tokenizer, once loaded

    def __init__(
        self,
        model: str,
        premise: str = "input",
        agg: str = "min",
        entail_label: int | None = None,
        max_length: int | None = None,
        batch_size: int = 32,
        device: str = "auto",
        dtype: str = "fp32",
    ):
        if not model:
            raise SpecError(
                "nli needs a model: nli:MODEL (a local folder or a Hugging Face id "
                "of an NLI cross-encoder, e.g. nli:cross-encoder/nli-deberta-v3-base)"
            )
        if premise not in ("input", "reference"):
            raise SpecError(f"nli: premise must be 'input' or 'reference', got {premise!r}")
        if agg not in ("min", "mean"):
            raise SpecError(f"nli: agg must be 'min' or 'mean', got {agg!r}")
        if batch_size < 1:
            raise SpecError(f"nli: batch_size must be >= 1, got {batch_size}")
        if max_length is not None and max_length < 8:
            raise SpecError(f"nli: max_length must be >= 8, got {max_length}")
        super().__init__(model, device)
        self.premise = premise
        self.needs_references = premise == "reference"
        self.agg = agg
        self.entail_label = None if entail_label is None else int(entail_label)
        self.max_length_opt = max_length
        self.batch_size = int(batch_size)
        self.dtype = dtype
        short = self.short_name
        self.name = f"nli({short})" if premise == "input" else f"nli({short},ref)"
        self._max_len: int | None = None
        self._label: int | None = None
        self._device: str | None = None

    # -- loading ---------------------------------------------------------------------------
    def _fail(self, e: Exception) -> SpecError:
        return self.load_error(e, f"nli: cannot load an NLI model from {self._load_id!r}")

    def _meta(self):
        """Tokenizer and config: the entailment label and the window (no weights)."""
        if self._tok is not None:
            return self._tok
        require("torch")
        transformers = require("transformers")
        try:
            tok = transformers.AutoTokenizer.from_pretrained(self._load_id, trust_remote_code=False)
            config = transformers.AutoConfig.from_pretrained(self._load_id, trust_remote_code=False)
        except Exception as e:  # noqa: BLE001 - one line whatever went wrong
            raise self._fail(e) from None
        n_labels = int(getattr(config, "num_labels", 0) or len(config.id2label or {}))
        if self.entail_label is not None:
            if not 0 <= self.entail_label < n_labels:
                raise SpecError(
                    f"nli: entail_label={self.entail_label} but the model has {n_labels} labels"
                )
            self._label = self.entail_label
        else:
            self._label = find_entailment_label(config.id2label)
        limits = []
        if self.max_length_opt is not None:
            limits.append(self.max_length_opt)
        tml = getattr(tok, "model_max_length", None)
        if isinstance(tml, int) and 0 < tml < 1_000_000:
            limits.append(tml)
        mpe = getattr(config, "max_position_embeddings", None)
        if isinstance(mpe, int) and mpe > 0:
            if "roberta" in str(getattr(config, "model_type", "")):
                mpe -= 2  # RoBERTa positions start after the padding index
            limits.append(mpe)
        if not limits:
            limits.append(512)
        self._max_len = min(limits)
        self._tok = tok
        return tok

    def _load(self):
        if self._model is not None:
            return self._model, self._tok
        tok = self._meta()
        transformers = require("transformers")
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        try:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                self._load_id, dtype=dtype, trust_remote_code=False
            )
        except Exception as e:  # noqa: BLE001
            raise self._fail(e) from None
        model.to(device)
        model.eval()
        self._device = device
        self._model = model
        if self._folder is None:
            self._folder = hub_folder(self._load_id)
        return model, tok

    def signature(self) -> str:
        if self._sig is None:
            self._need_folder()
            self._meta()  # the entailment label and the window come from the model's files
            dt = dtype_name(resolve_dtype(self.dtype, resolve_device(self.device)))
            multi = "|multiref:max" if self.premise == "reference" else ""
            self._sig = (
                f"nli|model:{self.model_name}|hash:{model_fingerprint(self._folder)}"
                f"|premise:{self.premise}{multi}|label:{self._label}|agg:{self.agg}"
                f"|chunks:max|maxlen:{self._max_len}|split:{SPLITTER_VERSION}"
                f"|dtype:{dt}|transformers:{package_version('transformers')}"
            )
        return self._sig

    # -- chunking --------------------------------------------------------------------------
    def _n_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = self._tok(list(texts), add_special_tokens=False)["input_ids"]
        return [len(x) for x in enc]

    def _n_special(self) -> int:
        try:
            return int(self._tok.num_special_tokens_to_add(pair=True))
        except Exception:  # noqa: BLE001 - tokenizers without the helper
            a, b = self._n_tokens(["a", "b"])
            return len(self._tok("a", "b")["input_ids"]) - a - b

    def chunks(self, premise: str, budget: int, _cache: dict | None = None) -> list[str]:
        """``premise`` itself when it fits in ``budget`` tokens, else consecutive word-aligned
        pieces of at most ``budget`` tokens each (a single longer word is a chunk of its own and
        gets truncated)."""
        key = (premise, budget)
        if _cache is not None and key in _cache:
            return _cache[key]
        (total,) = self._n_tokens([premise])
        if total <= budget:
            out = [premise]
        else:
            spans = [m.span() for m in re.finditer(r"\S+", premise)]
            counts = self._n_tokens([premise[a:b] for a, b in spans])
            out = []
            start, used = 0, 0
            for k, c in enumerate(counts):
                if k > start and used + c > budget:
                    out.append(premise[spans[start][0] : spans[k - 1][1]])
                    start, used = k, 0
                used += c
            if spans:
                out.append(premise[spans[start][0] : spans[-1][1]])
            if not out:
                out = [premise]
        if _cache is not None:
            _cache[key] = out
        return out

    # -- scoring ---------------------------------------------------------------------------
    def entail_probs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(entailment) for each (premise, hypothesis) pair, truncated longest-first to the
        window (float64)."""
        model, tok = self._load()
        import torch

        out = np.empty(len(pairs))
        if not pairs:
            return out
        order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
        with torch.inference_mode():
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                enc = tok(
                    [pairs[i][0] for i in idx],
                    [pairs[i][1] for i in idx],
                    truncation="longest_first",
                    max_length=self._max_len,
                    padding=True,
                    return_tensors="pt",
                )
                enc = {k: v.to(self._device) for k, v in enc.items()}
                logits = model(**enc).logits.float()
                p = torch.softmax(logits, dim=-1)[:, self._label]
                out[idx] = p.double().cpu().numpy()
        return out

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        n = len(batch)
        out = np.full(n, np.nan)
        if n == 0:
            return out
        self._meta()
        assert self._max_len is not None  # (set by _meta)
        n_special = self._n_special()
        half = max((self._max_len - n_special) // 2, 1)
        pair_index: dict[tuple[str, str], int] = {}
        chunk_cache: dict = {}
        # per row: a list (one per sentence) of pair indices whose max is the sentence score
        plan: list[list[list[int]] | None] = []
        for i in range(n):
            sents = split_sentences(batch.responses[i])
            premises = [batch.inputs[i]] if self.premise == "input" else list(batch.references[i])
            if not sents or not premises:
                plan.append(None)
                continue
            lens = self._n_tokens(sents)
            row = []
            for sent, ln in zip(sents, lens):
                budget = max(self._max_len - n_special - min(ln, half), 1)
                ids = []
                for prem in premises:
                    for ch in self.chunks(prem, budget, chunk_cache):
                        ids.append(pair_index.setdefault((ch, sent), len(pair_index)))
                row.append(ids)
            plan.append(row)
        probs = self.entail_probs(list(pair_index))
        for i, sent_ids in enumerate(plan):
            if sent_ids is None:
                continue
            per_sent = np.array([probs[ids].max() for ids in sent_ids])
            out[i] = per_sent.min() if self.agg == "min" else per_sent.mean()
        return out


_NLI_OPTS = {
    "premise": str,
    "agg": str,
    "entail_label": int,
    "max_length": int,
    "batch_size": int,
    "device": str,
    "dtype": str,
}


@register(
    "nli",
    "factual consistency: P(input entails response) per sentence with an NLI model, "
    "min/mean over sentences; nli:MODEL[,premise=input|reference][,agg=min|mean]",
)
def _nli(arg: str):
    model, opts = model_and_options(arg, f"nli:{arg}", _NLI_OPTS)
    check_installed("nli", TORCH, TRANSFORMERS)
    return NLIScorer(model, **opts)
