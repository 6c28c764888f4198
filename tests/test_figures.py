"""The reliability diagram: distinct over/under-confidence colours, a log
count panel, faded low-count bins, the legend outside the data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from enn_sym.train import _report  # noqa: E402

OVER, UNDER = mcolors.to_rgb("#d62728"), mcolors.to_rgb("#1f77b4")


def _result():
  edges = np.linspace(0, 1, 6)
  # Bins: empty, 3 examples (under-confident), 40 (over), 500 (under), 9 (over).
  count = np.array([0, 3, 40, 500, 9])
  conf = np.array([0.0, 0.3, 0.5, 0.7, 0.9])
  acc = np.array([0.0, 0.6, 0.4, 0.75, 0.5])
  return dict(bin_edges=edges, bin_count=count, bin_confidence=conf,
              bin_accuracy=acc, ece=0.05)


def _draw(monkeypatch, tmp_path):
  figures = []
  monkeypatch.setattr(plt, "close", figures.append)
  path = tmp_path / "rel.png"
  _report.save_reliability_diagram(str(path), _result(), "test")
  assert path.exists() and path.stat().st_size > 0
  (fig,) = figures
  return fig


def test_gaps_have_one_colour_per_direction(monkeypatch, tmp_path):
  fig = _draw(monkeypatch, tmp_path)
  ax = fig.axes[0]
  gaps = {}
  for patch in ax.patches:
    colour = mcolors.to_rgb(patch.get_facecolor())
    if colour in (OVER, UNDER):
      gaps[round(patch.get_x() + patch.get_width() / 2, 3)] = colour
  assert gaps == {0.3: UNDER, 0.5: OVER, 0.7: UNDER, 0.9: OVER}


def test_low_count_bins_are_faded_and_counts_are_log(monkeypatch, tmp_path):
  fig = _draw(monkeypatch, tmp_path)
  ax, ax_count = fig.axes
  alphas = {}
  for patch in ax.patches:
    centre = round(patch.get_x() + patch.get_width() / 2, 3)
    alphas.setdefault(centre, set()).add(patch.get_alpha())
  assert alphas[0.3] == {0.3} and alphas[0.9] == {0.3}   # 3 and 9 examples
  assert alphas[0.5] == {1.0} and alphas[0.7] == {1.0}   # 40 and 500
  assert 0.1 not in alphas                                # the empty bin
  assert ax_count.get_yscale() == "log"
  heights = sorted(p.get_height() for p in ax_count.patches)
  assert heights == [3, 9, 40, 500]


def test_legend_sits_outside_the_data(monkeypatch, tmp_path):
  fig = _draw(monkeypatch, tmp_path)
  ax = fig.axes[0]
  fig.canvas.draw()
  legend = ax.get_legend().get_window_extent()
  axes_box = ax.get_window_extent()
  assert legend.y0 >= axes_box.y1 - 1  # Above the axes, not over the bars.
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert any("over-confident" in t for t in labels)
  assert any("under-confident" in t for t in labels)
