"""Tests that kill mutants of enn_sym/symmetry/_wrappers.py.

Written against scripts/mutation_test.py survivors; the expected values are
the documented messages and the averages computed by hand with numpy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import networks
from enn_sym._validation import InputError
from enn_sym.symmetry import _groups as groups
from enn_sym.symmetry import _wrappers as wrappers

KEY = jax.random.key(0, impl="rbg")


def test_missing_channel_axis_hint_only_for_images():
  with pytest.raises(InputError, match=r"Add a channel axis with "
                     r"x\[\.\.\., None\]"):
    wrappers.GroupAveraged(networks.MLP(3), groups.CyclicGroup(4)).init(
        KEY, jnp.zeros((2, 4, 4)))
  with pytest.raises(InputError, match="point clouds of shape") as info:
    wrappers.FrameAveraged(networks.MLP(3)).init(KEY, jnp.zeros((2, 5)))
  assert "channel axis" not in str(info.value)


def test_average_logits_hand_values():
  # Two copies, one example, two classes.
  stack = jnp.asarray([[[0.0, 2.0]], [[1.0, -1.0]]])
  np.testing.assert_allclose(
      np.asarray(wrappers.average_logits(stack, "logits")), [[0.5, 0.5]])
  p = np.exp(np.asarray(stack)) / np.exp(np.asarray(stack)).sum(-1,
                                                                keepdims=True)
  np.testing.assert_allclose(
      np.asarray(wrappers.average_logits(stack, "probs")),
      np.log(p.mean(0)), rtol=1e-6)
