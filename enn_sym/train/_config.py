"""The training config schema, its defaults and validation.

Every config file in ``configs/`` starts from :func:`default_config` and
changes fields, so the schema lives in one place. :func:`validate_config`
rejects unknown keys (with a suggestion) and bad values with a message that
names the field and the fix.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from typing import Any

import ml_collections

from enn_sym import metrics as _metrics
from enn_sym import networks as _networks
from enn_sym import symmetry as _symmetry

MODEL_KINDS = ("base", "epinet", "ensemble", "dropout")
# The built-in bases (read from their own config.model fields); any name in
# enn_sym.networks.list_bases() is valid (user bases: register_base).
BASE_NETWORKS = ("mlp", "lenet", "p4cnn", "vn_mlp", "resnet18", "resnet50",
                 "vgg16")
# Bases with BatchNorm (a ``batch_stats`` collection) and a ``dtype`` option.
BATCHNORM_BASES = ("resnet18", "resnet50", "vgg16")
RESNET_STEMS = ("cifar", "imagenet")
DTYPES = ("float32", "bfloat16")
IMAGE_GROUPS = ("c2", "c4", "c8", "d4", "so2")
POINT_GROUPS = ("so3", "o3")
# Free-form option dicts: passed to a registered factory, checked against its
# signature instead of against default_config().
OPTION_DICTS = ("model.base_kwargs", "model.epinet.prior_kwargs",
                "model.ensemble.prior_kwargs")
WRAPPERS = ("averaged", "canonicalized", "frame_averaged")
PLACEMENTS = ("base", "base+head", "all")
DATA_SOURCES = ("embedded", "tfds")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "step")
NUM_CLASSES = {"mnist5k": 10, "digits": 10, "tetris": 8, "mnist": 10, "fashion_mnist": 10,
               "cifar10": 10, "cifar100": 100, "imagenet2012": 1000}
# Loss hyperparameters read from ``config.loss`` for each loss name.
LOSS_HPARAMS = {"ce": (), "label_smoothing": ("label_smoothing",),
                "focal": ("gamma",), "entropy_reg": ("alpha",),
                "logit_norm": ("alpha", "p"),
                "ce+soft_ece": ("lam", "num_bins", "temperature")}


EARLY_STOPPING_METRICS = ("nll", "brier", "ece", "joint_nll")
# Keys that may differ from a workdir's stored config when listed in
# config.resume_changes (they keep the train state's structure).
RESUME_CHANGEABLE = ("optimizer.learning_rate", "optimizer.schedule",
                     "optimizer.warmup_steps", "optimizer.step_boundaries",
                     "optimizer.step_factor", "optimizer.momentum",
                     "num_steps", "early_stopping.patience",
                     "early_stopping.min_delta")


class ConfigError(ValueError):
  """A config key or value is wrong (the message names it)."""


def default_config() -> ml_collections.ConfigDict:
  """All fields with their defaults (the embedded-MNIST main job)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # Modules imported before anything is built (dotted names, or paths to .py
  # files), so priors / groups / bases / metrics they register are usable.
  c.imports = ()
  # Seeds trained at once in one seed-vmapped program; () = (seed,).
  c.seeds = ()
  # Models trained one after another and compared in the summary table.
  c.models = ("base", "epinet", "ensemble")

  c.data = ml_collections.ConfigDict()
  c.data.source = "embedded"          # embedded | tfds
  c.data.name = "mnist5k"             # see NUM_CLASSES
  c.data.data_dir = ""                # TFDS data_dir ("" = TFDS default)
  c.data.split_seed = 0               # embedded: seed of the stratified split
  c.data.fractions = (0.7, 0.1, 0.2)  # embedded: train / validation / test
  c.data.train_split = "train[:90%]"  # tfds split strings
  c.data.validation_split = "train[90%:]"
  c.data.test_split = "test"
  c.data.normalize = False            # per-channel mean/std normalisation
  c.data.rotate = ""                  # "" | right_angle | arbitrary (seeded)
  c.data.tetris_per_class = 200       # tetris: examples per shape
  c.data.tetris_rotate = "so3"        # tetris: none | so3 | o3
  c.data.prefetch = 2
  c.data.train_size = 0               # class-stratified train subset (0 = all)
  c.data.augment_group = ""           # random element of this group applied
  #                                     to each train batch ("" = off)
  c.data.on_device = True             # keep small array train splits on the
  #                                     device, gather batches in the step

  c.model = ml_collections.ConfigDict()
  c.model.base = "mlp"                # see enn_sym.networks.list_bases()
  c.model.base_kwargs = {}            # options of a registered (user) base
  c.model.mlp_hidden_sizes = (50, 50)
  c.model.lenet_channels = (6, 16)
  c.model.lenet_dense_sizes = (120, 84)
  c.model.dropout_rate = 0.1          # used by the 'dropout' model only
  c.model.p4_channels = (8, 16)
  c.model.vn_hidden_sizes = (32, 32)
  c.model.vn_chiral = False
  # ResNet / VGG bases (resnet18 | resnet50 | vgg16).
  c.model.num_filters = 64            # first-stage filters (64 = standard)
  c.model.stage_sizes = ()            # () = the architecture's; else blocks
  #                                     (ResNet) / convs (VGG) per stage
  c.model.resnet_stem = "cifar"       # cifar (3x3, no max-pool) | imagenet
  c.model.dtype = "float32"           # compute dtype: float32 | bfloat16
  #                                     (params, loss, logits stay float32)
  c.model.epinet = ml_collections.ConfigDict()
  c.model.epinet.index_dim = 8
  c.model.epinet.hidden_sizes = (50,)
  c.model.epinet.include_inputs = True
  c.model.epinet.prior = "mlp_ensemble"
  c.model.epinet.prior_scale = 1.0
  c.model.epinet.prior_kwargs = {}    # options of the prior (its factory's)
  # Train only the epinet head on the final weights of the 'base' model of
  # the same run (which must come first in `models`); else joint training.
  c.model.epinet.freeze_base = False
  c.model.ensemble = ml_collections.ConfigDict()
  c.model.ensemble.num_ensemble = 5
  c.model.ensemble.prior = ""         # "" = no prior functions
  c.model.ensemble.prior_scale = 1.0
  c.model.ensemble.prior_kwargs = {}

  # Symmetry: make the model invariant to `group` with `wrapper` placed at
  # `placement` (README, "Symmetry"); `eval_group` adds orbit calibration.
  c.symmetry = ml_collections.ConfigDict()
  c.symmetry.group = ""               # "" | enn_sym.symmetry.list_groups()
  c.symmetry.wrapper = "averaged"     # averaged | canonicalized | frame_averaged
  c.symmetry.placement = "base"       # base | base+head | all
  c.symmetry.average = "logits"       # logits | probs
  c.symmetry.num_samples = 8          # elements sampled for so2 / so3
  c.symmetry.canonicalizer_prior_weight = 0.1
  c.symmetry.eval_group = ""          # orbit calibration group ("" = none)

  c.loss = ml_collections.ConfigDict()
  c.loss.name = "ce"                  # see LOSS_HPARAMS
  c.loss.label_smoothing = 0.1
  c.loss.gamma = 2.0
  c.loss.alpha = 0.1
  c.loss.p = 1
  c.loss.lam = 1.0
  c.loss.num_bins = 15
  c.loss.temperature = 0.01
  c.loss.num_index_samples = 8        # K per step (epinet); ensembles use all
  c.loss.bootstrap = ""               # "" | bernoulli | poisson | exponential
  c.loss.weight_decay = 1e-4          # L2 on params (never on priors)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "cosine"
  c.optimizer.warmup_steps = 0
  c.optimizer.momentum = 0.9          # sgd
  c.optimizer.decoupled_weight_decay = 0.0  # adamw / sgd (optax), not priors
  c.optimizer.step_boundaries = (0.5, 0.75)  # 'step': fractions of num_steps
  c.optimizer.step_factor = 0.1

  c.batch_size = 128                  # global batch, divisible by #devices
  c.num_steps = 1000
  c.log_every = 100
  c.eval_every = 500
  c.eval_batch_size = 500
  c.eval_num_indices = 30             # K at evaluation (epinet, dropout)
  c.checkpoint_every = 500
  c.keep_checkpoints = 2
  c.steps_per_call = 1                # optimizer steps per dispatch (lax.scan)
  # Early stopping on a validation metric (lower is better), checked every
  # eval_every steps; patience in evaluations, 0 = off (num_steps is the
  # ceiling either way); the final evaluation uses the best checkpoint.
  c.early_stopping = ml_collections.ConfigDict()
  c.early_stopping.metric = "nll"     # nll | brier | ece | joint_nll
  c.early_stopping.patience = 0
  c.early_stopping.min_delta = 0.0
  # Resume from workdir checkpoints (False moves them aside, never deletes).
  c.resume = True
  # Keys deliberately changed since the checkpoints were written, accepted at
  # resume and recorded in workdir/config.json (see RESUME_CHANGEABLE).
  c.resume_changes = ()
  c.temperature_scaling = True
  c.metrics = ml_collections.ConfigDict()
  c.metrics.num_bins = 15
  c.metrics.joint_tau = 10
  c.metrics.joint_kappa = 2
  c.metrics.joint_num_samples = 100
  # Poisson-bootstrap replicates of the test ECE (its 95% CI over examples,
  # ece_boot_low / ece_boot_high); 0 = off.
  c.metrics.bootstrap_replicates = 200
  # Registered in-loop metrics (enn_sym.metrics.register_metric) evaluated
  # next to the built-in ones: ("all",) = every registered one, () = none.
  c.metrics.registered = ("all",)
  # Debug: compile the metric value checks into the eval step (checkify), so
  # non-finite predictions or out-of-range labels raise instead of giving a
  # wrong number. Slower; off by default.
  c.metrics.checked = False
  c.progress_bar = True
  c.plots = True
  # TensorBoard event files of metrics.jsonl in workdir/tensorboard/<model>
  # (needs the extra: pip install 'enn_sym[tensorboard]').
  c.tensorboard = False
  return c


def _flatten(cfg, prefix=""):
  out = {}
  for key, value in cfg.items():
    path = f"{prefix}{key}"
    if path in OPTION_DICTS:
      out[path] = value
    elif isinstance(value, (ml_collections.ConfigDict, dict)):
      out.update(_flatten(value, path + "."))
    else:
      out[path] = value
  return out


def _fail(field: str, message: str) -> None:
  raise ConfigError(f"config.{field}: {message}")


def _check_choice(flat, field, choices, allow_empty=False):
  value = flat[field]
  ok = value in choices or (allow_empty and value == "")
  if not ok:
    extra = ' or ""' if allow_empty else ""
    _fail(field, f"must be one of {list(choices)}{extra}; got {value!r}.")


def _check_positive(flat, field, allow_zero=False):
  value = flat[field]
  if isinstance(value, bool) or not isinstance(value, (int, float)) or (
      value < 0 or (value == 0 and not allow_zero)):
    bound = ">= 0" if allow_zero else "> 0"
    _fail(field, f"must be a number {bound}; got {value!r}.")


def import_plugins(config: Any) -> None:
  """Imports the modules of ``config.imports`` (registrations run there).

  Each entry is a dotted module name (looked up with the current directory
  on ``sys.path``) or a path to a ``.py`` file. A module already imported is
  not imported again.
  """
  names = config.get("imports", ()) if hasattr(config, "get") else ()
  if isinstance(names, str) or not isinstance(names, (tuple, list)):
    _fail("imports", f"must be a tuple of module names or .py paths; got "
          f"{names!r}.")
  for name in names:
    if not isinstance(name, str) or not name:
      _fail("imports", f"entries must be non-empty strings; got {name!r}.")
    try:
      if name.endswith(".py"):
        _import_file(name)
      else:
        if os.getcwd() not in sys.path and "" not in sys.path:
          sys.path.append(os.getcwd())
        importlib.import_module(name)
    except (ImportError, FileNotFoundError) as e:
      _fail("imports", f"cannot import {name!r} ({e}); give a module on the "
            f"Python path (run from its directory) or a path to a .py file.")


def _import_file(path: str) -> None:
  path = os.path.abspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no file {path}")
  name = "enn_sym_plugin_" + os.path.splitext(os.path.basename(path))[0]
  if name in sys.modules and getattr(sys.modules[name], "__file__",
                                     None) == path:
    return
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)


def _is_point_group(name: str) -> bool:
  return _symmetry.get_group(name).input_ndim == 2


def _groups_for(points: bool) -> list[str]:
  """The registered groups acting on point clouds (or images)."""
  out = []
  for name in _symmetry.list_groups():
    try:
      if _is_point_group(name) == points:
        out.append(name)
    except ValueError:  # A broken registration; get_group names it when used.
      pass
  return out


def _check_registered(flat, field, names, decorator, allow_empty=False):
  value = flat[field]
  if value in names or (allow_empty and value == ""):
    return
  extra = ' or ""' if allow_empty else ""
  _fail(field, f"must be one of the registered {list(names)}{extra}; got "
        f"{value!r}. To add one, register it with @{decorator}({value!r}) "
        f"in a module and list that module in config.imports.")


def _validate_registered(flat) -> None:
  """Bases, groups and priors by registered name, and their options."""
  _check_registered(flat, "model.base", _networks.list_bases(),
                    "enn_sym.networks.register_base")
  options = dict(flat["model.base_kwargs"])
  if options and flat["model.base"] in BASE_NETWORKS:
    _fail("model.base_kwargs", f"is for registered user bases; the built-in "
          f"{flat['model.base']!r} reads its own config.model fields.")
  try:
    _networks.check_base_options(flat["model.base"], options)
  except ValueError as e:
    _fail("model.base_kwargs", str(e))
  value = flat["metrics.bootstrap_replicates"]
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    _fail("metrics.bootstrap_replicates", f"must be an integer >= 0 (0 = "
          f"off); got {value!r}.")
  registered = tuple(flat["metrics.registered"])
  known = _metrics.list_metrics()
  if "all" in registered and len(registered) > 1:
    _fail("metrics.registered", f'is ("all",) or a tuple of names; got '
          f"{registered!r}.")
  for name in registered:
    if name != "all" and name not in known:
      _fail("metrics.registered", f"{name!r} is not a registered metric; "
            f"the registered ones are {list(known)} (or \"all\"). To add "
            f"one, register it with @enn_sym.metrics.register_metric("
            f"{name!r}) in a module and list that module in config.imports.")
  groups = _symmetry.list_groups()
  for field in ("symmetry.group", "symmetry.eval_group"):
    _check_registered(flat, field, groups, "enn_sym.symmetry.register_group",
                      allow_empty=True)
  for kind in ("epinet", "ensemble"):
    prior, kwargs = (flat[f"model.{kind}.prior"],
                     dict(flat[f"model.{kind}.prior_kwargs"]))
    if not prior:
      if kwargs:
        _fail(f"model.{kind}.prior_kwargs", f"set model.{kind}.prior too "
              f"(one of {list(_networks.list_priors())}); got options "
              f"{kwargs!r} and no prior.")
      continue
    _check_registered(flat, f"model.{kind}.prior", _networks.list_priors(),
                      "enn_sym.register_prior")
    try:
      _networks.make_prior(prior, num_classes=2, index_dim=1, **kwargs)
    except (TypeError, ValueError) as e:
      _fail(f"model.{kind}.prior_kwargs", str(e))


def validate_config(config: Any) -> None:
  """Raises :class:`ConfigError` for unknown keys or bad values.

  Imports ``config.imports`` first, so names registered there are valid.
  """
  import_plugins(config)
  flat = _flatten(config)
  known = _flatten(default_config())
  for key in flat:
    if key not in known:
      close = difflib.get_close_matches(key, list(known), n=1)
      hint = f" Did you mean {close[0]!r}?" if close else ""
      raise ConfigError(f"Unknown config key {key!r}.{hint} Valid keys are "
                        f"defined in enn_sym.train.default_config().")
  missing = sorted(set(known) - set(flat))
  if missing:
    raise ConfigError(f"Config is missing key(s) {missing}: start from "
                      f"enn_sym.train.default_config() and override fields.")
  models = tuple(flat["models"])
  if not models or any(m not in MODEL_KINDS for m in models):
    _fail("models", f"must be a non-empty tuple of {list(MODEL_KINDS)}; got "
          f"{flat['models']!r}.")
  if len(set(models)) != len(models):
    _fail("models", f"lists a model twice: {models!r}.")
  _check_choice(flat, "data.source", DATA_SOURCES)
  _check_choice(flat, "data.name", tuple(NUM_CLASSES))
  if flat["data.source"] == "embedded" and flat["data.name"] not in (
      "mnist5k", "digits", "tetris"):
    _fail("data.name", f"the embedded source has 'mnist5k', 'digits' and "
          f"'tetris'; got "
          f"{flat['data.name']!r} (set data.source='tfds' for TFDS data).")
  if flat["data.source"] == "tfds" and flat["data.name"] in (
      "mnist5k", "digits", "tetris"):
    _fail("data.source", f"{flat['data.name']!r} is embedded data; set "
          f"data.source='embedded'.")
  _validate_registered(flat)
  _check_choice(flat, "data.rotate", ("right_angle", "arbitrary"),
                allow_empty=True)
  _check_choice(flat, "data.tetris_rotate", ("none", "so3", "o3"))
  _check_choice(flat, "symmetry.wrapper", WRAPPERS)
  _check_choice(flat, "symmetry.placement", PLACEMENTS)
  _check_choice(flat, "symmetry.average", ("logits", "probs"))
  points = flat["data.name"] == "tetris"
  for field in ("symmetry.group", "symmetry.eval_group"):
    g = flat[field]
    if g and _is_point_group(g) != points:
      kind = "point-cloud" if points else "image"
      valid = _groups_for(points)
      _fail(field, f"{g!r} does not act on {kind} data; use one of "
            f"{list(valid)}.")
  fits = (("mlp", "vn_mlp") if points else ("mlp", "lenet", "p4cnn")
          + BATCHNORM_BASES)
  fits += tuple(n for n in _networks.list_bases() if n not in BASE_NETWORKS
                and _networks.base_inputs(n) in (
                    "any", "points" if points else "image"))
  if flat["model.base"] not in fits:
    _fail("model.base", f"{flat['model.base']!r} does not fit "
          f"{flat['data.name']!r}; point clouds take mlp or vn_mlp, images "
          f"take mlp, lenet, p4cnn, {', '.join(BATCHNORM_BASES)}.")
  _validate_image_models(flat, models)
  wrapper = flat["symmetry.wrapper"]
  if flat["symmetry.group"]:
    if wrapper == "canonicalized" and flat["symmetry.group"] not in (
        "c2", "c4"):
      _fail("symmetry.wrapper", "the learned canonicalizer supports c2 and c4"
            f" (exact quarter turns); got group {flat['symmetry.group']!r}.")
    if wrapper == "frame_averaged" and not points:
      _fail("symmetry.wrapper", "frame_averaged is for point clouds (so3/o3).")
    if wrapper != "averaged" and flat["symmetry.placement"] == "all":
      _fail("symmetry.placement", "'all' (whole-ENN averaging) needs "
            "wrapper='averaged'.")
  _check_choice(flat, "loss.name", tuple(LOSS_HPARAMS))
  _check_choice(flat, "loss.bootstrap",
                ("bernoulli", "poisson", "exponential"), allow_empty=True)
  _check_choice(flat, "optimizer.name", OPTIMIZERS)
  _check_choice(flat, "optimizer.schedule", SCHEDULES)
  for field in ("batch_size", "num_steps", "log_every", "eval_every",
                "eval_batch_size", "eval_num_indices", "checkpoint_every",
                "keep_checkpoints", "loss.num_index_samples",
                "model.epinet.index_dim", "model.ensemble.num_ensemble",
                "metrics.num_bins", "metrics.joint_tau", "metrics.joint_kappa",
                "metrics.joint_num_samples", "symmetry.num_samples",
                "data.tetris_per_class", "model.num_filters"):
    value = flat[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      _fail(field, f"must be an integer >= 1; got {value!r}.")
  for field in ("optimizer.learning_rate",):
    _check_positive(flat, field)
  for field in ("loss.weight_decay", "optimizer.decoupled_weight_decay",
                "optimizer.warmup_steps", "model.epinet.prior_scale",
                "model.ensemble.prior_scale",
                "symmetry.canonicalizer_prior_weight"):
    _check_positive(flat, field, allow_zero=True)
  if not 0.0 <= flat["model.dropout_rate"] < 1.0:
    _fail("model.dropout_rate", f"must be in [0, 1); got "
          f"{flat['model.dropout_rate']!r}.")
  if "dropout" in models and flat["model.dropout_rate"] == 0.0:
    _fail("model.dropout_rate", "must be > 0 for the 'dropout' model.")
  _validate_engine(flat)
  fractions = flat["data.fractions"]
  if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
    _fail("data.fractions", f"must be three non-negative numbers (train, "
          f"validation, test) summing to 1; got {fractions!r}.")
  # Sizes, class counts and prior names (reliab, issue 14 item 5).
  for field in ("model.mlp_hidden_sizes", "model.lenet_channels",
                "model.lenet_dense_sizes", "model.p4_channels",
                "model.vn_hidden_sizes", "model.epinet.hidden_sizes"):
    sizes = flat[field]
    if not isinstance(sizes, (tuple, list)) or any(
        isinstance(n, bool) or not isinstance(n, int) or n < 1
        for n in sizes):
      _fail(field, f"must be a tuple of integers >= 1 (layer sizes); got "
            f"{sizes!r}.")
  if flat["model.base"] == "p4cnn" and not flat["model.p4_channels"]:
    _fail("model.p4_channels", "the p4cnn base needs at least one channel "
          "size; got ().")
  for field in [k for k in flat if k.rsplit(".", 1)[-1] == "num_classes"]:
    value = flat[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
      _fail(field, f"must be an integer >= 2 (a classifier needs two "
            f"classes); got {value!r}.")
  from enn_sym import networks  # pylint: disable=g-import-not-at-top
  for field in ("model.epinet.prior", "model.ensemble.prior"):
    name = flat[field]
    if name != "" and name not in networks.list_priors():
      _fail(field, f"unknown prior {name!r}; registered priors: "
            f"{list(networks.list_priors())} (or \"\" for none). Register a "
            f"new one with @enn_sym.register_prior(name) in a module the "
            f"config imports.")


def _validate_image_models(flat, models) -> None:
  """The ResNet / VGG fields, BatchNorm limits and the frozen-base epinet."""
  _check_choice(flat, "model.resnet_stem", RESNET_STEMS)
  _check_choice(flat, "model.dtype", DTYPES)
  base = flat["model.base"]
  sizes = flat["model.stage_sizes"]
  if not isinstance(sizes, (tuple, list)) or any(
      isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
    _fail("model.stage_sizes", f"must be a tuple of integers >= 1 (or () for "
          f"the architecture's own); got {sizes!r}.")
  if flat["model.dtype"] != "float32" and base not in BATCHNORM_BASES:
    _fail("model.dtype", f"{flat['model.dtype']!r} compute is implemented "
          f"for the {list(BATCHNORM_BASES)} bases; got model.base={base!r}. "
          f"Use model.dtype='float32'.")
  if base in BATCHNORM_BASES and "dropout" in models:
    _fail("models", f"'dropout' is not supported with the BatchNorm base "
          f"{base!r} (MC-dropout evaluates in training mode, which would use "
          f"batch statistics); use 'base', 'epinet' or 'ensemble'.")
  if flat["model.epinet.freeze_base"] and "epinet" in models:
    if "base" not in models or models.index("base") > models.index("epinet"):
      _fail("model.epinet.freeze_base", f"the frozen-base epinet starts from "
            f"the trained 'base' model of the same run: put 'base' before "
            f"'epinet' in config.models; got {models!r}.")


def _validate_engine(flat) -> None:
  """Seeds, fused steps, early stopping, resume and the data options."""
  seeds = flat["seeds"]
  if not isinstance(seeds, (tuple, list)) or any(
      isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
    _fail("seeds", f"must be a tuple of non-negative integers (() = "
          f"(config.seed,)); got {seeds!r}.")
  if len(set(seeds)) != len(seeds):
    _fail("seeds", f"lists a seed twice: {tuple(seeds)!r}.")
  seed = flat["seed"]
  if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
    _fail("seed", f"must be a non-negative integer; got {seed!r}.")
  n = flat["steps_per_call"]
  if isinstance(n, bool) or not isinstance(n, int) or n < 1:
    _fail("steps_per_call", f"must be an integer >= 1; got {n!r}.")
  for field in ("num_steps", "log_every", "eval_every", "checkpoint_every"):
    if isinstance(flat[field], int) and flat[field] % n:
      _fail(field, f"= {flat[field]} must be a multiple of steps_per_call "
            f"({n}): evaluations, logs and checkpoints fall between "
            f"dispatches of {n} fused steps.")
  _check_choice(flat, "early_stopping.metric", EARLY_STOPPING_METRICS)
  patience = flat["early_stopping.patience"]
  if isinstance(patience, bool) or not isinstance(patience, int) or (
      patience < 0):
    _fail("early_stopping.patience", f"must be an integer >= 0 (0 = off); "
          f"got {patience!r}.")
  _check_positive(flat, "early_stopping.min_delta", allow_zero=True)
  if patience and flat["data.source"] == "embedded" and (
      flat["data.fractions"][1] == 0):
    _fail("early_stopping.patience", "early stopping needs a validation "
          "split: give data.fractions a validation fraction > 0.")
  if patience and flat["data.source"] == "tfds" and not flat[
      "data.validation_split"]:
    _fail("early_stopping.patience", "early stopping needs a validation "
          "split: set data.validation_split.")
  if not isinstance(flat["resume"], bool):
    _fail("resume", f"must be True or False; got {flat['resume']!r}.")
  changes = flat["resume_changes"]
  if not isinstance(changes, (tuple, list)) or any(
      c not in RESUME_CHANGEABLE for c in changes):
    _fail("resume_changes", f"must be a tuple of keys from "
          f"{list(RESUME_CHANGEABLE)}; got {changes!r}.")
  size = flat["data.train_size"]
  if isinstance(size, bool) or not isinstance(size, int) or size < 0:
    _fail("data.train_size", f"must be an integer >= 0 (0 = the whole "
          f"train split); got {size!r}.")
  group = flat["data.augment_group"]
  if group:
    valid = POINT_GROUPS if flat["data.name"] == "tetris" else IMAGE_GROUPS
    _check_choice(flat, "data.augment_group", valid, allow_empty=True)
  if not isinstance(flat["tensorboard"], bool):
    _fail("tensorboard", f"must be True or False; got "
          f"{flat['tensorboard']!r}.")
  if not isinstance(flat["data.on_device"], bool):
    _fail("data.on_device", f"must be True or False; got "
          f"{flat['data.on_device']!r}.")
