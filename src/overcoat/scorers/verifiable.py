"""Verifiable rewards: math answer equivalence, exact match and regular expressions (all CPU).

Each scores 1.0 (correct / matched) or 0.0; none ever returns NaN, following the verifiable-reward
convention that an answer that cannot be checked (no answer found, unparsable, timed out) earns
nothing. All need no model and are ``parallel_safe``.

``math``
    Answer equivalence with the ``math-verify`` package: ``verify(parse(reference),
    parse(response))``. ``parse`` finds the response's final answer itself (a ``\\boxed{}`` answer
    first, else the last LaTeX or plain expression, e.g. the last number), and ``verify`` compares
    symbolically and numerically (``\\boxed{1/2}`` = ``0.5`` = ``\\frac{1}{2}``). A reference that
    math-verify cannot parse as it is is tried again inside ``$...$``. 1.0 when any reference
    matches. Needs references. math-verify's timeouts (5 s per parse and per comparison, with
    ``signal.alarm``) are used in the main thread and switched off in other threads (where the
    signal cannot be used).

``exact[:normalize=true|false]``
    1.0 when the response equals one of the references. With ``normalize=false`` (the default)
    the texts are compared after stripping surrounding white space only; with ``normalize=true``
    both are normalised as in the SQuAD v1.1 evaluation script (lower case, punctuation removed,
    the articles a/an/the removed, white space collapsed). Needs references.

``regex:PATTERN``
    The whole text after ``regex:`` is the pattern (Python ``re`` syntax; use inline flags such as
    ``(?i)``). Without capture groups: 1.0 when ``re.search(PATTERN, response)`` finds a match
    (format rewards; reference-free). With a group named ``answer``, or else any capture group,
    the pattern extracts the answer: 1.0 when the first match's ``answer`` group (else group 1),
    stripped of surrounding white space, equals a stripped reference; no match -> 0.0 (needs
    references). Use ``(?:...)`` for groups that should not capture; to take the last occurrence
    rather than the first, start the pattern with ``(?s).*`` (greedy).
"""

from __future__ import annotations

import re
import string
import threading

import numpy as np

from ..errors import SpecError
from ._common import check_installed, package_version
from ._spec import parse_options
from .base import Scorer, ScoringBatch
from .registry import register


# -- math -------------------------------------------------------------------------------------
class MathScorer(Scorer):
    """1.0 when math-verify finds the response's final answer equivalent to a reference."""

    name = "math"
    needs_references = True
    TIMEOUT = 5

    def signature(self) -> str:
        return (
            f"math|math-verify:{package_version('math-verify')}"
            f"|latex2sympy2_extended:{package_version('latex2sympy2_extended')}"
            f"|sympy:{package_version('sympy')}|gold:as-is-then-$|multiref:any|unparsable:0"
        )

    def _mv(self):
        try:
            import math_verify
        except ImportError:
            raise SpecError(
                "the 'math' scorer needs the 'math-verify' package: pip install math-verify"
            ) from None
        return math_verify

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        mv = self._mv()
        timeout = self.TIMEOUT if threading.current_thread() is threading.main_thread() else None
        gold_cache: dict[str, list] = {}

        def gold(ref: str):
            if ref not in gold_cache:
                g = mv.parse(ref, parsing_timeout=timeout)
                if not g:
                    g = mv.parse(f"${ref}$", parsing_timeout=timeout)
                gold_cache[ref] = g
            return gold_cache[ref]

        out = np.zeros(len(batch))
        for i, (resp, refs) in enumerate(zip(batch.responses, batch.references)):
            pred = mv.parse(resp, parsing_timeout=timeout)
            if not pred:
                continue
            for ref in refs:
                g = gold(ref)
                if g and mv.verify(g, pred, timeout_seconds=timeout):
                    out[i] = 1.0
                    break
        return out


@register(
    "math",
    "verifiable reward: math-verify equivalence of the response's final answer "
    "(boxed or last expression) with a reference; 1/0 (unparsable: 0)",
)
def _math(arg: str):
    if arg.strip():
        raise SpecError(f"scorer spec 'math:{arg}': math takes no options")
    check_installed("math", ("math_verify", "math-verify"))
    return MathScorer()


# -- exact ------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lower case, drop punctuation, drop articles, collapse
    white space."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


class ExactMatchScorer(Scorer):
    needs_references = True

    def __init__(self, normalize: bool = False):
        self.normalize = bool(normalize)
        self.name = "exact-norm" if self.normalize else "exact"

    def signature(self) -> str:
        norm = "squad" if self.normalize else "strip"
        return f"exact|normalize:{norm}|multiref:any"

    def _norm(self, text: str) -> str:
        return squad_normalize(text) if self.normalize else text.strip()

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        return np.array(
            [
                float(any(self._norm(resp) == self._norm(r) for r in refs))
                for resp, refs in zip(batch.responses, batch.references)
            ],
            dtype=float,
        )


@register(
    "exact",
    "verifiable reward: exact match with a reference; option normalize=true "
    "(SQuAD-style normalisation)",
)
def _exact(arg: str):
    return ExactMatchScorer(**parse_options(arg, f"exact:{arg}", {"normalize": bool}))


# -- regex ------------------------------------------------------------------------------------
class RegexScorer(Scorer):
    name = "regex"

    def __init__(self, pattern: str):
        if not pattern:
            raise SpecError("regex needs a pattern: regex:PATTERN")
        try:
            self.regex = re.compile(pattern)
        except re.error as e:
            msg = " ".join(str(e).split())
            raise SpecError(f"regex: invalid pattern {pattern!r}: {msg}") from None
        self.pattern = pattern
        if "answer" in self.regex.groupindex:
            self.group: int | str | None = "answer"
        elif self.regex.groups:
            self.group = 1
        else:
            self.group = None
        self.needs_references = self.group is not None

    def signature(self) -> str:
        mode = (
            "search" if self.group is None else f"capture:{self.group}|compare:strip|multiref:any"
        )
        return f"regex|pattern:{self.pattern}|{mode}"

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        out = np.zeros(len(batch))
        for i, resp in enumerate(batch.responses):
            m = self.regex.search(resp)
            if m is None:
                continue
            if self.group is None:
                out[i] = 1.0
                continue
            ans = m.group(self.group)
            if ans is not None:
                ans = ans.strip()
                out[i] = float(any(ans == r.strip() for r in batch.references[i]))
        return out


@register(
    "regex",
    "verifiable reward: regex:PATTERN scores 1 when re.search matches; with a group "
    "'answer' (or group 1) the captured text must equal a reference",
)
def _regex(arg: str):
    return RegexScorer(arg)
