"""The translation-pairs experiment: a metric as a reward model on preference pairs from MQM data.

* :func:`derive_translation_pairs` — preference pairs from a data set with pointwise human scores
  (MQM: per segment, every two outputs whose MQM differs by more than ``min_gap``; easy / hard by
  the gap; :func:`~overcoat.metaeval.preference_pairs.derive_preference_pairs`), as a
  :class:`PairSet`: the arrays and a preference-pair :class:`~overcoat.data.model.Dataset` (one item
  per pair with responses ``chosen`` / ``rejected``), which any scorer scores like HH-RLHF pairs
  (pairwise judges included) and which :func:`pairs_rows` writes out.
* :func:`pairs_leaderboard` — per bucket (``all``, ``easy``, ``hard``) and scorer, pair accuracy
  (:func:`~overcoat.metaeval.preference_pairs.pair_accuracy`) with a bootstrap CI over segments,
  and paired permutation tests between the scorers (whole segments swapped) with WMT-style
  significance clusters (:mod:`overcoat.metaeval.significance`).
* :func:`default_pair_scorers` — the paper's scorer set, each with the reason it is left out when
  it cannot run here (no references, a package or model not installed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..data.model import (
    PAIRWISE,
    PAIRWISE_SCHEMA,
    POINTWISE,
    RESPONSE_SCHEMA,
    Dataset,
    Judgments,
)
from ..errors import OvercoatError, SettingError
from ..metaeval.preference_pairs import (
    DerivedPairs,
    derive_preference_pairs,
    pair_accuracy,
    pair_matrix,
)
from ..metaeval.resampling import bootstrap_ci, item_weighted
from ..metaeval.significance import significance_matrix

__all__ = [
    "BUCKETS",
    "DEFAULT_PAIR_SCORERS",
    "PairSet",
    "default_pair_scorers",
    "derive_translation_pairs",
    "pairs_leaderboard",
    "pairs_rows",
]

BUCKETS = ("all", "easy", "hard")

#: the paper's scorer set: reference-based metrics, a QE-style metric (COMET when its environment
#: exists), reward-model-style scorers on the bundled SmolLM2-135M (log-likelihood of the
#: translation given the source; a reference-free 1-5 rating judge and a reference-free pairwise
#: judge asked in both orders, both read with logprobs), and ``length`` as the baseline every
#: scorer should beat
DEFAULT_PAIR_SCORERS: tuple[str, ...] = (
    "chrf",
    "bleu",
    "ter",
    "embed",
    "comet:Unbabel/wmt22-comet-da",
    "loglik:smollm2",
    "judge:local:smollm2,template=translation,logprobs=true,max_tokens=2",
    "judge-pair:local:smollm2,template=translation-pair,logprobs=true,max_tokens=1",
    "length",
)


@dataclass(frozen=True)
class PairSet:
    """Derived preference pairs of one data set.

    ``pairs``: the pair data set (item ``SEGMENT:CHOSEN>REJECTED`` per pair, responses ``chosen``
    then ``rejected``, a pairwise judgment ``a``); ``derived``: the arrays (rows and columns index
    ``segment_ids`` and ``response_ids``); ``chosen_mqm`` / ``rejected_mqm``: the human scores."""

    source: Dataset
    pairs: Dataset
    derived: DerivedPairs
    segment_ids: list[str]
    response_ids: list[str]
    chosen_ids: list[str]
    rejected_ids: list[str]
    chosen_mqm: np.ndarray
    rejected_mqm: np.ndarray

    def bucket_mask(self, bucket: str) -> np.ndarray:
        if bucket == "all":
            return np.ones(self.derived.n_pairs, dtype=bool)
        if bucket == "easy":
            return self.derived.easy.copy()
        if bucket == "hard":
            return ~self.derived.easy
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, got {bucket!r}")


def derive_translation_pairs(
    dataset: Dataset,
    *,
    min_gap: float = 1.0,
    easy_gap: float = 5.0,
    max_per_segment: int | None = None,
    max_segments: int | None = None,
    max_pairs: int | None = None,
    seed: int = 0,
    keep_identical: bool = False,
) -> PairSet:
    """Preference pairs from the pointwise human scores of ``dataset`` (see the module docstring).

    Human scores are the mean over raters, higher is better (MQM is loaded negated: 0 = no error).
    ``max_pairs``: a seeded stratified sample of at most that many pairs per bucket (easy, hard),
    so that slow scorers are all judged on the same pairs.
    Two outputs of identical text are never a pair (their MQM gap is rater noise; counted in
    ``derived.n_identical``) unless ``keep_identical``.
    Raises :class:`~overcoat.errors.OvercoatError` for data without pointwise human scores and
    :class:`~overcoat.errors.SettingError` for bad settings; a data set without any pair is an
    error too (never an empty leaderboard)."""
    if dataset.judgments is None or dataset.judgments.kind != POINTWISE:
        what = "no human judgments" if dataset.judgments is None else "preference judgments"
        raise OvercoatError(
            f"{dataset.name!r} has {what}; translation pairs are derived from pointwise human "
            "scores per output (MQM, DA), as in the bundled ted-ende, ted-zhen, wmt23-ende, "
            "wmt23-zhen"
        )
    lit = SettingError.literal
    if not np.isfinite(min_gap) or min_gap < 0:
        raise SettingError(f"{{min_gap}} must be a number of at least 0, got {lit(min_gap)}")
    if not np.isfinite(easy_gap) or easy_gap <= min_gap:
        raise SettingError(
            f"{{easy_gap}} must be above {{min_gap}} ({lit(f'{min_gap:g}')}), got "
            f"{lit(easy_gap)}: otherwise no pair is hard"
        )
    for name, v in (
        ("max_per_segment", max_per_segment),
        ("max_segments", max_segments),
        ("max_pairs", max_pairs),
    ):
        if v is not None and (isinstance(v, bool) or int(v) != v or v < 1):
            raise SettingError(f"{{{name}}} must be a positive integer, got {lit(v)}")
    layout = dataset.layout()
    H = dataset.human_matrix(layout)
    text_ids = None
    if not keep_identical:  # the same text twice is no preference (its MQM gap is rater noise)
        codes: dict[str, int] = {}
        ids = [
            codes.setdefault(t, len(codes)) for t in dataset.responses.column("text").to_pylist()
        ]
        rows0, cols0 = layout.positions()
        text_ids = np.full(H.shape, -1, dtype=np.int64)
        text_ids[rows0, cols0] = ids
        text_ids[np.isnan(H)] = -1
    d = derive_preference_pairs(
        H,
        min_gap=min_gap,
        easy_gap=easy_gap,
        max_per_item=max_per_segment,
        max_items=max_segments,
        max_pairs=max_pairs,
        seed=seed,
        text_ids=text_ids,
    )
    if d.n_pairs == 0:
        raise OvercoatError(
            f"{dataset.name!r}: no two outputs of one segment differ by more than "
            f"{min_gap:g} in human score ({d.n_candidates} candidate pairs, {d.n_tied} tied, "
            f"{d.n_small} closer than the gap, {d.n_identical} of identical texts); lower "
            "the minimum gap"
        )
    seg_ids = [str(x) for x in dataset.items.column("item_id").to_pylist()]
    rows, cols = layout.positions()
    resp_index = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(rows, cols))}
    resp_ids = dataset.responses.column("response_id").to_pylist()
    texts = dataset.responses.column("text").to_pylist()
    ci = [resp_index[(int(i), int(j))] for i, j in zip(d.item, d.chosen)]
    ri = [resp_index[(int(i), int(k))] for i, k in zip(d.item, d.rejected)]
    chosen_ids = [resp_ids[x] for x in ci]
    rejected_ids = [resp_ids[x] for x in ri]
    pair_ids = [
        f"{seg_ids[i]}:{a}>{b}" for i, a, b in zip(d.item.tolist(), chosen_ids, rejected_ids)
    ]
    # the pair items: the segment's input, messages, references and metadata, plus the pair's own
    take = pa.array(d.item, pa.int64())
    base = dataset.items.take(take)
    items = base.set_column(0, "item_id", pa.array(pair_ids, pa.string()))
    meta = {
        "segment": [seg_ids[i] for i in d.item.tolist()],
        "chosen_system": chosen_ids,
        "rejected_system": rejected_ids,
        "gap": [f"{g:g}" for g in d.gap.tolist()],
        "bucket": ["easy" if e else "hard" for e in d.easy.tolist()],
    }
    for name, values in meta.items():
        if name in items.column_names:
            items = items.drop_columns([name])
        items = items.append_column(name, pa.array(values, pa.string()))
    n = d.n_pairs
    responses = pa.table(
        {
            "item_id": [p for p in pair_ids for _ in (0, 1)],
            "response_id": ["chosen", "rejected"] * n,
            "text": [t for a, b in zip(ci, ri) for t in (texts[a], texts[b])],
        },
        schema=RESPONSE_SCHEMA,
    )
    judgments = Judgments(
        PAIRWISE,
        pa.table(
            {
                "item_id": pair_ids,
                "response_a": ["chosen"] * n,
                "response_b": ["rejected"] * n,
                "label": ["a"] * n,
                "rater": pa.nulls(n, pa.string()),
            },
            schema=PAIRWISE_SCHEMA,
        ),
    )
    pairs = Dataset(
        f"{dataset.name}-pairs",
        items,
        responses,
        judgments,
        source=dataset.source,
        info={**dataset.info, "derived_from": dataset.name, "min_gap": min_gap},
    )
    return PairSet(
        dataset,
        pairs,
        d,
        seg_ids,
        [str(x) for x in (layout.column_ids or [])],
        chosen_ids,
        rejected_ids,
        H[d.item, d.chosen],
        H[d.item, d.rejected],
    )


def pairs_rows(ps: PairSet) -> list[dict]:
    """One row per pair, loadable as chosen / rejected preference pairs (README "Your own data"):
    ``id``, ``prompt``, ``chosen``, ``rejected``, ``reference`` (when the segment has one) and the
    pair's metadata (segment, systems, human scores, gap, bucket)."""
    it = ps.pairs.items
    ids = it.column("item_id").to_pylist()
    prompts = it.column("input").to_pylist()
    refs = it.column("references").to_pylist()
    texts = ps.pairs.responses.column("text").to_pylist()
    out = []
    for n, pid in enumerate(ids):
        row: dict = {
            "id": pid,
            "prompt": prompts[n],
            "chosen": texts[2 * n],
            "rejected": texts[2 * n + 1],
        }
        if refs[n]:
            row["reference"] = refs[n][0]
        row.update(
            segment=ps.segment_ids[int(ps.derived.item[n])],
            chosen_system=ps.chosen_ids[n],
            rejected_system=ps.rejected_ids[n],
            chosen_mqm=float(ps.chosen_mqm[n]),
            rejected_mqm=float(ps.rejected_mqm[n]),
            gap=float(ps.derived.gap[n]),
            bucket="easy" if ps.derived.easy[n] else "hard",
        )
        out.append(row)
    return out


def _bucket_matrices(ps: PairSet, mask: np.ndarray, diffs: dict[str, np.ndarray]):
    """Pair matrices of one bucket, one row per segment that has a pair in it."""
    item = ps.derived.item[mask]
    segs, row = np.unique(item, return_inverse=True)
    Dh = pair_matrix(row, ps.derived.gap[mask], segs.size)
    Dm = {n: pair_matrix(row, d[mask], segs.size) for n, d in diffs.items()}
    return segs.size, Dh, Dm


def pairs_leaderboard(
    ps: PairSet,
    scores: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    ties: str = "strict",
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    correction: str = "holm",
    ci_level: float = 0.95,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Pair accuracy of every scorer per bucket, with CIs and significance clusters.

    ``scores``: scorer -> (chosen scores, rejected scores), aligned with the pairs and oriented
    (higher = better). Returns ``{bucket: {n_pairs, n_segments, gap_min, gap_max, scorers:
    {NAME: {statistic, confidence_interval, standard_error, n_pairs, n_ties, n_missing}},
    significance}}`` (``significance`` None for fewer than two scorers or an empty bucket)."""
    if ties not in ("strict", "half"):
        raise SettingError(
            f"{{ties}} must be one of strict, half, got {SettingError.literal(ties)}"
        )
    say = progress or (lambda s: None)
    stat = item_weighted(pair_accuracy, ties=ties)
    diffs = {n: np.asarray(c, float) - np.asarray(r, float) for n, (c, r) in scores.items()}
    out: dict = {}
    for bucket in BUCKETS:
        mask = ps.bucket_mask(bucket)
        n_pairs = int(mask.sum())
        entry: dict = {
            "n_pairs": n_pairs,
            "n_segments": int(np.unique(ps.derived.item[mask]).size),
            "gap_min": float(ps.derived.gap[mask].min()) if n_pairs else None,
            "gap_max": float(ps.derived.gap[mask].max()) if n_pairs else None,
            "scorers": {},
            "significance": None,
        }
        out[bucket] = entry
        if not n_pairs:
            continue
        say(f"{bucket} pairs: bootstrap over {entry['n_segments']} segments")
        n_seg, Dh, Dm = _bucket_matrices(ps, mask, diffs)
        for name, M in Dm.items():
            d = diffs[name][mask]
            b = bootstrap_ci(stat, Dh, M, n_resamples=n_resamples, level=ci_level, seed=seed)
            entry["scorers"][name] = {
                "statistic": float(b.statistic),
                "confidence_interval": [float(x) for x in b.confidence_interval],
                "standard_error": float(b.standard_error),
                "n_pairs": n_pairs,
                "n_ties": int((d == 0).sum()),
                "n_missing": int(np.isnan(d).sum()),
            }
        if len(Dm) >= 2:
            say(f"{bucket} pairs: permutation tests between {len(Dm)} scorers")
            sm = significance_matrix(
                stat,
                Dh,
                Dm,
                n_resamples=n_resamples,
                seed=seed,
                correction=None if correction == "none" else correction,
                alternative="greater",
                permute="items",
            )
            cl = sm.clusters(alpha)
            entry["significance"] = {
                "test": "paired permutation, whole segments swapped",
                "alternative": "greater",
                "names": list(sm.names),
                "pvalues": sm.pvalues.tolist(),
                "pvalues_corrected": (
                    None if sm.pvalues_corrected is None else sm.pvalues_corrected.tolist()
                ),
                "correction": correction,
                "alpha": alpha,
                "clusters": cl.named(),
                "n_resamples": n_resamples,
                "seed": seed,
            }
            for name, rank in zip(sm.names, cl.ranks.tolist()):
                entry["scorers"][name]["cluster"] = int(rank)
    return out


def default_pair_scorers(
    dataset: Dataset, resolve: Callable[[str], object]
) -> tuple[dict[str, object], list[dict[str, str]]]:
    """The default scorers that can run on ``dataset`` here, and the ones left out with why.

    ``resolve(spec) -> scorer`` (raises :class:`~overcoat.errors.OvercoatError` when the scorer
    cannot be created: a package or model that is not installed). Reference-based scorers are
    left out on data without references; COMET when ``unbabel-comet`` is not installed (it lives in
    its own environment, README "Model scorers and COMET")."""
    from ..scorers.comet import comet_version

    has_refs = dataset.has_references()
    chosen: dict[str, object] = {}
    skipped: list[dict[str, str]] = []
    for spec in DEFAULT_PAIR_SCORERS:
        if spec.startswith("comet:") and comet_version() is None:
            skipped.append(
                {
                    "spec": spec,
                    "reason": "unbabel-comet is not installed in this environment (COMET runs "
                    "in its own: README 'Model scorers and COMET'); add it with --scorer there",
                }
            )
            continue
        try:
            s = resolve(spec)
        except OvercoatError as e:
            skipped.append({"spec": spec, "reason": str(e)})
            continue
        if getattr(s, "needs_references", False) and not has_refs:
            skipped.append({"spec": spec, "reason": f"needs references; {dataset.name!r} has none"})
            continue
        chosen[spec] = s
    return chosen, skipped
