"""Reading a judge's answer: ratings, GEMBA-MQM error lists, pairwise verdicts, and the
expected value over the logprobs at the position of the parsed value (rules in
:mod:`overcoat.scorers.judge`)."""

from __future__ import annotations

import math
import re

#: GEMBA-MQM severity weights, error cap and score cap
MQM_WEIGHTS = {"critical": 25, "major": 5, "minor": 1}
MQM_MAX_ERRORS = 5
MQM_CAP = 25

_NUM = r"[-+]?\d+(?:\.\d+)?"
_NOT_RANGE = r"(?!\s*(?:to|-|–)\s*\d)"


def _rating_patterns(hi: float) -> list[re.Pattern]:
    hi_txt = fmt_num(hi)
    return [
        re.compile(r"\[\[\s*(" + _NUM + r")\s*\]\]"),
        re.compile(
            r"\b(?:rating|score|grade)\b\s*(?:\*\*)?\s*(?:[:=]|is|of)?\s*(?:\*\*)?\s*"
            r"(?:is|of)?\s*\[?\s*(" + _NUM + r")\b(?!\.\d)" + _NOT_RANGE,
            re.IGNORECASE,
        ),
        re.compile(
            r"(?<![\d.])(" + _NUM + r")\s*(?:/|out of)\s*" + re.escape(hi_txt) + r"(?:\.0)?\b",
            re.IGNORECASE,
        ),
        re.compile(r"^\W*?(" + _NUM + r")\W*$"),
    ]


def fmt_num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def parse_rating(text: str, lo: float = 1, hi: float = 10) -> tuple[float, tuple[int, int]] | None:
    """(rating, span of the number in ``text``) or None when no in-range rating is found."""
    if not text:
        return None
    for pat in _rating_patterns(hi):
        for m in pat.finditer(text.strip() if pat.pattern.startswith("^") else text):
            try:
                v = float(m.group(1))
            except ValueError:  # pragma: no cover - the pattern only matches numbers
                continue
            if lo <= v <= hi:
                if pat.pattern.startswith("^"):  # matched on the stripped text
                    off = len(text) - len(text.lstrip())
                    return v, (m.start(1) + off, m.end(1) + off)
                return v, m.span(1)
    return None


_VERDICT_MARK = re.compile(r"\[\[\s*(A|B|C|tie|Tie|TIE)\s*\]\]")
_VERDICT_WORD = re.compile(
    r"\b(?:final verdict|verdict|winner|better (?:answer|response))\b\s*(?:\*\*)?\s*(?:is)?\s*"
    r"[:=]?\s*(?:\*\*)?\s*(?:assistant|answer|response|model)?\s*\[?\s*((?-i:A|B|C)|tie)\b",
    re.IGNORECASE,
)
_VERDICT_ALONE = re.compile(
    r"^\W*(?:(?:assistant|answer|response|model)\s+)?((?-i:A|B|C)|tie)\W*$", re.IGNORECASE
)


def _letter(s: str) -> str:
    return "C" if s.lower() == "tie" else s.upper()


def parse_verdict(text: str) -> tuple[str, tuple[int, int]] | None:
    """('A' | 'B' | 'C', span of the verdict) or None (no verdict, or conflicting ones)."""
    if not text:
        return None
    for pat in (_VERDICT_MARK, _VERDICT_WORD):
        found = list(pat.finditer(text))
        if found:
            letters = {_letter(m.group(1)) for m in found}
            if len(letters) > 1:
                return None
            m = found[-1]
            return _letter(m.group(1)), m.span(1)
    stripped = text.strip()
    alone = _VERDICT_ALONE.match(stripped)
    if alone:
        off = len(text) - len(text.lstrip())
        return _letter(alone.group(1)), (alone.start(1) + off, alone.end(1) + off)
    return None


VERDICT_P = {"A": 1.0, "B": 0.0, "C": 0.5}

_MQM_HEADER = re.compile(
    r"^[\s#*_>-]*(critical|major|minor)\s*(?:errors?)?\s*[*_]*\s*:[*_\s]*(.*)$", re.IGNORECASE
)


def parse_mqm(text: str) -> float | None:
    """GEMBA-MQM score of an error-span answer (see the module docstring), None if unparsable."""
    if not text:
        return None
    errors: dict[str, int] = {"critical": 0, "major": 0, "minor": 0}
    level = None
    seen_header = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _MQM_HEADER.match(line)
        if m:
            level = m.group(1).lower()
            seen_header = True
            line = m.group(2).strip()
            if not line:
                continue
        low = line.lower()
        if "no-error" in low or "no error" in low or level is None:
            continue
        errors["critical" if "non-translation" in low else level] += 1
    if not seen_header:
        return None
    total = 0
    counted = 0
    for sev in ("critical", "major", "minor"):
        for _ in range(errors[sev]):
            if counted < MQM_MAX_ERRORS:
                total += MQM_WEIGHTS[sev]
                counted += 1
    return -float(min(total, MQM_CAP))


def norm_token(tok: str) -> str:
    return tok.strip().strip('[]*"').strip()


def expected_value(candidates: dict[str, float], values: dict[str, float]) -> float | None:
    """sum(v * p) / sum(p) over the candidate tokens (token -> logprob) that name a value
    (after :func:`norm_token`); None when none does."""
    mass: dict[str, float] = {}
    for tok, lp in candidates.items():
        key = norm_token(tok)
        if key in values and lp is not None and math.isfinite(lp):
            mass[key] = mass.get(key, 0.0) + math.exp(lp)
    z = sum(mass.values())
    if not mass or z <= 0:
        return None
    return sum(values[k] * p for k, p in mass.items()) / z


def locate_value(
    tokens: list[tuple[str, dict[str, float]]], labels: dict[str, float], span_of
) -> tuple[dict[str, float] | None, str | None]:
    """The alternatives at the token holding the parsed value.

    ``span_of(text)`` parses the concatenated token text and returns the span of the value
    (or None). Returns (alternatives, None) or (None, why-not).
    """
    text = "".join(t for t, _ in tokens)
    span = span_of(text)
    if span is None:
        return None, "value not found in the token stream"
    start, end = span
    pos = 0
    for tok, alts in tokens:
        nxt = pos + len(tok)
        if pos <= start < nxt:
            if norm_token(tok) != text[start:end] or norm_token(tok) not in labels:
                return None, "value spans several tokens"
            return alts, None
        pos = nxt
    return None, "value not found in the token stream"  # pragma: no cover
