"""A data set together with the scores of one or more scorers (what scoring produces and
meta-evaluation consumes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import Dataset


@dataclass
class ScoredDataset:
    """A data set with the scores of one or more scorers (aligned with ``dataset.responses``)."""

    dataset: Dataset
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    signatures: dict[str, str] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    stats: dict[str, dict] = field(default_factory=dict)

    def matrix(self, name: str, *, oriented: bool = True) -> np.ndarray:
        """Scores as an (items × responses) matrix; negated when lower is better and ``oriented``."""
        m = self.dataset.to_matrix(self.scores[name])
        return -m if (oriented and not self.higher_is_better[name]) else m
