"""Rich tables for meta-evaluation results (from the JSON form, so saved results render too).

The document's type is :class:`overcoat.evaluation.schema.MetaEvalDoc`, the one definition the
writer (``MetaEvalResult.to_json``) also uses."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rich.markup import escape
from rich.table import Table

from ..evaluation.schema import Estimate, MetaEvalDoc
from .numbers import fmt, fmt_ci

LABELS = {
    "acc_eq": "acc_eq (tie-cal.)",
    "pairwise_accuracy_strict": "pref. acc",
    "pairwise_accuracy_half": "pref. acc (½ ties)",
    "pearson": "Pearson",
    "kendall_tau_b": "Kendall τb",
    "system_pearson": "sys Pearson",
    "system_kendall_tau_b": "sys Kendall τb",
    "soft_pairwise_accuracy": "sys SPA",
}


def _block(x: Any) -> dict[str, Any]:
    """An optional block of the document (``ranking``, ``significance``) as a plain dict."""
    return dict(x or {})


def _num(x, digits=4) -> str:
    return fmt(x, digits, missing="–")


def _with_ci(entry: Estimate | None, digits=4) -> str:
    return fmt_ci(entry, digits, missing="–")


def leaderboard_legend(
    *,
    permute: str | None,
    alpha: Any,
    no_signal: bool,
    all_ties: bool,
    partial: bool,
    pref_acc: bool,
    clusters: bool = True,
    more: str = "",
) -> list[str]:
    """The lines that explain a leaderboard's marks, in the terminal and the HTML report alike
    (``more`` is added to the cluster line's parenthesis)."""
    unit = "score cells, as WMT" if permute == "cells" else "items"
    lines = []
    if clusters:
        lines.append(
            f"# = significance cluster (paired permutation test over {unit}; clusters from raw "
            f"p < {alpha}{more})"
        )
    if no_signal:
        lines.append(
            "○ = not distinguishable from a scorer without signal on this statistic (its 95% CI "
            "reaches the no-signal value)"
        )
    if all_ties:
        lines.append(
            "⚑ = ε calls every pair a tie: acc_eq equals the all-ties baseline that a constant "
            "scorer gets"
        )
    if partial:
        lines.append(
            "scored = responses with a score / all responses; the rest are left out of every "
            "statistic"
        )
    if pref_acc:
        lines.append("pref. acc = the RM view: gold ties left out, a scorer tie counts wrong")
    return lines


def _sort_key(res: MetaEvalDoc, primary: str):
    seg, sysl = res["segment_level"], res["system_level"]

    def key(s):
        e = seg.get(s["name"], {}).get(primary) or sysl.get(s["name"], {}).get(primary) or {}
        v = e.get("statistic")
        return -(v if v is not None else -math.inf)

    return key


def leaderboard_order(res: MetaEvalDoc) -> list[str]:
    """The scorers best first by the ranking statistic (undefined values last): the row order of
    :func:`leaderboard_table` and :func:`system_table`."""
    return [s["name"] for s in sorted(res["scorers"], key=_sort_key(res, res["primary_statistic"]))]


def ranking_note(res: MetaEvalDoc) -> str | None:
    """One line saying why the leaderboard is not ranked by its usual statistic (the ranking rule,
    README "Ranking rule"), or that no statistic separates the scorers from a scorer without signal."""
    rk = _block(res.get("ranking"))
    if not rk:
        return None
    req, used = str(rk.get("requested")), str(rk.get("statistic"))
    at = rk.get("at_no_signal") or {}
    n = rk.get("n_scorers")
    if not rk.get("informative", True):
        return (
            f"not informative: {', '.join(LABELS.get(k, k) for k in at)} are at their no-signal "
            f"values for most of the {n} scorers; this order is noise"
        )
    if used != req:
        what = "the all-ties baseline" if req == "acc_eq" else "its no-signal value"
        return (
            f"ranked by {LABELS.get(used, used)}, not {LABELS.get(req, req)}: "
            f"{LABELS.get(req, req)} is at {what} for {len(at.get(req, []))} of {n} scorers"
        )
    return None


def leaderboard_table(res: MetaEvalDoc, *, title: str | None = None) -> Table:
    """Segment level, one row per scorer, best first by the ranking statistic: significance
    cluster, statistic with 95% CI, then acc_eq with its epsilon and the all-ties baseline (when
    computed), then the other segment-level statistics. When the ranking rule replaced the usual
    statistic (``res["ranking"]``), the title says so and why."""
    primary = res["primary_statistic"]
    seg = res["segment_level"]
    data = res["data"]
    title = title or (
        f"{data['name']} — segment level: {data['n_items']} items, "
        f"{data['n_responses']} responses, {data['n_pairs']} pairs, "
        f"gold ties {_num(data['gold_tie_rate'], 3)}"
    )
    note = ranking_note(res)
    width = len(title)
    if note:
        title += "\n" + note
        width = max(width, len(note))
    t = Table(title=title, min_width=min(width + 4, 120))
    t.add_column("#", justify="right")
    t.add_column("scorer")
    t.add_column(LABELS.get(primary, primary) + " [95% CI]", justify="right")
    extra: list[str] = []
    for name in seg:
        for k in seg[name]:
            if k != primary and k not in extra:
                extra.append(k)
    show_eps = "acc_eq" in extra or primary == "acc_eq"
    if "acc_eq" in extra:
        extra.remove("acc_eq")
        t.add_column(LABELS["acc_eq"], justify="right")
    if show_eps:
        t.add_column("ε", justify="right")
        t.add_column("all-ties", justify="right")
    for k in extra:
        t.add_column(LABELS.get(k, k), justify="right")
    cov = {s["name"]: s.get("coverage") for s in res["scorers"]}
    show_cov = any(c and c["scored"] < c["total"] for c in cov.values())
    if show_cov:
        t.add_column("scored", justify="right")
    clusters = {s["name"]: s.get("cluster") for s in res["scorers"]}
    no_signal = set((_block(res.get("ranking")).get("at_no_signal") or {}).get(primary, []))
    for s in sorted(res["scorers"], key=_sort_key(res, primary)):
        n = s["name"]
        e = seg.get(n, {}).get(primary)
        row = [
            str(clusters.get(n) or ""),
            escape(n),
            _with_ci(e) + (" ○" if n in no_signal else ""),
        ]
        if show_eps:
            a = seg.get(n, {}).get("acc_eq")
            if primary != "acc_eq":
                row.append(_num(a.get("statistic")) if a else "–")
            flag = " ⚑" if a and a.get("all_ties") else ""
            row += [
                _num(a.get("epsilon"), 3) if a else "–",
                (_num(a.get("all_ties_baseline")) + flag) if a else "–",
            ]
        row += [_num((seg.get(n, {}).get(k) or {}).get("statistic")) for k in extra]
        if show_cov:
            c = cov.get(n)
            row.append(f"{c['scored']}/{c['total']}" if c else "–")
        t.add_row(*row)
    permute = _block(res.get("significance")).get("permute")
    cap = leaderboard_legend(
        permute=permute,
        alpha=res["settings"]["alpha"],
        no_signal=bool(no_signal),
        all_ties=show_eps,
        partial=show_cov,
        pref_acc="pairwise_accuracy_strict" in extra or primary == "pairwise_accuracy_strict",
        more="; corrected p-values: overcoat compare",
    )
    t.caption = "\n".join(cap)
    return t


def system_table(res: MetaEvalDoc) -> Table | None:
    """System level, one row per scorer (same order as the segment table)."""
    sysl = res["system_level"]
    if not sysl:
        return None
    t = Table(title=f"{res['data']['name']} — system level: {res['data']['n_systems']} systems")
    t.add_column("scorer")
    keys: list[str] = []
    for name in sysl:
        for k in sysl[name]:
            if k not in keys:
                keys.append(k)
    for k in keys:
        label = LABELS.get(k, k) + (" [95% CI]" if k != "soft_pairwise_accuracy" else "")
        t.add_column(label, justify="right")
    for s in sorted(res["scorers"], key=_sort_key(res, res["primary_statistic"])):
        n = s["name"]
        t.add_row(escape(n), *[_with_ci(sysl.get(n, {}).get(k)) for k in keys])
    return t


def significance_table(res: MetaEvalDoc) -> Table:
    s = _block(res["significance"])
    names = s["names"]
    p = s["pvalues_corrected"] if s.get("pvalues_corrected") is not None else s["pvalues"]
    t = Table(
        title=f"p-values ({s['correction']}-corrected): row better than column on "
        f"{LABELS.get(s['statistic'], s['statistic'])}"
    )
    t.add_column("")
    for n in names:
        t.add_column(escape(n), justify="right")
    for i, a in enumerate(names):
        cells = []
        for j in range(len(names)):
            v = p[i][j]
            if i == j or v is None:
                cells.append("–")
            else:
                txt = f"{v:.3f}"
                cells.append(f"[bold]{txt}[/bold]" if v <= s["alpha"] else txt)
        t.add_row(escape(a), *cells)
    return t


def _scores_table(
    title: str, rules: dict, columns: list[tuple[str, Callable[[Any], Any]]]
) -> Table:
    """One row per scorer; ``columns``: (header, getter(rule dict) -> value)."""
    t = Table(title=title)
    t.add_column("scorer")
    for head, _ in columns:
        t.add_column(escape(head), justify="right")
    for name, r in rules.items():
        if "error" in r:
            t.add_row(
                escape(name), *([escape("error: " + str(r["error"]))] + [""] * (len(columns) - 1))
            )
            continue
        t.add_row(escape(name), *[_num(get(r)) for _, get in columns])
    return t


def _key(*path):
    def get(r):
        for k in path:
            r = (r or {}).get(k) if isinstance(r, dict) else None
        return r

    return get


def benchmark_tables(res: MetaEvalDoc) -> list[Table]:
    """The benchmark's own results per scorer, as its script prints them: RewardBench v1 overall,
    sections, Prior Sets and subset accuracies; RewardBench 2 subsets and the Ties score;
    RM-Bench easy/normal/hard, domains and the 3x3 style matrix; JudgeBench overall and per
    source category."""
    rules: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in (res.get("benchmark_rules") or {}).items()
    }
    if not rules:
        return []
    ok = [r for r in rules.values() if "error" not in r]
    first = ok[0] if ok else next(iter(rules.values()))
    rule = first.get("rule", "benchmark rule")
    head = f"{res['data']['name']} — {rule}"
    out: list[Table] = []

    def union(key):
        keys: list[str] = []
        for r in ok:
            for k in r.get(key) or {}:
                if k not in keys:
                    keys.append(k)
        return keys

    if rule == "RewardBench v1":
        cols = [("overall", _key("overall"))] + [
            (k, _key("sections", k)) for k in union("sections")
        ]
        if any("prior_sets" in r for r in ok):
            cols += [
                ("Prior Sets", _key("prior_sets")),
                ("overall w/ Prior Sets", _key("overall_with_prior_sets")),
            ]
        t = _scores_table(head, rules, cols)
        empty = first.get("empty_sections") or []
        if empty:
            t.caption = f"no data for {', '.join(empty)}: " + (
                "scored 0 and averaged in (official)"
                if first.get("empty_sections_rule") == "official"
                else "left out of overall (not the official number)"
            )
        out.append(t)
        subsets = union("subsets")
        if subsets:
            t = Table(title=f"{res['data']['name']} — RewardBench v1 subset accuracy")
            t.add_column("subset")
            t.add_column("n", justify="right")
            for name in rules:
                t.add_column(escape(name), justify="right")
            counts = first.get("subset_counts") or {}
            for sname in subsets:
                t.add_row(
                    escape(sname),
                    str(counts.get(sname, "")),
                    *[_num(_key("subsets", sname)(r)) for r in rules.values()],
                )
            out.append(t)
        return out
    if rule.startswith("RewardBench 2"):
        total = "overall" if "overall" in first else "overall_without_ties"
        cols = [(total.replace("_", " "), _key(total))] + [
            (k, _key("subsets", k)) for k in union("subsets")
        ]
        out.append(_scores_table(head, rules, cols))
        if any("ties" in r for r in ok):
            parts = [
                "score",
                "tied_accuracy",
                "ref_accuracy",
                "correctness_preferred",
                "correctness_preferred_hard",
                "correctness_margin_score",
            ]
            out.append(
                _scores_table(
                    f"{res['data']['name']} — RewardBench 2 Ties score",
                    rules,
                    [(p.replace("_", " "), _key("ties", p)) for p in parts],
                )
            )
        return out
    if rule == "RM-Bench":
        cols = [(k, _key(k)) for k in ("overall", "easy", "normal", "hard")] + [
            (k, _key("domains", k)) for k in union("domains")
        ]
        out.append(_scores_table(head, rules, cols))
        styles = first.get("styles") or ["concise", "detailed_plain", "detailed_markdown"]
        for name, r in rules.items():
            m = r.get("matrix")
            if not m:
                continue
            t = Table(
                title=f"{res['data']['name']} — RM-Bench style matrix, {escape(name)} "
                "(mean over domains)"
            )
            t.add_column("chosen \\ rejected")
            for sty in styles:
                t.add_column(sty, justify="right")
            for sty, row in zip(styles, m):
                t.add_row(sty, *[_num(x) for x in row])
            t.caption = "easy = below the diagonal, normal = diagonal, hard = above"
            out.append(t)
        return out
    if rule.startswith("JudgeBench"):
        cols = [("overall", _key("overall"))] + [
            (k, _key("sources", k)) for k in ("knowledge", "reasoning", "math", "coding")
        ]
        t = _scores_table(head, rules, cols)
        counts = first.get("source_counts") or {}
        t.caption = (
            f"ties: {first.get('ties')} convention; pairs: {first.get('n_pairs')} "
            "overall, " + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
        out.append(t)
        return out
    # any other rule: its numbers and its first group of sub-scores
    keys = [k for k, v in first.items() if isinstance(v, (int, float)) and k != "n_pairs"]
    groups = [k for k, v in first.items() if isinstance(v, dict)][:1]
    cols = (
        [(k, _key(k)) for k in keys] + [(k, _key(groups[0], k)) for k in union(groups[0])]
        if groups
        else [(k, _key(k)) for k in keys]
    )
    out.append(_scores_table(head, rules, cols))
    return out


def benchmark_table(res: MetaEvalDoc) -> Table | None:
    """The first of :func:`benchmark_tables` (None without benchmark rules)."""
    tables = benchmark_tables(res)
    return tables[0] if tables else None
