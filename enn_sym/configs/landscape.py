"""Loss-landscape experiment: components of calibration-loss minima.

Used by ``experiments/landscape.py``. An unconstrained MLP, an
SO(3)-equivariant VN-MLP and an SO(3)-averaged MLP of similar parameter
count (344 / 320 / 344) on SO(3)-rotated 3D tetris shapes; the objective is
the smooth ECE with an NLL constraint (``enn_sym.landscape.make_objective``).
Sized to run in a few minutes on a 2-core CPU; ``tiny=True`` settings are in
``get_tiny_config`` (the smoke test).
"""

import ml_collections


def get_config():
  """The default experiment config."""
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.data = ml_collections.ConfigDict()
  config.data.num_per_class = 16  # 128 training clouds of 4 points.
  config.data.rotate = "so3"
  config.data.noise = 0.05
  config.data.seed = 0

  config.models = ("mlp", "vn_mlp", "ga_mlp")
  config.mlp_hidden = 16
  config.vn_hidden = (4,)
  config.vn_head_hidden = (8,)
  config.ga_num_samples = 8  # Fixed SO(3) quadrature of the averaged MLP.

  config.objective = ml_collections.ConfigDict()
  config.objective.calibration = "smooth_ece"
  config.objective.nll_bound = 0.3
  config.objective.nll_penalty = 10.0
  config.objective.nll_weight = 0.0
  config.objective.bandwidth = 0.1
  config.objective.grid_size = 32

  config.sampling = ml_collections.ConfigDict()
  config.sampling.num_samples = 12
  config.sampling.num_steps = 1000
  config.sampling.learning_rate = 0.01

  config.paths = ml_collections.ConfigDict()
  config.paths.curves = True
  config.paths.num_bends = 1
  config.paths.curve_steps = 200
  config.paths.curve_learning_rate = 0.03
  config.paths.num_t = 4
  config.paths.init_noise = 0.0
  config.paths.num_points = 201
  config.paths.num_refine = 64
  config.paths.batch_size = 64
  config.paths.report_points = 33  # 0: no hard-ECE reports along paths.

  # Quotients by hidden-unit permutations + positive rescaling, for the
  # models with dense ReLU hidden layers (the VN-MLP has none).
  config.quotient_models = ("mlp", "ga_mlp")
  config.num_levels = 200
  config.table_levels = (0.02, 0.03, 0.05, 0.1, 0.3, 1.0)
  return config


def get_tiny_config():
  """A seconds-long variant for the smoke test."""
  config = get_config()
  config.data.num_per_class = 4
  config.sampling.num_samples = 3
  config.sampling.num_steps = 30
  config.paths.curve_steps = 5
  config.paths.num_points = 21
  config.paths.num_refine = 4
  config.paths.report_points = 0
  config.num_levels = 10
  config.ga_num_samples = 2
  return config
