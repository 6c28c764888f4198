"""The calibration-loss study on CIFAR-10 (TFDS): ResNet-18/50, VGG-16-BN x
cross-entropy, entropy regularisation, L1 logit penalty, focal loss.

Used by ``experiments/loss_study.py`` (prepare CIFAR-10 first: see README).
``base`` is the training config of every cell; ``architectures`` and
``losses`` hold each cell's overrides of ``base`` (nested like ``base``).

The recipe (Mukhoti et al. 2020, Sec. 5; the usual CIFAR ResNet recipe):
45,000 / 5,000 / 10,000 train / validation / test images, 4-pixel pad +
random crop + flip, per-channel normalisation; SGD with momentum 0.9,
batch 128, weight decay 5e-4 (coupled L2 on every weight, as PyTorch's
``weight_decay``), 350 epochs, learning rate 0.1, divided by 10 after 150
and 250 epochs. Test ECE (15 bins) after every epoch; temperature fitted on
the validation split at the end. On a GPU/TPU set
``--config.base.model.dtype=bfloat16`` (mixed precision).

Epinet variant: ``--config.base.models="('base','epinet')"`` (jointly
trained base), plus ``--config.base.model.epinet.freeze_base=True`` for an
epinet head trained on the frozen, finished base.
"""

import ml_collections

from enn_sym.train import default_config

TRAIN_EXAMPLES = 45_000  # train[:90%]
BATCH_SIZE = 128


def loss_grid() -> ml_collections.ConfigDict:
  """The four losses and their hyperparameters (overrides of ``base.loss``)."""
  losses = ml_collections.ConfigDict()
  losses.ce = {"name": "ce"}
  # CE - alpha * H(p) (Pereyra et al. 2017).
  losses.entropy_reg = {"name": "entropy_reg", "alpha": 0.1}
  # CE + alpha * ||logits||_1.
  losses.logit_l1 = {"name": "logit_norm", "alpha": 0.01, "p": 1}
  # Focal loss, gamma = 3 (Mukhoti et al. 2020's FL-3).
  losses.focal = {"name": "focal", "gamma": 3.0}
  return losses


def get_config():
  """The experiment config: ``base`` plus the grid."""
  base = default_config()
  base.data.source = "tfds"
  base.data.name = "cifar10"
  base.data.normalize = True
  base.data.train_split = "train[:90%]"
  base.data.validation_split = "train[90%:]"
  base.data.test_split = "test"
  base.models = ("base",)
  base.model.base = "resnet18"
  base.model.num_filters = 64
  base.model.resnet_stem = "cifar"
  base.model.dtype = "float32"
  base.model.epinet.include_inputs = False
  base.model.epinet.hidden_sizes = (50, 50)
  base.model.epinet.prior = "conv_ensemble"
  base.optimizer.name = "sgd"
  base.optimizer.momentum = 0.9
  base.optimizer.learning_rate = 0.1
  base.optimizer.schedule = "step"
  base.optimizer.step_boundaries = (150 / 350, 250 / 350)
  base.optimizer.step_factor = 0.1
  base.loss.weight_decay = 5e-4
  base.batch_size = BATCH_SIZE
  base.eval_batch_size = 1000
  base.eval_num_indices = 10
  base.progress_bar = True
  base.plots = True

  config = ml_collections.ConfigDict()
  config.base = base
  config.num_epochs = 350
  # Evaluation after every epoch: eval_every = steps_per_epoch.
  config.steps_per_epoch = TRAIN_EXAMPLES // BATCH_SIZE  # 351
  config.checkpoint_every_epochs = 5
  config.architectures = ml_collections.ConfigDict()
  config.architectures.resnet18 = {"model": {"base": "resnet18"}}
  config.architectures.resnet50 = {"model": {"base": "resnet50"}}
  config.architectures.vgg16 = {"model": {"base": "vgg16"}}
  config.losses = loss_grid()
  config.figure_title = "CIFAR-10 test ECE (15 bins) during training"
  return config
