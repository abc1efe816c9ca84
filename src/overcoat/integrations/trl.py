"""Any overcoat scorer as a TRL reward function (``GRPOTrainer(reward_funcs=...)``).

TRL calls a custom reward function once per batch with keyword arguments only
(``trl/trainer/grpo_trainer.py``, ``GRPOTrainer._calculate_rewards``, huggingface/trl at
f2cd57710ae345ea6428ae95363267fcf38a3dc8)::

    reward_func(prompts=..., completions=..., completion_ids=..., trainer_state=...,
                log_extra=..., log_metric=..., [environments=...], **every_other_dataset_column)

``prompts`` and ``completions`` are strings (standard format) or lists of chat messages
(conversational format: ``[{"role": "assistant", "content": "..."}]``); each extra dataset
column is a list with one value per completion. It returns one float per completion, ``None``
where there is no reward (TRL turns it into NaN and leaves that completion out). TRL logs a
reward function under its ``__name__``.

:func:`reward_function` scores the batch through :func:`overcoat.scorers.engine.score_dataset`
(deduplication, the score cache, batching), reads references from a dataset column
(``references``, ``reference`` or ``solution`` by default), and reports the share of missing
scores through TRL's ``log_metric`` when TRL passes it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..data.model import messages_to_text
from ..errors import DataError, OvercoatError
from ..scorers.base import Scorer, ScoringBatch
from ..scorers.cache import ScoreCache
from ..scorers.engine import score_dataset
from ..scorers.registry import get_pointwise_scorer, get_scorer

#: columns tried, in order, for references when ``references=`` is not given
DEFAULT_REFERENCE_COLUMNS = ("references", "reference", "solution")

#: keyword arguments TRL passes that are not dataset columns
TRL_KEYWORDS = frozenset(
    {"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric"}
    | {"environments"}
)


def _content(m: Any, where: str) -> str:
    """The text of one chat message (string content, or a list of ``{"type": "text"}`` parts)."""
    if not isinstance(m, dict):
        raise DataError(f"{where}: expected a chat message (an object), got {type(m).__name__}")
    c = m.get("content")
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(
            str(p.get("text", "")) for p in c if isinstance(p, dict) and p.get("type") == "text"
        )
    raise DataError(f"{where}: message content must be text, got {type(c).__name__}")


def _prompt(p: Any, i: int) -> tuple[str, list[dict] | None]:
    """(input text, chat messages or None) of one TRL prompt."""
    if isinstance(p, str):
        return p, None
    if isinstance(p, list):
        msgs = [
            {"role": str(m.get("role", "user")), "content": _content(m, f"prompts[{i}][{k}]")}
            for k, m in enumerate(p)
        ]
        text = msgs[0]["content"] if len(msgs) == 1 else messages_to_text(msgs)
        return text, msgs
    raise DataError(
        f"prompts[{i}]: expected text or chat messages, got {type(p).__name__}", field="prompts"
    )


def _completion(c: Any, i: int) -> str:
    """The text of one TRL completion (the assistant messages' text, joined)."""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        parts = [
            _content(m, f"completions[{i}][{k}]")
            for k, m in enumerate(c)
            if not isinstance(m, dict) or m.get("role", "assistant") == "assistant"
        ]
        return "\n".join(parts)
    raise DataError(
        f"completions[{i}]: expected text or chat messages, got {type(c).__name__}",
        field="completions",
    )


def _references(v: Any, column: str, i: int) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v] if v else []
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return [str(v)]
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return [x for x in v if x]
    raise DataError(
        f"{column}[{i}]: a reference must be text or a list of texts, got {type(v).__name__}",
        field=column,
    )


class OvercoatReward:
    """A TRL reward function backed by an overcoat scorer (see :func:`reward_function`)."""

    def __init__(
        self,
        spec: str | Scorer,
        *,
        references: str | Sequence[str] | None = None,
        cache: str | ScoreCache | None = "default",
        batch_size: int = 64,
        name: str | None = None,
    ):
        scorer = get_pointwise_scorer(
            spec, "a TRL reward needs a pointwise scorer (one score per completion)"
        )
        if batch_size < 1:
            raise OvercoatError(f"batch_size must be >= 1, got {batch_size}")
        self.spec = spec
        self.scorer = scorer
        self.signature = scorer.signature()
        self.reference_columns = (
            (references,) if isinstance(references, str) else tuple(references or ())
        ) or DEFAULT_REFERENCE_COLUMNS
        self.explicit_references = references is not None
        self.cache = cache
        self.batch_size = batch_size
        self.__name__ = name or _identifier(scorer.name)

    def __repr__(self) -> str:
        return f"<overcoat reward {self.__name__}: {self.signature}>"

    def _reference_column(self, columns: dict[str, Any]) -> str | None:
        for c in self.reference_columns:
            if c in columns:
                return c
        if self.explicit_references:
            raise OvercoatError(
                f"reference column {self.reference_columns[0]!r} is not among the dataset "
                f"columns TRL passed ({', '.join(sorted(columns)) or 'none'})"
            )
        return None

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float | None]:
        n = len(completions)
        if len(prompts) != n:
            raise OvercoatError(f"{len(prompts)} prompts for {n} completions")
        columns = {k: v for k, v in kwargs.items() if k not in TRL_KEYWORDS}
        ref_col = self._reference_column(columns)
        if ref_col is not None:
            values = columns[ref_col]
            if len(values) != n:
                raise OvercoatError(f"column {ref_col!r} has {len(values)} values for {n} rows")
            refs = [_references(v, ref_col, i) for i, v in enumerate(values)]
        else:
            refs = [[] for _ in range(n)]
        if getattr(self.scorer, "needs_references", False):
            lacking = [i for i, r in enumerate(refs) if not r]
            if lacking:
                where = (
                    f"column {ref_col!r}"
                    if ref_col
                    else ("no reference column (tried " + ", ".join(self.reference_columns) + ")")
                )
                raise OvercoatError(
                    f"scorer {self.scorer.name!r} needs references: {where}, "
                    f"{len(lacking)} of {n} rows without one (first: row {lacking[0]})"
                )
        inputs, messages = zip(*(_prompt(p, i) for i, p in enumerate(prompts))) if n else ((), ())
        texts = [_completion(c, i) for i, c in enumerate(completions)]
        batch = ScoringBatch(
            list(inputs),
            texts,
            refs,
            list(messages) if any(m is not None for m in messages) else [],
        )
        res = score_dataset(batch, self.scorer, cache=self.cache, batch_size=self.batch_size)
        out = [None if math.isnan(x) else float(x) for x in res.scores.tolist()]
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        if callable(log_metric) and n:
            log_metric(f"{self.__name__}/missing_fraction", res.n_missing / n)
        return out

    def __getstate__(self) -> dict:  # picklable when built from a spec string
        state = dict(self.__dict__)
        if isinstance(self.spec, str):
            state["scorer"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.scorer is None:
            scorer = get_scorer(self.spec)
            assert isinstance(scorer, Scorer)
            self.scorer = scorer


def _identifier(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_") or "overcoat"


def reward_function(
    spec: str | Scorer,
    *,
    references: str | Sequence[str] | None = None,
    cache: str | ScoreCache | None = "default",
    batch_size: int = 64,
    name: str | None = None,
) -> OvercoatReward:
    """A TRL reward function that scores completions with the scorer ``spec``.

    ``references``: the dataset column (or columns, first present wins) holding each row's
    reference(s): text, a list of texts, or a number (made text); default ``references``,
    ``reference``, then ``solution``. ``cache`` and ``batch_size`` as in
    :func:`~overcoat.scorers.engine.score_dataset`. ``name`` is what TRL logs the reward under
    (default: the scorer's name, e.g. ``chrF``).

    The function returns one float per completion and ``None`` where the scorer gave no score.
    Conversational prompts become the scorer's chat messages (and their text its input);
    conversational completions are scored on the text of their assistant messages.
    """
    return OvercoatReward(
        spec, references=references, cache=cache, batch_size=batch_size, name=name
    )


__all__ = ["reward_function", "OvercoatReward", "DEFAULT_REFERENCE_COLUMNS", "TRL_KEYWORDS"]
