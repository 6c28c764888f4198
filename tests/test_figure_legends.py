"""Legends sit outside the data: the sweep's metric-vs-level figure and the
Swiss-roll Figure 3 (issue 15 item 7)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from enn_sym import bounds  # noqa: E402
from enn_sym import train  # noqa: E402


def _capture(monkeypatch):
  figures = []
  monkeypatch.setattr(plt, "close", figures.append)
  return figures


def _assert_legends_outside(fig):
  fig.canvas.draw()
  legends = [a.get_legend() for a in fig.axes if a.get_legend() is not None]
  assert legends
  for legend in legends:
    box = legend.get_window_extent()
    for ax in fig.axes:
      if ax.get_visible() and ax.axison:
        assert not box.overlaps(ax.get_window_extent()), ax.get_title()


def test_plot_metric_legend_outside_the_panels(monkeypatch, tmp_path):
  figures = _capture(monkeypatch)
  cells = {}
  for size in ("100", "full"):
    for variant in ("plain", "c4", "augment"):
      cells[f"{size}/{variant}"] = {
          "levels": {"size": size, "variant": variant},
          "models": {"epinet": {"mean": {"ece": 0.1}, "ci95": {
              "ece": [0.05, 0.15]}}}}
  results = {"axes": {"size": ["100", "full"],
                      "variant": ["plain", "c4", "augment"]}, "cells": cells}
  train.plot_metric(str(tmp_path / "f.png"), results, "ece", x_axis="size")
  (fig,) = figures
  _assert_legends_outside(fig)


def test_figure3_legends_outside_the_panels(monkeypatch, tmp_path):
  figures = _capture(monkeypatch)
  records = []
  for model in ("mlp", "invariant"):
    for ratio in (0.25, 0.5, 1.0):
      records.append({
          "enn": "base", "model": model, "correct_ratio": ratio,
          "incorrect_ratio": 1 - ratio, "accuracy_mean": 0.8,
          "accuracy_sem": 0.01, "ece_mean": 0.1, "ece_sem": 0.01,
          "ceiling": 1 - (1 - ratio) / 2, "ece_null_mean": 0.05,
          "bounds": {"cor1_ece_upper": 0.6, "thm5_ece_lower": 0.0}})
  bounds.plot_figure3(records, str(tmp_path / "fig3.png"))
  (fig,) = figures
  _assert_legends_outside(fig)


def test_plot_curves_legend_outside_the_panels(monkeypatch, tmp_path):
  figures = _capture(monkeypatch)
  curve = {"epoch": [1.0, 2.0, 3.0], "seeds": [0, 1],
           "ece": [[0.1, 0.3, 0.2], [0.2, 0.4, 0.3]],   # [seed][epoch]
           "nll": [[1.0, 0.9, 1.2], [1.1, 1.0, 1.3]]}
  st = {"seeds": [0, 1], "per_seed": {}, "mean": {"ece_ts": 0.1},
        "ci95": {}}
  results = {"axes": {"loss": ["ce", "focal"]},
             "cells": {l: {"levels": {"loss": l}, "models": {"base": st},
                           "seed_curves": {"base": curve}}
                       for l in ("ce", "focal")}}
  train.plot_curves(str(tmp_path / "c.png"), results, ("ece", "nll"),
                    final={"ece": "ece_ts"})
  (fig,) = figures
  _assert_legends_outside(fig)
