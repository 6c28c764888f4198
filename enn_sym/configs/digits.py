"""scikit-learn's 8x8 digits (embedded), MLP base; a seconds-long smoke run."""

from enn_sym.train import default_config


def get_config():
  config = default_config()
  config.data.name = "digits"
  config.batch_size = 64
  config.num_steps = 500
  config.eval_batch_size = 120
  return config
