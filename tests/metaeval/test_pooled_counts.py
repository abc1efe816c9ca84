"""Pooled pair counts (epsilon = 0) by sorting and merge-sort inversion counting, against pair loops."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss

from overcoat.metaeval import _util as U
from overcoat.metaeval.correlation import kendall_tau


def loop_inversions(r, w=None):
    n = len(r)
    w = np.ones(n) if w is None else w
    return sum(w[a] * w[b] for a in range(n) for b in range(a + 1, n) if r[a] > r[b])


def test_discordant_count_equals_inversions_and_loop():
    """scipy's compiled counter (when present) and the numpy merge sort agree with a pair loop."""
    rng = np.random.default_rng(3)
    for n, k in ((2, 2), (9, 3), (60, 4), (200, 50)):
        h = np.sort(rng.integers(0, k, n))
        m = rng.integers(0, k, n)
        order = np.lexsort((m, h))  # cells sorted by (h, m), as the pooled counts sort them
        hs, ms = h[order], m[order]
        hr = np.cumsum(np.r_[True, hs[1:] != hs[:-1]])
        mr = np.searchsorted(np.unique(ms), ms) + 1
        want = sum(1 for a in range(n) for b in range(a + 1, n) if hs[a] < hs[b] and ms[a] > ms[b])
        assert U._discordant(hr, mr) == want == U._inversions(mr)


def loop_counts(h, m, w):
    c = dict(con=0.0, dis=0.0, t_h=0.0, t_m=0.0, t_hm=0.0)
    for a in range(len(h)):
        for b in range(a + 1, len(h)):
            dh, dm = h[a] - h[b], m[a] - m[b]
            k = ("t_hm" if dh == 0 and dm == 0 else "t_h" if dh == 0 else "t_m" if dm == 0
                 else "con" if (dh > 0) == (dm > 0) else "dis")
            c[k] += w[a] * w[b]
    return c


@pytest.mark.parametrize("force_argsort", [False, True])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 17, 64, 131])
def test_inversions_against_loop(n, force_argsort, monkeypatch):
    if force_argsort:  # the fallback for keys too wide for position tags
        monkeypatch.setattr(U, "_KEY_BITS", 0)
    rng = np.random.default_rng(n)
    for k in (2, 5, 1000):
        r = rng.integers(0, k, n)
        assert U._inversions(r) == loop_inversions(r)
        w = rng.random(n)
        assert U._inversions(r, w) == pytest.approx(loop_inversions(r, w), abs=1e-9)
        W = rng.random((3, n))
        np.testing.assert_allclose(U._inversions(r, W), [loop_inversions(r, x) for x in W], atol=1e-9)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_pooled_counts_against_loop(seed, compiled, monkeypatch):
    if not compiled:  # the pure-numpy merge sort, used where scipy lacks its compiled counter
        monkeypatch.setattr(U, "_KENDALL_DIS", None)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    h = rng.integers(0, 4, n).astype(float) * 0.5
    m = np.round(rng.normal(size=n), 1) if seed % 2 else rng.normal(size=n)
    c = U._pooled_counts_exact_ties(h, m)
    ref = loop_counts(h, m, np.ones(n))
    assert {k: float(getattr(c, k)) for k in ref} == ref  # exact integer counts
    w = rng.integers(0, 3, n).astype(float)
    cw = U._pooled_counts_exact_ties(h, m, w)
    refw = loop_counts(h, m, w)
    for k in refw:
        assert float(getattr(cw, k)) == pytest.approx(refw[k], abs=1e-9)


@pytest.mark.parametrize("variant", ["b", "c"])
def test_pooled_kendall_equals_scipy_on_many_cells(variant):
    """20,000 cells with many ties in both vectors (many runs and merge levels)."""
    rng = np.random.default_rng(7)
    h = rng.integers(0, 30, (2000, 10)).astype(float)
    m = np.round(h * 0.1 + rng.normal(size=h.shape), 2)
    got = kendall_tau(h, m, variant=variant, group="none").statistic
    assert got == pytest.approx(ss.kendalltau(h.ravel(), m.ravel(), variant=variant).statistic, abs=1e-14)
