"""Position bias of a pairwise judge: the same pair judged in both presentation orders.

For each pair (A, B) the judge is asked twice: with A shown first it gives ``p_ab`` = P(first
shown better) = P(A better); with B shown first it gives ``p_ba`` = P(B better). A verdict is the
response with P > 1/2 (exactly 1/2: a tie). Then, over pairs with both answers (a NaN in either
order leaves the pair out; ``n_missing`` counts them):

* ``consistency``: share of pairs whose verdict (A, B or tie) is the same in both orders
  (MT-Bench's "consistency", Zheng et al. 2023);
* ``flip_rate``: share of pairs whose winner reverses when the order is swapped (a strict verdict
  each time, for opposite responses) = ``prefers_first_both`` + ``prefers_second_both``, the
  pairs where the judge picked the first-shown (second-shown) response in both orders;
  consistency + flip rate + the share with a tie in exactly one order = 1;
* ``first_position_rate``: share of the 2n single-order verdicts that pick the response shown
  first (a tie counts 1/2): 1/2 for a judge without position preference (exactly 1/2 when it is
  always consistent), above 1/2 when it favours the first position;
* ``mean_p_first``: mean of P(first shown better) over both orders (the same, with the judge's
  probabilities instead of its verdicts);
* with human preferences (``human`` > 0: A preferred, < 0: B, 0 or NaN: none), on the pairs that
  have one: ``accuracy_preferred_first`` (the verdict in the order that shows the preferred
  response first is right), ``accuracy_preferred_second`` (the other order), and
  ``accuracy_both_orders`` (the verdict of the mean 0.5 (p_ab + 1 - p_ba), what ``judge-pair:``
  reports). A position-biased judge is right more often when the preferred response comes first.
  A tie counts wrong (``ties="strict"``) or 1/2 (``"half"``).

Percentile bootstrap CIs resample ``groups`` (the item; default: each pair), one set of draws for
every quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._util import check_choice, percentile_interval
from .resampling import bootstrap_weights
from .robustness import Estimate

__all__ = ["PositionBiasResult", "position_bias"]

_KEYS = (
    "consistency",
    "flip_rate",
    "first_position_rate",
    "prefers_first_both",
    "prefers_second_both",
    "mean_p_first",
    "accuracy_preferred_first",
    "accuracy_preferred_second",
    "accuracy_both_orders",
)


@dataclass(frozen=True)
class PositionBiasResult:
    consistency: Estimate
    flip_rate: Estimate
    first_position_rate: Estimate
    prefers_first_both: Estimate
    prefers_second_both: Estimate
    mean_p_first: Estimate
    accuracy_preferred_first: Estimate
    accuracy_preferred_second: Estimate
    accuracy_both_orders: Estimate
    n_pairs: int
    n_missing: int
    ties: str
    n_resamples: int


def position_bias(
    p_ab: ArrayLike,
    p_ba: ArrayLike,
    human: ArrayLike | None = None,
    *,
    groups: ArrayLike | None = None,
    ties: str = "strict",
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PositionBiasResult:
    """Position bias from ``p_ab`` (P(A better), A shown first) and ``p_ba`` (P(B better), B shown
    first), one entry per pair; ``human``: the human preference per pair (optional)."""
    check_choice("ties", ties, ("strict", "half"))
    x = np.asarray(p_ab, dtype=float).ravel()
    y = np.asarray(p_ba, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"p_ab has {x.size} entries, p_ba {y.size}")
    h = np.full(x.size, np.nan) if human is None else np.asarray(human, dtype=float).ravel()
    g = np.arange(x.size) if groups is None else np.asarray(groups).ravel()
    if h.size != x.size or g.size != x.size:
        raise ValueError(f"human and groups need one entry per pair ({x.size})")
    if n_resamples and not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    ok = np.isfinite(x) & np.isfinite(y)
    n_missing = int((~ok).sum())
    x, y, h, g = x[ok], y[ok], h[ok], g[ok]
    if x.size == 0:
        raise ValueError("no pair has a verdict in both orders")
    # winners: +1 = A, -1 = B, 0 = tie
    w1 = np.sign(x - 0.5)
    w2 = -np.sign(y - 0.5)
    first1 = np.where(x == 0.5, 0.5, (x > 0.5).astype(float))
    first2 = np.where(y == 0.5, 0.5, (y > 0.5).astype(float))
    half = 0.5 if ties == "half" else 0.0

    def right(winner: np.ndarray, pref: np.ndarray) -> np.ndarray:
        return np.where(winner == 0, half, (winner == pref).astype(float))

    pref = np.where(np.isfinite(h), np.sign(h), 0.0)
    has = pref != 0
    # the order that shows the preferred response first: order 1 when A is preferred
    acc_first = np.where(pref > 0, right(w1, pref), right(w2, pref))
    acc_second = np.where(pref > 0, right(w2, pref), right(w1, pref))
    avg = 0.5 * (x + 1.0 - y)
    acc_both = right(np.sign(avg - 0.5), pref)
    cols = np.stack(
        [
            (w1 == w2).astype(float),
            ((w1 != 0) & (w2 != 0) & (w1 != w2)).astype(float),
            0.5 * (first1 + first2),
            ((x > 0.5) & (y > 0.5)).astype(float),
            ((x < 0.5) & (y < 0.5)).astype(float),
            0.5 * (x + y),
            acc_first * has,
            acc_second * has,
            acc_both * has,
            np.ones_like(x),
            has.astype(float),
        ],
        axis=1,
    )
    gi = np.unique(g, return_inverse=True)[1].reshape(-1)
    n_groups = int(gi.max()) + 1
    S = np.zeros((n_groups, cols.shape[1]))
    np.add.at(S, gi, cols)

    def stats(T: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.concatenate([T[..., :6] / T[..., 9:10], T[..., 6:9] / T[..., 10:11]], axis=-1)

    point = stats(S.sum(axis=0))
    cis: list[tuple[float, float] | None] = [None] * len(_KEYS)
    if n_resamples:
        mult = np.concatenate(list(bootstrap_weights(n_groups, n_resamples, seed)))
        dist = stats(mult @ S)
        cis = [percentile_interval(dist[:, i], level) for i in range(len(_KEYS))]
    n, n_h = int(x.size), int(has.sum())

    def est(i: int) -> Estimate:
        size = n if i < 6 else n_h
        if size == 0:
            return Estimate(float("nan"), None, 0)
        return Estimate(float(point[i]), cis[i], size)

    return PositionBiasResult(
        **{k: est(i) for i, k in enumerate(_KEYS)},
        n_pairs=n,
        n_missing=n_missing,
        ties=ties,
        n_resamples=int(n_resamples),
    )
