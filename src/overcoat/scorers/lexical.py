"""Lexical reference-based metrics via sacrebleu and rouge-score (never re-implemented).

Sentence scores equal the libraries' own sentence-level values: ``bleu`` is
``sacrebleu.metrics.BLEU(effective_order=True).sentence_score`` (the effective-order default of
``sacrebleu.sentence_bleu``), ``chrf`` is ``CHRF().sentence_score`` (``chrf:word_order=2`` is chrF++),
``ter`` is ``TER().sentence_score`` (lower is better), ``rouge-l`` is rouge-score's ROUGE-L F1
(``score_multi``: best over references).

Options follow the spec after a colon, e.g. ``bleu:tokenize=zh``, ``chrf:word_order=2``,
``ter:case_sensitive=true``, ``rouge-l:use_stemmer=true``.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np

from ..errors import SpecError
from ._spec import parse_options
from .base import Scorer, ScoringBatch
from .registry import register


class _SacreBleuScorer(Scorer):
    needs_references = True
    _cls_name = ""
    _defaults: dict = {}
    _allowed: dict = {}

    def __init__(self, spec_name: str, options: dict):
        self.options = {**self._defaults, **options}
        self.spec_name = spec_name
        self._metric: Any = None
        self._sig: str | None = None
        self._ref_info: dict[tuple[str, ...], Any] = {}

    def _build(self):
        import sacrebleu.metrics as m

        return getattr(m, self._cls_name)(**self.options)

    @property
    def metric(self):
        if self._metric is None:
            self._metric = self._build()
        return self._metric

    def __getstate__(self):  # sacrebleu objects hold caches; rebuild them in workers
        return {**self.__dict__, "_metric": None, "_ref_info": {}}

    def signature(self) -> str:
        if self._sig is None:
            probe = self._build()
            probe.sentence_score("a", ["a"])  # sacrebleu knows nrefs only after scoring
            sig = str(probe.get_signature()).replace("nrefs:1", "nrefs:var")
            self._sig = f"{self.spec_name}|{sig}"
        return self._sig

    #: reference sets whose n-grams (or words) are kept between batches
    _REF_INFO_MAX = 4096

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        """``sentence_score`` of every row, with each reference set's statistics extracted once
        (many responses share a reference: TED's 13 systems per segment, every rewrite of a
        response in the probes). The steps are sacrebleu's own ``sentence_score`` steps
        (check, cache the references, preprocess, segment statistics, score), so the scores are
        bit-identical; a sacrebleu without them gets the plain ``sentence_score`` loop."""
        m = self.metric
        steps = (
            "_check_sentence_score_args",
            "_cache_references",
            "_preprocess_segment",
            "_compute_segment_statistics",
            "_aggregate_and_compute",
        )
        if not all(hasattr(m, a) for a in steps):
            return np.array(
                [
                    m.sentence_score(h, list(r)).score
                    for h, r in zip(batch.responses, batch.references)
                ],
                dtype=float,
            )
        out = np.empty(len(batch), dtype=float)
        cache = self.__dict__.setdefault("_ref_info", {})
        for i, (h, r) in enumerate(zip(batch.responses, batch.references)):
            refs = tuple(r)
            m._check_sentence_score_args(h, refs)
            info = cache.get(refs)
            if info is None:
                if len(cache) >= self._REF_INFO_MAX:
                    cache.clear()
                info = cache[refs] = m._cache_references([[x] for x in refs])[0]
            stats = m._compute_segment_statistics(m._preprocess_segment(h), info)
            out[i] = m._aggregate_and_compute([stats]).score
        return out


class BLEUScorer(_SacreBleuScorer):
    name = "BLEU"
    _cls_name = "BLEU"
    _defaults = {"effective_order": True}
    _allowed = {
        "tokenize": str,
        "lowercase": bool,
        "smooth_method": str,
        "smooth_value": float,
        "max_ngram_order": int,
        "effective_order": bool,
    }


class CHRFScorer(_SacreBleuScorer):
    name = "chrF"
    _cls_name = "CHRF"
    _allowed = {
        "char_order": int,
        "word_order": int,
        "beta": int,
        "lowercase": bool,
        "whitespace": bool,
        "eps_smoothing": bool,
    }


class TERScorer(_SacreBleuScorer):
    name = "TER"
    _cls_name = "TER"
    higher_is_better = False
    _allowed = {"normalized": bool, "no_punct": bool, "asian_support": bool, "case_sensitive": bool}


def _check_options(spec: str, cls, options: dict) -> None:
    """Values sacrebleu would reject with a KeyError deep inside, or accept and score as 0."""

    def bad(key: str, want: str):
        return SpecError(f"scorer spec {spec!r}: {key} must be {want}, got {options[key]!r}")

    if cls is BLEUScorer:
        from sacrebleu.metrics.bleu import _TOKENIZERS, BLEU

        if "tokenize" in options and options["tokenize"] not in _TOKENIZERS:
            raise bad("tokenize", f"one of {', '.join(_TOKENIZERS)}")
        if "smooth_method" in options and options["smooth_method"] not in BLEU.SMOOTH_DEFAULTS:
            raise bad("smooth_method", f"one of {', '.join(BLEU.SMOOTH_DEFAULTS)}")
        if options.get("max_ngram_order", 1) < 1:
            raise bad("max_ngram_order", "at least 1")
        if options.get("smooth_value", 0.0) < 0:
            raise bad("smooth_value", "at least 0")
    elif cls is CHRFScorer:
        for k in ("char_order", "word_order", "beta"):
            if options.get(k, 0) < 0:
                raise bad(k, "at least 0")
        if options.get("char_order", 6) + options.get("word_order", 0) < 1:
            raise SpecError(f"scorer spec {spec!r}: char_order + word_order must be at least 1")


def _factory(cls, spec_name):
    def make(arg: str):
        spec = f"{spec_name}:{arg}" if arg else spec_name
        opts = parse_options(arg, spec, cls._allowed)
        s = cls(spec_name, opts)
        if spec_name == "chrf++":
            s.options.setdefault("word_order", 2)
            s.name = "chrF++"
        _check_options(spec, cls, s.options)
        try:
            s.signature()  # builds the metric and scores one sentence: bad options fail now
        except Exception as e:  # noqa: BLE001 - whatever sacrebleu objects to: one line
            raise SpecError(
                f"scorer spec {spec!r}: sacrebleu refused the options ({type(e).__name__}: {e})"
            ) from None
        return s

    return make


register(
    "bleu",
    "sentence BLEU (sacrebleu, effective order); options: tokenize, lowercase, smooth_method ...",
)(_factory(BLEUScorer, "bleu"))
register("chrf", "chrF (sacrebleu); options: char_order, word_order, beta, lowercase")(
    _factory(CHRFScorer, "chrf")
)
register("chrf++", "chrF++ (sacrebleu CHRF with word_order=2)")(_factory(CHRFScorer, "chrf++"))
register("ter", "TER (sacrebleu; lower is better)")(_factory(TERScorer, "ter"))


class RougeLScorer(Scorer):
    name = "ROUGE-L"
    needs_references = True

    def __init__(self, use_stemmer: bool = False):
        self.use_stemmer = use_stemmer
        self._scorer: Any = None

    def __getstate__(self):
        return {**self.__dict__, "_scorer": None}

    def signature(self) -> str:
        v = importlib.metadata.version("rouge-score")
        return f"rouge-l|f1|stem:{'yes' if self.use_stemmer else 'no'}|multiref:max|version:{v}"

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        if self._scorer is None:
            from rouge_score import rouge_scorer

            self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=self.use_stemmer)
        return np.array(
            [
                self._scorer.score_multi(list(r), h)["rougeL"].fmeasure
                for h, r in zip(batch.responses, batch.references)
            ],
            dtype=float,
        )


@register("rouge-l", "ROUGE-L F1 (rouge-score; best over references); option: use_stemmer")
def _rouge(arg: str):
    opts = parse_options(arg, f"rouge-l:{arg}", {"use_stemmer": bool})
    return RougeLScorer(**opts)
