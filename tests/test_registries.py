"""Registries of groups, bases and in-loop metrics; config.imports and the
prior / base option dicts of the config."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import enn_sym
from enn_sym import metrics
from enn_sym import networks
from enn_sym import symmetry
from enn_sym import train
from enn_sym.train import _models
from tests import train_helpers


@pytest.fixture(autouse=True)
def _forget_test_metrics():
  """Metrics registered by a test leave the registry after it, so training
  runs of later tests in this process do not evaluate them."""
  before = set(metrics.list_metrics())
  yield
  for name in set(metrics.list_metrics()) - before:
    metrics.unregister_metric(name)


# --- groups --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HalfTurns:
  """C2 written from scratch: the identity and the half turn of images."""

  name = "HalfTurns"
  order = 2
  exact = True
  input_ndim = 3

  def elements(self):
    return jnp.arange(2)

  def sample(self, key, num):
    return jax.random.randint(key, (num,), 0, 2)

  def identity(self):
    return jnp.zeros((), jnp.int32)

  def compose(self, g, h):
    return (g + h) % 2

  def inverse(self, g):
    return g

  def act(self, g, x):
    return jnp.where(g == 1, x[..., ::-1, ::-1, :], x)

  def orbit(self, x):
    return jnp.stack([x, x[..., ::-1, ::-1, :]])


def test_builtin_groups_are_registered_and_built_by_name():
  assert {"c2", "c4", "c8", "d4", "so2", "so3", "o3"} <= set(
      symmetry.list_groups())
  assert symmetry.get_group("c8") == symmetry.CyclicGroup(8)
  assert symmetry.get_group("d4") == symmetry.DihedralGroup(4)
  assert isinstance(symmetry.get_group("o3"), symmetry.O3)
  # The pipeline's make_group goes through the registry.
  assert _models.make_group("c4") == symmetry.CyclicGroup(4)


def test_register_group_then_get_and_list():
  symmetry.register_group("test_half_turns", overwrite=True)(HalfTurns)
  assert "test_half_turns" in symmetry.list_groups()
  group = symmetry.get_group("test_half_turns")
  x = jnp.arange(8.0).reshape(1, 2, 2, 2)
  np.testing.assert_array_equal(group.act(1, group.act(1, x)), x)


def test_group_registry_errors_name_the_choices_and_the_fix():
  with pytest.raises(ValueError, match=r"Unknown group 'c5'.*'c4'.*"
                     r"register_group\('c5'\)"):
    symmetry.get_group("c5")
  with pytest.raises(ValueError, match="already registered"):
    symmetry.register_group("c4")(HalfTurns)
  symmetry.register_group("test_not_a_group", overwrite=True)(lambda: object())
  with pytest.raises(ValueError, match=r"lacks \['elements'.*Group protocol"):
    symmetry.get_group("test_not_a_group")


# --- bases ---------------------------------------------------------------


class TinyConv(nn.Module):
  num_classes: int
  width: int = 4

  @nn.compact
  def __call__(self, x, *, train=False):
    h = nn.relu(nn.Conv(self.width, (3, 3))(x)).mean(axis=(1, 2))
    return nn.Dense(self.num_classes)(h), h


@networks.register_base("test_tiny_conv", inputs="image", overwrite=True)
def make_tiny_conv(num_classes, *, dropout_rate=0.0, width=4):
  del dropout_rate
  return TinyConv(num_classes, width)


def test_builtin_bases_are_registered():
  assert {"mlp", "lenet", "p4cnn", "vn_mlp", "resnet18", "resnet50",
          "vgg16"} <= set(networks.list_bases())
  assert networks.base_inputs("vn_mlp") == "points"
  assert networks.base_inputs("mlp") == "any"
  assert isinstance(networks.make_base("mlp", 3, hidden_sizes=(5,)),
                    networks.MLP)


def test_base_registry_errors():
  with pytest.raises(ValueError, match=r"Unknown base 'nope'.*'mlp'"):
    networks.make_base("nope", 3)
  with pytest.raises(ValueError, match=r"unknown option\(s\) \['depth'\]; "
                     r"valid options: \['width'\]"):
    networks.make_base("test_tiny_conv", 3, depth=2)
  with pytest.raises(ValueError, match="already registered"):
    networks.register_base("mlp")(make_tiny_conv)
  with pytest.raises(ValueError, match="inputs must be one of"):
    networks.register_base("test_bad_inputs", inputs="video")


def test_a_registered_base_and_its_kwargs_reach_the_model():
  config = train_helpers.tiny_config()
  config.data.name = "digits"
  config.model.base = "test_tiny_conv"
  config.model.base_kwargs = {"width": 6}
  train.validate_config(config)
  spec = train.make_model("epinet", config, 10)
  x = jnp.zeros((2, 8, 8, 1))
  variables = jax.eval_shape(spec.enn.init, jax.random.key(0), x,
                             spec.enn.indexer(jax.random.key(1)))
  kernels = [v.shape for p, v in jax.tree_util.tree_leaves_with_path(
      variables["params"]) if "Conv" in jax.tree_util.keystr(p)
             and "kernel" in jax.tree_util.keystr(p)]
  assert kernels == [(3, 3, 1, 6)]


def test_config_rejects_unknown_base_options_and_image_bases_on_points():
  config = train_helpers.tiny_config()
  config.model.base = "test_tiny_conv"
  config.model.base_kwargs = {"depth": 3}
  with pytest.raises(train.ConfigError, match=r"config.model.base_kwargs: .*"
                     r"unknown option\(s\) \['depth'\]"):
    train.validate_config(config)
  config = train_helpers.tiny_config()
  config.data.name = "tetris"
  config.model.base = "test_tiny_conv"
  with pytest.raises(train.ConfigError, match="does not fit 'tetris'"):
    train.validate_config(config)
  config = train_helpers.tiny_config()
  config.model.base_kwargs = {"hidden_sizes": (3,)}
  with pytest.raises(train.ConfigError, match="built-in 'mlp' reads its own"):
    train.validate_config(config)


def test_config_lists_registered_names():
  config = train_helpers.tiny_config()
  config.model.base = "lenet5"
  with pytest.raises(train.ConfigError, match=r"config.model.base: must be "
                     r"one of the registered \[.*'test_tiny_conv'.*\].*"
                     r"register_base\('lenet5'\).*config.imports"):
    train.validate_config(config)
  config = train_helpers.tiny_config(**{"symmetry.group": "c5"})
  with pytest.raises(train.ConfigError, match=r"symmetry.group: .*'c4'.*"
                     r"register_group\('c5'\)"):
    train.validate_config(config)
  config = train_helpers.tiny_config(**{"symmetry.eval_group": "so3"})
  with pytest.raises(train.ConfigError, match=r"'so3' does not act on image "
                     r"data; use one of \['c2', 'c4'"):
    train.validate_config(config)


# --- priors from a config ------------------------------------------------


def test_prior_kwargs_reach_epinet_and_ensemble():
  config = train_helpers.tiny_config()
  config.model.epinet.prior = "random_features"
  config.model.epinet.prior_kwargs = {"num_features": 7}
  config.model.ensemble.prior = "random_features"
  config.model.ensemble.prior_kwargs = {"num_features": 5}
  train.validate_config(config)
  x = jnp.zeros((2, 28, 28, 1))
  for kind, features in (("epinet", 7), ("ensemble", 5)):
    spec = train.make_model(kind, config, 10)
    variables = jax.eval_shape(spec.enn.init, jax.random.key(0), x,
                               spec.enn.indexer(jax.random.key(1)))
    shapes = [v.shape for v in jax.tree.leaves(variables["prior"])]
    assert any(features in s for s in shapes), (kind, shapes)


def test_config_rejects_bad_priors_in_one_line():
  config = train_helpers.tiny_config(**{"model.epinet.prior": "sine_nope"})
  with pytest.raises(train.ConfigError, match=r"config.model.epinet.prior: "
                     r".*'mlp_ensemble'.*register_prior\('sine_nope'\)"):
    train.validate_config(config)
  config = train_helpers.tiny_config()
  config.model.epinet.prior_kwargs = {"widths": (3,)}
  with pytest.raises(train.ConfigError, match=r"prior_kwargs: .*unknown "
                     r"option\(s\) \['widths'\]"):
    train.validate_config(config)
  config = train_helpers.tiny_config()
  config.model.ensemble.prior_kwargs = {"hidden_sizes": (3,)}
  with pytest.raises(train.ConfigError, match="set model.ensemble.prior"):
    train.validate_config(config)


# --- config.imports ------------------------------------------------------

PLUGIN = '''
import flax.linen as nn
import jax.numpy as jnp
import enn_sym

class ConstantPrior(nn.Module):
  num_classes: int
  index_dim: int
  value: float = 1.0

  @nn.compact
  def __call__(self, x, z):
    w = self.param("w", nn.initializers.ones, (self.index_dim,))
    return jnp.full((x.shape[0], self.num_classes), self.value) * (w @ z)

@enn_sym.register_prior("{name}", overwrite=True)
def make(num_classes, index_dim, value=1.0):
  return ConstantPrior(num_classes, index_dim, value)
'''


def test_config_imports_a_plugin_file_and_a_module(tmp_path, monkeypatch):
  config = train_helpers.tiny_config(**{"model.epinet.prior":
                                        "test_plugin_file"})
  with pytest.raises(train.ConfigError, match="test_plugin_file"):
    train.validate_config(config)  # Not registered yet.
  path = tmp_path / "plugin_file.py"
  path.write_text(PLUGIN.format(name="test_plugin_file"))
  config.imports = (str(path),)
  config.model.epinet.prior_kwargs = {"value": 2.0}
  train.validate_config(config)
  assert "test_plugin_file" in enn_sym.list_priors()
  # A dotted module name, found from the current directory.
  (tmp_path / "plugin_module.py").write_text(
      PLUGIN.format(name="test_plugin_module"))
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in (
      "", str(tmp_path))])
  config = train_helpers.tiny_config(imports=("plugin_module",))
  train.validate_config(config)
  assert "test_plugin_module" in enn_sym.list_priors()


def test_config_imports_errors():
  for bad, match in ((("no_such_module_xyz",), "cannot import "
                      "'no_such_module_xyz'"),
                     (("/nonexistent/plugin.py",), "cannot import"),
                     ((3,), "entries must be non-empty strings")):
    config = train_helpers.tiny_config(imports=bad)
    with pytest.raises(train.ConfigError, match=f"config.imports: {match}"):
      train.validate_config(config)


@pytest.mark.slow
def test_plugins_from_the_command_line(tmp_path):
  """A config file that names its plugin module in config.imports trains from
  the command line with a user prior, group and base (no sys.path edits)."""
  (tmp_path / "my_plugins.py").write_text(PLUGIN.format(name="cli_prior") + (
      textwrap.dedent('''
      import dataclasses, jax, jax.numpy as jnp, flax.linen as nn
      from enn_sym import networks, symmetry

      @symmetry.register_group("cli_half_turns")
      @dataclasses.dataclass(frozen=True)
      class HalfTurns:
        name = "HalfTurns"; order = 2; exact = True; input_ndim = 3
        def elements(self): return jnp.arange(2)
        def sample(self, key, num): return jax.random.randint(key, (num,), 0, 2)
        def identity(self): return jnp.zeros((), jnp.int32)
        def compose(self, g, h): return (g + h) % 2
        def inverse(self, g): return g
        def act(self, g, x): return jnp.where(g == 1, x[..., ::-1, ::-1, :], x)
        def orbit(self, x): return jnp.stack([x, x[..., ::-1, ::-1, :]])

      class Net(nn.Module):
        num_classes: int
        width: int
        @nn.compact
        def __call__(self, x, *, train=False):
          h = nn.relu(nn.Dense(self.width)(x.reshape((x.shape[0], -1))))
          return nn.Dense(self.num_classes)(h), h

      @networks.register_base("cli_net", inputs="image")
      def make_net(num_classes, *, dropout_rate=0.0, width=8):
        return Net(num_classes, width)
      ''')))
  (tmp_path / "my_config.py").write_text(textwrap.dedent('''
      from enn_sym.train import default_config

      def get_config():
        c = default_config()
        c.imports = ("my_plugins",)
        c.models = ("epinet",)
        c.data.name = "digits"
        c.model.base = "cli_net"
        c.model.base_kwargs = {"width": 12}
        c.model.epinet.prior = "cli_prior"
        c.model.epinet.prior_kwargs = {"value": 0.5}
        c.model.epinet.hidden_sizes = (8,)
        c.symmetry.group = "cli_half_turns"
        c.symmetry.eval_group = "cli_half_turns"
        c.num_steps = 3
        c.batch_size = 16
        c.eval_batch_size = 60
        c.eval_num_indices = 3
        c.loss.num_index_samples = 2
        c.metrics.joint_num_samples = 10
        c.progress_bar = False
        c.plots = False
        return c
      '''))
  env = dict(os.environ, PYTHONPATH=train_helpers.REPO, JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [sys.executable, os.path.join(train_helpers.REPO, "experiments",
                                    "train.py"),
       "--config", str(tmp_path / "my_config.py"),
       "--workdir", str(tmp_path / "run")],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
      check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / "run" / "summary.json") as f:
    summary = json.load(f)
  assert np.isfinite(summary["epinet"]["nll"])
  # The user's group was used for the orbit evaluation (two elements).
  assert len(summary["epinet"]["orbit_ece"]) == 2


# --- in-loop metrics -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TopTwoAccuracy:
  """Fraction of examples whose label is among the two largest mean logits."""

  def empty(self):
    return {"hits": jnp.zeros(()), "count": jnp.zeros(())}

  def update(self, state, logits, labels, mask):
    top2 = jnp.argsort(jnp.mean(logits, axis=0), axis=-1)[:, -2:]
    hit = jnp.any(top2 == labels[:, None], axis=-1).astype(jnp.float32)
    return {"hits": state["hits"] + jnp.sum(hit * mask),
            "count": state["count"] + jnp.sum(mask)}

  def merge(self, a, b):
    return jax.tree.map(jnp.add, a, b)

  def compute(self, state):
    return state["hits"] / jnp.maximum(state["count"], 1.0)


def test_registered_metric_in_a_jitted_bundle_matches_hand_values():
  metrics.register_metric("test_top2", overwrite=True)(
      lambda config: TopTwoAccuracy())
  assert "test_top2" in metrics.list_metrics()
  bundle = metrics.make_metric_bundle(None, names=("test_top2",))
  # Mean logits of 3 examples over K = 2 samples; class order by value:
  # ex0: [3, 2, 1] -> top2 {0, 1}; ex1: [1, 3, 2] -> {1, 2}; ex2 padded.
  logits = jnp.array([[[3., 2., 1.], [1., 3., 2.], [0., 0., 9.]]] * 2)
  labels = jnp.array([1, 0, 0])
  mask = jnp.array([1., 1., 0.])
  states = jax.jit(bundle.update)(bundle.empty(), logits, labels, mask)
  assert bundle.compute(states) == {"test_top2": pytest.approx(0.5)}
  both = bundle.merge(states, states)
  assert float(bundle.compute(both)["test_top2"]) == pytest.approx(0.5)
  full = metrics.make_metric_bundle(None)
  assert set(full.metrics) == set(metrics.list_metrics())


def test_metric_bundle_names_dict_results_and_rejects_non_metrics():
  metrics.register_metric("test_dict", overwrite=True)(
      lambda config: metrics.BinnedCalibration(num_bins=2,
                                               input_kind="probs"))

  class MeanProbs:
    def __init__(self):
      self.inner = metrics.BinnedCalibration(num_bins=2, input_kind="probs")

    def empty(self):
      return self.inner.empty()

    def update(self, state, logits, labels, mask):
      probs = jnp.mean(jax.nn.softmax(logits, -1), 0)
      return self.inner.update(state, probs, labels, mask)

    def compute(self, state):
      return {"ece": self.inner.compute(state)["ece"]}

  metrics.register_metric("test_dict", overwrite=True)(lambda c: MeanProbs())
  bundle = metrics.make_metric_bundle(None, names=("test_dict",))
  logits = jnp.log(jnp.array([[[0.9, 0.1], [0.4, 0.6]]]))
  out = bundle.compute(bundle.update(bundle.empty(), logits,
                                     jnp.array([0, 0]), jnp.ones(2)))
  # Bin 1 holds both (confidences 0.9, 0.6; accuracy 1/2): |0.75 - 0.5|.
  assert list(out) == ["test_dict/ece"]
  assert float(out["test_dict/ece"]) == pytest.approx(0.25, abs=1e-6)
  metrics.register_metric("test_broken", overwrite=True)(lambda c: object())
  with pytest.raises(ValueError, match=r"'test_broken' lacks \['empty'"):
    metrics.make_metric_bundle(None, names=("test_broken",))
  with pytest.raises(ValueError, match="may not contain '/'"):
    metrics.register_metric("a/b")
  with pytest.raises(ValueError, match=r"Unknown metric 'nope'"):
    metrics.make_metric_bundle(None, names=("nope",))


# --- merge_variables -----------------------------------------------------


def test_merge_variables_inverts_split_variables():
  from enn_sym import losses  # pylint: disable=g-import-not-at-top
  enn = networks.make_epinet(networks.MLP(3, (4,)), num_classes=3,
                             index_dim=2)
  x = jnp.ones((2, 5))
  z = enn.indexer(jax.random.key(0))
  variables = enn.init(jax.random.key(1), x, z)
  params, state = losses.split_variables(variables)
  assert set(state) == {"prior"}
  merged = losses.merge_variables(params, state)
  assert jax.tree.structure(merged) == jax.tree.structure(dict(variables))
  for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(dict(variables))):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(enn.apply(merged, x, z).preds,
                                enn.apply(variables, x, z).preds)
  with pytest.raises(ValueError, match="state already holds a 'params'"):
    losses.merge_variables(params, {"params": params})
