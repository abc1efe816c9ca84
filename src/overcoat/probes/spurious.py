"""Spurious-correlation probes on a data set: length bias and perturbations.

Composes the data layer (responses, human judgments), the scoring engine and the pure estimators
of :mod:`overcoat.metaeval.length_bias` and :mod:`overcoat.metaeval.robustness`.

* :func:`response_lengths` — length of every response in characters or whitespace words.
* :func:`length_probe` — :func:`~overcoat.metaeval.length_bias.length_bias` of scores already
  computed, beside the length-only baseline that the result carries.
* :func:`sample_pairs` — the within-item pairs with a human preference, or a seeded sample of
  them stratified by item (each item keeps its share of the pairs, rounded up or down at random;
  every pair has the same chance n/N): rescoring rewritten responses is the expensive part of a
  probe, so the perturbation and synthetic-style probes run on a sample by default (``api.probe``:
  500 pairs per data set), and the sample size and the population size are reported.
* :func:`perturbation_probe` — the dispreferred response of every (sampled) pair is perturbed
  (seeded by its item and response id, so the text does not depend on order, batching or which
  other responses are rewritten) and scored again with the same scorer through the same cached
  engine; its new score replaces its old one
  (:func:`~overcoat.metaeval.robustness.perturbation_sensitivity`; pairs grouped by item for CIs:
  the bootstrap resamples the sampled pairs' items, so a CI covers the sampling too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..data.model import Dataset, MatrixLayout
from ..metaeval.length_bias import LengthBiasResult, length_bias
from ..metaeval.robustness import PerturbationResult, perturbation_sensitivity
from .perturbations import apply_perturbation, get_perturbation

__all__ = [
    "PairSample",
    "Rewrites",
    "length_probe",
    "perturbation_probe",
    "perturbed_dataset",
    "preference_pairs",
    "response_lengths",
    "sample_pairs",
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


def perturbed_dataset(
    dataset: Dataset, perturbation: str, *, seed: int = 0, rows: np.ndarray | None = None
) -> Dataset:
    """The data set with every response's text perturbed (ids, items and judgments unchanged);
    ``rows``: only these responses (indices into ``dataset.responses``, in that order) are kept
    and perturbed, each to the same text it gets when all are."""
    get_perturbation(perturbation)  # a clear error before any work
    if rows is not None:
        dataset = _subset(dataset, rows)
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
    chain is the data set itself). ``rewrites(chain, rows)``: only the responses ``rows``
    (indices into ``dataset.responses``, sorted), rewritten to the same texts. Probes that share
    one object share the rewritten texts."""

    def __init__(self, dataset: Dataset, seed: int = 0):
        self.dataset, self.seed = dataset, seed
        self._memo: dict[tuple[tuple[str, ...], bytes | None], Dataset] = {}
        self._layout: MatrixLayout | None = None

    def __call__(self, chain: tuple[str, ...], rows: np.ndarray | None = None) -> Dataset:
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if rows.size == self.dataset.n_responses and (rows == np.arange(rows.size)).all():
                rows = None  # every response: the full copy
        if not chain and rows is None:
            return self.dataset
        key = (chain, None if rows is None else rows.tobytes())
        if key not in self._memo:
            if chain:
                first = self(chain[:-1], rows)
                self._memo[key] = perturbed_dataset(first, chain[-1], seed=self.seed)
            else:
                assert rows is not None  # the empty chain of every row returned above
                self._memo[key] = _subset(self.dataset, rows)
        return self._memo[key]

    def scatter(self, rewritten: Dataset, scores: np.ndarray) -> np.ndarray:
        """``scores`` of a rewritten copy (aligned with its responses) in the matrix form of the
        original data set (NaN for the responses the copy left out)."""
        if self._layout is None:
            self._layout = self.dataset.layout()
        return self._layout.scatter(
            rewritten.responses.column("item_id"),
            rewritten.responses.column("response_id"),
            np.asarray(scores, dtype=float),
        )


def _subset(dataset: Dataset, rows: np.ndarray) -> Dataset:
    """The responses ``rows`` of ``dataset``, with the judgments of their items (items kept)."""
    responses = dataset.responses.take(pa.array(rows, pa.int64()))
    judgments = dataset.judgments
    if judgments is not None:
        t = judgments.table
        keep = pc.is_in(t.column("item_id"), value_set=pc.unique(responses.column("item_id")))
        judgments = replace(judgments, table=t.filter(keep))
    return replace(dataset, responses=responses, judgments=judgments)


@dataclass(frozen=True)
class PairSample:
    """Within-item preference pairs (matrix row, column of the preferred response, column of the
    other one), in the order of :func:`preference_pairs`, and how many there are in all."""

    item: np.ndarray
    preferred: np.ndarray
    dispreferred: np.ndarray
    n_total: int

    @property
    def n_sampled(self) -> int:
        return int(self.item.size)

    @property
    def sampled(self) -> bool:
        return self.n_sampled < self.n_total

    def response_rows(self, dataset: Dataset, side: str = "dispreferred") -> np.ndarray:
        """Sorted indices into ``dataset.responses`` of the pairs' ``dispreferred`` responses,
        of ``both`` sides, or of every response of their ``items`` (what a pairwise judge needs:
        it compares an item's responses)."""
        if side not in ("dispreferred", "both", "items"):
            raise ValueError(f"side must be one of dispreferred, both, items, got {side!r}")
        layout = dataset.layout()
        r, c = layout.positions()
        if side == "items":
            return np.flatnonzero(np.isin(r, self.item))
        cols = (
            [self.dispreferred] if side == "dispreferred" else [self.preferred, self.dispreferred]
        )
        index = np.full((layout.n_rows, layout.n_cols), -1, dtype=np.int64)
        index[r, c] = np.arange(r.size)
        rows = np.unique(np.concatenate([index[self.item, col] for col in cols]))
        return rows[rows >= 0]


def sample_pairs(dataset: Dataset, n: int | None = None, *, seed: int = 0) -> PairSample:
    """The within-item pairs with a human preference (:func:`preference_pairs`), or a seeded
    sample of ``n`` of them (``None``, or ``n`` at least their number: all, in their order).

    The sample is stratified by item: items are put in a random order and the pairs of each item
    in a random order within it, then every (N/n)-th pair is taken from a random start
    (systematic sampling). Each item keeps its share n·m/N of the pairs rounded down or up at
    random, every pair has probability n/N, and the result is deterministic under ``seed``.
    The sampled pairs keep the order of :func:`preference_pairs`."""
    item, pref, disp = preference_pairs(dataset)
    N = int(item.size)
    if n is None or n >= N:
        return PairSample(item, pref, disp, N)
    if n < 1:
        raise ValueError(f"the number of pairs to sample must be at least 1, got {n}")
    rng = np.random.default_rng([seed, 0x9A125])  # its own stream: not the bootstrap's draws
    item_rank = rng.permutation(int(item.max()) + 1)
    order = np.lexsort((rng.random(N), item_rank[item]))
    step = N / n
    pos = np.floor(rng.random() * step + np.arange(n) * step).astype(np.int64)
    take = np.sort(order[np.minimum(pos, N - 1)])
    return PairSample(item[take], pref[take], disp[take], N)


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
    pairs: PairSample | None = None,
    whole_items: bool = False,
    on_step: Callable[[int, int], Any] | None = None,
) -> dict[str, PerturbationResult]:
    """Flip rate and score shift under each perturbation of the dispreferred response.

    ``base_scores``: the scorer's per-response scores of ``dataset`` (oriented: higher = better);
    ``score_fn(dataset) -> scores`` scores a (perturbed) data set the same way (the caller binds the
    scorer, cache and workers, and orients the result; the data set holds only the responses to
    rescore). ``rewrites``: shared rewritten copies of ``dataset`` (see :class:`Rewrites`; its
    seed is used), e.g. across scorers. ``pairs``: the pairs to probe (:func:`sample_pairs`;
    default all): only their dispreferred responses are rewritten and rescored (with
    ``whole_items``, every response of their items: what a pairwise judge needs).
    ``on_step(done, total)`` is called after each perturbation (progress)."""
    rewrites = Rewrites(dataset, seed) if rewrites is None else rewrites
    if rewrites.dataset is not dataset:
        raise ValueError("rewrites were made from another data set")
    before = dataset.to_matrix(np.asarray(base_scores, dtype=float))
    pairs = sample_pairs(dataset) if pairs is None else pairs
    item, pref_col, disp_col = pairs.item, pairs.preferred, pairs.dispreferred
    rows = pairs.response_rows(dataset, "items" if whole_items else "dispreferred")
    out: dict[str, PerturbationResult] = {}
    for step, name in enumerate(perturbations):
        if on_probe is not None:
            on_probe(name)
        rewritten = rewrites((name,), rows)
        after = rewrites.scatter(rewritten, score_fn(rewritten))
        out[name] = perturbation_sensitivity(
            before[item, pref_col],
            before[item, disp_col],
            after[item, disp_col],
            groups=item,
            ties=ties,
            n_resamples=n_resamples,
            seed=seed,
        )
        if on_step is not None:
            on_step(step + 1, len(perturbations))
    return out
