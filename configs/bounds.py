"""The bounds experiment (``experiments/bounds.py``).

Invariant vs plain deep ensembles on Swiss rolls (binary) and on a 3-class
C3 circle task whose orbits carry all three labels; per run, the gap between
every bound of :func:`enn_sym.bounds.finite_orbit_bounds` and the measured
ECE, and whether the bound is non-vacuous. Sized for a few minutes on 2 CPU
cores.
"""

import ml_collections


def get_config():
  """Default config; every field is read by ``experiments/bounds.py``."""
  c = ml_collections.ConfigDict()
  # (correct, incorrect) fractions of enn_sym.data.swiss_roll_task.
  c.swiss_sweep = ((1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (0.25, 0.25))
  c.num_train = 600
  c.num_val = 400
  c.num_test = 1000
  c.noise = 0.02
  c.circle = True  # The C3 circle task.
  c.circle_orbits = (200, 100, 300)  # train / val / test orbits of 3 points.
  c.data_seed = 0
  c.seeds = (0, 1, 2)
  c.hidden_sizes = (32, 32)
  c.num_ensemble = 4
  c.learning_rate = 3e-3
  c.batch_size = 128
  c.num_steps = 3000
  c.eval_every = 100
  c.patience = 5  # Evaluations of the validation NLL without improvement.
  c.num_bins = 15  # Fibres: the 15 ECE bins.
  return c
