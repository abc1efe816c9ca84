"""Tests for overcoat.metaeval.accuracy against hand-worked cases and a slow reference.

The reference below enumerates pairs with plain Python loops, classifies each pair, and for tie
calibration loops over every candidate threshold, computing acc_eq exactly with Fractions.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from overcoat.metaeval._util import GAP_RTOL
from overcoat.metaeval.accuracy import (
    acc_eq,
    best_of_k_accuracy,
    cross_fitted_tie_accuracy,
    pairwise_accuracy,
    tie_calibrated_accuracy,
)

nan = np.nan


# ---------------------------------------------------------------------------------------------
# Reference implementation (slow, obviously correct)
# ---------------------------------------------------------------------------------------------


def ref_groups(h, m, group):
    """List of groups, each a list of cells (item, value_h, value_m) in a fixed order."""
    n_items, n_resp = h.shape

    def present(i, j):
        return not (np.isnan(h[i, j]) or np.isnan(m[i, j]))

    if group == "item":
        return [
            [(i, h[i, j], m[i, j]) for j in range(n_resp) if present(i, j)] for i in range(n_items)
        ]
    if group == "none":
        return [
            [(i, h[i, j], m[i, j]) for i in range(n_items) for j in range(n_resp) if present(i, j)]
        ]
    return [[(i, h[i, j], m[i, j]) for i in range(n_items) if present(i, j)] for j in range(n_resp)]


def ref_kind(a, b, eps):
    dh, dm = a[1] - b[1], a[2] - b[2]
    gold, mtie = dh == 0, abs(dm) <= eps
    if gold and mtie:
        return "Thm"
    if gold:
        return "Th"
    if mtie:
        return "Tm"
    return "C" if (dh > 0) == (dm > 0) else "D"


def ref_counts(cells, eps, w, group):
    """Weighted counts of one group; pair weight 1 (item group) or w_a * w_b (pooled)."""
    c = {"C": 0, "D": 0, "Th": 0, "Tm": 0, "Thm": 0}
    for x in range(len(cells)):
        for y in range(x + 1, len(cells)):
            pw = 1 if group == "item" else Fraction(w[cells[x][0]]) * Fraction(w[cells[y][0]])
            c[ref_kind(cells[x], cells[y], eps)] += pw
    return c


def ref_stat(h, m, eps, group, average, w, stat):
    """Weighted macro average of a per-group statistic stat(counts) -> (num, den) or None."""
    n_items = h.shape[0]
    w = [1] * n_items if w is None else [Fraction(int(v)) for v in w]
    num_tot, den_tot = Fraction(0), Fraction(0)
    for g, cells in enumerate(ref_groups(h, m, group)):
        c = ref_counts(cells, eps, w, group)
        nd = stat(c)
        if nd is None:
            continue
        num, den = nd
        gw = w[g] if group == "item" else 1
        a = 1 if average == "items" else den
        num_tot += gw * a * Fraction(num) / den
        den_tot += gw * a
    return None if den_tot == 0 else num_tot / den_tot


def ref_acc_eq_stat(c):
    tot = sum(c.values())
    return None if tot == 0 else (c["C"] + c["Thm"], tot)


def ref_pa_stat(half):
    def stat(c):
        den = c["C"] + c["D"] + c["Tm"]
        if den == 0:
            return None
        return (c["C"] + (Fraction(c["Tm"]) / 2 if half else 0), den)

    return stat


def ref_gaps(h, m, group):
    out = {0.0}
    for cells in ref_groups(h, m, group):
        for x in range(len(cells)):
            for y in range(x + 1, len(cells)):
                out.add(abs(cells[x][2] - cells[y][2]))
    return sorted(out)


def ref_tie_calibration(h, m, group="item", average="items", w=None):
    """Loop over candidate thresholds; smallest epsilon among the maximisers."""
    best = None
    for eps in ref_gaps(h, m, group):
        v = ref_stat(h, m, eps, group, average, w, ref_acc_eq_stat)
        if v is None:
            return None
        if best is None or v > best[1]:
            best = (eps, v)
    return best


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


@st.composite
def score_matrices(draw, max_items=5, max_resp=5, allow_nan=True):
    n_items = draw(st.integers(1, max_items))
    n_resp = draw(st.integers(1, max_resp))
    h = draw(arrays(float, (n_items, n_resp), elements=st.integers(0, 3).map(float)))
    m = draw(arrays(float, (n_items, n_resp), elements=st.integers(-4, 4).map(lambda v: v / 2)))
    if allow_nan:
        for x in (h, m):
            mask = draw(
                arrays(bool, (n_items, n_resp), elements=st.sampled_from([False] * 5 + [True]))
            )
            x[mask] = nan
    return h, m


GROUPS = st.sampled_from(["item", "none", "system"])
AVERAGES = st.sampled_from(["items", "pairs"])
FAST = settings(max_examples=60, deadline=None)


def close(a, b):
    if b is None:
        return a is None or np.isnan(a)
    return a == pytest.approx(float(b), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Hand-worked cases
# ---------------------------------------------------------------------------------------------


def test_rewardbench_pairs_strict_and_half():
    # 4 prompts: chosen, rejected; human [1, 0]
    h = np.array([[1, 0]] * 4, float)
    m = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, 3.0], [5.0, 5.0]])
    assert pairwise_accuracy(h, m).statistic == 0.25
    assert pairwise_accuracy(h, m, ties="half").statistic == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)
    # epsilon turns the first pair (gap 1) into a tie too
    assert pairwise_accuracy(h, m, epsilon=1.0).statistic == 0.0
    assert pairwise_accuracy(h, m, epsilon=1.0, ties="half").statistic == pytest.approx(1.5 / 4)


def test_pairwise_accuracy_ignores_gold_ties_and_drops_all_tie_items():
    h = np.array([[1, 1, 1], [2, 1, 0]], float)  # item 0: all gold ties -> undefined
    m = np.array([[0, 1, 2], [3, 2, 1]], float)
    r = pairwise_accuracy(h, m)
    assert r.statistic == 1.0 and r.n_groups == 1 and r.n_dropped == 1 and r.n_pairs == 6
    r = pairwise_accuracy(h[:1], m[:1])
    assert np.isnan(r.statistic) and r.n_groups == 0 and r.n_dropped == 1


def test_acc_eq_hand_worked():
    # one item, 4 responses: human 2,2,1,0 ; metric 0.5,0.5,0.4,0.6
    h = np.array([[2, 2, 1, 0]], float)
    m = np.array([[0.5, 0.5, 0.4, 0.6]])
    # pairs: (0,1) gold tie & metric tie -> Thm; (0,2) C; (0,3) D; (1,2) C; (1,3) D; (2,3) D
    assert acc_eq(h, m).statistic == pytest.approx(3 / 6)
    # epsilon 0.1: (0,2),(1,2) [gap .1] and (0,3),(1,3) [gap .1] become metric ties; (2,3) gap .2
    assert acc_eq(h, m, epsilon=0.1 + 1e-12).statistic == pytest.approx(1 / 6)


def test_tie_calibration_hand_worked():
    # gold ties are scored by the metric with small gaps; a threshold between helps
    h = np.array([[1, 1, 0, 0], [3, 2, 1, 1]], float)
    m = np.array([[0.50, 0.52, 0.10, 0.11], [0.9, 0.5, 0.30, 0.32]])
    r = tie_calibrated_accuracy(h, m)
    ref = ref_tie_calibration(h, m)
    assert r.epsilon == ref[0] and r.statistic == pytest.approx(float(ref[1]))
    assert r.epsilon == pytest.approx(0.02)
    # at eps = 0.02: item 0 = 6/6, item 1 = 6/6
    assert r.statistic == pytest.approx(1.0)
    assert r.all_ties_baseline == pytest.approx((2 / 6 + 1 / 6) / 2)
    assert not r.all_ties
    assert (r.n_pairs, r.n_groups, r.n_dropped) == (12, 2, 0)


def test_tie_calibration_all_ties_case():
    # metric is anti-correlated: the best threshold ties every gold-tie pair; only discordant
    # pairs (whose ordering earns nothing) stay ordered -> no better than a constant scorer
    h = np.array([[1, 1, 0, 0]], float)
    m = np.array([[0.0, 0.3, 1.0, 1.2]])
    r = tie_calibrated_accuracy(h, m)
    assert r.all_ties
    assert r.statistic == pytest.approx(r.all_ties_baseline) == pytest.approx(2 / 6)
    assert r.epsilon == pytest.approx(0.3)  # smallest maximiser (largest gold-tie gap)
    # a metric that orders nothing right: 0 at every threshold below the largest gap
    h = np.array([[1, 1, 1, 0]], float)
    m = np.array([[0.0, 0.5, 1.0, 2.0]])
    r = tie_calibrated_accuracy(h, m)
    assert r.all_ties and r.epsilon == 1.0 and r.statistic == pytest.approx(3 / 6)


def test_tie_calibration_no_ties_and_single_response():
    h = np.array([[3, 2, 1]], float)
    m = np.array([[3, 2, 1]], float)
    r = tie_calibrated_accuracy(h, m)
    assert r.statistic == 1.0 and r.epsilon == 0.0 and r.all_ties_baseline == 0.0
    r = tie_calibrated_accuracy(np.array([[1.0]]), np.array([[1.0]]))
    assert np.isnan(r.statistic) and r.n_dropped == 1 and r.n_groups == 0


def test_tie_calibration_missing_responses_and_undefined_item():
    h = np.array([[1, nan, 1], [2, 1, nan], [nan, nan, 4]], float)
    m = np.array([[0.3, 0.2, 0.3], [0.1, 0.2, 0.0], [0.0, 0.0, 1.0]])
    r = tie_calibrated_accuracy(h, m)
    # item 0: one pair (gold tie, metric tie) -> 1 at eps 0 ; item 1: one discordant pair -> 0
    assert r.statistic == pytest.approx(0.5) and r.epsilon == 0.0
    assert (r.n_groups, r.n_dropped, r.n_pairs) == (2, 1, 2)


def test_best_of_k():
    h = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, nan, 0]], float)
    m = np.array(
        [
            [0.9, 0.1, 0.2, 0.3],  # strict max -> 1
            [0.5, 0.5, 0.1, 0.5],  # chosen tied with 2 others -> 1/3
            [0.9, 0.1, 0.2, 0.3],  # wrong -> 0
            [0.4, 0.4, 0.9, 0.1],
        ]
    )  # response 2 missing: chosen ties with 1 -> 1/2
    r = best_of_k_accuracy(h, m)
    assert r.statistic == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert (r.n_groups, r.n_dropped) == (4, 0)
    r2 = best_of_k_accuracy(h, m, weights=np.array([[1, 0, 0, 0], [0, 2, 2, 0]]))
    np.testing.assert_allclose(r2.statistic, [1.0, 1 / 6])
    with pytest.raises(ValueError):
        best_of_k_accuracy(np.array([[1, 1, 0]]), np.array([[1, 2, 3]]))
    r3 = best_of_k_accuracy(np.array([[1, nan]]), np.array([[1.0, 0.0]]))
    assert np.isnan(r3.statistic) and r3.n_dropped == 1


def test_groupings_hand_worked():
    h = np.array([[1, 0], [1, 0]], float)
    m = np.array([[0.2, 0.1], [0.0, 0.3]])
    # item: item 0 correct, item 1 wrong
    assert pairwise_accuracy(h, m).statistic == 0.5
    # none: cells (1,.2) (0,.1) (1,0) (0,.3): pairs with human pref: 4 -> (.2>.1) ok, (.2 vs .3)
    # wrong, (0 vs .1) wrong, (0 vs .3) wrong -> 1/4
    assert pairwise_accuracy(h, m, group="none").statistic == 0.25
    # system: column 0 cells (1,.2),(1,0): gold tie -> undefined; column 1 (0,.1),(0,.3) too
    r = pairwise_accuracy(h, m, group="system")
    assert np.isnan(r.statistic) and r.n_dropped == 2


def test_errors():
    h = np.zeros((2, 2))
    with pytest.raises(ValueError):
        acc_eq(h, h, group="segment")
    with pytest.raises(ValueError):
        acc_eq(h, h, average="micro")
    with pytest.raises(ValueError):
        pairwise_accuracy(h, h, ties="skip")
    with pytest.raises(ValueError):
        acc_eq(h, h, weights=[1, 2, 3])
    with pytest.raises(ValueError):
        acc_eq(h, h, weights=[1, -2])
    with pytest.raises(ValueError):
        tie_calibrated_accuracy(h, h, sample_rate=0)
    with pytest.raises(ValueError):
        cross_fitted_tie_accuracy(h, h)


# ---------------------------------------------------------------------------------------------
# Against the reference
# ---------------------------------------------------------------------------------------------


@FAST
@given(score_matrices(), GROUPS, AVERAGES, st.sampled_from([0.0, 0.5, 1.0]))
def test_acc_eq_and_pairwise_accuracy_match_reference(hm, group, average, eps):
    h, m = hm
    assert close(
        acc_eq(h, m, epsilon=eps, group=group, average=average).statistic,
        ref_stat(h, m, eps, group, average, None, ref_acc_eq_stat),
    )
    for ties in ("strict", "half"):
        got = pairwise_accuracy(h, m, ties=ties, epsilon=eps, group=group, average=average)
        assert close(
            got.statistic, ref_stat(h, m, eps, group, average, None, ref_pa_stat(ties == "half"))
        )


@FAST
@given(score_matrices(), GROUPS, AVERAGES, st.data())
def test_weighted_statistics_match_reference(hm, group, average, data):
    h, m = hm
    w = np.array(
        data.draw(st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0])), float
    )
    assert close(
        acc_eq(h, m, group=group, average=average, weights=w).statistic,
        ref_stat(h, m, 0.0, group, average, w, ref_acc_eq_stat),
    )
    assert close(
        pairwise_accuracy(h, m, group=group, average=average, weights=w).statistic,
        ref_stat(h, m, 0.0, group, average, w, ref_pa_stat(False)),
    )


@settings(max_examples=80, deadline=None)
@given(score_matrices(), GROUPS, AVERAGES)
def test_tie_calibration_matches_reference(hm, group, average):
    h, m = hm
    r = tie_calibrated_accuracy(h, m, group=group, average=average)
    ref = ref_tie_calibration(h, m, group, average)
    if ref is None:
        assert np.isnan(r.statistic)
        return
    assert r.epsilon == ref[0]
    assert r.statistic == pytest.approx(float(ref[1]), abs=1e-12)
    # value at the fitted epsilon is acc_eq at that epsilon
    assert r.statistic == pytest.approx(
        acc_eq(h, m, epsilon=r.epsilon, group=group, average=average).statistic, abs=1e-12
    )
    # all-ties baseline = acc_eq with an infinite threshold
    assert r.all_ties_baseline == pytest.approx(
        acc_eq(h, m, epsilon=1e9, group=group, average=average).statistic, abs=1e-12
    )
    if r.all_ties:
        assert r.statistic == pytest.approx(r.all_ties_baseline, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(score_matrices(), GROUPS, AVERAGES, st.data())
def test_weighted_tie_calibration_matches_reference(hm, group, average, data):
    h, m = hm
    w = np.array(
        data.draw(st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0])), float
    )
    r = tie_calibrated_accuracy(h, m, group=group, average=average, weights=w)
    ref = ref_tie_calibration(h, m, group, average, w)
    if ref is None:
        assert np.isnan(r.statistic)
        return
    assert r.epsilon == ref[0]
    assert r.statistic == pytest.approx(float(ref[1]), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@FAST
@given(score_matrices(), GROUPS, st.randoms(use_true_random=False))
def test_invariances(hm, group, rnd):
    h, m = hm
    rows = list(range(h.shape[0]))
    cols = list(range(h.shape[1]))
    rnd.shuffle(rows)
    rnd.shuffle(cols)
    hp, mp = h[rows][:, cols], m[rows][:, cols]
    base = tie_calibrated_accuracy(h, m, group=group)
    for hh, mm, eps_scale in ((hp, mp, 1.0), (h, m + 3.0, 1.0), (h, m * 4.0, 4.0)):
        r = tie_calibrated_accuracy(hh, mm, group=group)
        assert close(r.statistic, None if np.isnan(base.statistic) else base.statistic)
        if not np.isnan(base.statistic):
            assert r.epsilon == base.epsilon * eps_scale
        assert close(
            acc_eq(hh, mm, group=group).statistic,
            None
            if np.isnan(acc_eq(h, m, group=group).statistic)
            else acc_eq(h, m, group=group).statistic,
        )
        pa = pairwise_accuracy(h, m, group=group, ties="half").statistic
        assert close(
            pairwise_accuracy(hh, mm, group=group, ties="half").statistic,
            None if np.isnan(pa) else pa,
        )


def _same(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-12)


@FAST
@given(score_matrices(), GROUPS, AVERAGES, st.data())
def test_2d_weights_equal_row_loop(hm, group, average, data):
    h, m = hm
    B = data.draw(st.integers(1, 4))
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
    r2 = tie_calibrated_accuracy(h, m, group=group, average=average, weights=W)
    rows = [tie_calibrated_accuracy(h, m, group=group, average=average, weights=w) for w in W]
    _same(r2.statistic, [r.statistic for r in rows])
    _same(r2.epsilon, [r.epsilon if not np.isnan(r.statistic) else 0.0 for r in rows]) if np.all(
        ~np.isnan(r2.statistic)
    ) else None
    _same(r2.all_ties_baseline, [r.all_ties_baseline for r in rows])
    for a, r in zip(r2.all_ties, rows):
        if not np.isnan(r.statistic):
            assert a == r.all_ties
    a2 = acc_eq(h, m, group=group, average=average, weights=W).statistic
    _same(a2, [acc_eq(h, m, group=group, average=average, weights=w).statistic for w in W])
    p2 = pairwise_accuracy(h, m, group=group, average=average, weights=W).statistic
    _same(
        p2, [pairwise_accuracy(h, m, group=group, average=average, weights=w).statistic for w in W]
    )
    b2 = best_of_k_accuracy(np.eye(h.shape[1])[np.zeros(h.shape[0], int)], m, weights=W)
    _same(
        b2.statistic,
        [
            best_of_k_accuracy(
                np.eye(h.shape[1])[np.zeros(h.shape[0], int)], m, weights=w
            ).statistic
            for w in W
        ],
    )


@FAST
@given(score_matrices(), AVERAGES, st.data())
def test_integer_weights_equal_repeating_items(hm, average, data):
    h, m = hm
    w = np.array(data.draw(st.lists(st.integers(0, 3), min_size=h.shape[0], max_size=h.shape[0])))
    rep = np.repeat(np.arange(h.shape[0]), w)
    hr, mr = h[rep], m[rep]
    r1 = tie_calibrated_accuracy(h, m, average=average, weights=w.astype(float))
    r2 = tie_calibrated_accuracy(hr, mr, average=average)
    assert close(r1.statistic, None if np.isnan(r2.statistic) else r2.statistic)
    if not np.isnan(r2.statistic):
        assert r1.epsilon == r2.epsilon
    for f in (acc_eq, pairwise_accuracy):
        a = f(hr, mr, average=average).statistic
        assert close(
            f(h, m, average=average, weights=w.astype(float)).statistic, None if np.isnan(a) else a
        )


@FAST
@given(score_matrices(), st.sampled_from(["none", "system"]), st.data())
def test_binary_weights_equal_subsetting_pooled(hm, group, data):
    h, m = hm
    w = np.array(data.draw(st.lists(st.integers(0, 1), min_size=h.shape[0], max_size=h.shape[0])))
    if w.sum() == 0:
        return
    sub = w.astype(bool)
    r1 = tie_calibrated_accuracy(h, m, group=group, weights=w.astype(float))
    r2 = tie_calibrated_accuracy(h[sub], m[sub], group=group)
    assert close(r1.statistic, None if np.isnan(r2.statistic) else r2.statistic)
    for f in (acc_eq, pairwise_accuracy):
        a = f(h[sub], m[sub], group=group).statistic
        assert close(
            f(h, m, group=group, weights=w.astype(float)).statistic, None if np.isnan(a) else a
        )


# ---------------------------------------------------------------------------------------------
# Bigger random data: the vectorised 2-D path against 1-D calls, sampling, cross-fitting
# ---------------------------------------------------------------------------------------------


def _synthetic(n_items=60, n_sys=6, seed=0, nan_frac=0.1):
    rng = np.random.default_rng(seed)
    h = rng.integers(-5, 1, size=(n_items, n_sys)).astype(float)
    m = h + rng.normal(scale=2.0, size=h.shape)
    m = np.round(m, 1)
    h[rng.random(h.shape) < nan_frac] = nan
    return h, m


@pytest.mark.parametrize("average", ["items", "pairs"])
def test_2d_real_weights_vectorised_item_path(average):
    h, m = _synthetic()
    rng = np.random.default_rng(1)
    W = rng.dirichlet(np.ones(h.shape[0]), size=7) * h.shape[0]
    r = tie_calibrated_accuracy(h, m, average=average, weights=W)
    for b in range(W.shape[0]):
        rb = tie_calibrated_accuracy(h, m, average=average, weights=W[b])
        assert r.statistic[b] == pytest.approx(rb.statistic, abs=1e-12)
        assert r.epsilon[b] == rb.epsilon
    # the optimum itself is checked against an exact threshold loop in
    # test_real_weight_epsilon_is_the_exact_optimum_of_a_threshold_loop


def test_permutation_test_stacking_protocol():
    # the weights [1-s, s] on stacked copies select one scorer per item
    h, m1 = _synthetic(seed=2)
    _, m2 = _synthetic(seed=3)
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, size=(5, h.shape[0])).astype(float)
    W = np.hstack([1 - s, s])
    r = tie_calibrated_accuracy(np.vstack([h, h]), np.vstack([m1, m2]), weights=W)
    for b in range(5):
        mixed = np.where(s[b][:, None] == 1, m2, m1)
        rb = tie_calibrated_accuracy(h, mixed)
        assert r.statistic[b] == pytest.approx(rb.statistic, abs=1e-12)
        assert r.epsilon[b] == rb.epsilon


def test_sample_rate_is_seeded_and_subsets_pairs():
    h, m = _synthetic(n_items=40)
    a = tie_calibrated_accuracy(h, m, sample_rate=0.3, seed=5)
    b = tie_calibrated_accuracy(h, m, sample_rate=0.3, seed=5)
    full = tie_calibrated_accuracy(h, m)
    assert a == b
    assert a.n_pairs < full.n_pairs
    c = tie_calibrated_accuracy(h, m, group="none", sample_rate=0.5, seed=1)
    assert c == tie_calibrated_accuracy(h, m, group="none", sample_rate=0.5, seed=1)
    assert c.n_pairs < tie_calibrated_accuracy(h, m, group="none").n_pairs


def test_cross_fitted():
    h, m = _synthetic(n_items=50, seed=4)
    r = cross_fitted_tie_accuracy(h, m, k_folds=5, seed=3)
    r2 = cross_fitted_tie_accuracy(h, m, k_folds=5, seed=3)
    assert r.statistic == r2.statistic and np.array_equal(r.epsilon, r2.epsilon)
    assert r.n_folds == 5 and r.epsilon.shape == (5,) and r.fold_statistics.shape == (5,)
    # pooled value = macro average over all items with per-fold thresholds
    perm = np.random.default_rng(3).permutation(50)
    folds = np.array_split(perm, 5)
    vals = []
    for f, test in enumerate(folds):
        train = np.setdiff1d(perm, test)
        eps = tie_calibrated_accuracy(h[train], m[train]).epsilon
        assert eps == r.epsilon[f]
        for i in test:
            v = acc_eq(h[i : i + 1], m[i : i + 1], epsilon=eps).statistic
            if not np.isnan(v):
                vals.append(v)
    assert r.statistic == pytest.approx(np.mean(vals), abs=1e-12)
    assert r.in_sample_statistic == tie_calibrated_accuracy(h, m).statistic
    assert r.statistic <= r.in_sample_statistic + 1e-12
    # dev split
    hd, md = _synthetic(n_items=30, seed=9)
    d = cross_fitted_tie_accuracy(h, m, dev=(hd, md))
    eps = tie_calibrated_accuracy(hd, md).epsilon
    assert d.epsilon == eps
    assert d.statistic == acc_eq(h, m, epsilon=eps).statistic
    # pooled grouping
    p = cross_fitted_tie_accuracy(h, m, k_folds=3, group="none", average="pairs")
    assert 0 <= p.statistic <= 1


def test_all_gold_ties():
    h = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    m = np.array([[0.1, 0.4, 0.2], [0.5, 0.5, 0.5]])
    assert acc_eq(h, m).statistic == pytest.approx((0 + 1) / 2)
    r = tie_calibrated_accuracy(h, m)
    assert r.statistic == 1.0 and r.all_ties and r.all_ties_baseline == 1.0
    assert r.epsilon == pytest.approx(0.3)  # the largest gap of item 0
    p = pairwise_accuracy(h, m)
    assert np.isnan(p.statistic) and p.n_dropped == 2
    r = tie_calibrated_accuracy(h, m, group="none")
    assert r.statistic == pytest.approx((3 + 3) / 15)  # 6 within-item gold ties of 15 pairs
    assert r.all_ties_baseline == pytest.approx(6 / 15)


def test_pooled_group_is_one_vector():
    h = np.array([[1, 0], [nan, 2]], float)
    m = np.array([[0.5, 0.1], [0.3, 0.9]])
    flat = acc_eq(np.array([1.0, 0.0, 2.0]), np.array([0.5, 0.1, 0.9]))
    assert acc_eq(h, m, group="none").statistic == flat.statistic == 1.0
    r = tie_calibrated_accuracy(h, m, group="none")
    assert r.statistic == 1.0 and r.epsilon == 0.0 and r.n_pairs == 3


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 6), max_size=30),
    st.lists(st.integers(1, 6), max_size=30),
    st.integers(1, 5),
)
def test_count_sweep_chunk_pruning(g, c, chunk):
    # internal: the pruned chunked sweep equals a brute-force scan of all candidates
    from overcoat.metaeval.accuracy import _sweep_counts

    gs = np.sort(np.array(g, float)) / 4
    cs = np.sort(np.array(c, float)) / 4
    cands = sorted({0.0} | set(gs.tolist()))
    vals = [int((gs <= x).sum() - (cs <= x).sum()) for x in cands]
    best = max(vals)
    want = cands[vals.index(best)]
    for ch in (chunk, 1 << 16):
        eps, f, _ = _sweep_counts(gs, cs, chunk=ch)
        assert (eps, f) == (want, best)


# ---------------------------------------------------------------------------------------------
# Independent loop references: pair lists in, exact tie calibration out
# ---------------------------------------------------------------------------------------------
#
# A "group" below is a plain list of pairs (d_h, d_m); ``ref_calibrate_pairs`` loops over every
# candidate threshold, classifies each pair by hand and combines the groups with Fractions, so
# the maximum and the smallest maximiser are exact.  It shares no code with the library.


def near(x, y):
    """Gaps equal up to rounding: within a relative GAP_RTOL (tie calibration's candidates)."""
    return abs(x - y) <= GAP_RTOL * max(abs(x), abs(y))


def ref_agree(dh, dm, eps, tol=False):
    """1 if the metric agrees with the human on a pair at threshold eps (acc_eq's numerator);
    ``tol``: a gap equal to eps up to rounding is a tie too (tie calibration's candidates)."""
    tie = abs(dm) <= eps or (tol and near(abs(dm), eps))
    if dh == 0:
        return int(tie)
    return int(not tie and (dh > 0) == (dm > 0))


def ref_value_pairs(groups, eps, average, weights=None, tol=False):
    """Exact acc_eq at eps over explicit pair lists (macro over non-empty groups, or pooled);
    ``weights``: optional exact weight per group (Fractions)."""
    num = den = Fraction(0)
    for g, pairs in enumerate(groups):
        if not pairs:
            continue
        w = Fraction(1) if weights is None else weights[g]
        agree = sum(ref_agree(dh, dm, eps, tol) for dh, dm in pairs)
        if average == "items":
            num += w * Fraction(agree, len(pairs))
            den += w
        else:
            num += w * agree
            den += w * len(pairs)
    return None if den == 0 else num / den


def ref_calibrate_pairs(groups, average, weights=None):
    """(maximising epsilon, exact maximum) over 0 and every |d_m|; None if no pairs. Gaps equal up to
    rounding (``near``) are one candidate, whose epsilon is the largest of them; the smallest maximising
    candidate is returned."""
    cands = sorted({0.0} | {abs(dm) for pairs in groups for _, dm in pairs})
    best = None
    for eps in cands:
        v = ref_value_pairs(groups, eps, average, weights, tol=True)
        if v is None:
            return None
        if best is None or v > best[1]:
            best = (eps, v)
    return max(c for c in cands if near(c, best[0])), best[1]


def pairs_of_cells(cells):
    """All pairs (d_h, d_m) of a list of cells (h, m)."""
    return [
        (cells[a][0] - cells[b][0], cells[a][1] - cells[b][1])
        for a in range(len(cells))
        for b in range(a + 1, len(cells))
    ]


def pooled_groups(h, m, group, items):
    """Pair lists of the pooled groups ("none": one group; "system": one per column) over the
    given items (cells with a NaN score left out)."""

    def ok(i, j):
        return not (np.isnan(h[i, j]) or np.isnan(m[i, j]))

    if group == "none":
        cols = [[(h[i, j], m[i, j]) for i in items for j in range(h.shape[1]) if ok(i, j)]]
    else:
        cols = [[(h[i, j], m[i, j]) for i in items if ok(i, j)] for j in range(h.shape[1])]
    return [pairs_of_cells(c) for c in cols]


def test_real_weight_epsilon_is_the_exact_optimum_of_a_threshold_loop():
    """Real-valued (Dirichlet) item weights: a brute-force loop over every threshold, with the
    weights as exact Fractions, gives the maximum and the smallest maximiser."""
    rng = np.random.default_rng(1)
    h = rng.integers(0, 3, size=(30, 5)).astype(float)
    m = np.round(h + rng.normal(scale=0.6, size=h.shape), 1)
    h[rng.random(h.shape) < 0.1] = nan
    W = rng.dirichlet(np.ones(h.shape[0]), size=3) * h.shape[0]
    groups = [
        pairs_of_cells([(h[i, j], m[i, j]) for j in range(h.shape[1]) if not np.isnan(h[i, j])])
        for i in range(h.shape[0])
    ]
    for average in ("items", "pairs"):
        r2 = tie_calibrated_accuracy(h, m, average=average, weights=W)
        for b in range(W.shape[0]):
            eps, best = ref_calibrate_pairs(groups, average, [Fraction(x) for x in W[b]])
            assert eps > 0  # the optimum is not the trivial threshold
            rb = tie_calibrated_accuracy(h, m, average=average, weights=W[b])
            assert rb.epsilon == eps and r2.epsilon[b] == eps
            assert rb.statistic == pytest.approx(float(best), abs=1e-12)
            assert r2.statistic[b] == pytest.approx(float(best), abs=1e-12)


def test_item_sample_rate_equals_the_statistic_on_the_explicitly_sampled_pairs():
    """sample_rate < 1, item grouping: the result is tie-calibrated acc_eq over the sampled
    pairs only.  The sample is drawn as documented in ``_item_gc``: one uniform per within-item
    pair, in row order of the pairs (j < k) of the responses sorted by human score; the human
    rows here are already sorted, so that order is ``np.triu_indices``."""
    rng = np.random.default_rng(7)
    n_items, n_resp = 30, 5
    h = np.sort(rng.integers(0, 4, size=(n_items, n_resp)).astype(float), axis=1)
    m = np.round(h + rng.normal(scale=1.5, size=h.shape), 1)
    jj, kk = np.triu_indices(n_resp, 1)
    full = {
        av: ref_calibrate_pairs([pairs_of_cells(list(zip(h[i], m[i]))) for i in range(n_items)], av)
        for av in ("items", "pairs")
    }
    for rate, seed in ((0.3, 5), (0.6, 11)):
        keep = np.random.default_rng(seed).random((n_items, jj.size)) < rate
        groups = [
            [
                (h[i, k] - h[i, j], m[i, k] - m[i, j])
                for p, (j, k) in enumerate(zip(jj, kk))
                if keep[i, p]
            ]
            for i in range(n_items)
        ]
        assert 0 < keep.sum() < keep.size
        for average in ("items", "pairs"):
            r = tie_calibrated_accuracy(h, m, sample_rate=rate, seed=seed, average=average)
            eps, best = ref_calibrate_pairs(groups, average)
            assert r.epsilon == eps
            assert r.statistic == pytest.approx(float(best), abs=1e-12)
            assert r.n_pairs == int(keep.sum())
            assert r.n_groups == sum(1 for g in groups if g)
            assert r.all_ties_baseline == pytest.approx(
                float(ref_value_pairs(groups, float("inf"), average)), abs=1e-12
            )
            assert r.statistic != pytest.approx(float(full[average][1]), abs=1e-6)  # sampled


@pytest.mark.parametrize("group", ["none", "system"])
def test_pooled_sample_rate_equals_the_statistic_on_the_explicitly_sampled_pairs(group):
    """sample_rate < 1, pooled groupings: each group's cells are sorted by metric (stable) and
    one uniform is drawn per pair (a, b), a < b in that order, as an (n-1) x (n-1) block whose
    entry [a, b - 1] belongs to pair (a, b); groups are drawn one after the other."""
    rng = np.random.default_rng(3)
    n_items, n_resp = 9, 4
    h = rng.integers(0, 3, size=(n_items, n_resp)).astype(float)
    m = np.round(h + rng.normal(scale=1.2, size=h.shape), 1)
    h[0, 1] = nan
    m[4, 2] = nan
    cols = pooled_groups(h, m, group, range(n_items))  # only used for the count below
    for rate, seed in ((0.25, 2), (0.5, 9)):
        draw = np.random.default_rng(seed)
        ok = ~(np.isnan(h) | np.isnan(m))
        if group == "none":
            cell_lists = [
                [(h[i, j], m[i, j]) for i in range(n_items) for j in range(n_resp) if ok[i, j]]
            ]
        else:
            cell_lists = [
                [(h[i, j], m[i, j]) for i in range(n_items) if ok[i, j]] for j in range(n_resp)
            ]
        groups = []
        for cells in cell_lists:
            cells = [cells[t] for t in np.argsort([c[1] for c in cells], kind="stable")]
            n = len(cells)
            u = draw.random((n - 1, n - 1))
            groups.append(
                [
                    (cells[b][0] - cells[a][0], cells[b][1] - cells[a][1])
                    for a in range(n)
                    for b in range(a + 1, n)
                    if u[a, b - 1] < rate
                ]
            )
        assert 0 < sum(map(len, groups)) < sum(map(len, cols))
        for average in ("items", "pairs"):
            r = tie_calibrated_accuracy(
                h, m, group=group, average=average, sample_rate=rate, seed=seed
            )
            eps, best = ref_calibrate_pairs(groups, average)
            assert r.epsilon == eps
            assert r.statistic == pytest.approx(float(best), abs=1e-12)
            assert r.n_pairs == sum(map(len, groups))


@pytest.mark.parametrize("group", ["item", "none", "system"])
def test_sampled_perfect_metric_is_exactly_one(group):
    """Whatever pairs are sampled, a metric equal to the human scores agrees on every pair
    (concordant, or tied in both), so tie calibration gives exactly 1 at epsilon 0; counting
    unsampled concordant pairs would push it above 1."""
    rng = np.random.default_rng(0)
    h = rng.integers(0, 5, size=(40, 6)).astype(float)
    full = tie_calibrated_accuracy(h, h, group=group)
    for seed in range(4):
        for rate in (0.1, 0.5, 0.9):
            r = tie_calibrated_accuracy(h, h, group=group, sample_rate=rate, seed=seed)
            # per-group shares 1/n_g are not integers: the sum may round in the last bit
            assert r.statistic == pytest.approx(1.0, abs=1e-12) and r.epsilon == 0.0
            assert 0 < r.n_pairs < full.n_pairs


@pytest.mark.parametrize(
    "group,average",
    [("none", "pairs"), ("none", "items"), ("system", "items"), ("system", "pairs")],
)
def test_pooled_cross_fitting_equals_a_fold_loop(group, average):
    """k-fold cross-fitting with pooled groupings against a loop: per fold, epsilon fitted by
    the threshold loop on the pooled pairs of the other folds; held-out pairs (within the fold)
    pooled per group over all folds."""
    rng = np.random.default_rng(0)
    h = rng.integers(0, 4, size=(12, 4)).astype(float)  # many gold ties across items
    m = np.round(h + rng.normal(scale=0.6, size=h.shape), 1)
    k, seed = 3, 4
    r = cross_fitted_tie_accuracy(h, m, k_folds=k, seed=seed, group=group, average=average)
    perm = np.random.default_rng(seed).permutation(h.shape[0])
    folds = np.array_split(perm, k)
    n_groups = 1 if group == "none" else h.shape[1]
    agree = [0] * n_groups
    total = [0] * n_groups
    for f, test in enumerate(folds):
        train = [i for i in perm if i not in set(test)]
        eps, _ = ref_calibrate_pairs(pooled_groups(h, m, group, train), average)
        assert r.epsilon[f] == eps
        held = pooled_groups(h, m, group, test)
        for g, pairs in enumerate(held):
            agree[g] += sum(ref_agree(dh, dm, eps) for dh, dm in pairs)
            total[g] += len(pairs)
        fold_val = ref_value_pairs(held, eps, average)
        assert r.fold_statistics[f] == pytest.approx(float(fold_val), abs=1e-12)
    if average == "items":
        want = np.mean([Fraction(a, t) for a, t in zip(agree, total) if t])
    else:
        want = Fraction(sum(agree), sum(total))
    assert r.statistic == pytest.approx(float(want), abs=1e-12)
    assert r.n_pairs == sum(total)
    assert min(r.epsilon) > 0
    # fitting epsilon by item instead gives other thresholds on these data
    by_item = [
        tie_calibrated_accuracy(h[np.setdiff1d(perm, t)], m[np.setdiff1d(perm, t)]).epsilon
        for t in folds
    ]
    assert list(r.epsilon) != by_item
