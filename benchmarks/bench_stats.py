"""overcoat.metaeval vs scipy.stats on the same inputs: pooled Kendall tau, bootstrap CIs.

    python benchmarks/bench_stats.py [--quick] [--markdown]

Peers are scipy's own vectorised functions, as a user would call them:

* ``scipy.stats.kendalltau(x, y)`` (tau-b; scipy sorts twice and counts discordant pairs with a Cython
  merge sort) vs ``kendall_tau(h, m, group="none")`` on the same cells;
* ``scipy.stats.bootstrap((x,), np.mean, vectorized=True, batch=100, rng=default_rng(seed))`` on the
  per-pair correctness indicator vs ``bootstrap_ci(item_weighted(pairwise_accuracy), h, m, seed=seed)`` on
  the preference pairs (100k pairs x 1,000 resamples, percentile; 5,000 pairs x 1,000 resamples, BCa:
  scipy's BCa jackknife is O(n^2) memory-bound, so it gets a smaller n). Both draw resample r as the r-th
  ``integers(0, n, n)`` of the same generator, so the bootstrap distributions, hence the intervals, are
  the same numbers. ``batch=100`` keeps scipy's working set at 80 MB (``batch=None`` would build a
  1,000 x 100k array); it is not slower than larger batches on this machine.

Each side is timed over its whole call, best of ``repeat`` runs.
"""

from __future__ import annotations

import numpy as np
import scipy.stats as ss

from _bench import Row, main, timed


def mqm_like(n_items, n_sys, seed=0, lam=0.8):
    """Synthetic MQM-like scores: integer human scores (0, -1, -5, ...; many ties), metric scores rounded to
    4 decimals."""
    rng = np.random.default_rng(seed)
    diff = rng.gamma(0.5, 1.0, size=(n_items, 1))
    h = -(
        5.0 * rng.poisson(lam * diff, size=(n_items, n_sys))
        + 1.0 * rng.poisson(lam * diff, size=(n_items, n_sys))
    )
    m = np.round(0.02 * h - 0.05 * diff + rng.normal(scale=0.05, size=h.shape), 4)
    return h, m


def preference_pairs(n, seed=0):
    rng = np.random.default_rng(seed)
    h = np.tile([1.0, 0.0], (n, 1))
    m = np.column_stack([rng.normal(0.3, 1, n), rng.normal(0, 1, n)])
    return h, m


def kendall_rows(quick):
    from overcoat.metaeval.correlation import kendall_tau

    rows = []
    n_items = 10_000 if quick else 100_000
    h, m = mqm_like(n_items, 10, seed=3)
    rng = np.random.default_rng(4)
    cases = [
        ("pooled Kendall τ-b, MQM-like (integer human scores, 4-decimal metric)", h, m),
        (
            "pooled Kendall τ-b, continuous human and metric scores",
            h + rng.normal(scale=1.0, size=h.shape),
            m + rng.normal(scale=1e-3, size=m.shape),
        ),
    ]
    for what, hh, mm in cases:
        x, y = hh.ravel(), mm.ravel()
        ours_s, ours = timed(lambda: kendall_tau(hh, mm, variant="b", group="none"), repeat=3)
        peer_s, peer = timed(lambda: ss.kendalltau(x, y), repeat=3)
        d = abs(ours.statistic - peer.statistic)
        rows.append(
            Row(
                what,
                f"{x.size:,} cells",
                ours_s,
                "scipy.stats.kendalltau",
                peer_s,
                f"yes (|Δ| {d:.0e})" if d <= 1e-12 else f"NO (|Δ| {d:.1e})",
            )
        )
    return rows


def bootstrap_rows(quick):
    from overcoat.metaeval.accuracy import pairwise_accuracy
    from overcoat.metaeval.resampling import bootstrap_ci, item_weighted

    rows = []
    st = item_weighted(pairwise_accuracy, group="item")
    for method, n, B in (
        ("percentile", 20_000 if quick else 100_000, 1000),
        ("BCa", 2_000 if quick else 5_000, 1000),
    ):
        h, m = preference_pairs(n)
        x = (m[:, 0] > m[:, 1]).astype(
            float
        )  # the per-pair correctness a scipy user would bootstrap
        ours_s, ours = timed(
            lambda: bootstrap_ci(st, h, m, n_resamples=B, seed=0, method=method.lower()), repeat=3
        )
        peer_s, peer = timed(
            lambda: ss.bootstrap(
                (x,),
                np.mean,
                n_resamples=B,
                batch=100,
                vectorized=True,
                method=method,
                rng=np.random.default_rng(0),
            ),
            repeat=3,
        )
        ci = peer.confidence_interval
        d = max(
            abs(ours.confidence_interval[0] - ci.low), abs(ours.confidence_interval[1] - ci.high)
        )
        dd = np.max(
            np.abs(np.sort(ours.bootstrap_distribution) - np.sort(peer.bootstrap_distribution))
        )
        eq = (
            f"yes (CI |Δ| {d:.0e}, distributions |Δ| {dd:.0e})"
            if d <= 1e-12
            else f"NO (CI |Δ| {d:.1e})"
        )
        rows.append(
            Row(
                f"{method} bootstrap CI of pairwise accuracy",
                f"{n:,} pairs × {B:,} resamples",
                ours_s,
                "scipy.stats.bootstrap (vectorized, batch=100)",
                peer_s,
                eq,
            )
        )
    return rows


def collect(quick: bool = False) -> list[Row]:
    return kendall_rows(quick) + bootstrap_rows(quick)


if __name__ == "__main__":
    main(collect, __doc__)
