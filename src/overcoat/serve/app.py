"""The reward server: any pointwise scorer behind HTTP (Starlette on uvicorn).

Endpoints:

* ``POST /get_reward`` - OpenRLHF's remote reward model protocol, every client version
  (:mod:`overcoat.serve.protocol`);
* ``POST /score`` - overcoat's own schema (:func:`~overcoat.serve.protocol.parse_score`);
* ``GET /health`` - scorer name and signature, overcoat version, request/batch counts.

Every request's rows go through one :class:`~overcoat.serve.batcher.MicroBatcher` into
:func:`overcoat.scorers.engine.score_dataset` (deduplication, the score cache, the engine's
batching), so concurrent requests share scorer batches. Bad requests (malformed JSON, wrong
types, empty lists, oversized bodies, missing references) get a 4xx and a JSON body
``{"error": "..."}`` with one clear line; the server stays up. With a token (``--token-env``),
the scoring endpoints want ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..errors import OvercoatError
from ..scorers.base import Scorer, ScoringBatch
from ..scorers.cache import ScoreCache, open_cache
from ..scorers.engine import score_dataset
from ..scorers.registry import get_pointwise_scorer
from .batcher import MicroBatcher
from .protocol import (
    Parsed,
    RequestError,
    openrlhf_response,
    parse_json,
    parse_openrlhf,
    parse_score,
    score_response,
)

log = logging.getLogger("overcoat.serve")


@dataclass
class ServeSettings:
    """How the server scores and what it accepts (the CLI flags of ``overcoat serve``)."""

    #: ``"default"``, a path, a ScoreCache, or None (as ``score_dataset``'s ``cache``)
    cache: str | ScoreCache | None = "default"
    #: bearer token the scoring endpoints want (None: no authentication)
    token: str | None = None
    #: largest request body in bytes, and most rows in one request
    max_body: int = 8 * 1024 * 1024
    max_rows: int = 4096
    #: micro-batching: most rows in one scorer batch, longest wait for batch mates (seconds)
    max_batch: int = 256
    max_wait: float = 0.002
    #: the engine's batch size inside a scorer batch
    batch_size: int = 64
    #: reward sent for a missing score on /get_reward (None: JSON null)
    missing_reward: float | None = None
    #: strings removed from the end of each OpenRLHF response (e.g. an EOS token)
    strip: Sequence[str] = field(default_factory=tuple)

    def check(self) -> None:
        for name in ("max_body", "max_rows", "max_batch", "batch_size"):
            if getattr(self, name) < 1:
                raise OvercoatError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_wait < 0:
            raise OvercoatError(f"max_wait must be >= 0, got {self.max_wait}")
        if self.missing_reward is not None and not math.isfinite(self.missing_reward):
            raise OvercoatError(
                f"missing_reward must be a finite number, got {self.missing_reward}"
            )
        if self.token is not None and not self.token:
            raise OvercoatError("the bearer token is empty")


class RewardService:
    """The server's state: the scorer, its cache, the batcher; no HTTP (tests use it directly)."""

    def __init__(self, scorer: str | Scorer, settings: ServeSettings | None = None):
        self.settings = settings or ServeSettings()
        self.settings.check()
        self.scorer = get_pointwise_scorer(
            scorer, "the reward server needs a pointwise scorer (one score per response)"
        )
        self.signature = self.scorer.signature()
        self._store, self._owned = open_cache(self.settings.cache)
        self.batcher = MicroBatcher(
            self._score, max_rows=self.settings.max_batch, max_wait=self.settings.max_wait
        )
        self.errors = 0

    def _score(self, batch: ScoringBatch) -> np.ndarray:
        res = score_dataset(
            batch,
            self.scorer,
            cache=self._store,
            batch_size=self.settings.batch_size,
        )
        return res.scores

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        if self._owned and self._store is not None:
            self._store.close()

    def check_rows(self, parsed: Parsed, refs_field: str) -> None:
        n = len(parsed.batch)
        if n > self.settings.max_rows:
            raise RequestError(
                413, f"{n} rows in one request; the limit is {self.settings.max_rows} (--max-rows)"
            )
        if getattr(self.scorer, "needs_references", False):
            for i, r in enumerate(parsed.batch.references):
                if not r:
                    raise RequestError(
                        422,
                        f"{refs_field}[{i}] is missing: scorer {self.scorer.name!r} needs a "
                        "reference for every row",
                    )

    async def score(self, parsed: Parsed) -> np.ndarray:
        try:
            return await self.batcher.submit(parsed.batch)
        except OvercoatError as e:
            raise RequestError(422, f"scorer {self.scorer.name!r}: {e}") from None

    def info(self) -> dict:
        st = self.batcher.stats
        return {
            "status": "ok",
            "overcoat": __version__,
            "scorer": self.scorer.name,
            "signature": self.signature,
            "higher_is_better": bool(getattr(self.scorer, "higher_is_better", True)),
            "needs_references": bool(getattr(self.scorer, "needs_references", False)),
            "cache": None if self._store is None else str(self._store.path),
            "requests": st.requests,
            "rows": st.rows,
            "batches": st.batches,
            "largest_batch": st.largest_batch,
            "errors": self.errors,
        }


def create_app(service: RewardService):
    """The Starlette application serving ``service`` (starts and stops it with the app)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    settings = service.settings

    def reply(payload: dict, status: int = 200) -> Response:
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return Response(body, status_code=status, media_type="application/json")

    def error(status: int, message: str, headers: dict | None = None) -> Response:
        service.errors += 1
        r = JSONResponse({"error": message}, status_code=status)
        if headers:
            r.headers.update(headers)
        return r

    def authorized(request: Request) -> bool:
        if settings.token is None:
            return True
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), settings.token.encode()
        )

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise RequestError(400, f"bad Content-Length header {declared!r}")
            if int(declared) > limit:
                raise RequestError(
                    413, f"request body of {declared} bytes exceeds the limit of {limit} bytes"
                )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def endpoint(parse, respond, refs_field: str):
        async def handle(request: Request) -> Response:
            if not authorized(request):
                return error(
                    401,
                    "missing or wrong bearer token (send 'Authorization: Bearer TOKEN')",
                    {"WWW-Authenticate": "Bearer"},
                )
            try:
                parsed = parse(parse_json(await read_body(request)))
                service.check_rows(parsed, refs_field)
                scores = await service.score(parsed)
            except RequestError as e:
                return error(e.status, e.message)
            except ClientDisconnect:  # the client left mid-body: nobody to answer
                return Response(status_code=400)
            except Exception as e:  # the scorer failed: 500, and the server stays up
                log.exception("scorer %s failed", service.scorer.name)
                return error(500, f"scorer {service.scorer.name!r} failed: {type(e).__name__}: {e}")
            return reply(respond(scores, parsed))

        return handle

    get_reward = endpoint(
        lambda body: parse_openrlhf(body, strip=settings.strip),
        lambda scores, parsed: openrlhf_response(scores, parsed, settings.missing_reward),
        "labels",
    )
    score = endpoint(
        parse_score,
        lambda scores, parsed: score_response(
            scores, {"scorer": service.scorer.name, "signature": service.signature}
        ),
        "references",
    )

    async def health(request: Request) -> Response:
        return reply(service.info())

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("error serving %s %s", request.method, request.url.path)
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    return Starlette(
        routes=[
            Route("/get_reward", get_reward, methods=["POST"]),
            Route("/score", score, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )


__all__ = ["ServeSettings", "RewardService", "create_app"]
