r"""Benchmarks of the core library's cost model, measured side by side.

  python experiments/bench_core.py            # full run (~2-4 min on 2 cores)
  python experiments/bench_core.py --quick    # fewer repeats

(a) epinet train step with K = 1, 8, 32 index samples divided by the
    base-only train step, for the MLP and the LeNet base (batch 128, MNIST
    shape). Target: K = 8 costs <= 1.3x the base-only step on the CNN.
    For comparison, the same ratio for a whole-network vmap over K copies.
(b) the jitted eval step with all in-loop calibration metrics (ECE family,
    NLL, Brier, entropies/MI, joint log-loss, temperature-scaled copy) divided
    by the same step with accuracy only. Target <= 1.10.
(c) streaming binned ECE over 10 million predictions: throughput and memory
    (the state is O(bins); no per-example storage).

Timings interleave the variants round-robin and report the median of the
per-round ratios, so machine noise hits both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from enn_sym import losses
from enn_sym import metrics
from enn_sym import networks as nw
from enn_sym.train import _steps

BATCH = 128
CLASSES = 10


def _time(fn, *args, number: int) -> float:
  """Seconds per call (after the caller has warmed ``fn`` up)."""
  t0 = time.perf_counter()
  for _ in range(number):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - t0) / number


def _interleaved(fns: dict, *, rounds: int, number: int) -> dict:
  """Median seconds per call of each fn, timed round-robin."""
  for fn, args in fns.values():
    jax.block_until_ready(fn(*args))  # Compile + warm up.
  times = {k: [] for k in fns}
  for _ in range(rounds):
    for name, (fn, args) in fns.items():
      times[name].append(_time(fn, *args, number=number))
  return {k: np.asarray(v) for k, v in times.items()}


def _ce(logits, labels, weights):
  return jnp.mean(weights *
                  optax.softmax_cross_entropy_with_integer_labels(logits,
                                                                  labels))


def _train_step(enn, index_fn, x, y):
  variables = enn.init(jax.random.key(0), x, enn.indexer(jax.random.key(1)))
  params, state = losses.split_variables(variables)
  loss_fn = losses.make_enn_loss(enn, _ce, index_fn=index_fn)
  opt = optax.adam(1e-3)
  opt_state = opt.init(params)
  batch = {"image": x, "label": y}

  @jax.jit
  def step(params, opt_state, key):
    grads, _ = jax.grad(loss_fn, has_aux=True)(params, state, batch, key)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return step, (params, opt_state, jax.random.key(2))


def _whole_network_vmap(base, num, x):
  """K full copies of the network per step (what an epinet avoids)."""
  enn = nw.make_base_enn(base, CLASSES)

  def apply(variables, x, z, **kw):
    del kw
    out = enn.apply(variables, x + 0.0 * jnp.sum(z), z)  # Depends on z.
    return out

  import enn_sym  # pylint: disable=g-import-not-at-top
  wrapped = enn_sym.EpistemicNetwork(enn.init, apply,
                                     enn_sym.GaussianIndexer(1))
  return wrapped, (lambda key: wrapped.sample_indices(key, num))


def bench_train(rounds: int, number: int) -> None:
  print("(a) train step time / base-only train step time "
        f"(batch {BATCH}, 28x28x1 inputs)")
  key = jax.random.key(0)
  x = jax.random.uniform(key, (BATCH, 28, 28, 1))
  y = jax.random.randint(key, (BATCH,), 0, CLASSES)
  bases = {
      "MLP": lambda: nw.MLP(CLASSES, (50, 50)),
      "CNN": lambda: nw.LeNet(CLASSES),
  }
  for name, make_base in bases.items():
    prior = "conv_ensemble" if name == "CNN" else "mlp_ensemble"
    base_enn = nw.make_base_enn(make_base(), CLASSES)
    fns = {"base": _train_step(base_enn, lambda k: base_enn.sample_indices(
        k, 1), x, y)}
    epinet = nw.make_epinet(make_base(), num_classes=CLASSES, index_dim=8,
                            prior=prior)
    for k in (1, 8, 32):
      fns[f"epinet K={k}"] = _train_step(
          epinet, lambda key, k=k: epinet.sample_indices(key, k), x, y)
    whole, index_fn = _whole_network_vmap(make_base(), 8, x)
    fns["whole-net vmap K=8"] = _train_step(whole, index_fn, x, y)
    times = _interleaved({k: (v[0], v[1]) for k, v in fns.items()},
                         rounds=rounds, number=number)
    base_t = times.pop("base")
    print(f"  {name}: base-only step {1e3 * np.median(base_t):.2f} ms")
    for label, t in times.items():
      print(f"  {name}: {label:<20s} {np.median(t / base_t):6.2f}x")


def bench_eval(rounds: int, number: int) -> None:
  print("(b) eval step with all in-loop metrics / eval step with accuracy "
        "only (LeNet epinet, K = 30, batch 500)")
  mesh = _steps.make_mesh()
  enn = nw.make_epinet(nw.LeNet(CLASSES), num_classes=CLASSES, index_dim=8,
                       prior="conv_ensemble")
  state = _steps.init_state(enn, optax.adam(1e-3), jnp.zeros((1, 28, 28, 1)),
                            0, mesh)
  key = jax.random.key(0)
  batch = {"image": jax.random.uniform(key, (500, 28, 28, 1)),
           "label": jax.random.randint(key, (500,), 0, CLASSES),
           "mask": jnp.ones((500,))}
  zs = enn.sample_indices(key, 30)
  bundle = _steps.EvalMetrics(15, 10, 2, 100)
  full = _steps.make_eval_step(enn, bundle, mesh)
  acc_metric = metrics.Accuracy(input_kind="logits")

  @jax.jit
  def accuracy_only(state, acc_state, batch, zs):
    logits = enn.apply_multi(state.variables, batch["image"], zs).preds
    probs = jnp.mean(jax.nn.softmax(logits), axis=0)
    return acc_metric.update(acc_state, probs, batch["label"], batch["mask"])

  acc_metric = metrics.Accuracy(input_kind="probs")
  times = _interleaved({
      "full": (full, (state, bundle.empty(), batch, zs, jnp.float32(1.5),
                      key)),
      "accuracy": (accuracy_only, (state, acc_metric.empty(), batch, zs)),
  }, rounds=rounds, number=number)
  ratio = np.median(times["full"] / times["accuracy"])
  print(f"  accuracy-only step {1e3 * np.median(times['accuracy']):.2f} ms; "
        f"all metrics {1e3 * np.median(times['full']):.2f} ms; "
        f"ratio {ratio:.3f}x")


def bench_streaming_ece(total: int) -> None:
  print(f"(c) streaming binned ECE over {total:,} predictions")
  chunk = 100_000
  metric = metrics.BinnedCalibration(15, input_kind="logits")
  logits = jax.random.normal(jax.random.key(0), (chunk, CLASSES)) * 3
  labels = jax.random.randint(jax.random.key(1), (chunk,), 0, CLASSES)
  update = jax.jit(metric.update)
  state = jax.block_until_ready(update(metric.empty(), logits, labels))
  rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  state = metric.empty()
  t0 = time.perf_counter()
  for _ in range(total // chunk):
    state = update(state, logits, labels)
  result = metric.compute(jax.block_until_ready(state))
  seconds = time.perf_counter() - t0
  rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  state_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(state))
  print(f"  {total / seconds / 1e6:.1f} M predictions/s ({seconds:.2f} s); "
        f"count = {int(result['count']):,}; ECE = {float(result['ece']):.4f}")
  print(f"  metric state: {state_bytes} bytes (15 bins); peak RSS grew by "
        f"{(rss1 - rss0) / 1024:.1f} MiB while streaming (input chunk "
        f"{logits.nbytes / 2**20:.1f} MiB, reused)")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true")
  args = parser.parse_args()
  rounds, number = (3, 5) if args.quick else (7, 10)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
        f"({jax.device_count()} device(s))")
  bench_train(rounds, number)
  bench_eval(rounds, number // 2 or 1)
  bench_streaming_ece(10_000_000)


if __name__ == "__main__":
  main()
