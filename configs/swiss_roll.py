"""Berman et al. 2025, Figure 3 (``experiments/swiss_roll.py``).

Presets (``--config=configs/swiss_roll.py:<preset>``):

* ``cpu`` (default): the protocol of the reference sheet, section 5.1, at
  CPU scale: the 8 ratios of the correct + incorrect = 1 axis, 200 / 200 /
  200 points, MLP 3-h-h-2 vs the z-invariant DSS network, Adam 1e-3, batch
  128, early stopping on the validation 0-1 error, 10 seeds, ECE with 100 and
  15 bins. Deviations, for 2 CPU cores: width 64 (not 512), patience 300
  steps and at most 3000 steps (not 1000 / 10000 epochs).
* ``paper``: width 512, patience 1000 and at most 10000 steps (one step per
  epoch: 200 points in batches of 128, the remainder skipped).
* ``quick``: a smoke test.
"""

import ml_collections


def get_config(preset: str = "cpu"):
  """The config of ``preset``; every field is read by the script."""
  if preset not in ("cpu", "paper", "quick"):
    raise ValueError(f"preset must be cpu, paper or quick; got {preset!r}.")
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.correct_ratios = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
  c.num_train = c.num_val = c.num_test = 200
  c.data_seed = 0
  c.seeds = tuple(range(10))
  c.models = ("mlp", "invariant")
  c.hidden_sizes = (64, 64)
  c.learning_rate = 1e-3
  c.batch_size = 128
  c.num_steps = 3000
  c.eval_every = 50
  c.patience = 6  # Evaluations: 6 * 50 = 300 steps without improvement.
  c.bins = (100, 15)
  # ENN versions of both networks, on these ratios (mutual information).
  c.enns = ("ensemble", "epinet")
  c.enn_ratios = (0.125, 0.5)  # Both have incorrect and correct orbits.
  c.enn_seeds = tuple(range(5))
  c.num_ensemble = 4
  c.epinet_index_dim = 4
  c.num_index_samples = 8  # Epinet indices per training step / evaluation.
  c.null_draws = 200  # Calibrated-label draws for the ECE noise floor.
  if preset == "paper":
    c.hidden_sizes = (512, 512)
    c.num_steps, c.eval_every, c.patience = 10000, 100, 10
  elif preset == "quick":
    c.correct_ratios = (0.5, 1.0)
    c.seeds = (0, 1)
    c.hidden_sizes = (8, 8)
    c.num_steps, c.eval_every, c.patience = 40, 20, 1
    c.enn_ratios, c.enn_seeds = (0.5,), (0, 1)
    c.num_ensemble, c.num_index_samples, c.null_draws = 2, 2, 10
  return c
