"""`python -m ecgjax.export`: the JAX export runs where only JAX is installed, and
every exported form agrees with the in-process model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from ecgjax.inference import scoring, serving_export
from tests.helpers import REPO, require_extra, xla_flags

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

# The ONNX form is the `export` extra's (pip install -e ".[export]"), which CI installs.
require_extra("jax2onnx", "export")
require_extra("onnxruntime", "export")


@pytest.fixture(scope="module")
def exported(tiny_pretrained, tmp_path_factory, no_flax):
  out = str(tmp_path_factory.mktemp("export"))
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.export", f"--model={tiny_pretrained}", f"--out={out}",
       "--model_directory"],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env={**os.environ, "XLA_FLAGS": xla_flags(), "PYTHONPATH": no_flax["no_tensorflow"]})
  assert result.returncode == 0, result.stderr[-3000:]
  assert "model.jax_export: agrees with the model" in result.stdout
  assert "model.onnx: agrees with the model" in result.stdout
  assert f"run it: python {out}/load_jax_export.py" in result.stdout
  assert f"ecgjax.export: {out}/model: the model directory" in result.stdout
  # The converter's chatter stays off the console.
  assert "BatchNorm exported" not in result.stderr and "Converting JAX" not in result.stderr
  return out


@pytest.fixture(scope="module")
def no_flax(tmp_path_factory) -> dict:
  """PYTHONPATH entries under which some packages cannot be imported."""
  def blocked(*names):
    root = tmp_path_factory.mktemp("blocked")
    for name in names:
      (root / name).mkdir()
      (root / name / "__init__.py").write_text(f"raise ImportError('{name} is not here')\n")
    return str(root)
  return {"no_tensorflow": blocked("tensorflow", "tensorflow_datasets"),
          "jax_only": blocked("tensorflow", "tensorflow_datasets", "flax", "ecgjax", "optax",
                              "orbax")}


def ecgs(model, n):
  return serving_export.probe_signals(model.card, n)


def test_the_export_runs_with_nothing_but_jax(exported, tiny_pretrained, no_flax, tmp_path):
  assert sorted(os.listdir(exported)) == ["export.json", "load_jax_export.py", "model",
                                          "model.jax_export", "model.onnx", "model_card.json",
                                          "model_card.md"]
  model = scoring.load(tiny_pretrained)
  assert scoring.load(os.path.join(exported, "model")).card == model.card
  signal = ecgs(model, 5)
  np.save(tmp_path / "in.npy", signal)
  # From another directory, with JAX and NumPy alone (flax, ecgjax, TF cannot import).
  result = subprocess.run(
      [sys.executable, os.path.join(exported, "load_jax_export.py"), str(tmp_path / "in.npy"),
       str(tmp_path / "out.npy")], cwd=tmp_path, capture_output=True, text=True, timeout=300,
      env={**os.environ, "PYTHONPATH": no_flax["jax_only"], "XLA_FLAGS": xla_flags()})
  assert result.returncode == 0, result.stderr[-3000:]
  served = np.load(tmp_path / "out.npy")
  in_process = model.calibrate(scoring.Scorer(model, batch_size=8)(signal))   # predict's
  assert served.shape == (5, len(model.labels)) and served.dtype == np.float32
  np.testing.assert_allclose(served, in_process, atol=serving_export.TOLERANCE)
  printed = result.stdout.splitlines()
  assert len(printed) == 5 and printed[0].startswith(f"ECG 0: {model.labels[0]} ")


def test_a_file_becomes_the_exports_input_as_predict_reads_it(exported, tiny_pretrained,
                                                              shared_data, tmp_path):
  """model_input.file_windows gives the export what predict scores: the same
  probabilities for a 500 Hz record (resampled by the card's recipe) and a long one."""
  from ecgjax.inference import model_input, score_files
  files = [os.path.join(shared_data, "ptbxl", "records500", "00000", "00001_hr.hea"),
           os.path.join(shared_data, "cinc2020", "A0018.hea")]
  out = str(tmp_path / "p.csv")
  score_files.predict_files(tiny_pretrained, files, out)
  import csv
  with open(out, newline="") as f:
    rows = {r["record"]: r for r in csv.DictReader(f)}
  with open(os.path.join(exported, "model.jax_export"), "rb") as f:
    import jax
    served = jax.export.deserialize(bytearray(f.read()))
  labels = model_input.read_card(exported)["labels"]
  for path in files:
    (record, windows), = model_input.file_windows(path, exported).items()
    assert windows.dtype == np.int16 and windows.shape[1:] == (1000, 12)
    probabilities = np.asarray(served.call(windows)).max(axis=0)    # predict's aggregation
    assert int(rows[record]["windows"]) == len(windows)
    np.testing.assert_allclose(probabilities, [float(rows[record][n]) for n in labels],
                               atol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_agrees_with_the_model_at_any_batch_size(exported, tiny_pretrained, batch):
  model = scoring.load(tiny_pretrained)
  signal = ecgs(model, batch)
  outputs = serving_export.onnx_session(os.path.join(exported, "model.onnx")).run(
      None, {"signal": signal})[0]
  np.testing.assert_allclose(outputs, model.calibrate(scoring.Scorer(model, batch_size=8)(signal)),
                             atol=serving_export.TOLERANCE)


def test_export_refuses_a_missing_model_in_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.export", f"--model={tmp_path / 'none'}",
       f"--out={tmp_path / 'out'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
  assert f"ecgjax.export: --model={tmp_path / 'none'}: no such directory" in result.stderr


def _snippet(marker: str) -> str:
  """The python block after `<!-- marker -->` in docs/using-a-model.md."""
  text = open(os.path.join(REPO, "docs", "using-a-model.md"), encoding="utf-8").read()
  block = text.split(f"<!-- {marker} -->\n```python\n", 1)[1]
  return block.split("```", 1)[0]


@pytest.mark.parametrize("marker", ["jax-export-snippet", "onnxruntime-snippet"])
def test_the_docs_snippets_serve_what_predict_reports(marker, exported, tiny_pretrained,
                                                      no_flax, tmp_path):
  """The docs' code for each export, run as written (the export's path and the windows'
  file replaced) with neither flax nor ecgjax importable: predict's probabilities."""
  model = scoring.load(tiny_pretrained)
  signal = ecgs(model, 3)
  np.save(tmp_path / "a00001.npy", signal)
  code = _snippet(marker).replace("/tmp/ecgjax_export", exported)
  code += "\nnp.save('served.npy', probabilities)\n"
  result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": no_flax["jax_only"],
                               "XLA_FLAGS": xla_flags()})
  assert result.returncode == 0, result.stderr[-3000:]
  in_process = model.calibrate(scoring.Scorer(model, batch_size=8)(signal))   # predict's
  np.testing.assert_allclose(np.load(tmp_path / "served.npy"), in_process,
                             atol=serving_export.TOLERANCE)


def test_a_wrong_lead_count_is_one_line(exported, tiny_pretrained, no_flax, tmp_path):
  """load_jax_export.py and the function its load() gives refuse a signal of the wrong
  shape in one line, naming the leads the model reads."""
  model = scoring.load(tiny_pretrained)
  one_lead = ecgs(model, 2)[..., :1]
  np.save(tmp_path / "one_lead.npy", one_lead)
  env = {**os.environ, "PYTHONPATH": no_flax["jax_only"], "XLA_FLAGS": xla_flags()}
  result = subprocess.run(
      [sys.executable, os.path.join(exported, "load_jax_export.py"),
       str(tmp_path / "one_lead.npy")], cwd=tmp_path, capture_output=True, text=True,
      timeout=300, env=env)
  leads = ",".join(model.card["input"]["leads"])
  assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
  assert result.stderr.startswith(
      f"load_jax_export.py: {tmp_path / 'one_lead.npy'}: a signal of shape (2, 1000, 1): this "
      f"model reads (batch, 1000, 12) or (1000, 12), int16 µV, leads {leads} in that order")
  code = (f"import sys; sys.path.insert(0, {exported!r}); import load_jax_export, numpy as np\n"
          "try:\n  load_jax_export.load()(np.load('one_lead.npy'))\n"
          "except ValueError as e:\n  print(e)\n")
  called = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)
  assert called.stdout.startswith("a signal of shape (2, 1000, 1): this model reads"), (
      called.stderr[-2000:])
