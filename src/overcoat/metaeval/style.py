"""RM-Bench's style matrix with bootstrap confidence intervals.

RM-Bench (Liu et al. 2025) scores a reward model on examples that each carry the chosen and the
rejected answer in three styles (concise, detailed plain, detailed markdown): ``M[i, j]`` = share
of examples whose chosen answer in style ``i`` scores strictly above the rejected answer in style
``j``. easy = mean of the strict lower triangle (chosen in the fancier style), normal = the
diagonal, hard = the strict upper triangle (rejected in the fancier style); per domain, and
overall as the mean over domains. The point estimates here *are* RM-Bench's
(:func:`overcoat.metaeval.benchmarks.rmbench_scores`, tested against a literal reimplementation
of RM-Bench's ``compute_accuracy``); this module adds percentile bootstrap CIs.

The bootstrap resamples ``groups`` (items; default: every example its own group) with
replacement **within each domain**, so every resample has every domain, as RM-Bench's overall
scores are means over domains. Domain ``k`` (in order of first appearance) draws its groups (in
sorted order) from ``default_rng([seed, k])``; with one domain from ``default_rng(seed)``, the
canonical draws of :func:`overcoat.metaeval.resampling.bootstrap_weights`. One set of draws
serves every cell and summary, so the intervals are paired.

The rows need not be RM-Bench's examples: :mod:`overcoat.probes.style` builds the same arrays
from preference pairs whose two responses were rewritten into three styles, with several pairs
per item (``groups`` = the item).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._util import percentile_interval
from .benchmarks import RMBENCH_DOMAIN_MAP, RMBENCH_STYLES, rmbench_scores
from .resampling import bootstrap_weights

__all__ = ["StyleEstimate", "StyleMatrixResult", "style_matrix"]

_LOWER = np.tril_indices(3, -1)
_UPPER = np.triu_indices(3, 1)
_DIAG = np.diag_indices(3)


@dataclass(frozen=True)
class StyleEstimate:
    statistic: float
    confidence_interval: tuple[float, float] | None
    n_rows: int


@dataclass(frozen=True)
class StyleMatrixResult:
    """``matrix[i][j]``: accuracy with the chosen response in ``styles[i]`` and the rejected one
    in ``styles[j]`` (overall: the mean of the domain matrices), ``matrix_ci`` its elementwise
    percentile intervals ``(low 3x3, high 3x3)``; ``easy``, ``normal``, ``hard``, ``overall``
    (mean of the three) with CIs; ``domains[d]`` the same per domain (``n_rows`` = rows)."""

    styles: tuple[str, ...]
    matrix: np.ndarray
    matrix_ci: tuple[np.ndarray, np.ndarray] | None
    easy: StyleEstimate
    normal: StyleEstimate
    hard: StyleEstimate
    overall: StyleEstimate
    domains: Mapping[str, Mapping[str, object]]
    n_rows: int
    n_groups: int
    n_missing: int
    n_resamples: int


def _summaries(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) matrices -> (..., 4): easy, normal, hard, their mean."""
    e = m[..., _LOWER[0], _LOWER[1]].mean(axis=-1)
    n = m[..., _DIAG[0], _DIAG[1]].mean(axis=-1)
    h = m[..., _UPPER[0], _UPPER[1]].mean(axis=-1)
    return np.stack([e, n, h, (e + n + h) / 3.0], axis=-1)


def style_matrix(
    chosen: ArrayLike,
    rejected: ArrayLike,
    *,
    domains: ArrayLike | None = None,
    domain_map: Mapping[str, str] | None = RMBENCH_DOMAIN_MAP,
    groups: ArrayLike | None = None,
    styles: tuple[str, ...] = RMBENCH_STYLES,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> StyleMatrixResult:
    """The style matrix of (n, 3) ``chosen`` and ``rejected`` scores (columns in ``styles``
    order; oriented, higher = better) with item-bootstrap CIs. ``domains``, ``domain_map`` as in
    :func:`~overcoat.metaeval.benchmarks.rmbench_scores`; ``groups``: the resampling unit per
    row (each group inside one domain). A NaN score compares as False (counts wrong), as in
    RM-Bench; ``n_missing`` counts the rows that have one."""
    c = np.asarray(chosen, dtype=float)
    r = np.asarray(rejected, dtype=float)
    if c.ndim != 2 or c.shape != r.shape or c.shape[1] != 3:
        raise ValueError("chosen and rejected must both be (n, 3), one column per style")
    if len(styles) != 3:
        raise ValueError(f"need three style names, got {len(styles)}")
    n = c.shape[0]
    if n == 0:
        raise ValueError("no example to score")
    if n_resamples and not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    # the published computation gives every point estimate
    res = rmbench_scores(c, r, domains, domain_map=domain_map)
    if domains is None:
        dom = np.zeros(n, dtype=np.int64)
    else:
        raw = np.asarray(domains, dtype=object).reshape(-1).tolist()
        mapped = [domain_map[x] for x in raw] if domain_map is not None else raw
        dom = np.array([list(res.matrices).index(x) for x in mapped], dtype=np.int64)
    g = np.arange(n) if groups is None else np.asarray(groups).reshape(-1)
    if g.size != n:
        raise ValueError(f"groups has {g.size} entries for {n} rows")
    gi = np.unique(g, return_inverse=True)[1].reshape(-1)
    n_groups = int(gi.max()) + 1
    g_dom = np.full(n_groups, -1)
    g_dom[gi] = dom
    if np.any(g_dom[gi] != dom):
        raise ValueError("a group spans two domains; groups must lie inside one domain")

    names = list(res.matrices)
    n_dom = len(names)
    wins = (c[:, :, None] > r[:, None, :]).reshape(n, 9).astype(float)
    S = np.zeros((n_groups, 9))
    np.add.at(S, gi, wins)
    cnt = np.bincount(gi, minlength=n_groups).astype(float)

    dist = None  # (B, n_dom, 3, 3)
    if n_resamples:
        dist = np.empty((n_resamples, n_dom, 3, 3))
        for k in range(n_dom):
            members = np.flatnonzero(g_dom == k)
            rng_seed = seed if n_dom == 1 else [seed, k]
            W = np.concatenate(list(bootstrap_weights(members.size, n_resamples, rng_seed)))  # type: ignore[arg-type]
            with np.errstate(invalid="ignore", divide="ignore"):
                dist[:, k] = ((W @ S[members]) / (W @ cnt[members])[:, None]).reshape(-1, 3, 3)

    def est(stat: float, d: np.ndarray | None, size: int) -> StyleEstimate:
        ci = percentile_interval(d, level) if d is not None else None
        return StyleEstimate(float(stat), ci, size)

    overall_sum = _summaries(dist.mean(axis=1)) if dist is not None else None
    dom_sum = _summaries(dist) if dist is not None else None  # (B, n_dom, 4)
    domains_out: dict[str, dict[str, object]] = {}
    for k, d in enumerate(names):
        size = int(res.counts[d])
        vals = (res.easy[d], res.normal[d], res.hard[d], res.domain_scores[d])
        domains_out[d] = {
            "matrix": np.asarray(res.matrices[d]),
            **{
                key: est(v, None if dom_sum is None else dom_sum[:, k, i], size)
                for i, (key, v) in enumerate(zip(("easy", "normal", "hard", "overall"), vals))
            },
        }
    m_ci = None
    if dist is not None:
        om = dist.mean(axis=1)
        a = (1.0 - level) / 2.0
        lo, hi = np.quantile(om, [a, 1.0 - a], axis=0)
        m_ci = (lo, hi)
    tot = (res.overall_easy, res.overall_normal, res.overall_hard, res.overall)
    e, nm, h, ov = (
        est(v, None if overall_sum is None else overall_sum[:, i], n) for i, v in enumerate(tot)
    )
    missing = int((np.isnan(c).any(axis=1) | np.isnan(r).any(axis=1)).sum())
    assert res.overall_matrix is not None
    return StyleMatrixResult(
        styles=tuple(styles),
        matrix=np.asarray(res.overall_matrix),
        matrix_ci=m_ci,
        easy=e,
        normal=nm,
        hard=h,
        overall=ov,
        domains=domains_out,
        n_rows=n,
        n_groups=n_groups,
        n_missing=missing,
        n_resamples=int(n_resamples),
    )
