"""`python -m ecgjax.export`: the JAX export runs where only JAX is installed, and
every exported form agrees with the in-process model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from ecgjax.inference import scoring, serving_export
from tests.helpers import REPO

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

# The ONNX form is the `export` extra's (pip install -e ".[export]"), which CI installs.
pytest.importorskip("jax2onnx", reason='the ONNX export needs the `export` extra: '
                    'pip install -e ".[export]"')
pytest.importorskip("onnxruntime", reason='the ONNX checks need the `export` extra: '
                    'pip install -e ".[export]"')


@pytest.fixture(scope="module")
def exported(tiny_pretrained, tmp_path_factory, no_flax):
  out = str(tmp_path_factory.mktemp("export"))
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.export", f"--model={tiny_pretrained}", f"--out={out}"],
      cwd=REPO, capture_output=True, text=True, timeout=600,
      env={**os.environ, "XLA_FLAGS": "", "PYTHONPATH": no_flax["no_tensorflow"]})
  assert result.returncode == 0, result.stderr[-3000:]
  assert "model.jax_export: agrees with the model" in result.stdout
  assert "model.onnx: agrees with the model" in result.stdout
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
  assert sorted(os.listdir(exported)) == ["export.json", "load_jax_export.py", "model.jax_export",
                                          "model.onnx", "model_card.json", "model_card.md"]
  model = scoring.load(tiny_pretrained)
  signal = ecgs(model, 5)
  np.save(tmp_path / "in.npy", signal)
  loader = open(os.path.join(exported, "load_jax_export.py")).read()
  script = (loader + "\nfor name in ('flax', 'ecgjax', 'tensorflow'):\n"
            "    try:\n        __import__(name)\n        raise SystemExit(name + ' importable')\n"
            "    except ImportError:\n        pass\n"
            f"np.save({str(tmp_path / 'out.npy')!r}, np.asarray(model.call("
            f"np.load({str(tmp_path / 'in.npy')!r}))))\n")
  result = subprocess.run([sys.executable, "-c", script], cwd=exported, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": no_flax["jax_only"], "XLA_FLAGS": ""})
  assert result.returncode == 0, result.stderr[-3000:]
  served = np.load(tmp_path / "out.npy")
  in_process = scoring.Scorer(model, batch_size=8)(signal)
  assert served.shape == (5, len(model.labels)) and served.dtype == np.float32
  np.testing.assert_allclose(served, in_process, atol=serving_export.TOLERANCE)


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_agrees_with_the_model_at_any_batch_size(exported, tiny_pretrained, batch):
  model = scoring.load(tiny_pretrained)
  signal = ecgs(model, batch)
  outputs = serving_export.onnx_session(os.path.join(exported, "model.onnx")).run(
      None, {"signal": signal})[0]
  np.testing.assert_allclose(outputs, scoring.Scorer(model, batch_size=8)(signal),
                             atol=serving_export.TOLERANCE)


def test_export_refuses_a_missing_model_in_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "ecgjax.export", f"--model={tmp_path / 'none'}",
       f"--out={tmp_path / 'out'}"], cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert f"ecgjax.export: --model={tmp_path / 'none'}: no such directory" in result.stderr
