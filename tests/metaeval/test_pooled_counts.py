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
    c = {"con": 0.0, "dis": 0.0, "t_h": 0.0, "t_m": 0.0, "t_hm": 0.0}
    for a in range(len(h)):
        for b in range(a + 1, len(h)):
            dh, dm = h[a] - h[b], m[a] - m[b]
            k = (
                "t_hm"
                if dh == 0 and dm == 0
                else "t_h"
                if dh == 0
                else "t_m"
                if dm == 0
                else "con"
                if (dh > 0) == (dm > 0)
                else "dis"
            )
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
        np.testing.assert_allclose(
            U._inversions(r, W), [loop_inversions(r, x) for x in W], atol=1e-9
        )


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
    assert got == pytest.approx(
        ss.kendalltau(h.ravel(), m.ravel(), variant=variant).statistic, abs=1e-14
    )


# ---------------------------------------------------------------------------------------------
# The unweighted fast path: integer codes (grid / small / packed sort) and one sort of pair codes
# ---------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

# floats that stress the codes: signed zeros, subnormals, huge values, neighbours one ulp apart,
# decimal grids, continuous values
_NEAR_ONE = [1.0 + j * 2.0**-52 for j in (0, 1, 2, 3, 64, 65, 1 << 20)]
_SPECIAL = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    1e-310,
    1e300,
    -1e300,
    2.0**60,
    0.1,
    0.2,
    0.30000000000000004,
]
_FLOATS = st.one_of(
    st.sampled_from(_NEAR_ONE + _SPECIAL),
    st.integers(-30, 30).map(float),
    st.integers(-300, 300).map(lambda v: v / 10),
    st.integers(-(10**6), 10**6).map(lambda v: v / 10**4),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)


def _cmp(v):
    """Pairwise comparison matrix: +1 where v[a] > v[b], -1 where v[a] < v[b], 0 where equal."""
    v = np.asarray(v)
    return (v[:, None] > v[None, :]).astype(int) - (v[:, None] < v[None, :]).astype(int)


def _assert_order_codes(x, codes):
    """codes order the cells exactly as x: the same outcome of every pairwise comparison."""
    np.testing.assert_array_equal(_cmp(np.asarray(x, dtype=float)), _cmp(codes))


@settings(max_examples=100, deadline=None)
@given(arrays(float, st.integers(1, 40), elements=_FLOATS))
def test_float_keys_sort_like_the_floats(x):
    _assert_order_codes(x, U._float_keys(x))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 70), st.integers(0, 2**40), st.data())
def test_stable_order_equals_stable_argsort(n, base, data):
    """Keys drawn so that many share their high bits (the packed position bits hide their
    difference): the packed sort must still give numpy's stable argsort and the run starts."""
    spread = data.draw(st.sampled_from([2, 8, 64, 1 << 12, 1 << 40]))
    k = np.array(
        data.draw(st.lists(st.integers(-spread, spread), min_size=n, max_size=n)), dtype=np.int64
    ) + base * data.draw(st.sampled_from([1, -1]))
    order, new = U._stable_order(k)
    want = np.argsort(k, kind="stable")
    np.testing.assert_array_equal(order, want)
    ks = k[want]
    np.testing.assert_array_equal(new, np.r_[True, ks[1:] != ks[:-1]][:n])


@pytest.mark.parametrize("case", ["sparse", "dense"])
def test_stable_order_repairs_runs_out_of_key_order(case):
    """Both repair branches: few neighbours with equal high bits (their keys read one by one), and
    most of them (all keys read back)."""
    n = 64  # 6 position bits
    if case == "sparse":
        k = np.arange(n, dtype=np.int64) * 64 * 1000
        k[0], k[1] = 64 * 7000 + 5, 64 * 7000 + 3  # same high bits, in reverse key order
    else:
        k = 64 * 7 + np.random.default_rng(0).integers(0, 64, n)
    order, new = U._stable_order(k)
    want = np.argsort(k, kind="stable")
    assert not np.array_equal(np.sort((k & ~63) | np.arange(n)) & 63, want)  # the repair is needed
    np.testing.assert_array_equal(order, want)
    ks = k[want]
    np.testing.assert_array_equal(new, np.r_[True, ks[1:] != ks[:-1]])


@settings(max_examples=100, deadline=None)
@given(arrays(float, st.integers(1, 40), elements=_FLOATS))
def test_grid_codes_are_exact_when_found(x):
    got = U._grid_codes(x, 1 << 16)
    if np.all(x == np.rint(x)) and x.max() - x.min() < (1 << 16) - 1 and np.abs(x).max() < 2.0**52:
        assert got is not None  # integers of moderate range and size always get grid codes
    if got is None:
        return
    codes, R, _ = got
    assert codes.min() == 1 and codes.max() == R <= 1 << 16
    _assert_order_codes(x, codes)


def test_grid_codes_refuse_off_grid_and_wide_values():
    assert U._grid_codes(np.array([0.5, 1 / 3]), 1 << 16) is None  # 1/3 has no decimal grid
    assert U._grid_codes(np.array([0.0, 70000.0]), 1 << 16) is None  # range above the limit
    # the head (first 4,096 cells) picks the scale; a later cell off that grid refuses it
    x = np.r_[np.arange(5000.0), 0.25]
    assert U._grid_codes(x, 1 << 16) is None
    codes, R, _ = U._grid_codes(np.array([-0.5, 0.0, -0.0, 2.5]), 1 << 16)
    assert codes.tolist() == [1, 6, 6, 31] and R == 31  # tenths


TIERS = ["natural", "no-grid", "packed"]


def _force_tier(monkeypatch, tier):
    if tier in ("no-grid", "packed"):
        monkeypatch.setattr(U, "_grid_codes", lambda x, limit: None)
    if tier == "packed":
        monkeypatch.setattr(U, "_small_codes", lambda x: None)


@pytest.mark.parametrize("tier", TIERS)
@settings(max_examples=60, deadline=None)
@given(x=arrays(float, st.integers(1, 40), elements=_FLOATS))
def test_dense_codes_every_tier(tier, x):
    with pytest.MonkeyPatch.context() as mp:
        _force_tier(mp, tier)
        codes, R, ties = U._dense_codes(x)
    assert codes.min() >= 1 and codes.max() == R
    _assert_order_codes(x, codes)
    if tier != "natural":  # dense ranks
        assert R == np.unique(x).size
    want_ties = sum(1 for a in range(len(x)) for b in range(a + 1, len(x)) if x[a] == x[b])
    assert U._code_tie_pairs(codes, R, ties) == want_ties


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("tier", TIERS)
@settings(max_examples=60, deadline=None)
@given(h=arrays(float, st.integers(0, 45), elements=_FLOATS), data=st.data())
def test_unweighted_counts_against_pair_loop(tier, compiled, h, data):
    """Exact integer counts of the fast path equal the O(n^2) loop, for every code tier, with
    scipy's compiled discordant counter and with the numpy merge sort."""
    m = data.draw(arrays(float, h.shape, elements=_FLOATS))
    with pytest.MonkeyPatch.context() as mp:
        _force_tier(mp, tier)
        if not compiled:
            mp.setattr(U, "_KENDALL_DIS", None)
        c = U._pooled_counts_exact_ties(h, m)
    ref = loop_counts(h, m, np.ones(len(h)))
    assert {k: float(getattr(c, k)) for k in ref} == ref


def _block_counts(h, m):
    """All pairs of n cells, enumerated in row blocks (O(n^2), vectorised): the reference for
    inputs too long for the Python loop."""
    c = {"con": 0, "dis": 0, "t_h": 0, "t_m": 0, "t_hm": 0}
    n = len(h)
    for r0 in range(0, n, 500):
        r = np.arange(r0, min(n, r0 + 500))
        upper = r[:, None] < np.arange(n)[None, :]
        dh = h[r, None] - h[None, :]
        dm = m[r, None] - m[None, :]
        th, tm = (dh == 0) & upper, (dm == 0) & upper
        c["t_hm"] += int(np.count_nonzero(th & tm))
        c["t_h"] += int(np.count_nonzero(th & ~tm))
        c["t_m"] += int(np.count_nonzero(tm & ~th))
        prod = np.sign(dh) * np.sign(dm)
        c["con"] += int(np.count_nonzero((prod > 0) & upper))
        c["dis"] += int(np.count_nonzero((prod < 0) & upper))
    return c


@pytest.mark.parametrize("kind", ["mqm", "continuous", "near-collisions", "no-grid-few-values"])
def test_unweighted_counts_on_longer_inputs(kind):
    """6,000 cells (past the 4,096-cell head checks): each code tier on realistic and adversarial
    data, against an all-pairs count."""
    rng = np.random.default_rng(5)
    n = 6000
    if kind == "mqm":
        h = -(5.0 * rng.poisson(0.4, n) + rng.poisson(0.6, n))
        m = np.round(0.02 * h + rng.normal(scale=0.05, size=n), 4)
    elif kind == "continuous":
        h, m = rng.normal(size=n), rng.normal(size=n)
        h[rng.random(n) < 0.1] = 0.5  # some ties
    elif kind == "near-collisions":  # values a few ulps apart: equal high bits, many repairs
        h = 1.0 + rng.integers(0, 1 << 16, n) * 2.0**-52
        m = -(1.0 + rng.integers(0, 1 << 14, n) * 2.0**-52)
    else:  # thirds (off every decimal grid), few distinct values
        h = rng.integers(-20, 1, n) / 3.0
        m = rng.integers(0, 40, n) / 7.0 + rng.normal(scale=1e-9, size=n) * (rng.random(n) < 0.5)
    c = U._pooled_counts_exact_ties(h, m)
    assert {k: int(getattr(c, k)) for k in ("con", "dis", "t_h", "t_m", "t_hm")} == _block_counts(
        h, m
    )
