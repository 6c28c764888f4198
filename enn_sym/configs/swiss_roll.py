"""Berman et al. 2025, Figure 3 (``experiments/swiss_roll.py``).

Presets (``--config=configs/swiss_roll.py:<preset>``):

* ``paper`` (default): the protocol of the reference sheet, section 5.1:
  the 8 ratios of the correct + incorrect = 1 axis, 200 / 200 / 200
  points, MLP 3-512-512-2 vs the z-invariant DSS network (2-512-512, sum,
  512-2), Adam 1e-3, batch 128, early stopping after 1000 steps without an
  improvement of the validation 0-1 error (checked every 25 steps), at most
  10000 steps, 10 seeds, ECE with 100 and 15 bins. One step is one epoch
  (200 points in batches of 128, the remainder skipped; the paper's
  loader may take two). The ENN versions (ensemble of 4, epinet; not in
  the paper) at width 512 with patience 300 steps and at most 3000 steps,
  5 seeds, ratio 0.5 only, to fit the run into about an hour on 2 shared
  cores (``--config.correct_ratios='()'`` runs only the ENN cells, e.g. in
  a second process; ``--report_only --merge`` joins the two).
* ``width64``: the earlier CPU setting: width 64, patience 300 steps, at
  most 3000 steps, ENNs as ``paper`` but width 64.
* ``quick``: a smoke test.

Set ``JAX_COMPILATION_CACHE_DIR`` to reuse compilations across runs (all
ratios of one network share one program per seed count).
"""

import ml_collections


def get_config(preset: str = "paper"):
  """The config of ``preset``; every field is read by the script."""
  if preset not in ("paper", "width64", "quick"):
    raise ValueError(
        f"preset must be paper, width64 or quick; got {preset!r}.")
  c = ml_collections.ConfigDict()
  c.preset = preset
  c.correct_ratios = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
  c.num_train = c.num_val = c.num_test = 200
  c.data_seed = 0
  c.seeds = tuple(range(10))
  c.models = ("mlp", "invariant")
  c.hidden_sizes = (512, 512)
  c.learning_rate = 1e-3
  c.batch_size = 128
  c.num_steps = 10000
  c.eval_every = 25
  c.patience = 40  # Evaluations: 40 * 25 = 1000 steps without improvement.
  c.bins = (100, 15)
  # ENN versions of both networks, on these ratios (mutual information).
  c.enns = ("ensemble", "epinet")
  c.enn_ratios = (0.5,)  # Half the orbits incorrect, half correct.
  c.enn_seeds = tuple(range(5))
  c.enn_hidden_sizes = (512, 512)
  c.enn_num_steps = 3000
  c.enn_patience = 12  # 300 steps: see deviations.
  c.num_ensemble = 4
  c.epinet_index_dim = 4
  c.num_index_samples = 8  # Epinet indices per training step / evaluation.
  c.null_draws = 200  # Calibrated-label draws for the ECE noise floor.
  c.deviations = ("one step per epoch (the remainder of 200 / 128 "
                  "skipped); validation every 25 steps, not every epoch; "
                  "the ENN versions (not in the paper) with patience 300 "
                  "steps and at most 3000, for the 2-core time budget.")
  if preset == "width64":
    c.enn_ratios = (0.125, 0.5)
    c.hidden_sizes = c.enn_hidden_sizes = (64, 64)
    c.num_steps = c.enn_num_steps = 3000
    c.eval_every, c.patience, c.enn_patience = 50, 6, 6  # 300 steps.
    c.deviations = ("width 64 (not 512), patience 300 steps and at most "
                    "3000 steps (not 1000 / 10000 epochs).")
  elif preset == "quick":
    c.correct_ratios = (0.5, 1.0)
    c.seeds = (0, 1)
    c.hidden_sizes = c.enn_hidden_sizes = (8, 8)
    c.num_steps = c.enn_num_steps = 40
    c.eval_every, c.patience, c.enn_patience = 20, 1, 1
    c.enn_ratios, c.enn_seeds = (0.5,), (0, 1)
    c.num_ensemble, c.num_index_samples, c.null_draws = 2, 2, 10
    c.deviations = "a smoke test: width 8, 40 steps, 2 seeds."
  return c
