"""Losses: single-prediction losses and ENN wrappers."""

from enn_sym.losses._enn import BOOTSTRAP_KINDS
from enn_sym.losses._enn import bootstrap_weights
from enn_sym.losses._enn import l2_penalty
from enn_sym.losses._enn import make_enn_loss
from enn_sym.losses._enn import split_variables
