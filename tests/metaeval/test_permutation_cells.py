"""The cell-level paired permutation test (PERM-BOTH) against a literal loop of mt-metrics-eval's
``PermutationSigDiff``, its type-I error, and the WMT example on bundled TED zh-en."""

from fractions import Fraction

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval._util import GAP_RTOL
from overcoat.metaeval.accuracy import pairwise_accuracy
from overcoat.metaeval.resampling import (
    item_weighted,
    materialized,
    paired_permutation_test,
    swap_masks,
    tie_calibrated_statistic,
)
from overcoat.metaeval.significance import significance_matrix

nan = np.nan


def exact_tie_calibrated_acc_eq(human, metric):
    """Item-grouped acc_eq with tie calibration, in exact rational arithmetic: the max over epsilon in
    {0} U {|metric differences|} of the mean over items of the share of the item's pairs on which human
    and metric agree (both tied, or both untied in the same direction; metric tie: |difference| <= eps,
    or equal to eps up to rounding, i.e. within a relative GAP_RTOL: overcoat's one difference from
    mt-metrics-eval's exact comparisons, see docs/metaeval-conventions.md)."""
    n, r = human.shape
    pairs = [(j, k) for j in range(r) for k in range(j + 1, r)]
    per_item = []
    for i in range(n):
        ps = [
            (human[i, j] - human[i, k], metric[i, j] - metric[i, k])
            for j, k in pairs
            if np.isfinite(human[i, j])
            and np.isfinite(human[i, k])
            and np.isfinite(metric[i, j])
            and np.isfinite(metric[i, k])
        ]
        if ps:
            per_item.append(ps)
    candidates = {0.0} | {abs(dm) for ps in per_item for _, dm in ps}
    best = None
    for eps in candidates:
        total = Fraction(0)
        for ps in per_item:
            agree = 0
            for dh, dm in ps:
                mtie = abs(dm) <= eps or abs(abs(dm) - eps) <= GAP_RTOL * eps
                if dh == 0:
                    agree += mtie
                else:
                    agree += (not mtie) and np.sign(dm) == np.sign(dh)
            total += Fraction(agree, len(ps))
        value = total / len(per_item)
        best = value if best is None else max(best, value)
    return best


def mtme_permutation_sig_diff(
    gold, mscores1, mscores2, corr_fcn, k, draws, block_size=1000, early_min=0.02, early_max=0.5
):
    """mt-metrics-eval's PermutationSigDiff loop, step by step, on (items, responses) matrices, with the
    coins taken from ``draws`` (row i-1 for resample i; 1 = the cell's scores are swapped) instead of
    ``np.random.binomial(1, 0.5, n)``. The metrics are z-scored by the caller, as it does first."""
    delta = corr_fcn(gold, mscores2) - corr_fcn(gold, mscores1)
    i, large_delta_count = 1, 0
    for i in range(1, k + 1):
        w1 = 1 - draws[i - 1].reshape(gold.shape)
        w2 = 1 - w1
        m1 = w1 * mscores1 + w2 * mscores2
        m2 = w2 * mscores1 + w1 * mscores2
        c1, c2 = corr_fcn(gold, m1), corr_fcn(gold, m2)
        # mt-metrics-eval compares exactly; overcoat (and so this loop) counts values within 1e-12 (relative)
        # of delta as equal, since the same value reached by two summation orders can differ in the last bit
        if c2 - c1 >= delta - 1e-12 * max(1.0, abs(delta)):
            large_delta_count += 1
        if i % block_size == 0:
            pval = large_delta_count / i
            if pval < early_min or pval > early_max:
                break
    return large_delta_count / i, delta, i


def zscore_like_mtme(m):
    """scipy.stats.zscore over every score of the metric (mt-metrics-eval's first step)."""
    return scipy.stats.zscore(m.reshape(-1)).reshape(m.shape)


def wmt_toy(seed, n_items=10, n_resp=4, hole=True):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n_items, n_resp))
    human = -np.round(np.clip(-q * 2 + 1, 0, None))  # MQM-like, many ties
    if hole:  # items with different numbers of pairs (the float64 path of the engine)
        human[1, 2] = nan
    a = np.round(q + rng.normal(scale=0.7, size=q.shape), 1)  # coarse: metric ties
    b = 30 * q + rng.normal(scale=25, size=q.shape)  # another scale
    return human, a, b


@pytest.mark.parametrize("seed, hole", [(0, True), (1, False)])
def test_cells_pvalue_equals_literal_mtme_loop(seed, hole):
    human, a, b = wmt_toy(seed, hole=hole)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)
    k = 120
    draws = np.concatenate(list(swap_masks(human.size, k, seed=seed)))
    # metric 2 of mt-metrics-eval is our A (its test: "metric 2 better")
    p_ref, delta_ref, k_ref = mtme_permutation_sig_diff(
        human, zb, za, exact_tie_calibrated_acc_eq, k, draws
    )
    r = paired_permutation_test(
        tie_calibrated_statistic(),
        human,
        za,
        zb,
        n_resamples=k,
        seed=seed,
        permute="cells",
        alternative="greater",
        standardize=False,
    )
    assert r.pvalue == p_ref
    assert r.count == round(p_ref * k) and r.n_resamples == k_ref == k
    assert r.statistic == pytest.approx(float(delta_ref), abs=1e-12)
    # standardize (the default of the cell scheme) z-scores the raw scores the same way
    r2 = paired_permutation_test(
        tie_calibrated_statistic(),
        human,
        a,
        b,
        n_resamples=k,
        seed=seed,
        permute="cells",
        alternative="greater",
    )
    assert r2.pvalue == p_ref
    # other sidednesses count the other tail (and |.|) of the same null values
    null = paired_permutation_test(
        tie_calibrated_statistic(),
        human,
        za,
        zb,
        n_resamples=k,
        seed=seed,
        permute="cells",
        standardize=False,
        return_null=True,
    ).null_distribution
    d = float(delta_ref)
    for alt, count in (
        ("less", np.sum(null <= d + 1e-12)),
        ("two-sided", np.sum(np.abs(null) >= abs(d) - 1e-12)),
    ):
        ra = paired_permutation_test(
            tie_calibrated_statistic(),
            human,
            za,
            zb,
            n_resamples=k,
            seed=seed,
            permute="cells",
            alternative=alt,
            standardize=False,
        )
        assert ra.pvalue == count / k


@pytest.mark.parametrize("hole", [True, False])
def test_cells_null_values_equal_the_loop_exactly_resample_by_resample(hole):
    human, a, b = wmt_toy(5, n_items=8, n_resp=5, hole=hole)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)
    from overcoat.metaeval._cells import CellTable

    assert (
        CellTable(human, za, zb, "items").quad32 is None
    ) == hole  # float32 product only when exact
    draws = np.concatenate(list(swap_masks(human.size, 30, seed=2)))
    r = paired_permutation_test(
        tie_calibrated_statistic(),
        human,
        za,
        zb,
        n_resamples=30,
        seed=2,
        permute="cells",
        return_null=True,
    )
    for s, got in zip(draws, r.null_distribution):
        swap = s.reshape(human.shape) == 1
        pa, pb = np.where(swap, zb, za), np.where(swap, za, zb)
        want = exact_tie_calibrated_acc_eq(human, pa) - exact_tie_calibrated_acc_eq(human, pb)
        assert got == pytest.approx(float(want), abs=1e-12)


def test_cells_early_stopping_follows_mtme():
    human, a, b = wmt_toy(3, n_items=12, n_resp=4)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)
    k = 200
    draws = np.concatenate(list(swap_masks(human.size, k, seed=9)))
    for lo, hi in ((0.02, 0.5), (0.0, 0.05), (0.9, 1.0)):
        p_ref, _, k_ref = mtme_permutation_sig_diff(
            human,
            zb,
            za,
            exact_tie_calibrated_acc_eq,
            k,
            draws,
            block_size=40,
            early_min=lo,
            early_max=hi,
        )
        r = paired_permutation_test(
            tie_calibrated_statistic(),
            human,
            za,
            zb,
            n_resamples=k,
            seed=9,
            permute="cells",
            alternative="greater",
            early_stop=(40, lo, hi),
        )
        assert (r.pvalue, r.n_resamples) == (p_ref, k_ref)


def test_cells_generic_statistic_path_equals_loop():
    human, a, b = wmt_toy(4)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)

    def corr(g, m):
        return pairwise_accuracy(g, m, ties="half", group="item").statistic

    stat = materialized(corr)  # not routed to an engine: one call per permuted scorer

    draws = np.concatenate(list(swap_masks(human.size, 80, seed=1)))
    p_ref, _, _ = mtme_permutation_sig_diff(human, zb, za, corr, 80, draws)
    r = paired_permutation_test(
        stat,
        human,
        za,
        zb,
        n_resamples=80,
        seed=1,
        permute="cells",
        alternative="greater",
        standardize=False,
    )
    assert r.pvalue == p_ref


def test_significance_matrix_cells_entries_equal_single_tests():
    human, a, b = wmt_toy(6)
    c = a + np.random.default_rng(0).normal(scale=0.5, size=a.shape)
    mats = {"a": a, "b": b, "c": c}
    m = significance_matrix(
        tie_calibrated_statistic(),
        human,
        mats,
        n_resamples=60,
        seed=3,
        permute="cells",
        correction=None,
    )
    assert m.permute == "cells" and m.plus_one is False
    for i, x in enumerate(mats):
        for j, y in enumerate(mats):
            if i != j:
                r = paired_permutation_test(
                    tie_calibrated_statistic(),
                    human,
                    mats[x],
                    mats[y],
                    n_resamples=60,
                    seed=3,
                    permute="cells",
                    alternative="greater",
                )
                assert m.pvalues[i, j] == r.pvalue


def test_cells_need_the_same_scored_cells():
    human, a, b = wmt_toy(0)
    b = b.copy()
    b[3, 1] = nan
    with pytest.raises(ValueError, match="same cells"):
        paired_permutation_test(
            tie_calibrated_statistic(), human, a, b, n_resamples=10, permute="cells"
        )
    with pytest.raises(ValueError, match="permute"):
        paired_permutation_test(
            tie_calibrated_statistic(), human, a, a, n_resamples=10, permute="rows"
        )


@pytest.mark.slow
def test_cells_type_one_error_equals_alpha():
    """Two equally good scorers (exchangeable cell by cell): P(p <= alpha) = alpha.

    With k = 199 resamples and p = count / k, p <= 0.1 iff the observed difference is among the 20
    largest of 200 exchangeable values: probability exactly 0.1 for continuous statistics (ties between
    resampled and observed values only lower it). 1,500 simulated data sets: binomial sd 0.0077."""
    rng = np.random.default_rng(2024)
    n_sim, k, alpha = 1500, 199, 0.1
    stat = tie_calibrated_statistic()
    rejections = 0
    for s in range(n_sim):
        q = rng.normal(size=(12, 4))
        human = np.round(q * 2)  # ties in the gold scores
        a = q + rng.normal(size=q.shape)
        b = q + rng.normal(size=q.shape)
        r = paired_permutation_test(
            stat, human, a, b, n_resamples=k, seed=s, permute="cells", alternative="greater"
        )
        rejections += r.pvalue <= alpha
    rate = rejections / n_sim
    sd = np.sqrt(alpha * (1 - alpha) / n_sim)
    assert abs(rate - alpha) <= 3 * sd, (rate, n_sim, alpha)


@pytest.fixture(scope="module")
def ted_zhen():
    from overcoat import api

    ds = api.load("ted-zhen")
    scored = api.score(ds, ["chrf", "bleu"], cache=None, progress=False)
    return ds.human_matrix(), scored.matrix("chrF"), scored.matrix("BLEU")


def test_ted_zhen_chrf_vs_bleu_wmt_scheme_vs_item_scheme(ted_zhen):
    """The issue's example: chrF vs BLEU, item-grouped tie-calibrated acc_eq, 1,000 resamples."""
    human, chrf, bleu = ted_zhen
    stat = tie_calibrated_statistic()
    cells = paired_permutation_test(
        stat, human, chrf, bleu, n_resamples=1000, permute="cells", alternative="greater"
    )
    items = paired_permutation_test(
        stat,
        human,
        chrf,
        bleu,
        n_resamples=1000,
        permute="items",
        alternative="greater",
        standardize=True,
    )
    assert cells.statistic == items.statistic > 0  # chrF's acc_eq is (slightly) higher
    assert (cells.count, cells.pvalue) == (23, 0.023)
    assert (items.count, items.pvalue) == (223, 224 / 1001)


def test_ted_zhen_spa_reproduces_mtme(ted_zhen):
    from test_system import mtme_spa

    from overcoat.metaeval.system import soft_pairwise_accuracy

    human, chrf, bleu = ted_zhen
    for m in (chrf, bleu):
        ours = soft_pairwise_accuracy(human, m)
        spa32, _, _ = mtme_spa(human, m)
        # differences: permuted sums that equal the observed one exactly (MQM decimals, identical
        # translations), which the published float32 sums decide by rounding
        assert ours.statistic != spa32 and abs(ours.statistic - spa32) <= 1e-4


@pytest.mark.parametrize(
    "kw",
    [
        {"ties": "strict"},
        {"ties": "half"},
        {"ties": "half", "epsilon": 0.3},
        {"ties": "strict", "average": "pairs"},
    ],
)
@pytest.mark.parametrize("hole", [True, False])
def test_cells_pairwise_accuracy_fast_path_equals_materialised_scorers(kw, hole):
    human, a, b = wmt_toy(7, n_items=9, n_resp=5, hole=hole)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)
    stat = item_weighted(pairwise_accuracy, group="item", **kw)
    r = paired_permutation_test(
        stat,
        human,
        za,
        zb,
        n_resamples=50,
        seed=4,
        permute="cells",
        standardize=False,
        return_null=True,
    )
    draws = np.concatenate(list(swap_masks(human.size, 50, seed=4)))
    for s, got in zip(draws, r.null_distribution):
        swap = s.reshape(human.shape) == 1
        pa, pb = np.where(swap, zb, za), np.where(swap, za, zb)
        want = (
            pairwise_accuracy(human, pa, group="item", **kw).statistic
            - pairwise_accuracy(human, pb, group="item", **kw).statistic
        )
        assert got == pytest.approx(want, abs=1e-12)


def test_cell_engine_available_names_the_batched_statistics():
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy
    from overcoat.metaeval.correlation import kendall_tau
    from overcoat.metaeval.resampling import cell_engine_available

    assert cell_engine_available(tie_calibrated_statistic())
    assert cell_engine_available(item_weighted(tie_calibrated_accuracy, group="item"))
    assert cell_engine_available(item_weighted(pairwise_accuracy, ties="half", group="item"))
    assert not cell_engine_available(item_weighted(pairwise_accuracy, group="none"))
    assert cell_engine_available(item_weighted(kendall_tau, group="item", variant="b"))
    assert cell_engine_available(item_weighted(kendall_tau, group="item", average="pairs"))
    assert not cell_engine_available(item_weighted(kendall_tau, group="item", variant="c"))
    assert not cell_engine_available(item_weighted(kendall_tau, group="none", variant="b"))


@pytest.mark.parametrize("n_cells", [2, 16, 64])
def test_cell_engine_values_do_not_depend_on_its_grid(n_cells):
    """A larger data set (thousands of sorted events, so the extra short cells around the unpermuted
    scorers' thresholds have all sizes 64, 128, ...): the engine's null values equal tie calibration
    (``tie_calibrated_accuracy``, itself tested against exact loops) on the materialised permuted scorers,
    whatever the number of uniform cells."""
    from overcoat.metaeval._cells import CellTable
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    human, a, b = wmt_toy(11, n_items=70, n_resp=6)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)
    t = CellTable(human, za, zb, "items", n_cells_target=n_cells)
    assert (
        t.table.key.size > 1000
        and (t.lengths < 64).any()
        and ((t.lengths > 200).any() or n_cells == 64)
    )
    draws = np.concatenate(list(swap_masks(human.size, 25, seed=6)))
    got = t.null([draws])
    for s, g in zip(draws, got):
        swap = s.reshape(human.shape) == 1
        pa, pb = np.where(swap, zb, za), np.where(swap, za, zb)
        want = (
            tie_calibrated_accuracy(human, pa).statistic
            - tie_calibrated_accuracy(human, pb).statistic
        )
        assert g == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize(
    "n_units, n_resamples, batch", [(1, 5, None), (7, 9, 2), (13, 4, 3), (64, 3, 1)]
)
@pytest.mark.parametrize("seed", [0, 3, 2**40 + 7])
def test_swap_bits_are_the_integers_draws(n_units, n_resamples, batch, seed):
    """The coins read from the raw 64-bit stream equal ``rng.integers(0, 2, n)`` call after call, for
    odd block sizes too (a block may end inside a 64-bit draw)."""
    from overcoat.metaeval.resampling import _coins_from_raw, swap_bits

    rng = np.random.default_rng(seed)
    want = np.stack([rng.integers(0, 2, n_units) for _ in range(n_resamples)])
    got = np.concatenate(list(swap_bits(n_units, n_resamples, seed, batch)))
    assert got.dtype == np.uint8 and np.array_equal(got, want)
    floats = np.concatenate(list(swap_masks(n_units, n_resamples, seed, batch)))
    assert floats.dtype == float and np.array_equal(floats, want)
    # the raw reader alone, in uneven pieces, continues the stream as numpy's calls do
    ref, fast, carry = np.random.default_rng(seed), np.random.default_rng(seed), []
    for size in (3, 1, 0, 6, 5):
        assert np.array_equal(ref.integers(0, 2, size), _coins_from_raw(fast, size, carry))


@pytest.mark.parametrize("hole", [True, False])
def test_cell_engine_pair_table_lookup_equals_pair_gathers(hole, monkeypatch):
    """The pair products of a block come from a look-up per item (few responses) or from two gathers per
    pair; both give the same null values, equal to tie calibration on the materialised scorers."""
    from overcoat.metaeval import _cells
    from overcoat.metaeval.accuracy import tie_calibrated_accuracy

    human, a, b = wmt_toy(12, n_items=30, n_resp=6, hole=hole)
    za, zb = zscore_like_mtme(a), zscore_like_mtme(b)
    draws = np.concatenate(list(swap_masks(human.size, 40, seed=8)))
    t_lut = _cells.CellTable(human, za, zb, "items")
    monkeypatch.setattr(_cells, "_LUT_MAX_R", 0)
    t_gather = _cells.CellTable(human, za, zb, "items")
    assert t_lut.lut and not t_gather.lut
    got_lut, got_gather = t_lut.null([draws]), t_gather.null([draws])
    for s, g1, g2 in zip(draws, got_lut, got_gather):
        swap = s.reshape(human.shape) == 1
        pa, pb = np.where(swap, zb, za), np.where(swap, za, zb)
        want = (
            tie_calibrated_accuracy(human, pa).statistic
            - tie_calibrated_accuracy(human, pb).statistic
        )
        assert g1 == pytest.approx(want, abs=1e-12) and g2 == pytest.approx(want, abs=1e-12)


def test_kendall_b_cell_engine_hand_case():
    """One item, human 1 2 3 4, A = human, B reversed, the coin of cell 0 swaps: permuted A = 4 2 3 4
    (C 3, D 2, metric tie 1: tau-b = 1 / sqrt(5 * 6)), permuted B = 1 3 2 1 (C 2, D 3, tie 1:
    -1 / sqrt(30)); the null value is their difference."""
    from overcoat.metaeval._cells import KendallCellTable

    human = np.array([[1.0, 2, 3, 4]])
    a = human.copy()
    b = human[:, ::-1].copy()
    t = KendallCellTable(human, a, b)
    got = t.null([np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=np.uint8)])
    assert got[0] == pytest.approx(2 / np.sqrt(30), abs=1e-15)
    assert got[1] == 2.0  # no swap: tau-b(A) = 1, tau-b(B) = -1
    assert got[2] == -2.0  # all swapped


def _kendall_data(draw_rng, n_items, n_resp, nan_h, nan_m):
    q = draw_rng.normal(size=(n_items, n_resp))
    human = np.round(q * 1.5)  # gold ties
    a = np.round(q + draw_rng.normal(size=q.shape), 0)  # metric ties
    b = np.round(q + draw_rng.normal(size=q.shape), 1)
    cells = draw_rng.random(size=q.shape)
    human[cells < nan_h] = nan
    both = (cells >= nan_h) & (cells < nan_h + nan_m)  # missing in both scorers (same cells)
    a[both] = nan
    b[both] = nan
    return human, a, b


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n_items=st.integers(1, 7),
    n_resp=st.integers(2, 6),
    nan_h=st.sampled_from([0.0, 0.15]),
    nan_m=st.sampled_from([0.0, 0.15]),
    average=st.sampled_from(["items", "pairs"]),
    epsilon=st.sampled_from([0.0, 0.5, 1.0]),
    lut=st.booleans(),
)
def test_kendall_b_cell_engine_equals_the_generic_path(
    seed, n_items, n_resp, nan_h, nan_m, average, epsilon, lut
):
    """The batched tau-b engine gives exactly (bit for bit, NaN where undefined) what the generic path
    gives: kendall_tau called on every materialised permuted scorer."""
    from overcoat.metaeval import _cells
    from overcoat.metaeval.correlation import kendall_tau

    rng = np.random.default_rng(seed)
    human, a, b = _kendall_data(rng, n_items, n_resp, nan_h, nan_m)
    stat = item_weighted(kendall_tau, group="item", variant="b", average=average, epsilon=epsilon)
    masks = np.concatenate(list(swap_masks(human.size, 12, seed=seed)))
    want = _cells.generic_cell_null(stat, human, a, b, [masks])
    old = _cells._LUT_MAX_R
    try:
        _cells._LUT_MAX_R = 14 if lut else 0  # pair products by look-up or by gathers
        t = _cells.KendallCellTable(human, a, b, average, epsilon)
        got = t.null([masks])
    finally:
        _cells._LUT_MAX_R = old
    assert t.lut == lut
    assert np.array_equal(got, want, equal_nan=True)


def test_kendall_b_cells_through_the_permutation_test_and_matrix(ted_zhen):
    """paired_permutation_test and significance_matrix route item-grouped tau-b to the engine: the
    same p-values as the generic path (a plain callable, one call per permuted scorer)."""
    from overcoat.metaeval.correlation import kendall_tau

    human, chrf, bleu = ted_zhen
    human, chrf, bleu = human[:60], chrf[:60], bleu[:60]
    fast = item_weighted(kendall_tau, group="item", variant="b")

    def slow(h, m):
        return kendall_tau(h, m, group="item", variant="b").statistic

    kw: dict = {
        "n_resamples": 80,
        "seed": 5,
        "permute": "cells",
        "alternative": "greater",
        "return_null": True,
    }
    r_fast = paired_permutation_test(fast, human, chrf, bleu, **kw)
    r_slow = paired_permutation_test(materialized(slow), human, chrf, bleu, **kw)
    assert np.array_equal(r_fast.null_distribution, r_slow.null_distribution)
    assert r_fast.pvalue == r_slow.pvalue
    m = significance_matrix(
        fast,
        human,
        {"chrF": chrf, "BLEU": bleu},
        n_resamples=80,
        seed=5,
        permute="cells",
        correction=None,
    )
    assert m.pvalues[0, 1] == r_fast.pvalue
