"""MNIST from TFDS (prepare it first: see README), LeNet base."""

from enn_sym.train import default_config


def get_config():
  config = default_config()
  config.data.source = "tfds"
  config.data.name = "mnist"
  config.models = ("base", "epinet", "ensemble", "dropout")
  config.model.base = "lenet"
  config.model.epinet.prior = "conv_ensemble"
  config.num_steps = 10_000
  config.eval_every = 2_000
  config.checkpoint_every = 2_000
  config.eval_batch_size = 1000
  return config
