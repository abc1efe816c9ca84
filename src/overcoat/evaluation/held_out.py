"""Tie calibration on held-out items: epsilon fitted on dev data (``dev``) or k-fold cross-fitted
(``k_folds``), acc_eq reported on the items the epsilon was not fitted on."""

from __future__ import annotations

import numpy as np

from ..data.scored import ScoredDataset
from ..errors import OvercoatError, SettingError
from ..metaeval import accuracy as acc
from ._common import number
from .schema import Estimate
from .settings import MetaEvalSettings


def held_out_calibration(
    name: str,
    H: np.ndarray,
    M: np.ndarray,
    st: MetaEvalSettings,
    *,
    dev: ScoredDataset | None = None,
    k_folds: int | None = None,
) -> dict[str, Estimate]:
    """``acc_eq_dev_calibrated`` (with ``dev``) and ``acc_eq_cross_fitted`` (with ``k_folds``) of
    scorer ``name`` (matrix ``M``)."""
    out: dict[str, Estimate] = {}
    if dev is not None:
        if name not in dev.scores:
            raise OvercoatError(f"dev data was not scored with {name!r}")
        Hd = dev.dataset.human_matrix()
        r = acc.cross_fitted_tie_accuracy(H, M, dev=(Hd, dev.matrix(name)))
        out["acc_eq_dev_calibrated"] = {
            "statistic": number(r.statistic),
            "epsilon": number(r.epsilon),
            "in_sample_statistic": number(r.in_sample_statistic),
        }
    if k_folds:
        try:
            r = acc.cross_fitted_tie_accuracy(H, M, k_folds=k_folds, seed=st.seed)
        except ValueError as e:
            raise SettingError(f"{{k_folds={k_folds}}}: {SettingError.literal(e)}") from None
        out["acc_eq_cross_fitted"] = {
            "statistic": number(r.statistic),
            "epsilons": [float(e) for e in np.atleast_1d(r.epsilon)],
            "fold_statistics": [float(x) for x in r.fold_statistics],
            "in_sample_statistic": number(r.in_sample_statistic),
            "k_folds": k_folds,
        }
    return out
