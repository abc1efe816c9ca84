"""One meta-evaluation as a composition of steps (the shape of mt-metrics-eval's ``tasks.py``:
settings -> run -> results): plan, segment level, system level, ranking, significance, held-out
calibration, benchmark rules; :class:`MetaEvalResult` holds what they return and writes the
documented JSON (:mod:`overcoat.evaluation.schema`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import __version__
from ..data.fingerprint import dataset_hash
from ..data.scored import ScoredDataset
from ..errors import OvercoatError
from ..metaeval.pairs import within_item_pairs
from ._common import number
from .benchmarks import benchmark_of, benchmark_step, check_prior_sets
from .held_out import held_out_calibration
from .plan import make_plan
from .ranking import ranking_step
from .schema import (
    SCHEMA_VERSION,
    BenchmarkScores,
    DataInfo,
    Level,
    MetaEvalDoc,
    Ranking,
    ScorerEntry,
    Significance,
)
from .segment import segment_level
from .settings import MetaEvalSettings
from .significance import drop_unranked, significance_step
from .system import system_level


@dataclass
class MetaEvalResult:
    """Everything one meta-evaluation produced (``to_json()`` gives the documented schema)."""

    data: DataInfo
    settings: dict
    scorers: list[ScorerEntry]
    primary: str
    segment: Level = field(default_factory=dict)  # scorer -> statistic -> estimate
    system: Level = field(default_factory=dict)
    benchmark: dict[str, BenchmarkScores] = field(default_factory=dict)  # scorer -> rule scores
    significance: Significance | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ranking: Ranking | None = None

    def to_json(self) -> MetaEvalDoc:
        return {
            "schema_version": SCHEMA_VERSION,
            "overcoat_version": __version__,
            "data": self.data,
            "settings": self.settings,
            "scorers": self.scorers,
            "primary_statistic": self.primary,
            "segment_level": self.segment,
            "system_level": self.system,
            "benchmark_rules": self.benchmark,
            "significance": self.significance,
            "ranking": self.ranking,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def scorer_entries(scored: ScoredDataset) -> list[ScorerEntry]:
    out: list[ScorerEntry] = []
    for n in scored.scores:
        e: ScorerEntry = {
            "name": n,
            "signature": scored.signatures[n],
            "higher_is_better": scored.higher_is_better[n],
            "n_missing": int(np.isnan(scored.scores[n]).sum()),
            "coverage": {
                "scored": int((~np.isnan(scored.scores[n])).sum()),
                "total": int(len(scored.scores[n])),
            },
        }
        judge = (scored.stats.get(n) or {}).get("judge")
        if judge:  # an LLM judge's counts: failed by reason, unparsable, logprob fallbacks
            e["judge"] = judge
        out.append(e)
    return out


def data_info(scored: ScoredDataset, H: np.ndarray, n_systems: int | None) -> DataInfo:
    ds = scored.dataset
    human_pairs = within_item_pairs(H, H)  # every within-item pair the humans judged
    n_pairs = int(human_pairs.n_pairs)
    gold_tie_rate = float(human_pairs.gold_tie.mean()) if n_pairs else float("nan")
    return {
        "name": ds.name,
        "source": ds.source,
        "n_items": ds.n_items,
        "n_responses": ds.n_responses,
        "judgment_kind": ds.judgments.kind,  # type: ignore
        "n_systems": n_systems,
        "n_pairs": n_pairs,
        "gold_tie_rate": number(gold_tie_rate),
        "sampled_items": ds.info.get("sampled_items"),
        "data_hash": dataset_hash(ds),
    }


def meta_evaluate(
    scored: ScoredDataset,
    settings: MetaEvalSettings | None = None,
    *,
    dev: ScoredDataset | None = None,
    k_folds: int | None = None,
    prior_sets: ScoredDataset | None = None,
    progress: Callable[[str], None] | None = None,
) -> MetaEvalResult:
    """Meta-evaluate every scorer of ``scored`` against its human judgments.

    Segment level (``group``: item-grouped by default, as WMT): tie-calibrated acc_eq with its
    epsilon and the all-ties baseline (``ties="calibrated"``), or pairwise accuracy with the
    ``strict``/``half`` tie policy; pairwise preference accuracy (gold ties excluded, a scorer tie
    counts wrong: the RewardBench view of the same data); Pearson; Kendall tau-b. System level
    (pointwise judgments with shared response ids only): Pearson, Kendall tau-b and soft pairwise
    accuracy. 95% item-bootstrap CIs, paired permutation tests between all scorers on the primary
    statistic with Holm/BH correction, and WMT-style significance clusters; held-out tie
    calibration (``dev``, ``k_folds``); the benchmark's own scoring rule (``prior_sets``:
    RewardBench v1's Prior Sets).
    """
    st = settings or MetaEvalSettings()
    st.check()
    t0 = time.perf_counter()
    say = progress or (lambda s: None)
    ds = scored.dataset
    if ds.judgments is None:
        raise OvercoatError(f"data set {ds.name!r} has no human judgments to meta-evaluate against")
    layout = ds.layout()
    H = ds.human_matrix(layout)
    mats = {n: scored.matrix(n) for n in scored.scores}
    plan = make_plan(ds, layout, H, st, k_folds)
    bm = benchmark_of(ds)
    check_prior_sets(bm, prior_sets)
    notes = list(plan.notes)

    seg: Level = {}
    sysl: Level = {}
    for name, M in mats.items():
        say(f"meta-evaluating {name}")
        seg[name], seg_notes = (
            segment_level(name, H, M, st, plan.preference) if plan.segment else ({}, [])
        )
        notes += seg_notes
        if plan.system:
            sysl[name] = system_level(H, M, st)

    scorers = scorer_entries(scored)
    for n in scored.scores:  # what the scorer itself had to say (e.g. a partly matched file)
        notes.extend((scored.stats.get(n) or {}).get("notes", []))

    primary, ranking, rank_notes = (
        ranking_step(seg, plan.primary, list(mats), st)
        if plan.segment
        else (plan.primary, None, [])
    )
    notes += rank_notes

    significance = None
    if st.significance and len(mats) >= 2 and plan.segment:
        significance, clusters, sig_notes = significance_step(
            H, mats, primary, plan.preference, st, say=say
        )
        notes += sig_notes
        if significance is not None and clusters is not None:
            notes += drop_unranked(significance, clusters, seg, primary)
            for s in scorers:
                s["cluster"] = clusters[s["name"]]

    if dev is not None or k_folds:
        say("calibration on held-out items")
        for name, M in mats.items():
            seg.setdefault(name, {}).update(
                held_out_calibration(name, H, M, st, dev=dev, k_folds=k_folds)
            )

    rules, rule_notes = benchmark_step(
        bm, scored, mats, layout.column_ids, st, prior_sets=prior_sets, say=say
    )
    notes += rule_notes

    n_systems = H.shape[1] if not plan.preference and layout.column_ids is not None else None
    return MetaEvalResult(
        data_info(scored, H, n_systems),
        st.as_dict(),
        scorers,
        primary,
        seg,
        sysl,
        rules,
        significance,
        notes,
        time.perf_counter() - t0,
        ranking,
    )
