"""The style matrix with CIs: point values are RM-Bench's (rmbench_scores, itself tested against a
literal reimplementation of RM-Bench's compute_accuracy in test_benchmarks.py), the bootstrap
equals a slow loop that resamples rows and calls rmbench_scores on each resample."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval._util import percentile_interval
from overcoat.metaeval.benchmarks import RMBENCH_DOMAIN_MAP, rmbench_scores
from overcoat.metaeval.style import style_matrix


def test_hand_worked_matrix_and_triangles():
    # two examples; chosen scores per style, rejected scores per style
    chosen = [[1, 2, 3], [0, 5, 5]]
    rejected = [[0, 2, 4], [1, 1, 1]]
    r = style_matrix(chosen, rejected, n_resamples=0)
    # example 1: 1>0 1>2? no 1>4? no | 2>0 2>2? no 2>4? no | 3>0 3>2 3>4? no
    # example 2: 0>1? no (x3)      | 5>1 (x3)             | 5>1 (x3)
    expected = np.array([[1, 0, 0], [2, 1, 1], [2, 2, 1]]) / 2
    np.testing.assert_array_equal(r.matrix, expected)
    assert r.easy.statistic == pytest.approx((1 + 1 + 1) / 3)
    assert r.normal.statistic == pytest.approx((0.5 + 0.5 + 0.5) / 3)
    assert r.hard.statistic == pytest.approx((0 + 0 + 0.5) / 3)
    assert r.overall.statistic == pytest.approx((1 + 0.5 + 0.5 / 3) / 3)
    assert r.easy.confidence_interval is None and r.matrix_ci is None
    assert r.n_rows == 2 and r.n_groups == 2 and r.n_missing == 0


def _data(seed=3):
    rng = np.random.default_rng(seed)
    domains = ["chat"] * 7 + ["math"] * 5 + ["safety-refuse"] * 3 + ["safety-response"] * 4
    n = len(domains)
    chosen = rng.integers(0, 4, (n, 3)).astype(float)  # small integers: ties occur
    rejected = rng.integers(0, 4, (n, 3)).astype(float)
    return chosen, rejected, domains


def test_point_values_are_rmbench_scores():
    chosen, rejected, domains = _data()
    chosen[2, 1] = np.nan  # a missing score counts wrong, as in RM-Bench
    r = style_matrix(chosen, rejected, domains=domains, n_resamples=50)
    ref = rmbench_scores(chosen, rejected, domains)
    np.testing.assert_array_equal(r.matrix, ref.overall_matrix)
    assert (r.easy.statistic, r.normal.statistic, r.hard.statistic, r.overall.statistic) == (
        ref.overall_easy,
        ref.overall_normal,
        ref.overall_hard,
        ref.overall,
    )
    assert list(r.domains) == ["chat", "math", "safety"]
    for d in r.domains:
        np.testing.assert_array_equal(r.domains[d]["matrix"], ref.matrices[d])
        assert r.domains[d]["easy"].statistic == ref.easy[d]
        assert r.domains[d]["overall"].statistic == ref.domain_scores[d]
        assert r.domains[d]["overall"].n_rows == ref.counts[d]
    assert r.n_missing == 1


def _loop_bootstrap(chosen, rejected, domains, groups, B, seed, mapped):
    """Slow reference: per domain k, draw its groups (sorted) with default_rng(seed) (one domain) or
    default_rng([seed, k]), resample[r] = the r-th integers(0, n_k, n_k); expand to rows and call
    rmbench_scores on the resampled rows."""
    names = list(dict.fromkeys(mapped))
    rngs = [
        np.random.default_rng(seed if len(names) == 1 else [seed, k]) for k in range(len(names))
    ]
    uniq = sorted(set(groups))  # groups are drawn in sorted order within a domain
    members = {d: [g for g in uniq if mapped[groups.index(g)] == d] for d in names}
    out = {"easy": [], "normal": [], "hard": [], "overall": [], "cell": []}
    for _ in range(B):
        rows = []
        for k, d in enumerate(names):
            gs = members[d]
            draw = rngs[k].integers(0, len(gs), len(gs))
            for i in draw:
                rows += [j for j, g in enumerate(groups) if g == gs[i]]
        res = rmbench_scores(
            chosen[rows], rejected[rows], [domains[j] for j in rows] if domains else None
        )
        out["easy"].append(res.overall_easy)
        out["normal"].append(res.overall_normal)
        out["hard"].append(res.overall_hard)
        out["overall"].append(res.overall)
        out["cell"].append(res.overall_matrix[2, 0])
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("with_domains", [True, False])
def test_bootstrap_equals_a_loop_over_resamples(with_domains):
    chosen, rejected, domains = _data(5)
    n = len(domains)
    groups = [f"g{i // 2}" for i in range(n)]  # two rows per group (one domain each: checked)
    if with_domains:
        groups = [f"{d}-{i // 2}" for i, d in enumerate(domains)]
    dom = domains if with_domains else None
    mapped = [RMBENCH_DOMAIN_MAP[d] for d in domains] if with_domains else ["all"] * n
    B = 60
    r = style_matrix(chosen, rejected, domains=dom, groups=groups, n_resamples=B, seed=11)
    ref = _loop_bootstrap(chosen, rejected, dom, groups, B, 11, mapped)
    for key in ("easy", "normal", "hard", "overall"):
        lo, hi = percentile_interval(ref[key], 0.95)
        assert getattr(r, key).confidence_interval == pytest.approx((lo, hi), abs=1e-12)
    lo, hi = percentile_interval(ref["cell"], 0.95)
    assert (r.matrix_ci[0][2, 0], r.matrix_ci[1][2, 0]) == pytest.approx((lo, hi), abs=1e-12)
    again = style_matrix(chosen, rejected, domains=dom, groups=groups, n_resamples=B, seed=11)
    assert again.easy == r.easy and np.array_equal(again.matrix_ci[0], r.matrix_ci[0])


def test_checks():
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        style_matrix([[1, 2]], [[0, 1]])
    with pytest.raises(ValueError, match="spans two domains"):
        style_matrix([[1, 1, 1]] * 2, [[0, 0, 0]] * 2, domains=["chat", "math"], groups=[1, 1])
    with pytest.raises(ValueError, match="unknown RM-Bench domains"):
        style_matrix([[1, 1, 1]], [[0, 0, 0]], domains=["poetry"])
    with pytest.raises(ValueError, match="no example"):
        style_matrix(np.zeros((0, 3)), np.zeros((0, 3)))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 3), min_size=3, max_size=3),
            st.lists(st.integers(0, 3), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_matrix_is_the_share_of_strict_wins(rows):
    chosen = np.array([c for c, _ in rows], float)
    rejected = np.array([r for _, r in rows], float)
    r = style_matrix(chosen, rejected, n_resamples=20)
    for i in range(3):
        for j in range(3):
            wins = sum(1 for c, rj in rows if c[i] > rj[j])
            assert r.matrix[i, j] == pytest.approx(wins / len(rows))
            lo, hi = r.matrix_ci[0][i, j], r.matrix_ci[1][i, j]
            assert 0 <= lo <= hi <= 1
