"""Faithful reimplementations of mt-metrics-eval algorithms, for the benchmarks (written from
google-research/mt-metrics-eval: stats.PermutationSigDiff, tau_optimization.tau_optimization with
acc_23, pce.compute_pairwise_p_values / compute_one_minus_pce). Not the PyPI package called
mt-metrics-eval, which is an unrelated project.

Matrices are (items, responses) = (segments, systems), i.e. mt-metrics-eval's ``average_by="item"``
rows.
"""

from __future__ import annotations

import numpy as np
import scipy.stats


def tau_opt_acc23_item(gold: np.ndarray, metric: np.ndarray) -> tuple[int, int]:
    """KendallWithTiesOpt(variant="acc23", average_by="item", sample_rate=1): tau_optimization's sweep.

    Every within-row pair starts with its sufficient statistics (concordant / tied in both count for
    acc_23); pairs are visited by increasing |metric difference| and each becomes a metric tie; a run of
    equal differences gives one threshold (its last value); the best threshold is the first maximum
    (np.nanargmax). The sweep is one sort and one cumulative sum here instead of a Python loop over pair
    objects (same values). Rows must have the same number of pairs (no missing scores), so the average
    of row accuracies is ``count / (n_pairs_per_row * n_rows)``; returned as the integer ``count`` and its
    denominator, so that comparisons are exact, as in exact arithmetic.
    """
    n, r = gold.shape
    jj, kk = np.triu_indices(r, 1)
    hd = (gold[:, jj] - gold[:, kk]).ravel()
    md = (metric[:, jj] - metric[:, kk]).ravel()
    agree = ((hd == 0) & (md == 0)) | (hd * md > 0)
    tie_agree = hd == 0
    step = tie_agree.astype(np.int64) - agree.astype(np.int64)
    diff = np.abs(md)
    order = np.argsort(diff, kind="stable")
    d = diff[order]
    cs = int(agree.sum()) + np.cumsum(step[order])
    last = np.ones(d.size, dtype=bool)
    last[:-1] = d[1:] != d[:-1]
    taus = cs[last]
    if d.size == 0 or d[0] != 0.0:  # threshold 0 keeps the initial value
        taus = np.concatenate([[int(agree.sum())], taus])
    return int(taus.max()), n * len(jj)


def permutation_sig_diff(
    gold, mscores1, mscores2, k=1000, draws=None, block_size=1000, early_min=0.02, early_max=0.5
):
    """stats.PermutationSigDiff with corr_fcn=KendallWithTiesOpt (acc23, average_by="item").

    Both metrics z-scored (scipy.stats.zscore over all scores); per resample a fair coin per score
    (``np.random.binomial(1, 0.5, n)``, or row i-1 of ``draws`` where 1 = swap) mixes the two; the
    p-value for "metric 2 better" is #(c2 - c1 >= delta) / i, with early stopping every
    ``block_size`` resamples. Returns (p, k_used).
    """
    m1 = scipy.stats.zscore(mscores1.reshape(-1)).reshape(mscores1.shape)
    m2 = scipy.stats.zscore(mscores2.reshape(-1)).reshape(mscores2.shape)
    c2, den = tau_opt_acc23_item(gold, m2)
    c1, _ = tau_opt_acc23_item(gold, m1)
    delta = c2 - c1
    i, large_delta_count = 1, 0
    for i in range(1, k + 1):
        if draws is None:
            w1 = np.random.binomial(1, 0.5, m1.size).reshape(m1.shape)  # noqa: NPY002 (as mt-metrics-eval)
        else:
            w1 = 1 - draws[i - 1].reshape(m1.shape)
        w2 = 1 - w1
        x1 = w1 * m1 + w2 * m2
        x2 = w2 * m1 + w1 * m2
        a1, _ = tau_opt_acc23_item(gold, x1)
        a2, _ = tau_opt_acc23_item(gold, x2)
        if a2 - a1 >= delta:
            large_delta_count += 1
        if i % block_size == 0:
            pval = large_delta_count / i
            if pval < early_min or pval > early_max:
                break
    return large_delta_count / i, i


def pce_pairwise_p_values(seg_scores, num_permutations=1000, seed=4, dtype=np.float32):
    """pce.compute_pairwise_p_values, step by step: (systems, segments) scores; a fresh
    default_rng(seed) per call, float32 uniforms rounded in place to 0/1, scaled to -1/+1, float32
    scores (as published; ``dtype=np.float64`` isolates the effect of float32 rounding), matmul,
    one loop per pair. Also the tests' reference (tests/metaeval/test_system.py)."""
    num_systems, num_segments = seg_scores.shape
    rng = np.random.default_rng(seed)
    two_m_minus_one = rng.random(size=(num_permutations, num_segments), dtype=np.float32)
    np.rint(two_m_minus_one, out=two_m_minus_one, casting="same_kind")
    two_m_minus_one *= 2.0
    two_m_minus_one -= 1.0
    two_m_minus_one = two_m_minus_one.astype(dtype)
    seg_scores = seg_scores.astype(dtype)
    sys_scores = np.sum(seg_scores, axis=1)
    partial = np.matmul(two_m_minus_one, seg_scores.T)
    p_vals = np.empty((num_systems, num_systems)) * np.nan
    for ii in range(num_systems):
        for jj in range(ii + 1, num_systems):
            null_delta = partial[:, ii] - partial[:, jj]
            test_delta = sys_scores[ii] - sys_scores[jj]
            p_vals[ii, jj] = np.sum(null_delta >= test_delta) / num_permutations
    return p_vals


def pce_spa(human, metric, num_permutations=1000):
    """stats.PairwiseConfidenceError (1 - PCE = SPA) on (segments, systems) matrices."""
    ph = pce_pairwise_p_values(human.T, num_permutations)
    pm = pce_pairwise_p_values(metric.T, num_permutations)
    upper = np.triu_indices(ph.shape[0], 1)
    return 1.0 - np.mean(np.abs(ph - pm)[upper])


class _Stats:
    """tau_optimization.TauSufficientStats (the fields acc_23 reads, and the others it carries)."""

    __slots__ = ("con", "dis", "ties_human", "ties_metric", "ties_both", "num_pairs")

    def __init__(self, con=0, dis=0, ties_human=0, ties_metric=0, ties_both=0):
        self.con, self.dis, self.ties_human = con, dis, ties_human
        self.ties_metric, self.ties_both = ties_metric, ties_both
        self.num_pairs = con + dis + ties_human + ties_metric + ties_both

    def acc_23(self):
        return (self.con + self.ties_both) / self.num_pairs

    def add(self, o, sign):
        self.con += sign * o.con
        self.dis += sign * o.dis
        self.ties_human += sign * o.ties_human
        self.ties_metric += sign * o.ties_metric
        self.ties_both += sign * o.ties_both
        self.num_pairs += sign * o.num_pairs


def tau_optimization_python(metric, gold):
    """tau_optimization.tau_optimization(metric, gold, acc_23, sample_rate=1) as published: one Python
    object per pair, per-row statistics, a sort of the pairs and a Python loop over them."""
    pairs = []
    rows = set()
    for row, (r1, r2) in enumerate(zip(gold, metric)):
        for i in range(len(r1)):
            for j in range(i + 1, len(r1)):
                h1, h2, m1, m2 = r1[i], r1[j], r2[i], r2[j]
                if h1 == h2 and m1 == m2:
                    st = _Stats(ties_both=1)
                elif h1 == h2:
                    st = _Stats(ties_human=1)
                elif m1 == m2:
                    st = _Stats(ties_metric=1)
                elif (h1 > h2 and m1 > m2) or (h1 < h2 and m1 < m2):
                    st = _Stats(con=1)
                else:
                    st = _Stats(dis=1)
                tie = _Stats(ties_both=1) if h1 == h2 else _Stats(ties_metric=1)
                pairs.append((abs(m1 - m2), row, st, tie))
                rows.add(row)
    row_stats = {row: _Stats() for row in rows}
    for _, row, st, _ in pairs:
        row_stats[row].add(st, 1)
    thresholds = [0.0]
    total = sum(s.acc_23() for s in row_stats.values())
    taus = [total / len(rows)]
    pairs.sort(key=lambda p: p[0])
    for diff, row, st, tie in pairs:
        rs = row_stats[row]
        total -= rs.acc_23()
        rs.add(st, -1)
        rs.add(tie, 1)
        total += rs.acc_23()
        if thresholds[-1] == diff:
            taus[-1] = total / len(rows)
        else:
            thresholds.append(diff)
            taus.append(total / len(rows))
    return float(np.nanmax(taus))
