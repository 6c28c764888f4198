"""ImageNet-2012 from TFDS (manual download; see README), 224x224 crops.

A placeholder-sized LeNet base keeps the pipeline testable. The intended
model at this scale is ResNet-50 with the ImageNet stem:
``--config.model.base=resnet50 --config.model.resnet_stem=imagenet``.
"""

from enn_sym.train import default_config


def get_config():
  config = default_config()
  config.data.source = "tfds"
  config.data.name = "imagenet2012"
  config.data.normalize = True
  config.data.validation_split = "train[99%:]"
  config.data.train_split = "train[:99%]"
  config.data.test_split = "validation"
  config.models = ("base", "epinet")
  config.model.base = "lenet"
  config.model.lenet_channels = (32, 64)
  config.model.lenet_dense_sizes = (512,)
  config.model.epinet.prior = "conv_ensemble"
  config.optimizer.name = "sgd"
  config.optimizer.learning_rate = 0.1
  config.optimizer.schedule = "warmup_cosine"
  config.optimizer.warmup_steps = 2_000
  config.batch_size = 256
  config.num_steps = 100_000
  config.eval_every = 10_000
  config.checkpoint_every = 5_000
  config.eval_batch_size = 256
  config.eval_num_indices = 10
  return config
