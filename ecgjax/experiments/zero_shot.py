"""Sim-to-real: a synthetic-pretrained model scored zero-shot on real ECG sample sets.

Each real set found under `real_data` is built at the model's sampling rate into a
scratch data_dir with its own builder, then scored with no training by evaluate's
zero-shot path (labels matched by name, every record of every split, operating
points from the model card). Per label the set annotates: AUROC with its 95% CI
and the number of positives; `median_auroc` is over the labels with at least
`min_positives` positives, pooled over the sets (a label scored on two sets counts
once per set). The samples in ../shared/data are small: read the CIs, and never
tune the generator on these labels.

`real_data` holds the archives as PhysioNet distributes them, each in its folder:
- `ptbxl/`: PTB-XL (ptbxl_database.csv, scp_statements.csv, records100/500) ->
  `ptbxl/vocabulary_RATE`;
- `cinc2020/`: CPSC 2018 as the PhysioNet 2020 Challenge gives it (A*.hea/.mat) ->
  `physionet2021/cpsc2018_RATE`, which annotates CPSC's nine classes only;
- `cinc2017/`: the CinC 2017 AliveCor recordings (REFERENCE.csv, A*.hea/.mat) ->
  `physionet2017/vocabulary_RATE`, every 10-s window scored per recording, for a
  model that reads lead I only (a 12-lead model's score there would be of leads it
  never sees);
- `cinc2017/` with `cinc2017_train/` (`large_sets`): the 5,000 CinC 2017 recordings
  together, hundreds of AF positives where the 200 have 19: the one real set here
  whose CIs can separate two pretrainings (a scaling curve). Not pooled into the
  median, so that the history's pooled figure stays one measure.
Used by benchmarks/sim_to_real.py (the results file) and the demo's report.
"""

import dataclasses
import importlib
import os
import re
import shutil
import statistics

import numpy as np
import sklearn.metrics
import tensorflow_datasets as tfds

from ecgjax.configs import evaluate as evaluate_config
from ecgjax.data import datasets
from ecgjax.evaluation import log_odds
from ecgjax.experiments import checkpoint_evaluation
from ecgjax.inference import batch_norm_adaptation, scoring
from ecgjax.models import model_card

SETS = {   # name: (builder module, config template, folders under real_data, lead I model)
    "ptbxl": ("ptbxl", "vocabulary_{rate}", ("ptbxl",), False),
    "cpsc2018": ("physionet2021", "cpsc2018_{rate}", ("cinc2020",), False),
    "cinc2017": ("physionet2017", "vocabulary_{rate}", ("cinc2017",), True),
    "cinc2017_5000": ("physionet2017", "vocabulary_{rate}", ("cinc2017", "cinc2017_train"),
                      True),
}
# Scored only when asked (score's large_sets): minutes to build and score, not seconds.
LARGE_SETS = frozenset({"cinc2017_5000"})


def present_sets(real_data: str, large_sets: bool = False) -> list[str]:
  """The SETS whose folders all exist under `real_data` (LARGE_SETS only if asked)."""
  return [name for name, (_, _, folders, _) in SETS.items()
          if (large_sets or name not in LARGE_SETS)
          and all(os.path.isdir(os.path.join(real_data, f)) for f in folders)]


def merged_cinc2017(raws: list[str], manual_dir: str) -> str:
  """CinC 2017 folders as one --manual_dir: every record linked into `manual_dir`,
  their REFERENCE.csv rows concatenated (the builder reads one)."""
  os.makedirs(manual_dir, exist_ok=True)
  rows = []
  for raw in raws:
    for name in sorted(os.listdir(raw)):
      if name == "REFERENCE.csv":
        with open(os.path.join(raw, name), encoding="utf-8") as f:
          rows += [row if row.endswith("\n") else row + "\n" for row in f if row.strip()]
      elif name.endswith((".hea", ".mat")):
        link = os.path.join(manual_dir, name)
        if not os.path.lexists(link):
          os.symlink(os.path.abspath(os.path.join(raw, name)), link)
  with open(os.path.join(manual_dir, "REFERENCE.csv"), "w", encoding="utf-8") as f:
    f.writelines(rows)
  return manual_dir


def manual_dir_for(module: str, raws: list[str], data_dir: str) -> str:
  """The --manual_dir a builder reads `raws` (folders of ../shared/data) from: the
  physionet2021 builder reads the Challenge's per-source folders, so the CPSC samples
  are copied into a `cpsc_2018` folder under `data_dir`; several CinC 2017 folders
  are merged into one."""
  if module == "physionet2021":
    manual_dir = os.path.join(data_dir, "raw_physionet2021")
    for raw in raws:
      shutil.copytree(raw, os.path.join(manual_dir, "cpsc_2018"), dirs_exist_ok=True)
    return manual_dir
  if len(raws) == 1:
    return raws[0]
  if module != "physionet2017":
    raise ValueError(f"{module}: merging several folders is only done for CinC 2017")
  return merged_cinc2017(raws, os.path.join(data_dir, "raw_" + "+".join(
      os.path.basename(os.path.normpath(r)) for r in raws)))


def build(module: str, config: str, raws: list[str], data_dir: str
          ) -> tuple[str, list[str], str]:
  """Builds one sample set from the folders `raws` into `data_dir`; returns its dataset
  name, the labels it annotates and the builder's version (which fixes what each label
  means there)."""
  builder_module = importlib.import_module(f"tfds_builders.{module}.{module}_dataset_builder")
  builder = builder_module.Builder(config=config, data_dir=data_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir_for(module, raws, data_dir)))
  return (f"{module}/{config}", datasets.annotated_labels(builder.info),
          str(builder.info.version))


def adapted_to(model_dir: str, dataset: str, data_dir: str, out_dir: str) -> str:
  """The model with its BatchNorm statistics recomputed on every signal of `dataset`
  (inference.batch_norm_adaptation; no label is read), as a model directory."""
  model = scoring.load(model_dir)
  builder = datasets.load_builder(dataset, data_dir)
  stored = datasets.stored_leads(builder.info)
  columns = [stored.index(name) for name in model.card["input"]["leads"]]
  signals = builder.as_dataset(split="train+validation+test").map(lambda e: e["signal"])
  windows = np.stack([s[:, columns] for s in tfds.as_numpy(signals)])
  stats = batch_norm_adaptation.adapted_batch_stats(model, windows)
  shutil.rmtree(out_dir, ignore_errors=True)
  return batch_norm_adaptation.write_adapted_model(model_dir, None, stats, out_dir,
                                                   ecgs=len(windows), windows=len(windows))


WINDOW_SUFFIX = re.compile(r"_w\d+$")
# Findings of a normal ECG: calling them on one is no false alarm (sinus arrhythmia is
# a normal variant, deepest in the young).
NORMAL_FINDINGS = frozenset({"sinus_rhythm", "sinus_arrhythmia", "normal_ecg"})


@dataclasses.dataclass
class ScoredSet:
  """A built set's records scored by a model: `labels` (the set's label names),
  `truth` and `known` (records x labels, from the set; a window of a long recording
  is one of its record's rows), `model_labels` and `probabilities` (records x model
  labels, windows pooled by their maximum as evaluate does, then calibrated as
  predict calibrates)."""
  labels: list[str]
  truth: np.ndarray
  known: np.ndarray
  model_labels: list[str]
  probabilities: np.ndarray


def score_set(model: scoring.LoadedModel, dataset: str, data_dir: str,
              split: str = "train+validation+test") -> ScoredSet:
  builder = datasets.load_builder(dataset, data_dir)
  names = datasets.resolve_labels(builder.info, "all")[0]
  stored = datasets.stored_leads(builder.info)
  columns = [stored.index(name) for name in model.card["input"]["leads"]]
  examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
  windows = scoring.Scorer(model)(np.stack([e["signal"][:, columns] for e in examples]))
  records: dict[str, list[int]] = {}
  for i, e in enumerate(examples):     # windows of one recording: RECORD_w0, RECORD_w1, ...
    records.setdefault(WINDOW_SUFFIX.sub("", e["record_id"].decode()), []).append(i)
  rows = [members[0] for members in records.values()]
  known = [e["labels_known"] if "labels_known" in e else np.ones(len(names))
           for e in (examples[r] for r in rows)]
  groups = [[model.labels.index(n) for n in g] for g in model.card.get("exclusive_groups") or []]
  pooled = np.stack([log_odds.pool(windows[m], "max", groups) for m in records.values()])
  return ScoredSet(names, np.stack([examples[r]["labels"] for r in rows]).astype(bool),
                   np.stack(known).astype(bool), list(model.labels), model.calibrate(pooled))


def normals_flagged(model_dir: str, dataset: str, data_dir: str,
                    split: str = "train+validation+test") -> dict:
  """On `split`'s normal ECGs (those labelled normal_ecg; in a dataset without that
  label, the synthetic one, those whose only label is sinus_rhythm): how many the model
  calls positive, at its card's thresholds, for a label that is neither a normal finding
  (NORMAL_FINDINGS) nor one the set gives that ECG (a normal ECG may also be labelled
  sinus bradycardia), and how often each label is so called. What a user sees on a
  healthy person's ECG."""
  model = scoring.load(model_dir)
  return flagged_normals(model, score_set(model, dataset, data_dir, split))


def flagged_normals(model: scoring.LoadedModel, scored: ScoredSet,
                    annotated: list[str] | None = None) -> dict:
  """normals_flagged on a set already scored by `model`. `annotated`: the labels the set
  annotates (all of its labels when None, as in the synthetic set). A set that
  annotates normal_ecg counts every label called on its normal ECGs; one that does not
  (CinC 2017 reads the rhythm alone) takes the ECGs labelled sinus rhythm and nothing
  else, and counts only the labels it annotates: a call it says nothing about is
  neither right nor wrong."""
  names = scored.labels
  annotated = names if annotated is None else annotated
  counted = None
  if "normal_ecg" in annotated:
    normal = scored.truth[:, names.index("normal_ecg")]
  elif "sinus_rhythm" in names:
    normal = np.all(scored.truth == np.array([n == "sinus_rhythm" for n in names]), axis=1)
    counted = set(annotated)
  else:
    normal = np.zeros(len(scored.truth), bool)
  if not normal.any():
    return {"normal_ecgs": 0, "flagged": 0, "fraction": None, "labels_called": {}}
  called = scored.probabilities[normal] >= model.thresholds()   # NaN thresholds never call
  given = np.array([[name in names and bool(row[names.index(name)]) for name in model.labels]
                    for row in scored.truth[normal]])
  abnormal = np.array([name not in NORMAL_FINDINGS and (counted is None or name in counted)
                       for name in model.labels])
  false_alarm = called & ~given & abnormal
  flagged = false_alarm.any(axis=1)
  return {"normal_ecgs": int(normal.sum()), "flagged": int(flagged.sum()),
          "fraction": float(flagged.mean()),
          "labels_called": {name: int(n) for name, n in zip(model.labels, false_alarm.sum(axis=0))
                            if n}}


def counted_columns(scored: ScoredSet, annotated: list[str], min_positives: int):
  """(set column, model column) of the labels both name, the set annotates, and that
  have at least `min_positives` known positives: the labels a median counts."""
  pairs = []
  for name in annotated:
    if name in scored.labels and name in scored.model_labels:
      k = scored.labels.index(name)
      if (scored.truth[:, k] & scored.known[:, k]).sum() >= min_positives:
        pairs.append((k, scored.model_labels.index(name)))
  return pairs


def bootstrap_median_ci(groups: list[tuple[ScoredSet, list]], resamples: int = 1000,
                        seed: int = 0) -> list[float] | None:
  """95% CI of the median AUROC over every (set, label) in `groups` (pairs from
  counted_columns): each set's records resampled with replacement, each label's AUROC
  recomputed on its known records where both classes remain, the median taken."""
  if not any(pairs for _, pairs in groups):
    return None
  rng = np.random.default_rng(seed)
  medians = []
  for _ in range(resamples):
    values = []
    for scored, pairs in groups:
      rows = rng.integers(len(scored.truth), size=len(scored.truth))
      for k, m in pairs:
        keep = rows[scored.known[rows, k]]
        y = scored.truth[keep, k]
        if 0 < y.sum() < len(y):
          values.append(sklearn.metrics.roc_auc_score(y, scored.probabilities[keep, m]))
    if values:
      medians.append(statistics.median(values))
  if not medians:
    return None
  return [float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))]


def zero_shot(model_dir: str, dataset: str, data_dir: str, workdir: str) -> dict:
  config = evaluate_config.get_config()
  config.checkpoint = model_dir
  config.dataset.name, config.dataset.data_dir = dataset, data_dir
  config.dataset.eval_split = ""                        # the model card's operating points
  config.dataset.test_split = "train+validation+test"   # nothing here was trained on
  config.eval_batch_size = 64
  return checkpoint_evaluation.evaluate_checkpoint(config, workdir)


def label_figures(results: dict, annotated: list[str]) -> dict:
  """Per label the set annotates (a zero elsewhere means unknown, not absent: CPSC
  2018 gives sinus_rhythm to its normal ECGs only, so scoring it would measure
  normal against abnormal)."""
  out = {}
  for name, entry in results["labels"].items():
    if name not in annotated:
      continue
    auroc = entry.get("auroc")
    out[name] = {"n_pos": int(entry["n_pos"]), "n_neg": int(entry["n_neg"]),
                 "auroc": None if auroc is None else auroc["value"],
                 "auroc_ci": None if auroc is None else [auroc["ci_low"], auroc["ci_high"]]}
  return out


def median_over(labels: dict, min_positives: int) -> tuple[float | None, int]:
  values = [v["auroc"] for v in labels.values()
            if v["auroc"] is not None and v["n_pos"] >= min_positives]
  return (statistics.median(values) if values else None), len(values)


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
  `adapt_batch_norm`: each set is scored by the model adapted to that set's ECGs
  without their labels (adapted_to). `large_sets`: LARGE_SETS too, each with its own
  median and CI; the pooled median and 'labels' stay those of the sample sets."""
  # The public samples' patient keys need no secret salt.
  os.environ.setdefault("ECGJAX_PATIENT_SALT", "sim-to-real")
  rate = int(model_card.read(model_dir or one_lead_model)["input"]["sampling_rate"])
  sets, pooled, groups = {}, {}, []
  for name in present_sets(real_data, large_sets):
    module, config, folders, one_lead = SETS[name]
    model = one_lead_model if one_lead else model_dir
    if not model:
      continue
    # A data_dir per set: two sets may be one builder config (cinc2017, cinc2017_5000).
    data_dir = os.path.join(scratch, name)
    dataset, annotated, version = build(module, config.format(rate=rate),
                                        [os.path.join(real_data, f) for f in folders], data_dir)
    if adapt_batch_norm:
      model = adapted_to(model, dataset, data_dir, os.path.join(scratch, "adapted", name))
    results = zero_shot(model, dataset, data_dir, os.path.join(scratch, "eval", name))
    labels = label_figures(results, annotated)
    median, counted = median_over(labels, min_positives)
    loaded = scoring.load(model)
    scored = score_set(loaded, dataset, data_dir)
    group = (scored, counted_columns(scored, annotated, min_positives))
    sets[name] = {"dataset": dataset, "version": version, "model": model,
                  "examples": results["test_examples"],
                  "median_auroc": median, "median_auroc_ci": bootstrap_median_ci([group]),
                  "labels_counted": counted, "labels": labels,
                  "normals_flagged": flagged_normals(loaded, scored, annotated)}
    if name not in LARGE_SETS:
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


SET_TITLES = {"ptbxl": "PTB-XL", "cpsc2018": "CPSC 2018", "cinc2017": "CinC 2017 (lead I)"}


def table_row(result: dict, recipe: str) -> str:
  """docs/sim-to-real.md's row for one run: generator, recipe, the median, and per
  set the labels with enough positives, AUROC [95% CI] (positives)."""
  ci = result.get("median_auroc_ci")
  cells = [result["generator"] or "?", recipe,
           "n/a" if result["median_auroc"] is None else
           f"**{result['median_auroc']:.3f}**" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
           + f" over {result['labels_counted']}"]
  for name in SETS:
    labels = result["sets"].get(name, {}).get("labels", {})
    cells.append("; ".join(
        f"{label.replace('_', ' ')} {v['auroc']:.3f} [{v['auroc_ci'][0]:.2f}, "
        f"{v['auroc_ci'][1]:.2f}] ({v['n_pos']})"
        for label, v in labels.items()
        if v["auroc"] is not None and v["n_pos"] >= result["min_positives"]) or "not scored")
  return "| " + " | ".join(cells) + " |"
