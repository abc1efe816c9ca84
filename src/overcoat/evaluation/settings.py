"""What a meta-evaluation computes: :class:`MetaEvalSettings` and its checks.

Errors name the parameters (``ties must be one of ...``); the CLI renders them with its flags.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import SettingError
from ..metaeval.benchmarks import REWARDBENCH_EMPTY_SECTIONS

#: the allowed values of each choice setting
CHOICES: dict[str, tuple[str, ...]] = {
    "level": ("segment", "system", "both"),
    "group": ("none", "item", "system"),
    "ties": ("strict", "half", "calibrated"),
    "correction": ("holm", "bh", "none"),
    "ci_method": ("percentile", "bca"),
    "permute": ("auto", "cells", "items"),
    "alternative": ("greater", "two-sided"),
    "rewardbench_empty_sections": tuple(REWARDBENCH_EMPTY_SECTIONS),
    "judgebench_ties": ("wrong", "judgebench"),
}


@dataclass
class MetaEvalSettings:
    level: str = "both"  # segment | system | both
    group: str = "item"  # none | item | system
    ties: str = "calibrated"  # strict | half | calibrated
    n_resamples: int = 1000
    seed: int = 0
    alpha: float = 0.05
    correction: str = "holm"  # holm | bh | none
    ci_level: float = 0.95
    ci_method: str = "percentile"  # percentile | bca
    significance: bool = True
    # permutation test: auto = cells (WMT's PermutationSigDiff) for pointwise data, items for
    # preference data (docs/metaeval-conventions.md, "Significance tests")
    permute: str = "auto"  # auto | cells | items
    alternative: str = "greater"  # greater (one-sided, both directions) | two-sided
    spa_seed: int | None = None  # None: mt-metrics-eval's SPA permutation stream (seed 4)
    rank_fallback: bool = True  # the ranking rule (RANKING_FALLBACK): see ranking.rank_statistic
    rewardbench_empty_sections: str = "official"  # official | present (RewardBench v1 rule)
    judgebench_ties: str = "judgebench"  # judgebench (JudgeBench's own) | wrong

    def check(self) -> None:
        """Raise :class:`~overcoat.errors.SettingError` naming the first bad setting."""
        lit = SettingError.literal
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise SettingError(
                    f"{{{name}}} must be one of {', '.join(allowed)}, got {lit(repr(value))}"
                )
        if (
            isinstance(self.n_resamples, bool)
            or not isinstance(self.n_resamples, int)
            or self.n_resamples < 1
        ):
            raise SettingError(
                f"{{n_resamples}} must be an integer of at least 1, "
                f"got {lit(repr(self.n_resamples))}"
            )
        for name in ("alpha", "ci_level"):
            v = getattr(self, name)
            try:
                ok = 0.0 < float(v) < 1.0  # False for NaN
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise SettingError(
                    f"{{{name}}} must be a number strictly between 0 and 1, got {lit(repr(v))}"
                )

    def as_dict(self) -> dict:
        """Every setting by name, in declaration order (the JSON ``settings`` block)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
