"""Best-of-n over-optimisation on a data set whose items have pools of candidates.

The proxy is the scorer being optimised against; the gold is the human score where the data has
one (``gold_scores=None``), or another scorer's scores (the metric-vs-reward-model experiment in
either direction: a metric as proxy for a reward model, or the reverse). See
:mod:`overcoat.metaeval.best_of_n` for the estimator (exact over all n-subsets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.model import Dataset
from ..metaeval.best_of_n import best_of_n_curve

__all__ = ["overoptimization_probe"]


def overoptimization_probe(
    dataset: Dataset,
    proxy_scores: np.ndarray,
    *,
    gold_scores: np.ndarray | None = None,
    n_max: int | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Gold and proxy curves of best-of-n for n = 1..n_max (oriented scores: higher = better)."""
    if gold_scores is None and dataset.judgments is None:
        raise ValueError(
            f"data set {dataset.name!r} has no human scores to serve as gold (a generated pool "
            "has none): give a gold scorer"
        )
    P = dataset.to_matrix(np.asarray(proxy_scores, dtype=float))
    G = (
        dataset.human_matrix()
        if gold_scores is None
        else dataset.to_matrix(np.asarray(gold_scores, dtype=float))
    )
    if P.shape[1] < 2:
        raise ValueError(f"{dataset.name!r} has one candidate per item: best-of-n needs pools")
    r = best_of_n_curve(P, G, n_max=n_max, n_resamples=n_resamples, seed=seed)

    def ci(a: np.ndarray) -> list[list[float | None]]:
        return [[None if not np.isfinite(v) else float(v) for v in row] for row in a]

    return {
        "n": r.n.tolist(),
        "kl": r.kl.tolist(),
        "gold": r.gold.tolist(),
        "gold_ci": ci(r.gold_ci),
        "proxy": r.proxy.tolist(),
        "proxy_ci": ci(r.proxy_ci),
        "peak_n": r.peak_n,
        "peak_gold": r.peak_gold,
        "gold_gain_at_peak": r.peak_gold - float(r.gold[0]),
        "n_below_start": r.n_below_start,
        "n_items": r.n_items,
        "n_dropped": r.n_dropped,
        "gold_source": "human" if gold_scores is None else "scorer",
    }
