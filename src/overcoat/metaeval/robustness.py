"""How a scorer reacts to a perturbation of the dispreferred response of each preference pair.

For every pair the human prefers response P over response D. The probe replaces D by a perturbed
D' that is no better than D (padding, flattery, an instruction to the grader ...; see
:mod:`overcoat.probes.perturbations`) and scores it again. With ``s`` the scorer:

* ``accuracy_before`` / ``accuracy_after``: share of pairs with ``s(P) > s(D)`` / ``s(P) > s(D')``
  (a scorer tie counts wrong with ``ties="strict"``, RewardBench; 1/2 with ``"half"``);
* ``flip_rate``: among pairs the scorer got right before, the share it gets wrong after: the
  perturbation alone turned a right verdict into a wrong one;
* ``mean_shift``: mean of ``s(D') - s(D)``, in the scorer's units, and ``standardized_shift``:
  the same divided by the standard deviation of the scorer's unperturbed scores (P and D pooled),
  so scorers on different scales compare.

A robust scorer has a flip rate near 0 and a shift near 0 (below 0 for a damaging control such as
truncation). Percentile bootstrap CIs resample pairs, or groups of pairs (``groups=``, the item),
with one set of draws for every quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._util import check_choice, percentile_interval
from .resampling import bootstrap_weights

__all__ = ["Estimate", "PerturbationResult", "perturbation_sensitivity"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap CI and the number of pairs behind it (NaN if none)."""

    statistic: float
    confidence_interval: tuple[float, float] | None
    n_pairs: int


@dataclass(frozen=True)
class PerturbationResult:
    accuracy_before: Estimate
    accuracy_after: Estimate
    flip_rate: Estimate
    mean_shift: Estimate
    standardized_shift: Estimate
    ties: str
    n_resamples: int


def perturbation_sensitivity(
    preferred: ArrayLike,
    dispreferred: ArrayLike,
    dispreferred_perturbed: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    ties: str = "strict",
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PerturbationResult:
    """Scores of the preferred response, the dispreferred one, and the perturbed dispreferred one
    (one entry per pair; pairs with a NaN anywhere are left out and not counted)."""
    check_choice("ties", ties, ("strict", "half"))
    p = np.asarray(preferred, dtype=float).ravel()
    d = np.asarray(dispreferred, dtype=float).ravel()
    d2 = np.asarray(dispreferred_perturbed, dtype=float).ravel()
    if not p.size == d.size == d2.size:
        raise ValueError(f"score arrays differ in length: {p.size}, {d.size}, {d2.size}")
    g = np.arange(p.size) if groups is None else np.asarray(groups).ravel()
    if g.size != p.size:
        raise ValueError(f"groups has {g.size} entries for {p.size} pairs")
    ok = np.isfinite(p) & np.isfinite(d) & np.isfinite(d2)
    p, d, d2, g = p[ok], d[ok], d2[ok], g[ok]
    if p.size == 0:
        raise ValueError("no pair has all three scores")
    half = 0.5 if ties == "half" else 0.0
    before = np.where(p == d, half, (p > d).astype(float))
    after = np.where(p == d2, half, (p > d2).astype(float))
    was_right = before == 1.0
    flipped = was_right & (after < 1.0)
    shift = d2 - d
    sd = float(np.std(np.concatenate([p, d])))
    gi = np.unique(g, return_inverse=True)[1]
    n_groups = int(gi.max()) + 1
    # per group: sums of [before, after, right, flipped, shift, 1] and the moments for the SD
    cols = np.stack(
        [before, after, was_right, flipped, shift, np.ones_like(p), p + d, p * p + d * d], axis=1
    )
    S = np.zeros((n_groups, cols.shape[1]))
    np.add.at(S, gi, cols)

    def stats(T: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            n = T[..., 5]
            mean2 = T[..., 6] / (2 * n)
            var = T[..., 7] / (2 * n) - mean2 * mean2
            return np.stack(
                [
                    T[..., 0] / n,
                    T[..., 1] / n,
                    T[..., 3] / T[..., 2],
                    T[..., 4] / n,
                    T[..., 4] / n / np.sqrt(np.maximum(var, 0.0)),
                ],
                axis=-1,
            )

    point = stats(S.sum(axis=0))
    point[4] = point[3] / sd if sd > 0 else np.nan  # two-pass SD for the point estimate
    cis: list[tuple[float, float] | None] = [None] * 5
    if n_resamples:
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level!r}")
        mult = np.concatenate(list(bootstrap_weights(n_groups, n_resamples, seed)))
        dist = stats(mult @ S)
        cis = [percentile_interval(dist[:, i], level) for i in range(5)]
    n = int(p.size)
    counts = [n, n, int(was_right.sum()), n, n]

    def est(i: int) -> Estimate:
        ok_i = counts[i] > 0 and np.isfinite(point[i])
        return Estimate(
            float(point[i]) if ok_i else float("nan"), cis[i] if ok_i else None, counts[i]
        )

    return PerturbationResult(est(0), est(1), est(2), est(3), est(4), ties, int(n_resamples))
