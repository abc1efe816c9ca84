"""Baselines every leaderboard needs: response length and a seeded random scorer.

``length`` scores a response by its length (``length:unit=words``, the default, counts
whitespace-separated tokens; ``unit=chars`` counts characters): the "longer is better" baseline
that exposes length bias in reward models and metrics. ``random:seed=N`` gives each response a
uniform score derived from a hash of (seed, input, response), so it does not depend on batch size,
order or worker count.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import SpecError
from ._spec import parse_options
from .base import Scorer, ScoringBatch
from .registry import register


class LengthScorer(Scorer):
    name = "length"

    def __init__(self, unit: str = "words"):
        if unit not in ("words", "chars"):
            raise SpecError(f"length: unit must be 'words' or 'chars', got {unit!r}")
        self.unit = unit

    def signature(self) -> str:
        return f"length|unit:{self.unit}"

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        if self.unit == "chars":
            return np.array([len(r) for r in batch.responses], dtype=float)
        return np.array([len(r.split()) for r in batch.responses], dtype=float)


class RandomScorer(Scorer):
    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def signature(self) -> str:
        return f"random|seed:{self.seed}|hash:sha256"

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        out = np.empty(len(batch))
        for i, (x, r) in enumerate(zip(batch.inputs, batch.responses)):
            h = hashlib.sha256(f"{self.seed}\x00{len(x)}\x00{x}\x00{r}".encode()).digest()
            out[i] = int.from_bytes(h[:8], "little") / 2.0**64
        return out


@register("length", "response length baseline; option unit=words|chars")
def _length(arg: str):
    return LengthScorer(**parse_options(arg, f"length:{arg}", {"unit": str}))


@register("random", "seeded random baseline; option seed=N")
def _random(arg: str):
    if arg.isdigit():
        return RandomScorer(int(arg))
    return RandomScorer(**parse_options(arg, f"random:{arg}", {"seed": int}))
