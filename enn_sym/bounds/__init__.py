"""Calibration and error bounds for invariant models.

Every published statement of Berman, Ginesin, Pacini, Walters, "On
uncertainty calibration for equivariant functions" (TMLR 2025,
arXiv:2510.21691) is one function named by its number; the restatement
followed is ``shared/references/berman2025_bounds.md``, whose corrections
(⚠) are implemented and named in the docstrings.

* Dissent (Definitions 3 and 5): :func:`total_dissent`,
  :func:`minority_dissent`, :func:`orbit_masses`, :func:`orbit_ids_from_group`,
  :func:`numeric_dissent` (densities given as functions).
* Error bounds: :func:`theorem1_error_lower_bound` (Wang et al. 4.3; also
  :func:`error_lower_bound` from labels), :func:`proposition3_error_upper_bound`,
  :func:`theorem2_regression_error_lower_bound`,
  :func:`theorem3_regression_error_lower_bound`.
* ECE upper bounds: :func:`proposition1_ece_upper_bound`,
  :func:`theorem4_ece_upper_bound`, :func:`theorem4_intermediate_ece_upper_bound`,
  :func:`corollary1_ece_upper_bound`, :func:`corollary2_ece_upper_bound`,
  :func:`proposition2_ece_upper_bound` (corrected;
  :func:`proposition2_ece_upper_bound_paper` as published).
* ECE lower bounds: :func:`theorem5_ece_lower_bound`,
  :func:`proposition4_ece_lower_bound`, :func:`proposition5_ece_lower_bound`;
  Proposition 6: :func:`proposition6_deviation_probability`,
  :func:`proposition6_sample_size`, :func:`proposition6_half_width`.
* A finite orbit set, every bound at once: :func:`finite_orbit_bounds`.
* Reporting: :func:`bound_gaps`, :func:`summarize_gaps`. Tasks with known
  orbits: :func:`wang_swiss_roll` and :class:`SwissRollDSS` (Figure 3),
  :func:`rotation_orbit_task` (multi-class orbits).
* Lipschitz constants: :func:`spectral_norm`, :func:`mlp_lipschitz_bound`,
  :func:`deepsets_lipschitz_bound`, :func:`confidence_lipschitz_bound`.
* Regression calibration (Definition 6, Theorems 6-8):
  :func:`theorem6_gence_upper_bound`, :func:`theorem7_gence_upper_bound`,
  :func:`theorem8_gence_sq_lower_bound`, with the fibre errors of eqs.
  (11)-(12) from :func:`fibre_orbit_variance`, :func:`fibre_equivariant_error`
  and :func:`theorem8_m`; the GENCE metric is
  :class:`enn_sym.metrics.GaussianCalibration`.

This package analyses given predictions; it never trains a model.
"""

from enn_sym.bounds._dissent import error_lower_bound
from enn_sym.bounds._dissent import midpoint_rule
from enn_sym.bounds._dissent import minority_dissent
from enn_sym.bounds._dissent import numeric_dissent
from enn_sym.bounds._dissent import NumericDissent
from enn_sym.bounds._dissent import orbit_ids_from_group
from enn_sym.bounds._dissent import orbit_majority_classifier
from enn_sym.bounds._dissent import orbit_masses
from enn_sym.bounds._dissent import OrbitMasses
from enn_sym.bounds._dissent import renumber
from enn_sym.bounds._dissent import total_dissent
from enn_sym.bounds._distributions import discrete_distribution
from enn_sym.bounds._distributions import DiscreteDistribution
from enn_sym.bounds._figure3 import figure3_markdown
from enn_sym.bounds._figure3 import figure3_record
from enn_sym.bounds._figure3 import merge_figure3_results
from enn_sym.bounds._figure3 import plot_figure3
from enn_sym.bounds._finite import finite_orbit_bounds
from enn_sym.bounds._gence import fibre_equivariant_error
from enn_sym.bounds._gence import fibre_orbit_variance
from enn_sym.bounds._gence import theorem6_gence_upper_bound
from enn_sym.bounds._gence import theorem7_gence_upper_bound
from enn_sym.bounds._gence import theorem8_gence_sq_lower_bound
from enn_sym.bounds._gence import theorem8_m
from enn_sym.bounds._lipschitz import confidence_lipschitz_bound
from enn_sym.bounds._lipschitz import deepsets_layer_norm
from enn_sym.bounds._lipschitz import deepsets_lipschitz_bound
from enn_sym.bounds._lipschitz import mlp_lipschitz_bound
from enn_sym.bounds._lipschitz import power_iteration
from enn_sym.bounds._lipschitz import spectral_norm
from enn_sym.bounds._regression import orbit_means
from enn_sym.bounds._report import binned_ece
from enn_sym.bounds._report import bound_gaps
from enn_sym.bounds._report import calibrated_ece_null
from enn_sym.bounds._report import ensemble_readouts
from enn_sym.bounds._report import mean_bounds
from enn_sym.bounds._report import summarize_gaps
from enn_sym.bounds._regression import orbit_variance
from enn_sym.bounds._regression import regression_error_lower_bound
from enn_sym.bounds._regression import theorem2_regression_error_lower_bound
from enn_sym.bounds._regression import theorem3_regression_error_lower_bound
from enn_sym.bounds._statements import corollary1_ece_upper_bound
from enn_sym.bounds._statements import corollary1_m
from enn_sym.bounds._statements import corollary2_ece_upper_bound
from enn_sym.bounds._statements import least_nonzero_dissent
from enn_sym.bounds._statements import proposition1_ece_upper_bound
from enn_sym.bounds._statements import proposition2_ece_upper_bound
from enn_sym.bounds._statements import proposition2_ece_upper_bound_paper
from enn_sym.bounds._statements import proposition3_error_upper_bound
from enn_sym.bounds._statements import proposition4_ece_lower_bound
from enn_sym.bounds._statements import proposition4_m
from enn_sym.bounds._statements import proposition5_ece_lower_bound
from enn_sym.bounds._statements import proposition6_deviation_probability
from enn_sym.bounds._statements import proposition6_half_width
from enn_sym.bounds._statements import proposition6_sample_size
from enn_sym.bounds._statements import theorem1_error_lower_bound
from enn_sym.bounds._statements import theorem4_ece_upper_bound
from enn_sym.bounds._statements import theorem4_intermediate_ece_upper_bound
from enn_sym.bounds._statements import theorem5_ece_lower_bound
from enn_sym.bounds._statements import theorem5_m
from enn_sym.bounds._tasks import OrbitSplit
from enn_sym.bounds._tasks import PlaneSwapInvariantPrior
from enn_sym.bounds._tasks import rotation_invariant_features
from enn_sym.bounds._tasks import rotation_orbit_task
from enn_sym.bounds._tasks import SwissRollDSS
from enn_sym.bounds._tasks import wang_swiss_roll

__all__ = [
    "DiscreteDistribution",
    "NumericDissent",
    "OrbitMasses",
    "OrbitSplit",
    "PlaneSwapInvariantPrior",
    "SwissRollDSS",
    "binned_ece",
    "bound_gaps",
    "calibrated_ece_null",
    "confidence_lipschitz_bound",
    "corollary1_ece_upper_bound",
    "corollary1_m",
    "corollary2_ece_upper_bound",
    "deepsets_layer_norm",
    "deepsets_lipschitz_bound",
    "discrete_distribution",
    "ensemble_readouts",
    "error_lower_bound",
    "fibre_equivariant_error",
    "fibre_orbit_variance",
    "figure3_markdown",
    "figure3_record",
    "merge_figure3_results",
    "finite_orbit_bounds",
    "least_nonzero_dissent",
    "mean_bounds",
    "midpoint_rule",
    "minority_dissent",
    "mlp_lipschitz_bound",
    "numeric_dissent",
    "orbit_ids_from_group",
    "orbit_majority_classifier",
    "orbit_masses",
    "orbit_means",
    "orbit_variance",
    "plot_figure3",
    "power_iteration",
    "proposition1_ece_upper_bound",
    "proposition2_ece_upper_bound",
    "proposition2_ece_upper_bound_paper",
    "proposition3_error_upper_bound",
    "proposition4_ece_lower_bound",
    "proposition4_m",
    "proposition5_ece_lower_bound",
    "proposition6_deviation_probability",
    "proposition6_half_width",
    "proposition6_sample_size",
    "regression_error_lower_bound",
    "renumber",
    "rotation_invariant_features",
    "rotation_orbit_task",
    "spectral_norm",
    "summarize_gaps",
    "theorem1_error_lower_bound",
    "theorem2_regression_error_lower_bound",
    "theorem3_regression_error_lower_bound",
    "theorem4_ece_upper_bound",
    "theorem4_intermediate_ece_upper_bound",
    "theorem5_ece_lower_bound",
    "theorem5_m",
    "theorem6_gence_upper_bound",
    "theorem7_gence_upper_bound",
    "theorem8_gence_sq_lower_bound",
    "theorem8_m",
    "total_dissent",
    "wang_swiss_roll",
]
