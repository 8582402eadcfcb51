"""Sim-to-real: a synthetic-pretrained model scored zero-shot on every real sample set.

  python benchmarks/sim_to_real.py --model DEMO/pretrain [--one_lead_model LEAD_I_DIR]
      [--shared ../shared/data] [--recipe demo] [--out benchmarks/results/sim_to_real.jsonl]

The real samples in ../shared/data are built at the model's sampling rate into a
scratch data_dir with their own builders: PTB-XL records 1-40
(`ptbxl/vocabulary_RATE`), CPSC 2018 A0001-A0040 (`physionet2021/cpsc2018_RATE`,
which annotates CPSC's nine classes only) and, for `--one_lead_model` (a model
that reads lead I), CinC 2017 A00001-A00200 (`physionet2017/vocabulary_RATE`, every
10-s window, scored per recording). Each is scored with no training by evaluate's
zero-shot path (labels matched by name, every record of every split, operating
points from the model card): per label the set annotates, AUROC with its 95% CI
and the number of positives. `median_auroc` is over the labels with at least
`--min_positives` (3) positives, pooled over the sets (a label scored on two sets
counts once per set). One JSON line per run: the generator version the model was
pretrained on (its card), `--recipe`, the per-set and pooled figures. The samples
are small: read the CIs, and never tune the generator on these labels.
"""

import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile

from emit import emit

SETS = {   # name: (builder module, config template, raw folder, needs lead I only)
    "ptbxl_1_40": ("ptbxl", "vocabulary_{rate}", "ptbxl", False),
    "cpsc2018_1_40": ("physionet2021", "cpsc2018_{rate}", "cinc2020", False),
    "cinc2017_1_200": ("physionet2017", "vocabulary_{rate}", "cinc2017", True),
}


def build(module: str, config: str, raw: str, data_dir: str) -> tuple[str, list[str]]:
  """Builds one sample set; returns its dataset name and the labels it annotates."""
  import importlib

  import tensorflow_datasets as tfds
  builder_module = importlib.import_module(f"tfds_builders.{module}.{module}_dataset_builder")
  manual_dir = raw
  if module == "physionet2021":     # the builder reads WFDB_* / cpsc_2018 source folders
    manual_dir = os.path.join(data_dir, "raw_physionet2021")
    shutil.copytree(raw, os.path.join(manual_dir, "cpsc_2018"), dirs_exist_ok=True)
  builder = builder_module.Builder(config=config, data_dir=data_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir))
  from ecgjax.data import datasets
  return f"{module}/{config}", datasets.annotated_labels(builder.info)


def zero_shot(model_dir: str, dataset: str, data_dir: str, workdir: str) -> dict:
  from ecgjax import evaluate
  from ecgjax.configs import evaluate as evaluate_config
  config = evaluate_config.get_config()
  config.checkpoint = model_dir
  config.dataset.name, config.dataset.data_dir = dataset, data_dir
  config.dataset.eval_split = ""                        # the model card's operating points
  config.dataset.test_split = "train+validation+test"   # nothing here was trained on
  config.eval_batch_size = 64
  return evaluate.evaluate_checkpoint(config, workdir)


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
  from ecgjax.inference import model_card
  card = model_card.read(model_dir)
  for dataset in card["training"].get("datasets", []):
    if dataset["name"].startswith("synthetic_ecg/"):
      return f"{dataset['name']} {dataset['version']}"
  return None


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", required=True, help="a 12-lead synthetic-pretrained model")
  parser.add_argument("--one_lead_model", default="",
                      help="a model reading lead I, for CinC 2017 (AF)")
  parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
  parser.add_argument("--recipe", default="demo", help="the pretraining recipe's name")
  parser.add_argument("--min_positives", type=int, default=3)
  parser.add_argument("--scratch", default="", help="where the sample sets are built")
  parser.add_argument("--out")
  args = parser.parse_args()
  os.environ.setdefault("ECGJAX_PATIENT_SALT", "sim-to-real-benchmark")   # public samples
  from ecgjax.inference import model_card
  scratch = args.scratch or tempfile.mkdtemp(prefix="sim_to_real_")
  rate = int(model_card.read(args.model)["input"]["sampling_rate"])
  sets, pooled = {}, {}
  for name, (module, config, raw, one_lead) in SETS.items():
    model = args.one_lead_model if one_lead else args.model
    if not model:
      continue
    dataset, annotated = build(module, config.format(rate=rate),
                               os.path.join(args.shared, raw), scratch)
    results = zero_shot(model, dataset, scratch, os.path.join(scratch, "eval", name))
    labels = label_figures(results, annotated)
    median, counted = median_over(labels, args.min_positives)
    sets[name] = {"dataset": dataset, "model": model, "examples": results["test_examples"],
                  "median_auroc": median, "labels_counted": counted, "labels": labels}
    pooled.update({f"{name}:{label}": v for label, v in labels.items()})
    print(f"{name}: median AUROC {median} over {counted} labels with >= "
          f"{args.min_positives} positives", file=sys.stderr)
  median, counted = median_over(pooled, args.min_positives)
  emit({"benchmark": "sim_to_real", "generator": generator_version(args.model),
        "recipe": args.recipe, "median_auroc": median, "labels_counted": counted,
        "min_positives": args.min_positives, "labels": pooled, "sets": sets,
        "command": "python " + " ".join(sys.argv),
        "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
