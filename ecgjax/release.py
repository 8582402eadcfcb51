"""A trained synthetic model made into a model that ships in the package.

  python -m ecgjax.release --model=WORKDIR --name=NAME --recipe="..."
      [--threshold_rule=specificity:0.99] [--calibrate_on=PTBXL_DIR] [--shared=DIR]
      [--out=ecgjax/shipped_models] [--one_lead] [--data_dir=DIR] [--note="..."]

The steps, each what a user could run alone:
0. With `--one_lead`, the head cut to the labels one limb lead shows
   (ecg.labels.lead_support, training.head_subset); the kept outputs are unchanged.
1. Operating points refitted by `--threshold_rule` (evaluate's `--config.write_model`):
   on the model's own synthetic validation split, or with `--calibrate_on` on PTB-XL's
   training folds (refit_on_ptbxl), its folds 9 and 10 reported. The rule is fixed
   before the sample sets below are looked at: their labels choose nothing.
2. The refitted model scored zero-shot on every real sample set under `--shared`
   (zero_shot.score), and on the large sets there (PTB-XL's 2,055 records in
   `ptbxl_train/`; CinC 2017's 5,000 recordings for `--one_lead`): AUROC with 95% CIs
   per label, the median per set, and the fraction of each set's normal ECGs it flags
   at those thresholds.
3. OUT/NAME written as a model directory (no optimiser state) whose card carries a
   `release` entry: generator version, recipe, steps, training cost, how the thresholds
   were chosen, and the figures of steps 1 and 2; model_card.md beside it says the same
   in prose, with the labels that exclude each other (ecg.labels.exclusions).

A shipped model is re-released the same way, `--model` naming its folder and
`--data_dir` a directory where its generator version's synthetic set is built (the
newest version built there is read); its card's training cost is kept, and `--note`
says in the card why it was released again.

An entry point beside main and predict rather than a module of ecgjax.sim_to_real: it
refits through evaluate (ecgjax.experiments), and the demo there imports the
zero-shot scoring, which therefore sits below the experiments.
"""

import dataclasses
import datetime
import json
import os
import re
import shutil
import statistics
import sys
import tempfile

import numpy as np

from ecgjax import console  # first: it sets TF's log level before TF is imported

# Refitting and scoring need the `train` extra; without it the command says so in one
# line, before an import fails.
console.require_extra("ecgjax.release", "train")

from absl import app, flags, logging  # noqa: E402

from ecgjax import samples  # noqa: E402
from ecgjax.configs import evaluate as evaluate_config  # noqa: E402
from ecgjax.ecg.labels import lead_support  # noqa: E402
from ecgjax.experiments import checkpoint_evaluation  # noqa: E402
from ecgjax.inference import scoring  # noqa: E402
from ecgjax.models import model_card, shipped  # noqa: E402
from ecgjax.sim_to_real import sample_sets, scored_sets, zero_shot  # noqa: E402
from ecgjax.training import checkpoints, head_subset  # noqa: E402

LOG_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def refit_on_validation(model: str, threshold_rule: str, out_dir: str, workdir: str,
                        data_dir: str | None = None) -> str:
  """The model with calibration and thresholds chosen by `threshold_rule` on the
  validation split of the dataset it was trained on (built under `data_dir`, else
  where its run found it); returns the model directory."""
  config = evaluate_config.get_config()
  config.checkpoint = model
  config.threshold_rule = threshold_rule
  if data_dir:
    config.dataset.data_dir = data_dir
  config.write_model = out_dir
  config.bootstrap_resamples = 200
  checkpoint_evaluation.evaluate_checkpoint(config, workdir)
  return out_dir


# Real archives a model's operating points can be set on (`--calibrate_on=DIR`): PTB-XL,
# its training folds choosing, its folds 9 and 10 reporting.
REAL_CALIBRATION_SPLIT, REAL_HELD_OUT = "train", "validation+test"
# A head label the real archive does not name is never refitted there; its threshold is
# raised until this share of the archive's normal ECGs (NORM) stays below it.
NORMALS_SPECIFICITY = 0.995


def _evaluate_on(model: str, dataset: str, data_dir: str, labels, rule: str | None,
                 workdir: str, write_model: str = "") -> dict:
  """evaluate on PTB-XL's held-out folds for `labels`: operating points refitted on its
  training folds by `rule` (written to `write_model`), or the card's (`rule` None)."""
  config = evaluate_config.get_config()
  config.checkpoint = model
  config.labels = ",".join(labels)
  config.dataset.name, config.dataset.data_dir = dataset, data_dir
  config.dataset.eval_split = REAL_CALIBRATION_SPLIT if rule else ""
  config.dataset.test_split = REAL_HELD_OUT
  if rule:
    config.threshold_rule, config.write_model = rule, write_model
  return checkpoint_evaluation.evaluate_checkpoint(config, workdir)


def refit_on_ptbxl(model: str, threshold_rule: str, ptbxl: str, scratch: str) -> tuple[str, dict]:
  """The model with calibration and thresholds set on PTB-XL's training folds (`ptbxl`:
  records with ptbxl_database.csv, built at the model's rate) for the labels PTB-XL
  annotates: a normal finding (sinus rhythm, which flags no normal ECG) by Youden's J,
  every other by `threshold_rule`. The labels it does not annotate (its zeros there are
  unknowns, not negatives) keep their thresholds, raised to NORMALS_SPECIFICITY on the
  training folds' normal ECGs. Returns the model directory and what the card records:
  where, how, and the held-out folds' figures."""
  built = build_ptbxl(model, ptbxl, scratch)
  dataset, data_dir, annotated = built.dataset, built.data_dir, built.annotated
  refitted = built.labels
  normal_findings = [n for n in refitted if n in scored_sets.NORMAL_FINDINGS]
  findings = [n for n in refitted if n not in scored_sets.NORMAL_FINDINGS]
  youden = os.path.join(scratch, "refitted_normal_findings")
  _evaluate_on(model, dataset, data_dir, normal_findings, "youden", os.path.join(scratch, "e1"),
               youden)
  both = os.path.join(scratch, "refitted_ptbxl")
  chosen = _evaluate_on(youden, dataset, data_dir, findings, threshold_rule,
                        os.path.join(scratch, "e2"), both)
  saved = checkpoints.read_pretrained(both)
  card = json.loads(json.dumps(saved.card))
  train = scored_sets.score_set(scoring.load(both), dataset, data_dir, REAL_CALIBRATION_SPLIT)
  normal = train.truth[:, train.labels.index("normal_ecg")]
  raised = {}
  for k, label in enumerate(card["labels"]):
    if label in refitted or card["thresholds"][label] is None:
      continue
    card["thresholds"][label] = max(card["thresholds"][label], float(
        np.quantile(train.probabilities[normal, k], NORMALS_SPECIFICITY)))
    raised[label] = (f"PTB-XL names no such label: threshold raised to at least the "
                     f"{NORMALS_SPECIFICITY:g} quantile of its probability on the "
                     f"{int(normal.sum())} normal ECGs of {dataset} {REAL_CALIBRATION_SPLIT}; "
                     "its sensitivity on real ECGs is not measured")
  card["thresholds_from_normals"] = raised
  written = checkpoints.write_model_directory(dataclasses.replace(saved, card=card),
                                              os.path.join(scratch, "calibrated_ptbxl"))
  model_card.write(written, card)
  calibrated = scoring.load(written)
  train.probabilities = calibrated.calibrate(train.log_odds)     # at the final thresholds
  return written, {
      "chosen_on": REAL_CALIBRATION_SPLIT,
      "chosen_on_examples": chosen["operating_points_from"]["examples"],
      "chosen_on_normals_flagged": scored_sets.flagged_normals(calibrated, train, annotated),
      "threshold_rule": threshold_rule, "normal_findings_rule": "youden",
      "labels_refitted": refitted, "labels_raised_on_normals": sorted(raised),
      **held_out_figures(written, built, os.path.join(scratch, "e3"))}


@dataclasses.dataclass
class BuiltPtbxl:
  dataset: str           # ptbxl/vocabulary_RATE, at the model's rate
  version: str
  data_dir: str
  annotated: list[str]   # the labels PTB-XL annotates
  labels: list[str]      # those of them the model's head has


def build_ptbxl(model: str, ptbxl: str, scratch: str) -> BuiltPtbxl:
  """PTB-XL records (`ptbxl`: with ptbxl_database.csv) built at the model's rate."""
  head = model_card.read(shipped.resolve(model))
  data_dir = os.path.join(scratch, "ptbxl")
  dataset, annotated, version = sample_sets.build(
      "ptbxl", f"vocabulary_{int(head['input']['sampling_rate'])}", [ptbxl], data_dir)
  return BuiltPtbxl(dataset, version, data_dir, annotated,
                    [n for n in annotated if n in head["labels"]])


def held_out_figures(model: str, built: BuiltPtbxl, workdir: str) -> dict:
  """The model at its card's operating points on PTB-XL's held-out folds: per label
  sensitivity and specificity with CIs, their medians, and the normal ECGs it flags."""
  held = _evaluate_on(model, built.dataset, built.data_dir, built.labels, None, workdir)
  loaded = scoring.load(model)
  held_out = scored_sets.score_set(loaded, built.dataset, built.data_dir, REAL_HELD_OUT)
  return {
      "dataset": f"{built.dataset} {built.version}",
      "held_out": REAL_HELD_OUT, "held_out_examples": len(held_out.truth),
      "normals_flagged": scored_sets.flagged_normals(loaded, held_out, built.annotated),
      "median_sensitivity": held["medians"]["sensitivity"]["value"],
      "median_specificity": held["medians"]["specificity"]["value"],
      "labels": {m["model_label"]: {k: held["labels"][m["dataset_label"]][k]
                                    for k in ("n_pos", "sensitivity", "specificity")}
                 for m in held["matched"]}}


def restrict_to_one_lead(model: str, out_dir: str) -> str:
  """The model with only the labels one limb lead shows (ecg.labels.lead_support), as a
  model directory whose card lists what was kept and left out, and why."""
  saved = checkpoints.read_pretrained(model)
  kept, left_out = lead_support.one_lead_scope(saved.card["labels"])
  subset = head_subset.keep_labels(
      saved, list(kept), {"reads": ", ".join(saved.card["input"]["leads"]),
                          "kept": kept, "left_out": left_out})
  written = checkpoints.write_model_directory(subset, out_dir)
  model_card.write(written, subset.card)
  return written


def training_cost(model: str, card: dict | None = None) -> dict | None:
  """The run's median training throughput, from metrics.jsonl, and its wall time from
  the first to the last line of its ecgjax.log (a resumed run's pause counts; None
  where the run was not started from the command line, which writes the log). A model
  directory has neither: the cost its card's release entry records, if any."""
  log, metrics = os.path.join(model, "ecgjax.log"), os.path.join(model, "metrics.jsonl")
  if not os.path.isfile(metrics):
    return ((card or {}).get("release") or {}).get("training_cost")
  with open(metrics, encoding="utf-8") as f:
    rates = [json.loads(line).get("ecg_per_sec") for line in f if line.strip()]
  rates = [r for r in rates if r]
  stamps = []
  if os.path.isfile(log):
    with open(log, encoding="utf-8") as f:
      stamps = [datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
                for line in f if LOG_STAMP.match(line)]
  return {"wall_s": (stamps[-1] - stamps[0]).total_seconds() if stamps else None,
          "median_ecg_per_sec": statistics.median(rates) if rates else None,
          "cpus": os.cpu_count()}


def _card_or_none(model: str) -> dict | None:
  """The card beside a workdir's or model directory's checkpoints, without reading the
  weights; None where there is none."""
  try:
    return model_card.read(shipped.resolve(model))
  except model_card.ModelCardError:
    return None


def release_entry(card: dict, recipe: str, threshold_rule: str, scored: dict,
                  cost: dict | None, synthetic_normals: dict | None, note: str | None = None,
                  real_calibration: dict | None = None) -> dict:
  chosen = card["operating_points"]
  return {
      **({"note": note} if note else {}),
      # Where the thresholds were set on real ECGs (refit_on_ptbxl), and what they do on
      # the folds held out from it.
      **({"real_calibration": real_calibration} if real_calibration else {}),
      "generator": scored["generator"],
      "recipe": recipe, "steps": card["training"]["steps"], "training_cost": cost,
      "thresholds": (f"chosen per label by `{threshold_rule}` on {chosen['dataset']} "
                     f"{chosen['split']} ({chosen['examples']} ECGs)"),
      # The same thresholds on the synthetic validation split's normal ECGs.
      "synthetic_normals_flagged": synthetic_normals,
      "sim_to_real": {
          "real_data": "; ".join(f"{name} ({s['dataset']} {s['version']}, {s['examples']} "
                                 "ECGs)" for name, s in scored["sets"].items()) or "none found",
          "min_positives": scored["min_positives"],
          "median_auroc": scored["median_auroc"],
          "median_auroc_ci": scored["median_auroc_ci"],
          "labels_counted": scored["labels_counted"],
          "sets": {name: {k: s[k] for k in ("dataset", "version", "examples", "median_auroc",
                                            "median_auroc_ci", "labels_counted", "labels",
                                            "normals_flagged", "normals_flagged_any_label")}
                   for name, s in scored["sets"].items()}},
  }


def release(model: str, name: str, recipe: str, threshold_rule: str, shared: str, out: str,
            one_lead: bool = False, min_positives: int = 3, data_dir: str | None = None,
            note: str | None = None, calibrate_on: str | None = None) -> str:
  """`calibrate_on`: a PTB-XL folder whose training folds set the operating points
  (refit_on_ptbxl) instead of the model's synthetic validation split."""
  destination = os.path.join(out, name)
  if os.path.exists(destination):
    raise FileExistsError(f"{destination} exists: remove it or choose another --name")
  scratch = tempfile.mkdtemp(prefix="ecgjax_release_")
  try:
    trained = model
    if one_lead:      # a one-lead model claims only what one limb lead shows
      model = restrict_to_one_lead(model, os.path.join(scratch, "one_lead"))
    real = None
    if calibrate_on:
      refitted, real = refit_on_ptbxl(model, threshold_rule, calibrate_on, scratch)
    else:
      refitted = refit_on_validation(model, threshold_rule, os.path.join(scratch, "refitted"),
                                     os.path.join(scratch, "evaluate"), data_dir)
    # Also scored on the large sets present (sim_to_real.sample_sets.LARGE_SETS: CinC
    # 2017's 5,000 recordings for one lead, PTB-XL's 2,055 for twelve): the samples'
    # hundred-odd ECGs per set cannot tell models apart. A set the model cannot read is
    # skipped.
    scored = zero_shot.score("" if one_lead else refitted, shared,
                             os.path.join(scratch, "sets"),
                             one_lead_model=refitted if one_lead else "",
                             min_positives=min_positives, large_sets=True)
    saved = checkpoints.read_pretrained(refitted)
    card = dict(saved.card)
    card["label_exclusions"] = model_card.label_exclusions(card["labels"])
    # The same thresholds on the synthetic validation split's normal ECGs, where it is
    # built (the split the thresholds were chosen on, unless they were set on PTB-XL).
    synthetic_normals = None
    if not calibrate_on:
      chosen = card["operating_points"]
      synthetic_normals = scored_sets.normals_flagged(
          refitted, chosen["dataset"],
          os.path.expanduser(data_dir or saved.config["dataset"]["data_dir"]), chosen["split"])
    elif data_dir:
      synthetic_normals = scored_sets.normals_flagged(
          refitted, card["training"]["datasets"][0]["name"], os.path.expanduser(data_dir),
          "validation")
    cost = training_cost(trained, _card_or_none(trained))
    card["release"] = release_entry(card, recipe, threshold_rule, scored, cost,
                                    synthetic_normals, note, real)
    written = checkpoints.write_model_directory(dataclasses.replace(saved, card=card),
                                                destination)
    model_card.write(written, card)
    return written
  finally:
    shutil.rmtree(scratch, ignore_errors=True)


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags, defined when it runs, never at import (tests and other
  modules import this one)."""
  flags.DEFINE_string("model", None, "the trained workdir (or model directory) to release")
  flags.DEFINE_string("name", None, "the shipped model's name (its folder under --out)")
  flags.DEFINE_string("recipe", None, "how it was trained, e.g. pretrain.py:synthetic_foundation")
  flags.DEFINE_string("threshold_rule", "specificity:0.99",
                      "chosen on the synthetic validation split (evaluation/thresholds.py)")
  flags.DEFINE_string("shared", None, "the folder of real sample sets (ptbxl/, cinc2020/, "
                      "cinc2017/, and the large ptbxl_train/ and cinc2017_train/ where "
                      "present; default: the samples shipped in the package)")
  flags.DEFINE_string("out", os.fspath(shipped.SHIPPED_MODELS), "where NAME is written")
  flags.DEFINE_boolean("one_lead", False, "the model reads lead I: its head keeps only the "
                       "labels one limb lead shows (ecg.labels.lead_support), and it is scored "
                       "on CinC 2017 (the samples, and all 5,000 recordings where both folders "
                       "are there)")
  flags.DEFINE_integer("min_positives", 3, "labels counted in a set's median")
  flags.DEFINE_string("note", None, "a line the card's release entry carries: why this "
                      "release was made (a re-release says what changed)")
  flags.DEFINE_string("data_dir", None, "where the model's synthetic set is built; default: "
                      "its training run's data_dir")
  flags.DEFINE_string("calibrate_on", None, "a PTB-XL folder (ptbxl_database.csv, records100/): "
                      "thresholds and calibration set on its training folds 1-8 instead of "
                      "on synthetic validation, its folds 9-10 reported in the card")


def main(argv):
  del argv
  for required in ("model", "name", "recipe"):
    if not getattr(FLAGS, required):
      raise app.UsageError(f"--{required} is required")
  written = release(FLAGS.model, FLAGS.name, FLAGS.recipe, FLAGS.threshold_rule,
                    FLAGS.shared or samples.root(),
                    FLAGS.out, FLAGS.one_lead, FLAGS.min_positives, FLAGS.data_dir,
                    FLAGS.note, FLAGS.calibrate_on)
  logging.info("released %s", written)
  print(written, file=sys.stderr)


if __name__ == "__main__":
  define_flags()
  app.run(main)
