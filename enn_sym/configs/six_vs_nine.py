"""Six vs nine: a rotation-invariant ENN trained on upright MNIST-5k.

Used by ``experiments/six_vs_nine.py``. ``base`` is the training config of
every variant (upright digits, no rotation); the variants (defined in the
script) make the whole ENN C2-invariant, which identifies a 6 with a 9
turned by 180 degrees. Sized to run in a few minutes on a 2-core CPU.
"""

import ml_collections

from enn_sym.train import default_config


def get_config():
  """The experiment config: ``base`` plus the variant selection."""
  base = default_config()
  base.models = ("epinet", "ensemble")
  base.data.name = "mnist5k"
  base.data.rotate = ""
  base.model.base = "mlp"
  base.model.mlp_hidden_sizes = (64, 64)
  base.model.epinet.hidden_sizes = (32,)
  base.model.ensemble.num_ensemble = 3
  base.batch_size = 64
  base.num_steps = 300
  base.log_every = 100
  base.eval_every = 100_000  # Only the final evaluation.
  base.checkpoint_every = 100_000  # Only the final checkpoint.
  base.eval_num_indices = 10
  base.metrics.joint_num_samples = 20
  base.progress_bar = False
  base.plots = False

  config = ml_collections.ConfigDict()
  config.base = base
  config.variants = ("plain", "c2_invariant")
  config.slow_variants = ()
  config.slow_variant_models = ("epinet",)
  config.timing_batch_size = 128
  config.timing_repeats = 5
  return config
