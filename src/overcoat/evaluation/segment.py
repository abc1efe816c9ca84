"""Segment level: one scorer's statistics against the human judgments, within items (WMT) or
pooled: tie-calibrated acc_eq, pairwise accuracy, Pearson and Kendall tau-b, each with its
item-bootstrap CI when item-grouped."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metaeval import accuracy as acc
from ..metaeval import correlation as corr
from ..metaeval import resampling as rs
from ._common import ci_only, number, with_ci
from .schema import Estimate
from .settings import MetaEvalSettings


def tie_policies(st: MetaEvalSettings) -> list[str]:
    """The pairwise-accuracy tie policies reported: strict (also beside acc_eq, and the RM view
    of preference data) or half."""
    return ["strict"] if st.ties in ("strict", "calibrated") else ["half"]


def segment_level(
    name: str, H: np.ndarray, M: np.ndarray, st: MetaEvalSettings, preference: bool
) -> tuple[dict[str, Estimate], list[str]]:
    """Every segment-level statistic of scorer ``name`` (matrix ``M``) and its notes."""
    grouped = st.group == "item"
    out: dict[str, Estimate] = {}
    notes: list[str] = []
    if st.ties == "calibrated" and not preference:
        tc = acc.tie_calibrated_accuracy(H, M, group=st.group)
        entry: Estimate = {
            "statistic": number(tc.statistic),
            "epsilon": number(tc.epsilon),
            "all_ties_baseline": number(tc.all_ties_baseline),
            "all_ties": bool(tc.all_ties) and tc.n_pairs > 0,
            "n_pairs": tc.n_pairs,
            "n_groups": tc.n_groups,
            "n_dropped": tc.n_dropped,
        }
        if grouped:
            entry.update(ci_only(with_ci(tc.statistic, rs.tie_calibrated_statistic(), H, M, st)))
        else:
            entry["confidence_interval"] = None
        out["acc_eq"] = entry
        if tc.all_ties and tc.n_pairs > 0:
            notes.append(
                f"{name}: tie calibration chose epsilon={tc.epsilon:g}, which calls "
                f"every pair a tie: its acc_eq equals the all-ties baseline "
                f"({tc.all_ties_baseline:.4f}) that a constant scorer gets"
            )
    for pol in tie_policies(st):
        pa = acc.pairwise_accuracy(H, M, ties=pol, group=st.group)
        entry = {
            "statistic": number(pa.statistic),
            "n_pairs": pa.n_pairs,
            "n_groups": pa.n_groups,
            "n_dropped": pa.n_dropped,
        }
        if grouped:
            entry.update(
                ci_only(
                    with_ci(
                        pa.statistic,
                        rs.item_weighted(acc.pairwise_accuracy, ties=pol, group="item"),
                        H,
                        M,
                        st,
                    )
                )
            )
        out[f"pairwise_accuracy_{pol}"] = entry
    if not preference:
        correlations: tuple[tuple[str, Any, dict[str, Any]], ...] = (
            ("pearson", corr.pearson, {}),
            ("kendall_tau_b", corr.kendall_tau, {"variant": "b"}),
        )
        for key, fn, kw in correlations:
            c = fn(H, M, group=st.group, **kw)
            entry = {
                "statistic": number(c.statistic),
                "n_groups": c.n_groups,
                "n_dropped": c.n_dropped,
            }
            if grouped:
                entry.update(
                    ci_only(
                        with_ci(c.statistic, rs.item_weighted(fn, group="item", **kw), H, M, st)
                    )
                )
            out[key] = entry
    return out, notes
