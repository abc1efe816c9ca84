"""Stable ranking probability and the annotation-budget curve: hand cases, slow reference loops
(scipy's paired t-test and Kendall τb, explicit bootstrap resamples), properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from overcoat.metaeval.correlation import kendall_tau
from overcoat.metaeval.resampling import bootstrap_indices
from overcoat.metaeval.stability import (
    annotation_budget,
    budget_draw,
    canonical_order,
    per_item_kendall,
    significant_pairs,
    split_halves,
    stable_ranking_probability,
)


def noisy_data(seed=0, raters=6, items=12, systems=4, per_cell=3, scorers=3):
    """Systems with distinct qualities, items of varying difficulty, raters with severity and
    noise; each cell rated by ``per_cell`` raters drawn at random."""
    rng = np.random.default_rng(seed)
    quality = np.linspace(0, 1.5, systems)
    truth = quality[None, :] + rng.normal(0, 1, (items, 1)) + rng.normal(0, 0.7, (items, systems))
    X = np.full((raters, items, systems), np.nan)
    for i in range(items):
        for j in range(systems):
            for r in rng.choice(raters, per_cell, replace=False):
                X[r, i, j] = truth[i, j] + 0.3 * r / raters + rng.normal(0, 0.8)
    M = np.stack([truth + rng.normal(0, s, truth.shape) for s in np.linspace(0.2, 3, scorers)])
    return X, M


# -- slow references -------------------------------------------------------------------------


def ref_gold(X, raters, items):
    G = np.full((len(items), X.shape[2]), np.nan)
    for a, i in enumerate(items):
        for j in range(X.shape[2]):
            vals = [X[r, i, j] for r in raters if not np.isnan(X[r, i, j])]
            if vals:
                G[a, j] = sum(vals) / len(vals)
    return G


def ref_tau(g, m):
    ok = ~(np.isnan(g) | np.isnan(m))
    if ok.sum() < 2 or len(set(g[ok])) < 2 or len(set(m[ok])) < 2:
        return np.nan
    return stats.kendalltau(g[ok], m[ok], variant="b").statistic


def ref_values(G, M, items, target):
    if target == "systems":
        return [G[:, j] for j in range(G.shape[1])]
    return [np.array([ref_tau(G[a], M[s, i]) for a, i in enumerate(items)]) for s in range(len(M))]


def ref_verdicts(values, alpha):
    out = []
    for a in range(len(values)):
        for b in range(a + 1, len(values)):
            d = values[a] - values[b]
            d = d[~np.isnan(d)]
            direction = np.sign(d.mean()) if d.size and abs(d.mean()) > 1e-12 else 0.0
            if d.size >= 2 and np.ptp(d) <= 1e-12:
                sig = direction != 0
            elif d.size >= 2:
                sig = stats.ttest_rel(d, np.zeros_like(d)).pvalue < alpha
            else:
                sig = False
            out.append((direction, bool(sig and direction != 0)))
    return out


def ref_srp(X, M, target, split, n_splits, alpha, seed):
    X, M = canonical_order(X, M)
    rep = sig = 0
    same, stable = [], []
    for ia, ib, ra, rb in split_halves(X.shape[0], X.shape[1], n_splits, split, seed):
        va = ref_verdicts(ref_values(ref_gold(X, ra, ia), M, ia, target), alpha)
        vb = ref_verdicts(ref_values(ref_gold(X, rb, ib), M, ib, target), alpha)
        for (da, sa), (db, sb) in zip(va, vb):
            rep += sa and sb and da == db
            sig += sa + sb
        same.append(all(da == db for (da, _), (db, _) in zip(va, vb)))
        stable.append(all(sa == sb and (da == db or not sa) for (da, sa), (db, sb) in zip(va, vb)))
    return 2 * rep / sig, np.mean(same), np.mean(stable)


# -- tests -----------------------------------------------------------------------------------


def test_per_item_kendall_equals_scipy_and_the_item_grouped_kendall():
    X, M = noisy_data(1)
    G = np.nanmean(X, axis=0)
    G[0, 1] = np.nan  # a missing cell
    tau = per_item_kendall(G, M)
    for s in range(M.shape[0]):
        for i in range(G.shape[0]):
            assert tau[s, i] == pytest.approx(ref_tau(G[i], M[s, i]), nan_ok=True)
        grouped = kendall_tau(G, M[s], variant="b", group="item").statistic
        assert np.nanmean(tau[s]) == pytest.approx(grouped)
    # a constant row is undefined
    assert np.isnan(per_item_kendall([[1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0]])[0])


def test_significant_pairs_equal_scipy_paired_t_test():
    rng = np.random.default_rng(3)
    V = rng.normal(0, 1, (5, 15)) + np.arange(5)[:, None] * 0.4
    V[2, 3] = np.nan
    d, s = significant_pairs(V, 0.05)
    ref = ref_verdicts(list(V), 0.05)
    assert [tuple(x) for x in zip(d.tolist(), s.tolist())] == [(float(a), b) for a, b in ref]
    # a constant non-zero difference is significant, a zero one is not
    d, s = significant_pairs(np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]), 0.05)
    assert s.tolist() == [True, False, True] and d.tolist() == [1.0, 0.0, -1.0]


@pytest.mark.parametrize("target", ["systems", "scorers"])
@pytest.mark.parametrize("split", ["both", "items"])
def test_srp_equals_the_slow_reference(target, split):
    X, M = noisy_data(2, items=14)
    r = stable_ranking_probability(X, M, target=target, split=split, n_splits=25, seed=5)
    srp, identical, stable = ref_srp(X, M, target, split, 25, 0.05, 5)
    assert r.statistic == pytest.approx(srp)
    assert r.identical_ranking == pytest.approx(identical)
    assert r.stable_splits == pytest.approx(stable)
    assert r.n_splits == 25 and r.replicated.shape == (25,)


def test_srp_hand_case_opposite_halves():
    # one rater, two systems, 4 items: system 0 wins by 1 on items 0, 1 and loses by 1 on 2, 3
    X = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    r = stable_ranking_probability(X, split="items", n_splits=50, seed=0)
    Xc, _ = canonical_order(X, None)
    diff = Xc[0, :, 0] - Xc[0, :, 1]
    kinds = [
        float(diff[ia].sum() != 0) for ia, _, _, _ in split_halves(1, 4, 50, "items", 0)
    ]  # 1: the halves are {+1, +1} and {-1, -1}: both significant, opposite directions
    assert 0 < sum(kinds) < 50
    assert r.statistic == 0.0  # no significant finding replicates
    assert r.stable_splits == pytest.approx(1 - np.mean(kinds))  # the others find nothing
    assert r.identical_ranking == pytest.approx(1 - np.mean(kinds))  # else both halves tie


def test_srp_is_nan_without_any_significant_difference():
    X = np.zeros((2, 6, 3))
    r = stable_ranking_probability(X, n_splits=10)
    assert np.isnan(r.statistic) and r.identical_ranking == 1.0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from(["systems", "scorers"]))
def test_srp_does_not_depend_on_item_or_rater_order(data_seed, perm_seed, target):
    X, M = noisy_data(data_seed, items=8, raters=4, per_cell=2)
    rng = np.random.default_rng(perm_seed)
    pi, pr = rng.permutation(X.shape[1]), rng.permutation(X.shape[0])
    a = stable_ranking_probability(X, M, target=target, n_splits=8, seed=1)
    b = stable_ranking_probability(X[pr][:, pi], M[:, pi], target=target, n_splits=8, seed=1)
    assert np.array_equal(a.replicated, b.replicated)
    assert np.array_equal(a.significant_a, b.significant_a)
    assert a.identical_ranking == b.identical_ranking


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(-20, 20), min_size=2, max_size=5, unique=True),
    st.lists(st.floats(-5, 5), min_size=4, max_size=9),
    st.lists(st.floats(-2, 2), min_size=2, max_size=4),
    st.integers(0, 1000),
)
def test_srp_is_one_when_all_halves_agree(quality, item_effect, rater_effect, seed):
    # every rater rates every cell; scores = system quality + item effect + rater severity: every
    # half sees the same constant differences between systems
    q = np.array(quality, float)
    X = (
        q[None, None, :]
        + np.array(item_effect)[None, :, None]
        + np.array(rater_effect)[:, None, None]
    )
    r = stable_ranking_probability(X, n_splits=10, seed=seed)
    assert r.statistic == 1.0 and r.stable_splits == 1.0
    assert r.identical_ranking == 1.0 and r.pair_agreement == 1.0


def test_srp_deterministic_under_seed():
    X, M = noisy_data(4)
    a = stable_ranking_probability(X, M, target="scorers", n_splits=30, seed=9)
    b = stable_ranking_probability(X, M, target="scorers", n_splits=30, seed=9)
    assert a.statistic == b.statistic and np.array_equal(a.replicated, b.replicated)


def test_srp_bad_input():
    X, M = noisy_data(0)
    with pytest.raises(ValueError, match="raters x items x responses"):
        stable_ranking_probability(X[0])
    with pytest.raises(ValueError, match="two or more scorers"):
        stable_ranking_probability(X, M[:1], target="scorers")
    with pytest.raises(ValueError, match="metrics must be"):
        stable_ranking_probability(X, M[:, :3], target="scorers")
    with pytest.raises(ValueError, match="4 or more items"):
        stable_ranking_probability(X[:, :3])
    with pytest.raises(ValueError, match="two or more raters"):
        stable_ranking_probability(X[:1, :, :], split="both")
    with pytest.raises(ValueError, match="finite"):
        stable_ranking_probability(np.where(np.isnan(X), np.inf, X))
    with pytest.raises(ValueError, match="target"):
        stable_ranking_probability(X, target="x")
    with pytest.raises(ValueError, match="n_splits"):
        stable_ranking_probability(X, n_splits=0)


# -- the annotation budget -------------------------------------------------------------------


def test_budget_draw_keeps_k_ratings_per_cell():
    X, _ = noisy_data(5, per_cell=3)
    rng = np.random.default_rng(0)
    items, keep = budget_draw(rng, X, 7, 2)
    assert items.size == 7 and len(set(items.tolist())) == 7
    assert (keep.sum(axis=0) == 2).all()
    assert not (keep & np.isnan(X[:, items])).any()
    _, keep = budget_draw(rng, X, 7, 5)  # more than a cell has: all of them
    assert (keep.sum(axis=0) == 3).all()


def ref_budget(X, M, item_counts, ks, n_draws, n_resamples, alpha, level, seed):
    X, M = canonical_order(X, M)
    rng = np.random.default_rng(seed)
    rows = []
    for n in item_counts:
        for k in ks:
            acc = []
            for _ in range(n_draws):
                items, keep = budget_draw(rng, X, n, k)
                s = int(rng.integers(2**31))
                sub = np.where(keep, X[:, items], np.nan)
                G = ref_gold(sub, range(X.shape[0]), range(n))
                sys_sig = [v for _, v in ref_verdicts([G[:, j] for j in range(G.shape[1])], alpha)]
                taus = [
                    np.array([ref_tau(G[a], M[c, i]) for a, i in enumerate(items)])
                    for c in range(len(M))
                ]
                widths = []
                idx = np.concatenate(list(bootstrap_indices(n, n_resamples, s)))
                for t in taus:
                    dist = []
                    for row in idx:
                        vals = [t[i] for i in row if not np.isnan(t[i])]
                        dist.append(np.mean(vals) if vals else np.nan)
                    lo, hi = np.quantile(
                        np.array(dist)[np.isfinite(dist)], [(1 - level) / 2, (1 + level) / 2]
                    )
                    widths.append(hi - lo)
                sc_sig = [v for _, v in ref_verdicts(taus, alpha)]
                acc.append(
                    (
                        keep.sum(),
                        np.mean(sys_sig),
                        np.mean(sc_sig),
                        widths,
                        [np.nanmean(t) for t in taus],
                    )
                )
            rows.append(
                (
                    np.mean([a[0] for a in acc]),
                    np.mean([a[1] for a in acc]),
                    np.mean([a[2] for a in acc]),
                    np.mean([a[3] for a in acc], axis=0),
                    np.mean([a[4] for a in acc], axis=0),
                )
            )
    return rows


def test_budget_equals_the_slow_reference():
    X, M = noisy_data(6, items=10)
    b = annotation_budget(
        X, M, item_counts=[5, 10], ratings_per_item=[1, 3], n_draws=3, n_resamples=40, seed=2
    )
    ref = ref_budget(X, M, [5, 10], [1, 3], 3, 40, 0.05, 0.95, 2)
    assert b.n_items.tolist() == [5, 5, 10, 10] and b.ratings_per_item.tolist() == [1, 3, 1, 3]
    for g, (nj, sys_sig, sc_sig, widths, statistic) in enumerate(ref):
        assert b.n_judgments[g] == pytest.approx(nj)
        assert b.system_pairs_significant[g] == pytest.approx(sys_sig)
        assert b.scorer_pairs_significant[g] == pytest.approx(sc_sig)
        assert b.ci_width[g] == pytest.approx(widths)
        assert b.statistic[g] == pytest.approx(statistic)


def test_budget_full_grid_point_is_the_full_data():
    # all items, every rating: no randomness left in the data; the verdicts are the full data's
    X, M = noisy_data(7, items=10)
    b = annotation_budget(X, M, item_counts=[10], ratings_per_item=[3], n_draws=2, n_resamples=20)
    G = np.nanmean(X, axis=0)
    _, sig = significant_pairs(G.T, 0.05)
    assert b.system_pairs_significant[0] == pytest.approx(sig.mean())
    assert b.n_judgments[0] == np.sum(~np.isnan(X))
    tau = per_item_kendall(G, M)
    assert b.statistic[0] == pytest.approx(np.nanmean(tau, axis=1))


def test_budget_default_grid_determinism_and_no_scorers():
    X, M = noisy_data(8, items=16)
    a = annotation_budget(X, M, n_draws=2, n_resamples=20, seed=3)
    b = annotation_budget(X, M, n_draws=2, n_resamples=20, seed=3)
    assert a.n_items.tolist() == [4, 4, 4, 8, 8, 8, 16, 16, 16]
    assert a.ratings_per_item.tolist() == [1, 2, 3] * 3
    assert np.array_equal(a.ci_width, b.ci_width)
    assert np.array_equal(a.system_pairs_significant, b.system_pairs_significant)
    c = annotation_budget(X, None, n_draws=2, n_resamples=20, seed=3)
    assert c.statistic.shape == (9, 0) and np.isnan(c.scorer_pairs_significant).all()
    assert np.array_equal(c.system_pairs_significant, a.system_pairs_significant)


def test_budget_bad_input():
    X, M = noisy_data(0)
    with pytest.raises(ValueError, match="item counts"):
        annotation_budget(X, item_counts=[100])
    with pytest.raises(ValueError, match="ratings per item"):
        annotation_budget(X, ratings_per_item=[0])
    with pytest.raises(ValueError, match="n_draws"):
        annotation_budget(X, n_draws=0)
    with pytest.raises(ValueError, match="two or more responses"):
        annotation_budget(X[:, :, :1])


def test_progress_callbacks_count_the_loops_and_change_nothing():
    X, M = noisy_data(seed=3)
    calls = []
    r = stable_ranking_probability(
        X, M, target="scorers", n_splits=30, seed=2, on_step=lambda d, t: calls.append((d, t))
    )
    assert calls == [(k, 30) for k in range(1, 31)]
    plain = stable_ranking_probability(X, M, target="scorers", n_splits=30, seed=2)
    assert r.statistic == plain.statistic and (r.replicated == plain.replicated).all()
    calls.clear()
    b = annotation_budget(
        X,
        M,
        item_counts=[4, 8],
        ratings_per_item=[1, 2],
        n_draws=3,
        n_resamples=20,
        seed=1,
        on_step=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(k, 12) for k in range(1, 13)]
    plain_b = annotation_budget(
        X, M, item_counts=[4, 8], ratings_per_item=[1, 2], n_draws=3, n_resamples=20, seed=1
    )
    np.testing.assert_array_equal(b.ci_width, plain_b.ci_width)
