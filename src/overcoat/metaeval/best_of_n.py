"""Best-of-n over-optimisation: the gold score of the proxy's pick as a function of n.

Per item there is a pool of m candidates, each scored by a *proxy* (the scorer being optimised
against) and a *gold* scorer (human scores where present, else a stronger scorer). Best-of-n draws
n candidates at random without replacement and keeps the proxy's favourite. Its expected gold score
is computed exactly over all C(m, n) subsets (not by sampling): with candidates sorted by proxy
score ascending, the r-th one (1-based) is the maximum of a random n-subset with probability

    C(r - 1, n - 1) / C(m, n).

A tie in the proxy is broken uniformly at random, so tied candidates share their mean gold score.
Averaged over items this gives the curve gold(n); proxy(n) is the same expectation of the proxy's
own score (which only rises). The x-axis is the analytical KL divergence of the best-of-n
distribution from the base policy, ``log n - (n - 1) / n`` (Stiennon et al. 2020; Gao et al.
2023). Over-optimisation shows as gold(n) peaking and falling while proxy(n) keeps rising.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from .resampling import bootstrap_weights

__all__ = ["BestOfNResult", "best_of_n_curve", "best_of_n_kl", "best_of_n_weights"]


def best_of_n_kl(n: ArrayLike) -> np.ndarray:
    """Analytical KL(best-of-n || base) = log n - (n - 1) / n."""
    n = np.asarray(n, dtype=float)
    if (n < 1).any():
        raise ValueError("n must be >= 1")
    return np.log(n) - (n - 1.0) / n


def best_of_n_weights(m: int, n_max: int) -> np.ndarray:
    """(n_max, m) matrix: row n-1 holds P(the r-th smallest of m is the maximum of a random n-subset)."""
    if not 1 <= n_max <= m:
        raise ValueError(f"n_max must lie in [1, m={m}], got {n_max}")
    r = np.arange(1, m + 1, dtype=float)[None, :]
    n = np.arange(1, n_max + 1, dtype=float)[:, None]
    with np.errstate(invalid="ignore"):
        # log C(r-1, n-1) - log C(m, n); zero where r < n
        logw = (
            gammaln(r)
            - gammaln(n)
            - gammaln(r - n + 1)
            - (gammaln(m + 1.0) - gammaln(n + 1) - gammaln(m - n + 1))
        )
    w = np.where(r >= n, np.exp(logw), 0.0)
    return w / w.sum(axis=1, keepdims=True)  # rows sum to 1 exactly up to rounding


@dataclass(frozen=True)
class BestOfNResult:
    """The over-optimisation curve over ``n`` (1..n_max) with bootstrap CIs over items.

    ``peak_n`` maximises the gold curve; ``n_below_start`` is the first n > 1 whose gold falls
    below gold(1) (None if it never does); ``n_dropped`` items had fewer than n_max candidates."""

    n: np.ndarray
    kl: np.ndarray
    gold: np.ndarray
    gold_ci: np.ndarray
    proxy: np.ndarray
    proxy_ci: np.ndarray
    peak_n: int
    peak_gold: float
    n_below_start: int | None
    n_items: int
    n_dropped: int
    n_resamples: int


def _sorted_by_proxy(p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort one pool by proxy; tied proxy blocks get their mean gold (random tie-breaking)."""
    order = np.argsort(p, kind="stable")
    ps, gs = p[order], g[order]
    _, start, counts = np.unique(ps, return_index=True, return_counts=True)
    block_mean = np.add.reduceat(gs, start) / counts
    return ps, np.repeat(block_mean, counts)


def best_of_n_curve(
    proxy: ArrayLike,
    gold: ArrayLike,
    *,
    n_max: int | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> BestOfNResult:
    """Expected gold and proxy score of best-of-n for n = 1..n_max, averaged over items.

    ``proxy`` and ``gold`` are (items x candidates) matrices; NaN marks a missing candidate (a
    candidate counts when both scores are present). ``n_max`` defaults to the smallest pool;
    items with fewer candidates than ``n_max`` are dropped and counted."""
    P = np.asarray(proxy, dtype=float)
    G = np.asarray(gold, dtype=float)
    if P.ndim != 2 or P.shape != G.shape:
        raise ValueError(
            f"proxy and gold must be matrices of one shape (items x candidates), got "
            f"{P.shape} and {G.shape}"
        )
    ok = np.isfinite(P) & np.isfinite(G)
    sizes = ok.sum(axis=1)
    if sizes.max(initial=0) < 1:
        raise ValueError("no item has a candidate with both a proxy and a gold score")
    if n_max is None:
        n_max = int(sizes[sizes > 0].min())
    if int(n_max) != n_max or not 1 <= n_max <= sizes.max():
        raise ValueError(
            f"n_max must be an integer in [1, {int(sizes.max())}] (the largest pool), got {n_max!r}"
        )
    n_max = int(n_max)
    keep = np.flatnonzero(sizes >= n_max)
    per_gold = np.empty((keep.size, n_max))
    per_proxy = np.empty((keep.size, n_max))
    weights: dict[int, np.ndarray] = {}
    for row, i in enumerate(keep):
        m = int(sizes[i])
        if m not in weights:
            weights[m] = best_of_n_weights(m, n_max)
        ps, gs = _sorted_by_proxy(P[i, ok[i]], G[i, ok[i]])
        per_gold[row] = weights[m] @ gs
        per_proxy[row] = weights[m] @ ps
    gold_curve = per_gold.mean(axis=0)
    proxy_curve = per_proxy.mean(axis=0)
    gold_ci = np.full((2, n_max), np.nan)
    proxy_ci = np.full((2, n_max), np.nan)
    if n_resamples:
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level!r}")
        k = keep.size
        step = max(1, min(n_resamples, 4_000_000 // max(k, 1)))
        blocks = list(bootstrap_weights(k, n_resamples, seed, batch_size=step))
        gd = np.concatenate([mult @ per_gold / k for mult in blocks])
        pd = np.concatenate([mult @ per_proxy / k for mult in blocks])
        a = (1.0 - level) / 2.0
        gold_ci = np.quantile(gd, [a, 1.0 - a], axis=0)
        proxy_ci = np.quantile(pd, [a, 1.0 - a], axis=0)
    peak = int(np.argmax(gold_curve))
    below = np.flatnonzero(gold_curve[1:] < gold_curve[0] - 1e-12 * max(1.0, abs(gold_curve[0])))
    ns = np.arange(1, n_max + 1)
    return BestOfNResult(
        n=ns,
        kl=best_of_n_kl(ns),
        gold=gold_curve,
        gold_ci=gold_ci,
        proxy=proxy_curve,
        proxy_ci=proxy_ci,
        peak_n=peak + 1,
        peak_gold=float(gold_curve[peak]),
        n_below_start=int(below[0]) + 2 if below.size else None,
        n_items=int(keep.size),
        n_dropped=int(sizes.size - keep.size),
        n_resamples=int(n_resamples),
    )
