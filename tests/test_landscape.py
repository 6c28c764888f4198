"""Tests of enn_sym.landscape: components, paths, quotient, objectives."""

import flax.linen as nn
import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from enn_sym import losses
from enn_sym import metrics
from enn_sym import networks
from enn_sym._validation import InputError
from enn_sym import landscape as ls


# ---------------------------------------------------------------------------
# Components.


def _hand_graph():
  heights = np.array([0.1, 0.2, 0.3, 0.15, 0.5])
  saddles = np.full((5, 5), np.inf)
  for (i, j), w in {(0, 1): 0.4, (1, 2): 0.6, (0, 2): 0.9, (3, 4): 0.7,
                    (2, 3): 1.0}.items():
    saddles[i, j] = w
  return heights, saddles


def test_dendrogram_counts_at_every_level_hand_computed():
  heights, saddles = _hand_graph()
  d = ls.saddle_dendrogram(heights, saddles)
  levels = [0.05, 0.12, 0.16, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.95, 1.1]
  expected = [0, 1, 2, 3, 4, 3, 4, 3, 2, 2, 1]
  np.testing.assert_array_equal(d.num_components(levels), expected)
  # The redundant edge (0, 2) is not in the spanning tree.
  np.testing.assert_allclose(d.weights, [0.4, 0.6, 0.7, 1.0])
  assert ls.canonical_partition(d.labels(0.65)[:4]) == ((0, 1, 2), (3,))
  np.testing.assert_array_equal(d.labels(0.65), [0, 0, 0, 1, 2])
  np.testing.assert_array_equal(d.labels(0.12), [0, -1, -1, -1, -1])


def test_dendrogram_matches_union_find_at_each_level():
  rng = np.random.default_rng(0)
  n = 12
  heights = rng.uniform(0, 1, n)
  w = rng.uniform(0, 3, (n, n))
  w = np.where(rng.uniform(size=(n, n)) < 0.3, np.inf, w)
  d = ls.saddle_dendrogram(heights, w)
  sym = np.minimum(w, w.T)
  for c in np.linspace(0, 3.2, 40):
    active = np.flatnonzero(heights <= c)
    edges = [(a, b) for a in active for b in active
             if a < b and max(sym[a, b], heights[a], heights[b]) <= c]
    labels = ls.connected_components(n, edges)
    expected = len(set(labels[active].tolist()))
    assert d.num_components(c) == expected


def test_union_find_and_connected_components():
  uf = ls.UnionFind(5)
  assert uf.union(0, 1) and uf.union(3, 4) and not uf.union(1, 0)
  assert uf.num_sets == 3
  np.testing.assert_array_equal(ls.connected_components(5, [(4, 2), (0, 1)]),
                                [0, 0, 1, 2, 1])
  with pytest.raises(InputError, match="node id"):
    ls.connected_components(3, [(0, 3)])


def test_dendrogram_bad_input():
  with pytest.raises(InputError, match=r"saddles \[n, n\]"):
    ls.saddle_dendrogram(np.zeros(3), np.zeros((3, 2)))
  with pytest.raises(InputError, match="finite"):
    ls.saddle_dendrogram(np.array([0.0, np.nan]), np.zeros((2, 2)))


# ---------------------------------------------------------------------------
# Paths.


def _double_well(theta):
  return (theta[0] ** 2 - 1.0) ** 2


def test_linear_barrier_of_a_double_well_is_exact():
  # L(t) = ((2.2 t - 1)^2 - 1)^2 peaks at t = 1/2.2 (off the grid) with L = 1;
  # the endpoints are L(-1) = 0 and L(1.2) = 0.44^2.
  a, b = jnp.array([-1.0]), jnp.array([1.2])
  prof = ls.linear_profile(_double_well, a, b, num_points=201, num_refine=64)
  assert prof.t.shape == (265,) and np.all(np.diff(np.asarray(prof.t)) >= 0)
  np.testing.assert_allclose(prof.max_loss, 1.0, atol=2e-6)
  np.testing.assert_allclose(prof.barrier, 1.0 - 0.44 ** 2, atol=2e-6)
  np.testing.assert_allclose(prof.t_max, 1 / 2.2, atol=2e-4)
  coarse = ls.linear_profile(_double_well, a, b, num_points=201, num_refine=0)
  assert abs(float(coarse.max_loss) - 1) > abs(float(prof.max_loss) - 1)
  # A monotone path has no barrier.
  flat = ls.linear_profile(_double_well, jnp.array([1.0]), jnp.array([2.0]))
  assert float(flat.barrier) == 0.0


def _ring(theta):
  return (jnp.sum(theta ** 2) - 1.0) ** 2


def test_bezier_endpoints_fixed_and_curve_goes_round_the_ring():
  a, b = jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0])
  bends = jnp.array([[0.3, 2.0], [0.1, -1.0]])
  np.testing.assert_array_equal(ls.bezier_path(a, b, bends, 0.0), a)
  np.testing.assert_array_equal(ls.bezier_path(a, b, bends, 1.0), b)
  lin = ls.linear_profile(_ring, a, b)
  np.testing.assert_allclose(lin.barrier, 1.0, atol=1e-6)
  starts, ends = jnp.stack([a, a]), jnp.stack([b, -a + 0.0])
  bends, profs, train = ls.fit_bezier_pairs(
      _ring, starts, ends, jax.random.key(0), num_bends=1, num_steps=150,
      learning_rate=0.05, num_t=8, init_noise=0.5)
  assert bends.shape == (2, 1, 2) and train.shape == (2, 150)
  # The endpoints are not parameters: the fitted curves still start at a.
  for p in range(2):
    np.testing.assert_array_equal(
        ls.bezier_path(starts[p], ends[p], bends[p], 0.0), starts[p])
  assert np.all(np.asarray(profs.barrier) < 0.3)
  # Vmapped over pairs = one pair at a time (same per-pair key).
  one, _, _ = ls.fit_bezier_pairs(
      _ring, starts[:1], ends[:1], jax.random.key(0), num_bends=1,
      num_steps=150, learning_rate=0.05, num_t=8, init_noise=0.5)
  np.testing.assert_allclose(one[0], bends[0], rtol=1e-4, atol=1e-5)


def test_path_bad_input():
  a = jnp.zeros((3, 2))
  with pytest.raises(InputError, match="num_bends"):
    ls.fit_bezier_pairs(_ring, a, a, jax.random.key(0), num_bends=0)
  with pytest.raises(InputError, match=r"\[pairs, D\]"):
    ls.linear_profiles(_ring, a, jnp.zeros((2, 2)))
  with pytest.raises(InputError, match="num_points"):
    ls.linear_profile(_ring, a[0], a[1], num_points=2)
  with pytest.raises(InputError, match="n >= 2"):
    ls.analyze_connectivity(_ring, np.zeros((1, 2)), key=jax.random.key(0))


# ---------------------------------------------------------------------------
# Quotient.


def _random_layers(rng, sizes):
  return [(rng.standard_normal((i, o)), rng.standard_normal(o))
          for i, o in zip(sizes[:-1], sizes[1:])]


@hypothesis.given(seed=st.integers(0, 2 ** 16),
                  widths=st.lists(st.integers(1, 7), min_size=1, max_size=3))
@hypothesis.settings(max_examples=25)
def test_permuting_hidden_units_leaves_outputs_unchanged(seed, widths):
  rng = np.random.default_rng(seed)
  layers = _random_layers(rng, [4] + widths + [3])
  perms = [rng.permutation(w) for w in widths]
  x = rng.standard_normal((5, 4))
  np.testing.assert_allclose(ls.mlp_apply(ls.permute_hidden(layers, perms), x),
                             ls.mlp_apply(layers, x), rtol=1e-10, atol=1e-10)


@hypothesis.given(seed=st.integers(0, 2 ** 16),
                  widths=st.lists(st.integers(1, 7), min_size=1, max_size=3),
                  slope=st.sampled_from([0.0, 0.2]))
@hypothesis.settings(max_examples=25)
def test_rescaling_normalisation_leaves_relu_outputs_unchanged(seed, widths,
                                                               slope):
  rng = np.random.default_rng(seed)
  layers = _random_layers(rng, [4] + widths + [3])
  x = rng.standard_normal((5, 4))
  norm = ls.normalize_rescaling(layers)
  np.testing.assert_allclose(ls.mlp_apply(norm, x, slope),
                             ls.mlp_apply(layers, x, slope), rtol=1e-9,
                             atol=1e-9)
  # A canonical form: idempotent, and the same for every rescaled copy.
  scales = [rng.uniform(0.2, 5.0, w) for w in widths]
  scaled = [list(l) for l in layers]
  for l, s in enumerate(scales):
    scaled[l] = [scaled[l][0] * s, scaled[l][1] * s]
    scaled[l + 1] = [scaled[l + 1][0] / s[:, None], scaled[l + 1][1]]
  for (k1, b1), (k2, b2), (k3, b3) in zip(
      norm, ls.normalize_rescaling(norm), ls.normalize_rescaling(scaled)):
    np.testing.assert_allclose(k2, k1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(k3, k1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b3, b1, rtol=1e-9, atol=1e-12)


@hypothesis.given(seed=st.integers(0, 2 ** 16))
@hypothesis.settings(max_examples=15)
def test_weight_matching_recovers_a_random_permutation_exactly(seed):
  rng = np.random.default_rng(seed)
  layers = _random_layers(rng, [5, 8, 6, 3])
  perms = [rng.permutation(8), rng.permutation(6)]
  shuffled = ls.permute_hidden(layers, perms)
  found = ls.weight_matching(layers, shuffled)
  for (k, b), (k2, b2) in zip(ls.permute_hidden(shuffled, found), layers):
    np.testing.assert_array_equal(k, k2)
    np.testing.assert_array_equal(b, b2)


def test_aligner_on_a_flax_mlp_keeps_both_functions():
  x = jax.random.normal(jax.random.key(1), (7, 6))
  flat = ls.flatten_module(networks.MLP(3, hidden_sizes=(5, 4)), x)
  a = flat.init(jax.random.key(2))
  params = flat.unravel(a)
  layers = ls.dense_layers(jax.tree.map(np.asarray, params))
  perms = [np.random.default_rng(0).permutation(5),
           np.random.default_rng(1).permutation(4)]
  shuffled = ls.with_dense_layers(params, ls.permute_hidden(layers, perms))
  b = jax.flatten_util.ravel_pytree(shuffled)[0]
  a2, b2 = ls.make_aligner(flat.unravel)(a, b)
  for before, after in ((a, a2), (b, b2)):
    np.testing.assert_allclose(flat.apply(jnp.asarray(after), x),
                               flat.apply(before, x), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(a2, b2, rtol=1e-5, atol=1e-6)  # same point now
  with pytest.raises(InputError, match="permute=True or rescale=True"):
    ls.make_aligner(flat.unravel, permute=False, rescale=False)
  with pytest.raises(InputError, match="one permutation per hidden layer"):
    ls.permute_hidden(layers, perms[:1])


# ---------------------------------------------------------------------------
# Objectives.


def _direct_smooth_ece(logits, labels, bandwidth=0.1, grid_size=32):
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  n, c = p.shape
  r = np.eye(c)[labels] - p
  lo, hi = -4 * bandwidth, 1 + 4 * bandwidth
  step = (hi - lo) / grid_size
  t = lo + step * (np.arange(grid_size) + 0.5)
  k = np.exp(-0.5 * ((t[:, None, None] - p[None]) / bandwidth) ** 2)
  k /= bandwidth * np.sqrt(2 * np.pi)
  return np.abs(np.einsum("tnc,nc->tc", k, r) / n).sum() * step / c


def _tiny_task():
  x = jax.random.normal(jax.random.key(0), (40, 6))
  y = jax.random.randint(jax.random.key(1), (40,), 0, 4)
  flat = ls.flatten_module(networks.MLP(4, hidden_sizes=(5,)), x)
  return x, y, flat


def test_objective_terms_match_losses_and_metrics():
  x, y, flat = _tiny_task()
  theta = 3.0 * flat.init(jax.random.key(3))
  obj = ls.make_objective(flat.apply, x, y, calibration="smooth_ece",
                          nll_bound=0.5, nll_penalty=4.0, nll_weight=0.1)
  logits = flat.apply(theta, x)
  rep = obj.report(theta)
  nll = float(jnp.mean(losses.cross_entropy(logits, y)))
  np.testing.assert_allclose(rep["nll"], nll, rtol=1e-6)
  np.testing.assert_allclose(
      rep["soft_ece"], losses.soft_binned_ece(logits, y, num_bins=15,
                                              temperature=0.01), rtol=1e-6)
  np.testing.assert_allclose(
      rep["hard_ece"], metrics.expected_calibration_error(
          logits, y, 15, input_kind="logits"), rtol=1e-6)
  direct = _direct_smooth_ece(np.asarray(logits, np.float64), np.asarray(y))
  np.testing.assert_allclose(rep["smooth_ece"], direct, rtol=2e-3)
  np.testing.assert_allclose(ls.smooth_ece(logits, y), direct, rtol=2e-3)
  expected = direct + 0.1 * nll + 4.0 * max(nll - 0.5, 0.0) ** 2
  np.testing.assert_allclose(obj.loss(theta), expected, rtol=2e-3)
  np.testing.assert_allclose(rep["loss"], obj.loss(theta), rtol=1e-6)
  soft = ls.make_objective(flat.apply, x, y, calibration="soft_ece")
  np.testing.assert_allclose(soft.loss(theta), rep["soft_ece"], rtol=1e-6)
  plain = ls.make_objective(flat.apply, x, y, calibration="none",
                            nll_weight=1.0)
  np.testing.assert_allclose(plain.loss(theta), nll, rtol=1e-6)


def test_smooth_ece_is_continuous_where_the_argmax_flips():
  labels = jnp.array([0, 1, 1])
  base = jnp.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
  eps = jnp.array([[1e-4, 0.0], [0.0, 0.0], [0.0, 0.0]])
  up, down = base + eps, base - eps  # example 0 flips class
  soft = [float(losses.soft_binned_ece(v, labels)) for v in (up, down)]
  smooth = [float(ls.smooth_ece(v, labels)) for v in (up, down)]
  assert abs(soft[0] - soft[1]) > 5e-3  # the hard argmax jumps
  assert abs(smooth[0] - smooth[1]) < 5e-4  # O(eps)


def test_objective_bad_input():
  x, y, flat = _tiny_task()
  with pytest.raises(InputError, match="calibration must be one of"):
    ls.make_objective(flat.apply, x, y, calibration="ece")
  with pytest.raises(InputError, match="objective is empty"):
    ls.make_objective(flat.apply, x, y, calibration="none")
  with pytest.raises(InputError, match="nll_bound"):
    ls.make_objective(flat.apply, x, y, nll_bound=-1.0)
  with pytest.raises(InputError, match="bandwidth"):
    ls.smooth_ece(jnp.zeros((2, 3)), jnp.array([0, 1]), bandwidth=0.0)

  class WithStats(nn.Module):

    @nn.compact
    def __call__(self, x):
      return nn.BatchNorm(use_running_average=True)(nn.Dense(2)(x))

  with pytest.raises(InputError, match="only collection is 'params'"):
    ls.flatten_module(WithStats(), x)


# ---------------------------------------------------------------------------
# Regression tests (review fixes).


def test_bezier_path_is_a_precision_independent_weighted_sum():
  # A dot would run at the backend's default matmul precision (TF32 on
  # recent GPUs, bf16 passes on TPU) and move the curve, endpoints included.
  a, b = jnp.array([0.1, -3.7, 2.3]), jnp.array([1.9, 0.3, -0.7])
  bends = jnp.array([[0.3, 2.0, 1.1], [0.1, -1.0, 5.3]])
  ts = jnp.linspace(0.0, 1.0, 5)
  path = jax.vmap(lambda t: ls.bezier_path(a, b, bends, t))
  assert "dot_general" not in str(jax.make_jaxpr(path)(ts))
  with jax.default_matmul_precision("bfloat16"):
    pts = path(ts)
  np.testing.assert_array_equal(pts[0], a)
  np.testing.assert_array_equal(pts[-1], b)
  control = np.concatenate([a[None], bends, b[None]]).astype(np.float64)
  t = np.asarray(ts, np.float64)[:, None]
  coeff = np.concatenate([(1 - t) ** 3, 3 * (1 - t) ** 2 * t,
                          3 * (1 - t) * t ** 2, t ** 3], axis=1)
  np.testing.assert_allclose(pts, coeff @ control, rtol=1e-6, atol=1e-6)


def test_objective_validates_smooth_ece_and_soft_ece_settings():
  x, y, flat = _tiny_task()
  for kw, name in ((dict(bandwidth=0.0), "bandwidth"),
                   (dict(grid_size=1.5), "grid_size"),
                   (dict(grid_size=1), "grid_size"),
                   (dict(soft_temperature=0.0), "soft_temperature")):
    with pytest.raises(InputError, match=name):
      ls.make_objective(flat.apply, x, y, **kw)


def test_batch_sizes_and_report_points_are_validated():
  a = jnp.zeros((3, 2))
  with pytest.raises(InputError, match="batch_size"):
    ls.linear_profiles(_ring, a, a + 1.0, batch_size=0)
  with pytest.raises(InputError, match="batch_size"):
    ls.fit_bezier_pairs(_ring, a, a + 1.0, jax.random.key(0), batch_size=-1)
  with pytest.raises(InputError, match="t_batch_size"):
    ls.profile(lambda t: t, t_batch_size=0)
  m = np.array([[-1.0, 0.0], [1.0, 0.0]])
  with pytest.raises(InputError, match="batch_size"):
    ls.analyze_connectivity(_ring, m, key=jax.random.key(0), batch_size=0)
  with pytest.raises(InputError, match="report_points"):
    ls.analyze_connectivity(_ring, m, key=jax.random.key(0), curves=False,
                            report_fn=lambda th: {"l": _ring(th)},
                            report_points=1)
  with pytest.raises(InputError, match="integer node ids"):
    ls.analyze_connectivity(_ring, m, key=jax.random.key(0), curves=False,
                            pairs=[[0.0, 1.5]])


def test_repeated_or_reversed_pair_keeps_the_lower_saddle():
  # Reversed pairs get different aligned representatives, hence different
  # saddles; the lower one is a path that was found and must be kept.
  from enn_sym.landscape import _analysis  # pylint: disable=g-import-not-at-top
  pairs = np.array([[0, 1], [1, 0], [0, 2], [0, 2]])
  out = _analysis._to_matrix(3, pairs, [0.2, 0.5, 0.9, np.nan])
  assert out[0, 1] == out[1, 0] == 0.2
  assert out[0, 2] == out[2, 0] == 0.9
  m = np.array([[-1.0, 0.0], [1.0, 0.0]])

  def align(x, y):  # moves the second end off the ring when x[0] > 0
    return x, (y if x[0] < 0 else 3.0 * y)

  res = ls.analyze_connectivity(_ring, m, key=jax.random.key(0), curves=False,
                                align=align, pairs=[[0, 1], [1, 0]],
                                num_points=21, num_refine=2)
  np.testing.assert_allclose(res.linear_saddle[0, 1], 1.0, atol=1e-6)
  assert res.linear.num_components(1.01) == 1


def test_with_dense_layers_writes_back_to_the_names_it_read():
  params = {"Dense_0": {"kernel": np.ones((2, 3)), "bias": np.zeros(3)},
            "Dense_2": {"kernel": np.ones((3, 1)), "bias": np.zeros(1)},
            "Other": {"scale": np.ones(())}}
  layers = ls.dense_layers(params)
  new = ls.with_dense_layers(params, [(2 * k, b + 1) for k, b in layers])
  assert sorted(new) == ["Dense_0", "Dense_2", "Other"]
  np.testing.assert_array_equal(new["Dense_2"]["kernel"], 2 * np.ones((3, 1)))
  np.testing.assert_array_equal(new["Dense_0"]["bias"], np.ones(3))


def test_canonical_partition_leaves_out_nodes_above_the_level():
  heights, saddles = _hand_graph()
  d = ls.saddle_dendrogram(heights, saddles)
  # At c = 0.16 nodes 0 and 3 exist (no edge yet); 1, 2, 4 are above c and
  # must not form a "component" of their own.
  assert ls.canonical_partition(d.labels(0.16)) == ((0,), (3,))
  assert len(ls.canonical_partition(d.labels(0.16))) == d.num_components(0.16)


# ---------------------------------------------------------------------------
# Relative levels, adaptive search, certificates.


def test_relative_and_quantile_levels_hand_computed():
  heights = np.array([3.0, 1.0, 10.0, 2.0])  # min 1, median 2.5
  np.testing.assert_allclose(ls.relative_levels(heights, [0.0, 1.0, 2.0]),
                             [1.0, 2.5, 4.0])
  np.testing.assert_allclose(ls.quantile_levels(heights, [0.0, 0.5, 1.0]),
                             [1.0, 2.5, 10.0])
  np.testing.assert_allclose(ls.quantile_levels(heights, 0.25),
                             np.quantile(heights, 0.25))
  # Scale-free: the same relative level selects the same minima.
  d = ls.saddle_dendrogram(heights, np.full((4, 4), np.inf))
  d10 = ls.saddle_dendrogram(10 * heights + 5, np.full((4, 4), np.inf))
  np.testing.assert_array_equal(
      d.num_components(ls.relative_levels(heights, [0.5, 1, 3])),
      d10.num_components(ls.relative_levels(10 * heights + 5, [0.5, 1, 3])))
  with pytest.raises(InputError, match="deltas"):
    ls.relative_levels(heights, [-1.0])
  with pytest.raises(InputError, match="quantiles"):
    ls.quantile_levels(heights, [1.5])
  with pytest.raises(InputError, match="heights"):
    ls.relative_levels([np.nan], [1.0])


def _ring_points(angles):
  return np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)


# One setting for the search tests: they share the compiled curve fits.
_SEARCH = dict(schedule=((1, 60), (2, 60)), rtol=0.05, atol=1e-4,
               learning_rate=0.05, init_noise=0.5, num_points=51,
               num_refine=4)


@pytest.mark.slow  # compiles two curve budgets (~10 s on 2 shared cores)
def test_search_paths_spends_budget_only_where_the_barrier_improves():
  # Two antipodal minima of the ring (straight barrier 1, a curve round the
  # ring ~0) and a near pair joined by the segment already.
  minima = _ring_points(np.array([0.0, np.pi, 0.05]))
  res = ls.search_paths(_ring, minima, key=jax.random.key(0), **_SEARCH)
  pairs = [tuple(p) for p in res.pairs.tolist()]
  near = pairs.index((0, 2))
  far = pairs.index((0, 1))
  assert res.stop_reason[near] == "flat" and res.total_steps[near] == 0
  assert res.best_bends[near] == 0  # the segment was best
  np.testing.assert_allclose(res.linear_barrier[far], 1.0, atol=1e-3)
  assert res.barrier[far] < 0.05 and res.best_bends[far] >= 1
  assert res.stop_reason[far] in ("flat", "converged", "budget")
  assert res.total_steps[far] == 60 * res.stages[far] > 0
  assert set(res.stop_reason) <= set(ls.STOP_REASONS)
  assert np.all(res.barrier <= res.linear_barrier + 1e-7)
  assert res.combined.num_components(0.1) == 1
  assert res.linear.num_components(0.1) == 2
  assert "upper bounds" in res.note
  # Deterministic.
  again = ls.search_paths(_ring, minima, key=jax.random.key(0), **_SEARCH)
  np.testing.assert_array_equal(again.best_saddle, res.best_saddle)


@pytest.mark.slow
def test_search_paths_level_stops_and_pruning():
  # Quarter turns: the segments 0-1 and 1-2 stay below 0.5 (loss 0.25 at
  # their midpoints); 0-2 is antipodal (segment barrier 1) but joined
  # through 1 at the level, so it is pruned without a curve fit.
  minima = _ring_points(np.array([0.0, np.pi / 2, np.pi]))
  res = ls.search_paths(_ring, minima, key=jax.random.key(0),
                        **{**_SEARCH, "atol": 0.0}, level=0.5,
                        pairs=[[0, 1], [1, 2], [0, 2]])
  assert res.stop_reason == ["joined_at_level", "joined_at_level",
                             "connected_at_level"]
  assert np.all(res.total_steps == 0)
  np.testing.assert_allclose(res.linear_barrier, [0.25, 0.25, 1.0],
                             atol=1e-3)
  far = _ring_points(np.array([0.0, np.pi]))
  res = ls.search_paths(_ring, far, key=jax.random.key(0), **_SEARCH,
                        level=1e-3)
  assert res.total_steps[0] >= 60  # not joined: curves were fitted
  with pytest.raises(InputError, match="schedule"):
    ls.search_paths(_ring, far, key=jax.random.key(0), schedule=())
  with pytest.raises(InputError, match="num_bends"):
    ls.search_paths(_ring, far, key=jax.random.key(0), schedule=((0, 5),))
  with pytest.raises(InputError, match="pairs"):
    ls.search_paths(_ring, far, key=jax.random.key(0), pairs=[[0, 0]])


def test_certify_hand_computed():
  saddle = np.array([[np.inf, 0.5, 2.0], [0.5, np.inf, 3.0],
                     [2.0, 3.0, np.inf]])
  out = ls.certify(saddle, [0, 0, 1], certificate=1.5)
  assert out["best_cross_saddle"] == 2.0 and out["num_cross_pairs"] == 2
  np.testing.assert_allclose(out["ratio"], 2.0 / 1.5)
  assert out["holds"]
  assert not ls.certify(saddle, [0, 1, 1], certificate=1.5)["holds"]  # 0.5


def test_compare_is_a_welch_interval():
  from scipy import stats  # pylint: disable=g-import-not-at-top
  a = [[1.0, 4.0], [2.0, 4.0], [3.0, 4.0]]
  b = [[1.0, 1.0], [1.0, 1.0], [1.5, 1.0]]
  out = ls.compare(a, b)
  ref = stats.ttest_ind(np.asarray(a)[:, 0], np.asarray(b)[:, 0],
                        equal_var=False).confidence_interval(0.95)
  np.testing.assert_allclose(out[0]["ci95"], [ref.low, ref.high], rtol=1e-10)
  np.testing.assert_allclose(out[0]["diff"], 2.0 - 7 / 6)
  assert not out[0]["measurable"]  # 3 seeds: the interval includes 0
  assert out[1] == {"diff": 3.0, "ci95": [3.0, 3.0], "measurable": True}


def test_summarize_search_lists_labels_per_minimum_and_level():
  heights = np.array([0.0, 0.1, 0.2, 1.0])
  saddles = np.full((4, 4), np.inf)
  saddles[0, 1] = 0.15
  saddles[2, 3] = 5.0
  d = ls.saddle_dendrogram(heights, saddles)
  res = ls.SearchResult(
      heights=heights, pairs=np.array([[0, 1], [2, 3]]), saddle=saddles,
      best_saddle=np.array([0.15, 5.0]), barrier=np.array([0.05, 4.0]),
      linear_barrier=np.array([1.0, 4.0]), best_bends=np.array([1, 0]),
      best_steps=np.array([10, 0]), total_steps=np.array([10, 20]),
      stages=np.array([1, 2]), stop_reason=["flat", "converged"],
      combined=d, linear=d, level=None, timings={})
  info = [{"vn_label": "+|F+"}, {"vn_label": "-|F+"}, {"vn_label": "+|F+"},
          {"vn_label": "+|F+"}]
  out = ls.summarize_search(res, [1.0, 10.0], info)  # median 0.15
  np.testing.assert_allclose(out["levels"], [0.15, 1.5])
  assert out["components"] == [1, 3]  # {0, 1}; then {0, 1}, {2}, {3}
  assert [m["component_by_level"] for m in out["minima"]] == [
      [0, 0], [0, 0], [-1, 1], [-1, 2]]
  assert out["num_label_classes"] == 2
  assert out["mixed_components"] == [1, 1]  # {0, 1} holds both labels


def _run_summary(counts, reasons):
  return {"deltas": [1.0, 10.0], "components": counts,
          "components_linear": counts, "barriers": [0.1, 0.2],
          "minima": [{"stop_reason": r} for r in reasons]}


def test_report_lists_stop_reasons_training_and_honest_verdicts():
  runs = {
      "mlp/nll": [_run_summary([2, 1], ["early_stopping", "max_steps"]),
                  _run_summary([3, 1], ["early_stopping"] * 2),
                  _run_summary([1, 1], ["early_stopping"] * 2)],
      "vn_mlp/nll": [_run_summary([2, 5], ["early_stopping"] * 2),
                     _run_summary([3, 5], ["max_steps"] * 2),
                     _run_summary([1, 5], ["early_stopping"] * 2)]}
  agg = ls.aggregate_runs(runs)
  assert agg["mlp/nll"]["minima_stop_reasons"] == {"early_stopping": 5,
                                                   "max_steps": 1}
  results = {"aggregate": agg, "runs": runs, "wall_seconds": 90.0,
             "num_cpus": 2, "comparisons": ls.compare_runs(runs, ["nll"]),
             "config": {"train": {"learning_rate": 0.01,
                                  "schedule": "constant", "num_steps": 800,
                                  "patience": 5, "eval_every": 100,
                                  "min_delta": 1e-4}}}
  text = ls.markdown_report(results, "python experiments/landscape.py")
  assert "| early_stopping 5, max_steps 1 |" in text
  assert "| early_stopping 4, max_steps 2 |" in text
  assert "learning rate 0.01 (constant), at most 800 steps" in text
  assert "(1.5 min)" in text
  # delta = 1: the same counts, the CI straddles zero; delta = 10: +4.
  line = next(x for x in text.splitlines() if x.startswith("- delta=1:"))
  assert line.startswith("- delta=1: +0.00 [-") and line.endswith(
      "(no measurable difference)")
  assert "- delta=10: +4.00 [+4.00, +4.00] (measurable)" in text
  assert "nll: VN-MLP minus MLP at delta=10" in text
  assert "tests/test_landscape_zhao.py" in text


def test_landscape_package_does_not_train():
  # An analysis package: minima come from elsewhere (enn_sym.train.fit_seeds
  # in experiments/landscape.py); the package must not import the trainer.
  import ast  # pylint: disable=g-import-not-at-top
  import pathlib  # pylint: disable=g-import-not-at-top
  root = pathlib.Path(ls.__file__).parent
  for path in root.glob("*.py"):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
      names = []
      if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        names = [node.module or ""] + [f"{node.module}.{a.name}"
                                       for a in node.names]
      assert not any(n == "enn_sym.train" or n.startswith("enn_sym.train.")
                     for n in names), (path.name, names)
  assert not hasattr(ls, "sample_minima") and not hasattr(ls, "train_many")
