"""Symmetry: groups and actions, invariant wrappers, canonicalizers, p4
convolutions, vector neurons, invariance and orbit-calibration metrics."""

from enn_sym.symmetry._canonicalizers import Canonicalization
from enn_sym.symmetry._canonicalizers import CnCanonicalizer
from enn_sym.symmetry._canonicalizers import PCACanonicalizer
from enn_sym.symmetry._canonicalizers import canonicalization_prior_loss
from enn_sym.symmetry._canonicalizers import pca_frame
from enn_sym.symmetry._canonicalizers import sign_frames
from enn_sym.symmetry._canonicalizers import straight_through_weights
from enn_sym.symmetry._enn_wrappers import make_group_averaged_enn
from enn_sym.symmetry._groups import CyclicGroup
from enn_sym.symmetry._groups import DihedralGroup
from enn_sym.symmetry._groups import Group
from enn_sym.symmetry._groups import O3
from enn_sym.symmetry._groups import SO2Sampled
from enn_sym.symmetry._groups import SO3
from enn_sym.symmetry._image_ops import circular_mask
from enn_sym.symmetry._image_ops import rotate_image
from enn_sym.symmetry._invariance import InvarianceError
from enn_sym.symmetry._invariance import OrbitCalibration
from enn_sym.symmetry._p4 import GroupConv
from enn_sym.symmetry._p4 import LiftingConv
from enn_sym.symmetry._p4 import P4CNN
from enn_sym.symmetry._rotations import random_orthogonal
from enn_sym.symmetry._rotations import random_rotations
from enn_sym.symmetry._vector_neurons import VNBatchNorm
from enn_sym.symmetry._vector_neurons import VNInvariant
from enn_sym.symmetry._vector_neurons import VNLeakyReLU
from enn_sym.symmetry._vector_neurons import VNLinear
from enn_sym.symmetry._vector_neurons import VNMaxPool
from enn_sym.symmetry._vector_neurons import VNMLPClassifier
from enn_sym.symmetry._vector_neurons import vn_max_pool
from enn_sym.symmetry._vector_neurons import vn_mean_pool
from enn_sym.symmetry._wrappers import Canonicalized
from enn_sym.symmetry._wrappers import FrameAveraged
from enn_sym.symmetry._wrappers import GroupAveraged
