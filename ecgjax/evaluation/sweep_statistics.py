"""The sweep's statistics. Every run of a sweep scored the same test ECGs, so the
statistics pair runs: each bootstrap resample draws one set of patients and scores
every run on it. A mode's AUROC at a training-set size is the mean over seeds, with a
95% CI from those resamples; the difference between two modes is the mean over seeds
of their paired differences, with its CI and a two-sided bootstrap p-value (twice the
smaller tail). DeLong's test is given per seed (comparisons)."""

import warnings

import numpy as np
from sklearn import metrics as skm

from ecgjax.evaluation import auroc_interval, bootstrap, comparison
from ecgjax.evaluation.sweep_runs import Run, known_rows


# The fine-tuning modes in the order tables show them, and those compared with scratch:
# `random_probe` (a linear probe on the architecture's random, frozen features) is the
# control that says how much of a probe's score the pretraining earned.
MODE_ORDER = ("scratch", "random_probe", "linear_probe", "full")
AGAINST_SCRATCH = ("full", "linear_probe", "random_probe")
MACRO_LABEL = "macro (mean over labels)"      # the table's row of the mean over labels


def _pct(values: np.ndarray) -> tuple[float, float]:
  values = values[np.isfinite(values)]
  return tuple(np.percentile(values, [2.5, 97.5])) if len(values) else (np.nan, np.nan)


def summarize(runs: list[Run], resamples: int = 1000, seed: int = 0,
              pairs: tuple[tuple[str, str], ...] | None = None) -> dict:
  """Per (label, size): each mode's seed-mean AUROC with CI and the spread of its seeds
  (`modes[mode]`: mean, CI low, CI high, seeds, lowest seed's, highest seed's), and the
  paired differences `A_minus_B` for each (A, B) of `pairs` (default: each pretrained
  mode against scratch). The macro rows add each mode's macro AUPRC (`auprc`: the mean
  over labels of average precision, then over seeds), AUROC's companion where
  positives are rare (Berger et al. 2026 ask for both)."""
  pairs = tuple(pairs or ((m, "scratch") for m in AGAINST_SCRATCH))
  first = runs[0].predictions
  names = [str(n) for n in first["names"]]
  weights = bootstrap.patient_weights(first["test_patients"], resamples, seed)
  modes = sorted({r.mode for r in runs})
  sizes = sorted({r.train_size for r in runs}, key=lambda s: (s == 0, s))
  table, comparisons = [], []
  macro: dict = {}            # (size, mode) -> [(point, draws)] over labels
  macro_seeds: dict = {}      # (size, mode) -> {seed: [AUROC per label]}
  macro_auprc: dict = {}      # (size, mode) -> {seed: [AUPRC per label]}
  for k, label in enumerate(names):
    rows, y = known_rows(first, k)
    if not len(y) or y.min() == y.max():
      continue
    w = weights[:, rows]
    for size in sizes:
      per_mode, boot = {}, {}
      for mode in modes:
        chosen = [r for r in runs if r.mode == mode and r.train_size == size]
        if not chosen:
          continue
        scores = {r.seed: r.predictions["test_log_odds"][rows, k] for r in chosen}
        by_seed = {seed: float(bootstrap.weighted_auroc(y, s, np.ones((1, len(y))))[0])
                   for seed, s in scores.items()}
        point = np.mean(list(by_seed.values()))
        draws = np.mean([bootstrap.weighted_auroc(y, s, w) for s in scores.values()], 0)
        # The bootstrap percentile interval, widened to Newcombe's where that is wider
        # (results.AUROC_INTERVAL_METHOD): it must not collapse at AUROC 1.
        low, high, _, _ = auroc_interval.widen(float(point), *_pct(draws), int(y.sum()),
                                               int(len(y) - y.sum()))
        per_mode[mode] = (point, low, high, len(scores), min(by_seed.values()),
                          max(by_seed.values()))
        boot[mode] = (scores, draws)
        macro.setdefault((size, mode), []).append((point, draws))
        for seed, value in by_seed.items():
          macro_seeds.setdefault((size, mode), {}).setdefault(seed, []).append(value)
        for seed, s in scores.items():
          macro_auprc.setdefault((size, mode), {}).setdefault(seed, []).append(
              float(skm.average_precision_score(y, s)))
      row = {"label": label, "train_size": size, "n_test_pos": int(y.sum()), "modes": per_mode}
      row.update(_differences(per_mode, {m: b[1] for m, b in boot.items()}, pairs))
      for a_mode, b_mode in pairs:
        if a_mode in boot and b_mode in boot:
          for s, a in boot[a_mode][0].items():
            if s in boot[b_mode][0]:
              comparisons.append({"label": label, "train_size": size, "seed": s,
                                  "comparison": f"{a_mode} - {b_mode}",
                                  **_delong(y, a, boot[b_mode][0][s])})
      table.append(row)
  for size in sizes:
    per_mode, draws = {}, {}
    for mode in modes:
      entries = macro.get((size, mode))
      if entries:
        with warnings.catch_warnings():
          warnings.simplefilter("ignore", RuntimeWarning)   # a resample without positives
          draws[mode] = np.nanmean([d for _, d in entries], axis=0)
        seed_means = [np.mean(v) for v in macro_seeds[(size, mode)].values()]
        per_mode[mode] = (float(np.mean([p for p, _ in entries])), *_pct(draws[mode]),
                          len([r for r in runs if r.mode == mode and r.train_size == size]),
                          float(min(seed_means)), float(max(seed_means)))
    if per_mode:
      auprc = {mode: float(np.mean([np.mean(v) for v in macro_auprc[(size, mode)].values()]))
               for mode in per_mode}
      table.append({"label": MACRO_LABEL, "train_size": size, "n_test_pos": None,
                    "modes": per_mode, "auprc": auprc, **_differences(per_mode, draws, pairs)})
  return {"names": names, "modes": modes, "sizes": sizes, "table": table,
          "comparisons": comparisons, "resamples": resamples, "pairs": pairs}


def _delong(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> dict:
  """DeLong's test of two AUROCs on the same ECGs; with fewer than 2 positives or 2
  negatives (a small fold's test split) it is undefined: the difference alone, NaN."""
  if min(int(y.sum()), int(len(y) - y.sum())) < 2:
    difference = (bootstrap.weighted_auroc(y, score_a, np.ones((1, len(y))))[0]
                  - bootstrap.weighted_auroc(y, score_b, np.ones((1, len(y))))[0])
    return {"difference": float(difference), "delong_z": float("nan"),
            "delong_p": float("nan")}
  d = comparison.delong_test(y, score_a, score_b)
  return {"difference": d.difference, "delong_z": d.z, "delong_p": d.p_value}


def _differences(per_mode: dict, draws: dict, pairs) -> dict:
  """A minus B for each pair: point difference, percentile CI and two-sided bootstrap p,
  from draws paired by resample."""
  out = {}
  for a_mode, b_mode in pairs:
    if a_mode in draws and b_mode in draws:
      diff = draws[a_mode] - draws[b_mode]
      point = per_mode[a_mode][0] - per_mode[b_mode][0]
      finite = diff[np.isfinite(diff)]
      p = min(1.0, 2 * min((finite <= 0).mean(), (finite >= 0).mean())) if len(finite) else np.nan
      out[f"{a_mode}_minus_{b_mode}"] = (point, *_pct(diff), p)
  return out
