"""A synthetic-pretrained model scored zero-shot on real ECG sample sets.

Each set found under `real_data` (sample_sets) is built at the model's sampling rate
into a scratch data_dir with its own builder, then every record of every split is
scored with no training, as predict scores a file (scored_sets): labels matched to
the model's by name or SNOMED code, operating points from the model card. Per label
the set annotates: AUROC with its 95% CI and the number of positives, computed as
evaluate computes them (evaluation.results.auroc_entry, patient bootstrap);
`median_auroc` is over the labels with at least `min_positives` positives, pooled over
the sets (a label scored on two sets counts once per set). The shipped samples are
small: read the CIs, and never tune the generator on these labels.
"""

import os
import statistics

import numpy as np

from ecgjax.evaluation import bootstrap, metrics, results as eval_results
from ecgjax.inference import label_matching, scoring
from ecgjax.models import model_card
from ecgjax.sim_to_real import sample_sets, scored_sets

RESAMPLES = 1000     # of the patient bootstrap, with its seed, as evaluate's defaults
SEED = 0


def label_figures(scored: scored_sets.ScoredSet, model: scoring.LoadedModel,
                  annotated: list[str]) -> dict:
  """Per label the set annotates and the model predicts (matched by name or SNOMED
  code): positives, negatives, AUROC of the log-odds and its 95% CI. A zero outside
  `annotated` means unknown, not absent: CPSC 2018 gives sinus_rhythm to its normal
  ECGs only, so scoring it would measure normal against abnormal."""
  matching = label_matching.match(model.labels, model.card.get("snomed") or {}, scored.labels)
  weights = bootstrap.patient_weights(scored.patients, RESAMPLES, SEED)
  out = {}
  for name, column in zip(matching.dataset_labels, matching.head_indices):
    if name not in annotated:
      continue
    k = scored.labels.index(name)
    rows = scored.known[:, k]
    y, s = scored.truth[rows, k].astype(int), scored.log_odds[rows, column]
    entry = {"n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum()), "auroc": None,
             "auroc_ci": None}
    if not metrics.undefined_reason(y):
      w = weights if rows.all() else weights[:, rows]
      ranking = bootstrap.Ranking(y, s)
      auroc = eval_results.auroc_entry(y, float(ranking.auroc(np.ones((1, len(y))))[0]),
                                       ranking.auroc(w))
      entry.update(auroc=auroc["value"], auroc_ci=[auroc["ci_low"], auroc["ci_high"]])
    out[name] = entry
  return out


def median_over(labels: dict, min_positives: int) -> tuple[float | None, int]:
  values = [v["auroc"] for v in labels.values()
            if v["auroc"] is not None and v["n_pos"] >= min_positives]
  return (statistics.median(values) if values else None), len(values)


def bootstrap_median_ci(groups: list[tuple[scored_sets.ScoredSet, list]],
                        resamples: int = 1000, seed: int = 0) -> list[float] | None:
  """95% CI of the median AUROC over every (set, label) in `groups` (pairs from
  scored_sets.counted_columns): each set's records resampled with replacement, each
  label's AUROC recomputed on its known records where both classes remain, the median
  taken."""
  if not any(pairs for _, pairs in groups):
    return None
  aurocs = []          # per (set, label): its AUROC in every resample, NaN where undefined
  for (scored, pairs), drawn in zip(groups, record_counts(groups, resamples, seed)):
    for k, m in pairs:
      known = scored.known[:, k]
      ranking = bootstrap.Ranking(scored.truth[known, k].astype(int),
                                  scored.probabilities[known, m])
      aurocs.append(ranking.auroc(drawn[:, known]))
  aurocs = np.stack(aurocs)
  defined = ~np.isnan(aurocs).all(axis=0)     # a resample where no AUROC is defined
  if not defined.any():
    return None
  medians = np.nanmedian(aurocs[:, defined], axis=0)
  return [float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))]


def record_counts(groups: list[tuple[scored_sets.ScoredSet, list]], resamples: int,
                  seed: int) -> list[np.ndarray]:
  """Per set, (resamples, records): how often each record was drawn when each resample
  draws every set's records with replacement, set after set. An AUROC over the drawn
  records, duplicates and all, is the AUROC under these counts as weights, so every
  resample is scored at once (bootstrap.Ranking); the draws are those of drawing the
  record indices one resample at a time, as this CI was computed before."""
  rng = np.random.default_rng(seed)
  sizes = [len(scored.truth) for scored, _ in groups]
  counts = [np.empty((resamples, n), np.min_scalar_type(n)) for n in sizes]
  for r in range(resamples):
    for n, out in zip(sizes, counts):
      out[r] = np.bincount(rng.integers(n, size=n), minlength=n)
  return counts


def generator_version(model_dir: str) -> str | None:
  card = model_card.read(model_dir)
  for dataset in card["training"].get("datasets", []):
    if dataset["name"].startswith("synthetic_ecg/"):
      return f"{dataset['name']} {dataset['version']}"
  return None


def score(model_dir: str, real_data: str, scratch: str, one_lead_model: str = "",
          min_positives: int = 3, adapt_batch_norm: bool = False,
          large_sets: bool = False) -> dict:
  """Every set present under `real_data` that a given model can read, zero-shot:
  {'sets': {name: ...}, 'labels': {'SET:LABEL': ...}, 'median_auroc', 'labels_counted'};
  each set also says how many of its normal ECGs the model flags (normals_flagged).
  `one_lead_model` scores the sets of lead I recordings (CinC 2017). `adapt_batch_norm`:
  each set is scored by the model adapted to that set's ECGs without their labels
  (scored_sets.adapted_to). `large_sets`: sample_sets.LARGE_SETS too, each with its own
  median and CI; the pooled median and 'labels' stay those of the sample sets."""
  # The public samples' patient keys need no secret salt.
  os.environ.setdefault("ECGJAX_PATIENT_SALT", "sim-to-real")
  rate = int(model_card.read(model_dir or one_lead_model)["input"]["sampling_rate"])
  sets, pooled, groups = {}, {}, []
  for name in sample_sets.present_sets(real_data, large_sets):
    module, config, folders, one_lead = sample_sets.SETS[name]
    model = one_lead_model if one_lead else model_dir
    if not model:
      continue
    # A data_dir per set: two sets may be one builder config (cinc2017, cinc2017_5000).
    data_dir = os.path.join(scratch, name)
    dataset, annotated, version = sample_sets.build(
        module, config.format(rate=rate), [os.path.join(real_data, f) for f in folders],
        data_dir)
    if adapt_batch_norm:
      model = scored_sets.adapted_to(model, dataset, data_dir,
                                     os.path.join(scratch, "adapted", name))
    loaded = scoring.load(model)
    scored = scored_sets.score_set(loaded, dataset, data_dir)
    labels = label_figures(scored, loaded, annotated)
    median, counted = median_over(labels, min_positives)
    group = (scored, scored_sets.counted_columns(scored, annotated, min_positives))
    sets[name] = {"dataset": dataset, "version": version, "model": model,
                  "examples": len(scored.truth),
                  "median_auroc": median, "median_auroc_ci": bootstrap_median_ci([group]),
                  "labels_counted": counted, "labels": labels,
                  "normals_flagged": scored_sets.flagged_normals(loaded, scored, annotated),
                  # Every label the model calls on them, annotated by the set or not.
                  "normals_flagged_any_label": scored_sets.flagged_normals(
                      loaded, scored, annotated, every_label=True)}
    if name not in sample_sets.LARGE_SETS:
      groups.append(group)
      pooled.update({f"{name}:{label}": v for label, v in labels.items()})
  median, counted = median_over(pooled, min_positives)
  return {"generator": generator_version(model_dir or one_lead_model),
          "steps": model_card.read(model_dir or one_lead_model)["training"]["steps"],
          "real_data": real_data,
          "median_auroc": median, "median_auroc_ci": bootstrap_median_ci(groups),
          "labels_counted": counted, "min_positives": min_positives,
          "labels": pooled, "sets": sets}


def report_lines(result: dict) -> list[str]:
  """A markdown section: per set and label with positives, AUROC [95% CI] and counts."""
  lines = ["## Zero-shot on real ECGs", "",
           f"The pretrained model, which never saw a real ECG, scored on the real ECGs in "
           f"`{result['real_data']}` with no training: labels matched by name, operating "
           f"points from its model card. Only the labels each set annotates are scored. "
           f"Median AUROC over the labels with at least {result['min_positives']} positives: "
           + (f"**{result['median_auroc']:.3f}** over {result['labels_counted']}."
              if result["median_auroc"] is not None else "none had enough positives.")
           + " These sets are small: read the CIs.", "",
           "| set | label | positives / ECGs | AUROC [95% CI] |", "|---|---|---|---|"]
  for name, s in result["sets"].items():
    for label, v in s["labels"].items():
      if not v["n_pos"]:
        continue
      auroc = ("n/a" if v["auroc"] is None else
               f"{v['auroc']:.3f} [{v['auroc_ci'][0]:.2f}, {v['auroc_ci'][1]:.2f}]")
      lines.append(f"| {name} ({s['dataset']}) | {label} | {v['n_pos']} / "
                   f"{v['n_pos'] + v['n_neg']} | {auroc} |")
  return lines + [""]


def table_row(result: dict, recipe: str) -> str:
  """docs/sim-to-real.md's row for one run: generator, recipe, the median, and per
  set the labels with enough positives, AUROC [95% CI] (positives)."""
  ci = result.get("median_auroc_ci")
  cells = [result["generator"] or "?", recipe,
           "n/a" if result["median_auroc"] is None else
           f"**{result['median_auroc']:.3f}**" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
           + f" over {result['labels_counted']}"]
  for name in sample_sets.SETS:
    labels = result["sets"].get(name, {}).get("labels", {})
    cells.append("; ".join(
        f"{label.replace('_', ' ')} {v['auroc']:.3f} [{v['auroc_ci'][0]:.2f}, "
        f"{v['auroc_ci'][1]:.2f}] ({v['n_pos']})"
        for label, v in labels.items()
        if v["auroc"] is not None and v["n_pos"] >= result["min_positives"]) or "not scored")
  return "| " + " | ".join(cells) + " |"
