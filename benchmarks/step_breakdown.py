"""Where a train step's time goes, JAX beside PyTorch, on one device.

  python benchmarks/step_breakdown.py [--model small] [--batch_size 32] [--samples 5000]
      [--dtype float32|bfloat16]

Times (ms, median of `--repeats` after two warm-up calls) of the model's forward
in eval mode, in train mode, and its gradient (forward + backward, no optimiser),
in `--dtype` (PyTorch: bf16 autocast, on CUDA where there is one), for ecgjax's ResNet1D and the PyTorch peer
(benchmarks/torch_peer.py), plus single operations' forward+backward: a stride-1
convolution, strided convolutions (as XLA's strided convolution and as ecgjax's
space-to-depth form, `resnet1d.space_to_depth_conv`), and a training-mode
BatchNorm + ReLU, and a matrix product, each beside PyTorch in the same dtype. Explains the
train_step.py ratio; it is not a throughput figure. XLA_FLAGS set for the run
are recorded with each line.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
import torch.nn.functional as F
from flax import nnx

import torch_peer
from emit import emit
from ecgjax.models.presets import PRESETS as MODELS
from ecgjax.models import resnet1d


def timed(fn, repeats: int) -> float:
  fn()
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append((time.perf_counter() - start) * 1e3)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="small")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--samples", type=int, default=5000)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  parser.add_argument("--out")
  args = parser.parse_args()
  b, n, labels = args.batch_size, args.samples, 68
  rng = np.random.default_rng(0)
  x = rng.normal(size=(b, n, 12)).astype(np.float32)

  dtype = jnp.dtype(args.dtype)
  torch_dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
  device = "cuda" if torch.cuda.is_available() else "cpu"

  def torch_sync():     # CUDA calls return before the work is done
    if device == "cuda":
      torch.cuda.synchronize()
  autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
  model = resnet1d.ResNet1D(resnet1d.ResNet1DConfig(**MODELS[args.model], dtype=args.dtype),
                            labels, 12, rngs=nnx.Rngs(0))
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  xj, yj = jnp.asarray(x), jnp.zeros((b, labels))

  def apply(p, train):
    return nnx.merge(graphdef, p, stats, copy=True)(xj, train=train, rngs=nnx.Rngs(dropout=0))

  eval_fwd = jax.jit(lambda p: apply(p, False))
  train_fwd = jax.jit(lambda p: apply(p, True))
  grad = jax.jit(jax.grad(lambda p: optax.sigmoid_binary_cross_entropy(apply(p, True),
                                                                       yj).mean()))
  peer = torch_peer.ResNet1D(labels, **MODELS[args.model]).to(device)
  xt = torch.from_numpy(x.transpose(0, 2, 1).copy()).to(device)
  yt = torch.zeros(b, labels, device=device)

  def torch_fwd(train):
    peer.train(train)
    with torch.no_grad(), autocast:
      peer(xt)

  def torch_grad():
    peer.train()
    peer.zero_grad()
    with autocast:
      logits = peer(xt)
    F.binary_cross_entropy_with_logits(logits.float(), yt).backward()

  conv_cases = {"stride1_conv_forward_backward": (2500, 64, 9, 1),
                "stride2_conv_forward_backward": (2500, 64, 9, 2),
                "stride4_conv_forward_backward": (5000, 64, 16, 4)}
  conv_parts = {}
  for part, (length, channels, taps, stride) in conv_cases.items():
    conv_x = jnp.asarray(rng.normal(size=(b, length, channels)).astype(np.float32)).astype(dtype)
    conv_w = jnp.asarray(rng.normal(size=(taps, channels, channels)).astype(np.float32)
                         ).astype(dtype)

    def native(a, w, stride=stride):
      return jax.lax.conv_general_dilated(a, w, (stride,), "SAME",
                                          dimension_numbers=("NWC", "WIO", "NWC"))

    def folded(a, w, stride=stride):
      return resnet1d.space_to_depth_conv(a, w, stride)

    grads = {name: jax.jit(jax.grad(lambda a, w, f=f: f(a, w).astype(jnp.float32).sum(),
                                    argnums=(0, 1)))
             for name, f in (("native", native), ("space_to_depth", folded))}
    cx = torch.from_numpy(np.asarray(conv_x, np.float32).transpose(0, 2, 1).copy()
                          ).to(device, torch_dtype).requires_grad_()
    cw = torch.from_numpy(np.asarray(conv_w, np.float32).transpose(2, 1, 0).copy()
                          ).to(device, torch_dtype).requires_grad_()

    def torch_conv(cx=cx, cw=cw, length=length, taps=taps, stride=stride):
      F.conv1d(F.pad(cx, torch_peer.same_padding(length, taps, stride)), cw,
               stride=stride).sum().backward()

    conv_parts[part] = (
        lambda g=grads["native"], a=conv_x, w=conv_w: jax.block_until_ready(g(a, w)),
        torch_conv,
        *([lambda g=grads["space_to_depth"], a=conv_x, w=conv_w:
           jax.block_until_ready(g(a, w))] if stride > 1 else []))

  # BatchNorm (batch statistics) + ReLU, forward and backward, on a (b, 2500, 64) tensor.
  norm = nnx.BatchNorm(64, dtype=dtype, param_dtype=jnp.float32, rngs=nnx.Rngs(0))
  norm_graph, norm_params, norm_stats = nnx.split(norm, nnx.Param, nnx.BatchStat)
  norm_x = jnp.asarray(rng.normal(size=(b, 2500, 64)).astype(np.float32)).astype(dtype)

  def norm_loss(p, a):
    out = nnx.merge(norm_graph, p, norm_stats, copy=True)(a, use_running_average=False)
    return jax.nn.relu(out).astype(jnp.float32).sum()

  norm_grad = jax.jit(jax.grad(norm_loss, argnums=(0, 1)))
  torch_norm = torch.nn.BatchNorm1d(64).to(device)
  tx = torch.from_numpy(np.asarray(norm_x, np.float32).transpose(0, 2, 1).copy()
                        ).to(device, torch_dtype).requires_grad_()

  def torch_norm_grad():
    torch_norm.zero_grad()
    with autocast:
      y = F.relu(torch_norm(tx))
    y.float().sum().backward()

  conv_parts["batch_norm_relu_forward_backward"] = (
      lambda: jax.block_until_ready(norm_grad(norm_params, norm_x)), torch_norm_grad)

  # One matrix product, forward only: the convolution's im2col shape for 32 x 2500
  # steps, 9 taps of 64 channels. Tells whether the backend has a native kernel for
  # the dtype (oneDNN's AMX path in PyTorch) or converts to fp32 and back (XLA:CPU).
  mat_a = jnp.asarray(rng.normal(size=(b * 2500, 576)).astype(np.float32)).astype(dtype)
  mat_b = jnp.asarray(rng.normal(size=(576, 64)).astype(np.float32)).astype(dtype)
  matmul = jax.jit(lambda p, q: p @ q)
  torch_a = torch.from_numpy(np.asarray(mat_a, np.float32)).to(device, torch_dtype)
  torch_b = torch.from_numpy(np.asarray(mat_b, np.float32)).to(device, torch_dtype)
  conv_parts["matmul_forward"] = (lambda: matmul(mat_a, mat_b).block_until_ready(),
                                  lambda: torch_a @ torch_b)

  parts = {
      "eval_forward": (lambda: eval_fwd(params).block_until_ready(),
                       lambda: torch_fwd(False)),
      "train_forward": (lambda: train_fwd(params).block_until_ready(),
                        lambda: torch_fwd(True)),
      "gradient": (lambda: jax.block_until_ready(grad(params)), torch_grad),
      **conv_parts,
  }
  for part, (jax_fn, torch_fn, *folded_fn) in parts.items():
    emit({"benchmark": "step_breakdown", "part": part, "model": args.model,
          "batch_size": b, "samples": n, "dtype": args.dtype,
          "device_kind": jax.devices()[0].device_kind,
          "xla_flags": os.environ.get("XLA_FLAGS", ""),
          "jax_ms": timed(jax_fn, args.repeats),
          "torch_ms": timed(lambda f=torch_fn: (f(), torch_sync()), args.repeats),
          "jax_space_to_depth_ms": timed(folded_fn[0], args.repeats) if folded_fn else None,
          "command": "python " + " ".join(sys.argv),
          "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
