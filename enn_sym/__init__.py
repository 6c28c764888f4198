"""enn_sym: epistemic neural networks with symmetry, in JAX.

Subpackages: ``networks`` (bases, epinet, ensemble, dropout, priors, ResNet,
VGG), ``losses`` (single losses and ENN wrappers), ``metrics`` (streaming
calibration metrics), ``data`` (embedded, synthetic and TFDS pipelines),
``symmetry`` (groups, invariant wrappers, vector neurons), ``bounds``
(calibration bounds for invariant models), ``landscape`` (connected
components of loss level sets). ``enn_sym.train`` (the training pipeline) is
imported on demand.
"""

from enn_sym import bounds
from enn_sym import data
from enn_sym import landscape
from enn_sym import losses
from enn_sym import metrics
from enn_sym import networks
from enn_sym import symmetry
from enn_sym.base import DeterministicIndexer
from enn_sym.base import ENNOutput
from enn_sym.base import EnsembleIndexer
from enn_sym.base import EpistemicNetwork
from enn_sym.base import GaussianIndexer
from enn_sym.base import PrngIndexer
from enn_sym.base import ScaledGaussianIndexer
from enn_sym.networks import get_prior
from enn_sym.networks import list_priors
from enn_sym.networks import make_prior
from enn_sym.networks import register_prior

__version__ = "0.1.0"
