"""Noisy-label candidates: preference pairs whose human label an ensemble of scorers confidently
contradicts.

For every within-item pair with a human preference (gold ties left out), each scorer's score
difference becomes a probability that the first response is better through a temperature
(Bradley-Terry) calibrator that is cross-fitted over items: the probability of a pair comes from a
calibrator fitted on the other folds of items, so a pair never vouches for itself. The ensemble
probability is the mean over scorers. A pair's *suspicion* is the ensemble probability of the side
the human did **not** prefer; pairs are ranked by it, and ``unanimous`` marks pairs where every
scorer (uncalibrated sign) disagrees with the human.

These are candidates for re-annotation, not verdicts: scorers share biases (e.g. length), and a
high suspicion can be the scorers' error. Re-annotate the top of the list and measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .calibration import cross_fitted_probabilities

__all__ = ["SuspectPairs", "suspect_labels"]


@dataclass(frozen=True)
class SuspectPairs:
    """Pairs sorted by ``suspicion`` (descending): item row, the two response columns with the
    human-preferred one first, the ensemble probability that the other one is better, and whether
    every scorer prefers the other one. Per scorer (rows, in the order given): its cross-fitted
    probability that the other response is better, and its vote (+1 prefers the other response,
    -1 the human-preferred one, 0 a tie)."""

    item: np.ndarray
    preferred: np.ndarray
    other: np.ndarray
    suspicion: np.ndarray
    unanimous: np.ndarray
    n_scorers: int
    scorer_probability: np.ndarray  # (scorers, pairs)
    scorer_vote: np.ndarray  # (scorers, pairs)

    def __len__(self) -> int:
        return int(self.item.size)


def suspect_labels(
    human: ArrayLike, metrics: list[ArrayLike], *, n_folds: int = 5, seed: int = 0
) -> SuspectPairs:
    """Rank the human-labelled pairs by how confidently the scorers (``metrics``: one (items x
    responses) matrix each, higher = better) contradict them."""
    H = np.asarray(human, dtype=float)
    Ms = [np.asarray(m, dtype=float) for m in metrics]
    if not Ms:
        raise ValueError("suspect_labels needs at least one scorer")
    if H.ndim != 2 or any(m.shape != H.shape for m in Ms):
        raise ValueError("human and every metric must be (items x responses) matrices of one shape")
    jj, kk = np.triu_indices(H.shape[1], 1)
    dh = H[:, jj] - H[:, kk]
    dms = [m[:, jj] - m[:, kk] for m in Ms]
    ok = np.isfinite(dh) & (dh != 0)
    for d in dms:
        ok &= np.isfinite(d)
    item, p = np.nonzero(ok)
    if item.size == 0:
        raise ValueError("no pair with a human preference and every scorer's scores")
    first_better = (dh[item, p] > 0).astype(float)
    probs = []
    votes = []
    agree_other = np.ones(item.size, dtype=bool)
    for d in dms:
        x = d[item, p]
        probs.append(
            cross_fitted_probabilities(
                "temperature",
                x,
                first_better,
                groups=item,
                n_folds=min(n_folds, np.unique(item).size),
                seed=seed,
            )
        )
        vote = -np.sign(x) * np.sign(2 * first_better - 1)
        votes.append(vote)
        agree_other &= vote == 1
    p_first = np.mean(probs, axis=0)
    suspicion = np.where(first_better == 1, 1.0 - p_first, p_first)
    p_other = np.where(first_better == 1, 1.0 - np.array(probs), np.array(probs))
    order = np.lexsort((p, item, -suspicion))
    j, k = jj[p], kk[p]
    preferred = np.where(first_better == 1, j, k)
    other = np.where(first_better == 1, k, j)
    return SuspectPairs(
        item[order],
        preferred[order],
        other[order],
        suspicion[order],
        agree_other[order],
        len(Ms),
        p_other[:, order],
        np.array(votes, dtype=int)[:, order],
    )
