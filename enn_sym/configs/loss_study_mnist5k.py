"""The calibration-loss study at CPU scale: embedded MNIST-5k, small models.

The default config of ``experiments/loss_study.py``: the same grid as
``configs/loss_study_cifar10.py`` (same losses, same optimiser recipe
shape: SGD + momentum 0.9, weight decay 5e-4, batch 128, step schedule),
with miniature versions of the three architecture families so that the whole
grid (3 x 4 cells) runs in a few minutes on 2 CPU cores:

* ``resnet_basic``: basic-block ResNet, one block per stage, three stages of
  8 / 16 / 32 filters (a "ResNet-8", the ResNet-18 family);
* ``resnet_bottleneck``: bottleneck ResNet, one block per stage, three stages
  of 4 / 8 / 16 (x4 expansion) filters (the ResNet-50 family);
* ``vgg``: VGG-BN with three stages of one conv, 8 / 16 / 32 filters.

The ResNets use the ImageNet stem (7x7 stride-2 conv + max-pool: 28x28 ->
7x7) to fit the CPU budget; the CIFAR stem would keep 28x28 maps in the
first stage and cost about 4x more.

3,500 / 500 / 1,000 train / validation / test digits; 27 steps per epoch, 10
epochs (270 steps); learning rate 0.05, divided by 10 after 5 and 7.5 epochs.
"""

import ml_collections

from enn_sym.train import default_config

TRAIN_EXAMPLES = 3_500  # 70% of the 5,000 digits
BATCH_SIZE = 128


def get_config():
  """The experiment config: ``base`` plus the grid."""
  base = default_config()
  base.data.source = "embedded"
  base.data.name = "mnist5k"
  base.models = ("base",)
  base.model.base = "resnet18"
  base.model.resnet_stem = "cifar"
  base.model.epinet.include_inputs = False
  base.model.epinet.prior = "conv_ensemble"
  base.optimizer.name = "sgd"
  base.optimizer.momentum = 0.9
  base.optimizer.learning_rate = 0.05
  base.optimizer.schedule = "step"
  base.optimizer.step_boundaries = (0.5, 0.75)
  base.optimizer.step_factor = 0.1
  base.loss.weight_decay = 5e-4
  base.batch_size = BATCH_SIZE
  base.eval_batch_size = 500
  base.eval_num_indices = 10
  base.metrics.joint_num_samples = 20
  base.progress_bar = False
  base.plots = False

  config = ml_collections.ConfigDict()
  config.base = base
  config.num_epochs = 10
  config.steps_per_epoch = TRAIN_EXAMPLES // BATCH_SIZE  # 27
  config.checkpoint_every_epochs = 5
  config.architectures = ml_collections.ConfigDict()
  config.architectures.resnet_basic = {"model": {
      "base": "resnet18", "stage_sizes": (1, 1, 1), "num_filters": 8,
      "resnet_stem": "imagenet"}}
  config.architectures.resnet_bottleneck = {"model": {
      "base": "resnet50", "stage_sizes": (1, 1, 1), "num_filters": 4,
      "resnet_stem": "imagenet"}}
  config.architectures.vgg = {"model": {
      "base": "vgg16", "stage_sizes": (1, 1, 1), "num_filters": 8}}
  # The CIFAR-10 grid's losses and hyperparameters (a test checks they match).
  config.losses = ml_collections.ConfigDict()
  config.losses.ce = {"name": "ce"}
  config.losses.entropy_reg = {"name": "entropy_reg", "alpha": 0.1}
  config.losses.logit_l1 = {"name": "logit_norm", "alpha": 0.01, "p": 1}
  config.losses.focal = {"name": "focal", "gamma": 3.0}
  config.figure_title = "MNIST-5k test ECE (15 bins) during training"
  return config
