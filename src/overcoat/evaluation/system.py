"""System level (shared systems only): Pearson and Kendall tau-b of system means with
item-bootstrap CIs, and soft pairwise accuracy (mt-metrics-eval's permutation stream)."""

from __future__ import annotations

import numpy as np

from ..metaeval import resampling as rs
from ..metaeval import system as sysm
from ._common import number, with_ci
from .schema import Estimate
from .settings import MetaEvalSettings


def system_level(H: np.ndarray, M: np.ndarray, st: MetaEvalSettings) -> dict[str, Estimate]:
    """Every system-level statistic of one scorer (matrix ``M``)."""
    so: dict[str, Estimate] = {}
    p = sysm.system_pearson(H, M)
    so["system_pearson"] = {
        **with_ci(p.statistic, rs.item_weighted(sysm.system_pearson), H, M, st),
        "n_systems": p.n_systems,
    }
    k = sysm.system_kendall(H, M, variant="b")
    so["system_kendall_tau_b"] = {
        **with_ci(k.statistic, rs.item_weighted(sysm.system_kendall, variant="b"), H, M, st),
        "n_systems": k.n_systems,
    }
    spa_seed = sysm.MTME_SPA_SEED if st.spa_seed is None else st.spa_seed
    r = sysm.soft_pairwise_accuracy(H, M, n_permutations=st.n_resamples, seed=spa_seed)
    so["soft_pairwise_accuracy"] = {
        "statistic": number(r.statistic),
        "n_systems": r.n_systems,
        "n_permutations": r.n_permutations,
        "permutation_seed": spa_seed,
    }
    return so
