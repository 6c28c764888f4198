"""Calibration and error bounds for invariant models.

* Dissent (Wang et al. 2023): :func:`total_dissent`, :func:`minority_dissent`,
  :func:`error_lower_bound` (the accuracy ceiling of invariant classifiers),
  :func:`orbit_majority_classifier` (attains it), :func:`orbit_ids_from_group`,
  and for densities given as functions :func:`numeric_dissent`.
* ECE bounds (Berman et al. 2025, as stated in the issue; proved in the
  docstrings): :func:`ece_upper_bound_unconstrained`,
  :func:`ece_upper_bound_invariant`, :func:`ece_upper_bound_binary`,
  :func:`ece_lower_bound` (1-D integrals over the confidence density), and
  :func:`calibration_bounds` for the binned ECE of a finite evaluation set.
* Regression: :func:`orbit_variance`, :func:`regression_error_lower_bound`.

Not implemented: the generalised ENCE bounds of Berman et al. 2025 (their
exact statement could not be retrieved).
"""

from enn_sym.bounds._calibration import bin_ids
from enn_sym.bounds._calibration import calibration_bounds
from enn_sym.bounds._calibration import CalibrationBounds
from enn_sym.bounds._calibration import check_confidence_density
from enn_sym.bounds._calibration import ece_lower_bound
from enn_sym.bounds._calibration import ece_upper_bound_binary
from enn_sym.bounds._calibration import ece_upper_bound_invariant
from enn_sym.bounds._calibration import ece_upper_bound_unconstrained
from enn_sym.bounds._calibration import unconstrained_upper_bound_of
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
from enn_sym.bounds._regression import orbit_means
from enn_sym.bounds._regression import orbit_variance
from enn_sym.bounds._regression import regression_error_lower_bound

__all__ = [
    "CalibrationBounds",
    "NumericDissent",
    "OrbitMasses",
    "bin_ids",
    "calibration_bounds",
    "check_confidence_density",
    "ece_lower_bound",
    "ece_upper_bound_binary",
    "ece_upper_bound_invariant",
    "ece_upper_bound_unconstrained",
    "error_lower_bound",
    "midpoint_rule",
    "minority_dissent",
    "numeric_dissent",
    "orbit_ids_from_group",
    "orbit_majority_classifier",
    "orbit_masses",
    "orbit_means",
    "orbit_variance",
    "regression_error_lower_bound",
    "renumber",
    "total_dissent",
    "unconstrained_upper_bound_of",
]
