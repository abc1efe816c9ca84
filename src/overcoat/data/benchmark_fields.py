"""What each benchmark's data looks like once loaded, in one place per benchmark.

Each :class:`BenchmarkFields` object knows the format name its loader writes into
``Dataset.info["format"]``, whether the data is judged as preferences, the response ids and item
fields its scoring rule reads, and how to take the rule's inputs (plain arrays) out of a
:class:`~overcoat.data.model.Dataset` and a scorer's (items × responses) matrix. The loaders name
their format through these objects; the rules themselves (pure functions on the arrays) are in
:mod:`overcoat.metaeval.benchmarks`, and :mod:`overcoat.evaluation.benchmarks` joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError
from .model import PAIRWISE, Dataset

#: RM-Bench's three style variants, in the order of its ``chosen``/``rejected`` lists
#: (responses ``chosen-concise`` .. ``rejected-markdown``)
RMBENCH_STYLES = ("concise", "detailed", "markdown")


def response_column(cols: list[str] | None, name: str) -> int:
    """The matrix column of response id ``name`` (benchmark data has the same ids in every item)."""
    if cols is None or name not in cols:
        raise DataError(f"benchmark rules need a response named {name!r} in every item")
    return cols.index(name)


def item_values(ds: Dataset, name: str, default: Any) -> list:
    """Item metadata column ``name`` as a list (``default`` for every item when absent)."""
    if name in ds.items.column_names:
        return ds.items.column(name).to_pylist()
    return [default] * ds.n_items


class PairInputs(NamedTuple):
    chosen: np.ndarray  # one score per item
    rejected: np.ndarray
    subsets: list


class GradedInputs(NamedTuple):
    scores: np.ndarray  # every correct answer first, then the rejected ones (NaN-padded)
    subsets: np.ndarray
    num_correct: np.ndarray
    ids: list


class StyleInputs(NamedTuple):
    chosen: np.ndarray  # (items, 3) in RMBENCH_STYLES order
    rejected: np.ndarray
    domains: list | None


class VerdictInputs(NamedTuple):
    a: np.ndarray  # scores of responses A and B
    b: np.ndarray
    labels: list  # "A>B" | "B>A"
    sources: list


@dataclass(frozen=True)
class BenchmarkFields:
    """A benchmark's data: ``format`` (``Dataset.info["format"]``), ``title``, ``preference``
    (meta-evaluated as preference data: pairwise accuracy, no system level, even where the
    judgments are pointwise grades), the response ids and item fields its rule reads."""

    format: str
    title: str
    preference: bool
    responses: tuple[str, ...] = ()
    item_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class RewardBenchFields(BenchmarkFields):
    def inputs(self, ds: Dataset, cols: list[str] | None, M: np.ndarray) -> PairInputs:
        c, r = M[:, response_column(cols, "chosen")], M[:, response_column(cols, "rejected")]
        return PairInputs(c, r, item_values(ds, "subset", "all"))

    def prior_inputs(self, ds: Dataset, cols: list[str] | None, M: np.ndarray) -> PairInputs:
        """The Prior Sets rows (allenai/pref-test-sets): ``subset`` is required."""
        if "subset" not in ds.items.column_names:
            raise DataError(
                "prior-set data needs a 'subset' column (anthropic_helpful, "
                "anthropic_hhh, shp, summarize)"
            )
        return PairInputs(
            M[:, response_column(cols, "chosen")],
            M[:, response_column(cols, "rejected")],
            ds.items.column("subset").to_pylist(),
        )


@dataclass(frozen=True)
class RewardBench2Fields(BenchmarkFields):
    def inputs(self, ds: Dataset, cols: list[str] | None, M: np.ndarray) -> GradedInputs:
        def num(c: str) -> int:
            tail = c.split("-", 1)[1]
            return int(tail) if tail.isdigit() else 0

        names = cols or []
        chosen = sorted(
            (i for i, c in enumerate(names) if c.startswith("chosen-")), key=lambda i: num(names[i])
        )
        rejected = sorted(
            (i for i, c in enumerate(names) if c.startswith("rejected-")),
            key=lambda i: num(names[i]),
        )
        if not chosen or not rejected:
            raise DataError("RewardBench 2 data needs chosen-k and rejected-k responses")
        S = M[:, chosen + rejected]
        subsets = np.asarray(item_values(ds, "subset", "all"), dtype=object)
        nc = np.asarray(
            [int(x) if x not in (None, "") else 1 for x in item_values(ds, "num_correct", 1)]
        )
        return GradedInputs(S, subsets, nc, ds.items.column("item_id").to_pylist())


@dataclass(frozen=True)
class RMBenchFields(BenchmarkFields):
    def inputs(self, ds: Dataset, cols: list[str] | None, M: np.ndarray) -> StyleInputs:
        ch = M[:, [response_column(cols, f"chosen-{s}") for s in RMBENCH_STYLES]]
        rj = M[:, [response_column(cols, f"rejected-{s}") for s in RMBENCH_STYLES]]
        domains = (
            ds.items.column("domain").to_pylist() if "domain" in ds.items.column_names else None
        )
        return StyleInputs(ch, rj, domains)


@dataclass(frozen=True)
class JudgeBenchFields(BenchmarkFields):
    def inputs(self, ds: Dataset, cols: list[str] | None, M: np.ndarray) -> VerdictInputs:
        a, b = M[:, response_column(cols, "A")], M[:, response_column(cols, "B")]
        jt = ds.judgments.table if ds.judgments is not None else None
        lab = (
            {}
            if jt is None
            else dict(zip(jt.column("item_id").to_pylist(), jt.column("label").to_pylist()))
        )
        labels = [
            "A>B" if lab.get(i) == "a" else "B>A" for i in ds.items.column("item_id").to_pylist()
        ]
        return VerdictInputs(a, b, labels, item_values(ds, "source", ""))


REWARDBENCH = RewardBenchFields(
    "rewardbench", "RewardBench v1", True, ("chosen", "rejected"), ("subset",)
)
REWARDBENCH2 = RewardBench2Fields(
    "rewardbench2", "RewardBench 2", True, ("chosen-k", "rejected-k"), ("subset", "num_correct")
)
RMBENCH = RMBenchFields(
    "rmbench",
    "RM-Bench",
    True,
    tuple(f"{k}-{s}" for k in ("chosen", "rejected") for s in RMBENCH_STYLES),
    ("domain",),
)
JUDGEBENCH = JudgeBenchFields("judgebench", "JudgeBench", True, ("A", "B"), ("source",))
HH_RLHF = BenchmarkFields("hh-rlhf", "HH-RLHF preference pairs", True, ("chosen", "rejected"))
MTME = BenchmarkFields("mtme", "WMT (mt-metrics-eval) pointwise scores", False)
#: any other data: preference pairs or pointwise (MQM / WMT-style) scores, by the judgments' kind
PREFERENCE_PAIRS = BenchmarkFields("pairwise", "preference pairs", True)
POINTWISE_SCORES = BenchmarkFields("pointwise", "pointwise scores (MQM / WMT style)", False)

KNOWN = {f.format: f for f in (REWARDBENCH, REWARDBENCH2, RMBENCH, JUDGEBENCH, HH_RLHF, MTME)}


def fields_of(ds: Dataset) -> BenchmarkFields:
    """The benchmark a data set comes from (its loader's format), else preference pairs or
    pointwise scores by the kind of its judgments."""
    known = KNOWN.get(ds.info.get("format"))  # type: ignore[arg-type]
    if known is not None:
        return known
    pairwise = ds.judgments is not None and ds.judgments.kind == PAIRWISE
    return PREFERENCE_PAIRS if pairwise else POINTWISE_SCORES


def is_preference_data(ds: Dataset) -> bool:
    """Judged as preferences: pairwise judgments, or a best-of-n benchmark graded 1/0."""
    pairwise = ds.judgments is not None and ds.judgments.kind == PAIRWISE
    return pairwise or fields_of(ds).preference
