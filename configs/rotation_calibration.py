"""Rotation calibration: invariant vs plain ENNs on right-angle-rotated MNIST.

Used by ``experiments/rotation_calibration.py``: a Sweep over one axis,
``variant`` (plain, C4-averaged, C8-averaged, learned C4 canonicalizer, p4
CNN); each variant's overrides of ``base``. Variants that are slow on a CPU
train only the epinet. Sized to run in a few minutes on a 2-core CPU (300
steps, one seed; ``--config.seeds='(0,1,2,3,4)'`` for intervals; the
converged, multi-seed answer is ``experiments/symmetry_study.py``).
"""

import ml_collections

from enn_sym.train import default_config

SLOW = {"models": ("epinet",)}


def get_config():
  """The experiment config: ``base`` and the variant axis."""
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
  config.seeds = (0,)
  config.axes = ml_collections.ConfigDict()
  config.axes.variant = {
      "plain": {},
      "c4_averaged": {"symmetry": {"group": "c4", "placement": "all"}},
      "c8_averaged": {"symmetry": {"group": "c8", "placement": "all"},
                      **SLOW},
      "canonicalized": {"symmetry": {"group": "c4", "wrapper": "canonicalized",
                                     "placement": "base+head"},
                        "model": {"base": "lenet"}, **SLOW},
      "p4cnn": {"model": {"base": "p4cnn"}, **SLOW},
  }
  config.exclude = ()
  # Forward-pass cost: jitted apply_multi on a fixed batch.
  config.timing_batch_size = 128
  config.timing_repeats = 5
  return config
