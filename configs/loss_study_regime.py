"""The calibration-loss study in its regime: a LeNet on digits, over-trained.

The claims the loss study tests (cross-entropy is over-confident; entropy
regularisation is ineffective; the L1 logit penalty and focal loss lower the
ECE) are about the regime in which training drives the train NLL to zero
and the *test* NLL turns upward. ``configs/loss_study_mnist5k.py`` stops
after 10 epochs with a decaying learning rate, before that regime. This
config trains far past the turn on purpose:

* a LeNet (two 5x5 conv layers with 6 / 16 channels, dense 120 / 84) on the
  embedded 8x8 digits (1,797 images), split 30 / 10 / 60%: 539 / 180 /
  1,078 train / validation / test images (a small train set reaches the
  regime in few steps; a large test set keeps the ECE estimate usable);
  batch 32, 16 steps per epoch, one fused 16-step call per epoch;
* Adam with a constant learning rate 3e-3, no weight decay, no early
  stopping (the over-training regime is the point; the epoch of the lowest
  test NLL is reported per seed instead); 120 epochs, test metrics after
  every epoch, the temperature fitted on the validation split at the end;
* the loss axis: ``ce``, ``entropy_reg`` (alpha 0.1) and ``logit_l1``
  (alpha 0.01) as in the CIFAR-10 grid, and focal loss with gamma 1, 2 and
  3 as separate cells;
* five seeds, trained in one seed-vmapped program per cell.

Why digits and not MNIST-5k: a LeNet on 28x28 MNIST-5k trained at about 260
examples/s on the 2 shared CPU cores (one seed); cross-entropy's test NLL
had not clearly turned by epoch 14, and the 6 x 5 grid past the turn would
need hours. The 8x8 digits train about 20x faster per example.

``python experiments/loss_study.py --config configs/loss_study_regime.py``
"""

import ml_collections

from enn_sym.train import default_config

TRAIN_EXAMPLES = 539  # 30% of the 1,797 digits (stratified split)
BATCH_SIZE = 32
STEPS_PER_EPOCH = TRAIN_EXAMPLES // BATCH_SIZE  # 16


def get_config():
  """The experiment config: ``base`` plus the grid (one arch x 6 losses)."""
  base = default_config()
  base.data.source = "embedded"
  base.data.name = "digits"
  base.data.fractions = (0.3, 0.1, 0.6)
  base.models = ("base",)
  base.model.base = "lenet"
  base.optimizer.name = "adam"
  base.optimizer.learning_rate = 3e-3
  base.optimizer.schedule = "constant"
  base.loss.weight_decay = 0.0
  base.early_stopping.patience = 0
  base.batch_size = BATCH_SIZE
  base.eval_batch_size = 539
  base.metrics.joint_num_samples = 10
  base.metrics.bootstrap_replicates = 0
  base.metrics.registered = ()
  base.steps_per_call = STEPS_PER_EPOCH
  base.progress_bar = False
  base.plots = False

  config = ml_collections.ConfigDict()
  config.base = base
  config.num_epochs = 120
  config.steps_per_epoch = STEPS_PER_EPOCH
  config.base.num_steps = config.get_ref("num_epochs") * STEPS_PER_EPOCH
  config.base.eval_every = STEPS_PER_EPOCH
  config.base.log_every = STEPS_PER_EPOCH
  config.base.checkpoint_every = STEPS_PER_EPOCH * 10
  config.seeds = (0, 1, 2, 3, 4)
  config.axes = ml_collections.ConfigDict()
  config.axes.arch = {"lenet": {"model": {"base": "lenet"}}}
  config.axes.loss = {
      "ce": {"loss": {"name": "ce"}},
      "entropy_reg": {"loss": {"name": "entropy_reg", "alpha": 0.1}},
      "logit_l1": {"loss": {"name": "logit_norm", "alpha": 0.01, "p": 1}},
      "focal_g1": {"loss": {"name": "focal", "gamma": 1.0}},
      "focal_g2": {"loss": {"name": "focal", "gamma": 2.0}},
      "focal_g3": {"loss": {"name": "focal", "gamma": 3.0}}}
  config.axis_order = ("arch", "loss")
  config.exclude = ()
  config.figure_title = ("digits LeNet, Adam 3e-3 constant, no weight decay: "
                         "test metrics (5 seeds, 95% CI)")
  return config
