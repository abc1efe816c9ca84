"""A scriptable OpenAI-compatible chat-completions server on 127.0.0.1 for the judge tests.

Use as a context manager::

    with FakeChatServer(handler) as srv:
        url = srv.url            # http://127.0.0.1:PORT/v1
        ...
        srv.requests             # every request: headers, JSON body, times
        srv.max_in_flight        # the most requests handled at the same time

``handler(req)`` gets a :class:`Request` and returns a :class:`Reply` (status, JSON or raw
body, headers, a delay before answering). ``srv.script`` is a list of replies served first, in
order, before the handler is asked. Helpers build replies: :func:`answer` (a chat completion,
optionally with logprobs), :func:`error` (429 / 5xx / 4xx with a body and headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict | None
    raw: bytes
    t_start: float
    t_end: float = 0.0
    status: int = 0

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages", [])

    @property
    def prompt(self) -> str:
        """All message contents joined."""
        return "\n".join(m.get("content", "") for m in self.messages)

    @property
    def user(self) -> str:
        return next((m["content"] for m in self.messages if m.get("role") == "user"), "")


@dataclass
class Reply:
    status: int = 200
    body: dict | str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def answer(
    content: str, tokens: list | None = None, model: str = "fake", fingerprint: str | None = None
) -> Reply:
    """A 200 chat completion. ``tokens``: a list of ``(token, logprob, [(alt, logprob), ...])``
    giving ``choices[0].logprobs.content`` (OpenAI shape: token, logprob, bytes, top_logprobs)."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": "stop",
        "logprobs": None,
    }
    if tokens is not None:
        choice["logprobs"] = {
            "content": [
                {
                    "token": t,
                    "logprob": lp,
                    "bytes": list(t.encode()),
                    "top_logprobs": [
                        {"token": a, "logprob": alp, "bytes": list(a.encode())} for a, alp in alts
                    ],
                }
                for t, lp, alts in tokens
            ]
        }
    return Reply(
        200,
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            **({"system_fingerprint": fingerprint} if fingerprint else {}),
        },
    )


def error(
    status: int, message: str = "error", headers: dict | None = None, delay: float = 0.0
) -> Reply:
    return Reply(
        status,
        {"error": {"message": message, "type": "fake", "code": status}},
        dict(headers or {}),
        delay,
    )


class FakeChatServer:
    """``models``: the ``GET /v1/models`` listing as (id, owned_by) pairs (None: no such route,
    HTTP 501 as a server without it); ``port``: a fixed port (to restart on the same URL);
    :meth:`kill` makes it die as a crashed server does (listener closed, open connections
    dropped without an answer)."""

    def __init__(
        self,
        handler: Callable[[Request], Reply] | None = None,
        *,
        models: list[tuple[str, str]] | None = None,
        port: int = 0,
    ):
        self.handler = handler or (lambda req: answer("Rating: [[5]]"))
        self.models = models
        self.fixed_port = port
        self.dead = threading.Event()
        self.n_dropped = 0
        self._port = port
        self.script: list[Reply] = []
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeChatServer:
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if srv.dead.is_set():
                    self.close_connection = True
                    return
                if srv.models is None or self.path.rstrip("/") != "/v1/models":
                    self.send_error(501 if srv.models is None else 404)
                    return
                data = [
                    {"id": m, "object": "model", "owned_by": o, "permissions": []}
                    for m, o in srv.models
                ]
                self._send(Reply(200, {"object": "list", "data": data}))

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                if srv.dead.is_set():  # a crashed server: the connection drops, no answer
                    with srv._lock:
                        srv.n_dropped += 1
                    self.close_connection = True
                    return
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                req = Request(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    raw,
                    time.monotonic(),
                )
                with srv._lock:
                    srv.requests.append(req)
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                    reply = srv.script.pop(0) if srv.script else None
                try:
                    if reply is None:
                        if self.path.rstrip("/") != "/v1/chat/completions":
                            reply = error(404, f"no route {self.path}")
                        else:
                            reply = srv.handler(req)
                    if reply.delay and srv._stopping.wait(reply.delay):
                        return
                    if srv.dead.is_set():
                        self.close_connection = True
                        return
                    self._send(reply)
                    req.status = reply.status
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): fine
                finally:
                    req.t_end = time.monotonic()
                    with srv._lock:
                        srv.in_flight -= 1

            def _send(self, reply: Reply):
                b = reply.body
                if isinstance(b, (dict, list)):
                    data, ctype = json.dumps(b).encode(), "application/json"
                elif isinstance(b, str):
                    data, ctype = b.encode(), "text/plain"
                else:
                    data, ctype = (b or b""), "application/octet-stream"
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # clients that hang up: quiet
                pass

        Server.allow_reuse_address = True
        self._httpd = Server(("127.0.0.1", self.fixed_port), H)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def kill(self) -> None:
        """Die mid-run: no new connections, requests in progress get no answer."""
        self.dead.set()
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers --------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is not None:
            self._port = self._httpd.server_address[1]
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/") == "/v1/chat/completions"]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0
