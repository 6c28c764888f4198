"""fit_seeds: seed-vmapped training equals single-seed runs; early stopping,
per-seed freezing, non-finite guard, epoch permutations, bad arguments."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from enn_sym import losses
from enn_sym import networks
from enn_sym._validation import InputError
from enn_sym.train import fit_seeds


def _quadratic(target):
  """``loss = (w - target)^2`` on a scalar ``w``; data unused."""
  def loss_fn(params, state, batch, key):
    del state, batch, key
    return (params["w"] - target) ** 2, {}
  return loss_fn


_DATA = {"x": np.zeros((4, 1), np.float32)}


def _sgd_trajectory(lr, target, steps):
  """Hand-computed SGD on (w - target)^2 from w = 0: w_t = target (1 - (1 - 2 lr)^t)."""
  t = np.arange(steps + 1)
  return target * (1 - (1 - 2 * lr) ** t)


def test_early_stopping_keeps_the_best_validation_params():
  lr, target = 0.05, 2.0
  # Validation metric (w - 1)^2: improves while w < 1, then worsens.
  val_fn = lambda p, s, d: (p["w"] - 1.0) ** 2
  res = fit_seeds(lambda k: ({"w": jnp.float32(0.0)}, {}), _quadratic(target),
                  _DATA, (0,), optimizer=optax.sgd(lr), num_steps=400,
                  eval_every=1, validation=_DATA, val_fn=val_fn, patience=3)
  w = _sgd_trajectory(lr, target, 400)
  best = int(np.argmin((w - 1.0) ** 2))
  assert res.stop_reason == ["early_stopping"]
  assert int(res.best_step[0]) == best
  # Patience 3: three evaluations past the best one, then it stops.
  assert int(res.steps_trained[0]) == best + 3
  np.testing.assert_allclose(float(res.params["w"][0]), w[best], rtol=1e-5)
  assert res.eval_steps[-1] == best + 3


def test_max_steps_without_validation_returns_final_params():
  res = fit_seeds(lambda k: ({"w": jnp.float32(0.0)}, {}), _quadratic(2.0),
                  _DATA, (0, 1), optimizer=optax.sgd(0.1), num_steps=7,
                  eval_every=3)
  assert res.stop_reason == ["max_steps", "max_steps"]
  np.testing.assert_array_equal(res.steps_trained, [7, 7])
  np.testing.assert_array_equal(res.eval_steps, [3, 6, 7])
  np.testing.assert_allclose(np.asarray(res.params["w"]),
                             _sgd_trajectory(0.1, 2.0, 7)[-1], rtol=1e-5)


def test_seeds_freeze_on_their_own_criterion():
  # Seed-dependent start: seed s starts at w = s, so seeds reach the
  # validation optimum (w = 1) at different steps and stop separately.
  def init(key):
    return {"w": jax.random.uniform(key, (), minval=-3.0, maxval=0.5)}, {}
  val_fn = lambda p, s, d: (p["w"] - 1.0) ** 2
  res = fit_seeds(init, _quadratic(2.0), _DATA, (0, 1, 2, 3),
                  optimizer=optax.sgd(0.02), num_steps=2000, eval_every=1,
                  validation=_DATA, val_fn=val_fn, patience=2)
  assert set(res.stop_reason) == {"early_stopping"}
  assert len(set(res.steps_trained.tolist())) > 1
  np.testing.assert_allclose(np.asarray(res.params["w"]), 1.0, atol=0.03)


def test_non_finite_step_is_not_applied_and_stops_the_seed():
  # lr so large that w overflows float32 after a few steps.
  res = fit_seeds(lambda k: ({"w": jnp.float32(1.0)}, {}), _quadratic(0.0),
                  _DATA, (0,), optimizer=optax.sgd(1e18), num_steps=50,
                  eval_every=5)
  assert res.stop_reason == ["non_finite"]
  assert 0 < int(res.steps_trained[0]) < 50
  w = np.asarray(res.params["w"])
  assert np.all(np.isfinite(w)) and np.all(np.abs(w) > 1e10)


def test_each_epoch_visits_every_example_once():
  n, bs = 12, 4
  # loss = sum_i w[index_i]: the gradient counts how often each index is
  # drawn; SGD with lr 1 leaves w = -counts.
  def loss_fn(params, state, batch, key):
    return jnp.sum(params["w"][batch["index"]]), {}
  data = {"index": np.arange(n)}
  for epochs in (1, 3):
    res = fit_seeds(lambda k: ({"w": jnp.zeros(n)}, {}), loss_fn, data,
                    (0, 5), optimizer=optax.sgd(1.0),
                    num_steps=epochs * n // bs, batch_size=bs, eval_every=2)
    np.testing.assert_array_equal(np.asarray(res.params["w"]),
                                  -epochs * np.ones((2, n)))


def test_stopped_seeds_leave_the_program_and_numbers_do_not_change():
  # Seeds stop at different steps; once at most half run, the program
  # continues with the running ones only, so fewer seed-steps are computed
  # than (seeds x dispatched steps), and every number equals the
  # uncompacted run.
  def init(key):
    return {"w": jax.random.uniform(key, (), minval=-3.0, maxval=0.5)}, {}
  val_fn = lambda p, s, d: (p["w"] - 1.0) ** 2
  kw = dict(optimizer=optax.sgd(0.02), num_steps=2000, eval_every=5,
            validation=_DATA, val_fn=val_fn, patience=2)
  seeds = tuple(range(6))
  packed = fit_seeds(init, _quadratic(2.0), _DATA, seeds, **kw)
  plain = fit_seeds(init, _quadratic(2.0), _DATA, seeds, compact=False, **kw)
  assert len(set(packed.steps_trained.tolist())) > 1
  dispatched = len(seeds) * len(packed.eval_steps) * 5
  assert plain.computed_seed_steps == dispatched
  assert packed.computed_seed_steps < dispatched
  assert packed.computed_seed_steps >= int(packed.steps_trained.sum())
  assert packed.stop_reason == plain.stop_reason
  for name in ("best_step", "steps_trained", "eval_steps"):
    np.testing.assert_array_equal(getattr(packed, name), getattr(plain, name))
  np.testing.assert_allclose(packed.val_history, plain.val_history, rtol=1e-6)
  np.testing.assert_allclose(packed.train_loss, plain.train_loss, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(packed.params["w"]),
                             np.asarray(plain.params["w"]), rtol=1e-6)


def _epinet_problem():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(96, 5)).astype(np.float32)
  y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32)
  enn = networks.make_epinet(networks.MLP(2, hidden_sizes=(16,)),
                             num_classes=2, index_dim=4, hidden_sizes=(8,))
  loss_fn = losses.make_enn_loss(enn, losses.make_loss("ce"),
                                 num_index_samples=4, weight_decay=1e-4)
  init = lambda k: losses.split_variables(enn.init(k, x[:1], enn.indexer(k)))
  train = {"image": x[:64], "label": y[:64]}
  val = {"image": x[64:], "label": y[64:]}
  return init, loss_fn, train, val


def test_vmapped_seeds_equal_single_seed_runs():
  init, loss_fn, train, val = _epinet_problem()
  kw = dict(optimizer=optax.adam(1e-2), num_steps=60, batch_size=16,
            eval_every=10, validation=val, patience=2)
  together = fit_seeds(init, loss_fn, train, (0, 3, 7), **kw)
  for i, s in enumerate((0, 3, 7)):
    alone = fit_seeds(init, loss_fn, train, (s,), **kw)
    assert alone.stop_reason[0] == together.stop_reason[i]
    assert alone.best_step[0] == together.best_step[i]
    np.testing.assert_allclose(alone.val_history[:, 0],
                               together.val_history[:len(alone.eval_steps), i],
                               rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a[0], b[i], rtol=1e-5, atol=1e-6), alone.params, together.params)
  # Different seeds train different models.
  w = jax.tree.leaves(together.params)[0]
  assert not np.allclose(w[0], w[1])


def test_same_seeds_same_numbers():
  init, loss_fn, train, val = _epinet_problem()
  kw = dict(optimizer=optax.adam(1e-2), num_steps=20, batch_size=16,
            eval_every=10, validation=val)
  a = fit_seeds(init, loss_fn, train, (1, 2), **kw)
  b = fit_seeds(init, loss_fn, train, (1, 2), **kw)
  jax.tree.map(np.testing.assert_array_equal, a.params, b.params)
  np.testing.assert_array_equal(a.val_history, b.val_history)


@pytest.mark.parametrize("kwargs, match", [
    (dict(seeds=()), "seeds must be a non-empty"),
    (dict(seeds=(1, 1)), "seeds must be distinct"),
    (dict(seeds=(0.5,)), "seeds must be a non-empty"),
    (dict(num_steps=0), "num_steps must be a positive integer"),
    (dict(eval_every=2.0), "eval_every must be a positive integer"),
    (dict(batch_size=5), r"batch_size must be None .* \[1, 4\]"),
    (dict(patience=2), "patience needs a validation split"),
    (dict(validation=_DATA, patience=0), "patience must be None"),
    (dict(min_delta=-1.0), "min_delta must be a finite number >= 0"),
    (dict(train={"a": np.zeros(3), "b": np.zeros(4)}), "same, non-zero"),
])
def test_bad_arguments_are_one_clear_error(kwargs, match):
  args = dict(train=_DATA, seeds=(0,), num_steps=3)
  args.update(kwargs)
  with pytest.raises(InputError, match=match):
    fit_seeds(lambda k: ({"w": jnp.float32(0.0)}, {}), _quadratic(1.0),
              args.pop("train"), args.pop("seeds"), optimizer=optax.sgd(0.1),
              **args)
