"""The meta-eval JSON document, typed once: :func:`overcoat.evaluation.meta_evaluate` writes it
(``MetaEvalResult.to_json()``) and :mod:`overcoat.report.console` reads it (also from saved files).
The README ("meta-eval JSON") documents the fields; statistics that are undefined are ``None``
(``null``)."""

from __future__ import annotations

from typing import Any, TypedDict

SCHEMA_VERSION = 1

#: [low, high] of a confidence interval, or None where no interval was computed
Interval = list | None


class Estimate(TypedDict, total=False):
    """One statistic of one scorer. ``statistic`` always; the rest as the statistic has them."""

    statistic: float | None
    confidence_interval: Interval
    standard_error: float | None
    # acc_eq (tie calibration)
    epsilon: float | None
    all_ties_baseline: float | None
    all_ties: bool
    # counts
    n_pairs: int
    n_groups: int
    n_dropped: int
    n_systems: int
    # soft pairwise accuracy
    n_permutations: int
    permutation_seed: int
    # held-out calibration (acc_eq_dev_calibrated, acc_eq_cross_fitted)
    in_sample_statistic: float | None
    epsilons: list
    fold_statistics: list
    k_folds: int


#: statistic name -> estimate, per scorer
Level = dict[str, dict[str, Estimate]]


class Coverage(TypedDict):
    scored: int
    total: int


class ScorerEntry(TypedDict, total=False):
    name: str
    signature: str
    higher_is_better: bool
    n_missing: int
    coverage: Coverage
    cluster: int | None  # significance cluster (1 = best); absent without significance tests
    judge: dict  # an LLM judge's counts (endpoint, failed by reason, unparsable, requests)


class DataInfo(TypedDict):
    name: str
    source: str | None
    n_items: int
    n_responses: int
    judgment_kind: str
    n_systems: int | None
    n_pairs: int
    gold_tie_rate: float | None
    sampled_items: str | None
    data_hash: str  # data.fingerprint.dataset_hash: sha256 of items, responses and judgments


class Significance(TypedDict):
    statistic: str
    test: str
    permute: str
    alternative: str
    clusters_from: str
    names: list
    statistics: Any
    deltas: Any
    pvalues: Any
    pvalues_corrected: Any
    correction: str
    alpha: float
    clusters: list
    n_resamples: int
    seed: int


class Ranking(TypedDict):
    statistic: str
    requested: str
    order: list
    at_no_signal: dict[str, list]
    n_scorers: int
    collapsed: list
    informative: bool
    rule: str


class RewardBenchScores(TypedDict, total=False):
    rule: str  # "RewardBench v1"
    overall: float | None
    sections: dict[str, float]
    subsets: dict[str, float]
    subset_counts: dict[str, int]
    empty_sections: list
    empty_sections_rule: str  # official | present
    # with prior sets
    prior_sets: float | None
    overall_with_prior_sets: float | None
    prior_subsets: dict[str, float]
    prior_sets_ignored: dict[str, int]


class TiesScores(TypedDict):
    score: float | None
    tied_accuracy: float | None
    ref_accuracy: float | None
    correctness_preferred: float | None
    correctness_preferred_hard: float | None
    correctness_margin_score: float | None
    n_ref: int
    n_tied: int
    n_matched: int


class RewardBench2Scores(TypedDict, total=False):
    rule: str
    overall: float | None
    overall_without_ties: float | None  # when the Ties rows lack the published id form
    subsets: dict[str, float]
    subset_counts: dict[str, int]
    ties: TiesScores
    note: str


class RMBenchScores(TypedDict, total=False):
    rule: str  # "RM-Bench"
    overall: float | None
    easy: float | None
    normal: float | None
    hard: float | None
    domains: dict[str, float]
    domain_easy: dict[str, float]
    domain_normal: dict[str, float]
    domain_hard: dict[str, float]
    domain_counts: dict[str, int]
    missing_domains: list
    styles: list
    matrix: list  # 3x3, mean over domains: chosen style i above rejected style j
    matrices: dict[str, list]


class JudgeBenchScores(TypedDict, total=False):
    rule: str
    ties: str  # judgebench | wrong
    overall: float | None
    sources: dict[str, float | None]
    source_counts: dict[str, int]
    n_pairs: int
    n_correct: int
    n_incorrect: int
    n_inconclusive: int
    overall_ties_wrong: float | None  # the other tie convention's overall
    overall_ties_judgebench: float | None


class RuleError(TypedDict):
    error: str  # the rule could not run (e.g. an unknown RewardBench subset)


#: one scorer's benchmark-rule scores; ``n_items`` / ``n_items_total`` are added when some of
#: the scorer's scores are missing (the rule then runs on the items scored in full)
BenchmarkScores = (
    RewardBenchScores
    | RewardBench2Scores
    | RMBenchScores
    | JudgeBenchScores
    | RuleError
    | dict[str, Any]
)


class MetaEvalDoc(TypedDict):
    schema_version: int
    overcoat_version: str
    data: DataInfo
    settings: dict[str, str | int | float | bool | None]
    scorers: list[ScorerEntry]
    primary_statistic: str
    segment_level: Level
    system_level: Level
    benchmark_rules: dict[str, BenchmarkScores]
    significance: Significance | None
    ranking: Ranking | None
    notes: list[str]
    seconds: float
