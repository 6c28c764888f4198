"""Augmentation and normalisation in numpy (and PIL for ImageNet resizing).

A preprocess maps a batch of raw images to ``float32 [B, H, W, C]``:
``preprocess(images, step=t)``. uint8 images are scaled by 1/255 first (any
integer dtype is treated as 0..255 pixels); float images are taken to be in
``[0, 1]`` already (the embedded data sets). Augmentation randomness is a
pure function of ``(seed, step, position in the batch)``, so a resumed run
sees exactly the augmentations of an uninterrupted one.

Per data set (``make_preprocess(name, train=..., seed=...)``):

* ``mnist``, ``fashion_mnist``, ``mnist5k``, ``digits``: scale to ``[0, 1]``;
  normalisation off by default (``normalize=True`` subtracts the mean and
  divides by the std below). No augmentation: flips and crops change digits.
* ``cifar10``, ``cifar100``: train: pad 4 pixels of zeros on each side (black,
  before normalisation), take a random 32 x 32 crop (offsets uniform in
  ``0..8``) and flip horizontally with probability 1/2; then per-channel
  normalisation (always on by default). Eval: normalisation only.
* ``imagenet2012``: train: the Inception / torchvision random resized crop
  (area fraction uniform in ``[0.08, 1]``, log aspect ratio uniform in
  ``[log 3/4, log 4/3]``, 10 tries, then a central crop clamped to that ratio
  range) resized to 224 x 224 with PIL bilinear filtering, and a horizontal
  flip with probability 1/2. Eval: resize the shorter side to 256 (PIL
  bilinear), centre crop 224. Then ImageNet normalisation. Greyscale inputs
  are repeated to three channels; float inputs are rounded to uint8 first.
  This runs per example in Python (about a millisecond each), in the
  pipeline's prefetch thread.

Statistics (per channel, on ``[0, 1]`` pixels; the std is over all pixels of
the training set):

* MNIST: mean 0.1307, std 0.3081. Fashion-MNIST: mean 0.2860, std 0.3530.
  ``mnist5k`` uses the MNIST values. ``digits``: mean 0.3053, std 0.3760
  (computed from the 1,797 images / 16).
* CIFAR-10: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
  (The often copied std (0.2023, 0.1994, 0.2010) is the mean of per-image
  stds, not the data set std.)
* CIFAR-100: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
* ImageNet: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from enn_sym._validation import InputError

_AUGMENT_STREAM = 1  # Separates augmentation seeds from shuffling seeds.

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MNIST_MEAN, FASHION_MNIST_STD = (0.2860,), (0.3530,)
DIGITS_MEAN, DIGITS_STD = (0.3053,), (0.3760,)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR_PAD = 4
IMAGENET_SIZE = 224
IMAGENET_RESIZE = 256

# name -> (kind, mean, std, normalise by default)
_DATASETS = {
    "mnist": ("small", MNIST_MEAN, MNIST_STD, False),
    "fashion_mnist": ("small", FASHION_MNIST_MEAN, FASHION_MNIST_STD, False),
    "mnist5k": ("small", MNIST_MEAN, MNIST_STD, False),
    "digits": ("small", DIGITS_MEAN, DIGITS_STD, False),
    "cifar10": ("cifar", CIFAR10_MEAN, CIFAR10_STD, True),
    "cifar100": ("cifar", CIFAR100_MEAN, CIFAR100_STD, True),
    "imagenet2012": ("imagenet", IMAGENET_MEAN, IMAGENET_STD, True),
}
PREPROCESS_DATASETS = tuple(_DATASETS)


def to_unit_float(images: np.ndarray) -> np.ndarray:
  """uint8 (any integer) pixels / 255, floats unchanged, as float32."""
  images = np.asarray(images)
  if np.issubdtype(images.dtype, np.integer):
    return images.astype(np.float32) / np.float32(255.0)
  if np.issubdtype(images.dtype, np.floating):
    return images.astype(np.float32, copy=False)
  raise InputError(f"images must be integer or float pixels; got "
                   f"{images.dtype}.")


def _as_batch(images: Any) -> np.ndarray:
  if isinstance(images, np.ndarray):
    out = images
  else:
    shapes = {np.shape(im) for im in images}
    if len(shapes) > 1:
      raise InputError(
          f"the images of a batch differ in shape ({sorted(shapes)[:3]}...); "
          f"use a preprocess that resizes, e.g. make_preprocess("
          f"'imagenet2012', ...).")
    out = np.stack([np.asarray(im) for im in images])
  if out.ndim != 4:
    raise InputError(f"images must have shape [B, H, W, C]; got {out.shape}.")
  return out


def _augment_rng(seed: int, step: int, *position: int) -> np.random.Generator:
  return np.random.default_rng([seed, _AUGMENT_STREAM, step, *position])


def _cifar_crop_flip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Random 4-pixel-padded crop and flip of ``float [B, H, W, C]``."""
  b, h, w, _ = x.shape
  p = CIFAR_PAD
  padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  offsets = rng.integers(0, 2 * p + 1, size=(b, 2))
  flips = rng.random(b) < 0.5
  rows = offsets[:, :1] + np.arange(h)[None, :]  # [B, H]
  cols = offsets[:, 1:] + np.arange(w)[None, :]  # [B, W]
  cols = np.where(flips[:, None], cols[:, ::-1], cols)
  return padded[np.arange(b)[:, None, None], rows[:, :, None],
                cols[:, None, :]]


def _to_uint8_rgb(image: Any) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3:
    raise InputError(f"an image must have shape [H, W, C]; got {image.shape}.")
  if np.issubdtype(image.dtype, np.floating):
    image = np.clip(np.round(image * 255.0), 0, 255)
  image = image.astype(np.uint8, copy=False)
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  elif image.shape[-1] == 4:
    image = image[..., :3]
  return image


def random_resized_crop_box(height: int, width: int, rng: np.random.Generator,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)
                            ) -> tuple[int, int, int, int]:
  """``(top, left, crop_height, crop_width)`` as torchvision samples them."""
  area = height * width
  log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
  for _ in range(10):
    target = area * rng.uniform(scale[0], scale[1])
    aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
    w = int(round(math.sqrt(target * aspect)))
    h = int(round(math.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      top = int(rng.integers(0, height - h + 1))
      left = int(rng.integers(0, width - w + 1))
      return top, left, h, w
  in_ratio = width / height
  if in_ratio < ratio[0]:
    w, h = width, int(round(width / ratio[0]))
  elif in_ratio > ratio[1]:
    h, w = height, int(round(height * ratio[1]))
  else:
    h, w = height, width
  return (height - h) // 2, (width - w) // 2, h, w


def _imagenet_train_one(image: Any, rng: np.random.Generator) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  arr = _to_uint8_rgb(image)
  top, left, h, w = random_resized_crop_box(arr.shape[0], arr.shape[1], rng)
  out = Image.fromarray(arr).resize(
      (IMAGENET_SIZE, IMAGENET_SIZE), Image.Resampling.BILINEAR,
      box=(left, top, left + w, top + h))
  out = np.asarray(out)
  if rng.random() < 0.5:
    out = out[:, ::-1]
  return out


def _imagenet_eval_one(image: Any) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  arr = _to_uint8_rgb(image)
  h, w = arr.shape[:2]
  if h <= w:
    new_h, new_w = IMAGENET_RESIZE, int(IMAGENET_RESIZE * w / h)
  else:
    new_h, new_w = int(IMAGENET_RESIZE * h / w), IMAGENET_RESIZE
  out = np.asarray(Image.fromarray(arr).resize(
      (new_w, new_h), Image.Resampling.BILINEAR))
  top = int(round((new_h - IMAGENET_SIZE) / 2.0))
  left = int(round((new_w - IMAGENET_SIZE) / 2.0))
  return out[top:top + IMAGENET_SIZE, left:left + IMAGENET_SIZE]


@dataclasses.dataclass(frozen=True)
class Preprocess:
  """A batch preprocess; build it with :func:`make_preprocess`.

  Attributes:
    dataset: the data set name it was made for.
    kind: ``'small'``, ``'cifar'`` or ``'imagenet'``.
    train: augment (train) or not (eval).
    seed: augmentation seed.
    mean: per-channel mean, or ``None`` (no normalisation).
    std: per-channel std, or ``None``.
  """

  dataset: str
  kind: str
  train: bool
  seed: int
  mean: tuple[float, ...] | None
  std: tuple[float, ...] | None

  def __call__(self, images: np.ndarray | Sequence[np.ndarray], *,
               step: int = 0) -> np.ndarray:
    """Preprocesses one batch.

    Args:
      images: ``[B, H, W, C]`` array, or a list of ``[H_i, W_i, C]`` arrays
        (ImageNet).
      step: the global training step of this batch (seeds augmentation).

    Returns:
      ``float32 [B, H', W', C']``.
    """
    if self.kind == "imagenet":
      if self.train:
        out = [_imagenet_train_one(im, _augment_rng(self.seed, step, j))
               for j, im in enumerate(images)]
      else:
        out = [_imagenet_eval_one(im) for im in images]
      x = to_unit_float(np.stack(out))
    else:
      x = to_unit_float(_as_batch(images))
      if self.kind == "cifar" and self.train:
        x = _cifar_crop_flip(x, _augment_rng(self.seed, step))
    if self.mean is not None:
      if x.shape[-1] != len(self.mean):
        raise InputError(
            f"{self.dataset} normalisation has {len(self.mean)} channel(s); "
            f"the images have {x.shape[-1]} (shape {x.shape}).")
      x = (x - np.asarray(self.mean, np.float32)) / np.asarray(
          self.std, np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def make_preprocess(dataset_name: str, *, train: bool, seed: int = 0,
                    normalize: bool | None = None) -> Preprocess:
  """The standard preprocess for a data set (see the module docstring).

  Args:
    dataset_name: one of ``PREPROCESS_DATASETS`` (a TFDS config or version
      suffix such as ``'cifar10:3.0.2'`` is ignored).
    train: training (augmentation) or evaluation preprocessing.
    seed: augmentation seed, a non-negative int (unused when ``train`` is
      false or the data set has no augmentation).
    normalize: per-channel mean/std normalisation; ``None`` picks the data
      set's default (on for CIFAR and ImageNet, off for the MNIST family).

  Returns:
    A :class:`Preprocess`, called as ``preprocess(images, step=t)``.
  """
  base = dataset_name.split("/")[0].split(":")[0]
  if base not in _DATASETS:
    raise InputError(
        f"No preprocessing defined for {dataset_name!r}; valid names are "
        f"{', '.join(PREPROCESS_DATASETS)}.")
  if isinstance(seed, (bool, np.bool_)) or not isinstance(
      seed, (int, np.integer)) or seed < 0:
    raise InputError(f"seed must be a non-negative int; got {seed!r}.")
  kind, mean, std, default_norm = _DATASETS[base]
  norm = default_norm if normalize is None else bool(normalize)
  return Preprocess(dataset=base, kind=kind, train=bool(train), seed=int(seed),
                    mean=mean if norm else None, std=std if norm else None)
