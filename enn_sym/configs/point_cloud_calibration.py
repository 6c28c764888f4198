"""Point-cloud calibration: VN-MLP vs MLP epinets on SO(3)-rotated tetris.

Used by ``experiments/point_cloud_calibration.py``. ``base`` is the training
config of every variant; the variants (defined in the script) pick the base
network. Sized to run in a few minutes on a 2-core CPU.
"""

import ml_collections

from enn_sym.train import default_config


def get_config():
  """The experiment config: ``base`` plus the variant selection."""
  base = default_config()
  base.models = ("epinet",)
  base.data.name = "tetris"
  base.data.tetris_rotate = "so3"
  base.data.tetris_per_class = 200
  base.symmetry.eval_group = "so3"
  base.symmetry.num_samples = 8
  base.model.base = "mlp"
  base.model.mlp_hidden_sizes = (64, 64)
  base.model.vn_hidden_sizes = (16, 16)
  base.model.epinet.include_inputs = False
  base.model.epinet.hidden_sizes = (32,)
  base.batch_size = 64
  base.num_steps = 300
  base.log_every = 100
  base.eval_every = 100_000  # Only the final evaluation.
  base.checkpoint_every = 100_000  # Only the final checkpoint.
  base.eval_batch_size = 64
  base.eval_num_indices = 10
  base.metrics.joint_num_samples = 20
  base.progress_bar = False
  base.plots = False

  config = ml_collections.ConfigDict()
  config.base = base
  config.variants = ("mlp", "vn_mlp", "vn_mlp_chiral")
  config.slow_variants = ()
  config.slow_variant_models = ("epinet",)
  config.timing_batch_size = 64
  config.timing_repeats = 5
  return config
