"""Preference pairs derived from pointwise human scores (MQM), and the accuracy of a scorer on them.

The translation-pairs experiment (README, "A metric as a reward model"): from per-segment human
scores of several outputs (MQM, negated so that higher is better), every two outputs of one segment
whose scores differ by **more than** ``min_gap`` become a preference pair (chosen = the output with
the better human score); pairs with equal human scores are never pairs. Each pair is *easy* when the
gap is at least ``easy_gap`` and *hard* otherwise. Then a scorer is right on a pair when it scores
the chosen output strictly above the rejected one (RewardBench's rule,
:func:`~overcoat.metaeval.benchmarks.rewardbench_correct`), with scorer ties counted wrong
(``ties="strict"``) or ½ (``ties="half"``), and a missing score counted wrong.

Pairs of one segment share outputs, so they are not independent: the statistics here work on
*pair matrices* of shape (n_segments, max pairs per segment), one row per segment, NaN-padded
(:func:`pair_matrix`), and follow the item-weights protocol of :mod:`overcoat.metaeval.resampling`
with segments as the items. :func:`pair_accuracy` is the share of all pairs that the scorer gets
right (every pair counts once, as in RewardBench); with bootstrap weights a resampled segment
brings all its pairs, so :func:`~overcoat.metaeval.resampling.bootstrap_ci` gives a
segment-grouped CI and :func:`~overcoat.metaeval.significance.significance_matrix` (``permute=
"items"``) swaps two scorers' answers on whole segments.

``max_pairs`` draws a seeded stratified sample (at most that many pairs per bucket), so that slow
scorers are all judged on the same pairs.

Gaps are rounded to ``decimals`` (9) before they are compared, so that MQM sums of 0.1 weights do
not fall on the wrong side of a threshold by float rounding (1.4 - 0.4 is a gap of 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._util import as_weights, check_choice, wdot
from .accuracy import PairAccuracyResult
from .pairs import within_item_pairs

__all__ = [
    "DerivedPairs",
    "derive_preference_pairs",
    "pair_accuracy",
    "pair_matrix",
]


@dataclass(frozen=True)
class DerivedPairs:
    """Preference pairs of a (items × responses) human score matrix (one entry per pair).

    ``item``, ``chosen``, ``rejected``: row and the two column indices (chosen has the higher human
    score); ``gap``: chosen minus rejected human score (rounded, > ``min_gap``); ``easy``: ``gap >=
    easy_gap``. Pairs are item-major, then in the order of the columns (``j < k``). Counts:
    ``n_candidates`` within-item pairs with both human scores, ``n_tied`` of them with equal scores,
    ``n_small`` with ``0 < gap <= min_gap``, ``n_identical`` with a large enough gap but the same
    ``text_ids`` (left out), ``n_items_with_pairs`` items with at least one pair
    before sampling, ``n_sampled_out`` pairs left out by ``max_items`` / ``max_per_item`` /
    ``max_pairs``; ``n_easy_found`` / ``n_hard_found``: the pairs of each bucket before any
    sampling (so a sample is shown as "N of M pairs").
    """

    item: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    gap: np.ndarray
    easy: np.ndarray
    min_gap: float
    easy_gap: float
    max_per_item: int | None
    max_items: int | None
    max_pairs: int | None
    seed: int
    n_items: int
    n_candidates: int
    n_tied: int
    n_small: int
    n_identical: int
    n_items_with_pairs: int
    n_sampled_out: int
    n_easy_found: int
    n_hard_found: int

    @property
    def n_pairs(self) -> int:
        return int(self.item.size)


def derive_preference_pairs(
    human: ArrayLike,
    *,
    min_gap: float = 1.0,
    easy_gap: float = 5.0,
    max_per_item: int | None = None,
    max_items: int | None = None,
    max_pairs: int | None = None,
    seed: int = 0,
    text_ids: ArrayLike | None = None,
    decimals: int = 9,
) -> DerivedPairs:
    """Every within-item pair whose human scores differ by more than ``min_gap``.

    ``human``: (n_items, n_responses), higher is better, NaN where a response has no score.
    ``min_gap >= 0`` (so equal scores never make a pair); ``easy_gap > min_gap``: pairs with
    ``gap >= easy_gap`` are easy, the rest (``min_gap < gap < easy_gap``) hard. ``max_items``: keep
    a seeded random sample of that many of the items that have pairs (``default_rng(seed)``);
    ``max_per_item``: keep at most that many pairs of an item, a random sample drawn with
    ``default_rng([seed, item])`` (so an item's sample does not depend on the other items). Kept
    pairs stay in their original order. ``max_pairs``: a stratified sample: at most that many
    pairs of each bucket (easy, hard), a simple random sample without replacement of the bucket's
    pairs left after the other two options: the first ``max_pairs`` of a random permutation of
    them, drawn with ``default_rng([seed, 1])`` for easy and ``default_rng([seed, 0])`` for hard
    (so one bucket's sample does not depend on the other's size, and a larger sample under the
    same seed contains the smaller one: scores cached for it are reused). ``text_ids``
    (optional, the shape of ``human``): an id of each response's text; two responses with the
    same id are the same text, whose human scores differ by rater noise alone, so such pairs are
    left out (before any sampling) and counted.
    """
    if not np.isfinite(min_gap) or min_gap < 0:
        raise ValueError(f"min_gap must be a non-negative number, got {min_gap!r}")
    if not np.isfinite(easy_gap) or easy_gap <= min_gap:
        raise ValueError(
            f"easy_gap must be a number above min_gap ({min_gap:g}), got {easy_gap!r}: "
            "otherwise no pair is hard"
        )
    for name, v in (
        ("max_per_item", max_per_item),
        ("max_items", max_items),
        ("max_pairs", max_pairs),
    ):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    h = np.asarray(human, dtype=float)
    if h.ndim != 2:
        raise ValueError(f"human must be a 2-D (items, responses) matrix, got shape {h.shape}")
    p = within_item_pairs(h, h)
    gap = np.round(np.abs(p.d_human), decimals)
    tied = gap == 0
    keep = gap > min_gap
    n_small = int((~tied & ~keep).sum())
    n_identical = 0
    if text_ids is not None:
        t = np.asarray(text_ids)
        if t.shape != h.shape:
            raise ValueError(f"text_ids must have the shape of human {h.shape}, got {t.shape}")
        same = t[p.item, p.j] == t[p.item, p.k]
        n_identical = int((keep & same).sum())
        keep &= ~same
    first_better = p.d_human > 0
    item = p.item[keep]
    chosen = np.where(first_better, p.j, p.k)[keep]
    rejected = np.where(first_better, p.k, p.j)[keep]
    gap = gap[keep]
    n_found = int(item.size)
    items_with = np.unique(item)
    sel = np.ones(item.size, dtype=bool)
    if max_items is not None and items_with.size > max_items:
        rng = np.random.default_rng(seed)
        picked = np.sort(rng.choice(items_with, size=int(max_items), replace=False))
        sel &= np.isin(item, picked)
    if max_per_item is not None and item.size:
        starts = np.flatnonzero(np.r_[True, item[1:] != item[:-1]])
        ends = np.r_[starts[1:], item.size]
        for s, e in zip(starts.tolist(), ends.tolist()):
            if e - s > max_per_item and sel[s]:
                rng_i = np.random.default_rng([seed, int(item[s])])
                drop = np.ones(e - s, dtype=bool)
                drop[rng_i.choice(e - s, size=int(max_per_item), replace=False)] = False
                sel[s:e] &= ~drop
    easy_all = gap >= easy_gap
    if max_pairs is not None:
        for flag in (True, False):
            idx = np.flatnonzero(sel & (easy_all == flag))
            if idx.size > max_pairs:
                order = np.random.default_rng([seed, int(flag)]).permutation(idx.size)
                sel[idx[order[int(max_pairs) :]]] = False
    return DerivedPairs(
        item=item[sel].astype(np.intp),
        chosen=chosen[sel].astype(np.intp),
        rejected=rejected[sel].astype(np.intp),
        gap=gap[sel],
        easy=gap[sel] >= easy_gap,
        min_gap=float(min_gap),
        easy_gap=float(easy_gap),
        max_per_item=None if max_per_item is None else int(max_per_item),
        max_items=None if max_items is None else int(max_items),
        max_pairs=None if max_pairs is None else int(max_pairs),
        seed=int(seed),
        n_items=int(h.shape[0]),
        n_candidates=int(p.n_pairs),
        n_tied=int(tied.sum()),
        n_small=n_small,
        n_identical=n_identical,
        n_items_with_pairs=int(items_with.size),
        n_sampled_out=n_found - int(sel.sum()),
        n_easy_found=int(easy_all.sum()),
        n_hard_found=int((~easy_all).sum()),
    )


def pair_matrix(group: ArrayLike, values: ArrayLike, n_groups: int | None = None) -> np.ndarray:
    """Per-pair ``values`` laid out as (n_groups, max pairs per group), NaN-padded: row = the pair's
    group (segment index), column = its position among its group's pairs (input order)."""
    g = np.asarray(group, dtype=np.intp).reshape(-1)
    v = np.asarray(values, dtype=float).reshape(-1)
    if g.shape != v.shape:
        raise ValueError("group and values must have the same length")
    if g.size and g.min() < 0:
        raise ValueError("group indices must be non-negative")
    n = int(n_groups if n_groups is not None else (g.max() + 1 if g.size else 0))
    if g.size and g.max() >= n:
        raise ValueError(f"group index {int(g.max())} out of range for {n} groups")
    counts = np.bincount(g, minlength=n)
    out = np.full((n, int(counts.max()) if counts.size else 0), np.nan)
    if not g.size:
        return out
    order = np.argsort(g, kind="stable")
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    pos = np.empty(g.size, dtype=np.intp)
    pos[order] = np.arange(g.size) - np.repeat(starts, counts)
    out[g, pos] = v
    return out


def pair_accuracy(
    human: ArrayLike, metric: ArrayLike, *, ties: str = "strict", weights=None
) -> PairAccuracyResult:
    """Share of preference pairs on which the scorer agrees with the human preference.

    ``human``, ``metric``: pair matrices (:func:`pair_matrix`) of the human and the scorer's
    score differences (first minus second response of each pair; for derived pairs chosen minus
    rejected). A cell is a pair when its human difference is finite and non-zero. The scorer is
    right when its difference has the human difference's sign; a scorer tie (difference 0) counts
    0 (``ties="strict"``, RewardBench: chosen must score strictly above rejected) or ½
    (``"half"``); a missing (NaN) difference counts 0. Pooled over pairs: every pair counts once.

    ``weights`` (None, (n_groups,) or (B, n_groups)): group multiplicities (item-weights protocol);
    a weighted group counts its pairs that many times. ``n_groups`` / ``n_dropped``: rows with and
    without pairs. The statistic is NaN when there is no pair (of positive weight).
    """
    check_choice("ties", ties, ("strict", "half"))
    h = np.asarray(human, dtype=float)
    m = np.asarray(metric, dtype=float)
    if h.ndim == 1:
        h, m = h[None, :], m.reshape(1, -1)
    if h.shape != m.shape or h.ndim != 2:
        raise ValueError(f"human {h.shape} and metric {m.shape} must be matrices of one shape")
    is_pair = np.isfinite(h) & (h != 0)
    dm = np.where(is_pair, m, np.nan)
    with np.errstate(invalid="ignore"):
        right = is_pair & (np.sign(dm) == np.sign(h))
        tie = is_pair & (dm == 0)
    score = right.astype(float) + (0.5 * tie if ties == "half" else 0.0)
    u = score.sum(axis=1)
    v = is_pair.sum(axis=1).astype(float)
    n_groups = int((v > 0).sum())
    n_pairs = int(v.sum())

    def result(stat) -> PairAccuracyResult:
        return PairAccuracyResult(stat, 0.0, n_pairs, n_groups, h.shape[0] - n_groups)

    if weights is None:
        return result(float(u.sum() / v.sum()) if n_pairs else float("nan"))
    W, is_2d = as_weights(weights, h.shape[0])
    num, den = wdot(W, u), wdot(W, v)
    vals = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return result(vals if is_2d else float(vals[0]))
