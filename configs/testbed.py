"""The Neural Testbed experiment (``experiments/testbed.py``).

``preset`` picks the problem ids, estimator sizes, agents and step scale
(``enn_sym.testbed.PRESETS``): ``quick`` (2 problems, shortened training; the
test suite's smoke run), ``default`` (6 teacher/data pairs = 12 problems, 5
agents, published training; about 20 min on 2 shared CPU cores) and ``full``
(all 360 problems; hours). Fields left at their empty value take the preset's.
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
  return c
