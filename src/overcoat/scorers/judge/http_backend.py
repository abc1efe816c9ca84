"""The HTTP backend: POST ``{BASE_URL}/chat/completions`` of an OpenAI-compatible server, with
a bounded thread pool, retries with backoff (Retry-After honoured), and the API key read from the
environment when needed and never written anywhere (:class:`Redactor`)."""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from email.utils import parsedate_to_datetime
from typing import Any
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
    warnings.warn(
        f"judge: the API key in ${api_key_env} is sent unencrypted over plain http:// "
        f"to {host}; use https:// (or unset the key) unless this network is trusted",
        UserWarning,
        stacklevel=2,
    )
    return True


class HTTPBackend:
    """POST {base}/chat/completions with retries, backoff and a bounded thread pool."""

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
    ):
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
                    timeout=httpx.Timeout(self.timeout),
                    limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def payload(self, messages: list[dict]) -> dict:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = self.top_logprobs
        return body

    def complete_many(
        self, prompts: list[list[dict]], labels: dict[str, float]
    ) -> list[Completion]:
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
            errors = [e for f in futures if f.done() and (e := f.exception()) is not None]
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
                    raise JudgeError(
                        redact(
                            f"judge endpoint {self.display()} answered HTTP {code} for model "
                            f"{self.model!r}: {_snippet(r.text)}"
                            + (
                                f" (check the key in ${self.api_key_env})"
                                if code in (401, 403)
                                else " (check the base URL and the model name)"
                            )
                        )
                    )
                else:
                    return Completion(None, error=redact(f"HTTP {code}: {_snippet(r.text)}"))
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff, self.backoff * (2**attempt))
            delay *= 0.5 + 0.5 * _JITTER.random()
            if wait_hint is not None:
                delay = max(delay, min(wait_hint, self.max_backoff))
            log.debug(
                "judge request %s; retry %d/%d in %.2fs", why, attempt + 1, self.max_retries, delay
            )
            if stop.wait(delay):
                raise _Cancelled()
        return Completion(None, error=redact(f"gave up after {self.max_retries + 1} tries ({why})"))

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
