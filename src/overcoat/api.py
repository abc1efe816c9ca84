"""The Python API in a few calls — the facade the CLI calls through: load data, score it with
any scorers, meta-evaluate the scores against human judgments, compare scorers.

It holds no logic of its own beyond wiring: data types live in :mod:`overcoat.data` (``Dataset``,
``ScoredDataset``), meta-evaluation in :mod:`overcoat.evaluation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, cast

import numpy as np

from .data.model import Dataset
from .data.scored import ScoredDataset
from .errors import OvercoatError, SpecError
from .scorers.base import PairwiseScorer, Scorer
from .scorers.executors import Executor
from .scorers.registry import get_scorer

if TYPE_CHECKING:
    from .evaluation import MetaEvalResult, MetaEvalSettings

__all__ = [
    "Dataset",
    "MetaEvalSettings",
    "ScoredDataset",
    "compare",
    "generate",
    "judge_pairs",
    "load",
    "make_executor",
    "meta_evaluate",
    "resolve_scorers",
    "score",
    "translation_pairs",
]


def __getattr__(name: str):
    if name == "MetaEvalSettings":  # imported on use: loading and scoring do not need it
        from .evaluation import MetaEvalSettings

        return MetaEvalSettings
    raise AttributeError(name)


def load(spec: str, *, mapping: dict | None = None, **options) -> Dataset:
    from .data.spec import load_data

    return load_data(spec, mapping=mapping, **options)


def resolve_scorers(
    specs: Sequence[str | Scorer | PairwiseScorer], *, allow_pairwise: bool = False
) -> dict[str, Scorer | PairwiseScorer]:
    """Spec strings -> {display name: scorer}; names made unique by falling back to the spec.

    Pairwise judges (P(A better) for two responses) are allowed where preference pairs are
    judged (``meta-eval``), not where every response needs its own score (``score``).
    """
    out: dict[str, Scorer | PairwiseScorer] = {}
    for spec in specs:
        s = get_scorer(spec)
        if isinstance(s, PairwiseScorer) and not allow_pairwise:
            raise SpecError(
                f"{spec!r} is a pairwise judge: it compares two responses, so it "
                "has no score per response; use it with overcoat meta-eval on "
                "preference data"
            )
        name = s.name if s.name not in out else str(spec)
        if name in out:
            raise SpecError(f"scorer {spec!r} given twice")
        out[name] = s
    return out


#: the engines of ``--engine``: where the scoring engine's batches run
ENGINES = ("local", "ray")


def make_executor(
    engine: str = "local",
    *,
    ray_address: str | None = None,
    ray_actors: int | None = None,
    verbose: bool = False,
) -> Executor | None:
    """The executor of ``--engine``: ``None`` for ``local`` (the engine's own, from ``workers``),
    a started :class:`~overcoat.scorers.ray_executor.RayExecutor` for ``ray`` (a bad or
    unreachable address, or Ray missing, is a one-line error here, before any work). Close it
    (``executor.close()``) when done."""
    if engine not in ENGINES:
        raise SpecError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    if engine == "local":
        for given, flag in ((ray_address, "--ray-address"), (ray_actors, "--ray-actors")):
            if given is not None:
                raise OvercoatError(f"{flag} needs --engine ray")
        return None
    from .scorers.ray_executor import RayExecutor

    ex = RayExecutor(ray_address, actors=ray_actors, verbose=verbose)
    ex.start()
    return ex


def score(
    dataset: Dataset,
    scorers: Sequence[str | Scorer | PairwiseScorer] | Mapping[str, Scorer | PairwiseScorer],
    *,
    cache="default",
    workers: int = 1,
    batch_size: int = 64,
    progress: bool = True,
    executor: Executor | None = None,
) -> ScoredDataset:
    """Score every response of ``dataset`` with every scorer (cached; see scorers.engine).

    ``progress``: a bar per scorer on stderr when it is a terminal (:mod:`.report.progress`).
    ``executor``: where batches run (:mod:`.scorers.executors`; default from ``workers``)."""
    from .report.progress import ScoringProgress

    resolved = (
        scorers if isinstance(scorers, Mapping) else resolve_scorers(scorers, allow_pairwise=True)
    )
    with ScoringProgress(progress) as bars:
        return _score_with_bars(
            dataset,
            resolved,
            bars,
            cache=cache,
            workers=workers,
            batch_size=batch_size,
            executor=executor,
        )


def _score_with_bars(
    dataset: Dataset,
    resolved: Mapping[str, Scorer | PairwiseScorer],
    bars,
    *,
    cache="default",
    workers: int = 1,
    batch_size: int = 64,
    executor: Executor | None = None,
    label: str = "",
    keep_bars: bool = True,
) -> ScoredDataset:
    """:func:`score` inside an open :class:`~overcoat.report.progress.ScoringProgress`: one bar
    per scorer, named ``NAME`` + ``label``; ``keep_bars=False`` removes each bar when its scorer
    is done (the probes' many short rescorings)."""
    from .scorers.engine import score_dataset

    out = ScoredDataset(dataset)
    for name, s in resolved.items():
        task = bars.task(name + label)
        if isinstance(s, PairwiseScorer):
            res = judge_pairs(
                dataset,
                s,
                cache=cache,
                workers=workers,
                progress=False,
                executor=executor,
                on_batch=task,
            )
        else:
            res = score_dataset(
                dataset,
                s,
                cache=cache,
                workers=workers,
                batch_size=batch_size,
                executor=executor,
                on_batch=task,
            )
        task.close(res.n_cached, keep=keep_bars)
        out.scores[name] = res.scores
        out.signatures[name] = res.signature
        out.higher_is_better[name] = getattr(s, "higher_is_better", True)
        out.stats[name] = {
            "n_total": res.n_total,
            "n_unique": res.n_unique or res.n_total,
            "n_cached": res.n_cached,
            "n_scored": res.n_scored,
            "n_missing": res.n_missing,
            "seconds": res.seconds,
            "notes": list(getattr(res, "warnings", [])),
        }
        counts = getattr(s, "report", None)  # an LLM judge: its counts, per reason
        line = getattr(s, "report_line", None)
        if callable(counts) and callable(line):
            out.stats[name]["judge"] = counts()
            out.stats[name]["notes"].append(f"{name} — {line()}")
    return out


def meta_evaluate(
    scored: ScoredDataset,
    settings: MetaEvalSettings | None = None,
    *,
    dev: ScoredDataset | None = None,
    k_folds: int | None = None,
    prior_sets: ScoredDataset | None = None,
    progress=None,
) -> MetaEvalResult:
    """Meta-evaluate every scorer of ``scored`` against its human judgments (see
    :func:`overcoat.evaluation.meta_evaluate`); ``result.to_json()`` is the documented JSON."""
    from .evaluation import meta_evaluate as run

    return run(scored, settings, dev=dev, k_folds=k_folds, prior_sets=prior_sets, progress=progress)


def compare(
    scored: ScoredDataset, settings: MetaEvalSettings | None = None, *, progress=None
) -> MetaEvalResult:
    """Significance between two or more scorers: the meta-evaluation at the segment level,
    item-grouped (what the permutation tests need), with its p-value matrix and clusters."""
    from .evaluation import MetaEvalSettings

    if len(scored.scores) < 2:
        raise OvercoatError(f"compare needs at least two scorers, got {len(scored.scores)}")
    st = replace(settings or MetaEvalSettings(), level="segment", group="item")
    return meta_evaluate(scored, st, progress=progress)


def judge_pairs(
    dataset: Dataset,
    judge: PairwiseScorer,
    *,
    cache="default",
    workers: int = 1,
    progress: bool = True,
    executor: Executor | None = None,
    on_batch: Callable[[int, int], None] | None = None,
):
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
        raise SpecError(
            f"pairwise judge {judge.name!r} needs preference data (pairwise "
            f"judgments), and {dataset.name!r} has none"
        )
    jt = dataset.judgments.table
    pairs = (
        jt.group_by(["item_id", "response_a", "response_b"], use_threads=False)
        .aggregate([])
        .select(["item_id", "response_a", "response_b"])
    )
    if pc.count_distinct(pairs.column("item_id")).as_py() != pairs.num_rows:
        raise SpecError(
            f"pairwise judge {judge.name!r}: {dataset.name!r} has items with more "
            "than one judged pair; it needs one judged pair per item"
        )
    from .report.progress import ScoringProgress

    with ScoringProgress(progress) as bars:
        task = bars.task(judge.name, then=on_batch)
        res = compare_pairs(
            dataset, judge, pairs, cache=cache, workers=workers, executor=executor, on_batch=task
        )
        task.close(res.n_cached)
    p = np.asarray(res.scores, dtype=float)
    keys = {}
    for it, a, b, x in zip(
        pairs.column("item_id").to_pylist(),
        pairs.column("response_a").to_pylist(),
        pairs.column("response_b").to_pylist(),
        p,
    ):
        keys[(it, a)] = x
        keys[(it, b)] = 1.0 - x
    scores = np.array(
        [
            keys.get((it, r), np.nan)
            for it, r in zip(
                dataset.responses.column("item_id").to_pylist(),
                dataset.responses.column("response_id").to_pylist(),
            )
        ],
        dtype=float,
    )
    res.scores = scores
    res.n_total = len(scores)
    res.n_missing = int(np.isnan(scores).sum())
    return res


# -- the pitfalls: calibration, spurious correlations, over-optimisation, data quality ------------


def _oriented(scored: ScoredDataset, name: str) -> np.ndarray:
    s = np.asarray(scored.scores[name], dtype=float)
    return s if scored.higher_is_better[name] else -s


def _data_errors(fn):
    """The probes' estimators raise ValueError for data they cannot use (no pairs, one rater, an
    unknown perturbation): at the facade these are the user's errors (one line, exit 2)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise OvercoatError(str(e)) from None

    return wrapper


def _dataclass_doc(x):
    from dataclasses import asdict, is_dataclass

    return asdict(x) if is_dataclass(x) and not isinstance(x, type) else x


#: perturbation and synthetic-style probes rescore rewritten responses: by default on a seeded
#: sample of this many preference pairs per data set (``probe_pairs=None``: all of them)
PROBE_PAIRS = 500


@_data_errors
def probe(
    dataset: Dataset,
    scorers: Sequence[str | Scorer] | dict[str, Scorer],
    *,
    perturbations: Sequence[str] = (),
    style: bool | None = None,
    length_unit: str = "chars",
    ties: str = "strict",
    tolerance: float = 0.1,
    n_resamples: int = 1000,
    seed: int = 0,
    probe_pairs: int | None = PROBE_PAIRS,
    cache="default",
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Length bias of every scorer and, for each named perturbation, the flip rate and score
    shift when the dispreferred response of every preference pair is perturbed
    (:mod:`overcoat.probes.spurious`); RM-Bench's style matrix (:mod:`overcoat.probes.style`:
    from the data's style variants where it has them, always; synthetic from rewritten pairs
    where ``style`` is True; never where it is False); the position bias of pairwise judges
    (:mod:`overcoat.probes.position`). Returns the JSON document.

    The perturbations and the synthetic style matrix rescore rewritten responses, so they run on
    a seeded sample of ``probe_pairs`` preference pairs, stratified by item
    (:func:`~overcoat.probes.spurious.sample_pairs`; ``None``: every pair); the document's
    ``probe_pairs`` says how many of how many. Length bias, the data's style matrix and position
    bias use every pair."""
    from .probes.perturbations import get_perturbation
    from .probes.position import NOT_APPLICABLE, position_probe
    from .probes.spurious import Rewrites, length_probe, perturbation_probe, sample_pairs
    from .probes.style import data_style_matrix, has_style_variants, synthetic_style_matrix
    from .report.progress import ScoringProgress
    from .scorers.engine import compare_pairs

    for p in perturbations:
        get_perturbation(p)
    if probe_pairs is not None and probe_pairs < 1:
        raise OvercoatError(f"probe_pairs must be at least 1 (or None: all), got {probe_pairs}")
    resolved = (
        scorers if isinstance(scorers, dict) else resolve_scorers(scorers, allow_pairwise=True)
    )
    scored = score(dataset, resolved, cache=cache, workers=workers, progress=progress)
    oriented = {n: _oriented(scored, n) for n in scored.scores}
    doc: dict = {
        "kind": "probe",
        "data": dataset.name,
        "seed": seed,
        "n_resamples": n_resamples,
        "length_unit": length_unit,
        "ties": ties,
        "signatures": dict(scored.signatures),
    }
    lb = length_probe(
        dataset,
        oriented,
        unit=length_unit,
        ties=ties,
        tolerance=tolerance,
        n_resamples=n_resamples,
        seed=seed,
    )
    doc["scorers"] = {n: _dataclass_doc(r) for n, r in lb.items()}
    doc["share_longer_preferred"] = next(iter(lb.values())).share_longer_preferred if lb else None
    doc["perturbations"] = {}
    variants = has_style_variants(dataset)
    style_source = "data" if variants and style is not False else None
    if style and not variants:
        style_source = "synthetic"
    doc["style"] = {"source": style_source, "scorers": {}} if style_source else None
    doc["position_bias"] = {}
    rescoring = bool(perturbations) or style_source == "synthetic"
    pairs = sample_pairs(dataset, probe_pairs, seed=seed) if rescoring else None
    doc["probe_pairs"] = (
        {
            "n_sampled": pairs.n_sampled,
            "n_total": pairs.n_total,
            "sampled": pairs.sampled,
            "stratified_by": "item",
            "seed": seed,
        }
        if pairs is not None
        else None
    )
    # a pairwise judge compares an item's responses: rewrite all of them for it
    whole_items = any(isinstance(s, PairwiseScorer) for s in resolved.values())
    # every rewritten data set is made once and scored once, by all the scorers together
    rewrites = Rewrites(dataset, seed)
    rescored: dict[int, ScoredDataset] = {}
    n_copies = len(perturbations) + (2 if style_source == "synthetic" else 0)
    with ScoringProgress(progress) as bars:
        copies = bars.task("probe: rewritten copies scored") if rescoring else None
        for name, s in resolved.items():

            def score_fn(d: Dataset, name=name) -> np.ndarray:
                if id(d) not in rescored:  # one per rewrite chain and set of responses
                    what = d.name[len(dataset.name) :].lstrip("+")
                    rescored[id(d)] = _score_with_bars(
                        d,
                        resolved,
                        bars,
                        cache=cache,
                        workers=workers,
                        label=f" · {what} ({d.n_responses:,} responses)",
                        keep_bars=False,
                    )
                    if copies is not None:
                        copies(len(rescored), n_copies)
                return _oriented(rescored[id(d)], name)

            res = perturbation_probe(
                dataset,
                oriented[name],
                score_fn,
                list(perturbations),
                seed=seed,
                ties=ties,
                n_resamples=n_resamples,
                rewrites=rewrites,
                pairs=pairs,
                whole_items=whole_items,
            )
            doc["perturbations"][name] = {p: _dataclass_doc(r) for p, r in res.items()}
            if style_source == "data":
                sm = data_style_matrix(dataset, oriented[name], n_resamples=n_resamples, seed=seed)
            elif style_source == "synthetic":
                sm = synthetic_style_matrix(
                    dataset,
                    oriented[name],
                    score_fn,
                    n_resamples=n_resamples,
                    seed=seed,
                    rewrites=rewrites,
                    pairs=pairs,
                    whole_items=whole_items,
                )
            if style_source:
                doc["style"]["scorers"][name] = _dataclass_doc(sm)
            if isinstance(s, PairwiseScorer):
                one = s.single_order()

                def compare_fn(judged, one=one) -> np.ndarray:
                    return np.asarray(
                        compare_pairs(dataset, one, judged, cache=cache, workers=workers).scores,
                        dtype=float,
                    )

                pb = position_probe(
                    dataset, compare_fn, ties=ties, n_resamples=n_resamples, seed=seed
                )
                doc["position_bias"][name] = {
                    "applicable": True,
                    "signature": one.signature(),
                    **_dataclass_doc(pb),
                }
            else:
                doc["position_bias"][name] = {"applicable": False, "reason": NOT_APPLICABLE}
        if copies is not None:
            copies.close()
    return doc


@_data_errors
def calibrate(
    dataset: Dataset,
    scorers: Sequence[str | Scorer] | dict[str, Scorer],
    *,
    n_folds: int = 5,
    n_bins: int = 10,
    binning: str = "width",
    n_resamples: int = 1000,
    seed: int = 0,
    cache="default",
    workers: int = 1,
    progress: bool = True,
) -> tuple[dict, dict]:
    """Reliability of each scorer's preference probabilities before and after held-out
    temperature / Platt / isotonic calibration (:mod:`overcoat.probes.calibration`). Returns
    (JSON document, the calibrators fitted on all pairs as a calibration file, usable as the
    scorer spec ``calibrated:FILE``: :mod:`overcoat.scorers.fitted`)."""
    from .probes.calibration import calibration_probe
    from .scorers.fitted import calibration_file

    resolved = (
        scorers if isinstance(scorers, dict) else resolve_scorers(scorers, allow_pairwise=True)
    )
    scored = score(dataset, resolved, cache=cache, workers=workers, progress=progress)
    doc: dict = {
        "kind": "calibrate",
        "data": dataset.name,
        "seed": seed,
        "n_folds": n_folds,
        "n_bins": n_bins,
        "binning": binning,
        "n_resamples": n_resamples,
        "signatures": dict(scored.signatures),
        "scorers": {},
    }
    for name, s in resolved.items():
        r = calibration_probe(
            dataset,
            _oriented(scored, name),
            is_probability=isinstance(s, PairwiseScorer),
            n_folds=n_folds,
            n_bins=n_bins,
            binning=binning,
            n_resamples=n_resamples,
            seed=seed,
        )
        doc["n_folds"] = r["n_folds"]
        doc["scorers"][name] = r
    specs = scorers if isinstance(scorers, dict) else dict(zip(resolved, scorers))
    model = calibration_file(
        {
            name: {
                "spec": spec if isinstance(spec, str) else name,
                "signature": scored.signatures[name],
                "kind": "pairwise" if isinstance(resolved[name], PairwiseScorer) else "pointwise",
                "higher_is_better": bool(scored.higher_is_better[name]),
                "calibrators": doc["scorers"][name]["fitted"],
                "fitted_on": {"data": dataset.name, "n_pairs": doc["scorers"][name]["n_pairs"]},
            }
            for name, spec in specs.items()
        }
    )
    return doc, model


@_data_errors
def overopt(
    dataset: Dataset,
    proxy: str | Scorer,
    *,
    gold: str | Scorer | None = None,
    n_max: int | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    cache="default",
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Best-of-n over-optimisation: the gold score of the proxy's pick as n grows
    (:mod:`overcoat.probes.overoptimization`); gold = human scores unless a gold scorer is given."""
    from .probes.overoptimization import overoptimization_probe

    if gold is None and dataset.judgments is None:  # before any scoring
        raise OvercoatError(
            f"data set {dataset.name!r} has no human scores to serve as gold (a generated pool "
            "has none): give a gold scorer"
        )
    specs = [proxy] if gold is None else [proxy, gold]
    resolved = resolve_scorers(specs)
    names = list(resolved)
    if len(names) != len(specs):
        raise OvercoatError("the proxy and the gold scorer must differ")
    scored = score(dataset, resolved, cache=cache, workers=workers, progress=progress)
    g = _oriented(scored, names[1]) if gold is not None else None
    doc = overoptimization_probe(
        dataset,
        _oriented(scored, names[0]),
        gold_scores=g,
        n_max=n_max,
        n_resamples=n_resamples,
        seed=seed,
    )
    return {
        "kind": "overopt",
        "data": dataset.name,
        "proxy_scorer": names[0],
        "gold_scorer": names[1] if gold is not None else "human",
        "seed": seed,
        "signatures": dict(scored.signatures),
        **doc,
    }


def generate(
    dataset: Dataset,
    out: str,
    *,
    model: str = "smollm2",
    n: int = 8,
    temperature: float = 0.7,
    top_p: float = 0.95,
    max_new_tokens: int = 64,
    seed: int = 0,
    cache="default",
    progress: bool = True,
) -> dict:
    """Sample ``n`` responses per item of ``dataset`` from a causal LM (seeded per item, cached;
    :mod:`overcoat.scorers.generation`) and write them to ``out`` as a pool file that
    :func:`load` reads and :func:`overopt` takes (:mod:`overcoat.data.pools`).

    ``model``: a ``loglik:``-style model spec (``smollm2``, a folder, a hub id, a ``.gguf`` file,
    with options such as ``,device=cpu``); ``cache``: ``"default"`` (``generations/`` beside the
    score cache), a folder, or ``None``."""
    from .data.io import check_output_path
    from .data.pools import write_pool
    from .report.progress import ScoringProgress
    from .scorers.generation import GenerationSettings, Generator, generate_pool

    settings = GenerationSettings(
        n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
    )
    settings.check()
    name = str(out).lower()
    if not name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        raise OvercoatError(f"{out}: a pool file is JSON Lines; name it .jsonl or .jsonl.gz")
    check_output_path(out)
    gen = Generator.from_spec(model)
    with ScoringProgress(progress) as bars:
        task = bars.task(f"generate {gen.ref.label}")
        pool = generate_pool(dataset, gen, settings, cache=cache, on_item=task)
        task.close(pool.n_cached)
    written = write_pool(out, dataset, {k: s.texts for k, s in pool.samples.items()})
    return {
        "kind": "generate",
        "data": dataset.name,
        "out": str(out),
        "model": gen.ref.label,
        "signature": pool.signature,
        "n": n,
        "temperature": temperature,
        "top_p": top_p,
        "max_new_tokens": max_new_tokens,
        "seed": seed,
        "n_items": written["n_items"],
        "n_responses": written["n_responses"],
        "n_empty": written["n_empty"],
        "n_generated": pool.n_generated,
        "n_cached": pool.n_cached,
        "n_hit_max_new_tokens": pool.n_hit_max,
        "n_truncated_prompts": pool.n_truncated_prompts,
        "seconds": pool.seconds,
    }


QUALITY_PARTS = ("agreement", "ceiling", "duplicates", "stability", "budget", "suspects")
QUALITY_DEFAULT_PARTS = ("agreement", "ceiling", "duplicates", "stability", "suspects")


@_data_errors
def quality(
    dataset: Dataset,
    scorers: Sequence[str | Scorer] = (),
    *,
    parts: Sequence[str] = QUALITY_DEFAULT_PARTS,
    statistic: str = "kendall_tau",
    n_resamples: int = 1000,
    n_splits: int = 1000,
    budget_draws: int = 20,
    near_threshold: float = 0.8,
    max_suspects: int = 20,
    export_suspects=None,
    seed: int = 0,
    cache="default",
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Rater agreement, rater severity and attention checks, humans as scorers beside the given
    scorers, duplicates and near duplicates, stable ranking probability, the annotation-budget
    curve, noisy-label candidates (:mod:`overcoat.probes.quality`); ``parts`` selects which.

    The suspects part puts the top ``max_suspects`` pairs in the document; ``export_suspects``
    (a .jsonl, .csv or .parquet path, optionally .gz) receives every ranked pair, atomically."""
    from .data.io import check_output_path
    from .probes import quality as q
    from .report.writers import score_format

    bad = [p for p in parts if p not in QUALITY_PARTS]
    if bad:
        raise OvercoatError(f"unknown quality part {bad[0]!r}; parts: {', '.join(QUALITY_PARTS)}")
    if export_suspects is not None:
        score_format(export_suspects)
        check_output_path(export_suspects)
        if not scorers:
            raise OvercoatError("exporting noisy-label candidates needs one or more scorers (-s)")
        parts = list(dict.fromkeys([*parts, "suspects"]))
    if "suspects" in parts and not scorers:
        parts = [p for p in parts if p != "suspects"]
    needs_raters = {"agreement", "ceiling", "stability", "budget"} & set(parts)
    rd = q.rater_data(dataset) if needs_raters else None
    doc: dict = {
        "kind": "quality",
        "data": dataset.name,
        "seed": seed,
        "n_resamples": n_resamples,
        "parts": [p for p in QUALITY_PARTS if p in parts],
    }
    if "agreement" in parts:
        doc["agreement"] = q.agreement_probe(dataset, n_resamples=n_resamples, seed=seed, data=rd)
    if "duplicates" in parts:
        doc["duplicates"] = q.duplicates(dataset)
        doc["near_duplicates"] = q.near_duplicates(dataset, threshold=near_threshold)
    resolved = resolve_scorers(scorers) if scorers else {}
    scored = (
        score(dataset, resolved, cache=cache, workers=workers, progress=progress)
        if resolved
        else None
    )
    oriented = {n: _oriented(scored, n) for n in scored.scores} if scored else {}
    if "ceiling" in parts:
        doc["human_ceiling"] = q.human_ceiling(
            dataset, oriented, statistic=statistic, n_resamples=n_resamples, seed=seed, data=rd
        )
    if "stability" in parts or "budget" in parts:
        from .report.progress import ScoringProgress

        with ScoringProgress(progress) as bars:
            if "stability" in parts:
                tasks: dict = {}

                def on_split(target: str, done: int, total: int) -> None:
                    if target not in tasks:
                        tasks[target] = bars.task(f"stable ranking probability ({target})")
                    tasks[target](done, total)

                doc["stability"] = q.stability_probe(
                    dataset, oriented, data=rd, n_splits=n_splits, seed=seed, on_step=on_split
                )
            if "budget" in parts:
                doc["budget"] = q.budget_probe(
                    dataset,
                    oriented,
                    data=rd,
                    n_draws=budget_draws,
                    seed=seed,
                    on_step=bars.task("annotation budget (subsamples)"),
                )
    if "suspects" in parts:
        rows = q.suspect_rows(dataset, oriented, seed=seed)
        doc["suspects"] = {
            "n_pairs": len(rows),
            "n_unanimous": sum(r["unanimous"] for r in rows),
            "n_confident": sum(r["ensemble_p_other_better"] >= 0.8 for r in rows),
            "top": rows[:max_suspects],
        }
        if export_suspects is not None:
            import pyarrow as pa

            from .report.writers import write_table

            write_table(pa.Table.from_pylist(rows), export_suspects)
            doc["suspects"]["exported_to"] = str(export_suspects)
    doc["signatures"] = dict(scored.signatures) if scored else {}
    return doc


@_data_errors
def fit(
    dataset: Dataset,
    scorers: Sequence[str | Scorer],
    *,
    n_folds: int = 5,
    l2: float = 1.0,
    statistic: str = "pairwise_accuracy",
    n_resamples: int = 1000,
    seed: int = 0,
    cache="default",
    workers: int = 1,
    progress: bool = True,
) -> tuple[dict, dict]:
    """A cross-fitted Bradley-Terry combination of the scorers against each scorer alone, on
    held-out items with item-bootstrap CIs. Returns (JSON document, the model fitted on all data
    as a dict with the scorer specs)."""
    from .metaeval.accuracy import pairwise_accuracy
    from .metaeval.combination import cross_fitted_combination, fit_preference_combination
    from .metaeval.resampling import (
        Statistic,
        bootstrap_ci,
        item_weighted,
        paired_bootstrap_ci,
        tie_calibrated_statistic,
    )
    from .scorers.fitted import combination_file

    if len(scorers) < 2:
        raise OvercoatError(f"fit combines two or more scorers, got {len(scorers)}")
    stat: Statistic
    if statistic == "pairwise_accuracy":
        stat = item_weighted(pairwise_accuracy, ties="half")
    elif statistic == "acc_eq":  # tie-calibrated, as meta-eval and quality (mt-metrics-eval)
        stat = tie_calibrated_statistic()
    else:
        raise OvercoatError(
            f"statistic must be one of pairwise_accuracy, acc_eq, got {statistic!r}"
        )
    resolved = resolve_scorers(scorers)
    scored = score(dataset, resolved, cache=cache, workers=workers, progress=progress)
    names = list(scored.scores)
    H = dataset.human_matrix()
    X = np.stack([scored.matrix(n) for n in names], axis=2)
    oof = cross_fitted_combination(X, H, n_folds=n_folds, l2=l2, seed=seed, names=names)
    model = fit_preference_combination(X, H, names=names, l2=l2)
    rows: dict = {}
    combo = "combination (cross-fitted)"
    for name, M in [(combo, oof)] + [(n, X[..., i]) for i, n in enumerate(names)]:
        b = bootstrap_ci(stat, H, M, n_resamples=n_resamples, seed=seed)
        rows[name] = {
            "statistic": float(b.statistic),
            "confidence_interval": list(b.confidence_interval),
        }
    diffs = {}
    for i, n in enumerate(names):
        d = paired_bootstrap_ci(stat, H, oof, X[..., i], n_resamples=n_resamples, seed=seed)
        diffs[n] = {
            "statistic": float(d.statistic),
            "confidence_interval": list(d.confidence_interval),
        }
    spec_of = {n: (s if isinstance(s, str) else n) for n, s in zip(names, scorers)}
    model_doc = combination_file(
        model.to_dict(),
        [spec_of[n] for n in names],
        [scored.signatures[n] for n in names],
        [scored.higher_is_better[n] for n in names],
    )
    doc = {
        "kind": "fit",
        "data": dataset.name,
        "statistic": statistic,
        "n_folds": n_folds,
        "l2": l2,
        "seed": seed,
        "scorers": rows,
        "combination_minus_scorer": diffs,
        "weights": dict(zip(names, model.weights.tolist())),
        "signatures": dict(scored.signatures),
    }
    return doc, model_doc


@_data_errors
def translation_pairs(
    dataset: Dataset,
    scorers: Sequence[str | Scorer | PairwiseScorer]
    | Mapping[str, Scorer | PairwiseScorer]
    | None = None,
    *,
    min_gap: float = 1.0,
    easy_gap: float = 5.0,
    max_per_segment: int | None = None,
    max_segments: int | None = None,
    max_pairs: int | None = None,
    keep_identical: bool = False,
    ties: str = "strict",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    correction: str = "holm",
    pairs_out: str | None = None,
    cache="default",
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """The translation-pairs experiment (:mod:`overcoat.probes.translation_pairs`): preference
    pairs from MQM data (two outputs of one segment whose MQM differs by more than ``min_gap``;
    easy when the gap is at least ``easy_gap``; two outputs of identical text are no pair unless
    ``keep_identical``; ``max_pairs``: a seeded sample of at most that many pairs per bucket),
    every scorer on both responses of every pair,
    and the pair accuracy per bucket with segment-bootstrap CIs and significance clusters.

    ``scorers=None``: the paper's default set (:data:`~overcoat.probes.translation_pairs.
    DEFAULT_PAIR_SCORERS`); those that cannot run here are left out and listed in the document's
    ``skipped_scorers``. ``pairs_out``: also write the pairs (JSONL / CSV / Parquet, loadable as
    chosen / rejected preference data). Returns the JSON document (README, "translation-pairs
    JSON")."""
    import time

    from . import __version__
    from .probes.translation_pairs import (
        default_pair_scorers,
        derive_translation_pairs,
        pairs_leaderboard,
        pairs_rows,
    )

    t0 = time.perf_counter()
    for name, value, allowed in (
        ("ties", ties, ("strict", "half")),
        ("correction", correction, ("holm", "bh", "none")),
    ):
        if value not in allowed:
            from .errors import SettingError

            raise SettingError(
                f"{{{name}}} must be one of {', '.join(allowed)}, got "
                f"{SettingError.literal(repr(value))}"
            )
    if pairs_out is not None:
        from .data.io import check_output_path

        check_output_path(pairs_out)
    ps = derive_translation_pairs(
        dataset,
        min_gap=min_gap,
        easy_gap=easy_gap,
        max_per_segment=max_per_segment,
        max_segments=max_segments,
        max_pairs=max_pairs,
        seed=seed,
        keep_identical=keep_identical,
    )
    skipped: list[dict[str, str]] = []
    if scorers is None:
        picked, skipped = default_pair_scorers(dataset, get_scorer)
        resolved = resolve_scorers(
            [cast(Scorer | PairwiseScorer, s) for s in picked.values()], allow_pairwise=True
        )
    elif isinstance(scorers, Mapping):
        resolved = dict(scorers)
    else:
        resolved = resolve_scorers(scorers, allow_pairwise=True)
    if not resolved:
        raise OvercoatError(
            "no scorer can run on this data here: "
            + "; ".join(f"{s['spec']}: {s['reason']}" for s in skipped)
        )
    if pairs_out is not None:
        import pyarrow as pa

        from .report.writers import write_table

        write_table(pa.Table.from_pylist(pairs_rows(ps)), pairs_out)
    scored = score(ps.pairs, resolved, cache=cache, workers=workers, progress=progress)
    oriented = {n: _oriented(scored, n) for n in scored.scores}
    buckets = pairs_leaderboard(
        ps,
        {n: (s[0::2], s[1::2]) for n, s in oriented.items()},
        ties=ties,
        n_resamples=n_resamples,
        seed=seed,
        alpha=alpha,
        correction=correction,
    )
    d = ps.derived
    notes = [f"{s['spec']} left out: {s['reason']}" for s in skipped]
    for n in scored.scores:
        notes.extend((scored.stats.get(n) or {}).get("notes", []))
        miss = buckets["all"]["scorers"][n]["n_missing"]
        if miss:
            notes.append(
                f"{n}: {miss} of {d.n_pairs} pairs have a missing score (unparsable or failed); "
                "they count as wrong"
            )
    return {
        "kind": "translation-pairs",
        "schema_version": 1,
        "overcoat_version": __version__,
        "data": {
            "name": dataset.name,
            "source": dataset.source,
            "n_segments": dataset.n_items,
            "n_responses": dataset.n_responses,
            "n_candidate_pairs": d.n_candidates,
            "n_tied_pairs": d.n_tied,
            "n_small_gap_pairs": d.n_small,
            "n_identical_pairs": d.n_identical,
            "n_segments_with_pairs": d.n_items_with_pairs,
            "n_sampled_out": d.n_sampled_out,
            "n_pairs_found": d.n_easy_found + d.n_hard_found,
            "n_easy_found": d.n_easy_found,
            "n_hard_found": d.n_hard_found,
            "n_pairs": d.n_pairs,
            "n_easy": int(d.easy.sum()),
            "n_hard": int((~d.easy).sum()),
            "n_distinct_responses": len(
                set(
                    zip(
                        [ps.segment_ids[i] for i in d.item.tolist() for _ in (0, 1)],
                        ps.pairs.responses.column("text").to_pylist(),
                    )
                )
            ),
        },
        "settings": {
            "min_gap": float(min_gap),
            "easy_gap": float(easy_gap),
            "max_per_segment": max_per_segment,
            "max_segments": max_segments,
            "max_pairs": max_pairs,
            "keep_identical": keep_identical,
            "seed": seed,
            "ties": ties,
            "n_resamples": n_resamples,
            "alpha": alpha,
            "correction": correction,
            "ci_level": 0.95,
        },
        "scorers": [
            {
                "name": n,
                "signature": scored.signatures[n],
                "higher_is_better": scored.higher_is_better[n],
                "clusters": {b: buckets[b]["scorers"].get(n, {}).get("cluster") for b in buckets},
            }
            for n in scored.scores
        ],
        "skipped_scorers": skipped,
        "buckets": buckets,
        "notes": notes,
        "seconds": round(time.perf_counter() - t0, 3),
    }


# -- the results store (overcoat leaderboard) ----------------------------------------------------
def record_results(
    command: str,
    docs: Sequence[tuple[Mapping, Dataset]],
    *,
    command_line: str,
    store=None,
):
    """Record JSON documents (each with the data set it was computed on) in the results store
    (:mod:`overcoat.report.store`) as runs, in one transaction. Returns (store path, number of
    result rows)."""
    from .data.fingerprint import dataset_hash
    from .report.store import ResultsStore, record_from_doc, store_path

    def data_hash(doc: Mapping, ds: Dataset) -> str:
        # a meta-eval document carries the hash of the data set it was computed on already
        data = doc.get("data")
        known = data.get("data_hash") if isinstance(data, Mapping) else None
        return known if isinstance(known, str) else dataset_hash(ds)

    path = store_path(store)
    runs = [
        record_from_doc(
            doc, command=command, command_line=command_line, data_hash=data_hash(doc, ds)
        )
        for doc, ds in docs
    ]
    return path, ResultsStore(path).record(runs)


def leaderboard(
    *,
    store=None,
    data: str | None = None,
    stat: str | None = None,
    scorer: str | None = None,
    all_runs: bool = False,
) -> dict:
    """The best-known results in the results store (:func:`overcoat.report.store.
    leaderboard_rows`): ``{"store": path, "rows": [...], "n_stored": rows in the store,
    "data_names": [...]}``. A ``stat`` the store has no results for is a :class:`SettingError`
    naming the statistics it has."""
    from .errors import SettingError
    from .report.store import ResultsStore, known_statistics, leaderboard_rows, store_path

    path = store_path(store)
    every = ResultsStore(path).rows()
    known = known_statistics(every)
    if stat is not None and every and stat not in known:
        raise SettingError(
            f"{{stat}} {SettingError.literal(repr(stat))}: no such statistic in "
            f"{SettingError.literal(path)}; recorded: {', '.join(known)}"
        )
    rows = leaderboard_rows(every, data=data, stat=stat, scorer=scorer, all_runs=all_runs)
    return {
        "store": path,
        "rows": rows,
        "n_stored": len(every),
        "data_names": sorted({r["data_name"] for r in every}),
    }
