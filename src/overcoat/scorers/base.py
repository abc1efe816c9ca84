"""One Scorer interface for metrics, reward models, judges, verifiable rewards and callables.

A scorer maps a batch of (input, response[, references]) to float scores (NaN = missing, e.g. an
unparsable judge answer; never a silent 0). Every scorer declares:

* ``name`` - short name for tables (``chrF``);
* ``signature()`` - the exact settings that produced the numbers, sacreBLEU-style
  (``chrf|nc:6|nw:0|space:no|version:2.6.0``); it keys the cache and is written into results;
* ``needs_references`` and ``higher_is_better``.

Pairwise scorers (a judge comparing A and B) subclass :class:`PairwiseScorer` and return
P(A better than B) for batches of pairs; they live in the same registry.

Scorers are created from spec strings through :func:`~overcoat.scorers.registry.get_scorer`
(``bleu``, ``chrf``, ``scores:PATH``, ``python:module:function`` ...); new families register a
prefix with :func:`~overcoat.scorers.registry.register`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ScoringBatch:
    """Parallel lists: one entry per response to score."""

    inputs: list[str]
    responses: list[str]
    references: list[list[str]]
    messages: list[list[dict] | None] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    response_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.responses)

    def subset(self, idx: Sequence[int]) -> ScoringBatch:
        def pick(xs):
            return [xs[i] for i in idx] if xs else []

        return ScoringBatch(
            pick(self.inputs),
            pick(self.responses),
            pick(self.references),
            pick(self.messages),
            pick(self.item_ids),
            pick(self.response_ids),
        )


@dataclass
class DataRows:
    """Every row a pointwise scorer is about to score (one per response), for scorers that need
    to see the whole data set first (:meth:`Scorer.bind`): ids, the input text of each row's item,
    the response text, and the data set's ``info`` (``default_ids`` when ids are positions)."""

    item_ids: list[str]
    response_ids: list[str]
    inputs: list[str]
    responses: list[str]
    info: dict = field(default_factory=dict)
    name: str = "data"


class Scorer(abc.ABC):
    """Pointwise scorer: a batch of responses -> one float per response."""

    name: str = "scorer"
    needs_references: bool = False
    higher_is_better: bool = True
    #: True when scores may be computed in worker processes (pure-CPU, picklable scorers)
    parallel_safe: bool = True
    #: False for scorers whose score is not a function of the content alone (never cached)
    cacheable: bool = True
    #: True to cache NaN (missing) results too; by default a missing score is asked for again
    cache_missing: bool = False

    @abc.abstractmethod
    def signature(self) -> str:
        """Exact settings + versions that produced the numbers (keys the cache)."""

    @abc.abstractmethod
    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        """Scores for every response of ``batch`` (float64 array, NaN for missing)."""

    def bind(self, rows: DataRows) -> list[str]:
        """Called once with every row before scoring; returns notes for the user (e.g. how many
        responses a scores file covers). Scorers of content alone need nothing here."""
        return []

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"<{type(self).__name__} {self.signature()}>"


class PairwiseScorer(abc.ABC):
    """Pairwise scorer: for (input, response A, response B) returns P(A better than B)."""

    name: str = "pairwise"
    needs_references: bool = False
    parallel_safe: bool = False
    cacheable: bool = True
    cache_missing: bool = False

    @abc.abstractmethod
    def signature(self) -> str: ...

    @abc.abstractmethod
    def compare_batch(
        self,
        inputs: list[str],
        responses_a: list[str],
        responses_b: list[str],
        references: list[list[str]],
    ) -> np.ndarray:
        """P(A better) per pair, in [0, 1]; NaN when the judge gave no usable verdict."""

    def single_order(self) -> PairwiseScorer:
        """This judge asked in one presentation order only: ``compare_batch`` then gives P(the
        response shown first is better) with A shown first. The position-bias probe asks it in
        both orders itself. Default: the scorer itself (its ``compare_batch`` is taken as one
        presentation); judges that average both orders return a one-order copy."""
        return self
