"""When the atria and ventricles fire: beat schedules for each rhythm.

A schedule lists atrial activations (P waves) and ventricular activations (QRS
onsets) in seconds over a window that starts before 0 and ends after the
record, so the recording begins mid-rhythm as a real one does.
"""

import dataclasses

import numpy as np

LEAD_IN = 1.5   # seconds simulated before the record starts


@dataclasses.dataclass
class Schedule:
  p_times: list[float] = dataclasses.field(default_factory=list)
  p_kinds: list[str] = dataclasses.field(default_factory=list)       # sinus | ectopic
  v_times: list[float] = dataclasses.field(default_factory=list)
  v_kinds: list[str] = dataclasses.field(default_factory=list)  # normal|pvc|paced|aberrant
  atrial_activity: str = "none"                                       # none | fibrillation | flutter
  atrial_rate: float = 0.0                                            # flutter waves/min
  # The breath that modulates the sinus or junctional rate (None where the rhythm does
  # not follow breathing): Hz, and its phase at t = 0, for what else breathing moves.
  resp_hz: float | None = None
  resp_phase: float = 0.0

  def add_p(self, t, kind="sinus"):
    self.p_times.append(t)
    self.p_kinds.append(kind)

  def add_v(self, t, kind="normal"):
    self.v_times.append(t)
    self.v_kinds.append(kind)


@dataclasses.dataclass
class RhythmSpec:
  kind: str                 # sinus | fibrillation | flutter | third_degree | junctional
  heart_rate: float         # sinus or escape rate, or mean ventricular rate in AF
  pr: float = 0.16
  respiratory_modulation: float = 0.03
  wenckebach: bool = False
  paced: bool = False       # ventricular pacing tracking the atria
  pac_probability: float = 0.0
  pvc_probability: float = 0.0
  # A unifocal PVC keeps its coupling interval to the beat before it (within tens of
  # ms), whatever the rate; capped at 0.8 of a fast cycle.
  pvc_coupling_s: float = 0.45
  atrial_rate: float = 75.0  # for flutter and complete block
  conduction_ratio: int = 2  # flutter


def _sinus_cycle_lengths(rng, spec: RhythmSpec, duration: float, s: Schedule) -> np.ndarray:
  """RR intervals with respiratory sinus arrhythmia, Mayer waves and jitter; the
  breath is recorded in `s`."""
  rr0 = 60.0 / spec.heart_rate
  n = int((duration + 2 * LEAD_IN) / rr0 * 1.6) + 4
  t = np.cumsum(np.full(n, rr0))
  resp_hz = rng.uniform(0.18, 0.33)
  resp_phase = rng.uniform(0, 6.3)
  rr = rr0 * (1 + spec.respiratory_modulation * np.sin(2 * np.pi * resp_hz * t + resp_phase)
              + 0.015 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 6.3))
              + 0.01 * rng.normal(size=n))
  # The k-th cycle (t = (k + 1) rr0) starts near -LEAD_IN + k rr0 in record time.
  s.resp_hz = float(resp_hz)
  s.resp_phase = float(resp_phase + 2 * np.pi * resp_hz * (LEAD_IN + rr0))
  return rr


def schedule(rng: np.random.Generator, spec: RhythmSpec, duration: float) -> Schedule:
  s = Schedule()
  end = duration + LEAD_IN
  if spec.kind == "sinus":
    _sinus(rng, spec, duration, s)
  elif spec.kind == "fibrillation":
    s.atrial_activity = "fibrillation"
    rr0 = 60.0 / spec.heart_rate
    cv = rng.uniform(0.15, 0.3)
    t = -LEAD_IN
    while t < end:
      s.add_v(t, "paced" if spec.paced else "normal")
      t += max(0.3, rr0 * rng.lognormal(-cv ** 2 / 2, cv))
  elif spec.kind == "flutter":
    s.atrial_activity, s.atrial_rate = "flutter", spec.atrial_rate
    f_period = 60.0 / spec.atrial_rate
    t = -LEAD_IN + rng.uniform(0, f_period)
    while t < end:
      # Mostly the set conduction ratio, sometimes another (variable block).
      ratio = spec.conduction_ratio if rng.uniform() > 0.15 else rng.choice([2, 3, 4])
      s.add_v(t + 0.22)
      t += ratio * f_period
  elif spec.kind == "third_degree":
    for t in np.arange(-LEAD_IN + rng.uniform(0, 1), end, 60.0 / spec.atrial_rate):
      s.add_p(t)
    for t in np.arange(-LEAD_IN + rng.uniform(0, 1), end, 60.0 / spec.heart_rate):
      s.add_v(t)
  elif spec.kind == "junctional":
    rr = _sinus_cycle_lengths(rng, dataclasses.replace(spec, respiratory_modulation=0.01),
                              duration, s)
    for t in -LEAD_IN + np.cumsum(rr):
      if t < end:
        s.add_v(t)
  else:
    raise ValueError(f"unknown rhythm kind {spec.kind!r}")
  return s


def _sinus(rng, spec: RhythmSpec, duration: float, s: Schedule) -> None:
  """Sinus node firing, with AV conduction rules and premature beats."""
  rr = _sinus_cycle_lengths(rng, spec, duration, s)
  end = duration + LEAD_IN
  t = -LEAD_IN + rng.uniform(0, rr[0])
  i = 0
  wenckebach_beat = 0
  wenckebach_cycle = int(rng.integers(3, 6))
  ventricular_kind = "paced" if spec.paced else "normal"
  pvc_pause_until = -np.inf
  while t < end and i < len(rr) - 1:
    cycle = rr[i]
    i += 1
    # A premature atrial beat fires early and resets the sinus node. The earlier it
    # comes, the more refractory the conduction system finds it: a longer PR, a
    # right-bundle aberrancy, or no conduction at all (a blocked PAC: a pause).
    if rng.uniform() < spec.pac_probability and s.v_times:
      coupling = rng.uniform(0.55, 0.85)
      t_pac = t - cycle + cycle * coupling
      if t_pac > s.v_times[-1] + 0.3:
        s.add_p(t_pac, "ectopic")
        early, u = coupling < 0.65, rng.uniform()
        if not (early and u < 0.15):
          kind = "aberrant" if early and u < 0.4 and not spec.paced else ventricular_kind
          s.add_v(t_pac + spec.pr + rng.uniform(0, 0.06 if early else 0.03), kind)
        t = t_pac + cycle
        continue
    s.add_p(t)
    pr = spec.pr
    if spec.wenckebach:
      if wenckebach_beat == wenckebach_cycle:       # this P is blocked
        wenckebach_beat = 0
        t += cycle
        continue
      pr += 0.12 * (1 - 0.5 ** wenckebach_beat)
      wenckebach_beat += 1
    conducted = t + pr >= pvc_pause_until
    if conducted:
      s.add_v(t + pr, ventricular_kind)
    # A premature ventricular beat comes early, coupled to the conducted beat before
    # it; the next sinus beat is not conducted (the ventricle is refractory), giving
    # the full compensatory pause.
    if rng.uniform() < spec.pvc_probability and conducted and not spec.paced:
      t_pvc = t + pr + min(spec.pvc_coupling_s + rng.uniform(-0.02, 0.02), 0.8 * cycle)
      s.add_v(t_pvc, "pvc")
      pvc_pause_until = t + cycle + pr + 0.01
    t += cycle


# Sinus arrhythmia as a reader measures it: the longest minus the shortest PP interval
# between consecutive sinus beats above 0.12 s.
SINUS_ARRHYTHMIA_PP_RANGE = 0.12


def sinus_pp_range(s: Schedule, duration: float) -> float:
  """Longest minus shortest PP interval between consecutive sinus P waves inside the
  record (an interval spanning an ectopic P is not a sinus cycle); 0 with fewer than
  two such intervals."""
  intervals = [b - a for (a, ka), (b, kb) in zip(zip(s.p_times, s.p_kinds),
                                                 zip(s.p_times[1:], s.p_kinds[1:]))
               if ka == kb == "sinus" and 0 <= a and b <= duration]
  return max(intervals) - min(intervals) if len(intervals) >= 2 else 0.0
