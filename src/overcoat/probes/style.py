"""Style over substance: RM-Bench's 3x3 style matrix as a probe, on any preference data.

Two sources, reported as ``source`` in the JSON:

* ``"data"`` — the data carries style variants: RM-Bench (or any data whose items have the
  responses ``chosen-concise``, ``chosen-detailed``, ``chosen-markdown`` and the same for
  ``rejected``). The matrix is RM-Bench's own computation on the scorer's scores
  (:func:`overcoat.metaeval.benchmarks.rmbench_scores`: per-domain matrices, easy / normal / hard,
  overall as the mean over domains; the numbers equal ``meta-eval``'s RM-Bench rule), with
  item-bootstrap CIs resampled within each domain (:func:`overcoat.metaeval.style.style_matrix`).
* ``"synthetic"`` — any other preference data. Every within-item pair with a human preference
  gives a row: the preferred response as "chosen", the other as "rejected", each rewritten into
  three styles by the style-changing perturbations of :mod:`overcoat.probes.perturbations`, in
  RM-Bench's order of increasing style:

  ===================  =====================================  ================================
  ``plain``            the response as it is                  (RM-Bench: concise)
  ``padded``           ``filler``: a content-free paragraph   (RM-Bench: detailed, plain)
                       appended
  ``padded_markdown``  ``filler`` then ``markdown``: the      (RM-Bench: detailed, markdown)
                       padded text as a bulleted list under
                       a bold header
  ===================  =====================================  ================================

  ``M[i, j]`` = accuracy with the preferred response in style i and the other in style j (a
  scorer tie counts wrong, as in RM-Bench); easy / normal / hard are the lower triangle
  (preferred response dressed up more), diagonal and upper triangle (the dispreferred one dressed
  up more). The diagonal's first cell is the scorer's plain accuracy (strict ties); a scorer that
  reads content and not style has a flat matrix. Pairs are grouped by item for the bootstrap.
  The rewrites add no content, so unlike RM-Bench's hand-written variants they test surface
  style only: ``padded`` is longer without being more detailed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.benchmark_fields import RMBENCH, RMBENCH_STYLES
from ..data.model import Dataset
from ..metaeval.benchmarks import RMBENCH_DOMAIN_MAP
from ..metaeval.benchmarks import RMBENCH_STYLES as RMBENCH_STYLE_NAMES
from ..metaeval.style import StyleMatrixResult, style_matrix
from .spurious import PairSample, Rewrites, sample_pairs

__all__ = [
    "SYNTHETIC_STYLES",
    "data_style_matrix",
    "has_style_variants",
    "styled_dataset",
    "synthetic_style_matrix",
]

#: the synthetic styles, in order of increasing style: name -> chain of perturbations
SYNTHETIC_STYLES: dict[str, tuple[str, ...]] = {
    "plain": (),
    "padded": ("filler",),
    "padded_markdown": ("filler", "markdown"),
}


def _variant_ids() -> list[str]:
    return [f"{k}-{s}" for k in ("chosen", "rejected") for s in RMBENCH_STYLES]


def has_style_variants(dataset: Dataset) -> bool:
    """Whether the items carry RM-Bench's six style variants (by response id)."""
    cols = dataset.layout().column_ids
    return cols is not None and all(v in cols for v in _variant_ids())


def data_style_matrix(
    dataset: Dataset, scores: np.ndarray, *, n_resamples: int = 1000, seed: int = 0
) -> StyleMatrixResult:
    """RM-Bench's matrix of one scorer's per-response ``scores`` (oriented) on data with style
    variants. RM-Bench's domains are mapped as its scoring does (the two safety subsets pool);
    other data's ``domain`` values are kept as they are."""
    layout = dataset.layout()
    cols = layout.column_ids
    if cols is None or not has_style_variants(dataset):
        raise ValueError(
            f"{dataset.name!r} has no style variants (responses {', '.join(_variant_ids())})"
        )
    x = RMBENCH.inputs(dataset, list(cols), dataset.to_matrix(scores, layout))
    rmbench = dataset.info.get("format") == RMBENCH.format
    domains = None
    if x.domains is not None:
        domains = ["(none)" if d in (None, "") else str(d) for d in x.domains]
    return style_matrix(
        x.chosen,
        x.rejected,
        domains=domains,
        domain_map=RMBENCH_DOMAIN_MAP if rmbench else None,
        styles=RMBENCH_STYLE_NAMES,
        n_resamples=n_resamples,
        seed=seed,
    )


def styled_dataset(
    dataset: Dataset, style: str, *, seed: int = 0, rewrites: Rewrites | None = None
) -> Dataset:
    """The data set with every response rewritten into synthetic ``style`` (``rewrites``: shared
    rewritten copies of ``dataset``, whose seed is then used)."""
    try:
        chain = SYNTHETIC_STYLES[style]
    except KeyError:
        raise ValueError(
            f"style must be one of {', '.join(SYNTHETIC_STYLES)}, got {style!r}"
        ) from None
    rewrites = Rewrites(dataset, seed) if rewrites is None else rewrites
    if rewrites.dataset is not dataset:
        raise ValueError("rewrites were made from another data set")
    return rewrites(chain)


def synthetic_style_matrix(
    dataset: Dataset,
    base_scores: np.ndarray,
    score_fn: Callable[[Dataset], np.ndarray],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    rewrites: Rewrites | None = None,
    pairs: PairSample | None = None,
    whole_items: bool = False,
    on_step: Callable[[int, int], Any] | None = None,
) -> StyleMatrixResult:
    """The style matrix of preference pairs rewritten into :data:`SYNTHETIC_STYLES`.
    ``base_scores``: the scorer's (oriented) scores of ``dataset``; ``score_fn(dataset)`` scores a
    rewritten data set the same way, ``rewrites``, ``pairs`` (only their two responses are
    rewritten and rescored), ``whole_items`` and ``on_step(done, total)`` (after each rescored
    style) as in
    :func:`~overcoat.probes.spurious.perturbation_probe`."""
    rewrites = Rewrites(dataset, seed) if rewrites is None else rewrites
    if rewrites.dataset is not dataset:
        raise ValueError("rewrites were made from another data set")
    pairs = sample_pairs(dataset) if pairs is None else pairs
    item, pref_col, disp_col = pairs.item, pairs.preferred, pairs.dispreferred
    rows = pairs.response_rows(dataset, "items" if whole_items else "both")
    n = item.size
    chosen, rejected = np.empty((n, 3)), np.empty((n, 3))
    for k, style in enumerate(SYNTHETIC_STYLES):
        if k == 0:
            M = dataset.to_matrix(np.asarray(base_scores, dtype=float))
        else:
            rewritten = rewrites(SYNTHETIC_STYLES[style], rows)
            M = rewrites.scatter(rewritten, score_fn(rewritten))
            if on_step is not None:
                on_step(k, len(SYNTHETIC_STYLES) - 1)
        chosen[:, k] = M[item, pref_col]
        rejected[:, k] = M[item, disp_col]
    return style_matrix(
        chosen,
        rejected,
        groups=item,
        styles=tuple(SYNTHETIC_STYLES),
        n_resamples=n_resamples,
        seed=seed,
    )
