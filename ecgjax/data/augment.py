"""Training-stream augmentations, as pure functions of a stateless seed.

`dataset.augment` picks one (augment_kind reads it):
- `none`: the stored ECG.
- `basic`: an amplitude gain (log-uniform 0.8-1.25, the spread of electrode contact
  and body habitus), a baseline offset per lead (±50 µV) and white noise (σ 10 µV).
- `recording`: what differs between a simulation and a cart's recording, for
  pretraining on synthetic ECGs that must transfer to real ones (issue 13): the
  basic gain and offset; a gain per lead (log-uniform 0.85-1.18: electrode contact
  and placement differ lead by lead); baseline wander (one respiratory-to-slow
  frequency, 0.05-0.5 Hz, up to 150 µV with a phase per lead); broadband noise of
  a drawn level (σ 0-25 µV); and, with probability 0.1 where there is more than
  one lead, one lead zeroed (a flat or disconnected channel).
- `handheld`: the stored ECG, its sign flipped with probability 0.5 (nothing else,
  so that its effect is measured alone). A one-lead handheld recorder (the
  thumbs-on-electrodes kind that recorded CinC 2017) has no fixed way round: held
  reversed, it records -I. For one-lead models only (the config check refuses it
  with more leads): flipping every lead of a 12-lead ECG is no recording a cart
  makes. About one CinC 2017 recording in five has a negative dominant deflection
  (docs/sim-to-real.md).
Each takes and returns float32 µV (samples, leads); the pipeline rounds to int16.
"""

import math

import tensorflow as tf

AUGMENT_KINDS = ("none", "basic", "recording", "handheld")


def augment_kind(augment) -> str:
  """`dataset.augment` -> one of AUGMENT_KINDS. True and False, the
  field's values before the kinds existed, mean basic and none."""
  if isinstance(augment, bool):
    return "basic" if augment else "none"
  # A command line's --config.dataset.augment=True arrives as a string.
  augment = {"true": "basic", "false": "none"}.get(str(augment).lower(), augment)
  if augment not in AUGMENT_KINDS:
    raise ValueError(f"augment must be one of {', '.join(AUGMENT_KINDS)} (or True/False), "
                     f"got {augment!r}")
  return augment


def _gain_offset_noise(signal, seeds, noise_std):
  gain = tf.exp(tf.random.stateless_uniform([], seeds[0], math.log(0.8), math.log(1.25)))
  offset = tf.random.stateless_uniform([1, tf.shape(signal)[1]], seeds[1], -50.0, 50.0)
  noise = tf.random.stateless_normal(tf.shape(signal), seeds[2], stddev=noise_std)
  return signal * gain + offset + noise


def basic(signal: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  return _gain_offset_noise(signal, tf.random.experimental.stateless_split(seed, 3), 10.0)


def recording(signal: tf.Tensor, seed: tf.Tensor, sampling_rate: float) -> tf.Tensor:
  seeds = tf.random.experimental.stateless_split(seed, 9)
  samples, leads = tf.shape(signal)[0], tf.shape(signal)[1]
  noise_std = tf.random.stateless_uniform([], seeds[3], 0.0, 25.0)
  signal = _gain_offset_noise(signal, seeds, noise_std)
  per_lead = tf.exp(tf.random.stateless_uniform([1, leads], seeds[4], math.log(0.85),
                                                math.log(1.18)))
  t = tf.range(samples, dtype=tf.float32)[:, None] / sampling_rate
  hz = tf.random.stateless_uniform([], seeds[5], 0.05, 0.5)
  phase = tf.random.stateless_uniform([1, leads], seeds[6], 0.0, 2 * math.pi)
  wander = tf.random.stateless_uniform([1, leads], seeds[7], 0.0, 150.0)
  signal = signal * per_lead + wander * tf.sin(2 * math.pi * hz * t + phase)
  drop = tf.random.stateless_uniform([2], seeds[8])
  flat = tf.cast(drop[1] * tf.cast(leads, tf.float32), tf.int32)
  keep = tf.where((drop[0] < 0.1) & (leads > 1) & (tf.range(leads) == flat), 0.0, 1.0)
  return signal * keep[None, :]


def handheld(signal: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  sign = tf.where(tf.random.stateless_uniform([], seed) < 0.5, -1.0, 1.0)
  return sign * signal
