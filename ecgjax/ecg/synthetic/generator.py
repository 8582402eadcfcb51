"""The synthetic cohort as records: deterministic for a seed, split by patient.

Every random draw comes from a generator seeded by (seed, patient, visit), so a
record can be regenerated alone, in any order, on any worker, and a dataset of
N ECGs is a prefix of the one of 2N.
"""

import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import sys
from collections.abc import Iterator

import numpy as np

from ecgjax.ecg.synthetic import cohort, conditions, recording, render, rhythm

SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


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
  rendering) and the ECG's spec. Studies of the generator (normal_ranges, tests)
  start here and change what they study, as generate_record renders it."""
  patient = cohort.sample_patient(_patient_rng(seed, patient_index), patient_index)
  rng = np.random.default_rng([seed, patient_index, visit + 1])
  return patient, rng, cohort.sample_ecg(rng, patient, visit)


def render_ecg(rng: np.random.Generator, spec: cohort.EcgSpec, sched: rhythm.Schedule,
               sampling_rate: float, duration: float, *, noise: render.NoiseSpec | None = None,
               cart: recording.Recording = recording.IDEAL,
               cart_rng: np.random.Generator | None = None) -> np.ndarray:
  """The spec's body on the patient's placed electrodes, (samples, 12) float32 µV:
  with the spec's noise unless `noise` replaces it, through `cart` (its filters and
  mishaps, drawn from `cart_rng`; by default an ideal one)."""
  lead_field = render.placed_lead_field(rng, spec.chest_rotation, spec.chest_gain)
  return render.render(rng, sched, spec.atria, spec.ventricles, spec.qtc, spec.scale,
                       spec.noise if noise is None else noise, sampling_rate, duration,
                       lead_field=lead_field, conditions=cart, conditions_rng=cart_rng)


def generate_record(seed: int, patient_index: int, visit: int,
                    sampling_rate: float, duration: float) -> dict:
  """One ECG: signal (samples, 12) float32 µV, labels, and demographics."""
  patient, rng, spec = draw_ecg(seed, patient_index, visit)
  sched = rhythm.schedule(rng, spec.rhythm, duration)
  # The cart's settings and mishaps come from a stream of their own.
  cart_rng = np.random.default_rng([seed, patient_index, visit + 1, 1 << 16])
  cart = recording.sample_recording(cart_rng, spec.noise.powerline_hz, duration)
  signal = render_ecg(rng, spec, sched, sampling_rate, duration, cart=cart,
                      cart_rng=cart_rng)
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
