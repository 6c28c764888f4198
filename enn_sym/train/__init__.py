"""Training and evaluation: ``train_and_evaluate(config, workdir)``."""

from enn_sym.train._config import ConfigError
from enn_sym.train._config import MODEL_KINDS
from enn_sym.train._config import NUM_CLASSES
from enn_sym.train._config import default_config
from enn_sym.train._config import validate_config
from enn_sym.train._loop import NonFiniteLossError
from enn_sym.train._loop import maybe_initialize_distributed
from enn_sym.train._loop import train_and_evaluate
from enn_sym.train._models import ModelSpec
from enn_sym.train._models import make_model
from enn_sym.train._models import make_optimizer
from enn_sym.train._steps import EvalMetrics
from enn_sym.train._steps import TrainState
from enn_sym.train._steps import make_eval_step
from enn_sym.train._steps import make_mesh
from enn_sym.train._steps import make_train_step
from enn_sym.train._fit import STOP_REASONS
from enn_sym.train._fit import FitResult
from enn_sym.train._fit import fit_seeds
