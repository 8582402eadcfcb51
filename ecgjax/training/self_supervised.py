"""Self-supervised objectives: what a train step optimises when no label is read.

Two objectives, chosen for a 1-D convolutional encoder whose receptive field spans
seconds (each last-stage feature of the `small` ResNet1D sees 265 samples, 2.65 s at
100 Hz, over half of a 5 s view):

- `contrastive`: SimCLR's NT-Xent (Chen et al. 2020) over two views of each ECG, each
  view a different random segment of it (CLOCS's "contrastive multi-segment coding",
  Kiyasseh et al. 2021) with amplitude scaling, Gaussian noise and a masked stretch
  (Mehari & Strodthoff 2022 found crops with time-out the best pair for ECGs). Every
  other ECG of the *global* batch is a negative: under sharded jit the loss is
  computed over the global array (XLA gathers it), under pmap the projections are
  gathered across devices and processes (`jax.lax.all_gather`). BatchNorm then
  normalises over the global batch of both views, SimCLR's guard against a model
  that tells positives apart by batch statistics.
- `vicreg`: VICReg (Bardes et al. 2022): invariance between the two views, a variance
  hinge and a covariance penalty on each view's projections. It needs no negatives,
  so it trains at the small batches a CPU or one GPU holds, and the variance term
  guards against collapse explicitly.

Not chosen: CPC predicts future encodings from past context, which needs an encoder
whose encoding of step t has not seen step t+k; this ResNet's features overlap by
seconds, so the task leaks, and the encoder CPC trains best (Mehari's: per-step, with
an LSTM, without BatchNorm) is not the one fine-tuning reads. Masked-segment
reconstruction has weak evidence with CNNs (Gedon et al., CinC 2021). Both remain
open (docs/self-supervised.md).

Views are drawn on the device from keys folded from (seed, step, example index in the
global batch): a resumed run draws the same views, and jit and pmap, on any number
of devices, the same ones.
"""

import dataclasses

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

OBJECTIVES = ("contrastive", "vicreg")


@dataclasses.dataclass(frozen=True)
class Objective:
  """config.self_supervised, parsed and checked (every field named in its error)."""
  name: str = "contrastive"
  view_s: float = 5.0               # each view's length; 0: the whole stored signal
  temperature: float = 0.1          # contrastive: NT-Xent's
  projector: tuple[int, ...] = (512, 128)    # hidden widths, then the projection's
  amplitude_scale: float = 0.2      # a view's amplitude times U(1 - s, 1 + s)
  noise_mv: float = 0.1             # Gaussian noise, sigma in millivolts
  mask_fraction: float = 0.2        # a zeroed stretch of up to this share of the view
  # vicreg's weights: invariance, variance, covariance (the paper's 25, 25, 1).
  vicreg_weights: tuple[float, float, float] = (25.0, 25.0, 1.0)

  def __post_init__(self):
    if self.name not in OBJECTIVES:
      raise ValueError(f"self_supervised.objective must be one of {OBJECTIVES}, got "
                       f"{self.name!r}")
    if self.view_s < 0:
      raise ValueError(f"self_supervised.view_s={self.view_s}: expected >= 0 seconds")
    if not self.temperature > 0:
      raise ValueError(f"self_supervised.temperature={self.temperature}: expected > 0")
    if not self.projector or min(self.projector) < 1:
      raise ValueError(f"self_supervised.projector={self.projector!r}: expected positive "
                       "widths, the last the projection's")
    if not 0 <= self.amplitude_scale < 1:
      raise ValueError(f"self_supervised.amplitude_scale={self.amplitude_scale}: expected "
                       "[0, 1)")
    if self.noise_mv < 0:
      raise ValueError(f"self_supervised.noise_mv={self.noise_mv}: expected >= 0")
    if not 0 <= self.mask_fraction < 1:
      raise ValueError(f"self_supervised.mask_fraction={self.mask_fraction}: expected [0, 1)")
    if len(self.vicreg_weights) != 3 or min(self.vicreg_weights) < 0:
      raise ValueError(f"self_supervised.vicreg_weights={self.vicreg_weights!r}: expected "
                       "three non-negative weights (invariance, variance, covariance)")

  @classmethod
  def from_section(cls, section) -> "Objective":
    fields = dict(section)
    name = fields.pop("objective", cls.name)
    # Sequences as tuples of their type, whether the config holds a tuple or "512,128".
    for key, kind in (("projector", int), ("vicreg_weights", float)):
      if key in fields:
        value = fields[key]
        fields[key] = tuple(kind(v) for v in (value.split(",") if isinstance(value, str)
                                              else value))
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"self_supervised: unknown field(s) {', '.join(unknown)}")
    return cls(name=name, **fields)

  def view_samples(self, sampling_rate: float, stored: int) -> int:
    """A view's samples: view_s at the data's rate, at most the stored signal's."""
    if not self.view_s:
      return stored
    samples = int(round(self.view_s * sampling_rate))
    if samples > stored:
      raise ValueError(f"self_supervised.view_s={self.view_s}: {samples} samples, but the "
                       f"dataset holds {stored} per ECG")
    return samples


@dataclasses.dataclass(frozen=True)
class SelfSupervision:
  """What a train step needs: the objective and its views' length in samples."""
  objective: Objective
  view_samples: int


# ---- Views.

def _one_view(x: jax.Array, key: jax.Array, objective: Objective, samples: int) -> jax.Array:
  """One augmented view of one ECG, x (time, leads) in mV."""
  crop, scale, noise, mask_len, mask_at = jax.random.split(key, 5)
  start = jax.random.randint(crop, (), 0, x.shape[0] - samples + 1)
  view = jax.lax.dynamic_slice_in_dim(x, start, samples, axis=0)
  s = objective.amplitude_scale
  view = view * jax.random.uniform(scale, (), minval=1 - s, maxval=1 + s)
  view = view + objective.noise_mv * jax.random.normal(noise, view.shape)
  # One zeroed stretch (time-out) of up to mask_fraction of the view, all leads at once:
  # the leads stay physically consistent.
  longest = int(objective.mask_fraction * samples)
  if longest:
    length = jax.random.randint(mask_len, (), 0, longest + 1)
    first = jax.random.randint(mask_at, (), 0, samples - longest + 1)
    t = jnp.arange(samples)[:, None]
    view = jnp.where((t >= first) & (t < first + length), 0.0, view)
  return view


def views(x: jax.Array, key: jax.Array, index: jax.Array, objective: Objective,
          samples: int) -> tuple[jax.Array, jax.Array]:
  """Two views (batch, samples, leads) of x (batch, time, leads) mV; `index` is each
  example's place in the global batch, so its views do not depend on the layout."""
  keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i)))(index)
  make = jax.vmap(lambda e, k: _one_view(e, k, objective, samples))
  return make(x, keys[:, 0]), make(x, keys[:, 1])


# ---- Losses over the global batch.

def _batch_axis(x: jax.Array):
  """The mesh axis x's batch dimension is split over in its type (explicit sharding),
  or None."""
  spec = jax.typeof(x).sharding.spec
  return spec[0] if len(spec) else None


def _gathered(z: jax.Array, axis_name: str | None) -> jax.Array:
  """The whole global batch's projections on every device: the negatives of each ECG.
  Under sharded jit an explicit reshard to replicated (an all-gather in the program);
  under pmap an all-gather over the mapped axis, of every process's devices."""
  if axis_name is not None:
    return jax.lax.all_gather(z, axis_name, axis=0, tiled=True)
  if _batch_axis(z) is None:
    return z
  return jax.sharding.reshard(z, jax.typeof(z).sharding.update(spec=PartitionSpec()))


def nt_xent(z_a: jax.Array, z_b: jax.Array, temperature: float) -> jax.Array:
  """SimCLR's loss: each projection's positive is its other view; the 2N - 2 other
  projections of the batch are its negatives."""
  z = jnp.concatenate([z_a, z_b]).astype(jnp.float32)
  z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-8)
  n = z_a.shape[0]
  logits = z @ z.T / temperature
  logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, logits)
  positive = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_p, positive[:, None], axis=-1))


def vicreg(z_a: jax.Array, z_b: jax.Array, weights=(25.0, 25.0, 1.0)) -> jax.Array:
  """VICReg: invariance (mean squared distance of the views), variance (a hinge
  keeping each dimension's standard deviation at 1) and covariance (off-diagonal
  covariances squared, over the dimensions)."""
  z_a, z_b = z_a.astype(jnp.float32), z_b.astype(jnp.float32)
  invariance = jnp.mean((z_a - z_b) ** 2)

  def variance(z):
    return jnp.mean(jax.nn.relu(1.0 - jnp.sqrt(jnp.var(z, axis=0) + 1e-4)))

  def covariance(z):
    n, d = z.shape
    z = z - z.mean(axis=0)
    cov = z.T @ z / (n - 1)
    return (jnp.sum(cov ** 2) - jnp.sum(jnp.diag(cov) ** 2)) / d

  w_inv, w_var, w_cov = weights
  return (w_inv * invariance + w_var * (variance(z_a) + variance(z_b))
          + w_cov * (covariance(z_a) + covariance(z_b)))


def loss(model, x: jax.Array, key: jax.Array, task: SelfSupervision, *, rngs,
         batch_norm_train: bool = True, axis_name: str | None = None) -> jax.Array:
  """The objective on a batch x (batch, time, leads) mV: both views through the model in
  one pass (BatchNorm over both), then the loss over the global batch. Under pmap
  (`axis_name`) each device returns its share, so the losses summed over the axis (and
  the gradients) equal jit's."""
  n = x.shape[0]
  index = jnp.arange(n)
  if axis_name is not None:
    index = index + jax.lax.axis_index(axis_name) * n
  elif _batch_axis(x) is not None:      # split like the batch, as vmap over both asks
    index = jax.sharding.reshard(
        index, jax.typeof(x).sharding.update(spec=PartitionSpec(_batch_axis(x))))
  objective = task.objective
  view_a, view_b = views(x, key, index, objective, task.view_samples)
  z = model(jnp.concatenate([view_a, view_b]), train=True, rngs=rngs,
            batch_norm_train=batch_norm_train)
  z_a, z_b = _gathered(z[:n], axis_name), _gathered(z[n:], axis_name)
  if objective.name == "contrastive":
    value = nt_xent(z_a, z_b, objective.temperature)
  else:
    value = vicreg(z_a, z_b, objective.vicreg_weights)
  if axis_name is not None:
    value = value / jax.lax.psum(1, axis_name)
  return value
