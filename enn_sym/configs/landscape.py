"""Loss-landscape experiment: components of minima, VN-MLP vs MLP.

Used by ``experiments/landscape.py``. ``problem`` is one of ``zhao_linear``
(deep linear network, ``width`` x ``depth``, data seed ``problem_seed``: the
validation problem with a certificate), ``mlp`` or ``vn_mlp`` (SO(3)-rotated
3D tetris shapes, data seed ``problem_seed``), or a comma-separated list run
side by side (default: the VN-MLP against the MLP, and the deep linear
validation problem). Minima are trained with
``enn_sym.train.fit_seeds`` (full batch, early stopping on the objective),
``num_minima`` per sampling seed, for every objective.
"""

import ml_collections


def get_config():
  """The default experiment config."""
  config = ml_collections.ConfigDict()
  config.problem = "mlp,vn_mlp,zhao_linear"
  config.width = 3  # zhao_linear: h
  config.depth = 3  # zhao_linear: l
  config.problem_seed = 0

  config.data = ml_collections.ConfigDict()
  config.data.num_per_class = 16  # 128 training clouds of 4 points.
  config.data.noise = 0.05

  config.mlp_hidden = (16,)  # 344 parameters
  config.vn_hidden = (4,)  # 320 parameters with the head below
  config.vn_head_hidden = (8,)

  # Objectives of the point-cloud problems (zhao_linear has its own loss).
  # smooth_ece / soft_ece: that calibration term + nll_penalty *
  # relu(NLL - nll_bound)^2; nll: plain NLL.
  config.objectives = ("smooth_ece", "soft_ece", "nll")
  config.nll_bound = 0.3
  config.nll_penalty = 10.0

  config.sampling_seeds = (0, 1, 2)
  config.num_minima = 8
  config.train = ml_collections.ConfigDict()
  # Constant-rate Adam until the objective stops improving by min_delta over
  # patience * eval_every steps (early stopping; num_steps is only a cap).
  # A cosine decay to zero over 2000 steps kept improving by > 1e-5 to the
  # end: 23 of 24 VN-MLP minima stopped at max_steps.
  config.train.num_steps = 8000
  config.train.learning_rate = 0.01
  config.train.schedule = "constant"  # or "cosine" (decay over num_steps)
  config.train.eval_every = 100
  config.train.patience = 5
  config.train.min_delta = 1e-4

  config.search = ml_collections.ConfigDict()
  config.search.schedule = ((1, 200), (2, 400))
  config.search.rtol = 0.05
  config.search.atol = 1e-5
  config.search.learning_rate = 0.03
  config.search.num_t = 4
  config.search.num_points = 101
  config.search.num_refine = 32
  config.search.batch_size = 64
  config.quotient = True

  config.deltas = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0)
  return config


def get_tiny_config():
  """A short variant for the smoke test."""
  config = get_config()
  config.problem = "mlp,vn_mlp"
  config.data.num_per_class = 2
  config.objectives = ("smooth_ece", "nll")
  config.sampling_seeds = (0, 1)
  config.num_minima = 3
  config.train.num_steps = 40
  config.train.eval_every = 20
  config.search.schedule = ((1, 5),)
  config.search.num_points = 11
  config.search.num_refine = 2
  return config
