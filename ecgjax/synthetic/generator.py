"""The synthetic cohort as records: deterministic for a seed, split by patient.

Every random draw comes from a generator seeded by (seed, patient, visit), so a
record can be regenerated alone, in any order, on any worker, and a dataset of
N ECGs is a prefix of the one of 2N.

Fresh ECGs (`fresh_example`): an endless stream, the position-th ECG a pure function
of (stream seed, position), distributed as an ECG drawn at random from a built
dataset: its patient chosen in proportion to their number of ECGs, then one of
their visits. Training on it never shows a network the same ECG twice.
"""

import collections
import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import sys
from collections.abc import Iterator

import numpy as np

from ecgjax.synthetic import (cohort, conditions, recording, render, rhythm, tremor,
                                  variability, version)

# What the code here generates (synthetic.version, where a change that alters any
# generated ECG raises it); the synthetic_ecg builder's version.
VERSION = version.VERSION
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
# Candidate patients per fresh ECG (`fresh_example`): one is accepted with
# probability at least 1 / MAX_ECGS_PER_PATIENT, so running out is a (7/8)^1024 event.
_FRESH_CANDIDATES = 1024


@dataclasses.dataclass(frozen=True)
class PlannedPatient:
  index: int
  ecg_count: int
  split: str


def _patient_rng(seed: int, index: int) -> np.random.Generator:
  return np.random.default_rng([seed, index, 0])


def patient_split(seed: int, index: int) -> str:
  u = np.random.default_rng([seed, index, 1 << 20]).uniform()
  edge = 0.0
  for split, fraction in SPLIT_FRACTIONS.items():
    edge += fraction
    if u < edge:
      return split
  return "test"


def plan(seed: int, num_ecgs: int) -> list[PlannedPatient]:
  """Patients, in order, until their ECGs add up to exactly `num_ecgs`."""
  patients, total, index = [], 0, 0
  while total < num_ecgs:
    count = cohort.sample_patient(_patient_rng(seed, index), index).ecg_count
    count = min(count, num_ecgs - total)
    patients.append(PlannedPatient(index, count, patient_split(seed, index)))
    total += count
    index += 1
  return patients


def synthetic_patient_key(seed: int, index: int) -> str:
  """A stable opaque patient key (hashed, as the clinical builders' keys are)."""
  return hashlib.sha256(f"synthetic-ecg:{seed}:{index}".encode()).hexdigest()[:16]


def draw_ecg(seed: int, patient_index: int, visit: int
             ) -> tuple[cohort.Patient, np.random.Generator, cohort.EcgSpec]:
  """What one ECG of the cohort shows, before it is rendered: the patient, the
  recording's random stream (next: the rhythm's schedule, then the body's
  rendering) and the ECG's spec. Studies of the generator (benchmarks/synthetic_*.py, tests)
  start here and change what they study, as generate_record renders it."""
  patient = cohort.sample_patient(_patient_rng(seed, patient_index), patient_index)
  rng = np.random.default_rng([seed, patient_index, visit + 1])
  return patient, rng, cohort.sample_ecg(rng, patient, visit)


def render_ecg(rng: np.random.Generator, spec: cohort.EcgSpec, sched: rhythm.Schedule,
               sampling_rate: float, duration: float, *, noise: render.NoiseSpec | None = None,
               cart: recording.Recording = recording.IDEAL,
               cart_rng: np.random.Generator | None = None,
               beats_rng: np.random.Generator | None = None,
               body_noise: tremor.BodyNoise = tremor.QUIET,
               body_noise_rng: np.random.Generator | None = None) -> np.ndarray:
  """The spec's body on the patient's placed electrodes, (samples, 12) float32 µV:
  with the spec's noise unless `noise` replaces it, through `cart` (its filters and
  mishaps, drawn from `cart_rng`; by default an ideal one); with beat-to-beat
  variability drawn from `beats_rng` (variability.py; without it every beat of a
  kind is the same) and `body_noise` (tremor.py) drawn from `body_noise_rng`."""
  lead_field = render.placed_lead_field(rng, spec.chest_rotation, spec.chest_gain)
  beats = (variability.sample(beats_rng, sched.resp_hz, sched.resp_phase if sched.resp_hz
                              else None) if beats_rng is not None else variability.NONE)
  return render.render(rng, sched, spec.atria, spec.ventricles, spec.qtc, spec.scale,
                       spec.noise if noise is None else noise, sampling_rate, duration,
                       lead_field=lead_field, conditions=cart, conditions_rng=cart_rng,
                       beats=beats, beats_rng=beats_rng, body_noise=body_noise,
                       body_noise_rng=body_noise_rng)


def generate_record(seed: int, patient_index: int, visit: int,
                    sampling_rate: float, duration: float) -> dict:
  """One ECG: signal (samples, 12) float32 µV, labels, and demographics."""
  patient, rng, spec = draw_ecg(seed, patient_index, visit)
  sched = rhythm.schedule(rng, spec.rhythm, duration)
  # The cart's settings and mishaps come from a stream of their own.
  cart_rng = np.random.default_rng([seed, patient_index, visit + 1, 1 << 16])
  cart = recording.sample_recording(cart_rng, spec.noise.powerline_hz, duration)
  # So do the beats' variations (since 1.6.0): every other draw is as it was.
  beats_rng = np.random.default_rng([seed, patient_index, visit + 1, 1 << 17])
  # And the body's tremor and muscle spectrum (since 1.7.0).
  body_noise_rng = np.random.default_rng([seed, patient_index, visit + 1, 1 << 18])
  body_noise = tremor.sample(body_noise_rng, patient.age)
  signal = render_ecg(rng, spec, sched, sampling_rate, duration, cart=cart,
                      cart_rng=cart_rng, beats_rng=beats_rng, body_noise=body_noise,
                      body_noise_rng=body_noise_rng)
  names = set(spec.labels)
  if (spec.rhythm.kind == "sinus" and not spec.rhythm.paced
      and rhythm.sinus_pp_range(sched, duration) > rhythm.SINUS_ARRHYTHMIA_PP_RANGE):
    names.add("sinus_arrhythmia")
  labels = np.zeros(len(conditions.NAMES), dtype=np.int8)
  labels[[conditions.INDEX[name] for name in names]] = 1
  return {
      "signal": signal,
      "labels": labels,
      "record_id": f"p{patient_index:07d}_e{visit}",
      "patient": synthetic_patient_key(seed, patient_index),
      "age": patient.age,
      "sex": patient.sex,
  }


def quantize_microvolts(signal: np.ndarray) -> np.ndarray:
  """float µV -> int16 µV, as datasets store signals (±32.7 mV covers any surface ECG)."""
  return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


def stored_example(record: dict) -> dict:
  """A generated record as a built dataset stores it (int16 µV, uint8 labels)."""
  return {"signal": quantize_microvolts(record["signal"]),
          "labels": record["labels"].astype(np.uint8), "record_id": record["record_id"],
          "patient": record["patient"], "age": np.int32(record["age"]), "sex": record["sex"]}


def fresh_draw(stream_seed: int, position: int) -> tuple[int, int]:
  """(patient index, visit) of the stream's position-th ECG.

  A built dataset holds every ECG of each of its patients, so an ECG drawn from it at
  random belongs to a patient with k ECGs in proportion to k: candidates are accepted
  with probability k / MAX_ECGS_PER_PATIENT, then one visit is chosen uniformly.
  Candidates are indexed position * _FRESH_CANDIDATES + attempt: no two positions
  share a patient."""
  accept = np.random.default_rng([stream_seed, position, 1 << 21])
  for attempt in range(_FRESH_CANDIDATES):
    index = position * _FRESH_CANDIDATES + attempt
    count = cohort.sample_patient(_patient_rng(stream_seed, index), index).ecg_count
    if accept.uniform() * cohort.MAX_ECGS_PER_PATIENT < count:
      return index, int(accept.integers(count))
  raise RuntimeError(f"fresh ECG {position} of stream {stream_seed}: no candidate accepted")


def fresh_example(stream_seed: int, position: int, sampling_rate: float,
                  duration: float) -> dict:
  """The stream's position-th ECG, stored as a built dataset stores it."""
  index, visit = fresh_draw(stream_seed, position)
  return stored_example(generate_record(stream_seed, index, visit, sampling_rate, duration))


def _fresh_chunk(stream_seed: int, positions: list[int], sampling_rate: float,
                 duration: float) -> list[dict]:
  return [fresh_example(stream_seed, p, sampling_rate, duration) for p in positions]


def fresh_examples(stream_seed: int, positions: range, sampling_rate: float,
                   duration: float, workers: int | None = None,
                   chunk: int = 16) -> Iterator[dict]:
  """`fresh_example` at each of `positions` (an endless range is fine), in order,
  generated by `workers` processes (default `build_workers()`) as they are read:
  at most two chunks of `chunk` ECGs per worker are made ahead of the reader, so a
  reader slower than the generator (a training step) holds memory constant."""
  workers = workers or build_workers()
  chunks = (list(positions[i:i + chunk]) for i in range(0, len(positions), chunk))
  if workers <= 1:
    for c in chunks:
      yield from _fresh_chunk(stream_seed, c, sampling_rate, duration)
    return
  with _main_not_reimported():
    pool = multiprocessing.get_context("spawn").Pool(workers)
  with pool:
    # Not imap: its feeder thread would submit the endless stream as fast as it can
    # and keep every result the reader has not taken yet.
    ahead = collections.deque()
    for c in chunks:
      ahead.append(pool.apply_async(_fresh_chunk, (stream_seed, c, sampling_rate, duration)))
      if len(ahead) >= 2 * workers:
        yield from ahead.popleft().get()
    while ahead:
      yield from ahead.popleft().get()


def generate_split(seed: int, num_ecgs: int, split: str, sampling_rate: float,
                   duration: float) -> Iterator[dict]:
  for p in plan(seed, num_ecgs):
    if p.split == split:
      for visit in range(p.ecg_count):
        yield generate_record(seed, p.index, visit, sampling_rate, duration)


def build_workers() -> int:
  """Processes for generation: $ECGJAX_BUILD_WORKERS, else the CPUs we may run on."""
  return int(os.environ.get("ECGJAX_BUILD_WORKERS", 0)) or len(os.sched_getaffinity(0))


def _record_task(task: tuple) -> dict:
  return generate_record(*task)


def generate_split_parallel(seed: int, num_ecgs: int, split: str, sampling_rate: float,
                            duration: float, workers: int | None = None) -> Iterator[dict]:
  """`generate_split` across `workers` processes (default `build_workers()`), in order."""
  workers = workers or build_workers()
  tasks = [(seed, p.index, visit, sampling_rate, duration)
           for p in plan(seed, num_ecgs) if p.split == split
           for visit in range(p.ecg_count)]
  if workers <= 1 or len(tasks) < 256:
    yield from map(_record_task, tasks)
    return
  # Spawn, not fork: a caller such as a TFDS build has TensorFlow's threads running.
  with _main_not_reimported():
    pool = multiprocessing.get_context("spawn").Pool(workers)
  with pool:
    yield from pool.imap(_record_task, tasks, chunksize=32)


@contextlib.contextmanager
def _main_not_reimported():
  """While the pool starts its workers: a spawned worker re-imports the parent's main
  module (`tfds build`'s imports TensorFlow: a second of start-up and TensorFlow's
  banner per worker), though `_record_task` needs only numpy and this package. Hiding
  the main module's file and spec for the moment of the start keeps the workers to
  what they unpickle."""
  main = sys.modules.get("__main__")
  saved = {k: getattr(main, k) for k in ("__file__", "__spec__") if hasattr(main, k)}
  try:
    for key in saved:
      setattr(main, key, None)
    yield
  finally:
    for key, value in saved.items():
      setattr(main, key, value)
