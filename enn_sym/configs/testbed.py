"""The Neural Testbed experiment (``experiments/testbed.py``).

``preset`` picks the problem ids, estimator sizes, agents and step scale
(``enn_sym.testbed.PRESETS``): ``quick`` (2 problems, shortened training; the
test suite's smoke run), ``default`` (6 teacher/data pairs = 12 problems, 5
agents, published training; about 20 min on 2 shared CPU cores) and ``full``
(all 360 problems; hours). Fields left at their empty value take the preset's.
``mode="symmetric"`` runs the symmetric testbed (``c.symmetric``) instead.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.preset = "default"
  c.problem_ids = ()        # () = the preset's
  c.agents = ()             # () = the preset's; names from AGENT_NAMES
  c.seeds = (0,)            # training seeds (vmapped)
  c.num_test_seeds = 0      # 0 = the preset's
  c.num_enn_samples = 0     # 0 = the preset's
  c.steps_scale = 0.0       # 0 = the preset's
  c.baselines = ("uniform", "prior")
  c.page = ""               # markdown page to write ("" = workdir/testbed.md)
  c.mode = "leaderboard"    # leaderboard | symmetric
  c.symmetric = ml_collections.ConfigDict()
  c.symmetric.cells = (     # (N, fraction of incorrect symmetry, support)
      (20, 0.0, "gaussian"), (200, 0.0, "gaussian"), (20, 0.5, "gaussian"),
      (200, 0.5, "gaussian"), (20, 0.0, "halfspace"))
  c.symmetric.agent = "epinet"
  c.symmetric.rotations = 4
  c.symmetric.seeds = (0, 1, 2, 3, 4)
  c.symmetric.steps_scale = 1.0
  c.symmetric.num_test_seeds = 1000
  c.symmetric.num_enn_samples = 100
  c.symmetric.page = ""     # "" = workdir/testbed_symmetric.md
  return c
