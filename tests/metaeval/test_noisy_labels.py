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
