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
  punctuation), and items with two responses of identical text (a pair no one can prefer).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.model import Dataset
from ..metaeval.accuracy import pairwise_accuracy, tie_calibrated_accuracy
from ..metaeval.agreement import fleiss_kappa, krippendorff_alpha, rater_severity
from ..metaeval.correlation import kendall_tau
from ..metaeval.resampling import bootstrap_ci, item_weighted

__all__ = ["CEILING_STATISTICS", "agreement_probe", "duplicates", "human_ceiling", "rater_matrices"]


def rater_matrices(dataset: Dataset) -> dict[str, np.ndarray]:
    """{rater: (items x responses) matrix of that rater's scores, NaN elsewhere}."""
    j = dataset.judgments
    if j is None or j.kind != "pointwise":
        raise ValueError(f"{dataset.name!r} has no pointwise human scores per rater")
    t = j.table
    raters = t.column("rater").to_pylist()
    if any(r is None for r in raters):
        raise ValueError(f"{dataset.name!r}: judgments without rater ids; agreement needs them")
    layout = dataset.layout()
    items = np.array(t.column("item_id").to_pylist(), dtype=object)
    resps = np.array(t.column("response_id").to_pylist(), dtype=object)
    scores = t.column("score").to_numpy(zero_copy_only=False).astype(float)
    r_arr = np.array(raters, dtype=object)
    out = {}
    for r in sorted(set(raters)):
        sel = r_arr == r
        out[r] = layout.scatter(items[sel].tolist(), resps[sel].tolist(), scores[sel])
    return out


def _pairwise_labels(mats: dict[str, np.ndarray]) -> np.ndarray:
    """(raters x within-item pairs) matrix of preference labels -1 / 0 / 1 (NaN: not rated)."""
    X = np.stack(list(mats.values()))  # (raters, items, responses)
    jj, kk = np.triu_indices(X.shape[2], 1)
    d = X[:, :, jj] - X[:, :, kk]
    return np.sign(d).reshape(X.shape[0], -1)


def agreement_probe(dataset: Dataset, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    j = dataset.judgments
    if j is None or j.kind != "pointwise":
        raise ValueError(
            f"{dataset.name!r} has {'no' if j is None else j.kind} human judgments; "
            "agreement needs pointwise scores from two or more raters per response"
        )
    raters, _, R = j.rater_matrix()
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
    labels = _pairwise_labels(rater_matrices(dataset))
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
) -> dict[str, Any]:
    """Each rater and each scorer against the other raters' mean, on each rater's cells.

    ``scores``: per-response scores of each scorer (oriented: higher = better)."""
    point, stat = _stat_fn(statistic)
    mats = rater_matrices(dataset)
    if len(mats) < 2:
        raise ValueError(f"{dataset.name!r} has one rater: a human ceiling needs two or more")
    X = np.stack(list(mats.values()))
    present = ~np.isnan(X)
    total = np.where(present, X, 0.0).sum(axis=0)
    count = present.sum(axis=0)
    M = {s: dataset.to_matrix(np.asarray(v, dtype=float)) for s, v in scores.items()}
    per_rater: dict[str, Any] = {}
    for i, r in enumerate(mats):
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
