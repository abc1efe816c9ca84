"""Terminal tables of the pitfall commands (probe, calibrate, overopt, quality, fit), rendered
from their JSON documents (never recomputed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from rich.table import Table

from .numbers import fmt, fmt_ci

__all__ = [
    "calibration_table",
    "ceiling_table",
    "combination_table",
    "length_bias_table",
    "overopt_table",
    "pairs_line",
    "perturbation_table",
    "position_table",
    "quality_tables",
    "stability_table",
    "budget_table",
    "near_duplicates_table",
    "suspects_table",
    "style_tables",
]


def length_bias_table(doc: dict) -> Table:
    t = Table(
        title=f"{escape(doc['data'])} — length bias ({doc['length_unit']}; preferred response "
        f"is the longer one in {fmt(doc['share_longer_preferred'], 3)} of pairs)"
    )
    for c in (
        "scorer",
        "accuracy [95% CI]",
        "longer preferred",
        "shorter preferred",
        "length-balanced [95% CI]",
        "length-matched (n)",
        "length-only baseline",
        "τb(score, length) [95% CI]",
    ):
        t.add_column(c, justify="left" if c == "scorer" else "right")
    for name, r in doc["scorers"].items():
        m = r["length_matched_accuracy"]
        t.add_row(
            escape(name),
            fmt_ci(r["accuracy"]),
            fmt(r["longer_preferred"]["statistic"]),
            fmt(r["shorter_preferred"]["statistic"]),
            fmt_ci(r["length_balanced_accuracy"]),
            f"{fmt(m['statistic'])} ({m['n_pairs']})",
            fmt(r["length_baseline"]["statistic"]),
            fmt_ci(r["score_length_correlation"]),
        )
    h = next(iter(doc["scorers"].values()), None)
    if h is not None:
        t.caption = (
            f"humans: τb(human score, length) = {fmt_ci(h['human_length_correlation'])}; "
            "a scorer with no length bias scores alike on longer- and shorter-preferred pairs"
        )
    return t


def pairs_line(doc: dict) -> str:
    """'500 of 21,444 pairs (a seeded sample, ...)' or 'all 2,303 pairs'."""
    pp = doc.get("probe_pairs")
    if not pp:
        return "every pair"
    if pp["sampled"]:
        return (
            f"{pp['n_sampled']:,} of {pp['n_total']:,} pairs (a seeded sample, stratified by "
            "item; --probe-pairs all for every pair)"
        )
    return f"all {pp['n_total']:,} pairs"


def perturbation_table(doc: dict) -> Table:
    t = Table(
        title=f"{escape(doc['data'])} — perturbations of the dispreferred response, seed "
        f"{doc['seed']}: {pairs_line(doc)}"
    )
    for c in (
        "scorer",
        "perturbation",
        "accuracy before → after",
        "flip rate [95% CI]",
        "shift (SDs) [95% CI]",
    ):
        t.add_column(c, justify="left" if c in ("scorer", "perturbation") else "right")
    for name, per in doc["perturbations"].items():
        for p, r in per.items():
            t.add_row(
                escape(name),
                p,
                f"{fmt(r['accuracy_before']['statistic'])} → {fmt(r['accuracy_after']['statistic'])}",
                fmt_ci(r["flip_rate"]),
                fmt_ci(r["standardized_shift"]),
            )
    t.caption = (
        "flip rate: share of pairs the scorer had right that the perturbation alone makes "
        "it get wrong; truncate is the control (a scorer reading the answer lowers its score)"
    )
    return t


def style_tables(doc: dict) -> list[Table]:
    """One 3x3 matrix per scorer (cells with 95% CIs) and a summary row of easy/normal/hard."""
    st = doc.get("style")
    if not st:
        return []
    synthetic = st["source"] == "synthetic"
    out = []
    for name, r in st["scorers"].items():
        styles = r["styles"]
        what = (
            "synthetic: preference pairs rewritten by the style perturbations"
            if synthetic
            else "the data's style variants (RM-Bench's computation)"
        )
        t = Table(
            title=f"{escape(doc['data'])} — {escape(name)}: style matrix, {what}; "
            "rows: chosen style, columns: rejected style"
        )
        t.add_column("chosen \\ rejected")
        for c in styles:
            t.add_column(c, justify="right")
        ci = r.get("matrix_ci")
        for i, row_style in enumerate(styles):
            cells = []
            for j in range(len(styles)):
                e = {
                    "statistic": r["matrix"][i][j],
                    "confidence_interval": [ci[0][i][j], ci[1][i][j]] if ci else None,
                }
                cells.append(fmt_ci(e))
            t.add_row(row_style, *cells)
        doms = r["domains"]
        per_dom = (
            "; ".join(
                f"{escape(d)} {fmt(v['overall']['statistic'])} (n {v['overall']['n_rows']})"
                for d, v in doms.items()
            )
            if len(doms) > 1
            else ""
        )
        t.caption = (
            f"easy {fmt_ci(r['easy'])} · normal {fmt_ci(r['normal'])} · hard {fmt_ci(r['hard'])} · "
            f"mean {fmt_ci(r['overall'])}; {r['n_rows']} "
            + ("pairs" if synthetic else "examples")
            + f" in {r['n_groups']} items"
            + (f"; {pairs_line(doc)}" if synthetic else "")
            + (f"; {r['n_missing']} with a missing score (counted wrong)" if r["n_missing"] else "")
            + (f"\nper domain: {per_dom}" if per_dom else "")
            + "\neasy: the chosen response in the fancier style; hard: the rejected one"
        )
        out.append(t)
    return out


def position_table(doc: dict) -> Table:
    """Position bias of each pairwise judge; pointwise scorers are listed as not applicable."""
    t = Table(
        title=f"{escape(doc['data'])} — position bias: every judged pair asked in both orders"
    )
    for c in (
        "scorer",
        "consistency [95% CI]",
        "flip rate [95% CI]",
        "first-position rate [95% CI]",
        "acc. preferred first → second",
        "pairs",
    ):
        t.add_column(c, justify="left" if c == "scorer" else "right")
    for name, r in doc.get("position_bias", {}).items():
        if not r.get("applicable"):
            t.add_row(escape(name), "not applicable (pointwise scorer)", "", "", "", "")
            continue
        a1, a2 = r["accuracy_preferred_first"], r["accuracy_preferred_second"]
        t.add_row(
            escape(name),
            fmt_ci(r["consistency"]),
            fmt_ci(r["flip_rate"]),
            fmt_ci(r["first_position_rate"]),
            f"{fmt(a1['statistic'])} → {fmt(a2['statistic'])}",
            str(r["n_pairs"]) + (f" ({r['n_missing']} missing)" if r["n_missing"] else ""),
        )
    t.caption = (
        "consistency: same verdict in both orders; flip rate: the winner reverses with the "
        "order; first-position rate: share of verdicts for the response shown first (1/2: "
        "no position preference)"
    )
    return t


def calibration_table(doc: dict) -> Table:
    t = Table(
        title=f"{escape(doc['data'])} — calibration of P(preferred), held out "
        f"({doc['n_folds']}-fold cross-fitting over items; bins: {doc['binning']})"
    )
    for c in ("scorer", "method", "ECE [95% CI]", "Brier", "log loss", "pairs"):
        t.add_column(c, justify="left" if c in ("scorer", "method") else "right")
    for name, r in doc["scorers"].items():
        for m, s in r["methods"].items():
            t.add_row(
                escape(name),
                m,
                fmt_ci(s["ece"]),
                fmt(s["brier"]),
                fmt(s["log_loss"]),
                str(r["n_pairs"]),
            )
    notes = []
    for name, r in doc["scorers"].items():
        tt = r.get("tie_threshold")
        if tt:
            notes.append(
                f"{name}: tie threshold fitted on other folds → held-out acc_eq "
                f"{fmt(tt['held_out_acc_eq'])} (in-sample {fmt(tt['in_sample_acc_eq'])}, "
                f"all-ties baseline {fmt(tt['all_ties_baseline'])})"
            )
    t.caption = (
        "raw = sigmoid(score difference), or the judge's own probability; human ties are "
        "targets of 1/2"
    )
    if notes:
        t.caption += "\n" + "\n".join(escape(n) for n in notes)
    return t


def overopt_table(doc: dict) -> Table:
    t = Table(
        title=f"{escape(doc['data'])} — best-of-n with proxy {escape(doc['proxy_scorer'])}, gold "
        f"{escape(doc['gold_scorer'])} ({doc['n_items']} items)"
    )
    for c in ("n", "KL (nats)", "gold [95% CI]", "proxy"):
        t.add_column(c, justify="right")
    for i, n in enumerate(doc["n"]):
        g = {
            "statistic": doc["gold"][i],
            "confidence_interval": [doc["gold_ci"][0][i], doc["gold_ci"][1][i]],
        }
        t.add_row(str(n), fmt(doc["kl"][i]), fmt_ci(g), fmt(doc["proxy"][i]))
    below = doc["n_below_start"]
    t.caption = (
        f"gold peaks at n = {doc['peak_n']} ({fmt(doc['gold_gain_at_peak'], 4)} above n = 1); "
        + (f"falls below n = 1 from n = {below}" if below else "never falls below n = 1")
    )
    return t


def quality_tables(doc: dict) -> list[Table]:
    out: list[Table] = []
    if "agreement" in doc:
        out.extend(agreement_tables(doc))
    if doc.get("human_ceiling"):
        out.append(ceiling_table(doc["human_ceiling"], doc["data"]))
    if doc.get("stability"):
        out.append(stability_table(doc["stability"], doc["data"]))
    if doc.get("budget"):
        out.append(budget_table(doc["budget"], doc["data"]))
    if doc.get("near_duplicates", {}).get("examples"):
        out.append(near_duplicates_table(doc["near_duplicates"], doc["data"]))
    if doc.get("suspects"):
        out.append(suspects_table(doc["suspects"], doc["data"]))
    return out


def agreement_tables(doc: dict) -> list[Table]:
    a = doc["agreement"]
    t = Table(
        title=f"{escape(doc['data'])} — agreement between raters ({a['n_raters']} raters, "
        f"{a['n_cells']} cells)"
    )
    t.add_column("statistic")
    t.add_column("value [95% CI]", justify="right")
    t.add_row("Krippendorff's α (interval)", fmt_ci(a["krippendorff_alpha_interval"]))
    t.add_row("Krippendorff's α (ordinal)", fmt_ci(a["krippendorff_alpha_ordinal"]))
    t.add_row("Fleiss' κ (pairwise preferences)", fmt_ci(a["fleiss_kappa_pairwise"]))
    r = Table(title="raters: severity = mean of own score − the other raters' mean (same cells)")
    for c in ("rater", "severity [95% CI]", "cells", "attention checks found"):
        r.add_column(c, justify="left" if c == "rater" else "right")
    for name, x in a["raters"].items():
        r.add_row(
            escape(name),
            fmt_ci({"statistic": x["severity"], "confidence_interval": x["severity_ci"]}),
            str(x["n_cells"]),
            "-" if x["attention_checks"] is None else str(x["attention_checks"]),
        )
    return [t, r]


#: what SRP and stable splits mean (the terminal's caption, the report's note)
SRP_LEGEND = (
    "SRP: share of significant differences found by one half that the other half finds too, "
    "significant and in the same direction; stable splits: share of splits whose halves agree on "
    "every significant difference"
)


def stability_entries(st: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The rows of a stability result: (what was ranked, its numbers), systems first; the
    scorers' row is named by the scorers it ranked (plain text: each renderer escapes it)."""
    return [
        (
            target
            if target == "systems"
            else "scorers: " + ", ".join(str(n) for n in st.get("scorers_ranked", [])),
            st[target],
        )
        for target in ("systems", "scorers")
        if target in st
    ]


def stability_table(st: dict, data: str) -> Table:
    split = "items and raters" if st["split"] == "both" else "items"
    t = Table(
        title=f"{escape(data)} — stable ranking probability ({st['n_splits']} random splits of "
        f"the {split} into disjoint halves; paired t-test, α = {st['alpha']})",
        caption=SRP_LEGEND,
    )
    for c in (
        "ranked",
        "entities",
        "SRP",
        "stable splits",
        "identical ranking",
        "pairs same order",
        "sig. pairs",
    ):
        t.add_column(c, justify="left" if c == "ranked" else "right")
    for name, x in stability_entries(st):
        t.add_row(
            escape(name),
            str(x["n_entities"]),
            fmt(x["srp"]),
            fmt(x["stable_splits"]),
            fmt(x["identical_ranking"]),
            fmt(x["pair_agreement"]),
            fmt(x["mean_significant_pairs"], 1),
        )
    return t


def budget_table(b: dict, data: str) -> Table:
    names = list(b["rows"][0]["scorers"]) if b["rows"] else []
    t = Table(
        title=f"{escape(data)} — annotation budget: verdicts by items × ratings per item "
        f"(mean of {b['n_draws']} subsamples; α = {b['alpha']})"
    )
    for c in ("items", "ratings/item", "judgments", "system pairs sig."):
        t.add_column(c, justify="right")
    if len(names) >= 2:
        t.add_column("scorer pairs sig.", justify="right")
    for n in names:
        t.add_column(f"{escape(n)} τ (CI width)", justify="right")
    for r in b["rows"]:
        cells = [
            str(r["n_items"]),
            str(r["ratings_per_item"]),
            f"{r['n_judgments']:.0f}",
            fmt(r["system_pairs_significant"]),
        ]
        if len(names) >= 2:
            cells.append(fmt(r["scorer_pairs_significant"]))
        for n in names:
            x = r["scorers"][n]
            cells.append(f"{fmt(x['statistic'])} ({fmt(x['ci_width'])})")
        t.add_row(*cells)
    return t


def near_duplicates_table(nd: dict, data: str) -> Table:
    t = Table(
        title=f"{escape(data)} — near-duplicate inputs (character {nd['ngram']}-gram Jaccard ≥ "
        f"{nd['threshold']}; {nd['n_pairs']} pairs, first {len(nd['examples'])})"
    )
    for c in ("items", "Jaccard", "inputs"):
        t.add_column(c, justify="right" if c == "Jaccard" else "left")
    for e in nd["examples"]:
        t.add_row(
            escape(" / ".join(e["item_ids"])),
            fmt(e["jaccard"]),
            escape(" | ".join((x or "")[:60] for x in e["inputs"])),
        )
    return t


def suspects_table(s: dict, data: str, n: int = 10) -> Table:
    t = Table(
        title=f"{escape(data)} — noisy-label candidates: {s['n_pairs']} labelled pairs, "
        f"{s['n_unanimous']} where every scorer prefers the other response, "
        f"{s['n_confident']} with ensemble P(other better) ≥ 0.8"
    )
    for c in ("#", "item", "human prefers", "over", "human scores", "P(other better)", "all agree"):
        t.add_column(c, justify="right" if c in ("#", "P(other better)") else "left")
    for r in s["top"][:n]:
        t.add_row(
            str(r["rank"]),
            escape(str(r["item_id"])),
            escape(str(r["preferred_response_id"])),
            escape(str(r["other_response_id"])),
            f"{fmt(r['human_score_preferred'], 2)} vs {fmt(r['human_score_other'], 2)}",
            fmt(r["ensemble_p_other_better"]),
            "yes" if r["unanimous"] else "no",
        )
    return t


def ceiling_table(c: dict, data: str) -> Table:
    names = list(c["mean_over_raters"])
    t = Table(
        title=f"{escape(data)} — humans as scorers: {c['statistic']} against the other raters' "
        "mean, on each rater's cells"
    )
    t.add_column("rater")
    for n in names:
        t.add_column("human (the rater)" if n == "human" else escape(n), justify="right")
    for rater, row in c["raters"].items():
        t.add_row(escape(rater), *[fmt_ci(row[n]) for n in names])
    t.add_row("[b]mean over raters[/b]", *[fmt(c["mean_over_raters"][n]) for n in names])
    return t


def combination_table(doc: dict) -> Table:
    t = Table(
        title=f"{escape(doc['data'])} — {doc['statistic']} of a cross-fitted Bradley–Terry "
        f"combination vs its parts ({doc['n_folds']} folds over items)"
    )
    t.add_column("scorer")
    t.add_column(f"{doc['statistic']} [95% CI]", justify="right")
    t.add_column("weight (per SD)", justify="right")
    for name, r in doc["scorers"].items():
        w = doc["weights"].get(name)
        t.add_row(escape(name), fmt_ci(r), "-" if w is None else fmt(w))
    return t
