"""How much human data a verdict needs: stable ranking probability and the annotation-budget curve.

Inputs are a *rating tensor* ``ratings`` of shape (raters, items, responses) — rater r's score of
response j of item i, NaN where r did not rate that cell (in WMT data the responses are the
systems) — and, for verdicts about scorers, ``metrics`` of shape (scorers, items, responses)
(higher = better).

*Entities* are what gets ranked: ``target="systems"`` ranks the responses' columns by their mean
human score (the gold of a study: each cell's mean over the study's raters); ``target="scorers"``
ranks scorers by their item-grouped Kendall τb against that gold (per item τb over the item's
responses, averaged over the items where it is defined: ``kendall_tau(group="item")``).

A *significant difference* between two entities, everywhere in this module, is a two-sided paired
t-test over items (per-item values of the two entities, items where both are defined) with
p < ``alpha``; a difference that is the same non-zero number on every item (no variance) counts
as significant.

* :func:`stable_ranking_probability`: **our definition**, named after the measure of Riley et
  al. 2024 ("Finding Replicable Human Evaluations via Stable Ranking Probability", NAACL 2024,
  pp. 4908-4919; arXiv 2404.01474), which introduces stable ranking probability as the measure
  of how consistently repeated human evaluations rank systems (studied there on MQM for item
  allocation to raters, ratings per item and score normalisation). Only the paper's abstract
  could be read when this was written; how the paper draws its simulated studies, which
  significance test it uses and how it counts agreement between two studies were not verified,
  so the procedure below is ours, not a reimplementation of theirs. Split the items — and, with
  ``split="both"``, the raters — at random into two disjoint halves; study A is half A of the
  items rated by half A of the raters, study B the other halves. For every entity pair, each
  study gives a direction and a verdict (significant or not). Over ``n_splits`` random splits,

      SRP = sum_splits 2 * #(pairs significant in both studies, same direction)
            / sum_splits (#pairs significant in A + #pairs significant in B),

  the probability that a significant difference found by one study is found again, significant
  and in the same direction, by a disjoint replication (NaN when no study finds any). Reported
  beside it: ``stable_splits`` (share of splits whose two studies agree on the significant
  ranking: every pair significant in one study is significant, in the same direction, in the
  other), ``identical_ranking`` (share of splits whose two studies order every entity pair the
  same way, significance aside) and ``pair_agreement`` (mean share of entity pairs ordered the
  same way). SRP = 1 when every significant finding replicates.
* :func:`annotation_budget`: for each point of a grid of ``n_items`` × ``ratings_per_item``
  (k of each cell's ratings kept, at random; cells with fewer keep all they have), ``n_draws``
  random subsamples; per subsample the bootstrap percentile CI width (over items) of each
  scorer's statistic, and the share of scorer pairs and of system pairs significantly
  different. Averaged over draws: how the verdicts a team can draw grow with the judgments bought.

Results do not depend on the order of items or raters (both are put in a canonical order of their
values before the random splits), and are deterministic under ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _st

from ._util import check_choice, percentile_interval
from .resampling import bootstrap_weights

__all__ = [
    "BudgetCurve",
    "StableRanking",
    "annotation_budget",
    "budget_draw",
    "budget_row",
    "canonical_order",
    "per_item_kendall",
    "significant_pairs",
    "split_halves",
    "stable_ranking_probability",
]


def _check(ratings: ArrayLike, metrics: ArrayLike | None, target: str):
    check_choice("target", target, ("systems", "scorers"))
    X = np.asarray(ratings, dtype=float)
    if X.ndim != 3:
        raise ValueError(
            f"ratings must be a (raters x items x responses) array, got shape {X.shape}"
        )
    if np.isinf(X).any():
        raise ValueError("ratings must be finite (NaN marks a missing rating)")
    M = None
    if metrics is not None:
        M = np.asarray(metrics, dtype=float)
        if M.ndim == 2:
            M = M[None]
        if M.ndim != 3 or M.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"metrics must be (scorers x items x responses) with items x responses "
                f"{X.shape[1:]}, got shape {M.shape}"
            )
    if target == "scorers" and (M is None or M.shape[0] < 2):
        raise ValueError("ranking scorers needs two or more scorers' scores")
    if target == "systems" and X.shape[2] < 2:
        raise ValueError("ranking systems needs two or more responses per item")
    if not (~np.isnan(X)).any():
        raise ValueError("ratings hold no rating")
    return X, M


def canonical_order(X: np.ndarray, M: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Items, then raters, sorted by their values (NaN as a value): the splits then depend on the
    data, not on the order the rows came in."""

    def order(rows: np.ndarray) -> np.ndarray:
        keys = np.where(np.isnan(rows), np.inf, rows)
        return np.lexsort(keys.T[::-1])

    # an item's key is blind to the raters' order: each cell's ratings sorted (missing last)
    feats = np.sort(np.where(np.isnan(X), np.inf, X), axis=0).transpose(1, 2, 0)
    feats = feats.reshape(X.shape[1], -1)
    if M is not None:
        feats = np.concatenate([feats, M.transpose(1, 0, 2).reshape(M.shape[1], -1)], axis=1)
    oi = order(feats)
    X = X[:, oi]
    M = None if M is None else M[:, oi]
    orr = order(X.reshape(X.shape[0], -1))
    return X[orr], M


def per_item_kendall(gold: ArrayLike, metric: ArrayLike) -> np.ndarray:
    """Kendall τb between ``gold`` and ``metric`` within each item (row) over the responses both
    define; NaN where undefined (fewer than two responses, or either side constant).

    ``metric`` may carry leading axes (scorers x items x responses)."""
    G = np.asarray(gold, dtype=float)
    Mt = np.asarray(metric, dtype=float)
    jj, kk = np.triu_indices(G.shape[-1], 1)
    dg = np.sign(G[..., jj] - G[..., kk])
    dm = np.sign(Mt[..., jj] - Mt[..., kk])
    both = ~(np.isnan(dg) | np.isnan(dm))
    dg = np.where(both, dg, 0.0)
    dm = np.where(both, dm, 0.0)
    num = (dg * dm).sum(axis=-1)
    den = np.sqrt((dg != 0).sum(axis=-1) * (dm != 0).sum(axis=-1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def significant_pairs(values: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(direction, significant) of every entity pair (upper triangle order) from per-item
    ``values`` (entities x items, NaN = undefined): direction = sign of the mean paired
    difference, significant = paired t-test p < alpha (a constant non-zero difference counts)."""
    jj, kk = np.triu_indices(values.shape[0], 1)
    d = values[jj] - values[kk]
    ok = ~np.isnan(d)
    n = ok.sum(axis=1)
    s = np.where(ok, d, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s.sum(axis=1) / n
        var = (np.where(ok, d - mean[:, None], 0.0) ** 2).sum(axis=1) / (n - 1)
        se = np.sqrt(var / n)
        t = mean / se
    p = np.where(n >= 2, 2.0 * _st.t.sf(np.abs(t), np.maximum(n - 1, 1)), 1.0)
    # no variance: significant exactly when the (constant) difference is not zero
    tiny = 1e-12 * np.maximum(1.0, np.abs(np.nan_to_num(mean)))
    flat = (n >= 2) & (np.sqrt(np.nan_to_num(var)) <= tiny)
    p = np.where(flat, np.where(np.abs(mean) > tiny, 0.0, 1.0), p)
    # a mean difference within rounding of zero (equal per-item values summed in another order)
    # is no direction
    mean0 = np.nan_to_num(mean)
    direction = np.where((n > 0) & (np.abs(mean0) > 1e-12), np.sign(mean0), 0.0)
    return direction, (p < alpha) & (direction != 0)


def _gold(X: np.ndarray) -> np.ndarray:
    """Each cell's mean over the raters given (NaN where none rated it)."""
    present = ~np.isnan(X)
    cnt = present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, np.where(present, X, 0.0).sum(axis=0) / cnt, np.nan)


def _entity_values(gold: np.ndarray, M: np.ndarray | None, target: str) -> np.ndarray:
    """(entities x items) per-item values of the ranked entities."""
    if target == "systems":
        return gold.T
    assert M is not None
    return per_item_kendall(gold, M)


@dataclass(frozen=True)
class StableRanking:
    """``statistic`` = SRP (see the module docs); per split, the counts behind it."""

    statistic: float
    stable_splits: float
    identical_ranking: float
    pair_agreement: float
    target: str
    split: str
    n_entities: int
    n_splits: int
    mean_significant: float  # mean number of significant pairs per study
    replicated: np.ndarray  # (splits,) pairs significant in both studies, same direction
    significant_a: np.ndarray  # (splits,)
    significant_b: np.ndarray  # (splits,)
    alpha: float


def _halves(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    p = rng.permutation(n)
    h = n // 2
    return np.sort(p[:h]), np.sort(p[h : 2 * h])


def split_halves(
    n_raters: int, n_items: int, n_splits: int, split: str, seed: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The random splits of :func:`stable_ranking_probability` (in its canonical item and rater
    order): (items A, items B, raters A, raters B) per split."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_splits):
        ia, ib = _halves(rng, n_items)
        if split == "both":
            ra, rb = _halves(rng, n_raters)
        else:
            ra = rb = np.arange(n_raters)
        out.append((ia, ib, ra, rb))
    return out


def stable_ranking_probability(
    ratings: ArrayLike,
    metrics: ArrayLike | None = None,
    *,
    target: str = "systems",
    split: str = "both",
    n_splits: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    on_step: Callable[[int, int], Any] | None = None,
) -> StableRanking:
    """Stable ranking probability of ``target`` (systems or scorers) over ``n_splits`` random
    splits of the items (``split="items"``) or of the items and the raters (``"both"``).
    ``on_step(done, n_splits)`` is called after each split (progress)."""
    check_choice("split", split, ("items", "both"))
    X, M = _check(ratings, metrics, target)
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    if X.shape[1] < 4:
        raise ValueError(f"stable ranking probability needs 4 or more items, got {X.shape[1]}")
    if split == "both" and X.shape[0] < 2:
        raise ValueError("splitting raters needs two or more raters (use split='items')")
    X, M = canonical_order(X, M)
    n_ent = X.shape[2] if target == "systems" else M.shape[0]  # type: ignore[union-attr]
    rep = np.zeros(n_splits, dtype=int)
    sa = np.zeros(n_splits, dtype=int)
    sb = np.zeros(n_splits, dtype=int)
    same_all = np.zeros(n_splits, dtype=bool)
    agree = np.zeros(n_splits)
    for s, (ia, ib, ra, rb) in enumerate(
        split_halves(X.shape[0], X.shape[1], n_splits, split, seed)
    ):
        res = []
        for items, raters in ((ia, ra), (ib, rb)):
            g = _gold(X[np.ix_(raters, items)])
            v = _entity_values(g, None if M is None else M[:, items], target)
            res.append(significant_pairs(v, alpha))
        (da, ga), (db, gb) = res
        rep[s] = int((ga & gb & (da == db)).sum())
        sa[s], sb[s] = int(ga.sum()), int(gb.sum())
        same_all[s] = bool((da == db).all())
        agree[s] = float((da == db).mean())
        if on_step is not None:
            on_step(s + 1, n_splits)
    den = int(sa.sum() + sb.sum())
    srp = 2.0 * rep.sum() / den if den else float("nan")
    stable = (rep == sa) & (rep == sb)
    return StableRanking(
        float(srp),
        float(stable.mean()),
        float(same_all.mean()),
        float(agree.mean()),
        target,
        split,
        int(n_ent),
        int(n_splits),
        float((sa.mean() + sb.mean()) / 2.0),
        rep,
        sa,
        sb,
        float(alpha),
    )


@dataclass(frozen=True)
class BudgetCurve:
    """One row per grid point (means over ``n_draws`` subsamples): items, ratings kept per cell,
    judgments used, each scorer's statistic and CI width (columns of ``statistic`` and
    ``ci_width`` follow the scorers' order), and the shares of scorer and system pairs
    significantly different."""

    n_items: np.ndarray
    ratings_per_item: np.ndarray
    n_judgments: np.ndarray
    statistic: np.ndarray  # (grid, scorers)
    ci_width: np.ndarray  # (grid, scorers)
    scorer_pairs_significant: np.ndarray  # (grid,) NaN without two scorers
    system_pairs_significant: np.ndarray  # (grid,)
    n_draws: int
    n_resamples: int
    alpha: float
    level: float


def budget_draw(
    rng: np.random.Generator, X: np.ndarray, n_items: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """One subsample of :func:`annotation_budget`: ``n_items`` items without replacement and a
    (raters x n_items x responses) mask keeping k random ratings of each cell."""
    items = np.sort(rng.choice(X.shape[1], size=n_items, replace=False))
    sub = X[:, items]
    keys = np.where(np.isnan(sub), np.inf, rng.random(sub.shape))
    rank = keys.argsort(axis=0).argsort(axis=0)
    return items, (rank < k) & ~np.isnan(sub)


def annotation_budget(
    ratings: ArrayLike,
    metrics: ArrayLike | None = None,
    *,
    item_counts: list[int] | None = None,
    ratings_per_item: list[int] | None = None,
    n_draws: int = 20,
    n_resamples: int = 200,
    alpha: float = 0.05,
    level: float = 0.95,
    seed: int = 0,
    on_step: Callable[[int, int], Any] | None = None,
) -> BudgetCurve:
    """The annotation-budget curve (see the module docs). Default grid: 1/8, 1/4, 1/2 and all
    of the items (at least 4) × 1 .. the most ratings any cell has. ``on_step(done, total)``
    is called after each subsample (total = grid points × ``n_draws``; progress)."""
    X, M = _check(ratings, metrics, "systems")
    if n_draws < 1 or n_resamples < 1:
        raise ValueError("n_draws and n_resamples must be at least 1")
    X, M = canonical_order(X, M)
    n_total = X.shape[1]
    if item_counts is None:
        item_counts = sorted(
            {max(min(4, n_total), round(n_total * f)) for f in (1 / 8, 1 / 4, 1 / 2, 1)}
        )
    max_k = int((~np.isnan(X)).sum(axis=0).max())
    if ratings_per_item is None:
        ratings_per_item = list(range(1, max_k + 1))
    for n in item_counts:
        if not 2 <= n <= n_total:
            raise ValueError(f"item counts must lie in 2..{n_total} (the items), got {n}")
    for k in ratings_per_item:
        if k < 1:
            raise ValueError(f"ratings per item must be at least 1, got {k}")
    grid = [(n, k) for n in item_counts for k in ratings_per_item]
    S = 0 if M is None else M.shape[0]
    G = len(grid)
    out_j = np.zeros(G)
    out_stat = np.full((G, S), np.nan)
    out_w = np.full((G, S), np.nan)
    out_sc = np.full(G, np.nan)
    out_sy = np.zeros(G)
    rng = np.random.default_rng(seed)
    for g, (n, k) in enumerate(grid):
        stat_d = np.full((n_draws, S), np.nan)
        w_d = np.full((n_draws, S), np.nan)
        sc_d = np.full(n_draws, np.nan)
        sy_d = np.zeros(n_draws)
        j_d = np.zeros(n_draws)
        for d in range(n_draws):
            items, keep = budget_draw(rng, X, n, k)
            r = budget_row(
                X[:, items],
                keep,
                None if M is None else M[:, items],
                alpha=alpha,
                level=level,
                n_resamples=n_resamples,
                seed=int(rng.integers(2**31)),
            )
            j_d[d], stat_d[d], w_d[d], sc_d[d], sy_d[d] = r
            if on_step is not None:
                on_step(g * n_draws + d + 1, G * n_draws)
        out_j[g] = j_d.mean()
        with np.errstate(invalid="ignore"):
            out_stat[g] = _nanmean0(stat_d)
            out_w[g] = _nanmean0(w_d)
        out_sc[g] = float(sc_d.mean()) if S >= 2 else np.nan
        out_sy[g] = float(sy_d.mean())
    return BudgetCurve(
        np.array([n for n, _ in grid]),
        np.array([k for _, k in grid]),
        out_j,
        out_stat,
        out_w,
        out_sc,
        out_sy,
        int(n_draws),
        int(n_resamples),
        float(alpha),
        float(level),
    )


def _nanmean0(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, np.where(ok, a, 0.0).sum(axis=0) / cnt, np.nan)


def budget_row(
    sub: np.ndarray,
    keep: np.ndarray,
    M: np.ndarray | None,
    *,
    alpha: float,
    level: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, np.ndarray, np.ndarray, float, float]:
    """One subsample's (judgments, statistic per scorer, CI width per scorer, share of scorer
    pairs significant, share of system pairs significant)."""
    g = _gold(np.where(keep, sub, np.nan))
    _, sig_sys = significant_pairs(g.T, alpha)
    share_sys = float(sig_sys.mean()) if sig_sys.size else float("nan")
    S = 0 if M is None else M.shape[0]
    stat = np.full(S, np.nan)
    width = np.full(S, np.nan)
    share_sc = float("nan")
    if M is not None:
        tau = per_item_kendall(g, M)  # (scorers, items)
        ok = ~np.isnan(tau)
        stat = _nanmean0(tau.T)
        W = np.concatenate(list(bootstrap_weights(tau.shape[1], n_resamples, seed)))
        for s in range(S):
            with np.errstate(invalid="ignore", divide="ignore"):
                dist = (W @ np.where(ok[s], tau[s], 0.0)) / (W @ ok[s].astype(float))
            ci = percentile_interval(dist, level)
            if ci is not None:
                width[s] = ci[1] - ci[0]
        if S >= 2:
            _, sig_sc = significant_pairs(tau, alpha)
            share_sc = float(sig_sc.mean())
    return float(keep.sum()), stat, width, share_sc, share_sys
