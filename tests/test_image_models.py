"""ResNet-18/50 and VGG-16-BN: parameter counts, forward passes, BatchNorm
modes, the epinet on them, and their config fields."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import networks as nw
from enn_sym import train
from enn_sym.train import _models
from tests.train_helpers import tiny_config


def _shapes(module, shape):
  """Abstract variables (no compute): ``jax.eval_shape`` of ``init``."""
  return jax.eval_shape(lambda: module.init(jax.random.key(0),
                                            jnp.zeros(shape), train=False))


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


# Exact counts of trainable parameters (BatchNorm statistics excluded, as in
# PyTorch's parameters()); the well-known references are the CIFAR models of
# the common PyTorch repositories and torchvision's ImageNet ResNet-50.
@pytest.mark.parametrize("name, module, shape, params, stats, feature_dim", [
    ("resnet18_cifar", nw.resnet18(10), (1, 32, 32, 3), 11_173_962, 9_600,
     512),
    ("resnet50_cifar", nw.resnet50(10), (1, 32, 32, 3), 23_520_842, 53_120,
     2048),
    ("vgg16_bn_cifar", nw.vgg16(10), (1, 32, 32, 3), 14_728_266, 8_448, 512),
    ("resnet18_imagenet_stem_10", nw.resnet18(10, stem="imagenet"),
     (1, 224, 224, 3), 11_181_642, 9_600, 512),
    ("resnet50_imagenet_1000", nw.resnet50(1000, stem="imagenet"),
     (1, 224, 224, 3), 25_557_032, 53_120, 2048),
])
def test_parameter_counts_and_output_shapes(name, module, shape, params,
                                            stats, feature_dim):
  variables = _shapes(module, shape)
  assert set(variables) == {"params", "batch_stats"}, name
  assert _count(variables["params"]) == params, name
  assert _count(variables["batch_stats"]) == stats, name
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))
  logits, features = jax.eval_shape(
      lambda v, x: module.apply(v, x), variables,
      jax.ShapeDtypeStruct((2,) + shape[1:], jnp.float32))
  assert logits.shape == (2, module.num_classes)
  assert features.shape == (2, feature_dim)


# Numeric forward passes use shallow, narrow members of each family (XLA:CPU
# compiles a full-depth ResNet-50 for tens of seconds); the full-size models'
# forward passes are checked abstractly above (jax.eval_shape of apply).
SMALL = {
    "resnet_basic": nw.ResNet(10, (1, 1), "basic", num_filters=2),
    "resnet_bottleneck": nw.ResNet(10, (1, 1), "bottleneck", num_filters=2),
    "vgg": nw.VGG(10, (1, 2), num_filters=2),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_pass_and_batchnorm_modes(name):
  """Finite outputs on a 16x16 batch of 2; train mode normalises with batch
  statistics and updates batch_stats, eval mode uses the running averages
  and changes nothing."""
  module = SMALL[name]
  x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))

  @jax.jit
  def run(x):
    variables = module.init(jax.random.key(0), x[:1])
    evaluated = module.apply(variables, x, train=False)
    trained, updates = module.apply(variables, x, train=True,
                                    mutable=["batch_stats"])
    again = module.apply(variables, x, train=False)
    return variables, evaluated, trained, updates, again

  variables, (logits, features), (train_logits, _), updates, again = run(x)
  assert logits.shape == (2, 10) and features.shape[0] == 2
  assert np.all(np.isfinite(logits)) and np.all(np.isfinite(features))
  assert not np.allclose(train_logits, logits)  # batch vs running stats
  old = jax.tree.leaves(variables["batch_stats"])
  new = jax.tree.leaves(updates["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(old, new))
  np.testing.assert_array_equal(again[0], logits)


def test_imagenet_stem_downsamples_by_four():
  cifar = nw.ResNet(10, (1,), num_filters=2, stem="cifar")
  imagenet = nw.ResNet(10, (1,), num_filters=2, stem="imagenet")
  x = jnp.zeros((1, 16, 16, 3))
  for module, expected in ((cifar, 16), (imagenet, 4)):
    variables = _shapes(module, x.shape)
    _, state = jax.eval_shape(lambda v: module.apply(
        v, x, mutable=["intermediates"],
        capture_intermediates=lambda m, _: m.name == "stage1_block1"),
                              variables)
    out = state["intermediates"]["stage1_block1"]["__call__"][0]
    assert out.shape[1] == expected


def _sub_jaxprs(value):
  if hasattr(value, "jaxpr") and hasattr(value, "consts"):  # ClosedJaxpr
    yield value.jaxpr
  elif hasattr(value, "eqns"):
    yield value
  elif isinstance(value, (tuple, list)):
    for v in value:
      yield from _sub_jaxprs(v)


def _count_convs(jaxpr) -> int:
  """``conv_general_dilated`` equations, nested jaxprs included."""
  total = 0
  for eqn in jaxpr.eqns:
    total += eqn.primitive.name == "conv_general_dilated"
    for value in eqn.params.values():
      for sub in _sub_jaxprs(value):
        total += _count_convs(sub)
  return total


def test_epinet_on_batchnorm_base_runs_the_base_once():
  """K index samples in training mode: the base's convolutions appear once
  in the jaxpr, and batch_stats are updated exactly as by one base pass."""
  base = SMALL["resnet_basic"]
  enn = nw.make_epinet(base, num_classes=10, index_dim=3, hidden_sizes=(8,),
                       include_inputs=False, prior="mlp_ensemble")
  x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
  variables = jax.jit(enn.init)(jax.random.key(0), x[:1],
                                enn.indexer(jax.random.key(2)))
  assert set(variables) == {"params", "prior", "batch_stats"}
  zs = enn.sample_indices(jax.random.key(3), 4)
  multi = lambda v, x: enn.apply_multi(v, x, zs, train=True)
  base_vars = {"params": variables["params"]["base"],
               "batch_stats": variables["batch_stats"]["base"]}
  out, (_, base_updates) = jax.jit(lambda v, bv, x: (multi(v, x), base.apply(
      bv, x, train=True, mutable=["batch_stats"])))(variables, base_vars, x)
  assert out.preds.shape == (4, 2, 10)
  stats = jax.tree.map(lambda s: s[0], out.extra["batch_stats"])
  for a, b in zip(jax.tree.leaves(stats["base"]),
                  jax.tree.leaves(base_updates["batch_stats"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  base_convs = _count_convs(jax.make_jaxpr(lambda v, x: base.apply(
      v, x, train=True, mutable=["batch_stats"]))(base_vars, x).jaxpr)
  assert base_convs > 0
  assert _count_convs(jax.make_jaxpr(multi)(variables, x).jaxpr) == base_convs


def test_config_builds_the_architectures():
  for base, cls in (("resnet18", nw.ResNet), ("resnet50", nw.ResNet),
                    ("vgg16", nw.VGG)):
    cfg = tiny_config(**{"model.base": base})
    train.validate_config(cfg)
    net = _models.make_base_network(cfg, 10)
    assert isinstance(net, cls) and net.num_filters == 64
  net = _models.make_base_network(tiny_config(**{
      "model.base": "resnet50", "model.stage_sizes": (1, 1),
      "model.num_filters": 4, "model.resnet_stem": "imagenet",
      "model.dtype": "bfloat16"}), 10)
  assert (net.stage_sizes, net.block, net.num_filters, net.stem, net.dtype) == (
      (1, 1), "bottleneck", 4, "imagenet", jnp.bfloat16)


@pytest.mark.parametrize("overrides, match", [
    ({"model.base": "resnet18", "models": ("base", "dropout")},
     "config.models.*'dropout' is not supported with the BatchNorm"),
    ({"model.base": "vgg16", "models": ("dropout",)}, "config.models"),
    ({"model.base": "resnet18", "model.resnet_stem": "tiny"},
     "config.model.resnet_stem.*'cifar'"),
    ({"model.dtype": "bfloat16"}, "config.model.dtype.*mlp"),
    ({"model.base": "vgg16", "model.dtype": "float16"},
     "config.model.dtype.*'bfloat16'"),
    ({"model.base": "vgg16", "model.stage_sizes": (2, 0)},
     "config.model.stage_sizes"),
    ({"model.base": "vgg16", "model.num_filters": 0},
     "config.model.num_filters"),
    ({"models": ("epinet", "base"), "model.epinet.freeze_base": True},
     "config.model.epinet.freeze_base.*'base' before 'epinet'"),
    ({"model.base": "resnet18", "data.name": "tetris"}, "config.model.base"),
])
def test_bad_image_model_configs_name_the_field(overrides, match):
  with pytest.raises(train.ConfigError, match=match):
    train.validate_config(tiny_config(**overrides))
