"""Streaming calibration metrics: mergeable states, jittable updates.

Every metric is a frozen dataclass with ``empty() -> state``,
``update(state, values, labels, mask=None) -> state``, ``merge(a, b) ->
state`` (elementwise sum) and ``compute(state) -> dict`` (all results);
``scalars(state)`` gives the scalar results as Python numbers and
``arrays(state)`` the per-bin / per-class arrays. Whether ``values``
are logits or probabilities is the required ``input_kind`` field. ``mask``
(``[batch]``, 1 = real, 0 = padding) makes padded rows change nothing.
States hold per-bin / per-class sums only, never per-example data.

Values are checked on the host outside ``jax.jit``; inside ``jit`` only
shapes are, unless the code runs in checked mode (:func:`checked`,
:func:`checkify`), which compiles the value checks in.
"""

from enn_sym.metrics._binned import BinnedCalibration
from enn_sym.metrics._binned import BinnedState
from enn_sym.metrics._binned import ClasswiseCalibration
from enn_sym.metrics._binned import ClasswiseState
from enn_sym.metrics._binned import expected_calibration_error
from enn_sym.metrics._bootstrap import BootstrapECE
from enn_sym.metrics._bootstrap import BootstrapState
from enn_sym.metrics._bootstrap import poisson_weights
from enn_sym.metrics._classification import Accuracy
from enn_sym.metrics._classification import AccuracyState
from enn_sym.metrics._classification import BrierScore
from enn_sym.metrics._classification import BrierState
from enn_sym.metrics._classification import NegativeLogLikelihood
from enn_sym.metrics._classification import NLLState
from enn_sym.metrics._checked import checked
from enn_sym.metrics._checked import checkify
from enn_sym.metrics._checked import raise_if_error
from enn_sym.metrics._common import merge_states
from enn_sym.metrics._enn import EnsemblePredictive
from enn_sym.metrics._enn import EnsembleState
from enn_sym.metrics._enn import JointLogLoss
from enn_sym.metrics._enn import JointState
from enn_sym.metrics._regression import GaussianCalibration
from enn_sym.metrics._regression import GaussianState
from enn_sym.metrics._regression import variance_quantile_edges
from enn_sym.metrics._registry import MetricBundle
from enn_sym.metrics._registry import get_metric
from enn_sym.metrics._registry import list_metrics
from enn_sym.metrics._registry import make_metric_bundle
from enn_sym.metrics._registry import register_metric
from enn_sym.metrics._registry import unregister_metric
from enn_sym.metrics._report import calibration_report
from enn_sym.metrics._temperature import apply_temperature
from enn_sym.metrics._temperature import fit_temperature
