"""Elapsed time and an ETA for the training log lines."""

import time


def format_duration(seconds: float) -> str:
  seconds = int(round(max(seconds, 0)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
  """ETA from the mean time of the steps trained so far in this process (evaluations
  and compilation included: they recur, and a user waits for them too)."""

  def __init__(self, total_steps: int, start_step: int = 0):
    self.total_steps = total_steps
    self.start_step = start_step
    self.began = time.perf_counter()

  def text(self, step: int) -> str:
    elapsed = time.perf_counter() - self.began
    done = step - self.start_step
    if done <= 0:
      return f"elapsed {format_duration(elapsed)}"
    eta = elapsed / done * (self.total_steps - step)
    return f"elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}"
