"""Drawing a 12-lead ECG as it is printed, optionally with attributions shaded on it.

The standard layout: three rows of four 2.5-s columns (I, aVR, V1, V4 / II, aVL,
V2, V5 / III, aVF, V3, V6), each column the next quarter of the same recording,
and a full-length lead II rhythm strip below, at 25 mm/s and 10 mm/mV on a
1-mm/5-mm grid, with a 1-mV calibration pulse opening each row. The figure is
drawn in millimetres of paper, so proportions are the clinical ones.

A model that does not read all twelve leads (a one-lead model) gets one full-width
rhythm strip per lead it reads, in its order: the whole scored window, not a quarter.

Each row spans 30 mm (±1.5 mV). A wave that leaves its row (a tall R wave in V4) is cut
at the row's edge and marked there with a small triangle, pointing the way it went, so
it never runs over the next lead and the cut is never mistaken for the wave's shape.
A long title wraps to the paper's width; legend entries wrap into rows.

Attributions are drawn as one strip per label along the bottom of each lead's row,
never on top of each other, so each label's colour stays itself: a strip is darker
where that label's attribution is larger.

`draw_ecg` is a plain function: reports and notebooks call it the same way
`ecgjax.predict --explain` does. It uses matplotlib's object API (no pyplot), so
it holds no global state and is safe in a loop or a thread.
"""

import math
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ecgjax.ecg import leads as leads_lib

MM_PER_SECOND = 25.0
MM_PER_MILLIVOLT = 10.0
ROW_HEIGHT_MM = 30.0
CALIBRATION_MM = 5.0        # the 1-mV pulse is 5 mm (0.2 s) wide
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
RHYTHM_LEAD = "II"
# Colour-blind-safe hues (Okabe-Ito) that stand apart from the red grid.
LABEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9")
CUT_COLOUR = "#D55E00"      # the marks where a wave leaves its row (Okabe-Ito vermilion)
_SMOOTH_S = 0.04            # attribution shading is smoothed over 40 ms
STRIP_MM = 2.5              # the height of one label's attribution strip
TITLE_PT, LEGEND_PT = 9, 7
LINE_MM = 4.5               # one line of title or legend
# A glyph's width is at most about 0.62 em in DejaVu Sans (matplotlib's default) on such
# text: what wraps a title and sizes a legend's columns.
_GLYPH_MM_PER_PT = 0.62 * 25.4 / 72
CLIP_MARGIN_MM = 0.3        # a cut wave stops this far inside its row's edge


def _grid(ax, width_mm: float, height_mm: float) -> None:
  for step, colour, lw in ((1.0, "#efb3b3", 0.35), (5.0, "#e07a7a", 0.7)):
    xs = np.arange(0, width_mm + 1e-6, step)
    ys = np.arange(0, height_mm + 1e-6, step)
    lines = [[(x, 0), (x, height_mm)] for x in xs] + [[(0, y), (width_mm, y)] for y in ys]
    ax.add_collection(LineCollection(lines, colors=colour, linewidths=lw, zorder=0))


def _intensity(attribution: np.ndarray, sampling_rate: float) -> np.ndarray:
  """|attribution| smoothed over 40 ms and scaled to [0, 1] by its 99th percentile
  over all leads, so leads compare with each other."""
  width = max(1, int(round(_SMOOTH_S * sampling_rate)))
  kernel = np.ones(width) / width
  magnitude = np.abs(attribution)
  smooth = np.stack([np.convolve(magnitude[:, k], kernel, mode="same")
                     for k in range(magnitude.shape[1])], axis=1)
  scale = np.percentile(smooth, 99) or 1.0
  return np.clip(smooth / scale, 0, 1)


def draw_ecg(signal_uv: np.ndarray, sampling_rate: float, lead_names=leads_lib.STANDARD_LEADS,
             *, attributions: dict[str, np.ndarray] | None = None, title: str = "",
             dpi: int = 150) -> Figure:
  """A Figure of `signal_uv` ((samples, leads), µV, leads named by `lead_names`).

  `attributions`: {legend text: (samples, leads) array}; each is a strip of its own
  colour under every lead's trace, darker where its magnitude is larger.
  """
  signal_mv = np.asarray(signal_uv, np.float64) / 1000.0
  names = [leads_lib.canonical_lead_name(n) for n in lead_names]
  index = {name: k for k, name in enumerate(names)}
  samples = signal_mv.shape[0]
  duration = samples / sampling_rate
  column_s = duration / 4
  width = CALIBRATION_MM + duration * MM_PER_SECOND
  rows = layout_rows(names)
  height = ROW_HEIGHT_MM * len(rows)
  shading = {text: _intensity(a, sampling_rate) for text, a in (attributions or {}).items()}

  title_lines = textwrap.wrap(title, int(width / (TITLE_PT * _GLYPH_MM_PER_PT))) if title else []
  legend_columns, legend_rows = _legend_grid(list(shading), width)
  # mm above the paper: the title's lines, then the legend's rows.
  header = LINE_MM * (1 + max(1, len(title_lines))) + (7.0 * legend_rows if shading else 0.0)
  fig = Figure(figsize=(width / 25.4, (height + header) / 25.4), dpi=dpi)
  FigureCanvasAgg(fig)
  ax = fig.add_axes([0.005, 0.005, 0.99, height / (height + header)])
  ax.set_xlim(0, width)
  ax.set_ylim(0, height)
  ax.set_aspect("equal")
  ax.axis("off")
  _grid(ax, width, height)

  t = np.arange(samples) / sampling_rate
  for r, row in enumerate(rows):
    baseline = height - ROW_HEIGHT_MM * (r + 0.5)
    pulse = [0, 1, 1, 4, 4, CALIBRATION_MM]
    ax.plot(pulse, baseline + np.array([0, 0, 10, 10, 0, 0]), color="black", lw=0.8)
    for c, lead in enumerate(row):
      if lead not in index:
        continue
      if len(row) == 1:
        start, stop = 0, samples
      else:
        start = int(round(c * column_s * sampling_rate))
        stop = int(round((c + 1) * column_s * sampling_rate))
      x = CALIBRATION_MM + t[start:stop] * MM_PER_SECOND
      y = _clipped_trace(ax, x, baseline + signal_mv[start:stop, index[lead]] * MM_PER_MILLIVOLT,
                         baseline)
      bottom = baseline - ROW_HEIGHT_MM / 2 + 0.5
      for j, (colour, (text, intensity)) in enumerate(zip(LABEL_COLOURS, shading.items())):
        rgba = np.zeros((1, stop - start, 4))
        rgba[..., :3] = _rgb(colour)
        # Squared, so the few places that carry the decision stand out from the rest.
        rgba[..., 3] = 0.15 + 0.85 * intensity[start:stop, index[lead]] ** 2
        low = bottom + j * STRIP_MM
        ax.imshow(rgba, extent=(x[0], x[-1], low, low + STRIP_MM - 0.3), aspect="auto",
                  interpolation="bilinear", zorder=1)
      ax.plot(x, y, color="black", lw=0.7, zorder=2)
      # On a white patch above the trace, so a tall wave never hides the name.
      ax.text(x[0] + 1, baseline + ROW_HEIGHT_MM / 2 - 1.5, lead, fontsize=8, zorder=3,
              va="top", bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=0.8))
      if c:
        ax.plot([x[0], x[0]], [baseline - 3, baseline + 3], color="black", lw=0.7)
  ax.text(width - 1, 1, f"{MM_PER_SECOND:g} mm/s, {MM_PER_MILLIVOLT:g} mm/mV, "
          f"{sampling_rate:g} Hz", fontsize=7, ha="right", va="bottom")
  if title_lines:
    fig.suptitle("\n".join(title_lines), fontsize=TITLE_PT, x=0.01, ha="left", y=0.995,
                 va="top")
  if shading:
    below_title = 2.5 + LINE_MM * max(1, len(title_lines))
    fig.legend(handles=[Patch(color=c, label=text)
                        for c, text in zip(LABEL_COLOURS, shading)],
               loc="upper left", bbox_to_anchor=(0.005, 1 - below_title / (height + header)),
               fontsize=LEGEND_PT, ncol=legend_columns, frameon=False)
  return fig


def layout_rows(lead_names) -> list[tuple[str, ...]]:
  """The printed layout when every lead of it is there (3 x 4 and a lead II rhythm
  strip); else one full-width strip per lead, in the given order."""
  if all(lead in lead_names for row in LAYOUT for lead in row):
    return [*LAYOUT, (RHYTHM_LEAD,)]
  return [(lead,) for lead in lead_names]


def _legend_grid(texts: list[str], width_mm: float) -> tuple[int, int]:
  """(columns, rows) of a legend whose entries fit the paper's width."""
  if not texts:
    return 1, 0
  entry_mm = 8.0 + max(len(t) for t in texts) * LEGEND_PT * _GLYPH_MM_PER_PT
  columns = max(1, min(len(texts), int(width_mm // entry_mm)))
  return columns, math.ceil(len(texts) / columns)


def _clipped_trace(ax, x: np.ndarray, y: np.ndarray, baseline: float) -> np.ndarray:
  """`y` cut at its row's edges, each stretch beyond an edge marked by a triangle at
  the edge, pointing the way the wave went."""
  top = baseline + ROW_HEIGHT_MM / 2 - CLIP_MARGIN_MM
  bottom = baseline - ROW_HEIGHT_MM / 2 + CLIP_MARGIN_MM
  for beyond, edge, marker in ((y > top, top, "^"), (y < bottom, bottom, "v")):
    if not beyond.any():
      continue
    where = np.flatnonzero(beyond)
    runs = np.split(where, np.flatnonzero(np.diff(where) > 1) + 1)
    ax.plot([x[run].mean() for run in runs], [edge] * len(runs), linestyle="none",
            marker=marker, markersize=3.5, color=CUT_COLOUR, zorder=4)
  return np.clip(y, bottom, top)


def _rgb(hex_colour: str) -> tuple[float, float, float]:
  return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
