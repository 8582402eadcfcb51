"""The sweep resumes after a kill, and its report holds the columns users rely on."""

import csv
import glob
import json
import os

import numpy as np
import pytest

from ecgjax.experiments import fine_tuning, sweep, validation
from tests.helpers import png_pixels, pure, tiny_compare_config

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


def test_killed_sweep_skips_finished_runs_and_resumes_a_half_finished_one(
    tiny_pretrained, tiny_data_dir, tmp_path, monkeypatch):
  """The sweep trains scratch's two runs as one stacked group, then the probes one at a
  time; killed in the first probe, run again, it trains neither scratch run again."""
  config = tiny_compare_config(tiny_data_dir, tiny_pretrained, stack_size=2)
  workdir = str(tmp_path / "sweep")
  calls = []
  real, real_group = fine_tuning.train, fine_tuning.train_group   # the sweep's calls

  def killed_at_second_call(c, spec, d):
    calls.append([d])
    if len(calls) == 2:
      os.makedirs(os.path.join(d, "checkpoints"), exist_ok=True)   # started, then killed
      raise KeyboardInterrupt
    return real(c, spec, d)

  def group(configs, specs, dirs, group_dir):
    calls.append(list(dirs))
    return real_group(configs, specs, dirs, group_dir)

  monkeypatch.setattr(fine_tuning, "train", killed_at_second_call)
  monkeypatch.setattr(fine_tuning, "train_group", group)
  with pytest.raises(KeyboardInterrupt):
    sweep.compare_and_report(config, workdir)
  finished, (half_finished,) = calls[0], calls[1]
  assert len(finished) == 2 and all("/scratch/" in d for d in finished)    # one group
  assert all(os.path.exists(os.path.join(d, "results.json")) for d in finished)
  assert not os.path.exists(os.path.join(half_finished, "results.json"))
  assert not os.path.exists(os.path.join(workdir, "groups", "scratch", "stack0"))   # done

  seen = []
  monkeypatch.setattr(fine_tuning, "train",
                      lambda c, spec, d: seen.append(d) or real(c, spec, d))
  monkeypatch.setattr(fine_tuning, "train_group",
                      lambda cs, ss, ds, g: seen.extend(ds) or real_group(cs, ss, ds, g))
  sweep.compare_and_report(config, workdir)
  assert half_finished in seen                      # the half-finished run is resumed
  assert not set(finished) & set(seen)              # finished runs are not
  assert len(seen) == 8 - 2

  rows = list(csv.DictReader(open(os.path.join(workdir, "results.csv"))))
  assert len(rows) == 8 * 2                         # runs x labels
  required = {"label", "mode", "train_size", "seed", "auroc", "auroc_ci_low", "auroc_ci_high",
              "sensitivity", "specificity", "n_test_pos", "n_test_neg"}
  assert required <= set(rows[0])
  report = open(os.path.join(workdir, "report.md")).read()
  assert "full - scratch [95% CI]" in report and "| sinus_rhythm | 60 |" in report
  assert "random_probe AUROC [95% CI]" in report and "random_probe - scratch [95% CI]" in report
  assert "| sinus_rhythm | all |" in report
  assert "| macro (mean over labels) | 60 |" in report
  # One panel per label (the AUROC curves add the macro row's), each mode in its colour
  # (matplotlib's C0-C3): all four on the AUROC curves, two at least on the others.
  mode_colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
  for plot, panels, modes_drawn in (("auroc_vs_train_size.png", 3 * 4.5, 4),
                                    ("roc_train_size_60.png", 2 * 4.2, 2),
                                    ("reliability_train_size_60.png", 2 * 4.2, 2)):
    pixels = png_pixels(os.path.join(workdir, plot))
    assert pixels.shape[1] == int(panels * 110), plot
    assert sum(pure(pixels, c) > 50 for c in mode_colours) >= modes_drawn, plot
    assert f"![{plot}]({plot})" in report
  # A row's ECE after calibration, recomputed apart from its run's predictions.npz: the
  # card's Platt map on the stored log-odds, 15 equal-width bins.
  defined = [r for r in rows if r["ece_after"]]
  assert defined
  row = defined[0]
  run = run_dir(workdir, row["mode"], row["train_size"], row["seed"])
  saved = np.load(os.path.join(run, "predictions.npz"))
  k = list(saved["names"]).index(row["label"])
  results = json.load(open(os.path.join(run, "results.json")))
  platt = results["labels"][row["label"]]["calibration"]
  y = saved["test_labels"][:, k]
  known = ~np.isnan(y)
  p = 1 / (1 + np.exp(-(platt["a"] * saved["test_log_odds"][known, k].astype(np.float64)
                         + platt["b"])))
  bins = np.minimum((p * 15).astype(int), 14)
  ece = sum(abs(p[bins == b].sum() - y[known][bins == b].sum()) for b in range(15)) / known.sum()
  assert float(row["ece_after"]) == pytest.approx(ece, abs=1e-9)
  assert os.path.exists(os.path.join(workdir, "comparisons.csv"))


def run_dir(workdir: str, mode: str, size: str, seed: str) -> str:
  """The sweep run of results.csv's (mode, train_size, seed)."""
  for path in glob.glob(os.path.join(workdir, "runs", "**", "results.json"), recursive=True):
    r = json.load(open(path))
    if (r["mode"], str(r["train_size"]), str(r["seed"])) == (mode, size, seed):
      return os.path.dirname(path)
  raise AssertionError(f"no run {mode} {size} {seed} under {workdir}")


def test_sweep_axes_are_checked_before_any_run(tiny_data_dir, tmp_path):
  config = tiny_compare_config(tiny_data_dir, str(tmp_path))
  config.train_sizes = "100,lots"
  with pytest.raises(validation.ConfigError, match="config.train_sizes"):
    sweep.compare_and_report(config, str(tmp_path / "sweep"))
  config = tiny_compare_config(tiny_data_dir, str(tmp_path))
  config.modes = "scratch,probe"
  with pytest.raises(validation.ConfigError, match="config.mode='probe'"):
    sweep.compare_and_report(config, str(tmp_path / "sweep"))
  assert not os.path.exists(tmp_path / "sweep")


def test_report_without_any_test_auroc_draws_no_size_plot(tmp_path):
  """A sweep whose test split has no positive for any label (a tiny or multi-process
  run) still writes its report: the AUROC-by-size plot is left out, not a crash."""
  from ecgjax.evaluation import sweep_plots
  assert sweep_plots.auroc_vs_size({"table": [], "modes": ["scratch", "full"]},
                                    str(tmp_path)) == []
  assert not os.listdir(tmp_path)


def test_a_signal_between_runs_stops_the_sweep_and_one_during_the_report_lets_it_finish(
    tiny_pretrained, tiny_data_dir, tmp_path):
  """Under a command's StopRequest: SIGTERM after the first run stops the sweep before
  the second starts (the first stays finished, nothing of the second exists); run
  again, it trains the second only. SIGTERM while report.md is written: the report is
  finished and the sweep ends as usual."""
  import signal
  from ecgjax import failpoints
  from ecgjax.training import interrupt
  config = tiny_compare_config(tiny_data_dir, tiny_pretrained, modes="scratch,linear_probe",
                               train_sizes="60")
  workdir = str(tmp_path / "sweep")
  previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    with interrupt.StopRequest():
      failpoints.arm("between_runs", 2, "term")
      with pytest.raises(interrupt.Interrupted, match="between runs, with 1 of 2 finished"):
        sweep.compare_and_report(config, workdir)
    first, second = (sweep.run_dir(workdir, c) for c in sweep.run_configs(config))
    assert os.path.exists(os.path.join(first, "results.json"))
    assert not os.path.exists(second)

    with interrupt.StopRequest():
      failpoints.arm("writing:report.md", 1, "term")
      sweep.compare_and_report(config, workdir)           # finishes: no Interrupted
    report = open(os.path.join(workdir, "report.md")).read()
    assert report.startswith("# Fine-tuning comparison") and "| sinus_rhythm | 60 |" in report
    assert not [f for f in os.listdir(workdir) if f.endswith(".tmp")]
    rows = list(csv.DictReader(open(os.path.join(workdir, "results.csv"))))
    assert {r["mode"] for r in rows} == {"scratch", "linear_probe"}
  finally:
    failpoints.disarm()
    for s, handler in previous.items():
      signal.signal(s, handler)
