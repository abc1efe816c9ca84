"""Benchmarks as objects: each knows its data fields (:mod:`overcoat.data.benchmark_fields`), its
published scoring rule (the pure functions of :mod:`overcoat.metaeval.benchmarks`) and the keys of
its scores in the JSON document, so the three live together.

``benchmark_of(dataset)`` gives the benchmark of a loaded data set; those without a published rule
(HH-RLHF and other preference pairs, MQM / WMT-style pointwise scores) are plain
:class:`Benchmark` objects, which say whether the data is judged as preferences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..data import benchmark_fields as fields
from ..data.model import Dataset
from ..data.scored import ScoredDataset
from ..errors import OvercoatError, SettingError
from ..metaeval import benchmarks as bench
from ._common import number
from .schema import (
    BenchmarkScores,
    JudgeBenchScores,
    RewardBench2Scores,
    RewardBenchScores,
    RMBenchScores,
    RuleError,
)
from .settings import MetaEvalSettings

#: a prior-set data set, its matrix columns and one scorer's matrix
Prior = tuple[Dataset, list[str] | None, np.ndarray]


class Benchmark:
    """A data set's benchmark. The base class has no rule (preference pairs, pointwise scores)."""

    has_rule = False
    takes_prior_sets = False

    def __init__(self, data: fields.BenchmarkFields):
        self.data = data

    @property
    def format(self) -> str:
        return self.data.format

    def is_preference(self, ds: Dataset) -> bool:
        return fields.is_preference_data(ds)

    def scores(
        self,
        ds: Dataset,
        cols: list[str] | None,
        M: np.ndarray,
        st: MetaEvalSettings,
        prior: Prior | None = None,
    ) -> BenchmarkScores:
        """The rule applied to one scorer's (oriented) matrix ``M``."""
        raise NotImplementedError(f"{self.data.title} has no published scoring rule")

    def notes(self, rules: dict[str, BenchmarkScores], st: MetaEvalSettings) -> list[str]:
        """Notes on the rule's results that hold for every scorer (e.g. sections without data)."""
        return []

    def __repr__(self) -> str:
        return f"<benchmark {self.data.title}>"


class RewardBenchV1(Benchmark):
    """Subset accuracies, sections (official example-count weights), overall and, with ``prior``,
    the Prior Sets score."""

    has_rule = True
    takes_prior_sets = True
    data: fields.RewardBenchFields

    def scores(self, ds, cols, M, st, prior=None) -> RewardBenchScores | RuleError:
        x = self.data.inputs(ds, cols, M)
        kw: dict[str, Any] = {"empty_sections": st.rewardbench_empty_sections}
        ignored: dict[str, int] = {}
        if prior is not None:
            p = self.data.prior_inputs(*prior)
            psub = np.asarray(p.subsets, dtype=object)
            keep = np.isin(psub, bench.REWARDBENCH_PRIOR_SETS)
            for s in psub[~keep].tolist():
                ignored[str(s)] = ignored.get(str(s), 0) + 1
            pc = bench.rewardbench_correct(p.chosen[keep], p.rejected[keep])
            kw.update(prior_correct=pc, prior_subsets=psub[keep])
        try:
            res = bench.rewardbench_scores(
                bench.rewardbench_correct(x.chosen, x.rejected), x.subsets, **kw
            )
        except ValueError as e:
            return {"error": str(e)}
        out: RewardBenchScores = {
            "rule": "RewardBench v1",
            "overall": res.overall,
            "sections": dict(res.section_scores),
            "subsets": dict(res.subset_accuracy),
            "subset_counts": dict(res.subset_counts),
            "empty_sections": list(res.empty_sections),
            "empty_sections_rule": res.empty_sections_rule,
        }
        if prior is not None:
            out.update(
                {
                    "prior_sets": res.prior_sets_score,
                    "overall_with_prior_sets": res.overall_with_prior_sets,
                    "prior_subsets": dict(res.prior_subset_accuracy or {}),
                    "prior_sets_ignored": ignored,
                }
            )
        return out

    def notes(self, rules, st):
        notes = []
        first: dict = next(iter(rules.values()), {})
        empty = first.get("empty_sections") or []
        if empty:
            if st.rewardbench_empty_sections == "official":
                notes.append(
                    f"RewardBench v1: no data for {', '.join(empty)}: scored 0 and averaged "
                    "into the overall score, as the official calculate_scores_per_section "
                    "does (--rewardbench-empty-sections present: mean of the sections "
                    "present, not an official number)"
                )
            else:
                notes.append(
                    f"RewardBench v1: no data for {', '.join(empty)}: left out of the "
                    "overall score (--rewardbench-empty-sections present): NOT the official "
                    "RewardBench number, which scores them 0"
                )
        if first.get("prior_sets_ignored"):
            notes.append(
                "Prior Sets: subsets outside anthropic_helpful, anthropic_hhh, shp, "
                "summarize are not part of the score and were left out: "
                f"{first['prior_sets_ignored']}"
            )
        return notes


class RewardBench2(Benchmark):
    """Per-subset best-of-n with 1/k tie credit, overall, and the Ties score with its components
    (left out, with a note, when the Ties rows lack the published id form)."""

    has_rule = True
    data: fields.RewardBench2Fields

    def scores(self, ds, cols, M, st, prior=None) -> RewardBench2Scores | RuleError:
        x = self.data.inputs(ds, cols, M)
        # non-Ties rows: the chosen answer is column 0 and the padding of absent chosen-k is NaN
        try:
            res = bench.rewardbench2_scores(
                x.scores, x.subsets, num_correct=x.num_correct, ids=x.ids, strict_subsets=False
            )
            out: RewardBench2Scores = {
                "rule": "RewardBench 2 (best-of-n with 1/k tie credit; Ties score)",
                "overall": res.overall,
                "subsets": dict(res.subset_scores),
                "subset_counts": dict(res.subset_counts),
            }
            if res.ties is not None:
                t = res.ties
                out["ties"] = {
                    "score": _float(t.score),
                    "tied_accuracy": _float(t.tied_accuracy),
                    "ref_accuracy": _float(t.ref_accuracy),
                    "correctness_preferred": _float(t.correctness_preferred),
                    "correctness_preferred_hard": _float(t.correctness_preferred_hard),
                    "correctness_margin_score": _float(t.correctness_margin_score),
                    "n_ref": t.n_ref,
                    "n_tied": t.n_tied,
                    "n_matched": t.n_matched,
                }
        except ValueError as e:  # Ties rows without the published id form: leave Ties out
            keep = np.array([str(s).lower() != "ties" for s in x.subsets])
            res = bench.rewardbench2_scores(x.scores[keep], x.subsets[keep], strict_subsets=False)
            out = {
                "rule": "RewardBench 2 (best-of-n with 1/k tie credit)",
                "overall_without_ties": res.overall,
                "subsets": dict(res.subset_scores),
                "subset_counts": dict(res.subset_counts),
                "note": f"Ties subset left out: {e}",
            }
        return out


def _float(v: Any) -> Any:
    """A float made JSON-ready (NaN -> None); anything else as it is."""
    return number(v) if isinstance(v, float) else v


def _matrix_list(m) -> list:
    return [[number(x) for x in row] for row in np.asarray(m)]


class RMBench(Benchmark):
    """The 3x3 style matrices (per domain and their mean), easy / normal / hard and per-domain
    values."""

    has_rule = True
    data: fields.RMBenchFields

    def scores(self, ds, cols, M, st, prior=None) -> RMBenchScores | RuleError:
        x = self.data.inputs(ds, cols, M)
        try:
            res = bench.rmbench_scores(x.chosen, x.rejected, x.domains)
        except ValueError as e:
            return {"error": str(e)}
        return {
            "rule": "RM-Bench",
            "overall": res.overall,
            "easy": res.overall_easy,
            "normal": res.overall_normal,
            "hard": res.overall_hard,
            "domains": dict(res.domain_scores),
            "domain_easy": dict(res.easy),
            "domain_normal": dict(res.normal),
            "domain_hard": dict(res.hard),
            "domain_counts": dict(res.counts),
            "missing_domains": [
                d
                for d in ("chat", "math", "code", "safety")
                if x.domains is not None and d not in res.domain_scores
            ],
            "styles": list(bench.RMBENCH_STYLES),
            "matrix": _matrix_list(res.overall_matrix),
            "matrices": {d: _matrix_list(m) for d, m in res.matrices.items()},
        }

    def notes(self, rules, st):
        first: dict = next(iter(rules.values()), {})
        if first.get("missing_domains"):
            return [
                f"RM-Bench: no data for {', '.join(first['missing_domains'])}: overall, easy, "
                "normal and hard average the domains present (RM-Bench's own script needs all "
                "four)"
            ]
        return []


class JudgeBench(Benchmark):
    """Accuracy overall and per source category, from the verdicts in both presentation orders
    (a pointwise scorer gives the same verdict in both); labels from the pairwise judgments."""

    has_rule = True
    data: fields.JudgeBenchFields

    def scores(self, ds, cols, M, st, prior=None) -> JudgeBenchScores | RuleError:
        x = self.data.inputs(ds, cols, M)
        a, b = x.a, x.b
        v = np.where(a > b, "A>B", np.where(b > a, "B>A", "A=B"))
        v_sw = np.where(b > a, "A>B", np.where(a > b, "B>A", "A=B"))
        res = bench.judgebench_source_scores(v, v_sw, x.labels, x.sources, ties=st.judgebench_ties)
        other = "wrong" if st.judgebench_ties == "judgebench" else "judgebench"
        alt = bench.judgebench_scores(v, v_sw, x.labels, ties=other)
        ov = res["overall"]
        assert ov is not None  # judgebench_source_scores always has the overall result
        out: JudgeBenchScores = {
            "rule": "JudgeBench (both presentation orders)",
            "ties": st.judgebench_ties,
            "overall": ov.accuracy,
            "sources": {
                k: (None if s is None else s.accuracy) for k, s in res.items() if k != "overall"
            },
            "source_counts": {
                k: (0 if s is None else s.n_pairs) for k, s in res.items() if k != "overall"
            },
            "n_pairs": ov.n_pairs,
            "n_correct": ov.n_correct,
            "n_incorrect": ov.n_incorrect,
            "n_inconclusive": ov.n_inconclusive,
        }
        if other == "wrong":  # the other tie convention's overall
            out["overall_ties_wrong"] = alt.accuracy
        else:
            out["overall_ties_judgebench"] = alt.accuracy
        return out


REWARDBENCH = RewardBenchV1(fields.REWARDBENCH)
REWARDBENCH2 = RewardBench2(fields.REWARDBENCH2)
RMBENCH = RMBench(fields.RMBENCH)
JUDGEBENCH = JudgeBench(fields.JUDGEBENCH)
HH_RLHF = Benchmark(fields.HH_RLHF)
MTME = Benchmark(fields.MTME)
PREFERENCE_PAIRS = Benchmark(fields.PREFERENCE_PAIRS)
POINTWISE_SCORES = Benchmark(fields.POINTWISE_SCORES)

BENCHMARKS: dict[str, Benchmark] = {
    b.format: b
    for b in (
        REWARDBENCH,
        REWARDBENCH2,
        RMBENCH,
        JUDGEBENCH,
        HH_RLHF,
        MTME,
        PREFERENCE_PAIRS,
        POINTWISE_SCORES,
    )
}


def benchmark_of(ds: Dataset) -> Benchmark:
    """The benchmark of a loaded data set (by its loader's format, else its judgments' kind)."""
    return BENCHMARKS[fields.fields_of(ds).format]


def check_prior_sets(bm: Benchmark, prior_sets: ScoredDataset | None) -> None:
    if prior_sets is not None and not bm.takes_prior_sets:
        raise SettingError("{prior_sets} applies to RewardBench v1 data only")


def benchmark_step(
    bm: Benchmark,
    scored: ScoredDataset,
    mats: dict[str, np.ndarray],
    cols: list[str] | None,
    st: MetaEvalSettings,
    *,
    prior_sets: ScoredDataset | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> tuple[dict[str, BenchmarkScores], list[str]]:
    """The benchmark's rule for every scorer (``{}`` without a rule) and the notes. A missing
    score is no answer: the rule runs on the items scored in full, or gives no number at all
    (never a 0 from comparisons with NaN)."""
    rules: dict[str, BenchmarkScores] = {}
    notes: list[str] = []
    check_prior_sets(bm, prior_sets)
    if not bm.has_rule:
        return rules, notes
    fmt = bm.format
    ds = scored.dataset
    say(f"{fmt} scoring rules")
    prior = None
    if prior_sets is not None:
        pl = prior_sets.dataset.layout()
        prior = {
            n: (prior_sets.dataset, pl.column_ids, prior_sets.matrix(n)) for n in prior_sets.scores
        }
    resp_items = np.asarray(ds.responses.column("item_id").to_pylist(), dtype=object)
    item_ids = np.asarray(ds.items.column("item_id").to_pylist(), dtype=object)
    for name, M in mats.items():
        if prior is not None and name not in prior:
            raise OvercoatError(f"prior-set data was not scored with {name!r}")
        p = None if prior is None else prior[name]
        miss = np.isnan(scored.scores[name])
        if not miss.any():
            rules[name] = bm.scores(ds, cols, M, st, p)
            continue
        keep = ~np.isin(item_ids, resp_items[miss])
        k, n = int(keep.sum()), len(keep)
        if k == 0:
            rules[name] = {"rule": fmt, "overall": None, "n_items": 0, "n_items_total": n}
            notes.append(
                f"{name}: no item has a score for every response, so the {fmt} rule gives no number"
            )
            continue
        rules[name] = {
            **bm.scores(ds.filter_items(keep), cols, M[keep], st, p),
            "n_items": k,
            "n_items_total": n,
        }
        notes.append(
            f"{name}: the {fmt} rule is computed on the {k} of {n} items whose "
            "responses all have a score"
        )
    for name, r in rules.items():
        if "error" in r:  # e.g. an unknown RewardBench subset: say so, not an empty table
            notes.append(f"{name}: {fmt} sections not scored: {dict(r)['error']}")
    notes.extend(bm.notes(rules, st))
    return rules, notes
