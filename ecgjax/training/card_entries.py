"""What a model card says about the network and its test metrics: the entries that the
loop and checkpoint evaluation both write (models.model_card builds the card)."""

import dataclasses

from ecgjax.models import resnet1d


def describe_model(model_config: resnet1d.ResNet1DConfig, model: resnet1d.ResNet1D,
                   in_leads: int) -> dict:
  """The card's `model` entry: enough to rebuild the network without the config."""
  return {"architecture": "ResNet1D",
          "config": {k: list(v) if isinstance(v, tuple) else v
                     for k, v in dataclasses.asdict(model_config).items()},
          "parameters": resnet1d.parameter_count(model), "in_leads": in_leads}


def exclusive_names(model: resnet1d.ResNet1D, names) -> list[list[str]]:
  """The model's exclusive groups by label name (models.head)."""
  return [[names[k] for k in group] for group in model.exclusive_groups]


def card_metrics(results: dict, split: str, step: int) -> dict:
  """The card's `metrics`: results.json's discrimination and operating-point figures."""
  keep = ("n_pos", "n_neg", "auroc", "auprc", "sensitivity", "specificity", "undefined")
  return {"split": split, "step": step, "examples": results["test_examples"],
          "medians": {k: results["medians"][k] for k in ("auroc", "sensitivity", "specificity")},
          "macro_auroc": results.get("macro_auroc"),
          "labels": {name: {k: v for k, v in entry.items() if k in keep}
                     for name, entry in results["labels"].items()}}
