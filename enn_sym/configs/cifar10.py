"""CIFAR-10 from TFDS (prepare it first: see README), LeNet base.

Standard augmentation (4-pixel pad + random crop, horizontal flip) and
per-channel normalisation. For ResNet-18/50 and VGG-16 on CIFAR-10 with the
standard recipe, see ``configs/loss_study_cifar10.py`` (one cell of it:
``experiments/loss_study.py --cells=resnet18/ce``).
"""

from enn_sym.train import default_config


def get_config():
  config = default_config()
  config.data.source = "tfds"
  config.data.name = "cifar10"
  config.data.normalize = True
  config.models = ("base", "epinet", "ensemble")
  config.model.base = "lenet"
  config.model.lenet_channels = (32, 64)
  config.model.lenet_dense_sizes = (256, 128)
  config.model.epinet.prior = "conv_ensemble"
  config.optimizer.name = "sgd"
  config.optimizer.learning_rate = 0.05
  config.optimizer.schedule = "warmup_cosine"
  config.optimizer.warmup_steps = 500
  config.loss.weight_decay = 5e-4
  config.num_steps = 20_000
  config.eval_every = 5_000
  config.checkpoint_every = 2_000
  config.eval_batch_size = 1000
  return config
