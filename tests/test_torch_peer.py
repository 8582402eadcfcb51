"""The PyTorch peer in benchmarks/ is the same network as ecgjax's ResNet1D: same
parameter count and output shape for every preset, and the same logits once the
Flax weights are copied in (so SAME padding, pooling and BatchNorm agree)."""

import os
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ecgjax.models.presets import PRESETS as MODELS
from ecgjax.models import resnet1d
from tests.helpers import REPO, require_extra

torch = require_extra("torch", "benchmarks")
sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import torch_peer  # noqa: E402

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


def flax_model(name):
  cfg = resnet1d.ResNet1DConfig(**MODELS[name], dtype="float32")
  return resnet1d.ResNet1D(cfg, 68, 12, rngs=nnx.Rngs(params=0))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_parameter_count_and_output_shape(name):
  ours, peer = flax_model(name), torch_peer.ResNet1D(68, **MODELS[name])
  assert torch_peer.parameter_count(peer) == resnet1d.parameter_count(ours)
  assert peer(torch.zeros(2, 12, 5000)).shape == ours(jnp.zeros((2, 5000, 12))).shape


def _copy_weights(ours, peer):
  params = nnx.to_pure_dict(nnx.state(ours, nnx.Param))
  stats = nnx.to_pure_dict(nnx.state(ours, nnx.BatchStat))

  def conv(module, p):
    module.weight.data = torch.from_numpy(np.asarray(p["kernel"]).transpose(2, 1, 0).copy())

  def norm(module, p, s):
    module.weight.data = torch.from_numpy(np.asarray(p["scale"]).copy())
    module.bias.data = torch.from_numpy(np.asarray(p["bias"]).copy())
    module.running_mean = torch.from_numpy(np.asarray(s["mean"]).copy())
    module.running_var = torch.from_numpy(np.asarray(s["var"]).copy())

  backbone, backbone_stats = params["backbone"], stats["backbone"]
  conv(peer.stem, backbone["stem"])
  for i, block in enumerate(peer.blocks):
    p, s = backbone["blocks"][i], backbone_stats["blocks"][i]
    norm(block.norm1, p["norm1"], s["norm1"])
    conv(block.conv1, p["conv1"])
    norm(block.norm2, p["norm2"], s["norm2"])
    conv(block.conv2, p["conv2"])
    if block.shortcut is not None:
      conv(block.shortcut, p["shortcut"])
  norm(peer.final_norm, backbone["final_norm"], backbone_stats["final_norm"])
  peer.head.weight.data = torch.from_numpy(np.asarray(params["head"]["kernel"]).T.copy())
  peer.head.bias.data = torch.from_numpy(np.asarray(params["head"]["bias"]).copy())


@pytest.mark.parametrize("name", ["small", "ribeiro2020"])
def test_same_logits_with_the_same_weights(name):
  ours, peer = flax_model(name), torch_peer.ResNet1D(68, **MODELS[name])
  _copy_weights(ours, peer)
  peer.eval()
  x = np.random.default_rng(0).normal(0, 0.5, size=(3, 2500, 12)).astype(np.float32)
  expected = np.asarray(ours(jnp.asarray(x), train=False))
  with torch.no_grad():
    got = peer(torch.from_numpy(x.transpose(0, 2, 1).copy())).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["small", "xresnet1d101_like"])
def test_channels_last_form_is_the_same_network(name):
  """The 2-D channels-last variant holds the same parameters (each conv kernel with a
  unit height) and gives the same logits as the 1-D form, with batch statistics too."""
  one_d = torch_peer.ResNet1D(68, **MODELS[name])
  step = torch_peer.TrainStep(MODELS[name], 68, "float32", compiled=False, channels_last=True)
  two_d = step.model
  assert torch_peer.parameter_count(two_d) == torch_peer.parameter_count(one_d)
  two_d.load_state_dict({k: v.reshape(two_d.state_dict()[k].shape)
                         for k, v in one_d.state_dict().items()})
  x = torch.from_numpy(np.random.default_rng(0).normal(0, 0.5, size=(3, 12, 1000))
                       .astype(np.float32))
  x2 = step.input_layout(x)
  assert x2.is_contiguous(memory_format=torch.channels_last)
  for module in [*one_d.modules(), *two_d.modules()]:
    if isinstance(module, torch.nn.Dropout):   # masks follow memory order, which differs
      module.p = 0.0
  for train in (False, True):
    one_d.train(train), two_d.train(train)
    torch.manual_seed(0)
    expected = one_d(x).detach().numpy()
    torch.manual_seed(0)
    got = two_d(x2).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
