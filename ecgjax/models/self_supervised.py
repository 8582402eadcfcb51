"""The network a self-supervised run trains: the ResNet1D backbone and a projector.

The projector (Linear, BatchNorm, ReLU per hidden width, then a Linear to the
projection) exists only for the objective (training.self_supervised): SimCLR and
VICReg both found the representation before it the better one to keep. A
fine-tune loads `backbone/` and leaves `projector/` unused (training.transfer);
`predict --embeddings` reads the backbone's pooled features.
"""

from collections.abc import Sequence

import jax.numpy as jnp
from flax import nnx

from ecgjax.models import resnet1d


class Projector(nnx.Module):

  def __init__(self, features: int, widths: Sequence[int], *, rngs: nnx.Rngs):
    layers, norms, width = [], [], features
    for hidden in widths[:-1]:
      layers.append(nnx.Linear(width, hidden, use_bias=False, param_dtype=jnp.float32,
                               rngs=rngs))
      norms.append(nnx.BatchNorm(hidden, momentum=0.9, epsilon=1e-5,
                                 param_dtype=jnp.float32, rngs=rngs))
      width = hidden
    self.layers, self.norms = nnx.List(layers), nnx.List(norms)
    self.out = nnx.Linear(width, widths[-1], param_dtype=jnp.float32, rngs=rngs)

  def __call__(self, x, *, batch_norm_train: bool):
    for layer, norm in zip(self.layers, self.norms):
      x = nnx.relu(norm(layer(x), use_running_average=not batch_norm_train))
    return self.out(x)


class SelfSupervisedNet(nnx.Module):
  """(batch, samples, leads) mV -> projections (batch, projector[-1]), fp32."""

  # No head, so no exclusive classes: what code reading any model's groups finds.
  exclusive_groups = ()

  def __init__(self, cfg: resnet1d.ResNet1DConfig, projector: Sequence[int],
               in_leads: int = 12, *, rngs: nnx.Rngs):
    self.backbone = resnet1d.Backbone(cfg, in_leads, rngs=rngs)
    self.projector = Projector(self.backbone.features, tuple(projector), rngs=rngs)

  def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None,
               batch_norm_train: bool | None = None):
    batch_norm_train = train if batch_norm_train is None else batch_norm_train
    features = self.backbone(x, train=train, rngs=rngs, batch_norm_train=batch_norm_train)
    return self.projector(features, batch_norm_train=batch_norm_train)
