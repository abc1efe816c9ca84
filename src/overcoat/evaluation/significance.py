"""Significance between scorers: paired permutation tests on the ranking statistic, corrected
p-values and WMT-style significance clusters (from raw p-values)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..metaeval import accuracy as acc
from ..metaeval import correlation as corr
from ..metaeval import resampling as rs
from ..metaeval import significance as sig
from .schema import Level, Significance
from .settings import MetaEvalSettings


def permutation_statistic(primary: str, grouped: bool) -> Any | None:
    """The item-grouped statistic the permutation test recomputes (None: not testable)."""
    if not grouped:
        return None
    if primary == "acc_eq":
        return rs.tie_calibrated_statistic()
    if primary.startswith("pairwise_accuracy"):
        return rs.item_weighted(acc.pairwise_accuracy, ties=primary.rsplit("_", 1)[1], group="item")
    if primary == "kendall_tau_b":
        return rs.item_weighted(corr.kendall_tau, group="item", variant="b")
    if primary == "pearson":
        return rs.item_weighted(corr.pearson, group="item")
    return None


def permutation_scheme(
    st: MetaEvalSettings, stat: Any, primary: str, preference: bool, mats: dict[str, np.ndarray]
) -> tuple[str, list[str]]:
    """``cells`` (one coin per score cell, WMT's PermutationSigDiff) or ``items`` (whole items),
    and the notes when ``auto`` or missing scores changed it."""
    notes = []
    permute = st.permute if st.permute != "auto" else ("items" if preference else "cells")
    if st.permute == "auto" and permute == "cells" and not rs.cell_engine_available(stat):
        permute = "items"
        notes.append(
            f"significance: the cell-level (WMT) test has no batched engine for {primary}; "
            "whole items are permuted (--permute cells forces the cell scheme: one "
            "statistic call per resample)"
        )
    if permute == "cells":
        missing = {n: np.isnan(M) for n, M in mats.items()}
        first = next(iter(missing.values()))
        if any(not np.array_equal(first, v) for v in missing.values()):
            permute = "items"
            notes.append(
                "significance: scorers score different cells (missing scores), so "
                "whole items are permuted instead of single cells"
            )
    return permute, notes


def significance_step(
    H: np.ndarray,
    mats: dict[str, np.ndarray],
    primary: str,
    preference: bool,
    st: MetaEvalSettings,
    *,
    say: Callable[[str], None] = lambda s: None,
) -> tuple[Significance | None, dict[str, int | None] | None, list[str]]:
    """Permutation tests between every pair of scorers on ``primary``: the ``significance`` block,
    each scorer's cluster (1 = best) and notes. None, None when there is nothing to test."""
    say("significance tests")
    stat = permutation_statistic(primary, st.group == "item")
    if stat is None:
        return None, None, ["significance tests need an item-grouped statistic (--group item)"]
    permute, notes = permutation_scheme(st, stat, primary, preference, mats)
    corr_name = None if st.correction == "none" else st.correction
    # standardize: each scorer is z-scored first (as mt-metrics-eval does), so that scores
    # swapped between scorers of different scales (BLEU 0-100, random 0-1) are on one
    # scale; the statistics used here are invariant to that affine map.
    m = sig.significance_matrix(
        stat,
        H,
        mats,
        n_resamples=st.n_resamples,
        seed=st.seed,
        correction=corr_name,
        alternative=st.alternative,
        permute=permute,
        standardize=True,
    )
    # clusters from raw p-values, as WMT ranks metrics (with 1,000 resamples the smallest
    # p-value is 1/1001, which Holm over many pairs can never bring under alpha)
    cl = m.clusters(st.alpha, corrected=False)
    clusters: dict[str, int | None] = {n: int(cl.ranks[i]) for i, n in enumerate(m.names)}
    block: Significance = {
        "statistic": primary,
        "test": (
            "paired permutation, "
            + (
                "one coin per score cell (mt-metrics-eval PermutationSigDiff), p = count / k"
                if permute == "cells"
                else "whole items swapped, p = (count + 1) / (k + 1)"
            )
            + ", scorers z-scored, "
            + ("one-sided" if st.alternative == "greater" else "two-sided")
        ),
        "permute": permute,
        "alternative": st.alternative,
        "clusters_from": "raw p-values (WMT convention)",
        "names": list(m.names),
        "statistics": m.statistics,
        "deltas": m.deltas,
        "pvalues": m.pvalues,
        "pvalues_corrected": m.pvalues_corrected,
        "correction": st.correction,
        "alpha": st.alpha,
        "clusters": cl.named(),
        "n_resamples": st.n_resamples,
        "seed": st.seed,
    }
    return block, clusters, notes


def drop_unranked(
    block: Significance, clusters: dict[str, int | None], segment: Level, primary: str
) -> list[str]:
    """A scorer without a primary statistic (no scored pair) is in no significance cluster:
    its cluster becomes None and it leaves the cluster lists (in place); the note says so."""
    unranked = [
        n for n in clusters if (segment.get(n, {}).get(primary) or {}).get("statistic") is None
    ]
    if not unranked:
        return []
    for n in unranked:
        clusters[n] = None
    block["clusters"] = [
        c for c in ([n for n in cl if n not in unranked] for cl in block["clusters"]) if c
    ]
    return [
        f"no {primary} for {', '.join(unranked)} (no pair with both scores): "
        "left out of the significance clusters"
    ]
