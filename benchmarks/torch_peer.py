"""The PyTorch peer of ecgjax's ResNet1D, written as a PyTorch user would run it.

  python benchmarks/train_step.py ...   (runs this peer beside the JAX step)

Same architecture, parameter count and output shape as ecgjax/models/resnet1d.py
(tests/test_torch_peer.py checks both): pre-activation residual blocks
BN-ReLU-Conv-BN-ReLU-Dropout-Conv, a max-pool + 1x1-conv shortcut where a block
subsamples or widens, TensorFlow-style SAME padding (PyTorch's padding='same'
refuses strides), a final BN-ReLU, global average pooling and a linear head.
Variants: eager or `torch.compile`, fp32 or bf16 autocast, in PyTorch's native
NCW Conv1d layout (channels-last is a 4-D memory format; it is not applied to
these 1-D convolutions). PyTorch is not a dependency of ecgjax:
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


class ResidualBlock(nn.Module):

  def __init__(self, cin: int, cout: int, stride: int, kernel: int, dropout: float):
    super().__init__()
    self.stride = stride
    self.norm1 = nn.BatchNorm1d(cin, momentum=0.1, eps=1e-5)   # Flax momentum 0.9
    self.conv1 = SameConv1d(cin, cout, kernel, bias=False)
    self.norm2 = nn.BatchNorm1d(cout, momentum=0.1, eps=1e-5)
    self.dropout = nn.Dropout(dropout)
    self.conv2 = SameConv1d(cout, cout, kernel, stride=stride, bias=False)
    self.shortcut = SameConv1d(cin, cout, 1, bias=False) if cin != cout else None

  def forward(self, x):
    shortcut = x
    if self.stride > 1:
      left, right = same_padding(x.shape[-1], self.stride, self.stride)
      shortcut = F.max_pool1d(F.pad(shortcut, (left, right), value=-math.inf),
                              self.stride, self.stride)
    if self.shortcut is not None:
      shortcut = self.shortcut(shortcut)
    y = self.conv1(F.relu(self.norm1(x)))
    y = self.dropout(F.relu(self.norm2(y)))
    return self.conv2(y) + shortcut


class ResNet1D(nn.Module):
  """(batch, 12, samples) mV -> (batch, labels) logits."""

  def __init__(self, num_labels: int, in_leads: int = 12, *, stem_width: int,
               stage_widths, blocks_per_stage, stage_strides, kernel_size: int,
               stem_stride: int = 1, dropout: float = 0.2, stem_extra_widths=(),
               stem_pool: bool = False, **unused):
    super().__init__()
    self.stem = SameConv1d(in_leads, stem_width, kernel_size, stride=stem_stride, bias=False)
    # The deep stem of ecgjax.models.resnet1d: BN-ReLU-conv per extra width, then a
    # stride-2 SAME max-pool of 3.
    stem, width = [], stem_width
    for out in stem_extra_widths:
      stem += [nn.BatchNorm1d(width, momentum=0.1, eps=1e-5), nn.ReLU(),
               SameConv1d(width, out, kernel_size, bias=False)]
      width = out
    self.stem_extra = nn.Sequential(*stem)
    self.stem_pool = stem_pool
    blocks = []
    for out, n, stride in zip(stage_widths, blocks_per_stage, stage_strides, strict=True):
      for b in range(n):
        blocks.append(ResidualBlock(width, out, stride if b == 0 else 1, kernel_size, dropout))
        width = out
    self.blocks = nn.Sequential(*blocks)
    self.final_norm = nn.BatchNorm1d(width, momentum=0.1, eps=1e-5)
    self.head = nn.Linear(width, num_labels)

  def forward(self, x):
    x = self.stem_extra(self.stem(x))
    if self.stem_pool:
      left, right = same_padding(x.shape[-1], 3, 2)
      x = F.max_pool1d(F.pad(x, (left, right), value=-math.inf), 3, 2)
    x = self.blocks(x)
    return self.head(F.relu(self.final_norm(x)).mean(dim=-1))


def parameter_count(model: nn.Module) -> int:
  return sum(p.numel() for p in model.parameters())


class TrainStep:
  """AdamW + multi-label BCE, one call per batch; eager or compiled, fp32 or bf16."""

  def __init__(self, model_kwargs: dict, num_labels: int, dtype: str, compiled: bool):
    self.model = ResNet1D(num_labels, **model_kwargs)
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

  def to(self, device):
    self.model.to(device)
    return self
