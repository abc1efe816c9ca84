"""Segment level: one scorer's statistics against the human judgments, within items (WMT) or
pooled: tie-calibrated acc_eq, pairwise accuracy, Pearson and Kendall tau-b, each with its
item-bootstrap CI when item-grouped."""

from __future__ import annotations

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


def segment_level(name: str, H: np.ndarray, M: np.ndarray, st: MetaEvalSettings,
                  preference: bool) -> tuple[dict[str, Estimate], list[str]]:
    """Every segment-level statistic of scorer ``name`` (matrix ``M``) and its notes."""
    grouped = st.group == "item"
    out: dict[str, Estimate] = {}
    notes: list[str] = []
    if st.ties == "calibrated" and not preference:
        r = acc.tie_calibrated_accuracy(H, M, group=st.group)
        entry: Estimate = {"statistic": number(r.statistic), "epsilon": number(r.epsilon),
                           "all_ties_baseline": number(r.all_ties_baseline),
                           "all_ties": bool(r.all_ties) and r.n_pairs > 0,
                           "n_pairs": r.n_pairs, "n_groups": r.n_groups, "n_dropped": r.n_dropped}
        if grouped:
            entry.update(ci_only(with_ci(r.statistic, rs.tie_calibrated_statistic(), H, M, st)))
        else:
            entry["confidence_interval"] = None
        out["acc_eq"] = entry
        if r.all_ties and r.n_pairs > 0:
            notes.append(f"{name}: tie calibration chose epsilon={r.epsilon:g}, which calls "
                         f"every pair a tie: its acc_eq equals the all-ties baseline "
                         f"({r.all_ties_baseline:.4f}) that a constant scorer gets")
    for pol in tie_policies(st):
        r = acc.pairwise_accuracy(H, M, ties=pol, group=st.group)
        entry = {"statistic": number(r.statistic), "n_pairs": r.n_pairs,
                 "n_groups": r.n_groups, "n_dropped": r.n_dropped}
        if grouped:
            entry.update(ci_only(with_ci(r.statistic, rs.item_weighted(
                acc.pairwise_accuracy, ties=pol, group="item"), H, M, st)))
        out[f"pairwise_accuracy_{pol}"] = entry
    if not preference:
        for key, fn, kw in (("pearson", corr.pearson, {}),
                            ("kendall_tau_b", corr.kendall_tau, {"variant": "b"})):
            r = fn(H, M, group=st.group, **kw)
            entry = {"statistic": number(r.statistic), "n_groups": r.n_groups,
                     "n_dropped": r.n_dropped}
            if grouped:
                entry.update(ci_only(with_ci(r.statistic, rs.item_weighted(
                    fn, group="item", **kw), H, M, st)))
            out[key] = entry
    return out, notes
