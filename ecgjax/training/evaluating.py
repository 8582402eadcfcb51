"""Scoring a model on a split during training and at its conclusion.

A mixture is scored source by source; its pool is their concatenation. What comes back
is a `Scored`: the per-label AUROCs that metrics.jsonl logs, and the pooled
(probabilities, labels, patients) that operating points and results.json are computed
from.
"""

import dataclasses

import numpy as np

from ecgjax.evaluation import exclusive, metrics as eval_metrics
from ecgjax.training import eval_outputs, nonfinite


def fmt(value) -> str:
  """A figure in a log line."""
  return "n/a" if value is None else f"{value:.3f}"


@dataclasses.dataclass
class Scored:
  summary: dict           # per-label AUROCs, medians, `examples` (and `sources`)
  pooled: tuple           # (probabilities, labels, patients) over every source
  by_source: dict         # source name (None for a single dataset) -> the same triple
  # Per pooled row and label, whether an exclusive class is its whole group's most
  # probable (True for an independent label): what `columns` holding part of a group
  # cannot tell from its log-odds alone (exclusive.decision_scores).
  top: object = None


class Evaluator:

  def __init__(self, source, par, graphdef, *, aggregate: str, groups, names,
               last_finite=lambda: "", columns=None, eval_step=None):
    """`par`: the run's parallelism (its eval step and layouts); `groups`: the model's
    exclusive groups by head index; `names`: the labels scored, the source's; `columns`:
    the head outputs that predict them, in that order (all, in head order, by default:
    a model evaluated on another dataset predicts some of its labels only);
    `last_finite()`: what a non-finite score's error says was saved; `eval_step`: one
    already made by `par.eval_step(graphdef)`, shared (compiled once) by the runs of a
    stacked group."""
    self.source, self.par, self.names = source, par, names
    self.columns = None if columns is None else np.asarray(columns)
    self.aggregate, self.groups = aggregate, groups
    self.last_finite = last_finite
    self._eval_step = eval_step or par.eval_step(graphdef)

  def __call__(self, split: str, state, step: int) -> Scored:
    """`split` scored by `state` (in the checkpoint layout) at `step`."""
    parts = self.source.parts() if hasattr(self.source, "parts") else [(None, self.source)]
    on_path = self.par.from_checkpoint(state)
    scored = []
    for _, part in parts:
      try:
        scored.append(eval_outputs.collect_predictions(
            part, split, lambda local: self._eval_step(on_path, local),
            aggregate=self.aggregate, groups=self.groups))
      except nonfinite.NonFiniteError as e:
        raise nonfinite.NonFiniteError(f"step {step}: {e} ({self.last_finite()})") from e
    top = np.concatenate([exclusive.is_top(p, self.groups) for p, _, _ in scored])
    if self.columns is not None:
      scored = [(p[:, self.columns], y, patients) for p, y, patients in scored]
      top = top[:, self.columns]
    pooled = tuple(np.concatenate([p[k] for p in scored]) for k in range(3))
    summary = eval_metrics.per_label_auroc(pooled[1], pooled[0], self.names)
    summary["examples"] = len(pooled[1])
    if len(parts) > 1:
      summary["sources"] = {}
      for (name, _), (p, y, _) in zip(parts, scored):
        entry = eval_metrics.per_label_auroc(y, p, self.names)
        summary["sources"][name] = {"examples": len(y), "auroc": entry["auroc"],
                                    "auroc_median": entry["auroc_median"],
                                    "auroc_mean": entry["auroc_mean"]}
    return Scored(summary, pooled, dict(zip([n for n, _ in parts], scored)), top)
