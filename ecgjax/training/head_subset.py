"""A trained model restricted to some of its labels: the head's columns for them, and
a card that lists only them.

An independent label's output is its own column of the head (a sigmoid of one logit), so
dropping other columns leaves each kept label's log-odds exactly as they were. An
exclusive group is one softmax over its classes: it is kept whole or not at all.
"""

import dataclasses

import numpy as np

from ecgjax.training import checkpoints


class HeadSubsetError(ValueError):
  """The labels asked for cannot be cut out of this head."""


def keep_labels(saved: checkpoints.Pretrained, names, scope: dict | None = None
                ) -> checkpoints.Pretrained:
  """`saved` predicting only `names` (in its head's order); `scope`, what the card says
  about the choice (kept and left-out labels with the reasons)."""
  card = saved.card
  unknown = [n for n in names if n not in card["labels"]]
  if unknown:
    raise HeadSubsetError(f"the model has no label {', '.join(unknown)}")
  keep = [n for n in card["labels"] if n in set(names)]
  for group in card.get("exclusive_groups") or []:
    if 0 < len(set(group) & set(keep)) < len(group):
      raise HeadSubsetError(f"exclusive classes {', '.join(group)} share one softmax: keep "
                            "all of them or none")
  columns = np.array([card["labels"].index(n) for n in keep])
  head = {**saved.params["head"],
          "kernel": np.asarray(saved.params["head"]["kernel"])[:, columns],
          "bias": np.asarray(saved.params["head"]["bias"])[columns]}
  kept = set(keep)
  new = {**card, "labels": keep,
         "exclusive_groups": [g for g in card.get("exclusive_groups") or [] if g[0] in kept],
         "snomed": {n: card["snomed"][n] for n in keep},
         "thresholds": {n: card["thresholds"][n] for n in keep},
         "calibration": {**card["calibration"],
                         "labels": {n: card["calibration"]["labels"][n] for n in keep}},
         "model": {**card["model"], "num_labels": len(keep)}}
  for key in ("thresholds_undefined", "thresholds_fallback"):
    if key in card:
      new[key] = {n: v for n, v in card[key].items() if n in kept}
  if (card.get("metrics") or {}).get("labels"):
    new["metrics"] = {**card["metrics"],
                      "labels": {n: v for n, v in card["metrics"]["labels"].items() if n in kept}}
  if scope is not None:
    new["label_scope"] = scope
  return dataclasses.replace(saved, params={**saved.params, "head": head}, card=new)
