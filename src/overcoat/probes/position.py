"""Position bias of pairwise judges (``judge-pair:`` and other pairwise scorers): every judged
pair is asked in both presentation orders, one order per question, and the two verdicts are
compared (:func:`overcoat.metaeval.position_bias.position_bias`). A pointwise scorer scores each
response alone, so the order of presentation cannot matter to it: the probe is not applicable
(reported as such, never as a number).

The pairs are the data set's judged pairs (``item_id, response_a, response_b`` of its pairwise
judgments, one per distinct triple); the human preference of a pair is the sign of the two
responses' human scores (pairwise judgments: their win rates). The caller binds the judge:
``compare_fn(pairs)`` returns P(the response shown first is better) for ordered pairs, asking the
judge in that one order (:meth:`~overcoat.scorers.base.PairwiseScorer.single_order`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..data.model import Dataset
from ..metaeval.position_bias import PositionBiasResult, position_bias

__all__ = ["NOT_APPLICABLE", "judged_pairs", "position_probe"]

NOT_APPLICABLE = (
    "not applicable: a pointwise scorer scores each response alone, so the order in which two "
    "responses are shown cannot change its verdict"
)

Pair = tuple[str, str, str]


def judged_pairs(dataset: Dataset) -> list[Pair]:
    """The distinct (item_id, response_a, response_b) of the data set's judgments, in order."""
    if dataset.judgments is None:
        raise ValueError(f"{dataset.name!r} has no human judgments")
    t = dataset.judgments.to_pairwise().table
    seen = dict.fromkeys(
        zip(
            t.column("item_id").to_pylist(),
            t.column("response_a").to_pylist(),
            t.column("response_b").to_pylist(),
        )
    )
    if not seen:
        raise ValueError(f"{dataset.name!r} has no judged pair to probe")
    return list(seen)


def position_probe(
    dataset: Dataset,
    compare_fn: Callable[[list[Pair]], np.ndarray],
    *,
    pairs: list[Pair] | None = None,
    ties: str = "strict",
    n_resamples: int = 1000,
    seed: int = 0,
) -> PositionBiasResult:
    """Ask ``compare_fn`` every pair as (A, B) and as (B, A); pairs grouped by item for CIs."""
    pairs = judged_pairs(dataset) if pairs is None else pairs
    p_ab = np.asarray(compare_fn(pairs), dtype=float)
    p_ba = np.asarray(compare_fn([(i, b, a) for i, a, b in pairs]), dtype=float)
    human = np.full(len(pairs), np.nan)
    if dataset.judgments is not None:
        t = dataset.judgments.to_pointwise().mean_scores()
        score_of = dict(
            zip(
                zip(t.column("item_id").to_pylist(), t.column("response_id").to_pylist()),
                t.column("score").to_pylist(),
            )
        )
        for n, (it, a, b) in enumerate(pairs):
            sa, sb = score_of.get((it, a)), score_of.get((it, b))
            if sa is not None and sb is not None:
                human[n] = sa - sb
    items = [it for it, _, _ in pairs]
    return position_bias(
        p_ab, p_ba, human, groups=items, ties=ties, n_resamples=n_resamples, seed=seed
    )
