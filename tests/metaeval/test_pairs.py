import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from overcoat.metaeval.pairs import within_item_pairs

nan = np.nan


def test_hand_worked():
    h = np.array([[3, 1, 3], [1, nan, 2]], float)
    m = np.array([[0.5, 0.2, 0.4], [1.0, 2.0, 1.0]])
    p = within_item_pairs(h, m, epsilon=0.1)
    # item 0: (0,1), (0,2), (1,2); item 1: (0,2) only (response 1 missing)
    assert p.item.tolist() == [0, 0, 0, 1]
    assert p.j.tolist() == [0, 0, 1, 0]
    assert p.k.tolist() == [1, 2, 2, 2]
    np.testing.assert_allclose(p.d_human, [2, 0, -2, -1])
    np.testing.assert_allclose(p.d_metric, [0.3, 0.1, -0.2, 0.0])
    assert p.gold_tie.tolist() == [False, True, False, False]
    assert p.metric_tie.tolist() == [False, True, False, True]
    assert p.concordant.tolist() == [True, False, True, False]
    assert p.discordant.tolist() == [False, False, False, False]
    assert p.pairs_per_item().tolist() == [3, 1]
    assert p.n_pairs == 4 and p.n_items == 2


def test_missing_metric_drops_pair_and_single_item():
    h = np.array([[1.0, 2.0]])
    m = np.array([[nan, 1.0]])
    assert within_item_pairs(h, m).n_pairs == 0
    p = within_item_pairs([1.0, 2.0, 2.0], [0.0, 0.0, 1.0])  # 1-D = one item
    assert p.n_pairs == 3 and p.metric_tie.tolist() == [True, False, False]


def test_errors():
    with pytest.raises(ValueError):
        within_item_pairs(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        within_item_pairs(np.zeros((2, 3)), np.zeros((2, 3)), epsilon=-1)
    with pytest.raises(ValueError):
        within_item_pairs(np.zeros((1, 3)), np.array([[0, np.inf, 1]]))


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        float,
        st.tuples(st.integers(1, 4), st.integers(1, 5)),
        elements=st.sampled_from([0.0, 1.0, 2.0, nan]),
    ),
    st.data(),
)
def test_matches_loops(h, data):
    m = data.draw(arrays(float, h.shape, elements=st.sampled_from([0.0, 0.5, 1.0, nan])))
    eps = data.draw(st.sampled_from([0.0, 0.5]))
    p = within_item_pairs(h, m, epsilon=eps)
    ref = []
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            for k in range(j + 1, h.shape[1]):
                cells = [h[i, j], h[i, k], m[i, j], m[i, k]]
                if any(np.isnan(c) for c in cells):
                    continue
                dh, dm = h[i, j] - h[i, k], m[i, j] - m[i, k]
                ref.append((i, j, k, dh, dm, dh == 0, abs(dm) <= eps))
    got = list(
        zip(
            p.item.tolist(),
            p.j.tolist(),
            p.k.tolist(),
            p.d_human.tolist(),
            p.d_metric.tolist(),
            p.gold_tie.tolist(),
            p.metric_tie.tolist(),
        )
    )
    assert got == ref
