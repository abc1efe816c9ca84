"""The ranking rule: which statistic a leaderboard is ranked by (README "Ranking rule").

A leaderboard is ranked (and its significance clusters computed) by the primary statistic, unless
that statistic does not separate most scorers from what a scorer without signal gets: then it falls
back along :data:`RANKING_FALLBACK` to the first statistic that does. The no-signal value is the
all-ties baseline for acc_eq (what a constant scorer gets) and 0 for the correlations.
"""

from __future__ import annotations

from .schema import Estimate, Level, Ranking
from .settings import MetaEvalSettings

RANKING_FALLBACK: dict[str, tuple[str, ...]] = {"acc_eq": ("acc_eq", "kendall_tau_b", "pearson")}


def at_no_signal(stat: str, entry: Estimate | None) -> bool:
    """Whether a scorer's statistic is indistinguishable from the no-signal value: undefined; for acc_eq,
    flagged all-ties or its CI reaches the all-ties baseline; for a correlation, its CI contains 0.
    Without a CI (``group="none"``) only an undefined value or the all-ties flag count."""
    if not entry or entry.get("statistic") is None:
        return True
    if stat == "acc_eq":
        if entry.get("all_ties"):
            return True
        base = entry.get("all_ties_baseline")
        if base is None:
            return True
    else:
        base = 0.0
    ci = entry.get("confidence_interval")
    if ci and ci[0] is not None and ci[1] is not None:
        return ci[0] <= base <= ci[1]
    return False


def rank_statistic(segment: Level, primary: str, names: list[str]) -> tuple[str, Ranking]:
    """The statistic the leaderboard is ranked by, and why (the JSON ``ranking`` block).

    The primary statistic *collapses* when more than half of the scorers are at its no-signal value
    (:func:`at_no_signal`): its order among them is noise, and a constant or random scorer could be
    placed first. Then the leaderboard is ranked by the first later statistic of
    :data:`RANKING_FALLBACK` that has fewer scorers at its no-signal value than the primary; if there is
    none, the primary stays and ``informative`` is False (the table says so)."""
    order = [
        s
        for s in RANKING_FALLBACK.get(primary, (primary,))
        if s == primary or all(s in segment.get(n, {}) for n in names)
    ]
    at = {s: [n for n in names if at_no_signal(s, segment.get(n, {}).get(s))] for s in order}
    k = {s: len(v) for s, v in at.items()}
    chosen = (
        primary
        if 2 * k[primary] <= len(names)
        else next((s for s in order[1:] if k[s] < k[primary]), None)
    )
    info: Ranking = {
        "statistic": chosen or primary,
        "requested": primary,
        "order": order,
        "at_no_signal": at,
        "n_scorers": len(names),
        "collapsed": []
        if chosen == primary
        else order[: order.index(chosen)]
        if chosen
        else list(order),
        "informative": chosen is not None,
        "rule": "the primary statistic collapses when more than half of the scorers are at its "
        "no-signal value (acc_eq: the all-ties baseline; correlations: 0; 95% CI "
        "reaching it, or undefined); then rank by the first later statistic in 'order' "
        "with fewer scorers at their no-signal value",
    }
    return chosen or primary, info


def ranking_step(
    segment: Level, primary: str, names: list[str], st: MetaEvalSettings
) -> tuple[str, Ranking | None, list[str]]:
    """The ranking statistic, the ``ranking`` block (None where the rule does not apply) and the
    notes saying why the usual statistic was replaced or that no statistic is informative."""
    if primary not in RANKING_FALLBACK or not st.rank_fallback:
        return primary, None, []
    primary, ranking = rank_statistic(segment, primary, names)
    notes = []
    req = ranking["requested"]
    if primary != req:
        notes.append(
            f"ranked by {primary}: {req} is at its no-signal value for "
            f"{len(ranking['at_no_signal'][req])} of {len(names)} "
            f"scorers ({', '.join(ranking['at_no_signal'][req])})"
        )
    elif not ranking["informative"]:
        notes.append(
            "no statistic separates most scorers from a scorer without signal: the "
            "ranking is not informative"
        )
    return primary, ranking, notes
