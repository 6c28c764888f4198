"""Embedded MNIST-5k, MLP base: base vs epinet vs ensemble vs MC dropout."""

from enn_sym.train import default_config


def get_config():
  config = default_config()
  config.models = ("base", "epinet", "ensemble", "dropout")
  config.model.base = "mlp"
  return config
