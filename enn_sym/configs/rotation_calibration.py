"""Rotation calibration: invariant vs plain ENNs on right-angle-rotated MNIST.

Used by ``experiments/rotation_calibration.py``. ``base`` is the training
config every variant starts from; the variants (defined in the experiment
script) override its ``symmetry`` / ``model.base`` fields. Sized to run in a
few minutes on a 2-core CPU.
"""

import ml_collections

from enn_sym.train import default_config


def get_config():
  """The experiment config: ``base`` plus the variant selection."""
  base = default_config()
  base.models = ("epinet", "ensemble")
  base.data.name = "mnist5k"
  base.data.rotate = "right_angle"
  base.symmetry.eval_group = "c4"
  base.model.base = "mlp"
  base.model.mlp_hidden_sizes = (64, 64)
  base.model.lenet_channels = (6, 12)
  base.model.lenet_dense_sizes = (64,)
  base.model.p4_channels = (6, 12)
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
  # Subset / order of the script's VARIANTS.
  config.variants = ("plain", "c4_averaged", "c8_averaged", "canonicalized",
                     "p4cnn")
  # Variants that are slow on a CPU train only `slow_variant_models`.
  config.slow_variants = ("c8_averaged", "canonicalized", "p4cnn")
  config.slow_variant_models = ("epinet",)
  # Forward-pass cost: jitted apply_multi on a fixed batch.
  config.timing_batch_size = 128
  config.timing_repeats = 5
  return config
