"""`dataset.leads`: a lead subset through pretraining, the card, evaluate, predict
and fine-tuning from a checkpoint that read more leads."""

import csv
import json
import os

import jax
import numpy as np
import pytest
from flax import nnx

from ecgjax.experiments import checkpoint_evaluation, fine_tuning, pretraining, validation
from ecgjax.configs import evaluate as evaluate_config, finetune as finetune_config
from ecgjax.data import datasets, pipeline
from ecgjax.ecg import leads
from ecgjax.inference import score_files
from ecgjax.models import resnet1d
from ecgjax.training import checkpoints, transfer
from tests.helpers import TINY_MODEL, shrink, tiny_pretrain_config


def test_lead_specs_name_what_is_valid():
  assert leads.parse_lead_spec("all") is None
  assert leads.parse_lead_spec("limb") == ("I", "II", "III", "aVR", "aVL", "aVF")
  assert leads.parse_lead_spec(" v1 , avr,I") == ("V1", "aVR", "I")
  assert leads.select_leads("V1,I", leads.STANDARD_LEADS) == ("I", "V1")   # standard order
  assert leads.select_leads("all", ("I",)) == ("I",)
  with pytest.raises(leads.UnknownLeadError, match="'V7'.*valid.*aVR"):
    leads.parse_lead_spec("I,V7")
  with pytest.raises(leads.UnknownLeadError, match="twice"):
    leads.parse_lead_spec("I,i")
  with pytest.raises(leads.UnknownLeadError, match=r"cinc does not record \['II'\]; it records I"):
    leads.select_leads("I,II", ("I",), "cinc")
  config = tiny_pretrain_config("/nonexistent")
  config.dataset.leads = "I,lead2"
  with pytest.raises(validation.ConfigError, match="lead2"):
    validation.validate_pretrain(config, device_count=8)


def _input(data_dir, leads_spec):
  builder = datasets.load_builder("synthetic_ecg/tiny", data_dir)
  return pipeline.TfdsInput(builder, labels="pretrain", global_batch=16, eval_batch=64,
                            train_split="train", seed=0, shuffle_buffer=64, leads=leads_spec)


def test_the_pipeline_gathers_the_chosen_leads(tiny_data_dir):
  full, some = _input(tiny_data_dir, "all"), _input(tiny_data_dir, "V1,I")
  assert some.lead_names == ("I", "V1") and some.signal_shape == (full.signal_shape[0], 2)
  a, b = next(full.train_batches(3)), next(some.train_batches(3))
  np.testing.assert_array_equal(b["signal"], a["signal"][:, :, [0, 6]])
  np.testing.assert_array_equal(b["labels"], a["labels"])
  assert b["label_mask"].shape == b["labels"].shape and b["label_mask"].min() == 1.0
  assert some.describe()["input"]["leads"] == ["I", "V1"]
  evaluation = next(some.eval_batches("validation"))
  assert evaluation["signal"].shape[-1] == 2


@pytest.fixture(scope="module")
def one_lead_model(tiny_data_dir, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("one_lead"))
  pretraining.train_and_evaluate(
      tiny_pretrain_config(tiny_data_dir, total_steps=6, **{"dataset.leads": "I"}), workdir)
  return workdir


@pytest.mark.slow
def test_a_one_lead_model_records_its_lead_and_is_evaluated_and_used(
    one_lead_model, tiny_pretrained, tiny_data_dir, tmp_path):
  card = json.load(open(os.path.join(one_lead_model, "model_card.json")))
  assert card["input"]["leads"] == ["I"] and card["model"]["in_leads"] == 1
  saved = checkpoints.read_pretrained(one_lead_model)
  assert saved.params["backbone"]["stem"]["kernel"].shape == (TINY_MODEL["kernel_size"], 1,
                                                               TINY_MODEL["stem_width"])
  # evaluate reads the card's lead from the 12-lead dataset.
  c = evaluate_config.get_config()
  c.checkpoint = one_lead_model
  c.dataset.name, c.dataset.data_dir = "synthetic_ecg/tiny", tiny_data_dir
  results = checkpoint_evaluation.evaluate_checkpoint(c, str(tmp_path / "eval"))
  assert results["medians"]["auroc"]["value"] is not None

  # predict: a 12-lead file and the same ECG's lead I alone score the same; a
  # 12-lead model given the one-lead file names what it lacks.
  rng = np.random.default_rng(0)
  twelve = rng.normal(0, 300, (1000, 12)).astype(np.float32)
  np.save(tmp_path / "twelve.npy", twelve)
  np.save(tmp_path / "lead_i.npy", twelve[:, :1])
  out = str(tmp_path / "p.csv")
  score_files.predict_files(one_lead_model, [str(tmp_path / "twelve.npy")], out,
                          options=score_files.Options(sampling_rate=100,
                                                    leads=tuple(leads.STANDARD_LEADS)))
  first = _row(out)
  score_files.predict_files(one_lead_model, [str(tmp_path / "lead_i.npy")], out,
                          options=score_files.Options(sampling_rate=100, leads=("I",)))
  second = _row(out)
  assert first["status"] == second["status"] == "ok"
  for label in card["labels"]:
    assert first[label] == second[label]
  summary = score_files.predict_files(tiny_pretrained, [str(tmp_path / "lead_i.npy")], out,
                                    options=score_files.Options(sampling_rate=100, leads=("I",)))
  assert summary.failed == 1
  assert _row(out)["status"].startswith("missing leads ['II', 'III'"), _row(out)


@pytest.mark.slow
def test_cinc2017_files_score_through_a_one_lead_model_and_lead_names_map_a_lead(
    one_lead_model, tiny_pretrained, shared_data, tmp_path):
  """CinC 2017 names its one lead `ECG`: a one-lead model reads it as its lead (the row
  says so); a twelve-lead model reads it where --lead_names puts it."""
  import glob
  files = sorted(glob.glob(os.path.join(shared_data, "cinc2017", "*.hea")))[:12]
  out = str(tmp_path / "cinc.csv")
  summary = score_files.predict_files(one_lead_model, files, out)
  assert summary.scored == 12 and summary.failed == 0
  with open(out, newline="") as f:
    rows = list(csv.DictReader(f))
  assert {r["status"] for r in rows} == {"ok"} and {r["renamed_leads"] for r in rows} == {"ECG=I"}
  assert all(int(r["windows"]) >= 1 for r in rows)
  # A twelve-lead model: the one lead is nothing it reads until named.
  summary = score_files.predict_files(tiny_pretrained, files[:2], out)
  assert summary.failed == 2 and "none of the model's leads is in the file" in _row(out)["status"]
  summary = score_files.predict_files(
      tiny_pretrained, files[:2], out,
      options=score_files.Options(lead_names=leads.parse_renames("ecg=I"),
                                  fill_missing_leads=True))
  row = _row(out)
  assert summary.scored == 2 and row["renamed_leads"] == "ECG=I"
  assert row["filled_leads"].split(";") == list(leads.STANDARD_LEADS[1:])


def test_lead_names_are_parsed_with_the_valid_leads_named():
  assert leads.parse_renames("ECG=I, MLII=ii") == (("ECG", "I"), ("MLII", "II"))
  assert leads.parse_renames(["v=avr"]) == (("v", "aVR"),)
  for bad in ("ECG", "ECG=lead1", "=I"):
    with pytest.raises(leads.UnknownLeadError, match="FILE_NAME=LEAD"):
      leads.parse_renames(bad)
  naming = leads.LeadNaming(renames=(("mlii", "II"),), single_lead="I")
  assert naming.renaming(["MLII", "V5"]) == {"MLII": "II"}
  assert naming.renaming(["ECG"]) == {"ECG": "I"}            # a one-signal file, a one-lead model
  assert naming.renaming(["II"]) == {}                       # already a lead name
  assert leads.LeadNaming().renaming(["ECG"]) == {}


def _row(path):
  with open(path, newline="") as f:
    return next(csv.DictReader(f))


def _twelve_to_one(tiny_data_dir, init_from, tmp_path, leads_spec="I", **overrides):
  c = shrink(finetune_config.get_config(), tiny_data_dir)
  c.init_from = init_from
  c.mode = "linear_probe"
  c.labels = "sinus_rhythm,atrial_fibrillation"
  c.train_size, c.min_positives, c.total_steps, c.eval_every = 120, 3, 4, 2
  c.optimizer.warmup_steps = 1
  c.dataset.leads = leads_spec
  for key, value in overrides.items():
    c[key] = value
  workdir = str(tmp_path / c.lead_transfer)
  fine_tuning.train_and_evaluate(c, workdir)
  return workdir, json.load(open(os.path.join(workdir, "transfer.json")))


@pytest.mark.slow
def test_fine_tuning_one_lead_from_twelve_selects_or_reinitialises_the_stem(
    tiny_pretrained, tiny_data_dir, tmp_path):
  before = checkpoints.read_pretrained(tiny_pretrained).params["backbone"]["stem"]["kernel"]
  workdir, report = _twelve_to_one(tiny_data_dir, tiny_pretrained, tmp_path,
                                   lead_transfer="select")
  assert report["leads"]["checkpoint"] == list(leads.STANDARD_LEADS)
  assert report["leads"]["dataset"] == ["I"] and "selected" in report["leads"]["stem"]
  assert "backbone/stem/kernel" in report["loaded"]
  after = checkpoints.read_pretrained(workdir).params["backbone"]["stem"]["kernel"]
  np.testing.assert_array_equal(after, np.asarray(before)[:, [0], :])   # a probe keeps it

  workdir, report = _twelve_to_one(tiny_data_dir, tiny_pretrained, tmp_path,
                                   lead_transfer="reinit")
  assert "backbone/stem/kernel" in report["reinitialised"]
  assert "re-initialised" in report["leads"]["stem"]


def test_fine_tuning_refuses_leads_the_checkpoint_never_read(one_lead_model, tiny_data_dir,
                                                             tmp_path):
  with pytest.raises(transfer.InputContractError, match=r"no pretrained filters for \['II'"):
    _twelve_to_one(tiny_data_dir, one_lead_model, tmp_path, leads_spec="I,II")


@pytest.mark.slow
def test_selecting_the_stem_is_the_pretrained_model_with_other_leads_at_zero():
  cfg = resnet1d.ResNet1DConfig(**TINY_MODEL, dtype="float32")
  twelve = resnet1d.ResNet1D(cfg, 3, 12, rngs=nnx.Rngs(params=0))
  one = resnet1d.ResNet1D(cfg, 3, 2, rngs=nnx.Rngs(params=1))
  _, params12, stats12 = nnx.split(twelve, nnx.Param, nnx.BatchStat)
  graphdef, params2, stats2 = nnx.split(one, nnx.Param, nnx.BatchStat)
  adapted, reinit, _ = transfer.adapt_stem(nnx.to_pure_dict(params12), leads.STANDARD_LEADS,
                                               ("II", "V2"), "select")
  assert reinit == r"^head/"
  new_params, _, _, _ = transfer.transfer(nnx.to_pure_dict(params2), adapted, reinit="^$")
  new_stats, _, _, _ = transfer.transfer(nnx.to_pure_dict(stats2), nnx.to_pure_dict(stats12),
                                         reinit="^$")
  model = nnx.merge(graphdef, new_params, new_stats)
  x = jax.random.normal(jax.random.key(0), (4, 200, 12))
  zeroed = x * (jax.numpy.arange(12) == 1) + x * (jax.numpy.arange(12) == 7)
  np.testing.assert_allclose(model(x[:, :, [1, 7]]), twelve(zeroed), rtol=1e-5, atol=1e-5)
