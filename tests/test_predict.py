"""`python -m ecgjax.predict` on real files of every format, as a user runs it."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from ecgjax.ecg import leads
from ecgjax.ecg.formats import wfdb_format
from ecgjax.ecg import windows
from ecgjax.inference import scoring
from tests.helpers import REPO, code15_tracing, write_code15_part, xla_flags

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end


@pytest.fixture(scope="module")
def model_dir(tiny_pretrained):
  return tiny_pretrained


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory) -> str:
  """A PYTHONPATH entry under which importing TensorFlow or TFDS fails, as on a
  serving host that has only JAX."""
  root = tmp_path_factory.mktemp("no_tf")
  for name in ("tensorflow", "tensorflow_datasets"):
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(
        f"raise ImportError('{name} imported by a command that must not need it')\n")
  return str(root)


def run_predict(args, no_tensorflow, devices=1):
  env = {**os.environ, "PYTHONPATH": no_tensorflow,
         "XLA_FLAGS": xla_flags(devices)}
  return subprocess.run([sys.executable, "-m", "ecgjax.predict", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)


def read_rows(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def every_format(shared_data, tmp_path_factory):
  """One or more files of each supported format, real where ../shared/data has them."""
  root = tmp_path_factory.mktemp("ecgs")
  ptbxl = os.path.join(shared_data, "ptbxl")
  for rate, name in (("records100", "00001_lr"), ("records500", "00002_hr")):
    for ext in (".hea", ".dat"):
      shutil.copy(os.path.join(ptbxl, rate, "00000", name + ext), root)
  for ext in (".hea", ".mat"):
    shutil.copy(os.path.join(shared_data, "cinc2020", "A0018" + ext), root)   # 50 s
  shutil.copy(os.path.join(shared_data, "muse_xml", "musePHI_muse_ecg1.xml"), root)
  for name in ("fda_subject1_0.xml", "crg_hl7aecg-Example2.xml"):
    shutil.copy(os.path.join(shared_data, "hl7_aecg", name), root)
  rng = np.random.default_rng(0)
  os.makedirs(root / "code15")
  write_code15_part(str(root / "code15"), [(11, code15_tracing(10, rng), {}),
                                           (12, code15_tracing(7, rng), {})])
  os.remove(root / "code15" / "exams.csv")          # predict needs only the tracings
  # The PTB-XL 500 Hz record as the documented array layouts (µV, samples x leads).
  signal = wfdb_format.read_wfdb(str(root / "00002_hr")).signal
  np.save(root / "00002_hr_array.npy", signal)
  return str(root), signal


def test_every_format_is_scored_without_tensorflow(model_dir, every_format, no_tensorflow,
                                                   tmp_path):
  root, _ = every_format
  out = str(tmp_path / "predictions.csv")
  result = run_predict([f"--model={model_dir}", f"--out={out}", "--sampling_rate=500",
                        "--leads=" + ",".join(leads.STANDARD_LEADS), root],
                       no_tensorflow, devices=2)
  card = json.load(open(os.path.join(model_dir, "model_card.json")))
  rows = read_rows(out)
  by_record = {r["record"]: r for r in rows}
  assert result.returncode == 1, result.stderr[-3000:]     # the empty CODE-15% exam fails
  assert "Traceback" not in result.stderr
  expected_ok = {"00001_lr", "00002_hr", "A0018", "musePHI_muse_ecg1", "fda_subject1_0",
                 "crg_hl7aecg-Example2", "11", "12", "00002_hr_array"}
  assert {r["record"] for r in rows if r["status"] == "ok"} == expected_ok
  assert by_record["0"]["status"].startswith("only 0 non-padding samples")
  assert list(rows[0]) == ["path", "record", "status", *card["labels"], "positive", "dropped",
                           "windows", "filled_leads", "renamed_leads"]
  for row in rows:
    if row["status"] != "ok":
      continue
    probs = np.array([float(row[n]) for n in card["labels"]])
    assert np.all((probs >= 0) & (probs <= 1))
    expected = [n for n, p in zip(card["labels"], probs)
                if card["thresholds"][n] is not None and p >= card["thresholds"][n] - 5e-7]
    assert set(row["positive"].split(";") if row["positive"] else []) <= set(expected)
  # A 50.4-s record is five 10-s windows and one aligned to its end; a 10-s one is one.
  assert by_record["A0018"]["windows"] == "6" and by_record["00001_lr"]["windows"] == "1"
  # The same ECG read from WFDB and from a .npy scores the same.
  for name in card["labels"]:
    assert float(by_record["00002_hr"][name]) == pytest.approx(
        float(by_record["00002_hr_array"][name]), abs=2e-6)
  assert "scored 9 ECGs from 8 files; 1 failed" in result.stdout


def test_predict_matches_the_evaluation_path_and_calibration(model_dir, shared_data):
  """For a record already at the model's rate and length, the scorer's log-odds are
  the eval step's, and predict's probability is the card's Platt map of them,
  computed apart in float64."""
  from ecgjax.models import resnet1d
  from ecgjax.training import checkpoints, mesh, model_init, steps
  from flax import nnx
  import jax
  record = wfdb_format.read_wfdb(os.path.join(shared_data, "ptbxl", "records100", "00000",
                                              "00003_lr"))
  model = scoring.load(model_dir)
  batch = windows.record_windows(record, model.card["input"])
  assert batch.shape == (1, 1000, 12)
  got = scoring.Scorer(model, batch_size=8)(batch)[0]
  probability = model.calibrate(got)

  saved = checkpoints.read_pretrained(model_dir)
  graphdef, _, _ = nnx.split(model_init.build_model(
      resnet1d.config_from(saved.config["model"]), len(model.labels), 12, seed=0),
      nnx.Param, nnx.BatchStat)
  m = mesh.make_data_mesh()
  state = steps.TrainState(step=0, params=saved.params, batch_stats=saved.batch_stats,
                           opt_state=())
  signal = np.rint(record.signal).astype(np.int16)[None]
  eight = np.repeat(signal, jax.device_count(), axis=0)
  raw = np.asarray(steps.make_eval_step(graphdef, mesh.replicated(m), mesh.batch_sharded(m))(
      jax.device_put(state, mesh.replicated(m)), {"signal": eight}))[0]
  np.testing.assert_allclose(got, raw, atol=1e-4)
  platt = [model.card["calibration"]["labels"][n] for n in model.labels]
  a = np.array([p["a"] for p in platt])
  b = np.array([p["b"] for p in platt])
  assert probability.dtype == np.float64
  np.testing.assert_allclose(probability, 1 / (1 + np.exp(-(a * got.astype(np.float64) + b))),
                             rtol=1e-12)


def test_window_starts_cover_the_whole_record():
  assert windows.window_starts(1000, 1000, 1000) == [0]
  assert windows.window_starts(600, 1000, 1000) == [0]
  assert windows.window_starts(2500, 1000, 1000) == [0, 1000, 1500]
  assert windows.window_starts(2000, 1000, 500) == [0, 500, 1000]


def test_leads_are_matched_by_name_and_a_missing_one_is_named(model_dir, every_format,
                                                              no_tensorflow, tmp_path):
  _, signal = every_format
  names = list(leads.STANDARD_LEADS)
  order = np.random.default_rng(1).permutation(12)
  for name, columns, samples in (("ordered", list(range(12)), 5000),
                                 ("shuffled", list(order), 5000),
                                 ("no_v6", list(range(11)), 5000), ("short", list(range(12)), 1500)):
    with open(tmp_path / f"{name}.csv", "w") as f:
      f.write(",".join(names[c] for c in columns) + "\n")
      np.savetxt(f, signal[:samples, columns], delimiter=",", fmt="%.3f")
  out = str(tmp_path / "p.csv")
  result = run_predict([f"--model={model_dir}", f"--out={out}", "--sampling_rate=500",
                        *(str(tmp_path / f"{n}.csv") for n in ("ordered", "shuffled", "no_v6",
                                                               "short"))], no_tensorflow)
  rows = {r["record"]: r for r in read_rows(out)}
  assert result.returncode == 1
  assert rows["no_v6"]["status"].startswith("missing leads ['V6']")
  assert rows["short"]["status"] == ("recording of 3.00 s is shorter than the recipe's "
                                     "minimum 5 s")
  labels = json.load(open(os.path.join(model_dir, "model_card.json")))["labels"]
  for name in labels:
    assert rows["shuffled"][name] == rows["ordered"][name]
  # With zeros for what is missing, and the failure tolerated.
  result = run_predict([f"--model={model_dir}", f"--out={out}", "--sampling_rate=500",
                        "--missing_leads=zero", "--allow_failures",
                        str(tmp_path / "no_v6.csv"), str(tmp_path / "short.csv")],
                       no_tensorflow)
  rows = {r["record"]: r for r in read_rows(out)}
  assert result.returncode == 0, result.stderr[-2000:]
  assert rows["no_v6"]["status"] == "ok" and rows["no_v6"]["filled_leads"] == "V6"
  assert rows["short"]["status"] != "ok"        # failed, and tolerated


def test_bad_files_get_their_row_and_the_others_go_on(model_dir, shared_data, no_tensorflow,
                                                      tmp_path):
  good = os.path.join(shared_data, "ptbxl", "records100", "00000", "00001_lr.hea")
  header = open(good).read().replace("00001_lr", "truncated")
  (tmp_path / "truncated.hea").write_text(header)
  data = open(good[:-4] + ".dat", "rb").read()
  open(tmp_path / "truncated.dat", "wb").write(data[:len(data) // 2])
  muse = open(os.path.join(shared_data, "muse_xml", "musePHI_muse_ecg1.xml"), "rb").read()
  (tmp_path / "cut.xml").write_bytes(muse[:len(muse) // 3])
  (tmp_path / "other.xml").write_text("<?xml version='1.0'?><svg></svg>")
  (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
  out = str(tmp_path / "p.csv")
  bad = [str(tmp_path / n) for n in ("truncated.hea", "cut.xml", "other.xml", "notes.docx")]
  result = run_predict([f"--model={model_dir}", f"--out={out}", good, *bad], no_tensorflow)
  rows = {r["record"]: r["status"] for r in read_rows(out)}
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert rows["00001_lr"] == "ok"
  assert rows["truncated"] != "ok" and "Traceback" not in rows["truncated"]
  assert rows["cut"] != "ok" and "neither GE MUSE" in rows["other"]
  assert rows["notes"].startswith("unknown ECG format (extension '.docx')")
  assert "scored 1 ECGs from 5 files; 4 failed" in result.stdout
  # The summary counts each reason by its whole first clause, never cut inside it.
  assert "XML that is neither GE MUSE (<RestingECG>) nor HL7 aECG (<AnnotatedECG>)" in (
      result.stdout)


def test_a_model_directory_without_a_card_says_how_to_write_one(model_dir, tiny_data_dir,
                                                                no_tensorflow, tmp_path):
  good = os.path.join(REPO, "..", "shared", "data", "ptbxl", "records100", "00000",
                      "00001_lr.hea")
  result = run_predict([f"--model={tmp_path / 'absent'}", f"--out={tmp_path / 'p.csv'}",
                        good], no_tensorflow)
  assert result.returncode == 2 and result.stderr.count("\n") == 1
  assert f"--model={tmp_path / 'absent'}: no such directory" in result.stderr
  # A checkpoint as ecgjax wrote them before cards: no model_card item, no card files.
  old = tmp_path / "old"
  shutil.copytree(model_dir, old)
  for step in os.listdir(old / "checkpoints"):
    shutil.rmtree(old / "checkpoints" / step / "model_card")
  os.remove(old / "model_card.json")
  result = run_predict([f"--model={old}", f"--out={tmp_path / 'p.csv'}", good], no_tensorflow)
  assert result.returncode == 1 and "has no model card" in result.stderr
  assert "--config.write_card=True" in result.stderr
  # The command it names writes the card; predict then works.
  from ecgjax.experiments import checkpoint_evaluation
  from ecgjax.configs import evaluate as evaluate_config
  config = evaluate_config.get_config()
  config.checkpoint, config.write_card, config.eval_batch_size = str(old), True, 64
  checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval"))
  result = run_predict([f"--model={old}", f"--out={tmp_path / 'p.csv'}", good], no_tensorflow)
  assert result.returncode == 0, result.stderr[-2000:]
  assert read_rows(tmp_path / "p.csv")[0]["status"] == "ok"


def test_usage_errors_exit_2_in_one_line_before_the_model_loads(no_tensorflow, tmp_path):
  """A misspelt shipped name gets a did-you-mean; a missing input path and a .npy named
  without --sampling_rate are refused before the model loads: the model here is a
  directory whose checkpoints/ is empty, which loading would report instead (exit 1)."""
  out = tmp_path / "p.csv"
  sample = os.path.join(REPO, "ecgjax", "sample_ecgs", "ptbxl")
  misspelt = run_predict(["--model=synthetic_fundation", f"--out={out}", sample],
                         no_tensorflow)
  assert misspelt.returncode == 2 and misspelt.stderr.count("\n") == 1, misspelt.stderr
  assert misspelt.stderr.startswith("ecgjax.predict: --model=synthetic_fundation: no such "
                                    "directory, nor a model shipped with ecgjax (")
  assert misspelt.stderr.rstrip().endswith("(did you mean --model=synthetic_foundation?)")
  unloadable = tmp_path / "unloadable"
  (unloadable / "checkpoints").mkdir(parents=True)
  loaded = run_predict([f"--model={unloadable}", f"--out={out}", sample], no_tensorflow)
  assert loaded.returncode == 1 and "no checkpoint in" in loaded.stderr   # what loading says
  missing = run_predict([f"--model={unloadable}", f"--out={out}", sample,
                         str(tmp_path / "nowhere.hea")], no_tensorflow)
  assert missing.returncode == 2 and missing.stderr.count("\n") == 1, missing.stderr
  assert f"{tmp_path / 'nowhere.hea'}: no such file or directory" in missing.stderr
  array = tmp_path / "ecg.npy"
  np.save(array, np.zeros((1000, 12), np.int16))
  no_rate = run_predict([f"--model={unloadable}", f"--out={out}", str(array)], no_tensorflow)
  assert no_rate.returncode == 2 and no_rate.stderr.count("\n") == 1, no_rate.stderr
  assert f"{array}: a .npy or .csv ECG does not say its sampling rate" in no_rate.stderr
  assert not out.exists()
