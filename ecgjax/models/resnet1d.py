"""ResNet1D for 12-lead ECGs (Flax NNX): a backbone and a separate head.

Pre-activation residual blocks (BN-ReLU-Conv-BN-ReLU-Dropout-Conv) with a
max-pool + 1x1-conv shortcut when a block subsamples or widens, as in Hannun et
al. (Nat Med 2019, 16 blocks, kernel 16, 32->256 channels, subsampling every
other block) and Ribeiro et al. (Nat Commun 2020, 4 blocks, kernel 16,
64->320 channels). `Backbone` maps (batch, samples, 12) mV to pooled features;
`ResNet1D.head` is one dense layer, so fine-tuning can swap it.

Layout is NWC (batch, time, channels), XLA's preferred convolution layout on
TPU and GPU. Compute runs in `dtype`; parameters and BatchNorm statistics stay
fp32; logits come back fp32 for the loss. Configs say `auto` (resolve_dtype):
bf16 on GPU and TPU, fp32 on CPU.

Strided convolutions (the subsampling conv of a block, a strided stem) run by
default as space-to-depth: the input's time axis folded by the stride into
channels, then a stride-1 convolution with the kernel re-laid accordingly. Same
parameters, same result (tests/test_model.py); on CPU the forward+backward of a
stride-2 or -4 convolution is 1.7-1.9x faster than XLA's strided convolution
(`strided_conv="native"` keeps that one; benchmarks/step_breakdown.py).

Train or eval behaviour (batch statistics and dropout) is chosen per call with
`train=`, so one graph definition serves both steps. `batch_norm_train=False`
keeps BatchNorm on its running statistics while dropout stays on: fine-tuning
on a few hundred ECGs should not re-estimate statistics learnt from many.
"""

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ecgjax.models import head as head_lib


POOLS = ("mean", "attention")


@dataclasses.dataclass(frozen=True)
class ResNet1DConfig:
  stem_width: int = 64
  stage_widths: Sequence[int] = (64, 128, 196, 256, 320)
  blocks_per_stage: Sequence[int] = (1, 1, 1, 1, 1)
  stage_strides: Sequence[int] = (1, 4, 4, 4, 4)    # stride of each stage's first block
  kernel_size: int = 16
  stem_stride: int = 1
  dropout: float = 0.2
  dtype: str = "bfloat16"
  strided_conv: str = "space_to_depth"    # or "native"
  # A deep stem (fastai's xresnet, Bag of Tricks, He et al. 2019): convolutions after
  # the first, each preceded by BatchNorm and ReLU, to these widths; then a stride-2
  # max-pool when `stem_pool`. Empty: the single-convolution stem.
  stem_extra_widths: Sequence[int] = ()
  stem_pool: bool = False
  # How the last stage's features are pooled over time into one vector: "mean"
  # (global average pooling), or "attention": a learned weight per time step
  # (softmax over time of a linear score of the features, Ilse et al. 2018), so a
  # whole recording can be read by the few seconds that decide it (a run of AF
  # in a long sinus recording) instead of by its average.
  pool: str = "mean"

  def __post_init__(self):
    n = len(self.stage_widths)
    if not (len(self.blocks_per_stage) == len(self.stage_strides) == n):
      raise ValueError(
          f"model: stage_widths, blocks_per_stage and stage_strides must have the same "
          f"length, got {n}, {len(self.blocks_per_stage)}, {len(self.stage_strides)}")
    if self.dtype not in ("float32", "bfloat16", "float16"):
      raise ValueError(f"model.dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
    if not 0 <= self.dropout < 1:
      raise ValueError(f"model.dropout={self.dropout!r} is outside [0, 1)")
    if self.pool not in POOLS:
      raise ValueError(f"model.pool must be one of {POOLS}, got {self.pool!r}")
    if self.strided_conv not in ("space_to_depth", "native"):
      raise ValueError(f"model.strided_conv must be 'space_to_depth' or 'native', got "
                       f"{self.strided_conv!r}")


def resolve_dtype(dtype: str, backend: str | None = None) -> str:
  """A config's compute dtype for `backend` (default: JAX's): `auto` is bfloat16 on
  GPU and TPU and float32 on CPU. XLA:CPU has no native bf16 convolution or matrix
  kernel (no AMX or AVX512_BF16 path): it converts to fp32 and back, so bf16 steps
  run slower than fp32 there, even on CPUs whose PyTorch runs bf16 far faster
  (docs/benchmarks.md, "bf16 on a CPU"). Any other value is kept."""
  if dtype != "auto":
    return dtype
  return "float32" if (backend or jax.default_backend()) == "cpu" else "bfloat16"


def config_from(fields) -> ResNet1DConfig:
  """A ResNet1DConfig from a config's or a card's `model` fields (lists as tuples,
  as JSON and ConfigDicts give them), its `auto` dtype resolved for this backend."""
  fields = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in fields.items()}
  unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(ResNet1DConfig)})
  if unknown:
    raise ValueError(f"model: unknown field(s) {', '.join(unknown)}")
  if "dtype" in fields:
    fields["dtype"] = resolve_dtype(fields["dtype"])
  return ResNet1DConfig(**fields)


def _conv(cin, cout, kernel, stride, dtype, rngs):
  return nnx.Conv(cin, cout, kernel_size=(kernel,), strides=(stride,), padding="SAME",
                  use_bias=False, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)


def space_to_depth_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """A SAME-padded strided 1-D convolution (NWC input, WIO kernel), computed as
  a stride-1 VALID convolution on the input folded by `stride` into channels.

  out[t] = sum_k x[t*stride + k - left] w[k]; with j = k // stride and
  r = k % stride that is a sum over j of x'[t + j, (r, c)] w'[j, (r, c)], where
  x' is the zero-padded input reshaped to (time / stride, stride * channels)
  and w' the kernel zero-padded to a multiple of `stride` taps and reshaped alike.
  """
  batch, length, channels = x.shape
  taps = kernel.shape[0]
  out = -(-length // stride)
  left = max((out - 1) * stride + taps - length, 0) // 2
  folded_taps = -(-taps // stride)
  padded = (out + folded_taps - 1) * stride
  x = jnp.pad(x, ((0, 0), (left, padded - length - left), (0, 0)))
  # The batch axis keeps its sharding (explicit-sharding meshes ask for it).
  x = jax.lax.reshape(x, (batch, padded // stride, stride * channels),
                      out_sharding=jax.typeof(x).sharding)
  kernel = jnp.pad(kernel, ((0, folded_taps * stride - taps), (0, 0), (0, 0)))
  kernel = kernel.reshape(folded_taps, stride * channels, kernel.shape[-1])
  return jax.lax.conv_general_dilated(x, kernel, (1,), "VALID",
                                      dimension_numbers=("NWC", "WIO", "NWC"))


def _apply_conv(conv: nnx.Conv, x: jax.Array, space_to_depth: bool) -> jax.Array:
  """`conv(x)`, or the same convolution as space-to-depth when it is strided."""
  stride = conv.strides[0] if isinstance(conv.strides, (tuple, list)) else conv.strides
  if not space_to_depth or stride == 1:
    return conv(x)
  dtype = conv.dtype or x.dtype
  return space_to_depth_conv(x.astype(dtype), conv.kernel[...].astype(dtype), stride)


def _norm(features, dtype, rngs):
  return nnx.BatchNorm(features, momentum=0.9, epsilon=1e-5, dtype=dtype,
                       param_dtype=jnp.float32, rngs=rngs)


class ResidualBlock(nnx.Module):

  def __init__(self, cin: int, cout: int, stride: int, kernel: int, dropout: float,
               dtype, space_to_depth: bool = True, *, rngs: nnx.Rngs):
    self.stride = stride
    self.space_to_depth = space_to_depth
    self.norm1 = _norm(cin, dtype, rngs)
    self.conv1 = _conv(cin, cout, kernel, 1, dtype, rngs)
    self.norm2 = _norm(cout, dtype, rngs)
    self.dropout = nnx.Dropout(dropout)
    self.conv2 = _conv(cout, cout, kernel, stride, dtype, rngs)
    self.shortcut = _conv(cin, cout, 1, 1, dtype, rngs) if cin != cout else None

  def __call__(self, x, *, train: bool, rngs: nnx.Rngs | None, batch_norm_train: bool):
    shortcut = x
    if self.stride > 1:
      # Keywords: jax2onnx's stand-in for max_pool takes no positional window.
      shortcut = nnx.max_pool(shortcut, window_shape=(self.stride,), strides=(self.stride,),
                              padding="SAME")
    if self.shortcut is not None:
      shortcut = self.shortcut(shortcut)
    y = nnx.relu(self.norm1(x, use_running_average=not batch_norm_train))
    y = self.conv1(y)
    y = nnx.relu(self.norm2(y, use_running_average=not batch_norm_train))
    if train:   # identity otherwise; not called at all, so exporters see no dropout op
      y = self.dropout(y, deterministic=False, rngs=rngs)
    y = _apply_conv(self.conv2, y, self.space_to_depth)
    return y + shortcut


class Backbone(nnx.Module):
  """(batch, samples, leads) mV -> (batch, features) globally pooled features."""

  def __init__(self, cfg: ResNet1DConfig, in_leads: int = 12, *, rngs: nnx.Rngs):
    dtype = jnp.dtype(cfg.dtype)
    self.dtype = dtype
    self.space_to_depth = cfg.strided_conv == "space_to_depth"
    self.stem = _conv(in_leads, cfg.stem_width, cfg.kernel_size, cfg.stem_stride, dtype, rngs)
    norms, convs, width = [], [], cfg.stem_width
    for out in cfg.stem_extra_widths:
      norms.append(_norm(width, dtype, rngs))
      convs.append(_conv(width, out, cfg.kernel_size, 1, dtype, rngs))
      width = out
    self.stem_norms, self.stem_convs = nnx.List(norms), nnx.List(convs)
    self.stem_pool = cfg.stem_pool
    blocks = []
    for out, n, stride in zip(cfg.stage_widths, cfg.blocks_per_stage, cfg.stage_strides, strict=True):
      for b in range(n):
        blocks.append(ResidualBlock(width, out, stride if b == 0 else 1, cfg.kernel_size,
                                    cfg.dropout, dtype, self.space_to_depth, rngs=rngs))
        width = out
    self.blocks = nnx.List(blocks)
    self.final_norm = _norm(width, dtype, rngs)
    self.features = width
    # fp32 scores: a softmax over thousands of steps wants the range.
    self.attention = (nnx.Linear(width, 1, param_dtype=jnp.float32, rngs=rngs)
                      if cfg.pool == "attention" else None)

  def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None,
               batch_norm_train: bool | None = None):
    batch_norm_train = train if batch_norm_train is None else batch_norm_train
    x = _apply_conv(self.stem, x.astype(self.dtype), self.space_to_depth)
    for norm, conv in zip(self.stem_norms, self.stem_convs):
      x = conv(nnx.relu(norm(x, use_running_average=not batch_norm_train)))
    if self.stem_pool:
      x = nnx.max_pool(x, window_shape=(3,), strides=(2,), padding="SAME")
    for block in self.blocks:
      x = block(x, train=train, rngs=rngs, batch_norm_train=batch_norm_train)
    x = nnx.relu(self.final_norm(x, use_running_average=not batch_norm_train))
    x = x.astype(jnp.float32)
    if self.attention is None:
      return jnp.mean(x, axis=1)
    weights = jax.nn.softmax(self.attention(x), axis=1)     # (batch, time, 1)
    return jnp.sum(weights * x, axis=1)


class ResNet1D(nnx.Module):
  """Backbone + a linear head; returns fp32 logits. `exclusive_groups` (output index
  tuples, models.head) says which outputs are classes that exclude each other: read by
  softmax over the group and trained with its cross-entropy; the others are
  independent labels (sigmoid, binary cross-entropy)."""

  def __init__(self, cfg: ResNet1DConfig, num_labels: int, in_leads: int = 12, *,
               rngs: nnx.Rngs, exclusive_groups: head_lib.Groups = ()):
    self.backbone = Backbone(cfg, in_leads, rngs=rngs)
    self.head = nnx.Linear(self.backbone.features, num_labels, param_dtype=jnp.float32,
                           rngs=rngs)
    # A static tuple: part of the graph definition, so every step merged from it
    # knows how to read and train the outputs.
    self.exclusive_groups = tuple(tuple(int(k) for k in g) for g in exclusive_groups)

  def __call__(self, x, *, train: bool = False, rngs: nnx.Rngs | None = None,
               batch_norm_train: bool | None = None):
    return self.head(self.backbone(x, train=train, rngs=rngs,
                                   batch_norm_train=batch_norm_train))


def sync_batch_norm(model: nnx.Module, axis_name: str) -> None:
  """Makes every BatchNorm of `model` average its batch statistics over the mapped
  axis `axis_name` (jax.pmap's), so normalisation sees the global batch as it does
  under sharded jit. Only for a model used inside that map: outside one the axis
  is unbound. Running averages are unaffected (they read no axis)."""
  for _, module in nnx.iter_modules(model):
    if isinstance(module, nnx.BatchNorm):
      module.axis_name = axis_name


def parameter_count(model: nnx.Module) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
