"""Length bias of a scorer on preference pairs: how much of its accuracy is length.

On every within-item pair with a human preference (gold ties left out), with ``L`` the response
lengths (any unit: characters, tokens):

* ``score_length_correlation``: item-grouped Kendall tau-b between the scorer's scores and the
  lengths (does the scorer rank longer responses higher within an item?), and the same for the
  human scores as the reference the data itself carries;
* accuracy on all pairs, and split by where the human-preferred response is the **longer** one,
  the **shorter** one, or of **equal** length. A length-biased scorer is right on the first and
  wrong on the second;
* ``length_balanced_accuracy`` = (acc_longer + acc_shorter) / 2: what the scorer gets when the
  data's share of longer-preferred pairs is taken out (a length-only scorer gets exactly 1/2 if
  it never ties);
* ``length_matched_accuracy``: accuracy on pairs whose lengths differ by at most ``tolerance``
  of the longer one;
* ``length_baseline``: the accuracy of "prefer the longer response" on the same pairs (the
  length-only baseline that every scorer should be read beside).

Correctness follows :func:`overcoat.metaeval.accuracy.pairwise_accuracy`: a scorer tie counts
wrong (``ties="strict"``, RewardBench) or 1/2 (``ties="half"``). Confidence intervals are
percentile bootstraps over items (one set of item draws for every quantity, so they are paired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._util import as_matrices, check_choice, percentile_interval
from .correlation import kendall_tau
from .pairs import within_item_pairs
from .resampling import bootstrap_weights

__all__ = ["LengthBiasResult", "SubsetAccuracy", "length_bias"]


@dataclass(frozen=True)
class SubsetAccuracy:
    """Accuracy on a subset of pairs; NaN (and no CI) when the subset is empty."""

    statistic: float
    confidence_interval: tuple[float, float] | None
    n_pairs: int


@dataclass(frozen=True)
class LengthBiasResult:
    score_length_correlation: SubsetAccuracy
    human_length_correlation: SubsetAccuracy
    accuracy: SubsetAccuracy
    longer_preferred: SubsetAccuracy
    shorter_preferred: SubsetAccuracy
    equal_length: SubsetAccuracy
    length_balanced_accuracy: SubsetAccuracy
    length_matched_accuracy: SubsetAccuracy
    length_baseline: SubsetAccuracy
    share_longer_preferred: float
    tolerance: float
    ties: str
    n_resamples: int


def length_bias(
    human: ArrayLike,
    metric: ArrayLike,
    length: ArrayLike,
    *,
    ties: str = "strict",
    tolerance: float = 0.1,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> LengthBiasResult:
    """Length-bias summary of one scorer; ``human``, ``metric``, ``length`` are (items x responses)."""
    check_choice("ties", ties, ("strict", "half"))
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must lie in [0, 1), got {tolerance!r}")
    if n_resamples and not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    h, m = as_matrices(human, metric)
    L = np.asarray(length, dtype=float)
    if L.shape != h.shape:
        raise ValueError(f"length must have the shape of the scores {h.shape}, got {L.shape}")
    if (L[np.isfinite(L)] < 0).any():
        raise ValueError("lengths must be non-negative")
    pairs = within_item_pairs(h, m)
    item, j, k = pairs.item, pairs.j, pairs.k
    lj, lk = L[item, j], L[item, k]
    keep = (pairs.d_human != 0) & np.isfinite(lj) & np.isfinite(lk)
    item, dh, dm = item[keep], pairs.d_human[keep], pairs.d_metric[keep]
    lj, lk = lj[keep], lk[keep]
    dl = lj - lk
    half = 0.5 if ties == "half" else 0.0
    correct = np.where(dm == 0, half, (np.sign(dm) == np.sign(dh)).astype(float))
    base = np.where(dl == 0, half, (np.sign(dl) == np.sign(dh)).astype(float))
    pref_len_sign = np.sign(dl) * np.sign(dh)  # +1: the preferred response is the longer one
    longer, shorter, equal = pref_len_sign > 0, pref_len_sign < 0, pref_len_sign == 0
    matched = np.abs(dl) <= tolerance * np.maximum(lj, lk)

    n_items = h.shape[0]
    subsets = {
        "all": np.ones(dh.size, bool),
        "longer": longer,
        "shorter": shorter,
        "equal": equal,
        "matched": matched,
    }
    # per item: correct and count in every subset, plus the baseline on all pairs
    sums = np.stack(
        [np.bincount(item, correct * s, minlength=n_items) for s in subsets.values()]
        + [np.bincount(item, base, minlength=n_items)],
        axis=1,
    )
    counts = np.stack(
        [np.bincount(item, s.astype(float), minlength=n_items) for s in subsets.values()], axis=1
    )

    def values(S: np.ndarray, C: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = S[..., :5] / C
            out = dict(zip(subsets, np.moveaxis(acc, -1, 0)))
            out["balanced"] = 0.5 * (out["longer"] + out["shorter"])
            out["baseline"] = S[..., 5] / C[..., 0]
        return out

    point = values(sums.sum(axis=0), counts.sum(axis=0))
    tau_m = kendall_tau(L, m, variant="b", group="item")
    tau_h = kendall_tau(L, h, variant="b", group="item")
    dists: dict[str, np.ndarray] = {}
    if n_resamples:
        mult = np.concatenate(list(bootstrap_weights(n_items, n_resamples, seed)))
        dists = values(mult @ sums, mult @ counts)
        dists["tau_m"] = np.asarray(
            kendall_tau(L, m, variant="b", group="item", weights=mult).statistic
        )
        dists["tau_h"] = np.asarray(
            kendall_tau(L, h, variant="b", group="item", weights=mult).statistic
        )

    def res(key: str, stat: float | np.ndarray, n: int) -> SubsetAccuracy:
        ci = percentile_interval(dists[key], level) if n_resamples and n > 0 else None
        return SubsetAccuracy(float(stat) if n > 0 else float("nan"), ci, int(n))

    n_all = int(dh.size)
    n_l, n_s = int(longer.sum()), int(shorter.sum())
    return LengthBiasResult(
        score_length_correlation=res("tau_m", tau_m.statistic, tau_m.n_pairs),
        human_length_correlation=res("tau_h", tau_h.statistic, tau_h.n_pairs),
        accuracy=res("all", point["all"], n_all),
        longer_preferred=res("longer", point["longer"], n_l),
        shorter_preferred=res("shorter", point["shorter"], n_s),
        equal_length=res("equal", point["equal"], int(equal.sum())),
        length_balanced_accuracy=res("balanced", point["balanced"], min(n_l, n_s) and n_l + n_s),
        length_matched_accuracy=res("matched", point["matched"], int(matched.sum())),
        length_baseline=res("baseline", point["baseline"], n_all),
        share_longer_preferred=float(n_l / n_all) if n_all else float("nan"),
        tolerance=float(tolerance),
        ties=ties,
        n_resamples=int(n_resamples),
    )
