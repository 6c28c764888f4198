"""The bounds experiment (``experiments/bounds.py``): Swiss-roll sweep + 6/9.

Sized to run in a few minutes on a 2-core CPU.
"""

import ml_collections


def get_config():
  """Default config; every field is read by ``enn_sym.bounds._experiment``."""
  c = ml_collections.ConfigDict()
  # (correct, incorrect) fractions of the data mass; extrinsic = the rest.
  c.sweep = ((1.0, 0.0), (0.75, 0.25), (0.5, 0.5), (0.25, 0.75), (0.0, 1.0),
             (0.25, 0.25))
  c.num_train = 800
  c.num_test = 2000
  c.noise = 0.02
  c.data_seed = 0
  c.seed = 0
  c.num_seeds = 3
  c.models = ("epinet", "ensemble")
  c.variants = ("invariant", "plain")
  c.hidden_sizes = (32, 32)
  c.num_steps = 3000
  c.batch_size = 128
  c.learning_rate = 3e-3
  c.weight_decay = 1e-4
  c.num_index_samples = 4
  c.eval_num_indices = 30
  c.num_bins = 15
  c.epinet = ml_collections.ConfigDict()
  c.epinet.index_dim = 4
  c.epinet.hidden_sizes = (16,)
  c.epinet.prior_scale = 1.0
  c.ensemble = ml_collections.ConfigDict()
  c.ensemble.num_ensemble = 3
  c.six_vs_nine = ml_collections.ConfigDict()
  c.six_vs_nine.enabled = True
  c.six_vs_nine.split_seed = 0  # Same split as configs/six_vs_nine.py.
  c.six_vs_nine.results_json = ""  # results.json of experiments/six_vs_nine.py
  return c
