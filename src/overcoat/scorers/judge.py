"""LLM judges: any OpenAI-compatible chat-completions endpoint (or a small local model) as a scorer.

Spec grammar::

    judge:BASE_URL#MODEL[,KEY=VALUE...]          pointwise (a rating per response)
    judge-pair:BASE_URL#MODEL[,KEY=VALUE...]     pairwise (P(A better than B))
    judge:local:PATH[,KEY=VALUE...]              a local chat model through transformers
    judge-pair:local:PATH[,KEY=VALUE...]

``BASE_URL`` is the API root (``http://127.0.0.1:8000/v1``); the judge POSTs to
``BASE_URL/chat/completions`` (a URL already ending in ``/chat/completions`` is accepted too).
``PATH`` is a folder written by ``save_pretrained`` or a ``.gguf`` file.

Options (defaults in brackets):

* ``mode`` [pointwise; the template's own mode; pairwise for ``judge-pair``]: pointwise | pairwise
* ``template`` [chat; arena when pairwise]: a built-in name (``chat``, ``gemba-mqm``, ``arena``)
  or a path to a Jinja file of your own
* ``parse`` [from the template header]: rating | mqm | verdict; ``min`` / ``max`` [1 / 10]: the
  rating scale
* ``logprobs`` [false]: ask for ``logprobs: true, top_logprobs: N`` and score the expected rating
  (or the verdict probability) instead of the parsed one; ``top_logprobs`` [20]
* ``temperature`` [0], ``max_tokens`` [512]
* ``concurrency`` [8] requests in flight, ``timeout`` [60] seconds per request,
  ``max_retries`` [5] retries after the first try (on 408, 429, 5xx, timeouts and connection
  errors), ``backoff`` [1.0] seconds (doubling per retry, times a random factor in [0.5, 1]),
  ``max_backoff`` [60] seconds (caps the backoff and a server's Retry-After, which is honoured:
  the next try waits at least that long)
* ``api_key_env`` [OPENAI_API_KEY]: the environment variable holding the API key, sent as
  ``Authorization: Bearer``; nothing is sent when it is unset. The key is never written into the
  signature, results, logs or error messages. Sending it over plain ``http://`` to a host other
  than this machine gives a warning (once per host).
* ``source_lang`` / ``target_lang`` [empty]: variables for the translation template
* ``device`` / ``dtype`` [auto] (local models only); ``trust_remote_code`` [false]: a local
  model folder whose config names its own Python code (``auto_map``) is refused unless true

Templates are Jinja files. A template's first comment may carry settings
(``{#- overcoat: parse=rating min=1 max=10 mode=pointwise -#}``); a ``{% block system %}`` and a
``{% block user %}`` give the two chat messages (without blocks, the whole rendering is the user
message). Variables: ``input``, ``messages`` (the conversation, or none), ``response``,
``response_a`` / ``response_b`` (pairwise), ``reference`` (the first reference or none),
``references``, ``source_lang``, ``target_lang``. The signature holds the sha256 of the template
text, so editing a template invalidates the cache.

Parsing:

* ``rating``: the first in-range match of, in order, ``[[7]]``; ``Rating: 7`` / ``Score: 7`` /
  ``score of 7``; ``7/10`` / ``7 out of 10`` (10 = the scale's max); an answer that is just a
  number. With logprobs, the expected rating ``sum(v * p_v) / sum(p_v)`` over the integer rating
  tokens among the alternatives at the position of the parsed rating (probabilities of tokens
  that read the same after stripping spaces and brackets are added). When that position holds
  more than the rating itself (``10`` split as ``1`` + ``0``, ``7.5``) or no rating token is
  among the alternatives, the parsed rating is used and ``n_logprob_fallback`` is counted.
* ``mqm`` (GEMBA-MQM, Kocmi & Federmann 2023, as in their ``parse_mqm_answer``): error lines
  under ``Critical:`` / ``Major:`` / ``Minor:`` headers (``no-error`` lines skipped, a line
  mentioning ``non-translation`` counts as critical); weights critical 25, major 5, minor 1;
  only the first 5 errors count (critical first, then major, then minor); the total is capped at
  25 and negated: scores lie in [-25, 0], higher is better. An answer without any header is
  unparsable. Beyond GEMBA, headers may carry markdown (``**Major:**``) and an error written on
  the header line itself counts. ``logprobs=true`` is refused (a spec error).
* ``verdict``: ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie; ``[[tie]]`` too), else ``verdict: A`` /
  ``winner: B``..., else an answer that is just ``A``, ``B``, ``tie``. Markers naming different
  verdicts make the answer unparsable. One order's P(first better) is 1, 0 or 0.5; with
  logprobs ``(p_A + p_C / 2) / (p_A + p_B + p_C)`` at the verdict letter's position.

Pairwise judges ask both orders (A, B) and (B, A) and return the mean of P(A better) over the
two; a pair where either order has no usable verdict is NaN.

Missing values: an unparsable answer is NaN and counted in ``scorer.n_unparsable``; a request
that still fails after ``max_retries`` (429, 5xx, timeouts, connection errors) or that the
server refuses (other 4xx) is NaN and counted in ``scorer.n_failed``. NaN results are not cached,
so a rerun asks again. 401, 403 and 404 stop the run with a one-line :class:`JudgeError`.
The counters (``n_answers``, ``n_unparsable``, ``n_failed``, ``n_logprob_fallback``) add up over
the scorer object's life; for a pairwise judge they count answers (two per pair).

Local models (``judge:local:PATH``) load with ``AutoModelForCausalLM`` (``gguf_file=`` for a
``.gguf`` file), format prompts with the tokenizer's chat template and decode greedily one
prompt at a time (a tokenizer without a chat template gets the messages' texts joined by blank
lines); with ``logprobs=true`` the expectation uses the full next-token distribution at the
rating position (each label's probability summed over the token ids that decode to it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import os
import random
import re
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..errors import OvercoatError, SpecError
from ._spec import parse_options
from .base import PairwiseScorer, Scorer, ScoringBatch, register

log = logging.getLogger("overcoat.scorers.judge")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
BUILTIN_TEMPLATES = {"chat": "chat_rating.jinja", "gemba-mqm": "gemba_mqm.jinja",
                     "arena": "arena_pairwise.jinja"}

#: GEMBA-MQM severity weights, error cap and score cap
MQM_WEIGHTS = {"critical": 25, "major": 5, "minor": 1}
MQM_MAX_ERRORS = 5
MQM_CAP = 25

_OPTIONS: dict[str, type] = {
    "mode": str, "template": str, "parse": str, "min": float, "max": float,
    "logprobs": bool, "top_logprobs": int, "temperature": float, "max_tokens": int,
    "concurrency": int, "timeout": float, "max_retries": int, "backoff": float,
    "max_backoff": float, "api_key_env": str, "source_lang": str, "target_lang": str,
    "device": str, "dtype": str, "trust_remote_code": bool,
}


class JudgeError(OvercoatError):
    """The judge endpoint refused the whole run (bad key, unknown model or URL)."""


# -- answer parsing ---------------------------------------------------------------------------
_NUM = r"[-+]?\d+(?:\.\d+)?"
_NOT_RANGE = r"(?!\s*(?:to|-|–)\s*\d)"


def _rating_patterns(hi: float) -> list[re.Pattern]:
    hi_txt = _fmt_num(hi)
    return [
        re.compile(r"\[\[\s*(" + _NUM + r")\s*\]\]"),
        re.compile(r"\b(?:rating|score|grade)\b\s*(?:\*\*)?\s*(?:[:=]|is|of)?\s*(?:\*\*)?\s*"
                   r"(?:is|of)?\s*\[?\s*(" + _NUM + r")\b(?!\.\d)" + _NOT_RANGE,
                   re.IGNORECASE),
        re.compile(r"(?<![\d.])(" + _NUM + r")\s*(?:/|out of)\s*" + re.escape(hi_txt)
                   + r"(?:\.0)?\b", re.IGNORECASE),
        re.compile(r"^\W*?(" + _NUM + r")\W*$"),
    ]


def _fmt_num(x: float) -> str:
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
    re.IGNORECASE)
_VERDICT_ALONE = re.compile(
    r"^\W*(?:(?:assistant|answer|response|model)\s+)?((?-i:A|B|C)|tie)\W*$", re.IGNORECASE)


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
    m = _VERDICT_ALONE.match(stripped)
    if m:
        off = len(text) - len(text.lstrip())
        return _letter(m.group(1)), (m.start(1) + off, m.end(1) + off)
    return None


VERDICT_P = {"A": 1.0, "B": 0.0, "C": 0.5}

_MQM_HEADER = re.compile(
    r"^[\s#*_>-]*(critical|major|minor)\s*(?:errors?)?\s*[*_]*\s*:[*_\s]*(.*)$", re.IGNORECASE)


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


def _norm_token(tok: str) -> str:
    return tok.strip().strip("[]*").strip()


def expected_value(candidates: dict[str, float], values: dict[str, float]) -> float | None:
    """sum(v * p) / sum(p) over the candidate tokens (token -> logprob) that name a value
    (after :func:`_norm_token`); None when none does."""
    mass: dict[str, float] = {}
    for tok, lp in candidates.items():
        key = _norm_token(tok)
        if key in values and lp is not None and math.isfinite(lp):
            mass[key] = mass.get(key, 0.0) + math.exp(lp)
    z = sum(mass.values())
    if not mass or z <= 0:
        return None
    return sum(values[k] * p for k, p in mass.items()) / z


# -- templates --------------------------------------------------------------------------------
_HEADER = re.compile(r"^\s*\{#-?\s*overcoat:(.*?)-?#\}", re.DOTALL)


@dataclass
class JudgeTemplate:
    name: str
    text: str
    settings: dict = field(default_factory=dict)
    _tmpl: object = None

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    @classmethod
    def load(cls, name_or_path: str) -> JudgeTemplate:
        if name_or_path in BUILTIN_TEMPLATES:
            path = TEMPLATE_DIR / BUILTIN_TEMPLATES[name_or_path]
            name = name_or_path
        else:
            path = Path(name_or_path).expanduser()
            if not path.is_file():
                known = ", ".join(sorted(BUILTIN_TEMPLATES))
                raise SpecError(f"judge template {name_or_path!r} is neither a built-in "
                                f"({known}) nor a file")
            name = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(f"cannot read judge template {str(path)!r} ({type(e).__name__})") \
                from None
        return cls(name, text, _header_settings(text, name))

    def _compiled(self):
        if self._tmpl is None:
            try:
                import jinja2
                from jinja2.sandbox import SandboxedEnvironment
            except ImportError:
                raise SpecError("judge templates need the 'jinja2' package: "
                                "pip install jinja2") from None
            env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, trim_blocks=True,
                                       lstrip_blocks=True, keep_trailing_newline=False,
                                       autoescape=False)
            try:
                self._tmpl = env.from_string(self.text)
            except jinja2.TemplateError as e:
                raise SpecError(f"judge template {self.name!r}: {type(e).__name__}: "
                                f"{_first_line(str(e))}") from None
        return self._tmpl

    def render(self, variables: dict) -> list[dict]:
        """Chat messages: a system message from ``{% block system %}`` (if any) and the user
        message from ``{% block user %}`` (else the whole rendering)."""
        import jinja2
        t = self._compiled()
        try:
            msgs = []
            if "system" in t.blocks:
                sys_txt = "".join(t.blocks["system"](t.new_context(dict(variables)))).strip()
                if sys_txt:
                    msgs.append({"role": "system", "content": sys_txt})
            if "user" in t.blocks:
                user = "".join(t.blocks["user"](t.new_context(dict(variables))))
            else:
                user = t.render(**variables)
        except jinja2.TemplateError as e:
            raise SpecError(f"judge template {self.name!r}: {type(e).__name__}: "
                            f"{_first_line(str(e))}") from None
        msgs.append({"role": "user", "content": user.strip()})
        return msgs

    def __getstate__(self):
        return {**self.__dict__, "_tmpl": None}


def _first_line(s: str) -> str:
    return (s.strip().splitlines() or [""])[0]


def _header_settings(text: str, name: str) -> dict:
    m = _HEADER.match(text)
    if not m:
        return {}
    out = {}
    for part in m.group(1).replace(",", " ").split():
        k, eq, v = part.partition("=")
        if not eq:
            raise SpecError(f"judge template {name!r}: header setting {part!r} is not KEY=VALUE")
        out[k.strip()] = v.strip()
    return out


# -- completions ------------------------------------------------------------------------------
@dataclass
class Completion:
    """One answer: its text, and per generated token (text, {alternative: logprob}) if asked."""

    text: str | None
    tokens: list[tuple[str, dict[str, float]]] | None = None
    error: str | None = None  # set when no answer could be had (the request failed)


def _locate(tokens: list[tuple[str, dict[str, float]]], labels: dict[str, float],
            span_of) -> tuple[dict[str, float] | None, str | None]:
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
            if _norm_token(tok) != text[start:end] or _norm_token(tok) not in labels:
                return None, "value spans several tokens"
            return alts, None
        pos = nxt
    return None, "value not found in the token stream"  # pragma: no cover


class _Redactor:
    def __init__(self, secrets: Sequence[str]):
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text


def _display_url(url: str) -> str:
    """The URL without user info, query or fragment (what may be shown and hashed)."""
    p = urlsplit(url)
    host = p.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{p.port}" if p.port else "")
    return urlunsplit((p.scheme, netloc, p.path.rstrip("/"), "", ""))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:  # pragma: no cover
        return None
    return max(0.0, dt.timestamp() - time.time())


class _Cancelled(Exception):
    pass


_WARNED_PLAIN_HTTP: set[str] = set()


def is_loopback_host(host: str | None) -> bool:
    h = (host or "").strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def warn_plain_http_key(base_url: str, api_key_env: str) -> bool:
    """Warn (once per host and process) that the API key goes unencrypted: ``http://`` to a host
    that is not this machine. Returns whether it warned."""
    p = urlsplit(base_url)
    if p.scheme.lower() != "http" or is_loopback_host(p.hostname):
        return False
    host = p.hostname or ""
    if host in _WARNED_PLAIN_HTTP:
        return False
    _WARNED_PLAIN_HTTP.add(host)
    warnings.warn(f"judge: the API key in ${api_key_env} is sent unencrypted over plain http:// "
                  f"to {host}; use https:// (or unset the key) unless this network is trusted",
                  UserWarning, stacklevel=2)
    return True


class HTTPBackend:
    """POST {base}/chat/completions with retries, backoff and a bounded thread pool."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str, timeout: float,
                 max_retries: int, backoff: float, max_backoff: float, concurrency: int,
                 temperature: float, max_tokens: int, logprobs: bool, top_logprobs: int):
        url = base_url.rstrip("/")
        url = url.removesuffix("/chat/completions")
        self.base_url = url
        self.endpoint = url + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self._client = None
        self._lock = threading.Lock()

    def __getstate__(self):
        return {**self.__dict__, "_client": None, "_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # the key is read from the environment when needed and never stored on the object
    def _key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    def redactor(self) -> _Redactor:
        p = urlsplit(self.base_url)
        return _Redactor([self._key(), p.password or "", p.query or ""])

    def display(self) -> str:
        return _display_url(self.base_url)

    def _get_client(self):
        with self._lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError:
                    raise SpecError("judge: needs the 'httpx' package: pip install httpx") \
                        from None
                n = max(1, self.concurrency)
                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout),
                    limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def payload(self, messages: list[dict]) -> dict:
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        return body

    def complete_many(self, prompts: list[list[dict]],
                      labels: dict[str, float]) -> list[Completion]:
        if not prompts:
            return []
        client = self._get_client()
        stop = threading.Event()
        key = self._key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if key:
            warn_plain_http_key(self.base_url, self.api_key_env)
        redact = self.redactor()
        n = max(1, min(self.concurrency, len(prompts)))
        ex = ThreadPoolExecutor(max_workers=n, thread_name_prefix="overcoat-judge")
        futures = [ex.submit(self._one, client, headers, p, stop, redact) for p in prompts]
        ok = False
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in futures if f.done() and f.exception() is not None]
            if errors:  # an error stops the whole batch at once; a JudgeError explains it best
                raise next((e for e in errors if isinstance(e, JudgeError)), errors[0])
            out = [f.result() for f in futures]
            ok = True
            return out
        finally:
            stop.set()
            if ok:
                ex.shutdown(wait=True)
            else:
                # an error or Ctrl-C does not wait for the answers in flight: each ends within
                # `timeout` and its thread then stops; the next batch gets a fresh client
                ex.shutdown(wait=False, cancel_futures=True)
                self._retire_client(futures)

    def _retire_client(self, futures) -> None:
        with self._lock:
            old, self._client = self._client, None
        if old is not None:
            def reap():
                wait(futures)
                old.close()
            threading.Thread(target=reap, daemon=True, name="overcoat-judge-reaper").start()

    def _one(self, client, headers, messages, stop: threading.Event, redact) -> Completion:
        import httpx
        body = self.payload(messages)
        why = ""
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise _Cancelled()
            wait_hint = None
            try:
                r = client.post(self.endpoint, json=body, headers=headers)
            except httpx.TimeoutException:
                why = f"timed out after {self.timeout:g}s"
            except httpx.TransportError as e:
                why = f"connection error ({type(e).__name__})"
            else:
                code = r.status_code
                if code == 200:
                    try:
                        return self._parse_response(r.json())
                    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                        why = "malformed response"
                elif code in (408, 429) or code >= 500:
                    why = f"HTTP {code}"
                    wait_hint = _retry_after(r.headers.get("retry-after"))
                elif code in (401, 403, 404):
                    stop.set()
                    raise JudgeError(redact(
                        f"judge endpoint {self.display()} answered HTTP {code} for model "
                        f"{self.model!r}: {_snippet(r.text)}"
                        + (f" (check the key in ${self.api_key_env})" if code in (401, 403)
                           else " (check the base URL and the model name)")))
                else:
                    return Completion(None, error=redact(f"HTTP {code}: {_snippet(r.text)}"))
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2 ** attempt))
            delay *= 0.5 + 0.5 * random.random()
            if wait_hint is not None:
                delay = max(delay, min(wait_hint, self.max_backoff))
            log.debug("judge request %s; retry %d/%d in %.2fs", why, attempt + 1,
                      self.max_retries, delay)
            if stop.wait(delay):
                raise _Cancelled()
        return Completion(None, error=redact(f"gave up after {self.max_retries + 1} tries "
                                             f"({why})"))

    def _parse_response(self, data: dict) -> Completion:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        text = msg.get("content")
        if text is not None and not isinstance(text, str):
            raise TypeError("content is not a string")
        tokens = None
        lp = choice.get("logprobs")
        if self.logprobs and isinstance(lp, dict) and isinstance(lp.get("content"), list):
            tokens = []
            for t in lp["content"]:
                alts: dict[str, float] = {}
                for a in t.get("top_logprobs") or []:
                    tok = a.get("token")
                    if isinstance(tok, str) and a.get("logprob") is not None:
                        alts.setdefault(tok, float(a["logprob"]))
                tok = t.get("token") or ""
                if t.get("logprob") is not None:
                    alts.setdefault(tok, float(t["logprob"]))
                tokens.append((tok, alts))
        return Completion(text or "", tokens)


def _snippet(body: str, n: int = 200) -> str:
    s = " ".join((body or "").split())
    return (s[:n] + "...") if len(s) > n else (s or "(empty body)")


class LocalBackend:
    """A local chat model through transformers: greedy decoding, one prompt at a time."""

    def __init__(self, path: str, *, max_tokens: int, temperature: float, logprobs: bool,
                 device: str | None, dtype: str | None, trust_remote_code: bool = False):
        p = Path(path).expanduser()
        if not p.exists():
            raise SpecError(f"judge:local: no such file or folder {path!r}")
        self.path = p.resolve()
        self.trust_remote_code = bool(trust_remote_code)
        if not (p.is_file() and p.suffix.lower() == ".gguf"):
            from ._torch import refuse_remote_code
            refuse_remote_code(self.path, f"judge:local:{path}", trust=self.trust_remote_code)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.logprobs = logprobs
        self.device_opt = device
        self.dtype_opt = dtype
        self._model = None
        self._tok = None
        self._label_ids: dict[tuple, dict[str, list[int]]] = {}
        self._lock = threading.Lock()

    def __getstate__(self):
        drop = {"_model": None, "_tok": None, "_torch": None, "_label_ids": {}, "_lock": None}
        return {**self.__dict__, **drop}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def display(self) -> str:
        return "local"

    def weights_digest(self) -> str:
        """sha256[:12] over the small files and the size + head + tail of the large ones."""
        h = hashlib.sha256()
        files = [self.path] if self.path.is_file() else sorted(
            f for f in self.path.rglob("*") if f.is_file())
        for f in files:
            size = f.stat().st_size
            h.update(f"{f.name}\0{size}\0".encode())
            with open(f, "rb") as fh:
                if size <= 1 << 20:
                    h.update(fh.read())
                else:
                    h.update(fh.read(1 << 16))
                    fh.seek(size - (1 << 16))
                    h.update(fh.read())
        return h.hexdigest()[:12]

    def _load(self):
        if self._model is not None:
            return
        from ._torch import require, resolve_device, resolve_dtype
        torch = require("torch")
        transformers = require("transformers")
        device = resolve_device(self.device_opt)
        dtype = resolve_dtype(self.dtype_opt, device)
        kw = {"trust_remote_code": bool(getattr(self, "trust_remote_code", False))}
        where = str(self.path)
        if self.path.is_file():
            if self.path.suffix.lower() != ".gguf":
                raise SpecError(f"judge:local: {where!r} is a file but not a .gguf file")
            where = str(self.path.parent)
            kw["gguf_file"] = self.path.name
        try:
            tok = transformers.AutoTokenizer.from_pretrained(where, **kw)
            model = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kw)
        except Exception as e:  # noqa: BLE001 - any loading failure: one line
            raise SpecError(f"judge:local: cannot load {str(self.path)!r} "
                            f"({type(e).__name__}: {_first_line(str(e))[:200]})") from None
        model.to(device).eval()
        self._torch, self._tok, self._model, self._device = torch, tok, model, device

    def _encode(self, messages: list[dict]):
        tok = self._tok
        if getattr(tok, "chat_template", None):
            enc = tok.apply_chat_template(messages, add_generation_prompt=True,
                                          return_tensors="pt", return_dict=True)
            ids = enc["input_ids"]
        else:  # no chat template: plain text blocks, the answer follows
            text = "\n\n".join(m["content"] for m in messages) + "\n\n"
            ids = tok(text, return_tensors="pt")["input_ids"]
        return ids.to(self._device)

    def _ids_for(self, labels: dict[str, float]) -> dict[str, list[int]]:
        key = tuple(sorted(labels))
        if key not in self._label_ids:
            tok = self._tok
            vocab = len(tok)
            pieces = tok.batch_decode([[i] for i in range(vocab)])
            out: dict[str, list[int]] = {k: [] for k in labels}
            for i, s in enumerate(pieces):
                k = _norm_token(s)
                if k in out:
                    out[k].append(i)
            self._label_ids[key] = out
        return self._label_ids[key]

    def complete_many(self, prompts: list[list[dict]],
                      labels: dict[str, float]) -> list[Completion]:
        with self._lock:
            self._load()
            return [self._one(p, labels) for p in prompts]

    def _one(self, messages: list[dict], labels: dict[str, float]) -> Completion:
        torch, tok, model = self._torch, self._tok, self._model
        ids = self._encode(messages)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        gen_kw = {"max_new_tokens": self.max_tokens, "pad_token_id": pad,
                  "return_dict_in_generate": True, "output_logits": self.logprobs}
        if self.temperature > 0:
            gen_kw.update(do_sample=True, temperature=self.temperature)
        else:
            gen_kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **gen_kw)
        new = out.sequences[0, ids.shape[1]:].tolist()
        special = set(tok.all_special_ids)
        keep = [i for i in new if i not in special]
        text = tok.decode(keep, skip_special_tokens=True)
        if not self.logprobs:
            return Completion(text)
        label_ids = self._ids_for(labels)
        tokens = []
        prev = ""
        for step, tid in enumerate(new):
            if tid in special:
                continue
            cur = tok.decode(keep[: len(tokens) + 1], skip_special_tokens=True)
            piece = cur[len(prev):] if cur.startswith(prev) else tok.decode([tid])
            prev = cur
            lp = torch.log_softmax(out.logits[step][0].float(), dim=-1)
            # every label's probability is the sum over the token ids that read as it; the
            # generated token itself is listed only when it is not one of them
            alts = {lab: float(torch.logsumexp(lp[idl], dim=0))
                    for lab, idl in label_ids.items() if idl}
            if _norm_token(piece) not in alts:
                alts[piece] = float(lp[tid])
            tokens.append((piece, alts))
        return Completion(text, tokens)

    def close(self) -> None:
        pass


# -- the scorers ------------------------------------------------------------------------------
class _JudgeCore:
    """Shared by the pointwise and pairwise judges: spec, template, backend, counters."""

    def _setup(self, spec: str, target: str, model: str | None, opts: dict, pairwise: bool):
        self.spec_local = model is None
        tname = opts.get("template") or ("arena" if pairwise else None)
        if tname is None and opts.get("mode", "").lower() == "pairwise":
            tname = "arena"
        self.template = JudgeTemplate.load(tname or "chat")
        hs = self.template.settings
        mode = (opts.get("mode") or ("pairwise" if pairwise else hs.get("mode", "pointwise")))
        mode = mode.lower()
        if mode not in ("pointwise", "pairwise"):
            raise SpecError(f"scorer spec {spec!r}: mode must be pointwise or pairwise")
        if hs.get("mode") and hs["mode"] != mode:
            raise SpecError(f"scorer spec {spec!r}: template {self.template.name!r} is "
                            f"{hs['mode']}, not {mode}")
        self.mode = mode
        parse = (opts.get("parse") or hs.get("parse")
                 or ("verdict" if mode == "pairwise" else "rating")).lower()
        if mode == "pairwise" and parse != "verdict":
            raise SpecError(f"scorer spec {spec!r}: a pairwise judge needs parse=verdict")
        if mode == "pointwise" and parse not in ("rating", "mqm"):
            raise SpecError(f"scorer spec {spec!r}: a pointwise judge parses rating or mqm, "
                            f"not {parse!r}")
        self.parse = parse
        try:
            self.lo = float(opts.get("min", hs.get("min", 1)))
            self.hi = float(opts.get("max", hs.get("max", 10)))
        except ValueError:
            raise SpecError(f"judge template {self.template.name!r}: min/max are not "
                            f"numbers") from None
        if self.lo >= self.hi:
            raise SpecError(f"scorer spec {spec!r}: min must be below max")
        self.logprobs = bool(opts.get("logprobs", False))
        if self.logprobs and parse == "mqm":
            raise SpecError(f"scorer spec {spec!r}: logprobs are not used by the MQM parser; "
                            f"drop logprobs=true")
        self.temperature = float(opts.get("temperature", 0.0))
        self.max_tokens = int(opts.get("max_tokens", 512))
        self.top_logprobs = int(opts.get("top_logprobs", 20))
        self.concurrency = int(opts.get("concurrency", 8))
        for k, v in (("max_tokens", self.max_tokens), ("concurrency", self.concurrency),
                     ("top_logprobs", self.top_logprobs)):
            if v < 1:
                raise SpecError(f"scorer spec {spec!r}: {k} must be >= 1")
        self.variables = {"source_lang": opts.get("source_lang", ""),
                          "target_lang": opts.get("target_lang", "")}
        if model is None:
            self.backend = LocalBackend(target, max_tokens=self.max_tokens,
                                        temperature=self.temperature, logprobs=self.logprobs,
                                        device=opts.get("device"), dtype=opts.get("dtype"),
                                        trust_remote_code=bool(opts.get("trust_remote_code")))
            self.model = str(self.backend.path)
            self.name = f"judge:{self.backend.path.name}"
        else:
            timeout = float(opts.get("timeout", 60.0))
            retries = int(opts.get("max_retries", 5))
            if timeout <= 0 or retries < 0:
                raise SpecError(f"scorer spec {spec!r}: timeout must be > 0 and "
                                f"max_retries >= 0")
            self.backend = HTTPBackend(
                target, model, api_key_env=opts.get("api_key_env", "OPENAI_API_KEY"),
                timeout=timeout, max_retries=retries, backoff=float(opts.get("backoff", 1.0)),
                max_backoff=float(opts.get("max_backoff", 60.0)),
                concurrency=self.concurrency, temperature=self.temperature,
                max_tokens=self.max_tokens, logprobs=self.logprobs,
                top_logprobs=self.top_logprobs)
            self.model = model
            self.name = f"judge:{model}"
        if mode == "pairwise":
            self.name = self.name.replace("judge:", "judge-pair:", 1)
        self.n_unparsable = 0
        self.n_failed = 0
        self.n_logprob_fallback = 0
        self.n_answers = 0
        self._sig = None

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
                import importlib.metadata
                url = "local"
                model = f"{self.model}@{self.backend.weights_digest()}"
                extra = f"|transformers:{importlib.metadata.version('transformers')}"
            else:
                url, model, extra = self.backend.display(), self.model, ""
            lp = ("full" if self.spec_local else f"top{self.top_logprobs}") \
                if self.logprobs else "no"
            parse = (f"rating[{_fmt_num(self.lo)},{_fmt_num(self.hi)}]"
                     if self.parse == "rating" else self.parse)
            vars_ = ",".join(f"{k}={v}" for k, v in sorted(self.variables.items()) if v)
            sig = (f"judge|url:{url}|model:{model}|template:{self.template.name}@"
                   f"{self.template.sha}|mode:{self.mode}|logprobs:{lp}|temperature:"
                   f"{_fmt_num(self.temperature)}|max_tokens:{self.max_tokens}|parse:{parse}"
                   + (f"|vars:{vars_}" if vars_ else "")
                   + ("|orders:both" if self.mode == "pairwise" else "") + extra)
            self._sig = self.backend.redactor()(sig) if not self.spec_local else sig
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
            log.warning("%s: %d of %d requests failed (first: %s); recorded as missing",
                        self.name, n_fail, len(comps), first_error)
        if n_bad:
            log.warning("%s: %d of %d answers unparsable; recorded as missing", self.name,
                        n_bad, len(comps))
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
            parsed = parse_verdict(text)
            if parsed is None:
                return None
            value = VERDICT_P[parsed[0]]

            def span_of(t):
                r = parse_verdict(t)
                return r[1] if r else None
        if not self.logprobs:
            return value
        if not c.tokens:
            self.n_logprob_fallback += 1
            return value
        alts, _why = _locate(c.tokens, labels, span_of)
        ev = expected_value(alts, labels) if alts is not None else None
        if ev is None:
            self.n_logprob_fallback += 1
            return value
        return ev

    def _base_vars(self, inp: str, refs) -> dict:
        refs = list(refs) if refs is not None else []
        return {"input": inp, "references": refs, "reference": refs[0] if refs else None,
                "messages": None, **self.variables}

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
            v = self._base_vars(batch.inputs[i],
                                batch.references[i] if batch.references else [])
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

    def __init__(self, spec: str, target: str, model: str | None, opts: dict):
        self._setup(spec, target, model, opts, pairwise=True)

    def compare_batch(self, inputs: list[str], responses_a: list[str], responses_b: list[str],
                      references: list[list[str]]) -> np.ndarray:
        n = len(inputs)
        prompts = []
        for i in range(n):
            refs = references[i] if references else []
            for first, second in ((responses_a[i], responses_b[i]),
                                  (responses_b[i], responses_a[i])):
                v = self._base_vars(inputs[i], refs)
                v.update(response_a=first, response_b=second)
                prompts.append(self.template.render(v))
        vals = self._ask(prompts)
        out = np.empty(n, dtype=np.float64)
        for i in range(n):
            p_ab, p_ba = vals[2 * i], vals[2 * i + 1]
            out[i] = 0.5 * (p_ab + (1.0 - p_ba))  # NaN if either order is NaN
        return out

    def __repr__(self) -> str:
        return f"<PairwiseJudgeScorer {self.signature()}>"


# -- specs ------------------------------------------------------------------------------------
def _split_spec(prefix: str, arg: str) -> tuple[str, str, str | None, dict]:
    """(spec text, target, model or None for local, options)."""
    spec = f"{prefix}:{arg}"
    if not arg.strip():
        raise SpecError(f"scorer spec {spec!r}: use {prefix}:BASE_URL#MODEL or "
                        f"{prefix}:local:PATH")
    if arg.startswith("local:"):
        rest = arg[len("local:"):]
        path, _, optstr = rest.partition(",")
        if not path.strip():
            raise SpecError(f"scorer spec {spec!r}: local needs a PATH")
        return spec, path.strip(), None, parse_options(optstr, spec, _OPTIONS)
    url, hash_, rest = arg.partition("#")
    if not hash_:
        raise SpecError(f"scorer spec {_safe(spec)!r}: use {prefix}:BASE_URL#MODEL "
                        f"(e.g. {prefix}:http://127.0.0.1:8000/v1#my-model)")
    model, _, optstr = rest.partition(",")
    url, model = url.strip(), model.strip()
    if not re.match(r"^https?://[^/\s]+", url):
        raise SpecError(f"scorer spec {_safe(spec)!r}: BASE_URL must start with http:// or "
                        f"https://")
    if not model:
        raise SpecError(f"scorer spec {_safe(spec)!r}: the model name after '#' is empty")
    return spec, url, model, parse_options(optstr, _safe(spec), _OPTIONS)


def _safe(spec: str) -> str:
    """A spec with any URL credentials / query hidden (for error messages)."""
    def fix(m):
        return _display_url(m.group(0))
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


register("judge", "LLM judge over an OpenAI-compatible endpoint: judge:BASE_URL#MODEL[,opts] "
         "or judge:local:PATH; templates chat (1-10), gemba-mqm, arena (pairwise)")(
    _make("judge", False))
register("judge-pair", "pairwise LLM judge, both orders: judge-pair:BASE_URL#MODEL[,opts]")(
    _make("judge-pair", True))

__all__ = [
    "MQM_WEIGHTS",
    "JudgeError",
    "JudgeScorer",
    "JudgeTemplate",
    "PairwiseJudgeScorer",
    "expected_value",
    "parse_mqm",
    "parse_rating",
    "parse_verdict",
]
