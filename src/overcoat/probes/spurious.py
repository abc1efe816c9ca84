"""Spurious-correlation probes on a data set: length bias and perturbations.

Composes the data layer (responses, human judgments), the scoring engine and the pure estimators
of :mod:`overcoat.metaeval.length_bias` and :mod:`overcoat.metaeval.robustness`.

* :func:`response_lengths` — length of every response in characters or whitespace words.
* :func:`length_probe` — :func:`~overcoat.metaeval.length_bias.length_bias` of scores already
  computed, beside the length-only baseline that the result carries.
* :func:`perturbation_probe` — every response of the data set is perturbed once (seeded by its
  item and response id, so the text does not depend on order or batching) and scored again with
  the same scorer through the same cached engine; then for every within-item pair with a human
  preference the dispreferred response's new score replaces its old one
  (:func:`~overcoat.metaeval.robustness.perturbation_sensitivity`; pairs grouped by item for CIs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa

from ..data.model import Dataset
from ..metaeval.length_bias import LengthBiasResult, length_bias
from ..metaeval.robustness import PerturbationResult, perturbation_sensitivity
from .perturbations import apply_perturbation, get_perturbation

__all__ = [
    "Rewrites",
    "length_probe",
    "perturbation_probe",
    "perturbed_dataset",
    "preference_pairs",
    "response_lengths",
]


def response_lengths(dataset: Dataset, unit: str = "chars") -> np.ndarray:
    """Length of every response (aligned with ``dataset.responses``)."""
    texts = dataset.responses.column("text").to_pylist()
    if unit == "chars":
        return np.array([len(t or "") for t in texts], dtype=float)
    if unit == "words":
        return np.array([len((t or "").split()) for t in texts], dtype=float)
    raise ValueError(f"unit must be one of chars, words, got {unit!r}")


def length_probe(
    dataset: Dataset,
    scores: dict[str, np.ndarray],
    *,
    unit: str = "chars",
    ties: str = "strict",
    tolerance: float = 0.1,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, LengthBiasResult]:
    """Length bias of each scorer's per-response ``scores`` (oriented: higher = better)."""
    H = dataset.human_matrix()
    L = dataset.to_matrix(response_lengths(dataset, unit))
    return {
        name: length_bias(
            H,
            dataset.to_matrix(s),
            L,
            ties=ties,
            tolerance=tolerance,
            n_resamples=n_resamples,
            seed=seed,
        )
        for name, s in scores.items()
    }


def perturbed_dataset(dataset: Dataset, perturbation: str, *, seed: int = 0) -> Dataset:
    """The data set with every response's text perturbed (ids, items and judgments unchanged)."""
    get_perturbation(perturbation)  # a clear error before any work
    r = dataset.responses
    item_ids = r.column("item_id").to_pylist()
    resp_ids = r.column("response_id").to_pylist()
    input_of = dict(
        zip(dataset.items.column("item_id").to_pylist(), dataset.items.column("input").to_pylist())
    )
    texts = [t or "" for t in r.column("text").to_pylist()]
    prompts = [input_of.get(i) or "" for i in item_ids]
    keys = [f"{i}\x1f{j}" for i, j in zip(item_ids, resp_ids)]
    new = apply_perturbation(perturbation, texts, prompts, seed=seed, keys=keys)
    idx = r.column_names.index("text")
    responses = r.set_column(idx, "text", pa.array(new, pa.string()))
    return replace(
        dataset,
        responses=responses,
        name=f"{dataset.name}+{perturbation}",
        info={**dataset.info, "perturbation": perturbation, "perturbation_seed": seed},
    )


class Rewrites:
    """Rewritten copies of one data set, each made once: ``rewrites(("filler", "markdown"))`` is
    the data set padded, then formatted (a chain of perturbations, applied in order; the empty
    chain is the data set itself). Probes that share one object share the rewritten texts."""

    def __init__(self, dataset: Dataset, seed: int = 0):
        self.dataset, self.seed = dataset, seed
        self._memo: dict[tuple[str, ...], Dataset] = {}

    def __call__(self, chain: tuple[str, ...]) -> Dataset:
        if not chain:
            return self.dataset
        if chain not in self._memo:
            self._memo[chain] = perturbed_dataset(self(chain[:-1]), chain[-1], seed=self.seed)
        return self._memo[chain]


def preference_pairs(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every within-item pair with a human preference (human ties and missing scores left out):
    (matrix row, column of the preferred response, column of the other one)."""
    H = dataset.human_matrix()
    jj, kk = np.triu_indices(H.shape[1], 1)
    dh = H[:, jj] - H[:, kk]
    item, p = np.nonzero(np.isfinite(dh) & (dh != 0))
    if item.size == 0:
        raise ValueError(f"{dataset.name!r} has no pair with a human preference to probe")
    first = dh[item, p] > 0
    return item, np.where(first, jj[p], kk[p]), np.where(first, kk[p], jj[p])


def perturbation_probe(
    dataset: Dataset,
    base_scores: np.ndarray,
    score_fn: Callable[[Dataset], np.ndarray],
    perturbations: list[str],
    *,
    seed: int = 0,
    ties: str = "strict",
    n_resamples: int = 1000,
    on_probe: Callable[[str], Any] | None = None,
    rewrites: Rewrites | None = None,
) -> dict[str, PerturbationResult]:
    """Flip rate and score shift under each perturbation of the dispreferred response.

    ``base_scores``: the scorer's per-response scores of ``dataset`` (oriented: higher = better);
    ``score_fn(dataset) -> scores`` scores a (perturbed) data set the same way (the caller binds the
    scorer, cache and workers, and orients the result). ``rewrites``: shared rewritten copies of
    ``dataset`` (see :class:`Rewrites`; its seed is used), e.g. across scorers."""
    rewrites = Rewrites(dataset, seed) if rewrites is None else rewrites
    if rewrites.dataset is not dataset:
        raise ValueError("rewrites were made from another data set")
    before = dataset.to_matrix(np.asarray(base_scores, dtype=float))
    item, pref_col, disp_col = preference_pairs(dataset)
    out: dict[str, PerturbationResult] = {}
    for name in perturbations:
        if on_probe is not None:
            on_probe(name)
        after = dataset.to_matrix(np.asarray(score_fn(rewrites((name,))), dtype=float))
        out[name] = perturbation_sensitivity(
            before[item, pref_col],
            before[item, disp_col],
            after[item, disp_col],
            groups=item,
            ties=ties,
            n_resamples=n_resamples,
            seed=seed,
        )
    return out
