"""The HTTP backend: POST ``{BASE_URL}/chat/completions`` of an OpenAI-compatible server, with
a bounded thread pool, retries with backoff (Retry-After honoured), and the API key read from the
environment when needed and never written anywhere (:class:`Redactor`)."""

from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import os
import random
import re
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from ...errors import SpecError
from .backend import Completion, JudgeError

# Retry jitter draws from a private generator: request threads that outlive a cancelled run must
# not move the global `random` state that user code (and hypothesis) rely on.
_JITTER = random.Random()
log = logging.getLogger("overcoat.scorers.judge")


class Redactor:
    def __init__(self, secrets: Sequence[str]):
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text


def display_url(url: str) -> str:
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
    warnings.warn(
        f"judge: the API key in ${api_key_env} is sent unencrypted over plain http:// "
        f"to {host}; use https:// (or unset the key) unless this network is trusted",
        UserWarning,
        stacklevel=2,
    )
    return True


class HTTPBackend:
    """POST {base}/chat/completions: adaptive concurrency (AIMD), central retries with backoff,
    fail fast on a dead server, constrained answers where the server supports them."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str,
        timeout: float,
        max_retries: int,
        backoff: float,
        max_backoff: float,
        concurrency: int,
        temperature: float,
        max_tokens: int,
        logprobs: bool,
        top_logprobs: int,
        connect_timeout: float = 5.0,
        start_concurrency: int = 1,
        fail_after: int = 5,
        constrain: str = "off",
    ):
        url = base_url.rstrip("/")
        url = url.removesuffix("/chat/completions")
        self.base_url = url
        self.endpoint = url + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.concurrency = concurrency
        self.start_concurrency = max(1, min(start_concurrency, concurrency))
        self.fail_after = fail_after
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.logprobs = logprobs
        self.top_logprobs = top_logprobs
        self.constrain = constrain  # off | grammar | json | auto (resolved by probe())
        self.constraint: dict | None = None  # fields added to constrained requests
        self.constraint_pattern: re.Pattern | None = None
        self.identity: dict | None = None
        self.fingerprints: set[str] = set()
        self.stats = RequestStats()
        self._client: Any = None  # an httpx.Client, opened on first use
        self._lock = threading.Lock()

    def __getstate__(self):
        return {**self.__dict__, "_client": None, "_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # the key is read from the environment when needed and never stored on the object
    def _key(self) -> str:
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""

    def _headers(self) -> dict[str, str]:
        key = self._key()
        if key:
            warn_plain_http_key(self.base_url, self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def redactor(self) -> Redactor:
        p = urlsplit(self.base_url)
        return Redactor([self._key(), p.password or "", p.query or ""])

    def display(self) -> str:
        return display_url(self.base_url)

    def _get_client(self):
        with self._lock:
            if self._client is None:
                try:
                    import httpx
                except ImportError:
                    raise SpecError("judge: needs the 'httpx' package: pip install httpx") from None
                n = max(1, self.concurrency)
                self._client = httpx.Client(
                    timeout=httpx.Timeout(
                        self.timeout, connect=self.connect_timeout, pool=None, write=self.timeout
                    ),
                    limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- what the server is ---------------------------------------------------------------
    def probe(self) -> dict:
        """Ask ``GET {base}/models`` once: the ids served and who serves them (``owned_by``);
        resolves ``constrain=auto``. A server without the listing gives ``{}``; one that cannot
        be reached stops the run (:class:`JudgeError`); 401/403 too."""
        if self.identity is not None:
            return self.identity
        import httpx

        redact = self.redactor()
        ident: dict = {}
        try:
            r = self._get_client().get(
                self.base_url + "/models",
                headers=self._headers(),
                timeout=httpx.Timeout(min(self.timeout, 30.0), connect=self.connect_timeout),
            )
        except httpx.TimeoutException:
            raise JudgeError(
                redact(
                    f"judge endpoint {self.display()} did not answer GET /models within "
                    f"{min(self.timeout, 30.0):g}s (connect timeout {self.connect_timeout:g}s)"
                )
            ) from None
        except httpx.TransportError as e:
            raise JudgeError(
                redact(
                    f"cannot reach judge endpoint {self.display()} ({type(e).__name__}); "
                    "is the server running?"
                )
            ) from None
        if r.status_code in (401, 403):
            raise JudgeError(
                redact(
                    f"judge endpoint {self.display()} answered HTTP {r.status_code} to GET "
                    f"/models (check the key in ${self.api_key_env})"
                )
            )
        if r.status_code == 200:
            try:
                data = r.json().get("data") or []
                ident = {
                    "ids": [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m],
                    "owned_by": sorted(
                        {str(m.get("owned_by")) for m in data if isinstance(m, dict)}
                    ),
                }
            except (ValueError, AttributeError, TypeError):
                ident = {}
        self.identity = ident
        self._resolve_constraint()
        return ident

    def served_model(self) -> str | None:
        """The model the server says it serves for our name (None: no listing)."""
        ids = (self.identity or {}).get("ids") or []
        if not ids:
            return None
        if self.model in ids:
            return self.model
        return ids[0] if len(ids) == 1 else "not-listed"

    def server_kind(self) -> str:
        owners = set((self.identity or {}).get("owned_by") or [])
        if owners & {"me", "llamacpp", "llama.cpp"}:
            return "llama.cpp"
        if "vllm" in owners:
            return "vllm"
        return "unknown"

    def _resolve_constraint(self) -> None:
        mode = self.constrain
        if mode == "auto":
            mode = {"llama.cpp": "grammar", "vllm": "json"}.get(self.server_kind(), "off")
        self.constrain = mode
        self.constraint = None

    def set_answer_format(self, labels: list[str]) -> None:
        """The constrained answer: ``[[LABEL]]`` (a GBNF grammar: llama.cpp, llama-cpp-python)
        or ``{"answer": LABEL}`` (``response_format`` JSON schema: OpenAI, vLLM)."""
        if self.constrain == "grammar":
            alts = " | ".join(json.dumps(x) for x in labels)
            self.constraint = {"grammar": f'root ::= "[[" ({alts}) "]]"'}
            self.constraint_pattern = re.compile(
                r"\s*\[\[(" + "|".join(re.escape(x) for x in labels) + r")\]\]\s*"
            )
        elif self.constrain == "json":
            schema = {
                "type": "object",
                "properties": {"answer": {"type": "string", "enum": list(labels)}},
                "required": ["answer"],
                "additionalProperties": False,
            }
            self.constraint = {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "verdict", "schema": schema, "strict": True},
                }
            }
            self.constraint_pattern = re.compile(
                r'\s*\{\s*"answer"\s*:\s*"('
                + "|".join(re.escape(x) for x in labels)
                + r')"\s*\}\s*'
            )
        else:
            self.constraint = None
            self.constraint_pattern = None

    def payload(self, messages: list[dict], constrained: bool = True) -> dict:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        if constrained and self.constraint:
            body.update(self.constraint)
            body["max_tokens"] = min(self.max_tokens, CONSTRAINED_MAX_TOKENS)
        return body

    # -- the run --------------------------------------------------------------------------
    def complete_many(
        self,
        prompts: list[list[dict]],
        labels: dict[str, float],
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """One completion per prompt, in order. Concurrency adapts (:class:`AIMD`); a request
        that failed is sent again only after backoff and under the lowered limit; a request
        that timed out counts as still running on the server for one more ``timeout``.
        ``fail_after`` requests in a row without any HTTP answer (connection refused or dropped,
        timeouts) stop the run with a :class:`JudgeError`; answers received before are already
        handed to ``on_answer`` (the judge caches them)."""
        n = len(prompts)
        if not n:
            return []

        if self.identity is None:
            self.probe()
        client = self._get_client()
        headers = self._headers()
        redact = self.redactor()
        ctl = AIMD(self.start_concurrency, self.concurrency)
        out: list[Completion | None] = [None] * n
        tries = [0] * n
        unconstrained = [False] * n  # re-asked without the constraint the server refused
        ready: deque[int] = deque(range(n))
        delayed: list[tuple[float, int]] = []  # (when, prompt) heap
        ghosts: list[float] = []  # until when an abandoned request may still run
        in_flight: dict[Future, tuple[int, float, int]] = {}
        consecutive = 0
        last_why = ""
        ex = ThreadPoolExecutor(
            max_workers=max(1, self.concurrency), thread_name_prefix="overcoat-judge"
        )
        t0 = time.monotonic()
        ok = False
        try:
            remaining = n
            while remaining:
                now = time.monotonic()
                while delayed and delayed[0][0] <= now:
                    ready.append(heapq.heappop(delayed)[1])
                ghosts = [g for g in ghosts if g > now]
                while ready and len(in_flight) + len(ghosts) < ctl.limit:
                    i = ready.popleft()
                    tries[i] += 1
                    self.stats.sent += 1
                    body = self.payload(prompts[i], constrained=not unconstrained[i])
                    f = ex.submit(_post, client, self.endpoint, body, headers)
                    in_flight[f] = (i, time.monotonic(), len(in_flight) + 1)
                    self.stats.max_in_flight = max(self.stats.max_in_flight, len(in_flight))
                nxt = [w for w, _ in delayed[:1]] + ghosts
                if not in_flight:
                    time.sleep(max(0.0, min(nxt) - now) if nxt else 0.0)
                    continue
                tmo = max(0.0, min(nxt) - now) if nxt else None
                done, _ = wait(list(in_flight), timeout=tmo, return_when=FIRST_COMPLETED)
                for f in done:
                    i, t_sent, level = in_flight.pop(f)
                    latency = time.monotonic() - t_sent
                    kind, value, hint = _classify(f, self, redact, unconstrained[i])
                    if kind == "ok":
                        consecutive = 0
                        comp = cast(Completion, value)
                        if (
                            not unconstrained[i]
                            and self.constraint_pattern is not None
                            and not self.constraint_pattern.fullmatch(comp.text or "")
                        ):
                            self.stats.constraint_ignored += 1
                        ctl.success(latency)
                        out[i] = comp
                        remaining -= 1
                        if on_answer is not None:
                            on_answer(i, comp)
                        continue
                    if kind == "fatal":
                        raise cast(JudgeError, value)
                    why = cast(str, value)
                    if kind == "refused_constraint":  # the server has no such feature
                        consecutive = 0
                        self.stats.constraint_refused += 1
                        if self.constraint is not None:
                            log.warning(
                                "judge endpoint %s refused constrained answers (%s): "
                                "asking for free text from now on",
                                self.display(),
                                why,
                            )
                        self.constraint = self.constraint_pattern = None
                        unconstrained[i] = True
                        tries[i] -= 1
                        ready.appendleft(i)
                        continue
                    if kind == "final":  # the server refused this prompt: no retry
                        consecutive = 0
                        out[i] = Completion(None, error=why, reason=hint or why)
                        remaining -= 1
                        continue
                    # retryable: lower the concurrency before anything is sent again
                    if kind in ("timeout", "connection"):
                        consecutive += 1
                        last_why = why
                        if kind == "timeout":
                            ghosts.append(time.monotonic() + self.timeout)
                            self.stats.timeouts += 1
                        else:
                            self.stats.connection_errors += 1
                    else:
                        consecutive = 0
                    ctl.backoff()
                    if self.fail_after and consecutive >= self.fail_after:
                        raise JudgeError(
                            redact(
                                f"judge endpoint {self.display()}: {consecutive} requests in a "
                                f"row got no answer (last: {last_why}); stopped. Answers "
                                "received so far are cached: rerun to resume"
                            )
                        )
                    if tries[i] > self.max_retries:
                        out[i] = Completion(
                            None,
                            error=redact(f"gave up after {tries[i]} tries ({why})"),
                            reason=_reason(kind, why),
                        )
                        remaining -= 1
                        continue
                    delay = min(self.max_backoff, self.backoff * (2 ** (tries[i] - 1)))
                    delay *= 0.5 + 0.5 * _JITTER.random()
                    if isinstance(hint, float):
                        delay = max(delay, min(hint, self.max_backoff))
                    log.debug(
                        "judge request %s; retry %d/%d in %.2fs",
                        why,
                        tries[i],
                        self.max_retries,
                        delay,
                    )
                    heapq.heappush(delayed, (time.monotonic() + delay, i))
            ok = True
            return [c if c is not None else Completion(None, error="not asked") for c in out]
        finally:
            self.stats.seconds += time.monotonic() - t0
            self.stats.answered += sum(1 for c in out if c is not None and c.error is None)
            self.stats.limit_reached = max(self.stats.limit_reached, ctl.max_limit)
            self.stats.limit_final = ctl.limit
            if ok or not in_flight:
                ex.shutdown(wait=True)
            else:
                # an error or Ctrl-C does not wait for the answers in flight: each ends within
                # `timeout`; the next batch gets a fresh client
                ex.shutdown(wait=False, cancel_futures=True)
                self._retire_client(list(in_flight))

    def _retire_client(self, futures) -> None:
        with self._lock:
            old, self._client = self._client, None
        if old is not None:

            def reap():
                wait(futures)
                old.close()

            threading.Thread(target=reap, daemon=True, name="overcoat-judge-reaper").start()

    def parse_response(self, data: dict) -> Completion:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        text = msg.get("content")
        if text is not None and not isinstance(text, str):
            raise TypeError("content is not a string")
        fp = data.get("system_fingerprint")
        if isinstance(fp, str) and fp:
            self.fingerprints.add(fp)
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
        return Completion(text or "", tokens, fingerprint=fp if isinstance(fp, str) else None)


#: max_tokens of a constrained answer (``[[10]]`` is at most a few tokens)
CONSTRAINED_MAX_TOKENS = 12

_CONTEXT = re.compile(
    r"context (?:length|window|size)|maximum context|too many tokens|exceeds? the context|"
    r"n_ctx|prompt is too long|input is too long",
    re.IGNORECASE,
)
_CONSTRAINT_WORDS = re.compile(r"grammar|response_format|json_schema|guided", re.IGNORECASE)


def _post(client, url: str, body: dict, headers: dict):
    return client.post(url, json=body, headers=headers)


def _reason(kind: str, why: str) -> str:
    if kind == "timeout":
        return "timeout"
    if kind == "connection":
        return "connection error"
    return why.split(":")[0]


def _classify(f: Future, be: HTTPBackend, redact, unconstrained: bool):
    """(kind, value, hint) of one finished request: ok (Completion), fatal (JudgeError),
    final (why, reason), refused_constraint, timeout / connection / retry (why, Retry-After)."""
    import httpx

    try:
        r = f.result()
    except httpx.TimeoutException as e:
        if isinstance(e, httpx.ConnectTimeout):
            return "connection", f"connect timed out after {be.connect_timeout:g}s", None
        return "timeout", f"timed out after {be.timeout:g}s", None
    except httpx.TransportError as e:
        return "connection", f"connection error ({type(e).__name__})", None
    code = r.status_code
    if code == 200:
        try:
            return "ok", be.parse_response(r.json()), None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return "retry", "malformed response", None
    if code in (408, 429) or code >= 500:
        return "retry", f"HTTP {code}", _retry_after(r.headers.get("retry-after"))
    if code in (401, 403, 404):
        return (
            "fatal",
            JudgeError(
                redact(
                    f"judge endpoint {be.display()} answered HTTP {code} for model "
                    f"{be.model!r}: {_snippet(r.text)}"
                    + (
                        f" (check the key in ${be.api_key_env})"
                        if code in (401, 403)
                        else " (check the base URL and the model name)"
                    )
                )
            ),
            None,
        )
    text = r.text or ""
    if code in (400, 413, 422) and _CONTEXT.search(text):
        return "final", redact(f"HTTP {code}: {_snippet(text)}"), "context length exceeded"
    if (
        code in (400, 422)
        and not unconstrained
        and be.constraint
        and _CONSTRAINT_WORDS.search(text)
    ):
        return "refused_constraint", redact(f"HTTP {code}: {_snippet(text)}"), None
    return "final", redact(f"HTTP {code}: {_snippet(text)}"), f"HTTP {code}"


@dataclass
class RequestStats:
    """What the backend did over the scorer's life (for the report)."""

    sent: int = 0  # chat requests sent, retries included
    answered: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    constraint_refused: int = 0
    constraint_ignored: int = 0
    max_in_flight: int = 0
    limit_reached: int = 0
    limit_final: int = 0
    seconds: float = 0.0


class AIMD:
    """Additive increase, multiplicative decrease of the number of requests in flight.

    Starts at ``start``; after ``limit`` answers in a row whose latency stayed within 1.5x the
    fastest seen (+50 ms), the limit grows by one (up to ``cap``); an answer slower than 2.5x
    the fastest (the server queues) takes one off; a timeout, 429, 5xx or connection error
    halves it."""

    def __init__(self, start: int, cap: int):
        self.limit = max(1, start)
        self.cap = max(1, cap)
        self.max_limit = self.limit
        self.best: float | None = None
        self.streak = 0

    def success(self, latency: float) -> None:
        if self.best is None or latency < self.best:
            self.best = latency
        if latency <= 1.5 * self.best + 0.05:
            self.streak += 1
            if self.streak >= self.limit and self.limit < self.cap:
                self.limit += 1
                self.streak = 0
                self.max_limit = max(self.max_limit, self.limit)
        elif latency > 2.5 * self.best + 0.05 and self.limit > 1:
            self.limit -= 1
            self.streak = 0
        else:
            self.streak = 0

    def backoff(self) -> None:
        self.limit = max(1, self.limit // 2)
        self.streak = 0


def _snippet(body: str, n: int = 200) -> str:
    s = " ".join((body or "").split())
    return (s[:n] + "...") if len(s) > n else (s or "(empty body)")
