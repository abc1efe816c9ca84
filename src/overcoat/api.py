"""The Python API in a few calls — the facade the CLI calls through: load data, score it with
any scorers, meta-evaluate the scores against human judgments, compare scorers.

It holds no logic of its own beyond wiring: data types live in :mod:`overcoat.data` (``Dataset``,
``ScoredDataset``), meta-evaluation in :mod:`overcoat.evaluation`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .data.model import Dataset
from .data.scored import ScoredDataset
from .errors import OvercoatError, SpecError
from .scorers.base import PairwiseScorer, Scorer
from .scorers.executors import Executor
from .scorers.registry import get_scorer

if TYPE_CHECKING:
    from .evaluation import MetaEvalResult, MetaEvalSettings

__all__ = ["Dataset", "MetaEvalSettings", "ScoredDataset", "compare", "judge_pairs", "load",
           "meta_evaluate", "resolve_scorers", "score"]


def __getattr__(name: str):
    if name == "MetaEvalSettings":  # imported on use: loading and scoring do not need it
        from .evaluation import MetaEvalSettings
        return MetaEvalSettings
    raise AttributeError(name)


def load(spec: str, *, mapping: dict | None = None, **options) -> Dataset:
    from .data.spec import load_data
    return load_data(spec, mapping=mapping, **options)


def resolve_scorers(specs: Sequence[str | Scorer],
                    *, allow_pairwise: bool = False) -> dict[str, Scorer | PairwiseScorer]:
    """Spec strings -> {display name: scorer}; names made unique by falling back to the spec.

    Pairwise judges (P(A better) for two responses) are allowed where preference pairs are
    judged (``meta-eval``), not where every response needs its own score (``score``).
    """
    out: dict[str, Scorer | PairwiseScorer] = {}
    for spec in specs:
        s = get_scorer(spec)
        if isinstance(s, PairwiseScorer) and not allow_pairwise:
            raise SpecError(f"{spec!r} is a pairwise judge: it compares two responses, so it "
                            "has no score per response; use it with overcoat meta-eval on "
                            "preference data")
        name = s.name if s.name not in out else str(spec)
        if name in out:
            raise SpecError(f"scorer {spec!r} given twice")
        out[name] = s
    return out


def score(dataset: Dataset, scorers: Sequence[str | Scorer] | dict[str, Scorer], *,
          cache="default", workers: int = 1, batch_size: int = 64,
          progress: bool = True, executor: Executor | None = None) -> ScoredDataset:
    """Score every response of ``dataset`` with every scorer (cached; see scorers.engine).

    ``progress``: a bar per scorer on stderr when it is a terminal (:mod:`.report.progress`).
    ``executor``: where batches run (:mod:`.scorers.executors`; default from ``workers``)."""
    from .report.progress import ScoringProgress
    from .scorers.engine import score_dataset
    resolved = scorers if isinstance(scorers, dict) else \
        resolve_scorers(scorers, allow_pairwise=True)
    out = ScoredDataset(dataset)
    with ScoringProgress(progress) as bars:
        for name, s in resolved.items():
            task = bars.task(name)
            if isinstance(s, PairwiseScorer):
                res = judge_pairs(dataset, s, cache=cache, workers=workers, progress=False,
                                  executor=executor, on_batch=task)
            else:
                res = score_dataset(dataset, s, cache=cache, workers=workers,
                                    batch_size=batch_size, executor=executor, on_batch=task)
            task.close(res.n_cached)
            out.scores[name] = res.scores
            out.signatures[name] = res.signature
            out.higher_is_better[name] = getattr(s, "higher_is_better", True)
            out.stats[name] = {"n_total": res.n_total, "n_unique": res.n_unique or res.n_total,
                               "n_cached": res.n_cached,
                               "n_scored": res.n_scored, "n_missing": res.n_missing,
                               "seconds": res.seconds, "notes": list(getattr(res, "warnings", []))}
    return out


def meta_evaluate(scored: ScoredDataset, settings: "MetaEvalSettings | None" = None, *,
                  dev: ScoredDataset | None = None, k_folds: int | None = None,
                  prior_sets: ScoredDataset | None = None, progress=None) -> "MetaEvalResult":
    """Meta-evaluate every scorer of ``scored`` against its human judgments (see
    :func:`overcoat.evaluation.meta_evaluate`); ``result.to_json()`` is the documented JSON."""
    from .evaluation import meta_evaluate as run
    return run(scored, settings, dev=dev, k_folds=k_folds, prior_sets=prior_sets,
               progress=progress)


def compare(scored: ScoredDataset, settings: "MetaEvalSettings | None" = None, *,
            progress=None) -> "MetaEvalResult":
    """Significance between two or more scorers: the meta-evaluation at the segment level,
    item-grouped (what the permutation tests need), with its p-value matrix and clusters."""
    from .evaluation import MetaEvalSettings
    if len(scored.scores) < 2:
        raise OvercoatError(f"compare needs at least two scorers, got {len(scored.scores)}")
    st = replace(settings or MetaEvalSettings(), level="segment", group="item")
    return meta_evaluate(scored, st, progress=progress)


def judge_pairs(dataset: Dataset, judge: PairwiseScorer, *, cache="default", workers: int = 1,
                progress: bool = True, executor: Executor | None = None,
                on_batch: Callable[[int, int], None] | None = None):
    """A pairwise judge on preference data, as per-response scores.

    Each item's judged pair (A, B) gets P(A better) from the judge (both presentation orders, as
    the judge defines); response A is scored P and response B 1 - P, so every pairwise statistic
    of the matrix form (A preferred when P > 1/2, a tie at exactly 1/2) applies unchanged.
    Needs pairwise judgments with exactly one judged pair per item. ``progress``, ``executor``
    as in :func:`score`; ``on_batch(done, total)`` after each batch of pairs.
    """
    import pyarrow.compute as pc

    from .scorers.engine import compare_pairs
    if dataset.judgments is None or dataset.judgments.kind != "pairwise":
        raise SpecError(f"pairwise judge {judge.name!r} needs preference data (pairwise "
                        f"judgments), and {dataset.name!r} has none")
    jt = dataset.judgments.table
    pairs = jt.group_by(["item_id", "response_a", "response_b"], use_threads=False) \
        .aggregate([]).select(["item_id", "response_a", "response_b"])
    if pc.count_distinct(pairs.column("item_id")).as_py() != pairs.num_rows:
        raise SpecError(f"pairwise judge {judge.name!r}: {dataset.name!r} has items with more "
                        "than one judged pair; it needs one judged pair per item")
    from .report.progress import ScoringProgress
    with ScoringProgress(progress) as bars:
        task = bars.task(judge.name, then=on_batch)
        res = compare_pairs(dataset, judge, pairs, cache=cache, workers=workers,
                            executor=executor, on_batch=task)
        task.close(res.n_cached)
    p = np.asarray(res.scores, dtype=float)
    keys = {}
    for it, a, b, x in zip(pairs.column("item_id").to_pylist(),
                           pairs.column("response_a").to_pylist(),
                           pairs.column("response_b").to_pylist(), p):
        keys[(it, a)] = x
        keys[(it, b)] = 1.0 - x
    scores = np.array([keys.get((it, r), np.nan) for it, r in zip(
        dataset.responses.column("item_id").to_pylist(),
        dataset.responses.column("response_id").to_pylist())], dtype=float)
    res.scores = scores
    res.n_total = len(scores)
    res.n_missing = int(np.isnan(scores).sum())
    return res
