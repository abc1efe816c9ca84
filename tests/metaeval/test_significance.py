"""Tests for overcoat.metaeval.significance (expected values worked out by hand; statsmodels is
not needed)."""

import numpy as np
import pytest

from overcoat.metaeval.resampling import (
    item_weighted,
    paired_permutation_test,
    tie_calibrated_statistic,
)
from overcoat.metaeval.significance import (
    benjamini_hochberg,
    holm,
    significance_clusters,
    significance_matrix,
)

nan = np.nan


def toy(human, metric, weights=None):
    """Item-grouped mean per-item pairwise accuracy (metric tie = wrong), item-weights protocol."""
    n, r = human.shape
    jj, kk = np.triu_indices(r, 1)
    dh = human[:, jj] - human[:, kk]
    dm = metric[:, jj] - metric[:, kk]
    ok = np.isfinite(dh) & np.isfinite(dm) & (dh != 0)
    acc = np.divide(
        (ok & (np.sign(dh) == np.sign(dm))).sum(1), ok.sum(1), out=np.zeros(n), where=ok.sum(1) > 0
    )
    d = (ok.sum(1) > 0).astype(float)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    out = (w @ (acc * d)) / (w @ d)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------------------------------
# corrections
# ---------------------------------------------------------------------------------------------


def test_holm_hand_worked():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> .02, .03, .06, .04 -> running max .02, .03, .06, .06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])


def test_bh_hand_worked():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted .005, .01, .03, .04 times 4/1, 4/2, 4/3, 4/4 -> .02, .02, .04, .04; running min from the top
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])


def test_corrections_clip_ties_nan_and_shape():
    p = np.array([[0.5, 0.5], [0.2, nan]])
    # family of 3: sorted .2, .5, .5 -> holm 3*.2=.6, 2*.5=1.0, 1*.5=.5 -> max-acc .6, 1, 1
    np.testing.assert_allclose(holm(p), [[1.0, 1.0], [0.6, nan]])
    # BH: .2*3/1=.6, .5*3/2=.75, .5*3/3=.5 -> min from top: .5, .5, .5
    np.testing.assert_allclose(benjamini_hochberg(p), [[0.5, 0.5], [0.5, nan]])
    np.testing.assert_allclose(holm([0.9, 0.8]), [1.0, 1.0])
    assert holm([]).shape == (0,)
    with pytest.raises(ValueError):
        holm([1.2])


def test_bh_step_up_keeps_later_discoveries():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    # m p_i / i: .01, .04, .13, .1025, .084, .1, .1057, .25625, .2356, .216 -> running min from the top
    expect = [0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.1057142857, 0.216, 0.216, 0.216]
    np.testing.assert_allclose(benjamini_hochberg(p), expect)
    # Holm: 10*.001=.01, 9*.008=.072, 8*.039=.312, 7*.041=.287, ... running max
    h = holm(p)
    np.testing.assert_allclose(h[:4], [0.01, 0.072, 0.312, 0.312])


# ---------------------------------------------------------------------------------------------
# clusters
# ---------------------------------------------------------------------------------------------


def test_clusters_wmt_rule_any_member_of_current_cluster():
    # ranking A > B > C > D. C is not significantly worse than B, but is worse than A (same cluster as B)
    # -> C starts cluster 2. D is worse than nobody in {C} -> stays in cluster 2.
    names = ["D", "A", "C", "B"]
    scores = [0.1, 0.9, 0.5, 0.7]
    idx = {n: i for i, n in enumerate(names)}
    p = np.full((4, 4), 0.5)
    p[idx["A"], idx["C"]] = 0.01
    p[idx["A"], idx["D"]] = 0.01
    p[idx["B"], idx["D"]] = 0.01
    res = significance_clusters(scores, p, 0.05, names=names)
    assert [names[i] for i in res.order] == ["A", "B", "C", "D"]
    assert res.named() == [["A", "B"], ["C", "D"]]
    np.testing.assert_array_equal(res.ranks, [2, 1, 2, 1])


def test_clusters_threshold_is_inclusive_and_nan_last():
    p = np.array([[nan, 0.05], [0.5, nan]])
    assert significance_clusters([2.0, 1.0], p, 0.05).clusters == ((0,), (1,))
    assert significance_clusters([2.0, 1.0], p, 0.049).clusters == ((0, 1),)
    res = significance_clusters([nan, 1.0, 2.0], np.ones((3, 3)), 0.05)
    assert list(res.order) == [2, 1, 0]
    with pytest.raises(ValueError):
        significance_clusters([1.0, 2.0], np.ones((3, 3)))


def test_clusters_every_scorer_its_own_cluster():
    p = np.zeros((3, 3))
    res = significance_clusters([3, 2, 1], p)
    assert res.clusters == ((0,), (1,), (2,))


# ---------------------------------------------------------------------------------------------
# significance matrix
# ---------------------------------------------------------------------------------------------


def scorers(n=40, r=4, k=4, seed=0, tie_round=None):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, r))
    if tie_round:
        h = np.round(h * tie_round) / tie_round
    mets = {f"m{i}": h + rng.normal(scale=0.5 + 0.6 * i, size=(n, r)) for i in range(k)}
    return h, mets


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_matrix_entries_equal_individual_tests(alternative):
    h, mets = scorers()
    res = significance_matrix(
        toy, h, mets, n_resamples=150, seed=3, alternative=alternative, return_null=True
    )
    names = list(mets)
    assert res.names == tuple(names)
    for a in range(4):
        assert np.isnan(res.pvalues[a, a])
        for b in range(4):
            if a == b:
                continue
            alt = "greater" if alternative == "greater" else "two-sided"
            t = paired_permutation_test(
                toy,
                h,
                mets[names[a]],
                mets[names[b]],
                n_resamples=150,
                seed=3,
                alternative=alt,
                return_null=True,
            )
            assert res.pvalues[a, b] == pytest.approx(t.pvalue)
            assert res.deltas[a, b] == pytest.approx(t.statistic)
            np.testing.assert_allclose(
                res.null_distributions[a, b], t.null_distribution, atol=1e-12
            )
    np.testing.assert_allclose(res.deltas, -res.deltas.T)
    np.testing.assert_allclose(res.statistics, [toy(h, m) for m in mets.values()])


def loop_tie_calibrated(h, m):
    """Item-grouped acc_eq, maximised over every candidate threshold by plain loops."""
    cands = {0.0}
    pairs = []
    for i in range(h.shape[0]):
        row = []
        for j in range(h.shape[1]):
            for k in range(j + 1, h.shape[1]):
                if not any(map(np.isnan, (h[i, j], h[i, k], m[i, j], m[i, k]))):
                    row.append((h[i, j] - h[i, k], m[i, j] - m[i, k]))
                    cands.add(abs(m[i, j] - m[i, k]))
        if row:
            pairs.append(row)
    best = -1.0
    for eps in cands:
        per_item = []
        for row in pairs:
            agree = 0
            for dh, dm in row:
                if dh == 0:
                    agree += abs(dm) <= eps
                else:
                    agree += abs(dm) > eps and (dh > 0) == (dm > 0)
            per_item.append(agree / len(row))
        best = max(best, sum(per_item) / len(per_item))
    return best


def loop_holm(p):
    """Holm by its definition: the i-th smallest of m p-values times (m - i), running maximum."""
    order = sorted(range(len(p)), key=lambda t: p[t])
    out, run = [0.0] * len(p), 0.0
    for rank, t in enumerate(order):
        run = max(run, min(1.0, (len(p) - rank) * p[t]))
        out[t] = run
    return out


@pytest.mark.parametrize("kind", ["toy", "tie_calibrated"])
def test_matrix_equals_an_explicit_loop_over_pairs_and_resamples(kind):
    """Every entry against a loop: per ordered pair, the same coin flips per resample
    (``rng.integers(0, 2, n)``), rows swapped explicitly, the statistic recomputed, the p-value
    counted by hand, and Holm applied by its definition."""
    if kind == "toy":
        h, mets = scorers(n=30, k=4, seed=6)
        stat, plain = toy, toy
    else:
        h, mets = scorers(n=12, r=4, k=3, seed=7, tie_round=1)
        mets = {k: np.round(2 * v) / 2 for k, v in mets.items()}
        stat, plain = tie_calibrated_statistic(), loop_tie_calibrated
    names = list(mets)
    S, B, seed = len(names), 40, 9
    res = significance_matrix(stat, h, mets, n_resamples=B, seed=seed, correction="holm")
    flips = np.random.default_rng(seed)
    coins = [flips.integers(0, 2, h.shape[0]).astype(bool) for _ in range(B)]
    want = np.full((S, S), nan)
    for a in range(S):
        for b in range(a + 1, S):
            A, Bm = mets[names[a]], mets[names[b]]
            delta = plain(h, A) - plain(h, Bm)
            assert res.deltas[a, b] == pytest.approx(delta, abs=1e-12)
            null = []
            for c in coins:
                pa = np.where(c[:, None], Bm, A)
                pb = np.where(c[:, None], A, Bm)
                null.append(plain(h, pa) - plain(h, pb))
            # "a better than b" counts null >= delta; "b better than a" counts -null >= -delta
            want[a, b] = (1 + sum(x >= delta - 1e-9 for x in null)) / (1 + B)
            want[b, a] = (1 + sum(-x >= -delta - 1e-9 for x in null)) / (1 + B)
    np.testing.assert_allclose(res.pvalues, want, rtol=0, atol=1e-15)
    assert len(set(want[~np.eye(S, dtype=bool)].tolist())) > 2  # not all the same
    off = ~np.eye(S, dtype=bool)
    np.testing.assert_allclose(
        res.pvalues_corrected[off], loop_holm(list(want[off])), rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(res.statistics, [plain(h, mets[n]) for n in names], atol=1e-12)


def test_matrix_corrections_family():
    h, mets = scorers(seed=1)
    g = significance_matrix(toy, h, mets, n_resamples=100, seed=0, correction="holm")
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(g.pvalues_corrected[off], holm(g.pvalues[off]))
    t = significance_matrix(
        toy, h, mets, n_resamples=100, seed=0, alternative="two-sided", correction="bh"
    )
    iu = np.triu_indices(4, 1)
    np.testing.assert_allclose(t.pvalues_corrected[iu], benjamini_hochberg(t.pvalues[iu]))
    np.testing.assert_allclose(t.pvalues_corrected, t.pvalues_corrected.T)
    n = significance_matrix(toy, h, list(mets.values()), n_resamples=50, correction=None)
    assert n.pvalues_corrected is None and n.names == ("0", "1", "2", "3")
    with pytest.raises(ValueError):
        n.clusters(corrected=True)


def test_matrix_clusters_follow_the_ranking():
    h, mets = scorers(n=80, seed=2)
    res = significance_matrix(toy, h, mets, n_resamples=200, seed=0)
    cl = res.clusters(0.05)
    assert list(cl.order) == list(np.argsort(-res.statistics, kind="stable"))
    assert cl.ranks.min() == 1 and np.all(np.diff(cl.ranks[cl.order]) >= 0)
    # m0 (least noise) is clearly better than m3 (most noise)
    assert res.pvalues[0, 3] < 0.01 and cl.ranks[0] < cl.ranks[3]


def test_matrix_tie_calibrated_fast_path_equals_generic_path():
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    h, mets = scorers(n=30, r=5, k=3, seed=4, tie_round=2)
    mets["m2"] = np.round(mets["m2"] * 2) / 2
    generic = item_weighted(
        lambda hh, mm, weights=None: tie_calibrated_accuracy(hh, mm, group="item", weights=weights)
    )
    kw = {"n_resamples": 40, "seed": 2, "return_null": True, "correction": None}
    ref = significance_matrix(generic, h, mets, **kw)
    for st in (tie_calibrated_statistic(), item_weighted(tie_calibrated_accuracy, group="item")):
        res = significance_matrix(st, h, mets, **kw)
        np.testing.assert_allclose(res.statistics, ref.statistics, atol=1e-12)
        np.testing.assert_allclose(res.null_distributions, ref.null_distributions, atol=1e-12)
        np.testing.assert_array_equal(res.pvalues, ref.pvalues)


def test_matrix_argument_checks():
    h, mets = scorers(k=2)
    with pytest.raises(ValueError):
        significance_matrix(toy, h, {"a": mets["m0"]})
    with pytest.raises(ValueError):
        significance_matrix(toy, h, mets, alternative="less")
    with pytest.raises(ValueError):
        significance_matrix(toy, h, mets, correction="bonferroni")
    with pytest.raises(ValueError):
        significance_matrix(toy, h, {"a": mets["m0"], "b": mets["m1"][:, :2]})


def test_matrix_tie_calibrated_equals_generic_per_pair_tests():
    """The tie-calibrated matrix (pairs sorted once per scorer, shared across pairs and resamples) gives the
    p-values of per-pair tests through the generic weights path (tie_calibrated_accuracy called on every
    permuted weight row). Speed: benchmarks/bench_significance.py."""
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy
    from overcoat.metaeval.resampling import item_weighted

    h, mets = scorers(n=60, r=6, k=3, seed=5, tie_round=2)
    res = significance_matrix(
        tie_calibrated_statistic(), h, mets, n_resamples=60, seed=2, return_null=True
    )
    generic = item_weighted(
        lambda hh, mm, weights=None: tie_calibrated_accuracy(hh, mm, weights=weights)
    )
    names = list(mets)
    for a in range(3):
        for b in range(3):
            if a != b:
                t = paired_permutation_test(
                    generic,
                    h,
                    mets[names[a]],
                    mets[names[b]],
                    n_resamples=60,
                    seed=2,
                    alternative="greater",
                    return_null=True,
                )
                np.testing.assert_allclose(
                    res.null_distributions[a, b], t.null_distribution, atol=1e-12
                )
                assert res.pvalues[a, b] == pytest.approx(t.pvalue, abs=1e-12)
