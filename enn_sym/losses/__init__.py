"""Losses: single-prediction losses and ENN wrappers."""

from enn_sym.losses._enn import BOOTSTRAP_KINDS
from enn_sym.losses._enn import BOOTSTRAP_RULES
from enn_sym.losses._enn import bootstrap_weights
from enn_sym.losses._enn import l2_penalty
from enn_sym.losses._enn import make_enn_loss
from enn_sym.losses._enn import merge_variables
from enn_sym.losses._enn import split_variables
from enn_sym.losses._single import LOSS_NAMES
from enn_sym.losses._single import cross_entropy
from enn_sym.losses._single import entropy_regularized_ce
from enn_sym.losses._single import focal_loss
from enn_sym.losses._single import logit_norm_penalty_ce
from enn_sym.losses._single import make_loss
from enn_sym.losses._single import soft_binned_ece
