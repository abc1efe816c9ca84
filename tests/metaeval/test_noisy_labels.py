"""suspect_labels finds planted label flips."""

import numpy as np
import pytest

from overcoat.metaeval.noisy_labels import suspect_labels


def test_planted_flips_rank_first():
    rng = np.random.default_rng(0)
    n = 300
    q = rng.normal(size=(n, 2)) * 2
    H = q.copy()
    flipped = rng.choice(n, size=15, replace=False)
    H[flipped] = H[flipped][:, ::-1]  # the human label of these items is wrong
    metrics = [q + rng.normal(0, 0.3, size=q.shape) for _ in range(3)]
    s = suspect_labels(H, metrics, seed=1)
    assert len(s) == n and s.n_scorers == 3
    top = set(s.item[:15].tolist())
    assert len(top & set(flipped.tolist())) >= 13
    assert np.all(np.diff(s.suspicion) <= 0)
    assert s.unanimous[:10].all()
    # the preferred column is the human's choice
    i = s.item[0]
    assert H[i, s.preferred[0]] > H[i, s.other[0]]


def test_errors():
    with pytest.raises(ValueError, match="at least one"):
        suspect_labels([[1, 0]], [])
    with pytest.raises(ValueError, match="no pair"):
        suspect_labels([[1, 1]], [[[0, 1]]])


def test_per_scorer_votes_and_probabilities():
    rng = np.random.default_rng(2)
    q = rng.normal(size=(60, 3))
    H = q + rng.normal(0, 0.5, q.shape)
    metrics = [q + rng.normal(0, s, q.shape) for s in (0.2, 1.0)]
    s = suspect_labels(H, metrics, n_folds=3)
    assert s.scorer_probability.shape == (2, len(s)) and s.scorer_vote.shape == (2, len(s))
    assert np.allclose(s.scorer_probability.mean(axis=0), s.suspicion)
    assert np.array_equal(s.unanimous, (s.scorer_vote == 1).all(axis=0))
    for m, votes in zip(metrics, s.scorer_vote):  # +1: the scorer prefers the other response
        d = m[s.item, s.other] - m[s.item, s.preferred]
        assert np.array_equal(votes, np.sign(d).astype(int))
