"""Who judges the judges: agreement statistics, significance and calibration.

Pure functions on numpy arrays (matrix form: items × responses, NaN for missing; see
``docs/metaeval-conventions.md``) returning small frozen result objects with ``statistic`` and,
where meaningful, ``pvalue``, ``confidence_interval``, ``epsilon``. Nothing here reads files.
"""

from .accuracy import (
    acc_eq,
    best_of_k_accuracy,
    cross_fitted_tie_accuracy,
    pairwise_accuracy,
    tie_calibrated_accuracy,
)
from .agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, rater_severity
from .best_of_n import best_of_n_curve, best_of_n_kl
from .calibration import (
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
    brier_score_loss,
    cross_fitted_probabilities,
    expected_calibration_error,
    log_loss,
    preference_probability,
    preference_target,
    reliability_bins,
)
from .combination import cross_fitted_combination, fit_preference_combination
from .correlation import kendall_tau, pearson, spearman
from .length_bias import length_bias
from .noisy_labels import suspect_labels
from .pairs import within_item_pairs
from .preference_pairs import derive_preference_pairs, pair_accuracy
from .resampling import (
    bootstrap_ci,
    item_weighted,
    materialized,
    paired_bootstrap_ci,
    paired_permutation_test,
    tie_calibrated_statistic,
)
from .robustness import perturbation_sensitivity
from .significance import benjamini_hochberg, holm, significance_clusters, significance_matrix
from .stability import annotation_budget, stable_ranking_probability
from .system import soft_pairwise_accuracy, system_kendall, system_pearson, system_scores

__all__ = [
    "annotation_budget",
    "stable_ranking_probability",
    "acc_eq",
    "best_of_k_accuracy",
    "cross_fitted_tie_accuracy",
    "pairwise_accuracy",
    "tie_calibrated_accuracy",
    "kendall_tau",
    "pearson",
    "spearman",
    "within_item_pairs",
    "derive_preference_pairs",
    "pair_accuracy",
    "bootstrap_ci",
    "item_weighted",
    "materialized",
    "paired_bootstrap_ci",
    "paired_permutation_test",
    "tie_calibrated_statistic",
    "benjamini_hochberg",
    "holm",
    "significance_clusters",
    "significance_matrix",
    "soft_pairwise_accuracy",
    "system_kendall",
    "system_pearson",
    "system_scores",
    "IsotonicCalibration",
    "PlattScaling",
    "TemperatureScaling",
    "brier_score_loss",
    "cross_fitted_probabilities",
    "expected_calibration_error",
    "log_loss",
    "preference_probability",
    "preference_target",
    "reliability_bins",
    "best_of_n_curve",
    "best_of_n_kl",
    "length_bias",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "rater_severity",
    "perturbation_sensitivity",
    "cross_fitted_combination",
    "fit_preference_combination",
    "suspect_labels",
]
