"""Small helpers shared by the steps: JSON-ready numbers and a statistic with its bootstrap CI."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metaeval import resampling as rs
from .schema import Estimate
from .settings import MetaEvalSettings


def number(x: Any) -> float | None:
    """A float for the JSON document; None for a missing or undefined (NaN) value."""
    if x is None:
        return None
    x = float(x)
    return None if np.isnan(x) else x


def with_ci(point: Any, stat: Any, H: np.ndarray, M: np.ndarray, st: MetaEvalSettings) -> Estimate:
    """``point`` with the item-bootstrap CI and standard error of ``stat`` (settings: resamples,
    level, method, seed)."""
    ci = rs.bootstrap_ci(
        stat, H, M, n_resamples=st.n_resamples, level=st.ci_level, method=st.ci_method, seed=st.seed
    )
    lo, hi = ci.confidence_interval
    return {
        "statistic": number(point),
        "confidence_interval": [number(lo), number(hi)],
        "standard_error": number(ci.standard_error),
    }


def ci_only(est: Estimate) -> Estimate:
    """The interval part of an estimate (added to an entry that has its own point value)."""
    return {k: v for k, v in est.items() if k != "statistic"}  # type: ignore[return-value]
