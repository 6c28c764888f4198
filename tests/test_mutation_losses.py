"""Tests written to kill surviving mutants of enn_sym/losses (see
docs/testing.md, "Mutation testing")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import losses
from enn_sym import networks as nw

X = jnp.asarray(np.random.default_rng(0).normal(size=(6, 5)), jnp.float32)
BATCH = {"image": X, "label": jnp.arange(6) % 3}


def _ce(logits, labels, weights):
  per = -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None],
                             axis=-1)[:, 0]
  return jnp.mean(weights * per)


def test_one_index_sample_is_allowed_and_zero_is_rejected():
  enn = nw.make_epinet(nw.MLP(3, hidden_sizes=(4,)), num_classes=3,
                       index_dim=2, hidden_sizes=(4,), prior=None)
  params, state = losses.split_variables(
      enn.init(jax.random.key(0), X, jnp.zeros(2)))
  loss_fn = losses.make_enn_loss(enn, _ce, num_index_samples=1)
  loss, aux = loss_fn(params, state, BATCH, jax.random.key(1))
  assert aux["logits"].shape == (1, 6, 3) and np.isfinite(float(loss))
  with pytest.raises(ValueError, match="num_index_samples must be >= 1"):
    losses.make_enn_loss(enn, _ce, num_index_samples=0)
