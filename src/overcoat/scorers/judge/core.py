"""The judge scorers: settings from the spec and the template, prompts, answers to values,
signatures and the counters (``n_answers``, ``n_unparsable``, ``n_failed``,
``n_logprob_fallback``)."""

from __future__ import annotations

import copy
import logging
import math
import re
from typing import cast

import numpy as np

from ...errors import SpecError
from .._common import package_version
from .._spec import check_positive
from ..base import PairwiseScorer, Scorer, ScoringBatch
from .answers import AnswerStore
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

_JSON_ANSWER = re.compile(r'\s*\{\s*"answer"\s*:\s*"([^"]{1,8})"\s*\}\s*')

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
        self.retry_failed = bool(opts.get("retry_failed", False))
        self.max_chars = int(opts.get("max_chars", 0))
        if self.max_chars < 0:
            raise SpecError(f"scorer spec {spec!r}: max_chars must be >= 0 (0: no truncation)")
        self.n_unparsable = 0
        self.n_failed = 0
        self.n_logprob_fallback = 0
        self.n_answers = 0
        self.n_cached_answers = 0
        self.n_truncated = 0
        self.failed_by_reason: dict[str, int] = {}
        self.unparsable_examples: list[str] = []
        self._sig: str | None = None
        self._answers: AnswerStore | None = None
        self._warned: set[str] = set()

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
        connect_timeout = float(opts.get("connect_timeout", 5.0))
        retries = int(opts.get("max_retries", 5))
        fail_after = int(opts.get("fail_after", 5))
        if timeout <= 0 or connect_timeout <= 0 or retries < 0 or fail_after < 0:
            raise SpecError(
                f"scorer spec {spec!r}: timeout and connect_timeout must be > 0, max_retries "
                "and fail_after >= 0"
            )
        constrain = str(opts.get("constrain", "auto")).lower()
        if constrain not in ("auto", "off", "grammar", "json"):
            raise SpecError(f"scorer spec {spec!r}: constrain must be auto, off, grammar or json")
        if constrain != "off" and self.parse == "mqm":
            constrain = "off"  # an error list cannot be forced into one label
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
            connect_timeout=connect_timeout,
            start_concurrency=int(opts.get("start_concurrency", 1)),
            fail_after=fail_after,
            constrain=constrain,
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
                be = cast(HTTPBackend, self.backend)
                be.probe()  # what the server serves and what it can do
                served = be.served_model()
                if served is not None:
                    extra += f"|served:{served}"
                    if served != self.model:
                        log.warning(
                            "%s: the server at %s serves %r, not %r (listed: %s); the "
                            "signature records what it serves",
                            self.name,
                            url,
                            served,
                            self.model,
                            ", ".join((be.identity or {}).get("ids", [])[:5]),
                        )
                if be.constrain != "off":
                    be.set_answer_format(self._label_texts())
                    extra += f"|constrain:{be.constrain}"
                if self.max_chars:
                    extra += f"|max_chars:{self.max_chars}"
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
                + (
                    "|one_order:keep"
                    if self.mode == "pairwise" and getattr(self, "one_order", "drop") == "keep"
                    else ""
                )
                + extra
            )
            self._sig = sig if self.spec_local else cast(HTTPBackend, self.backend).redactor()(sig)
        return self._sig

    def _label_texts(self) -> list[str]:
        labs = list(self._labels())
        return sorted(labs, key=lambda x: (len(x), x)) if self.parse == "rating" else labs

    def use_cache(self, cache) -> None:
        """The engine hands over its open score cache (None when done): raw answers are kept
        in it (:mod:`.answers`)."""
        self._answers = AnswerStore(cache, self.signature()) if cache is not None else None

    def _ask(self, prompts: list[list[dict]]) -> list[float]:
        """One value per prompt (NaN when failed or unparsable); counts."""
        labels = self._labels()
        self.signature()  # probes the server once (identity, features)
        store = self._answers
        comps: list[Completion | None] = [None] * len(prompts)
        if store is not None:
            for k, c in store.get_many(prompts).items():
                if self.retry_failed and self._value(c, labels, count=False) is None:
                    continue  # an unparsable answer: asked again
                comps[k] = c
                self.n_cached_answers += 1
        todo = [k for k, c in enumerate(comps) if c is None]
        if todo:

            def keep(j: int, c: Completion) -> None:
                if store is not None:
                    store.put(prompts[todo[j]], c)

            new = self.backend.complete_many([prompts[k] for k in todo], labels, keep)
            for k, c in zip(todo, new):
                comps[k] = c
        out = []
        n_bad = 0
        fails: dict[str, int] = {}
        first_error: dict[str, str] = {}
        for maybe in comps:
            assert maybe is not None
            c = maybe
            self.n_answers += 1
            if c.error is not None:
                self.n_failed += 1
                why = c.reason or c.error
                fails[why] = fails.get(why, 0) + 1
                first_error.setdefault(why, c.error)
                self.failed_by_reason[why] = self.failed_by_reason.get(why, 0) + 1
                out.append(float("nan"))
                continue
            v = self._value(c, labels)
            if v is None:
                self.n_unparsable += 1
                n_bad += 1
                if len(self.unparsable_examples) < 3:
                    self.unparsable_examples.append(" ".join((c.text or "").split())[:120])
                out.append(float("nan"))
            else:
                out.append(float(v))
        for why, k in fails.items():
            if why == "context length exceeded":
                if why not in self._warned:
                    self._warned.add(why)
                    log.warning(
                        "%s: prompts longer than the model's context were refused (%s); the "
                        "count is in the report; max_chars=N truncates each text to N "
                        "characters",
                        self.name,
                        first_error[why],
                    )
                continue
            log.warning(
                "%s: %d of %d requests failed (%s; first: %s); recorded as missing",
                self.name,
                k,
                len(comps),
                why,
                first_error[why],
            )
        if n_bad:
            log.warning(
                "%s: %d of %d answers unparsable; recorded as missing", self.name, n_bad, len(comps)
            )
        self._check_fingerprints()
        return out

    def _check_fingerprints(self) -> None:
        fps: set[str] = getattr(self.backend, "fingerprints", set())
        if len(fps) > 1 and "fingerprint" not in self._warned:
            self._warned.add("fingerprint")
            log.warning(
                "%s: the server changed its system_fingerprint during the run (%s): answers "
                "may come from different model builds",
                self.name,
                ", ".join(sorted(fps)),
            )

    def report(self) -> dict:
        """The counts people see (score table, meta-eval JSON): per reason, with the endpoint."""
        r: dict = {
            "endpoint": self.backend.display(),
            "model": self.model,
            "n_answers": self.n_answers,
            "n_failed": self.n_failed,
            "failed_by_reason": dict(sorted(self.failed_by_reason.items())),
            "n_unparsable": self.n_unparsable,
            "n_logprob_fallback": self.n_logprob_fallback,
            "n_cached_answers": self.n_cached_answers,
        }
        if self.unparsable_examples:
            r["unparsable_examples"] = list(self.unparsable_examples)
        if self.max_chars:
            r["n_truncated"] = self.n_truncated
        be = self.backend
        if isinstance(be, HTTPBackend):
            st = be.stats
            r["served_model"] = be.served_model()
            r["constrain"] = be.constrain
            if be.fingerprints:
                r["system_fingerprints"] = sorted(be.fingerprints)
            r["requests"] = {
                "sent": st.sent,
                "answered": st.answered,
                "timeouts": st.timeouts,
                "connection_errors": st.connection_errors,
                "constraint_refused": st.constraint_refused,
                "constraint_ignored": st.constraint_ignored,
                "concurrency_reached": st.limit_reached,
                "concurrency_final": st.limit_final,
                "seconds": round(st.seconds, 3),
                "answers_per_second": round(st.answered / st.seconds, 3) if st.seconds else None,
            }
        return r

    def report_line(self) -> str:
        """The counts in one line (a note under the score table and in the meta-eval)."""
        r = self.report()
        parts = [f"endpoint {r['endpoint']}"]
        if r.get("served_model") and r["served_model"] != self.model:
            parts.append(f"serves {r['served_model']!r}")
        if r.get("constrain") not in (None, "off"):
            parts.append(f"constrained answers ({r['constrain']})")
        parts.append(f"{r['n_answers']} answers ({r['n_cached_answers']} from the cache)")
        by = r["failed_by_reason"]
        parts.append(
            f"{r['n_failed']} failed"
            + (" (" + ", ".join(f"{k}: {v}" for k, v in by.items()) + ")" if by else "")
        )
        parts.append(f"{r['n_unparsable']} unparsable")
        if self.logprobs:
            parts.append(f"{r['n_logprob_fallback']} logprob fallbacks")
        if "n_pairs_one_order" in r:
            parts.append(f"{r['n_pairs_one_order']} pairs judged in one order only")
            if r["position_consistency"] is not None:
                parts.append(
                    f"position consistency {r['position_consistency']:.3f} over "
                    f"{r['n_pairs_both_orders']} pairs"
                )
        q = r.get("requests")
        if q and q["sent"]:
            rate = q["answers_per_second"]
            parts.append(
                f"{q['sent']} requests, concurrency up to {q['concurrency_reached']}"
                + (f", {rate:.2f} answers/s" if rate else "")
            )
        if r.get("n_truncated"):
            parts.append(f"{r['n_truncated']} texts truncated")
        return "; ".join(parts)

    def _truncate(self, text):
        if not self.max_chars or not isinstance(text, str) or len(text) <= self.max_chars:
            return text
        self.n_truncated += 1
        return text[: self.max_chars] + " [...]"

    def _value(self, c: Completion, labels: dict[str, float], count: bool = True) -> float | None:
        text = c.text or ""
        m = _JSON_ANSWER.fullmatch(text)
        if m:  # a constrained JSON answer: {"answer": LABEL}
            text = f"[[{m.group(1)}]]"
        if self.parse == "mqm":
            return parse_mqm(text)
        if self.parse == "rating":
            parsed = parse_rating(text, self.lo, self.hi)
            if parsed is None:
                return None
            value = parsed[0]

            def span_of(t):
                j = _JSON_ANSWER.fullmatch(t)
                if j:
                    return j.span(1)
                r = parse_rating(t, self.lo, self.hi)
                return r[1] if r else None
        else:
            verdict = parse_verdict(text)
            if verdict is None:
                return None
            value = VERDICT_P[verdict[0]]

            def span_of(t):
                j = _JSON_ANSWER.fullmatch(t)
                if j:
                    return j.span(1)
                r = parse_verdict(t)
                return r[1] if r else None

        if not self.logprobs:
            return value
        if not c.tokens:
            self.n_logprob_fallback += count
            return value
        alts, _why = locate_value(c.tokens, labels, span_of)
        ev = expected_value(alts, labels) if alts is not None else None
        if ev is None:
            self.n_logprob_fallback += count
            return value
        return ev

    def _base_vars(self, inp: str, refs) -> dict:
        refs = list(refs) if refs is not None else []
        t = self._truncate
        refs = [t(r) for r in refs]
        return {
            "input": t(inp),
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
            v["response"] = self._truncate(batch.responses[i])
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
        self.one_order = str(opts.get("one_order", "drop")).lower()
        if self.one_order not in ("drop", "keep"):
            raise SpecError(f"scorer spec {spec!r}: one_order must be drop or keep")
        self.n_both_orders = self.n_one_order = self.n_consistent = 0

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
                v.update(response_a=self._truncate(first), response_b=self._truncate(second))
                prompts.append(self.template.render(v))
        vals = self._ask(prompts)
        if self.orders == "one":
            return np.asarray(vals, dtype=np.float64)
        out = np.empty(n, dtype=np.float64)
        for i in range(n):
            p_ab, p_ba = vals[2 * i], vals[2 * i + 1]
            out[i] = 0.5 * (p_ab + (1.0 - p_ba))  # NaN if either order is NaN
            ok_ab, ok_ba = not math.isnan(p_ab), not math.isnan(p_ba)
            if ok_ab and ok_ba:
                self.n_both_orders += 1
                # the two orders agree: P(A better) on the same side of 1/2 in both
                self.n_consistent += int(np.sign(p_ab - 0.5) == np.sign((1.0 - p_ba) - 0.5))
            elif ok_ab or ok_ba:
                self.n_one_order += 1
                if self.one_order == "keep":
                    out[i] = p_ab if ok_ab else 1.0 - p_ba
        return out

    def report(self) -> dict:
        r = super().report()
        r["n_pairs_both_orders"] = self.n_both_orders
        r["n_pairs_one_order"] = self.n_one_order
        r["one_order"] = self.one_order
        r["position_consistency"] = (
            round(self.n_consistent / self.n_both_orders, 4) if self.n_both_orders else None
        )
        return r

    def __repr__(self) -> str:
        return f"<PairwiseJudgeScorer {self.signature()}>"
