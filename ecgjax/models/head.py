"""What the head's outputs mean: independent labels, and groups of exclusive classes.

By default every output is its own label (multi-label: an ECG can be in sinus rhythm
and have a bundle branch block), read through a sigmoid and trained with binary
cross-entropy. A group of classes that exclude each other, such as the PhysioNet/CinC
Challenge 2017's normal, AF, other rhythm and noisy (each recording is exactly one),
is read through a softmax over the group's outputs and trained with softmax
cross-entropy: the classes compete, and their probabilities sum to 1. A head can mix
both: an exclusive group beside independent labels.

`groups` are tuples of output indices (no index in two groups); the model carries
them (resnet1d.ResNet1D.exclusive_groups), and its card names them.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from ecgjax.ecg.labels import exclusions

Groups = tuple[tuple[int, ...], ...]


class HeadLayoutError(ValueError):
  """Exclusive groups that do not fit the labels."""


# Groups a config can name in one word.
NAMED_GROUPS = {"rhythm": exclusions.RHYTHM_GROUP}


def parse_groups(spec: str) -> tuple[tuple[str, ...], ...]:
  """`exclusive_labels`: 'a,b,c;d,e' -> (('a', 'b', 'c'), ('d', 'e')); '' -> (); a
  group named in NAMED_GROUPS ('rhythm') stands for its classes."""
  groups = tuple(NAMED_GROUPS.get(part.strip()) or
                 tuple(n.strip() for n in part.split(",") if n.strip())
                 for part in str(spec).split(";") if part.strip())
  for group in groups:
    if len(group) < 2:
      raise HeadLayoutError(f"exclusive_labels={spec!r}: a group needs at least two labels, "
                            f"got {list(group)}")
  names = [n for g in groups for n in g]
  if len(set(names)) != len(names):
    raise HeadLayoutError(f"exclusive_labels={spec!r} names a label twice")
  return groups


def group_indices(label_names: Sequence[str], groups) -> Groups:
  """Named groups -> index groups into `label_names`, refusing a name not among them."""
  names = list(label_names)
  missing = [n for g in groups for n in g if n not in names]
  if missing:
    raise HeadLayoutError(f"exclusive_labels names {missing}, which are not among the run's "
                          f"labels ({', '.join(names)})")
  return tuple(tuple(names.index(n) for n in g) for g in groups)


def log_odds(logits: jax.Array, groups: Groups = ()) -> jax.Array:
  """Per output, the log-odds of its probability, log(p / (1 - p)), computed without
  forming p: an independent label's logit as it is, and for a class of an exclusive
  group z_k - logsumexp of the group's other logits (so sigmoid of it is the class's
  softmax probability).

  This is what evaluation scores and what Platt scaling is fitted on and applied to
  (evaluation.calibration): a float32 probability rounds to 1.0 once a logit passes
  about 16.6, where confident ECGs would tie; their log-odds stay apart."""
  logits = jnp.asarray(logits, jnp.float32)
  out = logits
  for group in groups:
    index = jnp.asarray(group)
    z = logits[..., index]                                        # (..., G)
    others = jnp.where(jnp.eye(len(group), dtype=bool), -jnp.inf, z[..., None, :])
    out = out.at[..., index].set(z - jax.nn.logsumexp(others, axis=-1))
  return out


def probabilities(logits: jax.Array, groups: Groups = (), platt_a=1.0, platt_b=0.0
                  ) -> jax.Array:
  """Per output: sigmoid(a * logit + b) (Platt-calibrated; a=1, b=0 raw) for an
  independent label, the softmax over its group's logits for an exclusive class."""
  logits = logits.astype(jnp.float32)
  out = jax.nn.sigmoid(platt_a * logits + platt_b)
  for group in groups:
    index = jnp.asarray(group)
    out = out.at[..., index].set(jax.nn.softmax(logits[..., index], axis=-1))
  return out


def loss(logits: jax.Array, labels: jax.Array, label_mask: jax.Array | None = None,
         groups: Groups = (), axis_name: str | None = None) -> jax.Array:
  """The mean over annotated entries of binary cross-entropy (independent labels) and
  softmax cross-entropy (each exclusive group, one entry per annotated example whose
  classes sum to 1). With no groups it is the multi-label binary cross-entropy.

  Inside jax.pmap (`axis_name`) the denominator counts every device's entries, so the
  losses summed over the axis equal jit's global mean."""
  # jnp.asarray: the linear probe passes host (numpy) labels into its jitted loop, and a
  # numpy array cannot be indexed by the group's traced index below.
  logits = jnp.asarray(logits, jnp.float32)
  labels = jnp.asarray(labels, jnp.float32)
  mask = (jnp.ones_like(labels) if label_mask is None
          else jnp.asarray(label_mask, jnp.float32))
  grouped = sorted({k for g in groups for k in g})
  independent = jnp.ones(labels.shape[-1], jnp.float32)
  if grouped:
    independent = independent.at[jnp.asarray(grouped)].set(0.0)
  entries = mask * independent
  total = (optax.sigmoid_binary_cross_entropy(logits, labels) * entries).sum()
  count = entries.sum()
  for group in groups:
    index = jnp.asarray(group)
    target = labels[..., index]
    # An example counts for the group where the group is annotated and names one class.
    annotated = mask[..., group[0]] * (jnp.abs(target.sum(-1) - 1.0) < 1e-6)
    ce = optax.softmax_cross_entropy(logits[..., index], target)
    total = total + (ce * annotated).sum()
    count = count + annotated.sum()
  if axis_name is not None:
    count = jax.lax.psum(count, axis_name)
  return total / jnp.maximum(count, 1.0)
