r"""Forward cost of the symmetry wrappers relative to the plain LeNet.

  python experiments/bench_symmetry.py            # full run (~4 min on 2 cores)
  python experiments/bench_symmetry.py --quick    # fewer repeats
  python experiments/bench_symmetry.py --json out.json  # also write the ratios

Jitted forward passes on a ``[256, 28, 28, 1]`` batch over the plain
``enn_sym.networks.LeNet(10)``: ``GroupAveraged(LeNet, C4)`` (4 copies folded into the batch; target <=
4.5x; also written as ``jax.vmap`` over the elements), ``GroupAveraged(LeNet,
C8)`` (4 of 8 copies interpolated), ``Canonicalized(LeNet,
CnCanonicalizer(C4))`` (target <= 1.5x) and ``P4CNN(10)`` (reference). The
variants are timed round-robin, the median of the per-round ratios reported
(machine noise hits both sides alike). Also the library's C8 action against
the previous layout (pixel gathers, then a quarter turn).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from enn_sym import networks as nw
from enn_sym import symmetry as sym

BATCH, CLASSES = 256, 10


def _interleaved(fns: dict, *, rounds: int, number: int) -> dict:
  """Seconds per call of each fn in every round, timed round-robin (after
  one warm-up call each)."""
  for fn, args in fns.values():
    jax.block_until_ready(fn(*args))  # Compile + warm up.
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for name, (fn, args) in fns.items():
      t0 = time.perf_counter()
      for _ in range(number):
        out = fn(*args)
      jax.block_until_ready(out)
      times[name].append((time.perf_counter() - t0) / number)
  return {k: np.asarray(v) for k, v in times.items()}


def _forward(module, x):
  fn = jax.jit(lambda v, x: module.apply(v, x)[0])
  return fn, (module.init(jax.random.key(0), x), x)


def _vmapped_c4(x):
  """The C4 average as a vmap over the 4 elements (for comparison)."""
  lenet, group = nw.LeNet(CLASSES), sym.CyclicGroup(4)
  fn = jax.jit(lambda v, x: jnp.mean(jax.vmap(
      lambda g: lenet.apply(v, group.act(g, x))[0])(group.elements()), 0))
  return fn, (lenet.init(jax.random.key(0), x), x)


def _pixel_gather_rotate(x, angle):
  """Bilinear rotation as before the row-gather layout: four gathers of
  single pixels from ``[..., H*W, C]`` (same taps as ``rotate_image``)."""
  h, w, c = x.shape[-3:]
  ii, jj = np.meshgrid(np.arange(h, dtype=np.float32),
                       np.arange(w, dtype=np.float32), indexing="ij")
  ci, cj, cos, sin = (h - 1) / 2, (w - 1) / 2, jnp.cos(angle), jnp.sin(angle)
  u, v = jj - cj, ci - ii
  src_j, src_i = cos * u + sin * v + cj, ci - (-sin * u + cos * v)
  i0, j0 = jnp.floor(src_i), jnp.floor(src_j)
  di, dj, i0, j0 = src_i - i0, src_j - j0, i0.astype(int), j0.astype(int)
  flat, out = x.reshape(x.shape[:-3] + (h * w, c)), 0.0
  for ti, tj, wt in ((i0, j0, (1 - di) * (1 - dj)), (i0, j0 + 1, (1 - di) * dj),
                     (i0 + 1, j0, di * (1 - dj)), (i0 + 1, j0 + 1, di * dj)):
    valid = (ti >= 0) & (ti < h) & (tj >= 0) & (tj < w)
    index = jnp.clip(ti, 0, h - 1) * w + jnp.clip(tj, 0, w - 1)
    out = out + (jnp.take(flat, index.reshape(-1), axis=-2)
                 * jnp.where(valid, wt, 0.0).reshape(-1, 1))
  return out.reshape(x.shape)


def _c8_actions(x):
  """The C8 action vmapped over the 8 elements: the library's (row gathers)
  and the previous layout (pixel gathers, then a traced quarter turn)."""
  group = sym.CyclicGroup(8)
  elements, turns = group.elements(), [
      lambda x, k=k: jnp.rot90(x, k, axes=(-3, -2)) for k in range(4)]

  def previous(x):
    def act(g):  # 2 pi g / 8 = q pi/2 + r, |r| <= pi/4.
      q = (g + 1) // 2
      residual = _pixel_gather_rotate(x, jnp.pi * (g - 2 * q) / 4)
      return jax.lax.switch(q % 4, turns, residual)
    return jax.vmap(act)(elements)

  library = jax.jit(lambda x: jax.vmap(lambda g: group.act(g, x))(elements))
  return {"C8 action, pixel gathers + rot90": (jax.jit(previous), (x,)),
          "C8 action (library)": (library, (x,))}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true")
  parser.add_argument("--json", default="", help="Write the ratios here.")
  args = parser.parse_args()
  rounds, number = (3, 5) if args.quick else (9, 10)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
        f"({jax.device_count()} device(s))")
  x = jax.random.uniform(jax.random.key(0), (BATCH, 28, 28, 1))
  c4, c8 = sym.CyclicGroup(4), sym.CyclicGroup(8)
  lenet = nw.LeNet(CLASSES)
  canon = sym.CnCanonicalizer(c4)
  fns = {
      "LeNet": _forward(lenet, x),
      "GroupAveraged(C4)": _forward(sym.GroupAveraged(lenet, c4), x),
      "  same, jax.vmap over elements": _vmapped_c4(x),
      "GroupAveraged(C8)": _forward(sym.GroupAveraged(lenet, c8), x),
      "Canonicalized(learned C4)": _forward(sym.Canonicalized(lenet, canon), x),
      "P4CNN (reference)": _forward(sym.P4CNN(CLASSES), x),
  }
  canon_params = sum(np.size(p) for p in jax.tree.leaves(canon.init(
      jax.random.key(0), x)))
  times = _interleaved(fns, rounds=rounds, number=number)
  base = times.pop("LeNet")
  print(f"forward pass / LeNet forward pass (batch {BATCH}, 28x28x1, jit; "
        f"median of {rounds} round-robin rounds)")
  print(f"  LeNet forward: {1e3 * np.median(base):.2f} ms")
  ratios = {name: float(np.median(t / base)) for name, t in times.items()}
  for name, ratio in ratios.items():
    print(f"  {name:<32s} {ratio:6.2f}x")
  print(f"  (canonicalizer: {canon_params} parameters)")
  actions = _interleaved(_c8_actions(x[:128]), rounds=rounds, number=number)
  before = actions["C8 action, pixel gathers + rot90"]
  after = actions["C8 action (library)"]
  speedup = float(np.median(before / after))
  print(f"C8 action on [128, 28, 28, 1], vmapped over the 8 elements: "
        f"library {1e3 * np.median(after):.2f} ms, previous layout "
        f"{1e3 * np.median(before):.2f} ms -> {speedup:.1f}x faster")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"over_lenet_forward": {k.strip(): v for k, v in
                                        ratios.items()},
                 "lenet_forward_ms": 1e3 * float(np.median(base)),
                 "c8_action_library_speedup": speedup, "rounds": rounds,
                 "platform": jax.devices()[0].platform}, f, indent=2)


if __name__ == "__main__":
  main()
