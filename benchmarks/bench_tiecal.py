"""Tie calibration (item-grouped acc_eq with the optimal epsilon) vs mt-metrics-eval's tau optimisation.

    python benchmarks/bench_tiecal.py [--quick] [--markdown]

The peer is a literal reimplementation, written for this script from the published algorithm of
google-research/mt-metrics-eval (``mt_metrics_eval/tau_optimization.py``, ``tau_optimization(metric, human,
TauSufficientStats.acc_23)``; Deutsch, Foster & Freitag 2023, "Ties Matter"), which WMT uses for its
tie-calibrated pairwise accuracy (mt-metrics-eval is not on PyPI; the PyPI package of that name is an
unrelated project). Its steps:

1. enumerate every within-item pair (both cells present) as a record holding the pair's item, the
   absolute metric difference, its sufficient statistics as ranked (C, D, T_h, T_m, T_hm: one of them is 1)
   and as a metric tie (T_hm if a human tie, else T_m);
2. add up per-item statistics; the running total is the sum over items of acc23 = (C + T_hm) / N;
3. sort the pairs by metric difference; walk them in order, moving each pair from its ranked statistics
   to its tie statistics and updating its item's term of the total; record (threshold = this pair's
   difference, mean over items), overwriting the record while the difference repeats;
4. the first threshold with the largest mean wins (``np.nanargmax``), starting from threshold 0.

overcoat's ``tie_calibrated_accuracy(h, m, group="item")`` computes the same statistic and epsilon
(vectorised sweep). Inputs: bundled WMT21 TED en-de and zh-en with chrF scores (computed once, not timed)
and a synthetic MQM-like set of 1,300 items x 15 systems. The whole peer run is timed (pair enumeration
included: it is part of the published function); ours is the whole library call.
"""

from __future__ import annotations

import numpy as np

from _bench import Row, main, timed


class _Stats:
    __slots__ = ("con", "dis", "th", "tm", "thm", "n")

    def __init__(self):
        self.con = self.dis = self.th = self.tm = self.thm = self.n = 0

    def acc23(self):
        return (self.con + self.thm) / self.n


_FIELDS = ("con", "dis", "th", "tm", "thm")


def mtme_tau_optimization_acc23(metric, human):
    """(best threshold, best mean acc23 over items) following mt-metrics-eval's tau_optimization.

    NaN marks a missing cell (mt-metrics-eval uses None)."""
    pairs = []  # (diff, row, ranked field, tie field)
    rows = set()
    for row, (hr, mr) in enumerate(zip(human, metric)):
        cells = [(a, b) for a, b in zip(hr, mr) if not (np.isnan(a) or np.isnan(b))]
        for i in range(len(cells)):
            h1, m1 = cells[i]
            for j in range(i + 1, len(cells)):
                h2, m2 = cells[j]
                if h1 == h2 and m1 == m2:
                    ranked = "thm"
                elif h1 == h2:
                    ranked = "th"
                elif m1 == m2:
                    ranked = "tm"
                elif (h1 > h2) == (m1 > m2):
                    ranked = "con"
                else:
                    ranked = "dis"
                tie = "thm" if h1 == h2 else "tm"
                pairs.append((abs(m1 - m2), row, ranked, tie))
                rows.add(row)
    stats = {r: _Stats() for r in rows}
    for _, row, ranked, _ in pairs:
        s = stats[row]
        setattr(s, ranked, getattr(s, ranked) + 1)
        s.n += 1
    n_rows = len(rows)
    thresholds = [0.0]
    total = sum(s.acc23() for s in stats.values())
    taus = [total / n_rows]
    pairs.sort(key=lambda p: p[0])
    for diff, row, ranked, tie in pairs:
        s = stats[row]
        total -= s.acc23()
        setattr(s, ranked, getattr(s, ranked) - 1)
        setattr(s, tie, getattr(s, tie) + 1)
        total += s.acc23()
        if thresholds[-1] == diff:
            taus[-1] = total / n_rows
        else:
            thresholds.append(diff)
            taus.append(total / n_rows)
    best = int(np.nanargmax(taus))
    return thresholds[best], taus[best]


def ted_chrf(name):
    from overcoat import api

    ds = api.load(name)
    sc = api.score(ds, ["chrf"], cache=None, progress=False)
    return ds.human_matrix(), sc.matrix(list(sc.scores)[0])


def collect(quick: bool = False) -> list[Row]:
    from bench_stats import mqm_like

    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    cases = []
    for name in ("ted-ende",) if quick else ("ted-ende", "ted-zhen"):
        h, m = ted_chrf(name)
        cases.append((f"tie-calibrated acc_eq, item-grouped, {name} chrF", h, m, None))
    n_items = 300 if quick else 1300
    h, m = mqm_like(n_items, 15)
    cases.append(("tie-calibrated acc_eq, item-grouped, MQM-like synthetic", h, m, 4))
    rows = []
    for what, h, m, decimals in cases:
        ours_s, ours = timed(lambda: tie_calibrated_accuracy(h, m, group="item"), repeat=5)
        peer_s, (eps, val) = timed(lambda: mtme_tau_optimization_acc23(m, h))
        d = abs(ours.statistic - val)
        same_eps = ours.epsilon == eps
        eq = (
            f"yes (acc_eq |Δ| {d:.0e}, same ε)"
            if d <= 1e-9 and same_eps
            else f"NO (acc_eq |Δ| {d:.1e}, ε {ours.epsilon} vs {eps})"
        )
        if decimals is not None and eq.startswith("NO"):
            # decimal scores: mt-metrics-eval's exact float comparisons split gaps that are equal in
            # decimal arithmetic (e.g. 0.3 - 0.1 vs 0.5 - 0.3); the peer on the exact integer-scaled
            # scores gives the decimal answer, which overcoat's tolerant gap comparison reproduces
            scale = 10.0**decimals
            eps_x, val_x = mtme_tau_optimization_acc23(np.rint(m * scale), h)
            dx = abs(ours.statistic - val_x)
            same_x = abs(ours.epsilon * scale - eps_x) <= 1e-9 * max(1.0, eps_x)
            eq += (
                f"; = peer on exact ×10^{decimals} integer scores (|Δ| {dx:.0e}, same ε): the float "
                "peer splits gaps equal up to rounding"
                if dx <= 1e-9 and same_x
                else f"; ≠ peer on ×10^{decimals} integer scores too (|Δ| {dx:.1e})"
            )
        rows.append(
            Row(
                what,
                f"{h.shape[0]:,} × {h.shape[1]}, {ours.n_pairs:,} pairs",
                ours_s,
                "mt-metrics-eval tau_optimization (reimpl.)",
                peer_s,
                eq,
            )
        )
    return rows


if __name__ == "__main__":
    main(collect, __doc__)
