"""Resampling for meta-evaluation: item bootstrap confidence intervals and paired permutation tests.

Statistic protocol
------------------
Everything here works on a *statistic callable*::

    fn(human, metric, weights=None) -> float | ndarray of shape (B,)

``human`` and ``metric`` are ``(n_items, n_responses)`` matrices (see
``docs/metaeval-conventions.md``); ``weights`` is ``None``, ``(n_items,)`` or ``(B, n_items)`` non-negative
item weights. With 2-D weights the callable returns one value per weight row. A callable may also return a
result object with a ``statistic`` attribute (the metaeval result dataclasses); it is unwrapped.

Two adapters turn functions into statistic callables:

* :func:`item_weighted` wraps any function that follows the item-weights protocol (``pairwise_accuracy``,
  ``acc_eq``, ``tie_calibrated_accuracy``, ``kendall_tau``, ... with ``group="item"``). This is the fast
  path: a whole batch of resamples is one call.
* :func:`materialized` wraps a plain ``g(human, metric) -> float``. Each resample is materialised by
  repeating rows (``np.repeat``) and ``g`` is called once per resample. Use it for statistics where item
  weights are not equivalent to repeating items (e.g. pooled statistics with ``group="none"``).

Resampling unit
---------------
Items (rows) are the resampling unit everywhere: the pairs of one item share responses and are not
independent. A bootstrap resample draws ``n_items`` items with replacement; it is represented by the
multiplicity of each item as its weight. Draws are canonical so that results do not depend on batch sizes:
resample ``r`` is the ``r``-th call ``rng.integers(0, n_items, n_items)`` on
``numpy.random.default_rng(seed)``
(see :func:`bootstrap_indices`; draws are made in blocks, which numpy's contiguous Generator streams make
identical); permutation resample ``r`` is the ``r``-th call ``rng.integers(0, 2, n_items)`` (see
:func:`swap_masks`).

Paired permutation test
-----------------------
H0: scorers A and B are exchangeable. Each resample flips one fair coin per item and swaps A's and B's
scores of that item when it comes up 1. It is evaluated with the doubled-items trick of the conventions:
``H2 = vstack([human, human])``, ``M2 = vstack([metric_a, metric_b])``, swap mask ``s`` (B, n_items),
permuted A = weights ``[1 - s, s]``, permuted B = weights ``[s, 1 - s]``. Any statistic that re-fits
parameters per weight row (tie calibration re-fits epsilon) therefore re-fits them on each permuted scorer.
p-values use the +1 correction ``(count + 1) / (n_resamples + 1)`` so that a p-value is never 0 and the
test is valid (exact in the sense of Phipson & Smyth 2010 for randomly drawn permutations).

Differences from mt-metrics-eval (WMT): its ``PermutationSigDiff`` (PERM-BOTH, Deutsch et al. 2021)
z-normalises each metric's scores and swaps *individual scores* (one coin per score), and reports
``count / k`` without the +1. Here one coin swaps a whole item, which keeps every item's responses from one
scorer (so the within-item comparisons of a permuted scorer are comparisons of one real scorer).
``standardize=True`` z-scores each scorer (over all its non-NaN scores) before the test, as mt-metrics-eval
does; it is off by default because it changes the value of scale-dependent statistics.

Tie calibration
---------------
:func:`tie_calibrated_statistic` is an exact, batched implementation of item-grouped acc_eq with tie
calibration (Deutsch, Foster & Freitag 2023, "Ties Matter"): for each weight row the metric tie threshold
epsilon is the one (among 0 and every |metric difference| of a pair) that maximises the weighted acc_eq.
It precomputes and sorts each scorer's pairs once, and evaluates each weight row with a branch-and-bound
over a coarse grid of thresholds, so bootstrap and permutation resamples (and :func:`significance_matrix
<overcoat.metaeval.significance.significance_matrix>`) do not re-sort anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse, special

from ._util import snap_sorted

__all__ = [
    "BootstrapResult",
    "ItemWeightedStatistic",
    "MaterializedStatistic",
    "PermutationResult",
    "Statistic",
    "TieCalibratedStatistic",
    "as_statistic",
    "bootstrap_ci",
    "bootstrap_indices",
    "bootstrap_weights",
    "item_weighted",
    "jackknife_values",
    "materialized",
    "paired_bootstrap_ci",
    "paired_permutation_test",
    "permutation_pvalue",
    "swap_masks",
    "tie_calibrated_statistic",
]

# Target number of float64 elements per (resample x pair) working array in one batch (64 MiB).
_ELEMENT_BUDGET = 1 << 23


# --------------------------------------------------------------------------------------------------
# statistic adapters
# --------------------------------------------------------------------------------------------------


def _unwrap(value: Any) -> Any:
    """Take ``.statistic`` from a result object, else the value itself."""
    return getattr(value, "statistic", value)


class Statistic:
    """Base class of statistic callables: ``stat(human, metric, weights=None)``."""

    #: True when 2-D weights are evaluated in one vectorised call (the fast path).
    item_weighted: bool = True
    #: Preferred number of weight rows per call (``None``: choose from the data size).
    batch_size: int | None = None

    def __call__(self, human: np.ndarray, metric: np.ndarray, weights: np.ndarray | None = None):
        raise NotImplementedError


class ItemWeightedStatistic(Statistic):
    """Adapter for a function that follows the item-weights protocol.

    ``func(human, metric, weights=w, **kwargs)`` must accept ``w`` of shape ``(n_items,)`` or
    ``(B, n_items)`` and return a float, a ``(B,)`` array, or a result object with ``.statistic``.
    """

    item_weighted = True

    def __init__(self, func: Callable[..., Any], batch_size: int | None = None, **kwargs: Any):
        if not callable(func):
            raise TypeError("func must be callable")
        self.func = func
        self.kwargs = dict(kwargs)
        self.batch_size = batch_size

    def __call__(self, human, metric, weights=None):
        if weights is None:
            out = self.func(human, metric, **self.kwargs)
        else:
            out = self.func(human, metric, weights=weights, **self.kwargs)
        out = _unwrap(out)
        if weights is not None and np.ndim(weights) == 2:
            return np.asarray(out, dtype=float).reshape(-1)
        return float(np.asarray(out, dtype=float))

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", repr(self.func))
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"item_weighted({name}{', ' if args else ''}{args})"


class MaterializedStatistic(Statistic):
    """Fallback adapter for a plain ``g(human, metric) -> float``.

    Weights must be non-negative integers (multiplicities, or 0/1 selections): the weighted data set is
    materialised by repeating each row ``weight`` times and ``g`` is called on it; 2-D weights loop over
    rows. Slow but correct for any statistic, including pooled ones where item weights would not be
    equivalent to repeating items.
    """

    item_weighted = False

    def __init__(self, g: Callable[..., Any], **kwargs: Any):
        if not callable(g):
            raise TypeError("g must be callable")
        self.g = g
        self.kwargs = dict(kwargs)

    def _one(self, human, metric, w):
        if w is None:
            return float(np.asarray(_unwrap(self.g(human, metric, **self.kwargs)), dtype=float))
        w = np.asarray(w)
        reps = np.rint(w).astype(np.int64)
        if np.any(np.abs(w - reps) > 1e-9) or np.any(reps < 0):
            raise ValueError("materialized statistics need non-negative integer item weights")
        h = np.repeat(human, reps, axis=0)
        m = np.repeat(metric, reps, axis=0)
        return float(np.asarray(_unwrap(self.g(h, m, **self.kwargs)), dtype=float))

    def __call__(self, human, metric, weights=None):
        if weights is None or np.ndim(weights) == 1:
            return self._one(human, metric, weights)
        weights = np.asarray(weights)
        return np.array([self._one(human, metric, w) for w in weights], dtype=float)

    def __repr__(self) -> str:
        return f"materialized({getattr(self.g, '__name__', repr(self.g))})"


def item_weighted(
    func: Callable[..., Any], *, batch_size: int | None = None, **kwargs: Any
) -> ItemWeightedStatistic:
    """Wrap a function that follows the item-weights protocol (fast, batched path).

    Example: ``item_weighted(pairwise_accuracy, group="item", ties="half")``.
    """
    return ItemWeightedStatistic(func, batch_size=batch_size, **kwargs)


def materialized(g: Callable[..., Any], **kwargs: Any) -> MaterializedStatistic:
    """Wrap a plain ``g(human, metric) -> float`` (fallback path: rows are repeated, one call per
    resample)."""
    return MaterializedStatistic(g, **kwargs)


def _fast_equivalent(stat: Statistic) -> Statistic:
    """Route ``item_weighted(tie_calibrated_accuracy, group="item", ...)`` to the exact batched engine.

    :class:`TieCalibratedStatistic` computes the same statistic (tests check equality with
    :func:`overcoat.metaeval.accuracy.tie_calibrated_accuracy`) but shares the per-scorer pair sorting
    across resamples and scorer pairs. Other statistics are returned unchanged.
    """
    if not isinstance(stat, ItemWeightedStatistic):
        return stat
    try:
        from . import accuracy
    except ImportError:  # pragma: no cover - accuracy is part of the package
        return stat
    if stat.func is not getattr(accuracy, "tie_calibrated_accuracy", None):
        return stat
    kw = dict(stat.kwargs)
    group = kw.pop("group", "item")
    average = kw.pop("average", "items")
    sample_rate = kw.pop("sample_rate", 1.0)
    kw.pop("seed", None)
    if kw or group != "item" or sample_rate != 1.0 or average not in ("items", "pairs"):
        return stat
    return TieCalibratedStatistic(average=average, batch_size=stat.batch_size)


def _resolve(obj: Any) -> Statistic:
    return _fast_equivalent(as_statistic(obj))


def as_statistic(obj: Any) -> Statistic:
    """Return ``obj`` if it is a :class:`Statistic`, else treat it as a protocol function (item_weighted)."""
    if isinstance(obj, Statistic):
        return obj
    if callable(obj):
        return ItemWeightedStatistic(obj)
    raise TypeError(f"not a statistic callable: {obj!r}")


# --------------------------------------------------------------------------------------------------
# input checks and helpers
# --------------------------------------------------------------------------------------------------


def _as_matrix(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n_items, n_responses) matrix, got shape {a.shape}")
    return a


def _check_pair(human: Any, metric: Any) -> tuple[np.ndarray, np.ndarray]:
    h = _as_matrix(human, "human")
    m = _as_matrix(metric, "metric")
    if h.shape != m.shape:
        raise ValueError(f"human {h.shape} and metric {m.shape} must have the same shape")
    if h.shape[0] < 1:
        raise ValueError("need at least one item")
    return h, m


def _check_count(n: int, name: str) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def _default_batch(stat: Statistic, human: np.ndarray, n_rows: int) -> int:
    if stat.batch_size:
        return max(1, int(stat.batch_size))
    n_items, n_resp = human.shape
    per_row = max(n_items, n_items * max(1, n_resp * (n_resp - 1) // 2))
    return int(max(1, min(n_rows, _ELEMENT_BUDGET // per_row)))


def _eval_rows(stat: Statistic, human, metric, weight_rows: Iterator[np.ndarray]) -> np.ndarray:
    out = [np.atleast_1d(np.asarray(stat(human, metric, w), dtype=float)) for w in weight_rows]
    return np.concatenate(out) if out else np.empty(0)


# --------------------------------------------------------------------------------------------------
# canonical draws
# --------------------------------------------------------------------------------------------------


def _index_dtype(n: int):
    return np.int32 if n < 2**31 - 1 else np.int64


def _block_rows(n_items: int, n_resamples: int, batch_size: int | None) -> int:
    if batch_size:
        return max(1, int(batch_size))
    return max(1, min(n_resamples, _ELEMENT_BUDGET // max(1, n_items)))


def bootstrap_indices(
    n_items: int, n_resamples: int, seed: int = 0, batch_size: int | None = None
) -> Iterator[np.ndarray]:
    """Yield ``(b, n_items)`` blocks of bootstrap item indices (rows = resamples; the canonical draw).

    Row ``r`` equals the ``r``-th call ``rng.integers(0, n_items, n_items)`` on
    ``numpy.random.default_rng(seed)`` (the draws are made in blocks; numpy's Generator streams are
    contiguous across calls, so the blocking never changes them).
    """
    n_items = _check_count(n_items, "n_items")
    n_resamples = _check_count(n_resamples, "n_resamples")
    rng = np.random.default_rng(seed)
    dt = _index_dtype(n_items)
    bs = _block_rows(n_items, n_resamples, batch_size)
    for start in range(0, n_resamples, bs):
        b = min(bs, n_resamples - start)
        yield rng.integers(0, n_items, (b, n_items), dtype=dt)


def bootstrap_weights(
    n_items: int, n_resamples: int, seed: int = 0, batch_size: int | None = None
) -> Iterator[np.ndarray]:
    """Yield ``(b, n_items)`` float blocks of bootstrap multiplicity weights (rows = resamples).

    Row ``r`` holds the multiplicities (``np.bincount``) of row ``r`` of :func:`bootstrap_indices`.
    """
    for idx in bootstrap_indices(n_items, n_resamples, seed, batch_size):
        b = idx.shape[0]
        w: np.ndarray
        if n_items >= 4096:  # few long rows: row-wise bincount (no int64 copy of the block)
            w = np.empty(idx.shape)
            for r in range(b):
                w[r] = np.bincount(idx[r], minlength=n_items)
        else:  # many short rows: one bincount over row-offset indices
            flat = (
                idx.astype(np.int64) + (np.arange(b, dtype=np.int64) * n_items)[:, None]
            ).reshape(-1)
            w = np.bincount(flat, minlength=b * n_items).reshape(b, n_items).astype(float)
        yield w


def swap_masks(
    n_items: int, n_resamples: int, seed: int = 0, batch_size: int | None = None
) -> Iterator[np.ndarray]:
    """Yield ``(b, n_items)`` float blocks of 0/1 swap masks (1 = swap A and B on that item).

    Row ``r`` equals the ``r``-th call ``rng.integers(0, 2, n_items)`` on ``numpy.random.default_rng(seed)``.
    """
    for block in swap_bits(n_items, n_resamples, seed, batch_size):
        yield block.astype(float)


def _coins_from_raw(rng: np.random.Generator, count: int, carry: list) -> np.ndarray:
    """``count`` draws of ``rng.integers(0, 2)`` as uint8, read from the raw 64-bit stream.

    numpy draws an integer in ``[0, 1]`` from one 32-bit half of a raw 64-bit draw (low half first; the
    high half is kept for the next draw) by Lemire's method, which for a range of 2 is the half's top bit
    and never rejects. ``carry`` holds a high half's bit left over from the previous call (so blocks of
    any size continue the stream exactly as numpy's calls do). :func:`_raw_coins_agree` checks this
    equality on the running numpy before it is used.
    """
    out = np.empty(count, dtype=np.uint8)
    done = 0
    if carry and count:
        out[0] = carry.pop()
        done = 1
    rest = count - done
    if rest > 0:
        raw = rng.bit_generator.random_raw((rest + 1) // 2)
        both = np.empty((raw.size, 2), dtype=np.uint8)
        both[:, 0] = (raw >> np.uint64(31)) & np.uint64(1)
        both[:, 1] = raw >> np.uint64(63)
        flat = both.reshape(-1)
        out[done:] = flat[:rest]
        if flat.size > rest:
            carry.append(flat[rest])
    return out


_RAW_COINS_OK: list[bool] = []


def _raw_coins_agree() -> bool:
    """Whether :func:`_coins_from_raw` reproduces ``Generator.integers(0, 2)`` on this numpy (checked
    once per process on a few odd-sized blocks; otherwise the draws come from ``integers`` itself)."""
    if not _RAW_COINS_OK:
        ok = True
        for seed, sizes in ((0, (7, 13, 1, 64)), (12345, (3, 5, 129))):
            ref = np.random.default_rng(seed)
            fast = np.random.default_rng(seed)
            carry: list = []
            for size in sizes:
                if not np.array_equal(ref.integers(0, 2, size), _coins_from_raw(fast, size, carry)):
                    ok = False
        _RAW_COINS_OK.append(ok)
    return _RAW_COINS_OK[0]


def swap_bits(
    n_items: int, n_resamples: int, seed: int = 0, batch_size: int | None = None
) -> Iterator[np.ndarray]:
    """:func:`swap_masks` as ``(b, n_items)`` uint8 blocks (the same draws; a few times cheaper to
    produce: read from the raw 64-bit stream when :func:`_raw_coins_agree`)."""
    n_items = _check_count(n_items, "n_items")
    n_resamples = _check_count(n_resamples, "n_resamples")
    rng = np.random.default_rng(seed)
    bs = _block_rows(n_items, n_resamples, batch_size)
    fast = _raw_coins_agree()
    carry: list = []
    for start in range(0, n_resamples, bs):
        b = min(bs, n_resamples - start)
        if fast:
            yield _coins_from_raw(rng, b * n_items, carry).reshape(b, n_items)
        else:
            yield rng.integers(0, 2, (b, n_items)).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# jackknife
# --------------------------------------------------------------------------------------------------


def _jackknife_labels(n: int, groups: int | None, seed: int) -> tuple[np.ndarray, int]:
    """Group label of each item for the (grouped) jackknife, and the number of groups."""
    if groups is None or groups >= n:
        return np.arange(n), n
    g = _check_count(groups, "groups")
    perm = np.random.default_rng([seed, 7]).permutation(n)
    labels = np.empty(n, dtype=np.int64)
    labels[perm] = np.arange(n) % g
    return labels, g


def jackknife_values(
    statistic: Any,
    human: Any,
    metric: Any,
    *,
    groups: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
) -> np.ndarray:
    """Leave-one-item-out values of the statistic (item weight 0 for the left-out item).

    With ``groups=G`` (< n_items) the items are split at random (seeded) into G near-equal groups and one
    group is left out at a time (grouped jackknife; used for BCa on very many items).
    """
    stat = as_statistic(statistic)
    h, m = _check_pair(human, metric)
    n = h.shape[0]
    labels, g = _jackknife_labels(n, groups, seed)
    bs = batch_size or _default_batch(stat, h, g)

    def rows():
        for start in range(0, g, bs):
            stop = min(g, start + bs)
            w = np.ones((stop - start, n))
            w[labels[None, :] == np.arange(start, stop)[:, None]] = 0.0
            yield w

    return _eval_rows(stat, h, m, rows())


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """Item-bootstrap result.

    ``statistic`` is the statistic on the original data; ``confidence_interval`` is (low, high);
    ``standard_error`` is the standard deviation (ddof=1) of the bootstrap distribution.
    """

    statistic: float
    confidence_interval: tuple[float, float]
    standard_error: float
    n_resamples: int
    seed: int
    method: str
    level: float
    bootstrap_distribution: np.ndarray = field(repr=False)
    n_nan_resamples: int = 0
    bias_correction: float | None = None
    acceleration: float | None = None


@dataclass(frozen=True)
class PermutationResult:
    """Paired permutation test result. ``statistic`` = statistic(A) - statistic(B)."""

    statistic: float
    pvalue: float
    statistic_a: float
    statistic_b: float
    alternative: str
    n_resamples: int
    seed: int
    null_distribution: np.ndarray | None = field(default=None, repr=False)
    #: "items" (whole items swapped) or "cells" (each item x response score swapped; PERM-BOTH).
    permute: str = "items"
    #: number of null values as or more extreme than ``statistic`` (the p-value's numerator).
    count: int | None = None


# --------------------------------------------------------------------------------------------------
# per-item sufficient statistics (bootstrap fast path)
# --------------------------------------------------------------------------------------------------

#: Bootstrap draws per block on the sufficient-statistics path (int32 indices: 4 MiB, cache-sized work).
_GATHER_ELEMENTS = 1 << 20


def _item_terms(
    stat: Statistic, h: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-item ``(u, v)`` with ``stat(h, m, W) == (W @ u) / (W @ v)`` for every weight matrix ``W``, or None.

    Item-grouped ``pairwise_accuracy``, ``acc_eq``, ``kendall_tau`` (fixed epsilon), ``pearson`` and
    ``spearman`` are weighted means of per-item values, so the value on a bootstrap resample follows from two
    sums over the drawn items. The terms are checked against the statistic itself on the data and on one
    non-uniform weight vector; anything else (other functions, pooled groupings, refitted epsilon) gives
    None and the generic weights path.
    """
    if not isinstance(stat, ItemWeightedStatistic):
        return None
    from . import accuracy, correlation
    from ._util import item_ratio_terms

    kw = dict(stat.kwargs)
    if kw.pop("group", "item") != "item":
        return None
    f = stat.func
    try:
        if f is accuracy.pairwise_accuracy:
            fixed = _fixed_pairwise_accuracy(stat)
            if fixed is None:
                return None
            average, half, eps = fixed
            u, v = item_ratio_terms(
                h, m, epsilon=eps, average=average, stat_fn=accuracy._pa_stat(half)
            )
        elif f is accuracy.acc_eq:
            eps = float(kw.pop("epsilon", 0.0))
            average = kw.pop("average", "items")
            if kw:
                return None
            u, v = item_ratio_terms(
                h, m, epsilon=eps, average=average, stat_fn=accuracy._acc_eq_stat
            )
        elif f is correlation.kendall_tau:
            variant = kw.pop("variant", "b")
            eps = float(kw.pop("epsilon", 0.0))
            average = kw.pop("average", "items")
            if kw or variant not in ("a", "b", "c", "23", "acc23") or (variant == "c" and eps > 0):
                return None
            u, v = item_ratio_terms(
                h,
                m,
                epsilon=eps,
                average=average,
                stat_fn=correlation._tau_stat(variant),
                need_distinct=variant == "c",
            )
        elif f is correlation.pearson or f is correlation.spearman:
            if kw:
                return None
            hh, mm = correlation.as_matrices(h, m)
            valid = ~(np.isnan(hh) | np.isnan(mm))
            if f is correlation.spearman:
                hh, mm = correlation._row_ranks(hh, valid), correlation._row_ranks(mm, valid)
            r, defined = correlation._row_pearson(hh, mm, valid)
            v = defined.astype(np.float64)
            u = r * v
        else:
            return None
    except (ValueError, TypeError):
        return None
    # guard: the terms must reproduce the statistic (unweighted and with one non-uniform weight vector)
    w = 1.0 + np.arange(h.shape[0]) % 3
    for weights in (None, w):
        want = float(np.asarray(stat(h, m, weights), dtype=float))
        ww = np.ones(h.shape[0]) if weights is None else weights
        den = float((ww * v).sum())
        got = float((ww * u).sum()) / den if den > 0 else math.nan
        if not (
            math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
            or (math.isnan(got) and math.isnan(want))
        ):
            return None
    return u, v


def _resample_sum(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``idx (b, n) -> values[idx].sum(axis=1)`` specialised to the values.

    Constant values need no gather; 0/1 values are counted on a uint8 gather (an eighth of the
    memory traffic).
    Sums of integer-valued terms are exact either way, hence equal to ``W @ values`` bit for bit.
    """
    if values.size and np.all(values == values[0]):
        c = float(values[0])
        return lambda idx: np.full(idx.shape[0], c * idx.shape[1])
    if np.all((values == 0) | (values == 1)):
        mask = values.astype(np.uint8)
        return lambda idx: np.take(mask, idx).sum(axis=1, dtype=np.int64).astype(np.float64)
    return lambda idx: np.take(values, idx).sum(axis=1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _terms_bootstrap(
    terms: list[tuple[np.ndarray, np.ndarray]], n_items: int, n_resamples: int, seed: int
) -> list[np.ndarray]:
    """Bootstrap distributions ``sum u[idx] / sum v[idx]`` (one per ``(u, v)``) on the canonical draws."""
    rows = max(1, min(n_resamples, _GATHER_ELEMENTS // n_items))
    sums = [(_resample_sum(u), _resample_sum(v)) for u, v in terms]
    out = [np.empty(n_resamples) for _ in terms]
    r0 = 0
    for idx in bootstrap_indices(n_items, n_resamples, seed, rows):
        b = idx.shape[0]
        for k, (su, sv) in enumerate(sums):
            out[k][r0 : r0 + b] = _ratio(su(idx), sv(idx))
        r0 += b
    return out


def _terms_jackknife(u: np.ndarray, v: np.ndarray, groups: int | None, seed: int) -> np.ndarray:
    """Leave-one-(group-)out values ``(U - u_g) / (V - v_g)`` (the groups of :func:`jackknife_values`)."""
    labels, g = _jackknife_labels(u.shape[0], groups, seed)
    su = np.bincount(labels, weights=u, minlength=g)
    sv = np.bincount(labels, weights=v, minlength=g)
    return _ratio(u.sum() - su, v.sum() - sv)


# --------------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------------

_METHODS = ("percentile", "bca")


def _percentile_ci(dist: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(dist, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


#: Relative tolerance within which a bootstrap value counts as equal to theta in BCa's bias correction.
BCA_TIE_RTOL = 1e-9


def bca_tie_share(theta: float, dist: np.ndarray) -> float:
    """Share of bootstrap values below ``theta``, a value equal to ``theta`` counting one half.

    "Equal" means within ``BCA_TIE_RTOL * max(1, |theta|)``: theta and the bootstrap values are usually
    reached by different summation orders (a weighted sum over resampled items vs the plain sum), so a
    value that is mathematically equal to theta can differ from it in the last bits; an exact ``==`` would
    then count it as 0 or 1 instead of 1/2 and move z0 (and the interval) by a platform-dependent amount.
    """
    dist = np.asarray(dist, dtype=float)
    tol = BCA_TIE_RTOL * max(1.0, abs(float(theta)))
    below = np.count_nonzero(dist < theta - tol)
    equal = np.count_nonzero(np.abs(dist - theta) <= tol)
    return (below + 0.5 * equal) / dist.size


def _bca_ci(
    theta: float, dist: np.ndarray, jack: np.ndarray, level: float
) -> tuple[tuple[float, float], float, float]:
    """BCa interval (Efron 1987; Efron & Tibshirani 1993, ch. 14).

    Bias correction ``z0 = Phi^-1(share of bootstrap values below theta)`` where a bootstrap value
    equal to theta (within a relative 1e-9, see ``bca_tie_share``) counts one half (mid-rank;
    identical to Efron & Tibshirani's ``#{theta* < theta} / B`` when there are no ties, and the
    convention of ``scipy.stats.bootstrap``). Acceleration from the jackknife:
    ``a = sum(d^3) / (6 * sum(d^2)^1.5)`` with ``d = mean(jack) - jack``.
    """
    alpha = (1.0 - level) / 2.0
    share = bca_tie_share(theta, dist)
    z0 = float(special.ndtri(share))
    jack = jack[np.isfinite(jack)]
    d = jack.mean() - jack if jack.size else np.zeros(1)
    den = float(np.sum(d * d))
    a = float(np.sum(d**3) / (6.0 * den**1.5)) if den > 0 else 0.0
    if not np.isfinite(z0):
        # every bootstrap value is on one side of theta: BCa is undefined; report the degenerate end.
        return (float(dist.min()), float(dist.max())), z0, a
    qs = []
    for z_alpha in (special.ndtri(alpha), special.ndtri(1 - alpha)):
        num = z0 + z_alpha
        qs.append(float(special.ndtr(z0 + num / (1.0 - a * num))))
    lo, hi = np.percentile(dist, [100 * qs[0], 100 * qs[1]])
    return (float(lo), float(hi)), z0, a


def _bootstrap_distribution(stat: Statistic, h, m, n_resamples, seed, batch_size):
    bs = batch_size or _default_batch(stat, h, n_resamples)
    return _eval_rows(stat, h, m, bootstrap_weights(h.shape[0], n_resamples, seed, bs))


def _finish_bootstrap(theta, dist, jack_fn, *, n_resamples, seed, method, level) -> BootstrapResult:
    finite = np.isfinite(dist)
    n_nan = int(np.count_nonzero(~finite))
    good = dist[finite]
    z0 = a = None
    if good.size == 0 or not np.isfinite(theta):
        ci = (math.nan, math.nan)
        se = math.nan
    else:
        se = float(np.std(good, ddof=1)) if good.size > 1 else math.nan
        if method == "percentile":
            ci = _percentile_ci(good, level)
        else:
            ci, z0, a = _bca_ci(theta, good, jack_fn(), level)
    return BootstrapResult(
        statistic=float(theta),
        confidence_interval=ci,
        standard_error=se,
        n_resamples=n_resamples,
        seed=seed,
        method=method,
        level=level,
        bootstrap_distribution=dist,
        n_nan_resamples=n_nan,
        bias_correction=z0,
        acceleration=a,
    )


def _check_common(n_resamples, level, method):
    n_resamples = _check_count(n_resamples, "n_resamples")
    if not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    return n_resamples


def bootstrap_ci(
    statistic: Any,
    human: Any,
    metric: Any,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
    batch_size: int | None = None,
    jackknife_groups: int | None = None,
) -> BootstrapResult:
    """Item-bootstrap confidence interval of a statistic.

    Items are resampled with replacement (canonical draws, see :func:`bootstrap_indices`) and passed to the
    statistic as multiplicity weights, ``batch_size`` resamples per call. ``method="percentile"`` takes the
    ``(1-level)/2`` and ``(1+level)/2`` quantiles (linear interpolation) of the bootstrap distribution;
    ``method="bca"`` is the bias-corrected and accelerated interval with jackknife acceleration over items
    (leave-one-item-out weights; with more than 5,000 items a grouped jackknife over 5,000 random item
    groups unless ``jackknife_groups`` says otherwise). Resamples where the statistic is undefined (NaN) are
    left out of the interval and counted in ``n_nan_resamples``.

    Item-grouped ``pairwise_accuracy``, ``acc_eq``, ``kendall_tau``, ``pearson`` and ``spearman`` (wrapped
    with :func:`item_weighted`) are weighted means of per-item values; for them each resample is two sums of
    per-item terms over the drawn items (same draws, no weight matrix; see ``_item_terms``). Integer-valued
    terms (e.g. pairwise accuracy of preference pairs) give bit-identical distributions; real-valued ones
    agree with the weights path to float rounding (summation order).
    """
    n_resamples = _check_common(n_resamples, level, method)
    stat = _resolve(statistic)
    h, m = _check_pair(human, metric)
    theta = float(np.asarray(stat(h, m), dtype=float))
    groups = (
        jackknife_groups if jackknife_groups is not None else (5000 if h.shape[0] > 5000 else None)
    )
    terms = _item_terms(stat, h, m)
    if terms is not None:  # per-item sufficient statistics: no weight matrices
        dist = _terms_bootstrap([terms], h.shape[0], n_resamples, seed)[0]
        return _finish_bootstrap(
            theta,
            dist,
            lambda: _terms_jackknife(*terms, groups, seed),
            n_resamples=n_resamples,
            seed=seed,
            method=method,
            level=level,
        )
    dist = _bootstrap_distribution(stat, h, m, n_resamples, seed, batch_size)
    return _finish_bootstrap(
        theta,
        dist,
        lambda: jackknife_values(stat, h, m, groups=groups, seed=seed, batch_size=batch_size),
        n_resamples=n_resamples,
        seed=seed,
        method=method,
        level=level,
    )


def paired_bootstrap_ci(
    statistic: Any,
    human: Any,
    metric_a: Any,
    metric_b: Any,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    method: str = "percentile",
    seed: int = 0,
    batch_size: int | None = None,
    jackknife_groups: int | None = None,
) -> BootstrapResult:
    """Bootstrap CI of ``statistic(A) - statistic(B)``, both evaluated on the same item resamples."""
    n_resamples = _check_common(n_resamples, level, method)
    stat = _resolve(statistic)
    h, ma = _check_pair(human, metric_a)
    _, mb = _check_pair(human, metric_b)
    theta = float(np.asarray(stat(h, ma), dtype=float)) - float(
        np.asarray(stat(h, mb), dtype=float)
    )
    groups = (
        jackknife_groups if jackknife_groups is not None else (5000 if h.shape[0] > 5000 else None)
    )
    ta, tb = _item_terms(stat, h, ma), _item_terms(stat, h, mb)
    if ta is not None and tb is not None:  # per-item sufficient statistics of both scorers
        da, db = _terms_bootstrap([ta, tb], h.shape[0], n_resamples, seed)
        return _finish_bootstrap(
            theta,
            da - db,
            lambda: _terms_jackknife(*ta, groups, seed) - _terms_jackknife(*tb, groups, seed),
            n_resamples=n_resamples,
            seed=seed,
            method=method,
            level=level,
        )
    bs = batch_size or _default_batch(stat, h, n_resamples)
    parts = []
    for w in bootstrap_weights(h.shape[0], n_resamples, seed, bs):
        parts.append(
            np.asarray(stat(h, ma, w), dtype=float) - np.asarray(stat(h, mb, w), dtype=float)
        )
    dist = np.concatenate(parts)

    def jack():
        ja = jackknife_values(stat, h, ma, groups=groups, seed=seed, batch_size=batch_size)
        jb = jackknife_values(stat, h, mb, groups=groups, seed=seed, batch_size=batch_size)
        return ja - jb

    return _finish_bootstrap(
        theta, dist, jack, n_resamples=n_resamples, seed=seed, method=method, level=level
    )


# --------------------------------------------------------------------------------------------------
# permutation test
# --------------------------------------------------------------------------------------------------

_ALTERNATIVES = ("two-sided", "greater", "less")


_PERMUTE = ("items", "cells")


def _extreme_count(observed: float, null: np.ndarray, alternative: str) -> tuple[int, int]:
    """(#{finite null values at least as extreme as observed}, #finite null values)."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    tol = 1e-12 * max(1.0, abs(observed))
    if alternative == "greater":
        count = np.count_nonzero(null >= observed - tol)
    elif alternative == "less":
        count = np.count_nonzero(null <= observed + tol)
    else:
        count = np.count_nonzero(np.abs(null) >= abs(observed) - tol)
    return int(count), int(null.size)


def permutation_pvalue(
    observed: float, null: np.ndarray, alternative: str = "two-sided", *, plus_one: bool = True
) -> float:
    """Permutation p-value ``(1 + #{null at least as extreme}) / (1 + n)`` (``plus_one=False``:
    ``#{...} / n``, mt-metrics-eval's ``PermutationSigDiff``).

    ``greater``: extreme = ``null >= observed``; ``less``: ``null <= observed``; ``two-sided``:
    ``|null| >= |observed|`` (the null of a paired swap test is symmetric about 0). A relative tolerance of
    1e-12 treats floating-point near-equality as equality. NaN null values are dropped.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    if not np.isfinite(observed):
        return math.nan
    count, n = _extreme_count(observed, null, alternative)
    if plus_one:
        return float((count + 1) / (n + 1))
    return float(count / n) if n else math.nan


def _zscore(m: np.ndarray) -> np.ndarray:
    vals = m[np.isfinite(m)]
    if vals.size == 0:
        return m.copy()
    sd = vals.std()
    return (m - vals.mean()) / (sd if sd > 0 else 1.0)


def _check_permute(permute: str) -> str:
    if permute not in _PERMUTE:
        raise ValueError(f"permute must be one of {_PERMUTE}, got {permute!r}")
    return permute


def _fixed_pairwise_accuracy(stat: Statistic):
    """``(average, half, epsilon)`` when ``stat`` is item-grouped ``pairwise_accuracy`` (the cell engine
    computes it batched), else None."""
    if not isinstance(stat, ItemWeightedStatistic):
        return None
    from . import accuracy

    if stat.func is not accuracy.pairwise_accuracy:
        return None
    kw = dict(stat.kwargs)
    ties = kw.pop("ties", "strict")
    eps = float(kw.pop("epsilon", 0.0))
    group = kw.pop("group", "item")
    average = kw.pop("average", "items")
    if (
        kw
        or group != "item"
        or ties not in ("strict", "half")
        or average not in ("items", "pairs")
        or eps < 0
    ):
        return None
    return average, ties == "half", eps


def _kendall_b(stat: Statistic):
    """``(average, epsilon)`` when ``stat`` is item-grouped ``kendall_tau`` with ``variant="b"`` (the cell
    engine computes it batched), else None."""
    if not isinstance(stat, ItemWeightedStatistic):
        return None
    from . import correlation

    if stat.func is not correlation.kendall_tau:
        return None
    kw = dict(stat.kwargs)
    variant = kw.pop("variant", "b")
    eps = float(kw.pop("epsilon", 0.0))
    group = kw.pop("group", "item")
    average = kw.pop("average", "items")
    if kw or variant != "b" or group != "item" or average not in ("items", "pairs") or eps < 0:
        return None
    return average, eps


def cell_engine_available(statistic: Any) -> bool:
    """True when ``permute="cells"`` evaluates ``statistic`` batched (tie-calibrated acc_eq, item-grouped
    pairwise accuracy, item-grouped Kendall tau-b); other statistics are called once per permuted
    scorer (slow on large data)."""
    stat = _resolve(statistic)
    return (
        isinstance(stat, TieCalibratedStatistic)
        or _fixed_pairwise_accuracy(stat) is not None
        or _kendall_b(stat) is not None
    )


class _NullEngine:
    """Null values stat(permuted A) - stat(permuted B) for blocks of swap masks, with the per-pair
    precomputation (sorted pairs of tie calibration) done once.

    ``permute="items"``: masks have one column per item (``swap_masks(n_items, ...)``);
    ``"cells"``: one column per score cell, ``item * n_responses + response`` (``swap_masks(n_items *
    n_responses, ...)``, row-major cells).
    """

    def __init__(
        self, stat: Statistic, h, ma, mb, permute: str, batch_size: int | None = None, tables=None
    ):
        self.stat, self.h, self.ma, self.mb = stat, h, ma, mb
        self.permute = permute
        self.batch_size = batch_size
        self.n_units = h.shape[0] if permute == "items" else h.size
        self.cell_table: Any = None
        self.tables = tables
        if permute == "cells":
            from ._cells import CellTable, check_same_cells

            check_same_cells(ma, mb)
            if isinstance(stat, TieCalibratedStatistic):
                self.cell_table = CellTable(h, ma, mb, stat.average)
            else:
                fixed = _fixed_pairwise_accuracy(stat)
                kendall = _kendall_b(stat)
                if fixed is not None:
                    self.cell_table = CellTable(h, ma, mb, fixed[0], fixed=fixed[1:])
                elif kendall is not None:
                    from ._cells import KendallCellTable

                    self.cell_table = KendallCellTable(h, ma, mb, *kendall)
        elif isinstance(stat, TieCalibratedStatistic) and tables is None:
            self.tables = (stat.table(h, ma), stat.table(h, mb))

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        stat, h, ma, mb = self.stat, self.h, self.ma, self.mb
        if self.permute == "cells":
            if self.cell_table is not None:
                return self.cell_table.null([masks])
            from ._cells import generic_cell_null

            return generic_cell_null(stat, h, ma, mb, [masks])
        if isinstance(stat, TieCalibratedStatistic):
            return stat.paired_null(
                h,
                ma,
                mb,
                n_resamples=masks.shape[0],
                batch_size=self.batch_size,
                tables=self.tables,
                masks=masks,
            )
        h2 = np.vstack([h, h])
        m2 = np.vstack([ma, mb])
        bs = self.batch_size or _default_batch(stat, h2, masks.shape[0])
        parts = []
        for i in range(0, masks.shape[0], bs):
            s = masks[i : i + bs]
            wa = np.hstack([1.0 - s, s])
            wb = np.hstack([s, 1.0 - s])
            parts.append(
                np.asarray(stat(h2, m2, wa), dtype=float)
                - np.asarray(stat(h2, m2, wb), dtype=float)
            )
        return np.concatenate(parts) if parts else np.empty(0)


def _permutation_null(
    stat: Statistic, h, ma, mb, n_resamples, seed, batch_size, permute: str = "items"
) -> np.ndarray:
    engine = _NullEngine(stat, h, ma, mb, permute, batch_size)
    return np.concatenate([engine(s) for s in swap_masks(engine.n_units, n_resamples, seed)])


def _early_stop_params(early_stop) -> tuple[int, float, float] | None:
    if early_stop is None or early_stop is False:
        return None
    if early_stop is True:
        return (1000, 0.02, 0.5)  # mt-metrics-eval's PermutationSigDiffParams defaults
    block, lo, hi = early_stop
    return _check_count(block, "early_stop block size"), float(lo), float(hi)


def paired_permutation_test(
    statistic: Any,
    human: Any,
    metric_a: Any,
    metric_b: Any,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alternative: str = "two-sided",
    permute: str = "items",
    standardize: bool | None = None,
    plus_one: bool | None = None,
    early_stop: Any = None,
    return_null: bool = False,
    batch_size: int | None = None,
) -> PermutationResult:
    """Paired permutation test of ``statistic(A) - statistic(B)`` (H0: A and B are exchangeable).

    ``permute="items"``: one fair coin per item decides whether that item's A and B scores are swapped
    (PERM-INPUTS in Deutsch, Dror & Roth 2021); the permuted scorers are evaluated with the doubled-items
    weights (see module docstring). ``permute="cells"``: one fair coin per score cell (item x response)
    decides whether A's and B's scores of that cell are swapped (PERM-BOTH; mt-metrics-eval's
    ``PermutationSigDiff``, used for the WMT metrics tasks' significance clusters); A and B must score the
    same cells. Either way, per-resample refits such as tie calibration are redone on every permuted
    scorer (exactly and batched for :func:`tie_calibrated_statistic`; other statistics in the cell scheme
    are called once per permuted scorer).

    ``alternative``: "greater" tests A better than B (mt-metrics-eval's one-sided test with A = its
    metric 2), "less" A worse, "two-sided" either. ``standardize`` (default: True for cells, False for
    items) z-scores each scorer's matrix over all its scores first, as mt-metrics-eval does.
    ``plus_one`` (default: False for cells, True for items): p-value ``(1 + count) / (1 + k)`` (never 0;
    Phipson & Smyth 2010) or mt-metrics-eval's ``count / k``, where count is the number of resampled
    differences as or more extreme than the observed one (``>=`` for "greater"). ``early_stop``:
    mt-metrics-eval's early stopping, ``(block_size, early_min, early_max)`` or True for its defaults
    ``(1000, 0.02, 0.5)``: after every ``block_size`` resamples stop if ``count / i`` is below ``early_min``
    or above ``early_max``; ``n_resamples`` of the result is the number used.

    Draws: resample r swaps by row r of ``swap_masks(n_units, n_resamples, seed)`` with one unit per item
    (items) or per cell, ``item * n_responses + response`` (cells).
    """
    n_resamples = _check_count(n_resamples, "n_resamples")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    _check_permute(permute)
    stop = _early_stop_params(early_stop)
    cells = permute == "cells"
    standardize = cells if standardize is None else bool(standardize)
    plus_one = (not cells) if plus_one is None else bool(plus_one)
    stat = _resolve(statistic)
    h, ma = _check_pair(human, metric_a)
    _, mb = _check_pair(human, metric_b)
    if standardize:
        ma, mb = _zscore(ma), _zscore(mb)
    sa = float(np.asarray(stat(h, ma), dtype=float))
    sb = float(np.asarray(stat(h, mb), dtype=float))
    delta = sa - sb
    engine = _NullEngine(stat, h, ma, mb, permute, batch_size)
    parts = []
    used = 0
    block = stop[0] if stop else None
    draw = swap_bits if cells else swap_masks  # the same draws (cells: uint8, cheaper)
    for masks in draw(engine.n_units, n_resamples, seed, block):
        parts.append(engine(masks))
        used += masks.shape[0]
        if stop and used % stop[0] == 0 and np.isfinite(delta):
            c, k = _extreme_count(delta, np.concatenate(parts), alternative)
            if k and (c / k < stop[1] or c / k > stop[2]):
                break
    null = np.concatenate(parts)
    if np.isfinite(delta):
        count, _ = _extreme_count(delta, null, alternative)
    else:
        count = None
    p = permutation_pvalue(delta, null, alternative, plus_one=plus_one)
    return PermutationResult(
        statistic=delta,
        pvalue=p,
        statistic_a=sa,
        statistic_b=sb,
        alternative=alternative,
        n_resamples=used,
        seed=seed,
        null_distribution=null if return_null else None,
        permute=permute,
        count=count,
    )


# --------------------------------------------------------------------------------------------------
# tie-calibrated acc_eq: exact batched engine
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PairTable:
    """Per-scorer precomputation: pairs reduced to copy-item bases and sorted epsilon events."""

    n_copies: int
    base: np.ndarray  # (C,) weighted agreement at epsilon = 0, scaled by u_c
    denom: np.ndarray  # (C,) denominator contribution d_c
    key: np.ndarray  # (L,) |metric difference| of event pairs, ascending
    copy: np.ndarray  # (L,) copy-item of each event
    gain: np.ndarray  # (L,) change of scaled agreement when the pair becomes a metric tie


def _pair_table(human: np.ndarray, metric: np.ndarray, average: str) -> _PairTable:
    n, r = human.shape
    jj, kk = np.triu_indices(r, 1)
    hd = human[:, jj] - human[:, kk]
    md = metric[:, jj] - metric[:, kk]
    ok = np.isfinite(hd) & np.isfinite(md)
    npairs = ok.sum(axis=1).astype(float)
    htie = ok & (hd == 0)
    agree_sign = ok & ~htie & (np.sign(md) == np.sign(hd))
    agree0 = (htie & (md == 0)) | agree_sign
    if average == "items":
        u = np.divide(1.0, npairs, out=np.zeros(n), where=npairs > 0)
        denom = (npairs > 0).astype(float)
    else:
        u = np.ones(n)
        denom = npairs
    base = u * agree0.sum(axis=1)
    gain_mat = htie.astype(float) - agree_sign.astype(float)
    ev = ok & (md != 0) & (gain_mat != 0)
    rows, cols = np.nonzero(ev)
    key = np.abs(md[rows, cols])
    gain = gain_mat[rows, cols] * u[rows]
    order = np.argsort(key, kind="stable")
    return _PairTable(
        n, base, denom, snap_sorted(key[order]), rows[order].astype(np.int64), gain[order]
    )


def _merge_tables(a: _PairTable, b: _PairTable) -> _PairTable:
    key = np.concatenate([a.key, b.key])
    order = np.argsort(key, kind="stable")  # two sorted runs: near-linear
    return _PairTable(
        a.n_copies + b.n_copies,
        np.concatenate([a.base, b.base]),
        np.concatenate([a.denom, b.denom]),
        snap_sorted(key[order]),  # near-equal gaps of A and of B become one threshold candidate
        np.concatenate([a.copy, b.copy + a.n_copies])[order],
        np.concatenate([a.gain, b.gain])[order],
    )


class _Grid:
    """Cells of the sorted events, cut at group ends (an epsilon cannot split equal |differences|)."""

    def __init__(
        self,
        t: _PairTable,
        cell: int | None = None,
        cuts: np.ndarray | None = None,
        sums: bool = True,
    ):
        """``cell``: target cell length; ``cuts``: further wanted cell ends (positions in the sorted events;
        moved to the next group end); ``sums=False`` skips the per-copy cell sums (callers that compute
        their own stage-1 products)."""
        L = t.key.size
        self.L = L
        if L == 0:
            self.ge = np.zeros(0, dtype=bool)
            self.starts = self.ends = np.zeros(0, dtype=np.int64)
            self.cell_of = np.zeros(0, dtype=np.int64)
            self.interior = np.zeros(0, dtype=bool)
            self.dense = True
            return
        ge = np.ones(L, dtype=bool)
        ge[:-1] = t.key[1:] != t.key[:-1]
        self.ge = ge
        ge_pos = np.flatnonzero(ge)
        c = cell or max(32, int(math.sqrt(L)))
        targets = np.arange(c - 1, L, c)
        if cuts is not None and len(cuts):
            targets = np.union1d(targets, np.clip(np.asarray(cuts, dtype=np.int64), 0, L - 1))
        cut = ge_pos[np.minimum(np.searchsorted(ge_pos, targets), ge_pos.size - 1)]
        ends = np.unique(np.append(cut, L - 1))
        starts = np.concatenate([[0], ends[:-1] + 1])
        self.starts, self.ends = starts.astype(np.int64), ends.astype(np.int64)
        K = ends.size
        self.cell_of = np.repeat(np.arange(K), ends - starts + 1)
        # a cell has an interior candidate when a group ends strictly before the cell's end
        cum_ge = np.concatenate([[0], np.cumsum(ge)])
        self.interior = (cum_ge[ends] - cum_ge[starts]) > 0
        C = t.n_copies
        self.dense = C * K <= (1 << 22)
        if not sums:
            return
        pos = np.maximum(t.gain, 0.0)
        if self.dense:
            flat = t.copy * K + self.cell_of
            self.cellsum = np.bincount(flat, weights=t.gain, minlength=C * K).reshape(C, K)
            self.cellpos = np.bincount(flat, weights=pos, minlength=C * K).reshape(C, K)
        else:
            self.cellsum = sparse.csr_matrix((t.gain, (t.copy, self.cell_of)), shape=(C, K))
            self.cellpos = sparse.csr_matrix((pos, (t.copy, self.cell_of)), shape=(C, K))


def _rowmat(w: np.ndarray, m) -> np.ndarray:
    if isinstance(m, np.ndarray):
        return w @ m
    return np.asarray((m.T @ w.T).T)


def _maximise(t: _PairTable, grid: _Grid, w: np.ndarray, pre=None):
    """Max over epsilon of the weighted acc_eq numerator for each weight row. Returns (value, eps, denom).

    ``pre`` optionally gives the stage-1 products ``(n0, den, ncell, npos)`` (``w @ base``, ``w @ denom``,
    ``w @ cellsum``, ``w @ cellpos``) when the caller can compute them more cheaply.
    """
    w = np.asarray(w, dtype=float)
    B = w.shape[0]
    if pre is None:
        n0 = w @ t.base
        den = w @ t.denom
        if grid.L == 0:
            return n0, np.zeros(B), den
        ncell = _rowmat(w, grid.cellsum)
        npos = _rowmat(w, grid.cellpos)
    else:
        n0, den, ncell, npos = pre
        if grid.L == 0:
            return n0, np.zeros(B), den
    ncum = n0[:, None] + np.cumsum(ncell, axis=1)  # value at the end of each cell
    prev = np.concatenate([n0[:, None], ncum[:, :-1]], axis=1)
    upper = prev + npos
    allv = np.concatenate([n0[:, None], ncum], axis=1)
    arg = np.argmax(allv, axis=1)
    best = allv[np.arange(B), arg]
    end_keys = t.key[grid.ends]
    eps = np.where(arg == 0, 0.0, end_keys[np.maximum(arg - 1, 0)])
    need = (upper > best[:, None]) & grid.interior[None, :]
    rr, kk = np.nonzero(need)
    if rr.size:
        lengths = grid.ends[kk] - grid.starts[kk] + 1
        lc = int(lengths.max())
        step = max(1, _ELEMENT_BUDGET // (4 * lc))
        ar = np.arange(lc)
        for s0 in range(0, rr.size, step):
            r = rr[s0 : s0 + step]
            k = kk[s0 : s0 + step]
            pos = grid.starts[k][:, None] + ar[None, :]
            inside = (
                pos < grid.ends[k][:, None]
            )  # the cell end itself is already a stage-1 candidate
            pos = np.minimum(pos, grid.L - 1)
            vals = w[r[:, None], t.copy[pos]] * t.gain[pos]
            vals[~inside] = 0.0
            cs = prev[r, k][:, None] + np.cumsum(vals, axis=1)
            cand = inside & grid.ge[pos]
            cs[~cand] = -np.inf
            j = np.argmax(cs, axis=1)
            v = cs[np.arange(r.size), j]
            e = t.key[pos[np.arange(r.size), j]]
            # combine per row: the largest value, ties to the smaller epsilon
            order = np.lexsort((e, -v, r))
            r_o, v_o, e_o = r[order], v[order], e[order]
            first = np.ones(r_o.size, dtype=bool)
            first[1:] = r_o[1:] != r_o[:-1]
            r_o, v_o, e_o = r_o[first], v_o[first], e_o[first]
            better = (v_o > best[r_o]) | ((v_o == best[r_o]) & (e_o < eps[r_o]))
            best[r_o[better]] = v_o[better]
            eps[r_o[better]] = e_o[better]
    return best, eps, den


class TieCalibratedStatistic(Statistic):
    """Item-grouped acc_eq with tie calibration, exact and batched (see module docstring).

    For weight row ``w``: ``max over eps of sum_i w_i * num_i(eps) / sum_i w_i * d_i`` where, for
    ``average="items"``, ``num_i`` is item i's acc_eq at threshold eps (share of its pairs on which metric
    and human agree: both tied, or both untied with the same sign; metric tie = ``|difference| <= eps``) and
    ``d_i = 1`` for items with at least one pair; for ``average="pairs"`` ``num_i`` counts agreeing pairs
    and ``d_i`` is the item's number of pairs. Candidate thresholds: 0 and every |metric difference| of a
    pair; ties in the maximum go to the smaller epsilon. Pairs need both human and metric scores non-NaN.
    Rows whose weighted denominator is 0 give NaN.
    """

    item_weighted = True

    def __init__(self, average: str = "items", batch_size: int | None = None):
        if average not in ("items", "pairs"):
            raise ValueError(f"average must be 'items' or 'pairs', got {average!r}")
        self.average = average
        self.batch_size = batch_size

    def table(self, human, metric) -> _PairTable:
        h, m = _check_pair(human, metric)
        return _pair_table(h, m, self.average)

    def _run(self, t: _PairTable, w: np.ndarray, batch_size: int | None = None):
        grid = _Grid(t)
        bs = (
            batch_size
            or self.batch_size
            or max(1, min(w.shape[0], _ELEMENT_BUDGET // max(1, t.n_copies, grid.L)))
        )
        vals, epss = [], []
        for s0 in range(0, w.shape[0], bs):
            v, e, d = _maximise(t, grid, w[s0 : s0 + bs])
            with np.errstate(invalid="ignore", divide="ignore"):
                vals.append(np.where(d > 0, v / np.where(d > 0, d, 1.0), np.nan))
            epss.append(np.where(d > 0, e, np.nan))
        return np.concatenate(vals), np.concatenate(epss)

    def evaluate(self, human, metric, weights=None):
        """Return ``(statistic, epsilon)``; arrays of shape (B,) for 2-D weights."""
        h, m = _check_pair(human, metric)
        t = _pair_table(h, m, self.average)
        if weights is None:
            w = np.ones((1, h.shape[0]))
        else:
            w = np.asarray(weights, dtype=float)
            if w.shape[-1] != h.shape[0]:
                raise ValueError(f"weights must have {h.shape[0]} columns, got shape {w.shape}")
            if np.any(w < 0):
                raise ValueError("weights must be non-negative")
        v, e = self._run(t, np.atleast_2d(w))
        if weights is None or np.ndim(weights) == 1:
            return float(v[0]), float(e[0])
        return v, e

    def __call__(self, human, metric, weights=None):
        return self.evaluate(human, metric, weights)[0]

    def paired_null(
        self,
        human,
        metric_a,
        metric_b,
        *,
        n_resamples: int,
        seed: int = 0,
        batch_size: int | None = None,
        tables=None,
        masks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Null distribution of stat(permuted A) - stat(permuted B) for the canonical swap masks."""
        if tables is None:
            ta = self.table(human, metric_a)
            tb = self.table(human, metric_b)
        else:
            ta, tb = tables
        n = ta.n_copies
        t = _merge_tables(ta, tb)
        grid = _Grid(t)
        bs = (
            batch_size
            or self.batch_size
            or max(1, min(n_resamples, _ELEMENT_BUDGET // max(1, 2 * n, grid.L)))
        )
        # With the doubled copies [A items | B items], permuted A has weights [1 - s, s] and permuted B
        # [s, 1 - s] = 1 - [1 - s, s]; every stage-1 product therefore needs one (B, n) @ (n, .) product,
        # done for many resamples at once (few large BLAS calls are much cheaper than many small ones).
        top = slice(0, n)
        bot = slice(n, 2 * n)
        vec = np.stack([t.base, t.denom], axis=1)  # (2n, 2)
        vdiff, vtop, vbot = vec[bot] - vec[top], vec[top].sum(axis=0), vec[bot].sum(axis=0)
        fast = grid.L > 0 and grid.dense
        K = grid.ends.size
        if fast:
            mats = np.concatenate([grid.cellsum, grid.cellpos], axis=1)  # (2n, 2K)
            mdiff, mtop, mbot = mats[bot] - mats[top], mats[top].sum(axis=0), mats[bot].sum(axis=0)
        big = max(bs, _ELEMENT_BUDGET // max(1, n, 2 * K))
        mask_blocks: Iterator[np.ndarray]
        if masks is not None:
            mask_blocks = (masks[i : i + big] for i in range(0, masks.shape[0], big))
        else:
            mask_blocks = swap_masks(n, n_resamples, seed, big)
        out = []
        for block in mask_blocks:
            sv = block @ vdiff
            va_all, vb_all = vtop + sv, vbot - sv
            if fast:
                sm = block @ mdiff
                ma_all, mb_all = mtop + sm, mbot - sm
                del sm
            for i in range(0, block.shape[0], bs):
                s = block[i : i + bs]
                wa = np.hstack([1.0 - s, s])
                va_, vb_ = va_all[i : i + bs], vb_all[i : i + bs]
                if fast:
                    ma_, mb_ = ma_all[i : i + bs], mb_all[i : i + bs]
                    a_val, _, da = _maximise(
                        t, grid, wa, (va_[:, 0], va_[:, 1], ma_[:, :K], ma_[:, K:])
                    )
                    b_val, _, db = _maximise(
                        t, grid, 1.0 - wa, (vb_[:, 0], vb_[:, 1], mb_[:, :K], mb_[:, K:])
                    )
                else:
                    a_val, _, da = _maximise(t, grid, wa)
                    b_val, _, db = _maximise(t, grid, 1.0 - wa)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out.append(a_val / da - b_val / db)
        return np.concatenate(out)


def tie_calibrated_statistic(
    *, average: str = "items", batch_size: int | None = None
) -> TieCalibratedStatistic:
    """Exact batched statistic: item-grouped acc_eq with epsilon re-fitted per weight row.

    Equivalent to ``item_weighted(tie_calibrated_accuracy, group="item", average=average)`` but with the
    per-scorer pair sorting shared across resamples (and across scorer pairs in ``significance_matrix``).
    """
    return TieCalibratedStatistic(average=average, batch_size=batch_size)
