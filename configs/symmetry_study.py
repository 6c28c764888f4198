"""The symmetry-calibration study (issue 11): does invariance make an ENN's
uncertainty better or worse calibrated, and where does it matter?

Used by ``experiments/symmetry_study.py``. A Sweep over

* ``task``: ``rot90`` (MNIST-5k, every digit turned by a seeded right angle:
  C4 is a correct symmetry), ``arbitrary`` (turned by a seeded arbitrary
  angle: SO(2) correct, C4/C8 approximate), ``upright`` (rotation invariance
  is incorrect, most visibly for 6 and 9);
* ``size``: class-stratified training subsets of 100, 300, 1,000 digits and
  the full training split (3,500); validation and test splits fixed;
* ``variant``: ``plain``; ``augment`` (plain trained on randomly rotated
  batches: C4 on rot90/upright, SO(2) on arbitrary); ``c4`` / ``c8``
  (whole-ENN group averaging); ``c2`` (upright only: the six-vs-nine probe);
  ``canon`` (learned C4 canonicalizer, LeNet base); ``p4cnn``; and for the
  epinet the C4-averaging placements ``c4_base`` and ``c4_base_head``
  (``c4`` averages the whole ENN, placement ``all``);
* ``kind``: ``epinet``, ``ensemble``, ``dropout``, ``base`` (plain network);
* ``ceiling``: ``1x``, and ``2x`` (the step ceiling doubled) for full-data
  cells only: the convergence check.

Every cell trains ``seeds`` at once (vmapped) with early stopping on the
validation NLL (``num_steps`` is the ceiling) and reports ``stop_reason``.

Presets (``--config.preset=NAME``):

* ``quick``: 2 tasks x 2 sizes x plain/C4 x epinet (+ 2x ceiling at full
  data), 2 seeds, a 400-step ceiling: 12 cells, 120 s wall on 2 CPU cores
  (2026-12-02, machine shared with other jobs). The smoke test runs 4 of its
  cells at tiny widths.
* ``default`` (no preset): 3 tasks x 4 sizes x plain/augment/C4 (+ C2 on
  upright) x epinet/ensemble, 5 seeds, plus the 2x-ceiling cells of full
  data: 100 cells, 2,692 s (45 min) of training summed over cells on 2 CPU
  cores shared with other jobs (2026-12-02): the largest grid that fits
  the hour; ``full`` is the whole grid, for larger machines.
* ``full``: every variant and kind; ``gpu``: ``full`` with 10 seeds on
  full MNIST through TFDS (60,000 / validation 10% of train / 10,000 test;
  needs the TFDS data prepared, see README).
"""

import ml_collections

from enn_sym.train import default_config

SIZES = {"100": 100, "300": 300, "1000": 1000, "full": 0}
FULL_TRAIN = 3_500  # 70% of MNIST-5k: the x position of "full" in figures.
CEILING = 3_000


def _axes(variants, kinds, tasks=("rot90", "arbitrary", "upright"),
          sizes=tuple(SIZES)):
  axes = ml_collections.ConfigDict()
  axes.task = {k: v for k, v in {
      "rot90": {"data": {"rotate": "right_angle"}},
      "arbitrary": {"data": {"rotate": "arbitrary"}},
      "upright": {"data": {"rotate": ""}}}.items() if k in tasks}
  axes.size = {k: {"data": {"train_size": SIZES[k]}} for k in sizes}
  all_variants = {
      "plain": {},
      "augment": {"data": {"augment_group": "c4"}},
      "augment_so2": {"data": {"augment_group": "so2"}},
      "c2": {"symmetry": {"group": "c2", "placement": "all"}},
      "c4": {"symmetry": {"group": "c4", "placement": "all"}},
      "c8": {"symmetry": {"group": "c8", "placement": "all"}},
      "canon": {"symmetry": {"group": "c4", "wrapper": "canonicalized",
                             "placement": "base+head"},
                "model": {"base": "lenet"}},
      "p4cnn": {"model": {"base": "p4cnn"}},
      "c4_base": {"symmetry": {"group": "c4", "placement": "base"}},
      "c4_base_head": {"symmetry": {"group": "c4", "placement": "base+head"}},
  }
  axes.variant = {k: all_variants[k] for k in variants}
  axes.kind = {k: {"models": (k,)} for k in kinds}
  axes.ceiling = {"1x": {}, "2x": {"num_steps": 2 * CEILING}}
  return axes


EXCLUDE = (
    # Augmentation by the task's group: SO(2) on arbitrary, C4 elsewhere.
    "arbitrary/*/augment/*", "rot90/*/augment_so2/*", "upright/*/augment_so2/*",
    "rot90/*/c2/*", "arbitrary/*/c2/*",   # C2: the six-vs-nine probe only
    "*/c4_base/ensemble/*", "*/c4_base/dropout/*", "*/c4_base/base/*",
    "*/c4_base_head/ensemble/*", "*/c4_base_head/dropout/*",
    "*/c4_base_head/base/*",              # placements differ for epinets only
    "*/100/*/2x", "*/300/*/2x", "*/1000/*/2x",  # 2x ceiling: full data only
)
AXIS_ORDER = ("task", "size", "variant", "kind", "ceiling")


def get_config():
  """The study config (the default preset's grid)."""
  base = default_config()
  base.data.name = "mnist5k"
  base.data.fractions = (0.7, 0.1, 0.2)
  base.symmetry.eval_group = "c4"
  base.model.base = "mlp"
  base.model.mlp_hidden_sizes = (64, 64)
  base.model.lenet_channels = (6, 12)
  base.model.lenet_dense_sizes = (64,)
  base.model.p4_channels = (6, 12)
  base.model.epinet.hidden_sizes = (32,)
  base.model.ensemble.num_ensemble = 3
  base.optimizer.schedule = "constant"  # a ceiling, not a schedule length
  base.batch_size = 64
  base.num_steps = CEILING
  base.steps_per_call = 50
  base.eval_every = 100
  base.log_every = 500
  base.checkpoint_every = 500
  base.early_stopping.metric = "nll"
  base.early_stopping.patience = 5      # evaluations (500 steps)
  base.early_stopping.min_delta = 1e-3
  base.eval_num_indices = 10
  base.metrics.joint_num_samples = 20
  base.progress_bar = False
  base.plots = False

  config = ml_collections.ConfigDict()
  config.base = base
  config.seeds = (0, 1, 2, 3, 4)
  config.axes = _axes(("plain", "augment", "augment_so2", "c2", "c4"),
                      ("epinet", "ensemble"))
  config.axis_order = AXIS_ORDER
  config.exclude = EXCLUDE
  config.full_train = FULL_TRAIN
  # Where the script writes the results page ("" = <workdir>/symmetry_study.md)
  # and its figures (a folder next to it).
  config.results_page = ""
  config.preset = "default"
  config.presets = ml_collections.ConfigDict()
  config.presets.quick = (
      ("axes", _axes(("plain", "c4"), ("epinet",), tasks=("rot90", "upright"),
                     sizes=("300", "full")).to_dict()),
      ("exclude", ("*/300/*/2x",)),
      ("seeds", (0, 1)),
      ("base.num_steps", 400),
      ("base.early_stopping.patience", 2),
  )
  full = _axes(("plain", "augment", "augment_so2", "c2", "c4", "c8", "canon",
                "p4cnn", "c4_base", "c4_base_head"),
               ("epinet", "ensemble", "dropout", "base"))
  config.presets.full = (("axes", full.to_dict()),)
  full_gpu = full.to_dict()
  full_gpu["ceiling"]["2x"]["num_steps"] = 20_000
  config.presets.gpu = (
      ("axes", full_gpu),
      ("seeds", tuple(range(10))),
      ("full_train", 54_000),
      ("base.data.source", "tfds"),
      ("base.data.name", "mnist"),
      ("base.data.train_split", "train[:90%]"),
      ("base.data.validation_split", "train[90%:]"),
      ("base.data.test_split", "test"),
      ("base.batch_size", 256),
      ("base.eval_batch_size", 1000),
      ("base.num_steps", 10_000),
  )
  return config
