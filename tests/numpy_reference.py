"""Independent float64 numpy reference for the calibration metrics.

Written separately from ``enn_sym.metrics`` (explicit loops over bins and
classes, no shared code) to check it. Conventions it shares with the library
by definition, not by code:

* bins are ``[e_b, e_{b+1})`` (``(e_b, e_{b+1}]`` when ``right_closed``) with
  the first and last bins extended to cover everything, where ``e_b`` is
  ``b / M`` rounded to float32 (the library's published ``bin_edges``);
* the prediction is the first argmax of the given values;
* ``log 0`` of a probability is clipped at the smallest normal float32.
"""

import numpy as np

TINY32 = float(np.finfo(np.float32).tiny)


def softmax(logits):
  z = np.asarray(logits, np.float64)
  z = z - z.max(axis=-1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=-1, keepdims=True)


def to_probs(values, input_kind):
  if input_kind == "logits":
    return softmax(values)
  return np.asarray(values, np.float64)


def edges(num_bins):
  return np.array([float(np.float32(b / num_bins))
                   for b in range(num_bins + 1)])


def bin_members(conf, num_bins, right_closed=False):
  """A list of M boolean masks, one per bin."""
  e = edges(num_bins)
  conf = np.asarray(conf, np.float64)
  members = []
  for b in range(num_bins):
    if right_closed:
      lower = conf > e[b] if b > 0 else np.ones(conf.shape, bool)
      upper = conf <= e[b + 1] if b < num_bins - 1 else np.ones(conf.shape,
                                                                 bool)
    else:
      lower = conf >= e[b] if b > 0 else np.ones(conf.shape, bool)
      upper = conf < e[b + 1] if b < num_bins - 1 else np.ones(conf.shape,
                                                               bool)
    members.append(lower & upper)
  return members


def top_label(values, labels, num_bins, input_kind, right_closed=False):
  """ECE, MCE, RMS-CE, accuracy and per-bin arrays of top-label calibration."""
  probs = to_probs(values, input_kind)
  labels = np.asarray(labels)
  n = len(labels)
  conf = probs.max(axis=-1)
  correct = (np.argmax(np.asarray(values), axis=-1) == labels).astype(float)
  ece = mce = sq = 0.0
  bin_count, bin_acc, bin_conf = [], [], []
  for sel in bin_members(conf, num_bins, right_closed):
    nb = int(sel.sum())
    bin_count.append(nb)
    if nb == 0:
      bin_acc.append(0.0)
      bin_conf.append(0.0)
      continue
    acc_b = correct[sel].mean()
    conf_b = conf[sel].mean()
    bin_acc.append(acc_b)
    bin_conf.append(conf_b)
    ece += nb / n * abs(acc_b - conf_b)
    sq += nb / n * (acc_b - conf_b) ** 2
    mce = max(mce, abs(acc_b - conf_b))
  return {"ece": ece, "mce": mce, "rms_ce": np.sqrt(sq),
          "accuracy": correct.mean() if n else 0.0, "count": n,
          "bin_count": np.array(bin_count), "bin_accuracy": np.array(bin_acc),
          "bin_confidence": np.array(bin_conf)}


def classwise_ece(values, labels, num_bins, input_kind, right_closed=False):
  """(classwise ECE, per-class ECE array)."""
  probs = to_probs(values, input_kind)
  labels = np.asarray(labels)
  n, num_classes = probs.shape
  per_class = []
  for k in range(num_classes):
    pk = probs[:, k]
    is_k = (labels == k).astype(float)
    total = 0.0
    for sel in bin_members(pk, num_bins, right_closed):
      nb = sel.sum()
      if nb:
        total += nb / n * abs(is_k[sel].mean() - pk[sel].mean())
    per_class.append(total)
  return float(np.mean(per_class)), np.array(per_class)


def nll(values, labels, input_kind):
  probs = to_probs(values, input_kind)
  out = []
  for p, y in zip(probs, labels):
    out.append(-np.log(max(p[y], TINY32)))
  return float(np.mean(out))


def brier(values, labels, input_kind):
  probs = to_probs(values, input_kind)
  out = []
  for p, y in zip(probs, labels):
    target = np.zeros(len(p))
    target[y] = 1.0
    out.append(np.sum((p - target) ** 2))
  return float(np.mean(out))


def entropy(p):
  p = np.asarray(p, np.float64)
  logs = np.log(np.where(p > 0, p, 1.0))
  return -np.sum(p * logs, axis=-1)


def ensemble(stack, labels, num_bins, input_kind):
  """Metrics of the mean predictive of a ``[K, batch, C]`` stack."""
  member_probs = np.stack([to_probs(v, input_kind) for v in stack])
  mean = member_probs.mean(axis=0)
  out = top_label(mean, labels, num_bins, "probs")
  out["nll"] = nll(mean, labels, "probs")
  out["brier"] = brier(mean, labels, "probs")
  out["predictive_entropy"] = float(entropy(mean).mean())
  out["expected_entropy"] = float(entropy(member_probs).mean())
  out["mutual_info"] = out["predictive_entropy"] - out["expected_entropy"]
  return out


def joint_nll(member_label_probs, points):
  """Joint NLL of one dyadic batch: ``member_label_probs[k][i]`` is
  ``p_k(y_i | x_i)``; ``points`` lists the example of each of the tau draws.
  """
  k = len(member_label_probs)
  likelihood = 0.0
  for probs in member_label_probs:
    prod = 1.0
    for i in points:
      prod *= probs[i]
    likelihood += prod / k
  return -np.log(likelihood)
