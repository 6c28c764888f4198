"""The loss-study figure: the legend outside every panel, and the
temperature-scaling markers of one panel never on top of each other."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402

from tests import train_helpers  # noqa: E402

study = train_helpers.load_file("experiments/loss_study.py", "_ls_figure")
LOSSES = ("ce", "entropy_reg", "focal", "logit_l1")


def _results():
  # Every loss ends at the same epoch with the same ECE after temperature
  # scaling: markers drawn at (last epoch, ece_ts) would coincide exactly.
  cells = {}
  for arch in ("resnet_basic", "vgg"):
    for i, loss in enumerate(LOSSES):
      curve = {"epoch": [1.0, 2.0, 3.0], "ece": [0.1 + i / 100, 0.05, 0.04]}
      cells[f"{arch}/{loss}"] = {
          "curves": {"base": curve},
          "models": {"base": {"mean": {"ece_ts": 0.02}}}}
  return {"axes": {"arch": ["resnet_basic", "vgg"], "loss": list(LOSSES)},
          "cells": cells}


def _draw(monkeypatch, tmp_path):
  figures = []
  monkeypatch.setattr(plt, "close", figures.append)
  path = tmp_path / "loss_study.png"
  study.plot(str(path), ml_collections.ConfigDict(), _results())
  assert path.stat().st_size > 10_000
  (fig,) = figures
  fig.canvas.draw()
  return fig


def test_legend_is_outside_every_panel(monkeypatch, tmp_path):
  fig = _draw(monkeypatch, tmp_path)
  (legend,) = fig.legends
  box = legend.get_window_extent()
  for ax in fig.axes:
    assert not box.overlaps(ax.get_window_extent()), ax.get_title()
  labels = [t.get_text() for t in legend.get_texts()]
  assert labels == list(LOSSES) + ["after temperature scaling"]


def test_temperature_scaling_markers_do_not_overlap(monkeypatch, tmp_path):
  fig = _draw(monkeypatch, tmp_path)
  for ax in fig.axes:
    markers = [l for l in ax.get_lines() if l.get_marker() == "o"
               and len(l.get_xdata()) == 1]
    assert len(markers) == len(LOSSES)
    boxes = [m.get_window_extent() for m in markers]
    for i, a in enumerate(boxes):
      for b in boxes[i + 1:]:
        assert not a.overlaps(b)
    # Every marker lies right of the curves and inside the panel.
    xs = [float(m.get_xdata()[0]) for m in markers]
    assert min(xs) > 3.0 and max(xs) < ax.get_xlim()[1]
