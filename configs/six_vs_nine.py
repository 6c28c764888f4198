"""Six vs nine: a rotation-invariant ENN trained on upright MNIST-5k.

Used by ``experiments/six_vs_nine.py``: a Sweep over ``variant``; ``base``
is the training config of every variant (upright digits, no rotation); the
invariant variants make the whole ENN C2- (or C4-) invariant, which
identifies a 6 with a 9 turned by 180 degrees. Sized to run in a few minutes
on a 2-core CPU (300 steps, 2 seeds; the converged multi-seed probe is part
of ``experiments/symmetry_study.py``).
"""

import ml_collections

from enn_sym.train import default_config


def get_config():
  """The experiment config: ``base`` and the variant axis."""
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
  config.seeds = (0, 1)
  config.axes = ml_collections.ConfigDict()
  config.axes.variant = {
      "plain": {},
      "c2_invariant": {"symmetry": {"group": "c2", "placement": "all"}},
      "c4_invariant": {"symmetry": {"group": "c4", "placement": "all"}},
  }
  config.exclude = ("c4_invariant",)  # --config.exclude='()' to add it
  return config
