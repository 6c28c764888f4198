"""Invariance of a whole ENN (base, epinet head and prior) by group averaging.

Where the symmetry sits changes what the epistemic uncertainty can express:

* ``placement="base"``: only the base network (the mean prediction) is
  invariant (``GroupAveraged`` or ``Canonicalized`` around the base). The
  epinet head still sees the raw input and the prior is not invariant, so the
  *uncertainty* may differ between ``x`` and ``g x`` even though the base
  logits cannot.
* ``placement="base+head"``: the base is invariant and the epinet head sees
  only the invariant features (no raw input), so the whole trainable part is
  invariant; the fixed prior is not, so prior-driven uncertainty still varies
  along an orbit.
* ``placement="all"`` (this module): every index's prediction is averaged over
  the group, ``f_G(x, z) = (1/|G|) sum_g f(g x, z)``, so the full predictive
  distribution over ``z`` is invariant. Uncertainty can then no longer flag
  that two members of an orbit should be told apart (the 6-vs-9 probe).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from enn_sym import base as base_lib

AVERAGES = ("logits", "probs")


def make_group_averaged_enn(enn: base_lib.EpistemicNetwork, group, *,
                            average: str = "logits",
                            elements=None) -> base_lib.EpistemicNetwork:
  """The ENN with every index's output averaged over ``elements`` of ``group``.

  Args:
    enn: any ENN.
    group: a group with ``act(g, x)`` and, unless ``elements`` is given,
      ``elements()``.
    average: ``"logits"`` averages ``train`` and ``prior`` logits separately
      (so ``preds`` is the average of ``preds``); ``"probs"`` returns
      ``log mean_g softmax(preds_g)`` as the trainable logits (prior folded
      in through ``stop_gradient``, ``prior`` = 0), whose softmax is the
      average probability.
    elements: element codes to average over (default: all of a finite group).

  Returns:
    An ENN with the same ``init`` and indexer; ``apply`` vmaps over the
    elements (one batched call, no Python loop).
  """
  if average not in AVERAGES:
    raise ValueError(f"average must be one of {AVERAGES}; got {average!r}.")
  if elements is None:
    elements = group.elements()
  elements = jnp.asarray(elements)

  def apply(variables, x, z, **kwargs):
    outs = jax.vmap(lambda g: enn.apply(variables, group.act(g, x), z,
                                        **kwargs))(elements)
    extra = {k: v for k, v in outs.extra.items()
             if k != base_lib.BATCH_STATS}
    extra = jax.tree.map(lambda v: jnp.mean(v, axis=0), extra)
    if base_lib.BATCH_STATS in outs.extra:
      extra[base_lib.BATCH_STATS] = jax.tree.map(
          lambda v: jnp.mean(v, axis=0), outs.extra[base_lib.BATCH_STATS])
    if average == "logits":
      return base_lib.ENNOutput(jnp.mean(outs.train, 0),
                                jnp.mean(outs.prior, 0), extra)
    logp = jax.nn.log_softmax(outs.preds, axis=-1)
    train = jax.nn.logsumexp(logp, axis=0) - jnp.log(elements.shape[0])
    return base_lib.ENNOutput(train, jnp.zeros_like(train), extra)

  return base_lib.EpistemicNetwork(enn.init, apply, enn.indexer)
