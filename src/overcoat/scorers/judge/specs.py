"""``judge:`` and ``judge-pair:`` spec strings -> judge scorers (registers both prefixes)."""

from __future__ import annotations

import re

from ...errors import SpecError
from .._spec import parse_options, split_args, split_location
from ..registry import register
from .core import JudgeScorer, PairwiseJudgeScorer
from .http_backend import display_url
from .templates import JudgeTemplate

_OPTIONS: dict[str, type] = {
    "mode": str,
    "template": str,
    "parse": str,
    "min": float,
    "max": float,
    "logprobs": bool,
    "top_logprobs": int,
    "temperature": float,
    "max_tokens": int,
    "concurrency": int,
    "timeout": float,
    "connect_timeout": float,
    "start_concurrency": int,
    "fail_after": int,
    "constrain": str,
    "retry_failed": bool,
    "max_chars": int,
    "one_order": str,
    "max_retries": int,
    "backoff": float,
    "max_backoff": float,
    "api_key_env": str,
    "source_lang": str,
    "target_lang": str,
    "device": str,
    "dtype": str,
    "trust_remote_code": bool,
}


def _split_spec(prefix: str, arg: str) -> tuple[str, str, str | None, dict]:
    """(spec text, target, model or None for local, options)."""
    spec = f"{prefix}:{arg}"
    if not arg.strip():
        raise SpecError(f"scorer spec {spec!r}: use {prefix}:BASE_URL#MODEL or {prefix}:local:PATH")
    if arg.startswith("local:"):
        path, optstr = split_location(arg[len("local:") :], ",")
        if not path.strip():
            raise SpecError(f"scorer spec {spec!r}: local needs a PATH")
        return spec, path.strip(), None, parse_options(optstr or "", spec, _OPTIONS)
    url, rest = split_location(arg, "#")
    if rest is None:
        raise SpecError(
            f"scorer spec {_safe(spec)!r}: use {prefix}:BASE_URL#MODEL "
            f"(e.g. {prefix}:http://127.0.0.1:8000/v1#my-model)"
        )
    url = url.strip()
    if not re.match(r"^https?://[^/\s]+", url):
        raise SpecError(
            f"scorer spec {_safe(spec)!r}: BASE_URL must start with http:// or https://"
        )
    models, opts = split_args(rest, _safe(spec), _OPTIONS, max_positional=1)
    if not models:
        raise SpecError(f"scorer spec {_safe(spec)!r}: the model name after '#' is empty")
    return spec, url, models[0], opts


def _safe(spec: str) -> str:
    """A spec with any URL credentials / query hidden (for error messages)."""

    def fix(m):
        return display_url(m.group(0))

    return re.sub(r"https?://[^\s#,]+", fix, spec)


def _make(prefix: str, pairwise: bool):
    def factory(arg: str):
        spec, target, model, opts = _split_spec(prefix, arg)
        mode = (opts.get("mode") or "").lower()
        if pairwise and mode and mode != "pairwise":
            raise SpecError(f"scorer spec {_safe(spec)!r}: judge-pair is always pairwise")
        if not pairwise and not mode and opts.get("template"):
            # a template may declare itself pairwise
            mode = JudgeTemplate.load(opts["template"]).settings.get("mode", "").lower()
        if pairwise or mode == "pairwise":
            return PairwiseJudgeScorer(_safe(spec), target, model, opts)
        return JudgeScorer(_safe(spec), target, model, opts)

    return factory


register(
    "judge",
    "LLM judge over an OpenAI-compatible endpoint: judge:BASE_URL#MODEL[,opts] "
    "or judge:local:PATH|smollm2; templates chat (1-10), gemba-mqm, translation (1-5), "
    "arena (pairwise)",
)(_make("judge", False))
register("judge-pair", "pairwise LLM judge, both orders: judge-pair:BASE_URL#MODEL[,opts]")(
    _make("judge-pair", True)
)
