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
from enn_sym.train._sweep import Cell
from enn_sym.train._sweep import Sweep
from enn_sym.train._sweep import apply_overrides
from enn_sym.train._sweep import apply_preset
from enn_sym.train._sweep import sweep_main
from enn_sym.train._sweep_report import compare
from enn_sym.train._sweep_report import comparison_table
from enn_sym.train._sweep_report import conclusion
from enn_sym.train._sweep_report import mean_ci
from enn_sym.train._sweep_report import paired_difference
