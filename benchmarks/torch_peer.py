"""The PyTorch peer of ecgjax's ResNet1D, written as a PyTorch user would run it.

  python benchmarks/train_step.py ...   (runs this peer beside the JAX step)

Same architecture, parameter count and output shape as ecgjax/models/resnet1d.py
(tests/test_torch_peer.py checks both): pre-activation residual blocks
BN-ReLU-Conv-BN-ReLU-Dropout-Conv, a max-pool + 1x1-conv shortcut where a block
subsamples or widens, TensorFlow-style SAME padding (PyTorch's padding='same'
refuses strides), a final BN-ReLU, global average pooling and a linear head.
Variants: eager or `torch.compile`, fp32 or bf16 autocast, in PyTorch's native
NCW Conv1d layout, or (`channels_last=True`) the same network as 2-D layers over
(batch, channels, 1, samples) in the channels-last memory format, the layout
cuDNN's tensor-core convolutions prefer (channels-last is a 4-D format: Conv1d
cannot take it). The two forms hold the same parameters and give the same
logits (tests/test_torch_peer.py). PyTorch is not a dependency of ecgjax:
`pip install -e ".[benchmarks]"`.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
  """XLA/TensorFlow SAME padding: output ceil(length/stride), extra on the right."""
  out = math.ceil(length / stride)
  total = max((out - 1) * stride + kernel - length, 0)
  return total // 2, total - total // 2


class SameConv1d(nn.Conv1d):
  def forward(self, x):
    left, right = same_padding(x.shape[-1], self.kernel_size[0], self.stride[0])
    return F.conv1d(F.pad(x, (left, right)), self.weight, None, self.stride)


class SameConv2d(nn.Conv2d):
  """SameConv1d over (batch, channels, 1, samples): a (1, kernel) 2-D convolution."""

  def __init__(self, cin, cout, kernel, stride=1, bias=False):
    super().__init__(cin, cout, (1, kernel), stride=(1, stride), bias=bias)

  def forward(self, x):
    left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
    return F.conv2d(F.pad(x, (left, right)), self.weight, None, self.stride)


class Layers:
  """The layer kinds of one layout: 1-D (NCW) or 2-D with a unit height (NCHW)."""

  def __init__(self, two_d: bool):
    self.conv = SameConv2d if two_d else SameConv1d
    self.norm = nn.BatchNorm2d if two_d else nn.BatchNorm1d
    self.two_d = two_d

  def max_pool(self, x, window: int, stride: int):
    left, right = same_padding(x.shape[-1], window, stride)
    x = F.pad(x, (left, right), value=-math.inf)
    if self.two_d:
      return F.max_pool2d(x, (1, window), (1, stride))
    return F.max_pool1d(x, window, stride)


class ResidualBlock(nn.Module):

  def __init__(self, cin: int, cout: int, stride: int, kernel: int, dropout: float,
               layers: Layers):
    super().__init__()
    self.stride = stride
    self.layers = layers
    self.norm1 = layers.norm(cin, momentum=0.1, eps=1e-5)   # Flax momentum 0.9
    self.conv1 = layers.conv(cin, cout, kernel, bias=False)
    self.norm2 = layers.norm(cout, momentum=0.1, eps=1e-5)
    self.dropout = nn.Dropout(dropout)
    self.conv2 = layers.conv(cout, cout, kernel, stride=stride, bias=False)
    self.shortcut = layers.conv(cin, cout, 1, bias=False) if cin != cout else None

  def forward(self, x):
    shortcut = x
    if self.stride > 1:
      shortcut = self.layers.max_pool(shortcut, self.stride, self.stride)
    if self.shortcut is not None:
      shortcut = self.shortcut(shortcut)
    y = self.conv1(F.relu(self.norm1(x)))
    y = self.dropout(F.relu(self.norm2(y)))
    return self.conv2(y) + shortcut


class ResNet1D(nn.Module):
  """(batch, 12, samples) mV -> (batch, labels) logits; with `two_d`, the input is
  (batch, 12, 1, samples)."""

  def __init__(self, num_labels: int, in_leads: int = 12, *, stem_width: int,
               stage_widths, blocks_per_stage, stage_strides, kernel_size: int,
               stem_stride: int = 1, dropout: float = 0.2, stem_extra_widths=(),
               stem_pool: bool = False, pool: str = "mean", two_d: bool = False, **unused):
    super().__init__()
    if pool != "mean":
      raise ValueError(f"the PyTorch peer pools by the mean only, not {pool!r}")
    self.layers = layers = Layers(two_d)
    self.stem = layers.conv(in_leads, stem_width, kernel_size, stride=stem_stride, bias=False)
    # The deep stem of ecgjax.models.resnet1d: BN-ReLU-conv per extra width, then a
    # stride-2 SAME max-pool of 3.
    stem, width = [], stem_width
    for out in stem_extra_widths:
      stem += [layers.norm(width, momentum=0.1, eps=1e-5), nn.ReLU(),
               layers.conv(width, out, kernel_size, bias=False)]
      width = out
    self.stem_extra = nn.Sequential(*stem)
    self.stem_pool = stem_pool
    blocks = []
    for out, n, stride in zip(stage_widths, blocks_per_stage, stage_strides, strict=True):
      for b in range(n):
        blocks.append(ResidualBlock(width, out, stride if b == 0 else 1, kernel_size, dropout,
                                    layers))
        width = out
    self.blocks = nn.Sequential(*blocks)
    self.final_norm = layers.norm(width, momentum=0.1, eps=1e-5)
    self.head = nn.Linear(width, num_labels)

  def forward(self, x):
    x = self.stem_extra(self.stem(x))
    if self.stem_pool:
      x = self.layers.max_pool(x, 3, 2)
    x = self.blocks(x)
    x = F.relu(self.final_norm(x))
    return self.head(x.mean(dim=(-2, -1)) if self.layers.two_d else x.mean(dim=-1))


def parameter_count(model: nn.Module) -> int:
  return sum(p.numel() for p in model.parameters())


class TrainStep:
  """AdamW + multi-label BCE, one call per batch; eager or compiled, fp32 or bf16;
  `channels_last`: the 2-D form in the channels-last memory format (its batches
  come from `input_layout`)."""

  def __init__(self, model_kwargs: dict, num_labels: int, dtype: str, compiled: bool,
               channels_last: bool = False):
    self.channels_last = channels_last
    self.model = ResNet1D(num_labels, **model_kwargs, two_d=channels_last)
    if channels_last:
      self.model = self.model.to(memory_format=torch.channels_last)
    self.model.train()
    self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=1e-4)
    self.autocast = dtype == "bfloat16"
    self.step = torch.compile(self._step) if compiled else self._step

  def _step(self, signal, labels):
    with torch.autocast("cuda" if signal.is_cuda else "cpu", dtype=torch.bfloat16,
                        enabled=self.autocast):
      logits = self.model(signal)
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
    self.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    self.optimizer.step()
    return loss

  def input_layout(self, signal):
    """(batch, 12, samples) -> the layout the model takes."""
    if not self.channels_last:
      return signal
    return signal.unsqueeze(2).contiguous(memory_format=torch.channels_last)

  def to(self, device):
    self.model.to(device)
    return self
