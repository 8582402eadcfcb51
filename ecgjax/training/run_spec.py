"""A run config's structured fields, parsed once at the entry into typed values.

The experiment's validation (ecgjax.experiments.validation) builds a RunSpec from
the ConfigDict before anything is loaded or compiled, each field by the module that
owns it; the input, the model's start and the loop then read these values instead
of parsing strings again. The ConfigDict still carries the plain scalars (steps,
batch sizes, splits) and is what a checkpoint saves.
"""

import dataclasses

from ecgjax.evaluation import thresholds
from ecgjax.models import resnet1d
from ecgjax.training import optimizers, self_supervised


@dataclasses.dataclass(frozen=True)
class RunSpec:
  model: resnet1d.ResNet1DConfig             # config.model, `auto` dtype resolved
  optimizer: optimizers.OptimizerConfig      # config.optimizer
  leads: tuple[str, ...] | None              # config.dataset.leads; None: every lead
  mixture: tuple[tuple[str, float], ...] | None   # config.dataset.mixture; None: one dataset
  augment: str                               # config.dataset.augment: none, basic, recording
  threshold_rule: thresholds.ThresholdRule   # config.threshold_rule
  # config.exclusive_labels: groups of label names read as one softmax (models.head).
  exclusive_labels: tuple[tuple[str, ...], ...] = ()
  # Fine-tuning only: config.lr_multipliers as (regex, factor) in order.
  lr_multipliers: tuple[tuple[str, float], ...] = ()
  # Self-supervised pretraining only: config.self_supervised.
  objective: self_supervised.Objective | None = None
