"""The Neural Testbed experiment (``experiments/testbed.py``).

``preset`` picks the problem ids, estimator sizes, agents and step scale
(``enn_sym.testbed.PRESETS``) and the symmetric testbed's cells and training
(``enn_sym.testbed.SYMMETRIC_PRESETS``): ``quick`` (2 problems and one
symmetric cell, shortened training; the test suite's smoke run), ``default``
(6 teacher/data pairs = 12 problems, 5 agents, published training; 9
symmetric cells x 2 models x 5 early-stopped seeds) and ``full`` (all 360
problems; hours). Measured for the default on 2 CPU cores shared with other
jobs (1-min load average 8-9, see ``docs/results/testbed.md``): the
leaderboard 33 min wall (9 min of CPU time), the symmetric testbed 13-14
min wall (8.5 min of CPU) with a warm XLA cache
(``JAX_COMPILATION_CACHE_DIR``), 31 min on a cold one; ``mode="all"`` runs both, one after the other. Fields
left at their empty value take the preset's.

``mode``: ``all`` (both parts, one page), ``leaderboard`` or ``symmetric``
(one part; the page is assembled from every part saved in the workdir).
``report_only=True`` re-renders the page from the saved ``results.json`` /
``symmetric.json`` without running anything.
"""

import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.preset = "default"
  c.mode = "all"            # all | leaderboard | symmetric
  c.report_only = False     # re-render the page from the workdir's JSON
  c.page = ""               # markdown page to write ("" = workdir/testbed.md)
  c.problem_ids = ()        # () = the preset's
  c.agents = ()             # () = the preset's; names from AGENT_NAMES
  c.seeds = (0,)            # training seeds (vmapped)
  c.num_test_seeds = 0      # 0 = the preset's
  c.num_enn_samples = 0     # 0 = the preset's
  c.steps_scale = 0.0       # 0 = the preset's
  c.baselines = ("uniform", "prior")
  c.symmetric = ml_collections.ConfigDict()
  c.symmetric.cells = ()    # () = the preset's; (N, rho, support) triples
  c.symmetric.seeds = ()    # () = the preset's
  c.symmetric.max_steps = 0       # step ceiling; 0 = the preset's
  c.symmetric.eval_every = 0      # validation check period; 0 = preset's
  c.symmetric.patience = 0        # checks without improvement; 0 = preset's
  c.symmetric.min_delta = -1.0    # least improvement; < 0 = the preset's
  c.symmetric.num_test_seeds = 0  # J; 0 = the preset's
  c.symmetric.num_enn_samples = 0  # M; 0 = the preset's
  c.symmetric.num_inputs = 0      # inputs of the true CE; 0 = preset's
  c.symmetric.num_labels = 0      # sampled labels of the ECE; 0 = preset's
  c.symmetric.agent = "epinet"
  c.symmetric.rotations = 4
  c.symmetric.steps_scale = 1.0
  return c
