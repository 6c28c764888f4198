"""The main job: base MLP vs epinet vs deep ensemble on embedded MNIST-5k."""

from enn_sym.train import default_config


def get_config():
  return default_config()
