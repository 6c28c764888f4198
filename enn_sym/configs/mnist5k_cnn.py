"""Embedded MNIST-5k, LeNet base: base vs epinet vs ensemble vs MC dropout."""

from enn_sym.train import default_config


def get_config():
  config = default_config()
  config.models = ("base", "epinet", "ensemble", "dropout")
  config.model.base = "lenet"
  config.model.epinet.prior = "conv_ensemble"
  config.num_steps = 1500
  return config
