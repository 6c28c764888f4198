"""Networks: bases, ENN constructors and fixed priors."""

from enn_sym.networks._bases import LeNet
from enn_sym.networks._bases import MLP
from enn_sym.networks._bases import split_base_output
from enn_sym.networks._enns import EpinetHead
from enn_sym.networks._enns import ensemble_member_indices
from enn_sym.networks._enns import make_base_enn
from enn_sym.networks._enns import make_ensemble
from enn_sym.networks._enns import make_epinet
from enn_sym.networks._enns import make_mc_dropout
from enn_sym.networks._priors import ConvEnsemblePrior
from enn_sym.networks._priors import EnsembleDense
from enn_sym.networks._priors import MLPEnsemblePrior
from enn_sym.networks._priors import MLPEnsemblePriorV010
from enn_sym.networks._priors import RandomFeaturePrior
from enn_sym.networks._priors import get_prior
from enn_sym.networks._priors import list_priors
from enn_sym.networks._priors import make_prior
from enn_sym.networks._priors import mlp_prior_second_moment
from enn_sym.networks._priors import register_prior
from enn_sym.networks._resnet import BasicBlock
from enn_sym.networks._resnet import BottleneckBlock
from enn_sym.networks._resnet import ResNet
from enn_sym.networks._resnet import resnet18
from enn_sym.networks._resnet import resnet50
from enn_sym.networks._vgg import VGG
from enn_sym.networks._vgg import vgg16
