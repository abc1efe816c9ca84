"""Tests for overcoat.metaeval.correlation: scipy on single groups, a loop reference for the
Kendall variants with grouping / epsilon / weights, and invariance properties."""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from overcoat.metaeval.correlation import kendall_tau, pearson, spearman

nan = np.nan
FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------------------------------
# Reference
# ---------------------------------------------------------------------------------------------


def ref_groups(h, m, group):
    n_items, n_resp = h.shape
    ok = lambda i, j: not (np.isnan(h[i, j]) or np.isnan(m[i, j]))  # noqa: E731
    if group == "item":
        return [[(i, h[i, j], m[i, j]) for j in range(n_resp) if ok(i, j)] for i in range(n_items)]
    if group == "none":
        return [[(i, h[i, j], m[i, j]) for i in range(n_items) for j in range(n_resp) if ok(i, j)]]
    return [[(i, h[i, j], m[i, j]) for i in range(n_items) if ok(i, j)] for j in range(n_resp)]


def ref_tau(cells, variant, eps, w, pooled):
    C = D = Th = Tm = Thm = 0
    for x in range(len(cells)):
        for y in range(x + 1, len(cells)):
            a, b = cells[x], cells[y]
            pw = Fraction(w[a[0]]) * Fraction(w[b[0]]) if pooled else 1
            dh, dm = a[1] - b[1], a[2] - b[2]
            gold, mt = dh == 0, abs(dm) <= eps
            if gold and mt:
                Thm += pw
            elif gold:
                Th += pw
            elif mt:
                Tm += pw
            elif (dh > 0) == (dm > 0):
                C += pw
            else:
                D += pw
    N = C + D + Th + Tm + Thm
    if variant == "a":
        return None if N == 0 else (Fraction(C - D) / N, N)
    if variant == "b":
        if C + D + Th == 0 or C + D + Tm == 0:
            return None
        return (float(C - D) / math.sqrt(float(C + D + Th)) / math.sqrt(float(C + D + Tm)), N)
    if variant == "c":
        pos = [c for c in cells if (w[c[0]] > 0 or not pooled)]
        n = sum(Fraction(w[c[0]]) for c in cells) if pooled else len(cells)
        k = min(len({c[1] for c in pos}), len({c[2] for c in pos}))
        if C + D + Th == 0 or C + D + Tm == 0 or k < 2:
            return None
        return (2 * Fraction(C - D) / (n * n * Fraction(k - 1, k)), N)
    if N == 0:
        return None
    if variant == "23":
        return (Fraction(C + Thm - D - Th - Tm) / N, N)
    return (Fraction(C + Thm) / N, N)


def ref_kendall(h, m, variant, group, average, eps=0.0, w=None):
    n_items = h.shape[0]
    w = [1] * n_items if w is None else [float(v) for v in w]
    pooled = group != "item"
    num = den = 0
    for g, cells in enumerate(ref_groups(h, m, group)):
        r = ref_tau(cells, variant, eps, w, pooled)
        if r is None:
            continue
        s, N = r
        if pooled and N == 0:
            continue
        gw = 1 if pooled else Fraction(w[g])
        a = 1 if average == "items" else N
        num += gw * a * Fraction(s)
        den += gw * a
    return None if den == 0 else float(num / den)


def ref_corr(h, m, group, rank, w=None):
    """Mean of scipy per group (integer weights = repeated cells for pooled groups)."""
    n_items = h.shape[0]
    w = [1] * n_items if w is None else [int(v) for v in w]
    vals, ws = [], []
    for g, cells in enumerate(ref_groups(h, m, group)):
        if group != "item":
            cells = [c for c in cells for _ in range(w[c[0]])]
        x = np.array([c[1] for c in cells])
        y = np.array([c[2] for c in cells])
        if len(x) < 2 or x.max() == x.min() or y.max() == y.min():
            continue
        f = ss.spearmanr if rank else ss.pearsonr
        vals.append(f(x, y)[0])
        ws.append(w[g] if group == "item" else 1)
    if not ws or sum(ws) == 0:
        return None
    return float(np.dot(vals, ws) / sum(ws))


@st.composite
def score_matrices(draw, max_items=5, max_resp=5):
    n_items = draw(st.integers(1, max_items))
    n_resp = draw(st.integers(1, max_resp))
    h = draw(arrays(float, (n_items, n_resp), elements=st.integers(0, 3).map(float)))
    m = draw(arrays(float, (n_items, n_resp), elements=st.integers(-4, 4).map(lambda v: v / 2)))
    for x in (h, m):
        mask = draw(arrays(bool, (n_items, n_resp), elements=st.sampled_from([False] * 5 + [True])))
        x[mask] = nan
    return h, m


def close(a, b, tol=1e-12):
    if b is None:
        return np.isnan(a)
    return a == pytest.approx(b, abs=tol)


VARIANTS = st.sampled_from(["a", "b", "c", "23", "acc23"])
GROUPS = st.sampled_from(["item", "none", "system"])


# ---------------------------------------------------------------------------------------------
# scipy on one group
# ---------------------------------------------------------------------------------------------


@FAST
@given(arrays(float, st.integers(2, 12), elements=st.integers(0, 3).map(float)), st.data())
def test_single_group_matches_scipy(x, data):
    y = data.draw(arrays(float, x.shape, elements=st.integers(0, 5).map(float)))
    const = x.max() == x.min() or y.max() == y.min()
    for variant in ("b", "c"):
        got = kendall_tau(x, y, variant=variant).statistic
        if const:
            assert np.isnan(got)
        else:
            assert got == pytest.approx(ss.kendalltau(x, y, variant=variant).statistic, abs=1e-12)
        # pooled grouping of a single row is the same vector
        got_none = kendall_tau(x, y, variant=variant, group="none").statistic
        assert close(got_none, None if const else got)
    for f, sf in ((pearson, ss.pearsonr), (spearman, ss.spearmanr)):
        got = f(x, y).statistic
        if const:
            assert np.isnan(got)
        else:
            assert got == pytest.approx(sf(x, y)[0], abs=1e-12)
        assert close(f(x, y, group="none").statistic, None if const else got)


def test_hand_worked_taus():
    h = np.array([[1, 2, 3, 3]], float)
    m = np.array([[1, 3, 2, 2]], float)
    # pairs: (0,1) C, (0,2) C, (0,3) C, (1,2) D, (1,3) D, (2,3) Thm
    assert kendall_tau(h, m, variant="a").statistic == pytest.approx(1 / 6)
    assert kendall_tau(h, m, variant="23").statistic == pytest.approx((3 + 1 - 2) / 6)
    assert kendall_tau(h, m, variant="acc23").statistic == pytest.approx(4 / 6)
    assert kendall_tau(h, m, variant="b").statistic == pytest.approx(1 / 5)
    # epsilon 1: every metric gap <= 1 except (0,1) -> C=1, Tm=4 ... (2,3) Thm
    r = kendall_tau(h, m, variant="23", epsilon=1.0)
    assert r.statistic == pytest.approx((1 + 1 - 4) / 6)
    with pytest.raises(ValueError):
        kendall_tau(h, m, variant="c", epsilon=0.5)
    with pytest.raises(ValueError):
        kendall_tau(h, m, variant="d")


def test_undefined_groups_dropped():
    h = np.array([[1, 1, 1], [1, 2, 3], [5, nan, nan]], float)
    m = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3]], float)
    r = kendall_tau(h, m, variant="b")
    assert r.statistic == 1.0 and r.n_groups == 1 and r.n_dropped == 2
    r = kendall_tau(h, m, variant="acc23")  # defined with gold ties, not for a single cell
    assert r.n_groups == 2 and r.statistic == pytest.approx((0 + 1) / 2)
    for f in (pearson, spearman):
        r = f(h, m)
        assert r.statistic == pytest.approx(1.0) and (r.n_groups, r.n_dropped) == (1, 2)
    r = pearson(h[:1], m[:1])
    assert np.isnan(r.statistic) and r.n_groups == 0


def test_system_grouping_hand_worked():
    h = np.array([[1, 0], [2, 3], [3, 1]], float)
    m = np.array([[1, 0], [2, 1], [3, 2]], float)
    # column 0 perfectly concordant; column 1: h 0,3,1 vs m 0,1,2 -> C=2, D=1
    assert kendall_tau(h, m, group="system", variant="a").statistic == pytest.approx(
        (1 + 1 / 3) / 2
    )
    assert pearson(h, m, group="system").statistic == pytest.approx(
        (1 + ss.pearsonr([0, 3, 1], [0, 1, 2])[0]) / 2
    )


# ---------------------------------------------------------------------------------------------
# Reference and properties
# ---------------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    score_matrices(),
    VARIANTS,
    GROUPS,
    st.sampled_from(["items", "pairs"]),
    st.sampled_from([0.0, 0.5]),
)
def test_kendall_matches_reference(hm, variant, group, average, eps):
    h, m = hm
    if variant == "c":
        eps = 0.0
    got = kendall_tau(h, m, variant=variant, group=group, average=average, epsilon=eps)
    assert close(got.statistic, ref_kendall(h, m, variant, group, average, eps))


@FAST
@given(score_matrices(), VARIANTS, GROUPS, st.data())
def test_weighted_kendall_matches_reference(hm, variant, group, data):
    h, m = hm
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0])))
    got = kendall_tau(h, m, variant=variant, group=group, weights=w.astype(float))
    assert close(got.statistic, ref_kendall(h, m, variant, group, "items", 0.0, w))


@FAST
@given(score_matrices(), GROUPS, st.data())
def test_pearson_spearman_match_scipy_reference(hm, group, data):
    h, m = hm
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0])))
    for f, rank in ((pearson, False), (spearman, True)):
        assert close(f(h, m, group=group).statistic, ref_corr(h, m, group, rank), 1e-9)
        # integer weights = repeated cells (pooled) / weighted mean of groups (item)
        assert close(
            f(h, m, group=group, weights=w.astype(float)).statistic,
            ref_corr(h, m, group, rank, w),
            1e-9,
        )


@FAST
@given(score_matrices(), GROUPS, st.randoms(use_true_random=False))
def test_invariances(hm, group, rnd):
    h, m = hm
    rows, cols = list(range(h.shape[0])), list(range(h.shape[1]))
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    for f, kw in (
        (kendall_tau, {"variant": "b"}),
        (kendall_tau, {"variant": "23"}),
        (kendall_tau, {"variant": "c"}),
        (pearson, {}),
        (spearman, {}),
    ):
        base = f(h, m, group=group, **kw).statistic
        b = None if np.isnan(base) else base
        assert close(f(h[rows][:, cols], m[rows][:, cols], group=group, **kw).statistic, b, 1e-9)
        assert close(f(h, m + 3.0, group=group, **kw).statistic, b, 1e-9)
        if f is not pearson:  # rank statistics: invariant to positive scaling
            assert close(f(h, m * 3.7, group=group, **kw).statistic, b, 1e-9)


@FAST
@given(score_matrices(), GROUPS, st.data())
def test_2d_weights_equal_row_loop(hm, group, data):
    h, m = hm
    B = data.draw(st.integers(1, 3))
    W = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0]),
                min_size=B,
                max_size=B,
            )
        ),
        float,
    )
    for f, kw in (
        (kendall_tau, {"variant": "b"}),
        (kendall_tau, {"variant": "c"}),
        (kendall_tau, {"variant": "acc23"}),
        (pearson, {}),
        (spearman, {}),
    ):
        r2 = f(h, m, group=group, weights=W, **kw).statistic
        rows = [f(h, m, group=group, weights=w, **kw).statistic for w in W]
        np.testing.assert_allclose(r2, rows, atol=1e-12)


@FAST
@given(score_matrices(), st.data())
def test_integer_weights_equal_repeating_items(hm, data):
    h, m = hm
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0])))
    rep = np.repeat(np.arange(h.shape[0]), w)
    for f, kw in (
        (kendall_tau, {"variant": "b"}),
        (kendall_tau, {"variant": "23"}),
        (pearson, {}),
        (spearman, {}),
    ):
        for group in ("item", "system", "none"):
            if group != "item" and f is kendall_tau and kw["variant"] == "23":
                continue  # pooled product weights leave out copy-of-the-same-cell pairs
            a = f(h[rep], m[rep], group=group, **kw).statistic
            assert close(
                f(h, m, group=group, weights=w.astype(float), **kw).statistic,
                None if np.isnan(a) else a,
                1e-9,
            )


@pytest.mark.parametrize("group", ["none", "system"])
@pytest.mark.parametrize("variant", ["a", "b", "c", "23", "acc23"])
def test_real_valued_weights_pooled(group, variant):
    rng = np.random.default_rng(5)
    h = rng.integers(0, 4, size=(12, 4)).astype(float)
    m = rng.integers(0, 6, size=(12, 4)) / 2.0
    h[rng.random(h.shape) < 0.1] = nan
    w = rng.dirichlet(np.ones(12)) * 12
    w[3] = 0.0
    got = kendall_tau(h, m, variant=variant, group=group, weights=w).statistic
    assert close(got, ref_kendall(h, m, variant, group, "items", 0.0, w), 1e-9)


def test_all_ties_and_no_ties():
    h = np.array([[1.0, 1.0, 1.0]])
    m = np.array([[1.0, 2.0, 3.0]])
    for f in (pearson, spearman):
        assert np.isnan(f(h, m).statistic)
    for v in ("b", "c"):
        assert np.isnan(kendall_tau(h, m, variant=v).statistic)
    assert kendall_tau(h, m, variant="a").statistic == 0.0
    assert kendall_tau(h, m, variant="23").statistic == -1.0
    assert kendall_tau(h, m, variant="acc23").statistic == 0.0
    assert kendall_tau(h, h, variant="23").statistic == 1.0  # all pairs tied in both
    x = np.array([[3.0, 1.0, 2.0, 5.0]])
    for v in ("a", "b", "c", "23", "acc23"):
        assert kendall_tau(x, x, variant=v).statistic == pytest.approx(1.0)
        assert kendall_tau(x, -x, variant=v).statistic == pytest.approx(
            0.0 if v == "acc23" else -1.0
        )
