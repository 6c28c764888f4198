"""Mixed precision: bfloat16 compute, float32 parameters, logits and loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import networks as nw
from enn_sym import train
from enn_sym.train import _models
from enn_sym.train import _steps
from tests.train_helpers import tiny_config


def _dtypes_of_convs(jaxpr) -> set:
  out = set()
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      out.add(eqn.outvars[0].aval.dtype)
    for value in eqn.params.values():
      inner = getattr(value, "jaxpr", value)
      if hasattr(inner, "eqns"):
        out |= _dtypes_of_convs(inner)
  return out


@pytest.mark.parametrize("make", [
    lambda dtype: nw.ResNet(10, (1,), "bottleneck", 2, dtype=dtype),
    lambda dtype: nw.VGG(10, (1,), 4, dtype=dtype),
], ids=["resnet_bottleneck", "vgg"])
def test_bfloat16_compute_with_float32_params_and_outputs(make):
  full, half = make(jnp.float32), make(jnp.bfloat16)
  x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
  train_mode = lambda m, v: m.apply(v, x, train=True, mutable=["batch_stats"])

  @jax.jit
  def run():
    variables = half.init(jax.random.key(1), x)
    return variables, train_mode(half, variables), train_mode(full, variables)

  variables, ((logits, features), stats), ((ref_logits, _), _) = run()
  # Same parameter tree and float32 parameters / statistics either way.
  reference = jax.eval_shape(lambda: full.init(jax.random.key(1), x))
  assert jax.tree.structure(variables) == jax.tree.structure(reference)
  assert {v.dtype for v in jax.tree.leaves(variables)} == {
      np.dtype(np.float32)}
  assert logits.dtype == jnp.float32 and features.dtype == jnp.float32
  assert {v.dtype for v in jax.tree.leaves(stats)} == {np.dtype(np.float32)}
  jaxpr = jax.make_jaxpr(lambda v, x: half.apply(v, x))(variables, x).jaxpr
  assert _dtypes_of_convs(jaxpr) == {np.dtype(jnp.bfloat16)}
  # bfloat16 has an 8-bit mantissa: agreement to a few percent.
  scale = float(jnp.max(jnp.abs(ref_logits)))
  np.testing.assert_allclose(logits, ref_logits, atol=0.05 * scale + 0.02)


def test_bfloat16_train_step_keeps_float32_params_and_loss():
  config = tiny_config(**{"model.base": "resnet18", "model.num_filters": 2,
                          "model.stage_sizes": (1,),
                          "model.dtype": "bfloat16",
                          "optimizer.name": "sgd",
                          "optimizer.learning_rate": 0.05})
  train.validate_config(config)
  spec = _models.make_model("base", config, 10)
  optimizer = _models.make_optimizer(config)
  mesh = _steps.make_mesh()
  state = _steps.init_state(spec.enn, optimizer, jnp.zeros((1, 8, 8, 1)), 0,
                            mesh)
  step = _steps.make_train_step(_models.make_loss_fn(spec, config), optimizer,
                                mesh)
  rng = np.random.default_rng(0)
  batch = {"image": rng.random((16, 8, 8, 1), np.float32),
           "label": rng.integers(0, 10, 16).astype(np.int32),
           "index": np.arange(16, dtype=np.int32)}
  stats_before = jax.tree.map(np.asarray, state.state["batch_stats"])
  state, out = step(state, _steps.global_batch(batch, mesh))
  assert out["loss"].dtype == jnp.float32 and np.isfinite(out["loss"])
  assert {v.dtype for v in jax.tree.leaves(state.params)} == {
      np.dtype(np.float32)}
  stats_after = state.state["batch_stats"]
  changed = [not np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(stats_before), jax.tree.leaves(stats_after))]
  assert any(changed)  # train mode updated the running statistics
