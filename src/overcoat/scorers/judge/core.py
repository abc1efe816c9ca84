"""The judge scorers: settings from the spec and the template, prompts, answers to values,
signatures and the counters (``n_answers``, ``n_unparsable``, ``n_failed``,
``n_logprob_fallback``)."""

from __future__ import annotations

import copy
import logging
import math
from typing import cast

import numpy as np

from ...errors import SpecError
from .._common import package_version
from .._spec import check_positive
from ..base import PairwiseScorer, Scorer, ScoringBatch
from .backend import Backend, Completion
from .http_backend import HTTPBackend
from .local_backend import LocalBackend
from .parsing import (
    VERDICT_P,
    expected_value,
    fmt_num,
    locate_value,
    parse_mqm,
    parse_rating,
    parse_verdict,
)
from .templates import JudgeTemplate

log = logging.getLogger("overcoat.scorers.judge")


class _JudgeCore:
    """Shared by the pointwise and pairwise judges: spec, template, backend, counters."""

    name: str
    orders = "both"  # pairwise judges: see PairwiseJudgeScorer.orders

    def _setup(self, spec: str, target: str, model: str | None, opts: dict, pairwise: bool):
        self.spec_local = model is None
        self._answer_settings(spec, opts, pairwise)
        self.logprobs = bool(opts.get("logprobs", False))
        if self.logprobs and self.parse == "mqm":
            raise SpecError(
                f"scorer spec {spec!r}: logprobs are not used by the MQM parser; drop logprobs=true"
            )
        self.temperature = float(opts.get("temperature", 0.0))
        self.max_tokens = int(opts.get("max_tokens", 512))
        self.top_logprobs = int(opts.get("top_logprobs", 20))
        self.concurrency = int(opts.get("concurrency", 8))
        check_positive(
            spec,
            max_tokens=self.max_tokens,
            concurrency=self.concurrency,
            top_logprobs=self.top_logprobs,
        )
        self.variables = {
            "source_lang": opts.get("source_lang", ""),
            "target_lang": opts.get("target_lang", ""),
        }
        self.backend = self._backend(spec, target, model, opts)
        if self.mode == "pairwise":
            self.name = self.name.replace("judge:", "judge-pair:", 1)
        self.n_unparsable = 0
        self.n_failed = 0
        self.n_logprob_fallback = 0
        self.n_answers = 0
        self._sig: str | None = None

    def _answer_settings(self, spec: str, opts: dict, pairwise: bool) -> None:
        """Template, mode, parser and rating scale: from the options, else the template's
        header, else the defaults."""
        tname = opts.get("template") or ("arena" if pairwise else None)
        if tname is None and opts.get("mode", "").lower() == "pairwise":
            tname = "arena"
        self.template = JudgeTemplate.load(tname or "chat")
        hs = self.template.settings
        mode = opts.get("mode") or ("pairwise" if pairwise else hs.get("mode", "pointwise"))
        mode = mode.lower()
        if mode not in ("pointwise", "pairwise"):
            raise SpecError(f"scorer spec {spec!r}: mode must be pointwise or pairwise")
        if hs.get("mode") and hs["mode"] != mode:
            raise SpecError(
                f"scorer spec {spec!r}: template {self.template.name!r} is {hs['mode']}, not {mode}"
            )
        self.mode = mode
        parse = (
            opts.get("parse") or hs.get("parse") or ("verdict" if mode == "pairwise" else "rating")
        ).lower()
        if mode == "pairwise" and parse != "verdict":
            raise SpecError(f"scorer spec {spec!r}: a pairwise judge needs parse=verdict")
        if mode == "pointwise" and parse not in ("rating", "mqm"):
            raise SpecError(
                f"scorer spec {spec!r}: a pointwise judge parses rating or mqm, not {parse!r}"
            )
        self.parse = parse
        try:
            self.lo = float(opts.get("min", hs.get("min", 1)))
            self.hi = float(opts.get("max", hs.get("max", 10)))
        except ValueError:
            raise SpecError(
                f"judge template {self.template.name!r}: min/max are not numbers"
            ) from None
        if self.lo >= self.hi:
            raise SpecError(f"scorer spec {spec!r}: min must be below max")

    def _backend(self, spec: str, target: str, model: str | None, opts: dict) -> Backend:
        """The local model (``model`` is None) or the HTTP server; sets ``model`` and ``name``."""
        if model is None:
            backend = LocalBackend(
                target,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                logprobs=self.logprobs,
                device=opts.get("device"),
                dtype=opts.get("dtype"),
                trust_remote_code=bool(opts.get("trust_remote_code")),
            )
            self.model = str(backend.path)
            self.name = f"judge:{backend.path.name}"
            return backend
        timeout = float(opts.get("timeout", 60.0))
        retries = int(opts.get("max_retries", 5))
        if timeout <= 0 or retries < 0:
            raise SpecError(f"scorer spec {spec!r}: timeout must be > 0 and max_retries >= 0")
        self.model = model
        self.name = f"judge:{model}"
        return HTTPBackend(
            target,
            model,
            api_key_env=opts.get("api_key_env", "OPENAI_API_KEY"),
            timeout=timeout,
            max_retries=retries,
            backoff=float(opts.get("backoff", 1.0)),
            max_backoff=float(opts.get("max_backoff", 60.0)),
            concurrency=self.concurrency,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            logprobs=self.logprobs,
            top_logprobs=self.top_logprobs,
        )

    # labels that logprobs are read over
    def _labels(self) -> dict[str, float]:
        if self.parse == "verdict":
            return {"A": 1.0, "B": 0.0, "C": 0.5}
        if self.parse == "rating":
            return {str(v): float(v) for v in range(math.ceil(self.lo), math.floor(self.hi) + 1)}
        return {}

    def signature(self) -> str:
        if self._sig is None:
            if self.spec_local:
                url = "local"
                model = f"{self.model}@{cast(LocalBackend, self.backend).weights_digest()}"
                extra = f"|transformers:{package_version('transformers')}"
            else:
                url, model, extra = self.backend.display(), self.model, ""
            lp = (
                ("full" if self.spec_local else f"top{self.top_logprobs}")
                if self.logprobs
                else "no"
            )
            parse = (
                f"rating[{fmt_num(self.lo)},{fmt_num(self.hi)}]"
                if self.parse == "rating"
                else self.parse
            )
            vars_ = ",".join(f"{k}={v}" for k, v in sorted(self.variables.items()) if v)
            sig = (
                f"judge|url:{url}|model:{model}|template:{self.template.name}@"
                f"{self.template.sha}|mode:{self.mode}|logprobs:{lp}|temperature:"
                f"{fmt_num(self.temperature)}|max_tokens:{self.max_tokens}|parse:{parse}"
                + (f"|vars:{vars_}" if vars_ else "")
                + (f"|orders:{self.orders}" if self.mode == "pairwise" else "")
                + extra
            )
            self._sig = sig if self.spec_local else cast(HTTPBackend, self.backend).redactor()(sig)
        return self._sig

    def _ask(self, prompts: list[list[dict]]) -> list[float]:
        """One value per prompt (NaN when failed or unparsable); counts."""
        labels = self._labels()
        comps = self.backend.complete_many(prompts, labels)
        out = []
        n_bad = n_fail = 0
        first_error = None
        for c in comps:
            self.n_answers += 1
            if c.error is not None:
                self.n_failed += 1
                n_fail += 1
                first_error = first_error or c.error
                out.append(float("nan"))
                continue
            v = self._value(c, labels)
            if v is None:
                self.n_unparsable += 1
                n_bad += 1
                out.append(float("nan"))
            else:
                out.append(float(v))
        if n_fail:
            log.warning(
                "%s: %d of %d requests failed (first: %s); recorded as missing",
                self.name,
                n_fail,
                len(comps),
                first_error,
            )
        if n_bad:
            log.warning(
                "%s: %d of %d answers unparsable; recorded as missing", self.name, n_bad, len(comps)
            )
        return out

    def _value(self, c: Completion, labels: dict[str, float]) -> float | None:
        text = c.text or ""
        if self.parse == "mqm":
            return parse_mqm(text)
        if self.parse == "rating":
            parsed = parse_rating(text, self.lo, self.hi)
            if parsed is None:
                return None
            value = parsed[0]

            def span_of(t):
                r = parse_rating(t, self.lo, self.hi)
                return r[1] if r else None
        else:
            verdict = parse_verdict(text)
            if verdict is None:
                return None
            value = VERDICT_P[verdict[0]]

            def span_of(t):
                r = parse_verdict(t)
                return r[1] if r else None

        if not self.logprobs:
            return value
        if not c.tokens:
            self.n_logprob_fallback += 1
            return value
        alts, _why = locate_value(c.tokens, labels, span_of)
        ev = expected_value(alts, labels) if alts is not None else None
        if ev is None:
            self.n_logprob_fallback += 1
            return value
        return ev

    def _base_vars(self, inp: str, refs) -> dict:
        refs = list(refs) if refs is not None else []
        return {
            "input": inp,
            "references": refs,
            "reference": refs[0] if refs else None,
            "messages": None,
            **self.variables,
        }

    def close(self) -> None:
        self.backend.close()


class JudgeScorer(_JudgeCore, Scorer):
    """Pointwise LLM judge (a rating or an MQM score per response)."""

    needs_references = False
    higher_is_better = True
    parallel_safe = False  # concurrency is inside (threads); one process is enough

    def __init__(self, spec: str, target: str, model: str | None, opts: dict):
        self._setup(spec, target, model, opts, pairwise=False)

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        n = len(batch)
        prompts = []
        for i in range(n):
            v = self._base_vars(batch.inputs[i], batch.references[i] if batch.references else [])
            v["messages"] = batch.messages[i] if batch.messages else None
            v["response"] = batch.responses[i]
            prompts.append(self.template.render(v))
        return np.asarray(self._ask(prompts), dtype=np.float64)

    def __repr__(self) -> str:
        return f"<JudgeScorer {self.signature()}>"


class PairwiseJudgeScorer(_JudgeCore, PairwiseScorer):
    """Pairwise LLM judge: P(A better), averaged over both presentation orders."""

    needs_references = False
    parallel_safe = False

    #: "both": every pair is asked in both orders and the answers averaged; "one": as given
    #: (A shown first), the copy that :meth:`single_order` returns for the position-bias probe
    orders = "both"

    def __init__(self, spec: str, target: str, model: str | None, opts: dict):
        self._setup(spec, target, model, opts, pairwise=True)

    def single_order(self) -> PairwiseJudgeScorer:
        one = copy.copy(self)  # shares the backend and the counters' starting values
        one.orders = "one"
        one._sig = None
        return one

    def compare_batch(
        self,
        inputs: list[str],
        responses_a: list[str],
        responses_b: list[str],
        references: list[list[str]],
    ) -> np.ndarray:
        n = len(inputs)
        prompts = []
        for i in range(n):
            refs = references[i] if references else []
            shown = [(responses_a[i], responses_b[i])]
            if self.orders == "both":
                shown.append((responses_b[i], responses_a[i]))
            for first, second in shown:
                v = self._base_vars(inputs[i], refs)
                v.update(response_a=first, response_b=second)
                prompts.append(self.template.render(v))
        vals = self._ask(prompts)
        if self.orders == "one":
            return np.asarray(vals, dtype=np.float64)
        out = np.empty(n, dtype=np.float64)
        for i in range(n):
            p_ab, p_ba = vals[2 * i], vals[2 * i + 1]
            out[i] = 0.5 * (p_ab + (1.0 - p_ba))  # NaN if either order is NaN
        return out

    def __repr__(self) -> str:
        return f"<PairwiseJudgeScorer {self.signature()}>"
