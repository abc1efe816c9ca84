"""Length bias: hand case, loop reference, the length-only scorer's signature."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.metaeval.length_bias import length_bias


def slow(h, m, L, ties, tol):
    """Loop reference over every within-item pair."""
    rows = {"all": [], "longer": [], "shorter": [], "equal": [], "matched": [], "baseline": []}
    half = 0.5 if ties == "half" else 0.0
    for i in range(len(h)):
        for j in range(len(h[i])):
            for k in range(j + 1, len(h[i])):
                vals = (h[i][j], h[i][k], m[i][j], m[i][k], L[i][j], L[i][k])
                if any(np.isnan(v) for v in vals) or h[i][j] == h[i][k]:
                    continue
                pref_first = h[i][j] > h[i][k]
                if m[i][j] == m[i][k]:
                    c = half
                else:
                    c = 1.0 if (m[i][j] > m[i][k]) == pref_first else 0.0
                if L[i][j] == L[i][k]:
                    b = half
                    where = "equal"
                else:
                    b = 1.0 if (L[i][j] > L[i][k]) == pref_first else 0.0
                    where = "longer" if b == 1.0 else "shorter"
                rows["all"].append(c)
                rows[where].append(c)
                rows["baseline"].append(b)
                if abs(L[i][j] - L[i][k]) <= tol * max(L[i][j], L[i][k]):
                    rows["matched"].append(c)
    return {k: (np.mean(v) if v else np.nan, len(v)) for k, v in rows.items()}


def test_hand_case():
    # item 0: A (long) preferred over B (short); scorer prefers A -> correct, longer-preferred
    # item 1: A (short) preferred over B (long); scorer prefers B -> wrong, shorter-preferred
    h = [[1, 0], [1, 0]]
    m = [[0.9, 0.1], [0.2, 0.8]]
    L = [[100, 10], [10, 100]]
    r = length_bias(h, m, L, n_resamples=0)
    assert r.accuracy.statistic == 0.5
    assert r.longer_preferred.statistic == 1.0 and r.longer_preferred.n_pairs == 1
    assert r.shorter_preferred.statistic == 0.0
    assert r.length_balanced_accuracy.statistic == 0.5
    assert r.length_baseline.statistic == 0.5
    assert r.share_longer_preferred == 0.5
    assert np.isnan(r.length_matched_accuracy.statistic) and r.length_matched_accuracy.n_pairs == 0
    assert r.score_length_correlation.statistic == 1.0  # the scorer always ranks the longer first


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 5), st.integers(2, 4), st.sampled_from(["strict", "half"]), st.data())
def test_equals_loop_reference(n, R, ties, data):
    cell = st.one_of(st.integers(0, 3).map(float), st.just(np.nan))
    h = np.array(
        data.draw(st.lists(st.lists(cell, min_size=R, max_size=R), min_size=n, max_size=n))
    )
    m = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, 3).map(float), min_size=R, max_size=R),
                min_size=n,
                max_size=n,
            )
        )
    )
    L = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(5, 12).map(float), min_size=R, max_size=R),
                min_size=n,
                max_size=n,
            )
        )
    )
    r = length_bias(h, m, L, ties=ties, tolerance=0.2, n_resamples=0)
    ref = slow(h, m, L, ties, 0.2)
    for key, got in [
        ("all", r.accuracy),
        ("longer", r.longer_preferred),
        ("shorter", r.shorter_preferred),
        ("equal", r.equal_length),
        ("matched", r.length_matched_accuracy),
        ("baseline", r.length_baseline),
    ]:
        assert got.n_pairs == ref[key][1]
        assert got.statistic == pytest.approx(ref[key][0], nan_ok=True)


def test_length_scorer_is_all_length_and_cis_are_deterministic():
    rng = np.random.default_rng(0)
    L = rng.integers(10, 200, size=(300, 2)).astype(float)
    h = (rng.uniform(size=(300, 2)) < 0.5).astype(float)
    h[:, 1] = 1 - h[:, 0]
    r = length_bias(h, L, L, n_resamples=300, seed=2)
    assert r.accuracy.statistic == pytest.approx(r.length_baseline.statistic)
    assert r.longer_preferred.statistic == 1.0 and r.shorter_preferred.statistic == 0.0
    assert r.length_balanced_accuracy.statistic == 0.5
    lo, hi = r.accuracy.confidence_interval
    assert lo <= r.accuracy.statistic <= hi
    assert length_bias(h, L, L, n_resamples=300, seed=2).accuracy.confidence_interval == (lo, hi)


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        length_bias([[1, 0]], [[1, 0]], [[1, 2, 3]])
    with pytest.raises(ValueError, match="tolerance"):
        length_bias([[1, 0]], [[1, 0]], [[1, 2]], tolerance=1.5)
