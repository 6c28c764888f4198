"""Metric states under a sharded batch on 4 fake CPU devices (subprocess)."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CODE = r"""
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from enn_sym import metrics
assert jax.device_count() == 4, jax.devices()
mesh = Mesh(np.array(jax.devices()), ("data",))
rep, data = NamedSharding(mesh, P()), NamedSharding(mesh, P(None, "data"))
rng = np.random.default_rng(0)
stack = (2 * rng.normal(size=(3, 64, 5))).astype(np.float32)
labels = rng.integers(0, 5, size=64).astype(np.int32)
mask = (np.arange(64) < 61).astype(np.float32)  # padded last batch
boot = metrics.BootstrapECE(10, num_replicates=32, input_kind="logits")
ens = metrics.EnsemblePredictive(input_kind="logits")

def step(states, stack, labels, mask, key):
  return (boot.update(states[0], stack, labels, mask, key),
          ens.update(states[1], stack, labels, mask))

key = jax.random.key(3)
plain = jax.jit(step)((boot.empty(), ens.empty()), stack, labels, mask, key)
sharded_step = jax.jit(step, in_shardings=(rep, data,
    NamedSharding(mesh, P("data")), NamedSharding(mesh, P("data")), rep),
    out_shardings=rep)
sharded = sharded_step((boot.empty(), ens.empty()),
                       jax.device_put(stack, data), labels, mask, key)
checked = metrics.checked(step, out_shardings=rep)(
    (boot.empty(), ens.empty()), jax.device_put(stack, data), labels, mask,
    key)
for a, b, c in zip(jax.tree.leaves(plain), jax.tree.leaves(sharded),
                   jax.tree.leaves(checked)):
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
  np.testing.assert_allclose(np.asarray(a), np.asarray(c), atol=1e-5)
try:
  metrics.checked(step, out_shardings=rep)(
      (boot.empty(), ens.empty()), jax.device_put(stack, data),
      jnp.asarray(labels).at[0].set(9), mask, key)
  raise SystemExit("checked mode missed a bad label on 4 devices")
except ValueError as e:
  assert "labels must lie in [0, 5)" in str(e), e
print("ok")
"""


@pytest.mark.slow
def test_bootstrap_and_checked_mode_on_four_devices():
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO,
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  proc = subprocess.run([sys.executable, "-c", _CODE], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)
  assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
