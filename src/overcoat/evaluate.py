"""Meta-evaluation of scored data: the statistics of :mod:`overcoat.metaeval` applied to a
:class:`~overcoat.api.ScoredDataset`, assembled into one JSON-ready result.

This is orchestration only (data -> matrices -> pure statistics); every number comes from a
function in :mod:`overcoat.metaeval`. The JSON schema is documented in the README
("meta-eval JSON").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import __version__
from .api import ScoredDataset
from .errors import OvercoatError
from .metaeval import accuracy as acc
from .metaeval import benchmarks as bench
from .metaeval import correlation as corr
from .metaeval.pairs import within_item_pairs
from .metaeval import resampling as rs
from .metaeval import significance as sig
from .metaeval import system as sysm

SCHEMA_VERSION = 1

log = logging.getLogger("overcoat.evaluate")


@dataclass
class MetaEvalSettings:
    level: str = "both"            # segment | system | both
    group: str = "item"            # none | item | system
    ties: str = "calibrated"       # strict | half | calibrated
    n_resamples: int = 1000
    seed: int = 0
    alpha: float = 0.05
    correction: str = "holm"       # holm | bh | none
    ci_level: float = 0.95
    ci_method: str = "percentile"  # percentile | bca
    significance: bool = True
    # permutation test: auto = cells (WMT's PermutationSigDiff) for pointwise data, items for
    # preference data (docs/metaeval-conventions.md, "Significance tests")
    permute: str = "auto"          # auto | cells | items
    alternative: str = "greater"   # greater (one-sided, both directions) | two-sided
    spa_seed: int | None = None    # None: mt-metrics-eval's SPA permutation stream (seed 4)
    rank_fallback: bool = True     # the ranking rule (RANKING_FALLBACK): see rank_statistic()
    rewardbench_empty_sections: str = "official"  # official | present (RewardBench v1 rule)
    judgebench_ties: str = "judgebench"  # judgebench (JudgeBench's own) | wrong

    #: the CLI flag of each setting (errors name the flag the user typed)
    FLAGS = {"ci_method": "--ci", "n_resamples": "--resamples", "ci_level": "ci_level"}

    def check(self) -> None:
        for name, value, ok in (("level", self.level, ("segment", "system", "both")),
                                ("group", self.group, ("none", "item", "system")),
                                ("ties", self.ties, ("strict", "half", "calibrated")),
                                ("correction", self.correction, ("holm", "bh", "none")),
                                ("ci_method", self.ci_method, ("percentile", "bca")),
                                ("permute", self.permute, ("auto", "cells", "items")),
                                ("alternative", self.alternative, ("greater", "two-sided")),
                                ("rewardbench_empty_sections", self.rewardbench_empty_sections,
                                 bench.REWARDBENCH_EMPTY_SECTIONS),
                                ("judgebench_ties", self.judgebench_ties, ("wrong", "judgebench"))):
            if value not in ok:
                flag = self.FLAGS.get(name, f"--{name.replace('_', '-')}")
                raise OvercoatError(f"{flag} must be one of {', '.join(ok)}, got {value!r}")
        if isinstance(self.n_resamples, bool) or not isinstance(self.n_resamples, int) \
                or self.n_resamples < 1:
            raise OvercoatError(f"--resamples must be an integer of at least 1, "
                                f"got {self.n_resamples!r}")
        for flag, v in (("--alpha", self.alpha), ("ci_level", self.ci_level)):
            try:
                ok = 0.0 < float(v) < 1.0  # False for NaN
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise OvercoatError(f"{flag} must be a number strictly between 0 and 1, "
                                    f"got {v!r}")


@dataclass
class MetaEvalResult:
    """Everything one meta-evaluation produced (``to_json()`` gives the documented schema)."""

    data: dict
    settings: dict
    scorers: list[dict]
    primary: str
    segment: dict[str, dict[str, dict]] = field(default_factory=dict)   # scorer -> stat -> obj
    system: dict[str, dict[str, dict]] = field(default_factory=dict)
    benchmark: dict[str, dict] = field(default_factory=dict)             # scorer -> rule scores
    significance: dict | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ranking: dict | None = None

    def to_json(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "overcoat_version": __version__,
                "data": self.data, "settings": self.settings, "scorers": self.scorers,
                "primary_statistic": self.primary, "segment_level": self.segment,
                "system_level": self.system, "benchmark_rules": self.benchmark,
                "significance": self.significance, "ranking": self.ranking,
                "notes": self.notes, "seconds": round(self.seconds, 3)}

    def leaderboard(self) -> list[dict]:
        """Rows sorted by the primary statistic: scorer, statistic, CI, cluster."""
        rows = []
        for s in self.scorers:
            name = s["name"]
            p = self.segment.get(name, {}).get(self.primary) or \
                self.system.get(name, {}).get(self.primary) or {}
            rows.append({"scorer": name, **p, "cluster": s.get("cluster")})
        # undefined statistics (e.g. Kendall of a constant scorer) go last
        return sorted(rows, key=lambda r: np.inf if r.get("statistic") is None
                      or np.isnan(r["statistic"]) else -r["statistic"])


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if np.isnan(x) else x


def _with_ci(point: float, stat: Any, H: np.ndarray, M: np.ndarray,
             st: MetaEvalSettings) -> dict:
    ci = rs.bootstrap_ci(stat, H, M, n_resamples=st.n_resamples, level=st.ci_level,
                         method=st.ci_method, seed=st.seed)
    lo, hi = ci.confidence_interval
    return {"statistic": _f(point), "confidence_interval": [_f(lo), _f(hi)],
            "standard_error": _f(ci.standard_error)}


def _is_preference_data(scored: ScoredDataset) -> bool:
    j = scored.dataset.judgments
    return j is not None and j.kind == "pairwise"


# The ranking rule. A leaderboard is ranked (and its significance clusters computed) by the primary
# statistic, unless that statistic does not separate most scorers from what a scorer without signal gets:
# then it falls back along this order to the first statistic that does. The no-signal value is the
# all-ties baseline for acc_eq (what a constant scorer gets) and 0 for the correlations.
RANKING_FALLBACK: dict[str, tuple[str, ...]] = {"acc_eq": ("acc_eq", "kendall_tau_b", "pearson")}


def at_no_signal(stat: str, entry: dict | None) -> bool:
    """Whether a scorer's statistic is indistinguishable from the no-signal value: undefined; for acc_eq,
    flagged all-ties or its CI reaches the all-ties baseline; for a correlation, its CI contains 0.
    Without a CI (``--group none``) only an undefined value or the all-ties flag count."""
    if not entry or entry.get("statistic") is None:
        return True
    if stat == "acc_eq":
        if entry.get("all_ties"):
            return True
        base = entry.get("all_ties_baseline")
        if base is None:
            return True
    else:
        base = 0.0
    ci = entry.get("confidence_interval")
    if ci and ci[0] is not None and ci[1] is not None:
        return ci[0] <= base <= ci[1]
    return False


def rank_statistic(segment: dict[str, dict[str, dict]], primary: str,
                   names: list[str]) -> tuple[str, dict]:
    """The statistic the leaderboard is ranked by, and why (the JSON ``ranking`` block).

    The primary statistic *collapses* when more than half of the scorers are at its no-signal value
    (:func:`at_no_signal`): its order among them is noise, and a constant or random scorer could be
    placed first. Then the leaderboard is ranked by the first later statistic of
    :data:`RANKING_FALLBACK` that has fewer scorers at its no-signal value than the primary; if there is
    none, the primary stays and ``informative`` is False (the table says so)."""
    order = [s for s in RANKING_FALLBACK.get(primary, (primary,))
             if s == primary or all(s in segment.get(n, {}) for n in names)]
    at = {s: [n for n in names if at_no_signal(s, segment.get(n, {}).get(s))] for s in order}
    k = {s: len(v) for s, v in at.items()}
    chosen = primary if 2 * k[primary] <= len(names) else \
        next((s for s in order[1:] if k[s] < k[primary]), None)
    info = {"statistic": chosen or primary, "requested": primary, "order": order,
            "at_no_signal": at, "n_scorers": len(names),
            "collapsed": [] if chosen == primary else
            order[:order.index(chosen)] if chosen else list(order),
            "informative": chosen is not None,
            "rule": "the primary statistic collapses when more than half of the scorers are at its "
                    "no-signal value (acc_eq: the all-ties baseline; correlations: 0; 95% CI "
                    "reaching it, or undefined); then rank by the first later statistic in 'order' "
                    "with fewer scorers at their no-signal value"}
    return chosen or primary, info


def meta_evaluate(scored: ScoredDataset, settings: MetaEvalSettings | None = None, *,
                  dev: ScoredDataset | None = None, k_folds: int | None = None,
                  prior_sets: ScoredDataset | None = None,
                  progress: Callable[[str], None] | None = None) -> MetaEvalResult:
    """Meta-evaluate every scorer of ``scored`` against its human judgments.

    Segment level (``group``: item-grouped by default, as WMT): tie-calibrated acc_eq with its
    epsilon and the all-ties baseline (``ties="calibrated"``), or pairwise accuracy with the
    ``strict``/``half`` tie policy; pairwise preference accuracy (gold ties excluded, a scorer tie
    counts wrong: the RewardBench view of the same data); Pearson; Kendall tau-b. System level
    (pointwise judgments with shared response ids only): Pearson, Kendall tau-b and soft pairwise
    accuracy. 95% item-bootstrap CIs, paired permutation tests between all scorers on the primary
    statistic with Holm/BH correction, and WMT-style significance clusters.
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
    notes: list[str] = []
    preference = _is_preference_data(scored) or \
        ds.info.get("format") in ("rewardbench2", "rmbench")
    human_pairs = within_item_pairs(H, H)  # every within-item pair the humans judged
    n_pairs_total = int(human_pairs.n_pairs)
    gold_tie_rate = float(human_pairs.gold_tie.mean()) if n_pairs_total else float("nan")

    primary = ("acc_eq" if st.ties == "calibrated" else f"pairwise_accuracy_{st.ties}")
    if preference:
        primary = "pairwise_accuracy_strict" if st.ties != "half" else "pairwise_accuracy_half"
    do_seg = st.level in ("segment", "both")
    do_sys = st.level in ("system", "both") and not preference and layout.column_ids is not None
    if do_sys and H.shape[1] < 2:
        if st.level == "system":
            raise OvercoatError(f"--level system needs at least two systems; {ds.name!r} has "
                                f"{H.shape[1]}")
        do_sys = False
        notes.append(f"system level skipped: {ds.name!r} has only {H.shape[1]} system")
    def no_shared_systems(flag: str, instead: str) -> OvercoatError:
        return OvercoatError(f"{flag} needs responses from shared systems (pointwise judgments "
                             f"with one response id per system); {ds.name!r} has "
                             f"{'preference pairs' if preference else 'per-item candidates'}: "
                             f"use {instead}")

    if st.level == "system" and not do_sys:
        raise no_shared_systems("--level system", "--level segment")
    if st.level == "both" and not do_sys:  # expected for this data: not worth a note (-v logs it)
        log.info("system level skipped: responses are candidates per item, not systems")
    if not do_seg:
        primary = "system_pearson"

    if st.group == "system" and (preference or layout.column_ids is None):
        raise no_shared_systems("--group system", "--group item or --group none")
    if k_folds is not None and not 2 <= k_folds <= ds.n_items:
        raise OvercoatError(f"--k-folds must be between 2 and the number of items "
                            f"({ds.n_items}), got {k_folds}")
    grouped = st.group == "item"
    seg: dict[str, dict[str, dict]] = {}
    sysl: dict[str, dict[str, dict]] = {}
    for name, M in mats.items():
        say(f"meta-evaluating {name}")
        out: dict[str, dict] = {}
        if do_seg:
            if st.ties == "calibrated" and not preference:
                r = acc.tie_calibrated_accuracy(H, M, group=st.group)
                entry = {"statistic": _f(r.statistic), "epsilon": _f(r.epsilon),
                         "all_ties_baseline": _f(r.all_ties_baseline),
                         "all_ties": bool(r.all_ties) and r.n_pairs > 0,
                         "n_pairs": r.n_pairs, "n_groups": r.n_groups, "n_dropped": r.n_dropped}
                if grouped:
                    entry.update({k: v for k, v in _with_ci(
                        r.statistic, rs.tie_calibrated_statistic(), H, M, st).items()
                        if k != "statistic"})
                else:
                    entry["confidence_interval"] = None
                out["acc_eq"] = entry
                if r.all_ties and r.n_pairs > 0:
                    notes.append(f"{name}: tie calibration chose epsilon={r.epsilon:g}, which calls "
                                 f"every pair a tie: its acc_eq equals the all-ties baseline "
                                 f"({r.all_ties_baseline:.4f}) that a constant scorer gets")
            policies = ["strict"] if st.ties in ("strict", "calibrated") else ["half"]
            if preference and st.ties == "calibrated":
                policies = ["strict"]
            for pol in policies:
                r = acc.pairwise_accuracy(H, M, ties=pol, group=st.group)
                entry = {"statistic": _f(r.statistic), "n_pairs": r.n_pairs,
                         "n_groups": r.n_groups, "n_dropped": r.n_dropped}
                if grouped:
                    entry.update({k: v for k, v in _with_ci(r.statistic, rs.item_weighted(
                        acc.pairwise_accuracy, ties=pol, group="item"), H, M, st).items()
                        if k != "statistic"})
                out[f"pairwise_accuracy_{pol}"] = entry
            if not preference:
                for key, fn, kw in (("pearson", corr.pearson, {}),
                                    ("kendall_tau_b", corr.kendall_tau, {"variant": "b"})):
                    r = fn(H, M, group=st.group, **kw)
                    entry = {"statistic": _f(r.statistic), "n_groups": r.n_groups,
                             "n_dropped": r.n_dropped}
                    if grouped:
                        entry.update({k: v for k, v in _with_ci(r.statistic, rs.item_weighted(
                            fn, group="item", **kw), H, M, st).items() if k != "statistic"})
                    out[key] = entry
        seg[name] = out
        if do_sys:
            so: dict[str, dict] = {}
            r = sysm.system_pearson(H, M)
            so["system_pearson"] = {**_with_ci(r.statistic, rs.item_weighted(sysm.system_pearson),
                                               H, M, st), "n_systems": r.n_systems}
            r = sysm.system_kendall(H, M, variant="b")
            so["system_kendall_tau_b"] = {**_with_ci(r.statistic, rs.item_weighted(
                sysm.system_kendall, variant="b"), H, M, st), "n_systems": r.n_systems}
            spa_seed = sysm.MTME_SPA_SEED if st.spa_seed is None else st.spa_seed
            r = sysm.soft_pairwise_accuracy(H, M, n_permutations=st.n_resamples, seed=spa_seed)
            so["soft_pairwise_accuracy"] = {"statistic": _f(r.statistic),
                                            "n_systems": r.n_systems,
                                            "n_permutations": r.n_permutations,
                                            "permutation_seed": spa_seed}
            sysl[name] = so

    scorers = [{"name": n, "signature": scored.signatures[n],
                "higher_is_better": scored.higher_is_better[n],
                "n_missing": int(np.isnan(scored.scores[n]).sum()),
                "coverage": {"scored": int((~np.isnan(scored.scores[n])).sum()),
                             "total": int(len(scored.scores[n]))}} for n in scored.scores]
    for n in scored.scores:  # what the scorer itself had to say (e.g. a partly matched file)
        notes.extend((scored.stats.get(n) or {}).get("notes", []))

    ranking = None
    if do_seg and primary in RANKING_FALLBACK and st.rank_fallback:
        primary, ranking = rank_statistic(seg, primary, [s["name"] for s in scorers])
        if primary != ranking["requested"]:
            notes.append(f"ranked by {primary}: {ranking['requested']} is at its no-signal value for "
                         f"{len(ranking['at_no_signal'][ranking['requested']])} of {len(scorers)} "
                         f"scorers ({', '.join(ranking['at_no_signal'][ranking['requested']])})")
        elif not ranking["informative"]:
            notes.append("no statistic separates most scorers from a scorer without signal: the "
                         "ranking is not informative")

    significance = None
    if st.significance and len(mats) >= 2 and do_seg:
        say("significance tests")
        if primary == "acc_eq" and grouped:
            stat = rs.tie_calibrated_statistic()
        elif primary.startswith("pairwise_accuracy") and grouped:
            stat = rs.item_weighted(acc.pairwise_accuracy, ties=primary.rsplit("_", 1)[1],
                                    group="item")
        elif primary in ("kendall_tau_b", "pearson") and grouped:
            stat = rs.item_weighted(corr.kendall_tau if primary == "kendall_tau_b" else corr.pearson,
                                    group="item", **({"variant": "b"} if primary == "kendall_tau_b"
                                                     else {}))
        else:
            stat = None
            notes.append("significance tests need an item-grouped statistic (--group item)")
        permute = st.permute if st.permute != "auto" else ("items" if preference else "cells")
        if stat is not None and st.permute == "auto" and permute == "cells" \
                and not rs.cell_engine_available(stat):
            permute = "items"
            notes.append(f"significance: the cell-level (WMT) test has no batched engine for {primary}; "
                         "whole items are permuted (--permute cells forces the cell scheme: one "
                         "statistic call per resample)")
        if stat is not None and permute == "cells":
            missing = {n: np.isnan(M) for n, M in mats.items()}
            first = next(iter(missing.values()))
            if any(not np.array_equal(first, v) for v in missing.values()):
                permute = "items"
                notes.append("significance: scorers score different cells (missing scores), so "
                             "whole items are permuted instead of single cells")
        if stat is not None:
            corr_name = None if st.correction == "none" else st.correction
            # standardize: each scorer is z-scored first (as mt-metrics-eval does), so that scores
            # swapped between scorers of different scales (BLEU 0-100, random 0-1) are on one
            # scale; the statistics used here are invariant to that affine map.
            m = sig.significance_matrix(stat, H, mats, n_resamples=st.n_resamples, seed=st.seed,
                                        correction=corr_name, alternative=st.alternative,
                                        permute=permute, standardize=True)
            # clusters from raw p-values, as WMT ranks metrics (with 1,000 resamples the smallest
            # p-value is 1/1001, which Holm over many pairs can never bring under alpha)
            cl = m.clusters(st.alpha, corrected=False)
            for i, s in enumerate(scorers):
                s["cluster"] = int(cl.ranks[i])
            significance = {
                "statistic": primary,
                "test": ("paired permutation, "
                         + ("one coin per score cell (mt-metrics-eval PermutationSigDiff), "
                            "p = count / k" if permute == "cells" else
                            "whole items swapped, p = (count + 1) / (k + 1)")
                         + ", scorers z-scored, "
                         + ("one-sided" if st.alternative == "greater" else "two-sided")),
                "permute": permute, "alternative": st.alternative,
                "clusters_from": "raw p-values (WMT convention)",
                "names": list(m.names), "statistics": m.statistics, "deltas": m.deltas,
                "pvalues": m.pvalues, "pvalues_corrected": m.pvalues_corrected,
                "correction": st.correction, "alpha": st.alpha,
                "clusters": cl.named(), "n_resamples": st.n_resamples, "seed": st.seed}

    # a scorer without a primary statistic (no scored pair) is in no significance cluster
    unranked = [n for n in mats if (seg.get(n, {}).get(primary) or {}).get("statistic") is None]
    if unranked and significance is not None:
        for s in scorers:
            if s["name"] in unranked:
                s["cluster"] = None
        significance["clusters"] = [c for c in ([n for n in cl if n not in unranked]
                                                for cl in significance["clusters"]) if c]
        notes.append(f"no {primary} for {', '.join(unranked)} (no pair with both scores): "
                     "left out of the significance clusters")

    if dev is not None or k_folds:
        say("calibration on held-out items")
        for name, M in mats.items():
            if dev is not None:
                if name not in dev.scores:
                    raise OvercoatError(f"dev data was not scored with {name!r}")
                Hd = dev.dataset.human_matrix()
                r = acc.cross_fitted_tie_accuracy(H, M, dev=(Hd, dev.matrix(name)))
                seg.setdefault(name, {})["acc_eq_dev_calibrated"] = {
                    "statistic": _f(r.statistic), "epsilon": _f(r.epsilon),
                    "in_sample_statistic": _f(r.in_sample_statistic)}
            if k_folds:
                try:
                    r = acc.cross_fitted_tie_accuracy(H, M, k_folds=k_folds, seed=st.seed)
                except ValueError as e:
                    raise OvercoatError(f"--k-folds {k_folds}: {e}") from None
                seg.setdefault(name, {})["acc_eq_cross_fitted"] = {
                    "statistic": _f(r.statistic), "epsilons": [float(e) for e in
                                                               np.atleast_1d(r.epsilon)],
                    "fold_statistics": [float(x) for x in r.fold_statistics],
                    "in_sample_statistic": _f(r.in_sample_statistic), "k_folds": k_folds}

    rules = {}
    fmt = ds.info.get("format")
    if prior_sets is not None and fmt != "rewardbench":
        raise OvercoatError("--prior-sets applies to RewardBench v1 data only")
    if fmt in ("rewardbench", "rewardbench2", "rmbench", "judgebench"):
        say(f"{fmt} scoring rules")
        prior = None
        if prior_sets is not None:
            pl = prior_sets.dataset.layout()
            prior = {n: (prior_sets.dataset, pl.column_ids, prior_sets.matrix(n))
                     for n in prior_sets.scores}
        resp_items = np.asarray(ds.responses.column("item_id").to_pylist(), dtype=object)
        item_ids = np.asarray(ds.items.column("item_id").to_pylist(), dtype=object)
        for name, M in mats.items():
            if prior is not None and name not in prior:
                raise OvercoatError(f"prior-set data was not scored with {name!r}")
            kw = {"settings": st, "prior": None if prior is None else prior[name]}
            miss = np.isnan(scored.scores[name])
            if not miss.any():
                rules[name] = benchmark_rules(fmt, ds, layout.column_ids, M, **kw)
                continue
            # a missing score is no answer: the rule runs on the items scored in full, or gives
            # no number at all (never a 0 from comparisons with NaN)
            keep = ~np.isin(item_ids, resp_items[miss])
            k, n = int(keep.sum()), len(keep)
            if k == 0:
                rules[name] = {"rule": fmt, "overall": None, "n_items": 0, "n_items_total": n}
                notes.append(f"{name}: no item has a score for every response, so the {fmt} "
                             "rule gives no number")
                continue
            rules[name] = {**benchmark_rules(fmt, ds.filter_items(keep), layout.column_ids,
                                             M[keep], **kw), "n_items": k, "n_items_total": n}
            notes.append(f"{name}: the {fmt} rule is computed on the {k} of {n} items whose "
                         "responses all have a score")
        for name, r in rules.items():
            if "error" in r:  # e.g. an unknown RewardBench subset: say so, not an empty table
                notes.append(f"{name}: {fmt} sections not scored: {r['error']}")
        notes.extend(_benchmark_notes(fmt, rules, st))

    data = {"name": ds.name, "source": ds.source, "n_items": ds.n_items,
            "n_responses": ds.n_responses, "judgment_kind": ds.judgments.kind,
            "n_systems": (H.shape[1] if not preference and layout.column_ids is not None
                          else None),
            "n_pairs": n_pairs_total, "gold_tie_rate": _f(gold_tie_rate),
            "sampled_items": ds.info.get("sampled_items")}
    sett = {k: getattr(st, k) for k in st.__dataclass_fields__}
    return MetaEvalResult(data, sett, scorers, primary, seg, sysl, rules, significance, notes,
                          time.perf_counter() - t0, ranking)


def _column(cols: list[str] | None, name: str) -> int:
    if cols is None or name not in cols:
        raise OvercoatError(f"benchmark rules need a response named {name!r} in every item")
    return cols.index(name)


def _benchmark_notes(fmt: str, rules: dict[str, dict], st: MetaEvalSettings) -> list[str]:
    notes = []
    first = next(iter(rules.values()), {})
    empty = first.get("empty_sections") or []
    if fmt == "rewardbench" and empty:
        if st.rewardbench_empty_sections == "official":
            notes.append(f"RewardBench v1: no data for {', '.join(empty)}: scored 0 and averaged into "
                         "the overall score, as the official calculate_scores_per_section does "
                         "(--rewardbench-empty-sections present: mean of the sections present, "
                         "not an official number)")
        else:
            notes.append(f"RewardBench v1: no data for {', '.join(empty)}: left out of the overall "
                         "score (--rewardbench-empty-sections present): NOT the official RewardBench "
                         "number, which scores them 0")
    if fmt == "rmbench" and first.get("missing_domains"):
        notes.append(f"RM-Bench: no data for {', '.join(first['missing_domains'])}: overall, easy, "
                     "normal and hard average the domains present (RM-Bench's own script needs all "
                     "four)")
    if fmt == "rewardbench" and first.get("prior_sets_ignored"):
        notes.append("Prior Sets: subsets outside anthropic_helpful, anthropic_hhh, shp, summarize "
                     f"are not part of the score and were left out: {first['prior_sets_ignored']}")
    return notes


def _rm_list(m) -> list:
    return [[_f(x) for x in row] for row in np.asarray(m)]


def benchmark_rules(fmt: str, ds, cols: list[str] | None, M: np.ndarray, *,
                    settings: MetaEvalSettings | None = None, prior: tuple | None = None) -> dict:
    """The published scoring rule of a benchmark applied to one scorer's (oriented) matrix, with
    everything the benchmark's own script prints: RewardBench v1 subset accuracies, sections
    (official example-count weights), overall and, with ``prior`` = (prior-set data set, its
    columns, its matrix), the Prior Sets score; RewardBench 2 per-subset best-of-n with 1/k tie
    credit and the Ties score with its components; RM-Bench's 3x3 style matrices (per domain and
    their mean), easy/normal/hard and per-domain values; JudgeBench accuracy overall and per source
    category (a pointwise scorer gives the same verdict in both presentation orders)."""
    st = settings or MetaEvalSettings()
    meta = ds.items.column_names
    if fmt == "rewardbench":
        c, r = M[:, _column(cols, "chosen")], M[:, _column(cols, "rejected")]
        subsets = ds.items.column("subset").to_pylist() if "subset" in meta else ["all"] * len(c)
        kw: dict[str, Any] = {"empty_sections": st.rewardbench_empty_sections}
        ignored: dict[str, int] = {}
        if prior is not None:
            pds, pcols, PM = prior
            pmeta = pds.items.column_names
            if "subset" not in pmeta:
                raise OvercoatError("prior-set data needs a 'subset' column (anthropic_helpful, "
                                    "anthropic_hhh, shp, summarize)")
            psub = np.asarray(pds.items.column("subset").to_pylist(), dtype=object)
            keep = np.isin(psub, bench.REWARDBENCH_PRIOR_SETS)
            for x in psub[~keep].tolist():
                ignored[str(x)] = ignored.get(str(x), 0) + 1
            pc = bench.rewardbench_correct(PM[keep, _column(pcols, "chosen")],
                                           PM[keep, _column(pcols, "rejected")])
            kw.update(prior_correct=pc, prior_subsets=psub[keep])
        try:
            res = bench.rewardbench_scores(bench.rewardbench_correct(c, r), subsets, **kw)
        except ValueError as e:
            return {"error": str(e)}
        out = {"rule": "RewardBench v1", "overall": res.overall,
               "sections": dict(res.section_scores), "subsets": dict(res.subset_accuracy),
               "subset_counts": dict(res.subset_counts), "empty_sections": list(res.empty_sections),
               "empty_sections_rule": res.empty_sections_rule}
        if prior is not None:
            out.update({"prior_sets": res.prior_sets_score,
                        "overall_with_prior_sets": res.overall_with_prior_sets,
                        "prior_subsets": dict(res.prior_subset_accuracy or {}),
                        "prior_sets_ignored": ignored})
        return out
    if fmt == "rewardbench2":
        def num(c):
            tail = c.split("-", 1)[1]
            return int(tail) if tail.isdigit() else 0
        chosen = sorted((i for i, c in enumerate(cols or []) if c.startswith("chosen-")),
                        key=lambda i: num(cols[i]))
        rejected = sorted((i for i, c in enumerate(cols or []) if c.startswith("rejected-")),
                          key=lambda i: num(cols[i]))
        if not chosen or not rejected:
            raise OvercoatError("RewardBench 2 data needs chosen-k and rejected-k responses")
        # columns: every correct answer first, then the rejected ones (NaN-padded per row)
        S = M[:, chosen + rejected]
        n = len(S)
        subsets = np.asarray(ds.items.column("subset").to_pylist() if "subset" in meta
                             else ["all"] * n, dtype=object)
        nc = np.asarray([int(x) if x not in (None, "") else 1 for x in (
            ds.items.column("num_correct").to_pylist() if "num_correct" in meta else [1] * n)])
        ids = ds.items.column("item_id").to_pylist()
        # non-Ties rows: the chosen answer is column 0 and the padding of absent chosen-k is NaN
        try:
            res = bench.rewardbench2_scores(S, subsets, num_correct=nc, ids=ids,
                                            strict_subsets=False)
            out = {"rule": "RewardBench 2 (best-of-n with 1/k tie credit; Ties score)",
                   "overall": res.overall, "subsets": dict(res.subset_scores),
                   "subset_counts": dict(res.subset_counts)}
            if res.ties is not None:
                t = res.ties
                out["ties"] = {k: (_f(v) if isinstance(v, float) else v) for k, v in (
                    ("score", t.score), ("tied_accuracy", t.tied_accuracy),
                    ("ref_accuracy", t.ref_accuracy),
                    ("correctness_preferred", t.correctness_preferred),
                    ("correctness_preferred_hard", t.correctness_preferred_hard),
                    ("correctness_margin_score", t.correctness_margin_score),
                    ("n_ref", t.n_ref), ("n_tied", t.n_tied), ("n_matched", t.n_matched))}
        except ValueError as e:  # Ties rows without the published id form: leave Ties out
            keep = np.array([str(x).lower() != "ties" for x in subsets])
            res = bench.rewardbench2_scores(S[keep], subsets[keep], strict_subsets=False)
            out = {"rule": "RewardBench 2 (best-of-n with 1/k tie credit)",
                   "overall_without_ties": res.overall, "subsets": dict(res.subset_scores),
                   "subset_counts": dict(res.subset_counts),
                   "note": f"Ties subset left out: {e}"}
        return out
    if fmt == "rmbench":
        styles = ("concise", "detailed", "markdown")
        ch = M[:, [_column(cols, f"chosen-{s}") for s in styles]]
        rj = M[:, [_column(cols, f"rejected-{s}") for s in styles]]
        domains = ds.items.column("domain").to_pylist() if "domain" in meta else None
        try:
            res = bench.rmbench_scores(ch, rj, domains)
        except ValueError as e:
            return {"error": str(e)}
        return {"rule": "RM-Bench", "overall": res.overall, "easy": res.overall_easy,
                "normal": res.overall_normal, "hard": res.overall_hard,
                "domains": dict(res.domain_scores),
                "domain_easy": dict(res.easy), "domain_normal": dict(res.normal),
                "domain_hard": dict(res.hard), "domain_counts": dict(res.counts),
                "missing_domains": [d for d in ("chat", "math", "code", "safety")
                                    if domains is not None and d not in res.domain_scores],
                "styles": list(bench.RMBENCH_STYLES),
                "matrix": _rm_list(res.overall_matrix),
                "matrices": {d: _rm_list(m) for d, m in res.matrices.items()}}
    # judgebench: labels from the pairwise judgments
    a, b = M[:, _column(cols, "A")], M[:, _column(cols, "B")]
    jt = ds.judgments.table
    lab = dict(zip(jt.column("item_id").to_pylist(), jt.column("label").to_pylist()))
    labels = ["A>B" if lab.get(i) == "a" else "B>A"
              for i in ds.items.column("item_id").to_pylist()]
    sources = ds.items.column("source").to_pylist() if "source" in meta else [""] * len(a)
    v = np.where(a > b, "A>B", np.where(b > a, "B>A", "A=B"))
    v_sw = np.where(b > a, "A>B", np.where(a > b, "B>A", "A=B"))
    res = bench.judgebench_source_scores(v, v_sw, labels, sources, ties=st.judgebench_ties)
    other = "wrong" if st.judgebench_ties == "judgebench" else "judgebench"
    alt = bench.judgebench_scores(v, v_sw, labels, ties=other)
    ov = res["overall"]
    return {"rule": "JudgeBench (both presentation orders)", "ties": st.judgebench_ties,
            "overall": ov.accuracy,
            "sources": {k: (None if x is None else x.accuracy) for k, x in res.items()
                        if k != "overall"},
            "source_counts": {k: (0 if x is None else x.n_pairs) for k, x in res.items()
                              if k != "overall"},
            "n_pairs": ov.n_pairs, "n_correct": ov.n_correct, "n_incorrect": ov.n_incorrect,
            "n_inconclusive": ov.n_inconclusive, f"overall_ties_{other}": alt.accuracy}
