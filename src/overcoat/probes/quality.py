"""Data quality: agreement between human raters, humans as scorers, duplicates.

* :func:`agreement_probe` — on data with several raters per response (rater ids kept):
  Krippendorff's alpha (interval and ordinal) of the scores, Fleiss' kappa of the pairwise
  preferences each rater's scores imply (within-item pairs rated by at least two raters; labels
  better / tie / worse), leave-one-rater-out severity, and the tool's attention checks per rater
  where the loader counted them.
* :func:`human_ceiling` — every rater scored against the mean of the *other* raters on the same
  cells, beside every scorer against the very same gold on the very same cells: "metric X agrees
  with the other humans as well as a human does" becomes a measured statement. Per rater and
  averaged over raters.
* :func:`duplicates` — items whose inputs are equal after normalisation (case, whitespace,
  punctuation), and items with two responses of identical text (a pair no one can prefer);
  :func:`near_duplicates` — inputs whose character n-gram shingle sets have Jaccard similarity at
  or above a threshold (exact, sparse), and items all of whose responses are one text.
* :func:`stability_probe`, :func:`budget_probe` — how much human data a verdict needs: stable
  ranking probability of systems and scorers, and the annotation-budget curve
  (:mod:`overcoat.metaeval.stability`).
* :func:`suspect_rows` — human-labelled pairs ranked by how confidently a cross-fitted ensemble
  of scorers contradicts them (:func:`overcoat.metaeval.suspect_labels`), with the columns a
  re-annotator needs.

The per-rater scores are read once (:func:`rater_data`) and shared by every part.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.model import Dataset
from ..metaeval.accuracy import pairwise_accuracy, tie_calibrated_accuracy
from ..metaeval.agreement import fleiss_kappa, krippendorff_alpha, rater_severity
from ..metaeval.correlation import kendall_tau
from ..metaeval.resampling import bootstrap_ci, item_weighted

__all__ = [
    "CEILING_STATISTICS",
    "RaterData",
    "agreement_probe",
    "budget_probe",
    "duplicates",
    "human_ceiling",
    "near_duplicate_pairs",
    "near_duplicates",
    "rater_data",
    "rater_matrices",
    "stability_probe",
    "suspect_rows",
]


@dataclass(frozen=True)
class RaterData:
    """The per-rater scores of a data set, read once: ``R`` (raters x rated cells, in the
    judgments' first-seen order: the reliability matrix of the agreement statistics) and ``X``
    (raters x items x responses, the data set's matrix layout, NaN where a rater did not score)."""

    raters: list[str]
    units: list[tuple[str, str]]
    R: np.ndarray
    X: np.ndarray


def rater_data(dataset: Dataset) -> RaterData:
    """Both views of the per-rater scores from one pass over the judgments."""
    j = dataset.judgments
    if j is None or j.kind != "pointwise":
        raise ValueError(
            f"{dataset.name!r} has {'no' if j is None else j.kind} human judgments; "
            "agreement needs pointwise scores from two or more raters per response"
        )
    if any(r is None for r in j.table.column("rater").to_pylist()):
        raise ValueError(f"{dataset.name!r}: judgments without rater ids; agreement needs them")
    raters, units, R = j.rater_matrix()
    layout = dataset.layout()
    where = layout.scatter(
        [u[0] for u in units], [u[1] for u in units], np.arange(len(units), dtype=float)
    )
    X = np.full((len(raters), layout.n_rows, layout.n_cols), np.nan)
    at = ~np.isnan(where)
    X[:, at] = R[:, where[at].astype(int)]
    return RaterData(raters, units, R, X)


def rater_matrices(dataset: Dataset, data: RaterData | None = None) -> dict[str, np.ndarray]:
    """{rater: (items x responses) matrix of that rater's scores, NaN elsewhere}."""
    d = data or rater_data(dataset)
    return {r: d.X[i] for i, r in enumerate(d.raters)}


def _pairwise_labels(X: np.ndarray) -> np.ndarray:
    """(raters x within-item pairs) matrix of preference labels -1 / 0 / 1 (NaN: not rated);
    ``X``: (raters, items, responses)."""
    jj, kk = np.triu_indices(X.shape[2], 1)
    d = X[:, :, jj] - X[:, :, kk]
    return np.sign(d).reshape(X.shape[0], -1)


def agreement_probe(
    dataset: Dataset, *, n_resamples: int = 1000, seed: int = 0, data: RaterData | None = None
) -> dict[str, Any]:
    d = data or rater_data(dataset)
    raters, R = d.raters, d.R
    per_cell = (~np.isnan(R)).sum(axis=0)
    if per_cell.max(initial=0) < 2:
        raise ValueError(
            f"{dataset.name!r}: no response was scored by two or more raters; "
            "agreement needs repeated ratings"
        )
    out: dict[str, Any] = {
        "n_raters": len(raters),
        "n_cells": int(R.shape[1]),
        "ratings_per_cell": {
            str(k): int(v) for k, v in zip(*np.unique(per_cell, return_counts=True))
        },
    }
    for level in ("interval", "ordinal"):
        a = krippendorff_alpha(R, level=level, n_resamples=n_resamples, seed=seed)
        out[f"krippendorff_alpha_{level}"] = {
            "statistic": a.statistic,
            "confidence_interval": a.confidence_interval,
            "n_units": a.n_units,
        }
    labels = _pairwise_labels(d.X)
    k = fleiss_kappa(labels, n_resamples=n_resamples, seed=seed)
    out["fleiss_kappa_pairwise"] = {
        "statistic": k.statistic,
        "confidence_interval": k.confidence_interval,
        "n_units": k.n_units,
    }
    sev = rater_severity(R, n_resamples=n_resamples, seed=seed)
    checks = dataset.info.get("attention_checks", {})
    out["raters"] = {
        r: {
            "severity": float(sev.bias[i]),
            "severity_ci": [float(v) for v in sev.confidence_interval[i]],
            "n_cells": int(sev.n_units[i]),
            "attention_checks": checks.get(r),
        }
        for i, r in enumerate(raters)
    }
    return out


def _stat_fn(name: str) -> tuple[Callable[..., Any], Any]:
    if name == "kendall_tau":
        f = lambda h, m: kendall_tau(h, m, variant="b", group="item").statistic  # noqa: E731
        return f, item_weighted(kendall_tau, variant="b", group="item")
    if name == "pairwise_accuracy":
        f = lambda h, m: pairwise_accuracy(h, m, ties="half").statistic  # noqa: E731
        return f, item_weighted(pairwise_accuracy, ties="half")
    if name == "acc_eq":
        return (lambda h, m: tie_calibrated_accuracy(h, m).statistic), tie_calibrated_accuracy
    raise ValueError(f"statistic must be one of {', '.join(CEILING_STATISTICS)}, got {name!r}")


CEILING_STATISTICS = ("kendall_tau", "pairwise_accuracy", "acc_eq")


def human_ceiling(
    dataset: Dataset,
    scores: dict[str, np.ndarray],
    *,
    statistic: str = "kendall_tau",
    n_resamples: int = 1000,
    seed: int = 0,
    data: RaterData | None = None,
) -> dict[str, Any]:
    """Each rater and each scorer against the other raters' mean, on each rater's cells.

    ``scores``: per-response scores of each scorer (oriented: higher = better)."""
    point, stat = _stat_fn(statistic)
    d = data or rater_data(dataset)
    if len(d.raters) < 2:
        raise ValueError(f"{dataset.name!r} has one rater: a human ceiling needs two or more")
    X = d.X
    present = ~np.isnan(X)
    total = np.where(present, X, 0.0).sum(axis=0)
    count = present.sum(axis=0)
    M = {s: dataset.to_matrix(np.asarray(v, dtype=float)) for s, v in scores.items()}
    per_rater: dict[str, Any] = {}
    for i, r in enumerate(d.raters):
        with np.errstate(invalid="ignore", divide="ignore"):
            gold = (total - np.where(present[i], X[i], 0.0)) / (count - present[i])
        cells = present[i] & np.isfinite(gold)
        if not cells.any():
            continue
        g = np.where(cells, gold, np.nan)
        row: dict[str, Any] = {"n_items": int(cells.any(axis=1).sum()), "n_cells": int(cells.sum())}
        for name, mat in [("human", X[i])] + list(M.items()):
            m = np.where(cells, mat, np.nan)
            b = (
                bootstrap_ci(stat, g, m, n_resamples=n_resamples, seed=seed)
                if n_resamples
                else None
            )
            row[name] = {
                "statistic": float(point(g, m)),
                "confidence_interval": list(b.confidence_interval) if b else None,
            }
        per_rater[r] = row
    names = ["human"] + list(M)
    summary = {
        n: float(np.nanmean([per_rater[r][n]["statistic"] for r in per_rater])) for n in names
    }
    beats = {
        s: int(
            sum(
                per_rater[r][s]["statistic"] >= per_rater[r]["human"]["statistic"]
                for r in per_rater
            )
        )
        for s in M
    }
    return {
        "statistic": statistic,
        "raters": per_rater,
        "mean_over_raters": summary,
        "scorer_at_least_human_for_n_raters": beats,
        "n_raters": len(per_rater),
    }


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def _normalise(text: str) -> str:
    return _PUNCT.sub(" ", unicodedata.normalize("NFKC", text or "").casefold()).strip()


def duplicates(dataset: Dataset) -> dict[str, Any]:
    """Duplicate inputs across items and identical response texts within an item."""
    ids = dataset.items.column("item_id").to_pylist()
    inputs = dataset.items.column("input").to_pylist()
    groups: dict[str, list[str]] = {}
    for i, text in zip(ids, inputs):
        key = _normalise(text)
        if key:
            groups.setdefault(key, []).append(i)
    dup_inputs = [g for g in groups.values() if len(g) > 1]
    r = dataset.responses
    by_item: dict[tuple[str, str], list[str]] = {}
    for it, rid, text in zip(
        r.column("item_id").to_pylist(),
        r.column("response_id").to_pylist(),
        r.column("text").to_pylist(),
    ):
        by_item.setdefault((it, text or ""), []).append(rid)
    same = [
        {"item_id": it, "response_ids": rids} for (it, _), rids in by_item.items() if len(rids) > 1
    ]
    return {
        "duplicate_inputs": dup_inputs,
        "n_items_in_duplicate_groups": sum(map(len, dup_inputs)),
        "identical_responses": same,
        "n_items_with_identical_responses": len({s["item_id"] for s in same}),
    }


# -- near duplicates -------------------------------------------------------------------------


def _shingles(text: str, n: int) -> set[str]:
    t = _normalise(text)
    if not t:
        return set()
    if len(t) <= n:
        return {t}
    return {t[i : i + n] for i in range(len(t) - n + 1)}


def near_duplicate_pairs(
    texts: list[str], *, ngram: int = 5, threshold: float = 0.8, block: int = 2048
) -> list[tuple[int, int, float]]:
    """Pairs (i < j) of texts whose character ``ngram`` shingle sets (after the normalisation of
    :func:`duplicates`) have Jaccard similarity >= ``threshold``: exact Jaccard from a sparse
    incidence matrix (blocks of rows, so memory stays bounded), sorted by similarity then index."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the near-duplicate threshold must be in (0, 1], got {threshold}")
    if ngram < 1:
        raise ValueError(f"the shingle length must be at least 1, got {ngram}")
    from scipy import sparse

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, t in enumerate(texts):
        for sh in _shingles(t or "", ngram):
            rows.append(i)
            cols.append(vocab.setdefault(sh, len(vocab)))
    n = len(texts)
    if not vocab:
        return []
    A = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n, len(vocab))
    )
    size = np.asarray(A.sum(axis=1)).ravel()
    AT = A.T.tocsc()
    out: list[tuple[int, int, float]] = []
    for lo in range(0, n, block):
        inter = (A[lo : lo + block] @ AT).tocoo()
        i = inter.row + lo
        j = inter.col
        keep = (i < j) & (size[i] > 0)
        i, j, v = i[keep], j[keep], inter.data[keep]
        jac = v / (size[i] + size[j] - v)
        hit = jac >= threshold - 1e-12
        out.extend(zip(i[hit].tolist(), j[hit].tolist(), jac[hit].tolist()))
    out.sort(key=lambda x: (-x[2], x[0], x[1]))
    return out


def near_duplicates(
    dataset: Dataset, *, ngram: int = 5, threshold: float = 0.8, max_examples: int = 10
) -> dict[str, Any]:
    """Near-duplicate inputs across items (shingle Jaccard >= threshold, exact duplicates
    included) and items all of whose responses are one text."""
    ids = dataset.items.column("item_id").to_pylist()
    inputs = dataset.items.column("input").to_pylist()
    pairs = near_duplicate_pairs(inputs, ngram=ngram, threshold=threshold)
    items_in = sorted({ids[i] for p in pairs for i in p[:2]})
    r = dataset.responses
    texts: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for it, text in zip(r.column("item_id").to_pylist(), r.column("text").to_pylist()):
        texts.setdefault(it, set()).add(text or "")
        counts[it] = counts.get(it, 0) + 1
    all_same = [it for it in ids if counts.get(it, 0) >= 2 and len(texts[it]) == 1]
    return {
        "ngram": ngram,
        "threshold": threshold,
        "n_pairs": len(pairs),
        "n_items_in_near_duplicate_pairs": len(items_in),
        "examples": [
            {
                "item_ids": [ids[i], ids[j]],
                "jaccard": jac,
                "inputs": [inputs[i], inputs[j]],
            }
            for i, j, jac in pairs[:max_examples]
        ],
        "items_with_all_responses_identical": all_same,
        "n_items_with_all_responses_identical": len(all_same),
    }


# -- how much human data a verdict needs ----------------------------------------------------


def _scorer_tensor(dataset: Dataset, scores: dict[str, np.ndarray]) -> np.ndarray | None:
    if not scores:
        return None
    layout = dataset.layout()
    return np.stack([dataset.to_matrix(np.asarray(v, float), layout) for v in scores.values()])


def stability_probe(
    dataset: Dataset,
    scores: dict[str, np.ndarray],
    *,
    data: RaterData | None = None,
    n_splits: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    on_step: Callable[[str, int, int], Any] | None = None,
) -> dict[str, Any]:
    """Stable ranking probability of the systems (the response ids) and, with two or more
    scorers, of the scorers (item-grouped Kendall τb against the study's gold).
    ``on_step(target, done, total)`` after each split (progress)."""
    from ..metaeval.stability import stable_ranking_probability

    d = data or rater_data(dataset)
    M = _scorer_tensor(dataset, scores)
    split = "both" if len(d.raters) >= 2 else "items"
    out: dict[str, Any] = {"split": split, "n_splits": n_splits, "alpha": alpha}
    targets = ["systems"] + (["scorers"] if M is not None and M.shape[0] >= 2 else [])
    for target in targets:
        r = stable_ranking_probability(
            d.X,
            M,
            target=target,
            split=split,
            n_splits=n_splits,
            alpha=alpha,
            seed=seed,
            on_step=None if on_step is None else functools.partial(on_step, target),
        )
        out[target] = {
            "srp": r.statistic,
            "stable_splits": r.stable_splits,
            "identical_ranking": r.identical_ranking,
            "pair_agreement": r.pair_agreement,
            "n_entities": r.n_entities,
            "mean_significant_pairs": r.mean_significant,
        }
    if M is not None:
        out["scorers_ranked"] = list(scores)
    return out


def budget_probe(
    dataset: Dataset,
    scores: dict[str, np.ndarray],
    *,
    data: RaterData | None = None,
    item_counts: list[int] | None = None,
    ratings_per_item: list[int] | None = None,
    n_draws: int = 20,
    n_resamples: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    on_step: Callable[[int, int], Any] | None = None,
) -> dict[str, Any]:
    """The annotation-budget curve as rows (one per items x ratings-per-item grid point);
    ``on_step(done, total)`` after each subsample (progress)."""
    from ..metaeval.stability import annotation_budget

    d = data or rater_data(dataset)
    M = _scorer_tensor(dataset, scores)
    b = annotation_budget(
        d.X,
        M,
        item_counts=item_counts,
        ratings_per_item=ratings_per_item,
        n_draws=n_draws,
        n_resamples=n_resamples,
        alpha=alpha,
        seed=seed,
        on_step=on_step,
    )
    names = list(scores)
    rows = []
    for g in range(b.n_items.size):
        rows.append(
            {
                "n_items": int(b.n_items[g]),
                "ratings_per_item": int(b.ratings_per_item[g]),
                "n_judgments": float(b.n_judgments[g]),
                "system_pairs_significant": float(b.system_pairs_significant[g]),
                "scorer_pairs_significant": float(b.scorer_pairs_significant[g]),
                "scorers": {
                    n: {"statistic": float(b.statistic[g, s]), "ci_width": float(b.ci_width[g, s])}
                    for s, n in enumerate(names)
                },
            }
        )
    return {
        "statistic": "kendall_tau (item-grouped, τb)",
        "n_draws": n_draws,
        "n_resamples": n_resamples,
        "alpha": alpha,
        "rows": rows,
    }


# -- noisy-label candidates ------------------------------------------------------------------


def suspect_rows(
    dataset: Dataset, scores: dict[str, np.ndarray], *, n_folds: int = 5, seed: int = 0
) -> list[dict[str, Any]]:
    """Every human-labelled pair, most suspect first, with what a re-annotator needs: item id,
    input, both responses (human-preferred first), the human scores, the ensemble probability
    that the other response is better, whether every scorer says so, and per scorer its vote
    (+1 = prefers the other response) and calibrated probability."""
    from ..metaeval.noisy_labels import suspect_labels

    if not scores:
        raise ValueError("noisy-label candidates need one or more scorers (-s)")
    layout = dataset.layout()
    H = dataset.human_matrix(layout)
    names = list(scores)
    s = suspect_labels(
        H,
        [dataset.to_matrix(np.asarray(scores[n], float), layout) for n in names],
        n_folds=n_folds,
        seed=seed,
    )
    item_ids = dataset.items.column("item_id").to_pylist()
    inputs = dataset.items.column("input").to_pylist()
    rr, cc = layout.positions()
    r = dataset.responses
    rid = r.column("response_id").to_pylist()
    txt = r.column("text").to_pylist()
    cell = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(rr, cc))}
    rows = []
    for k in range(len(s)):
        i, p, o = int(s.item[k]), int(s.preferred[k]), int(s.other[k])
        kp, ko = cell[(i, p)], cell[(i, o)]
        row: dict[str, Any] = {
            "rank": k + 1,
            "item_id": item_ids[i],
            "input": inputs[i],
            "preferred_response_id": rid[kp],
            "preferred_text": txt[kp],
            "other_response_id": rid[ko],
            "other_text": txt[ko],
            "human_score_preferred": float(H[i, p]),
            "human_score_other": float(H[i, o]),
            "ensemble_p_other_better": float(s.suspicion[k]),
            "unanimous": bool(s.unanimous[k]),
        }
        for j, n in enumerate(names):
            row[f"vote:{n}"] = int(s.scorer_vote[j, k])
            row[f"p_other_better:{n}"] = float(s.scorer_probability[j, k])
        rows.append(row)
    return rows
