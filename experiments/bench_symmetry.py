r"""Forward cost of the symmetry wrappers relative to the plain LeNet.

  python experiments/bench_symmetry.py            # full run (~4 min on 2 cores)
  python experiments/bench_symmetry.py --quick    # fewer repeats

Jitted forward passes on a ``[256, 28, 28, 1]`` batch, divided by the
forward pass of ``enn_sym.networks.LeNet(10)``:

* ``GroupAveraged(LeNet, C4)``: 4 copies folded into the batch (target
  <= 4.5x); the same average written as ``jax.vmap`` over the 4 elements, to
  compare the two batching strategies;
* ``GroupAveraged(LeNet, C8)``: 8 copies, 4 of them interpolated;
* ``Canonicalized(LeNet, CnCanonicalizer(C4))``: one small group-conv score
  network + one LeNet call (target <= 1.5x);
* ``P4CNN(10)``: the equivariant-by-design baseline, for reference.

Timings interleave the variants round-robin and report the median of the
per-round ratios (as in ``experiments/bench_core.py``), so machine noise hits
both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import networks as nw
from enn_sym.symmetry import _canonicalizers
from enn_sym.symmetry import _groups
from enn_sym.symmetry import _image_ops
from enn_sym.symmetry import _p4
from enn_sym.symmetry import _wrappers

BATCH = 256
CLASSES = 10


def _time(fn, *args, number: int) -> float:
  """Seconds per call (after the caller has warmed ``fn`` up)."""
  t0 = time.perf_counter()
  for _ in range(number):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / number


def _interleaved(fns: dict, *, rounds: int, number: int) -> dict:
  """Seconds per call of each fn in every round, timed round-robin."""
  for fn, args in fns.values():
    jax.block_until_ready(fn(*args))  # Compile + warm up.
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for name, (fn, args) in fns.items():
      times[name].append(_time(fn, *args, number=number))
  return {k: np.asarray(v) for k, v in times.items()}


def _forward(module, x):
  variables = module.init(jax.random.key(0), x)
  fn = jax.jit(lambda v, x: module.apply(v, x)[0])
  return fn, (variables, x)


def _vmapped_c4(x):
  """The C4 average as a vmap over the 4 elements (for comparison)."""
  lenet = nw.LeNet(CLASSES)
  group = _groups.CyclicGroup(4)
  variables = lenet.init(jax.random.key(0), x)

  @jax.jit
  def fn(v, x):
    logits = jax.vmap(lambda g: lenet.apply(v, group.act(g, x))[0])(
        group.elements())
    return jnp.mean(logits, axis=0)

  return fn, (variables, x)


def _pixel_gather_rotate(x, angle):
  """Bilinear rotation as before the row-gather layout: four gathers of
  single pixels from ``[..., H*W, C]`` (same taps as ``rotate_image``)."""
  h, w, c = x.shape[-3:]
  ii, jj = np.meshgrid(np.arange(h, dtype=np.float32),
                       np.arange(w, dtype=np.float32), indexing="ij")
  ci, cj = (h - 1) / 2.0, (w - 1) / 2.0
  u, v = jj - cj, ci - ii
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  src_j, src_i = cos * u + sin * v + cj, ci - (-sin * u + cos * v)
  i0, j0 = jnp.floor(src_i), jnp.floor(src_j)
  di, dj = src_i - i0, src_j - j0
  i0, j0 = i0.astype(jnp.int32), j0.astype(jnp.int32)
  flat = x.reshape(x.shape[:-3] + (h * w, c))
  out = 0.0
  for ti, tj, wt in ((i0, j0, (1 - di) * (1 - dj)), (i0, j0 + 1, (1 - di) * dj),
                     (i0 + 1, j0, di * (1 - dj)), (i0 + 1, j0 + 1, di * dj)):
    valid = (ti >= 0) & (ti < h) & (tj >= 0) & (tj < w)
    index = jnp.clip(ti, 0, h - 1) * w + jnp.clip(tj, 0, w - 1)
    out = out + (jnp.take(flat, index.reshape(-1), axis=-2)
                 * jnp.where(valid, wt, 0.0).reshape(-1, 1))
  return out.reshape(x.shape)


def _c8_actions(x):
  """The C8 action on a batch, vmapped over the 8 elements: the library's
  (row gathers, quarter turn folded into the taps) and the previous layout
  (pixel gathers, then a traced rot90)."""
  group = _groups.CyclicGroup(8)
  elements = group.elements()

  def previous(x):
    def act(g):
      q, r = _groups._quarter_and_residual(g, 8)  # pylint: disable=protected-access
      return _image_ops.rot90(_pixel_gather_rotate(x, r), q)
    return jax.vmap(act)(elements)

  library = jax.jit(lambda x: jax.vmap(lambda g: group.act(g, x))(elements))
  return {"C8 action, pixel gathers + rot90": (jax.jit(previous), (x,)),
          "C8 action (library)": (library, (x,))}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  rounds, number = (3, 5) if args.quick else (9, 10)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
        f"({jax.device_count()} device(s))")
  x = jax.random.uniform(jax.random.key(0), (BATCH, 28, 28, 1))
  c4, c8 = _groups.CyclicGroup(4), _groups.CyclicGroup(8)
  lenet = nw.LeNet(CLASSES)
  canon = _canonicalizers.CnCanonicalizer(c4)
  fns = {
      "LeNet": _forward(lenet, x),
      "GroupAveraged(C4)": _forward(_wrappers.GroupAveraged(lenet, c4), x),
      "  same, jax.vmap over elements": _vmapped_c4(x),
      "GroupAveraged(C8)": _forward(_wrappers.GroupAveraged(lenet, c8), x),
      "Canonicalized(learned C4)": _forward(
          _wrappers.Canonicalized(lenet, canon), x),
      "P4CNN (reference)": _forward(_p4.P4CNN(CLASSES), x),
  }
  canon_params = sum(
      np.size(p) for p in jax.tree.leaves(canon.init(jax.random.key(0), x)))
  times = _interleaved(fns, rounds=rounds, number=number)
  base = times.pop("LeNet")
  print(f"forward pass / LeNet forward pass (batch {BATCH}, 28x28x1, jit; "
        f"median of {rounds} round-robin rounds)")
  print(f"  LeNet forward: {1e3 * np.median(base):.2f} ms "
        f"({1e6 * np.median(base) / BATCH:.1f} us per example)")
  for name, t in times.items():
    print(f"  {name:<32s} {np.median(t / base):6.2f}x")
  print(f"  (canonicalizer: {canon_params} parameters)")
  digits = x[:128]
  actions = _interleaved(_c8_actions(digits), rounds=rounds, number=number)
  before = actions["C8 action, pixel gathers + rot90"]
  after = actions["C8 action (library)"]
  print(f"C8 action on [128, 28, 28, 1], vmapped over the 8 elements: "
        f"library {1e3 * np.median(after):.2f} ms, previous layout "
        f"{1e3 * np.median(before):.2f} ms -> {np.median(before / after):.1f}x "
        f"faster")


if __name__ == "__main__":
  main()
