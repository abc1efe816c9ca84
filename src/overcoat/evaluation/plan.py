"""What a meta-evaluation of one data set computes, decided before any statistic runs: which
levels, which primary statistic, grouped or not (mt-metrics-eval's ``Task`` resolved against the
data). Settings the data cannot support are errors here, before any work."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..data.benchmark_fields import is_preference_data
from ..data.model import Dataset, MatrixLayout
from ..errors import SettingError
from .settings import MetaEvalSettings

log = logging.getLogger("overcoat.evaluation")


@dataclass
class Plan:
    preference: bool  # preference data: pairwise accuracy (RM view), no system level
    primary: str  # the statistic the leaderboard is ranked by (before the ranking rule)
    segment: bool  # segment-level statistics
    system: bool  # system-level statistics (shared systems only)
    grouped: bool  # item-grouped (bootstrap CIs and significance tests need it)
    notes: list[str] = field(default_factory=list)


def primary_statistic(st: MetaEvalSettings, preference: bool, segment: bool) -> str:
    """acc_eq (tie-calibrated) or pairwise accuracy with the tie policy; the RM view (gold ties
    out, a scorer tie wrong) for preference data; system Pearson without the segment level."""
    if not segment:
        return "system_pearson"
    if preference:
        return "pairwise_accuracy_strict" if st.ties != "half" else "pairwise_accuracy_half"
    return "acc_eq" if st.ties == "calibrated" else f"pairwise_accuracy_{st.ties}"


def make_plan(
    ds: Dataset,
    layout: MatrixLayout,
    H: np.ndarray,
    st: MetaEvalSettings,
    k_folds: int | None = None,
) -> Plan:
    """The plan for ``ds`` (human matrix ``H`` in ``layout``) under ``st``; a
    :class:`~overcoat.errors.SettingError` when the data cannot give what ``st`` asks for."""
    lit = SettingError.literal
    preference = is_preference_data(ds)
    notes: list[str] = []
    do_seg = st.level in ("segment", "both")
    do_sys = st.level in ("system", "both") and not preference and layout.column_ids is not None
    if do_sys and H.shape[1] < 2:
        if st.level == "system":
            raise SettingError(
                f"{{level=system}} needs at least two systems; {lit(repr(ds.name))} "
                f"has {H.shape[1]}"
            )
        do_sys = False
        notes.append(f"system level skipped: {ds.name!r} has only {H.shape[1]} system")

    def no_shared_systems(setting: str, instead: str) -> SettingError:
        return SettingError(
            f"{setting} needs responses from shared systems (pointwise judgments "
            f"with one response id per system); {lit(repr(ds.name))} has "
            f"{'preference pairs' if preference else 'per-item candidates'}: "
            f"use {instead}"
        )

    if st.level == "system" and not do_sys:
        raise no_shared_systems("{level=system}", "{level=segment}")
    if st.level == "both" and not do_sys:  # expected for this data: not worth a note (-v logs it)
        log.info("system level skipped: responses are candidates per item, not systems")
    if st.group == "system" and (preference or layout.column_ids is None):
        raise no_shared_systems("{group=system}", "{group=item} or {group=none}")
    if k_folds is not None and not 2 <= k_folds <= ds.n_items:
        raise SettingError(
            f"{{k_folds}} must be between 2 and the number of items ({ds.n_items}), got {k_folds}"
        )
    return Plan(
        preference,
        primary_statistic(st, preference, do_seg),
        do_seg,
        do_sys,
        st.group == "item",
        notes,
    )
