"""Drawing a 12-lead ECG as it is printed, optionally with attributions shaded on it.

The standard layout: three rows of four 2.5-s columns (I, aVR, V1, V4 / II, aVL,
V2, V5 / III, aVF, V3, V6), each column the next quarter of the same recording,
and a full-length lead II rhythm strip below, at 25 mm/s and 10 mm/mV on a
1-mm/5-mm grid, with a 1-mV calibration pulse opening each row. The figure is
drawn in millimetres of paper, so proportions are the clinical ones.

Attributions are drawn as one strip per label along the bottom of each lead's row,
never on top of each other, so each label's colour stays itself: a strip is darker
where that label's attribution is larger.

`draw_ecg` is a plain function: reports and notebooks call it the same way
`ecgjax.predict --explain` does. It uses matplotlib's object API (no pyplot), so
it holds no global state and is safe in a loop or a thread.
"""

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
_SMOOTH_S = 0.04            # attribution shading is smoothed over 40 ms
STRIP_MM = 2.5              # the height of one label's attribution strip


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
  index = {leads_lib.canonical_lead_name(n): k for k, n in enumerate(lead_names)}
  samples = signal_mv.shape[0]
  duration = samples / sampling_rate
  column_s = duration / 4
  width = CALIBRATION_MM + duration * MM_PER_SECOND
  rows = [*LAYOUT, (RHYTHM_LEAD,)]
  height = ROW_HEIGHT_MM * len(rows)
  shading = {text: _intensity(a, sampling_rate) for text, a in (attributions or {}).items()}

  header = 16.0 if shading else 9.0      # mm above the paper: title, then the legend
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
      y = baseline + signal_mv[start:stop, index[lead]] * MM_PER_MILLIVOLT
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
  if title:
    fig.suptitle(title, fontsize=9, x=0.01, ha="left", y=0.995, va="top")
  if shading:
    fig.legend(handles=[Patch(color=c, label=text)
                        for c, text in zip(LABEL_COLOURS, shading)],
               loc="upper left", bbox_to_anchor=(0.005, 1 - 7 / (height + header)),
               fontsize=7, ncol=len(shading), frameon=False)
  return fig


def _rgb(hex_colour: str) -> tuple[float, float, float]:
  return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
