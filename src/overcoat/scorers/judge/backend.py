"""What the judge core and its backends share: one answer (:class:`Completion`), the
interface every backend offers (:class:`Backend`), and :class:`JudgeError`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ...errors import OvercoatError


class JudgeError(OvercoatError):
    """The judge endpoint refused the whole run (bad key, unknown model or URL)."""


@dataclass
class Completion:
    """One answer: its text, and per generated token (text, {alternative: logprob}) if asked."""

    text: str | None
    tokens: list[tuple[str, dict[str, float]]] | None = None
    error: str | None = None  # set when no answer could be had (the request failed)
    reason: str | None = None  # the failure's kind, for counts (timeout, HTTP 500, ...)
    fingerprint: str | None = None  # the server's system_fingerprint, when it sends one


class Backend(Protocol):
    """Answers chat prompts: the HTTP backend (an OpenAI-compatible server) or a local model."""

    def complete_many(
        self,
        prompts: list[list[dict]],
        labels: dict[str, float],
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """One completion per prompt, in order; ``labels`` are the answer tokens whose
        logprobs matter (ratings, verdict letters); ``on_answer(k, completion)`` is called as
        each answer arrives (the judge caches it at once)."""
        ...

    def display(self) -> str:
        """Where the answers come from, as written into signatures (no secrets)."""
        ...

    def close(self) -> None: ...
