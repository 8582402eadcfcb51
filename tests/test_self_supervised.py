"""Self-supervised pretraining trains, resumes and spreads like supervised pretraining:
its negatives come from the global batch on any number of devices and processes, its
checkpoint is an encoder (no labels, no thresholds) that every fine-tuning mode and
`predict --embeddings` read."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from ecgjax.experiments import fine_tuning, self_supervised as ssl_experiment
from ecgjax.training import interrupt, self_supervised
from tests.helpers import (REPO, start_two_processes, tiny_finetune_config,
                           tiny_self_supervised_config)

pytestmark = pytest.mark.slow     # trains a model or runs a command end to end

# The train step alone on a fixed global batch of 16 ECGs, each process holding its
# rows: `losses(PARALLELISM, DEVICES)` is each objective's losses over 3 steps. Run here
# (this process simulates 8 devices) or as `python -c STEPS PARALLELISM...` in each of
# two processes, which prints them.
STEPS = """
import json, sys
import jax, numpy as np, optax
from flax import nnx
from ecgjax.models import resnet1d, self_supervised as net
from ecgjax.training import mesh, parallel, self_supervised, steps

def losses(parallelism, devices=None):
  par = parallel.make(parallelism, mesh.make_data_mesh(devices))
  cfg = resnet1d.ResNet1DConfig(stem_width=8, stage_widths=(8, 16), blocks_per_stage=(1, 1),
                                stage_strides=(2, 2), kernel_size=5, dropout=0.0,
                                dtype="float32")
  signal = np.random.default_rng(0).integers(-1500, 1500, (16, 300, 12)).astype(np.int16)
  n = 16 // jax.process_count()
  local = {"signal": signal[jax.process_index() * n:(jax.process_index() + 1) * n]}
  out = {}
  for objective in self_supervised.OBJECTIVES:
    model = net.SelfSupervisedNet(cfg, (32, 16), 12, rngs=nnx.Rngs(params=0))
    tx = optax.adam(1e-3)
    graphdef, state = steps.init_state(model, tx)
    state = par.from_checkpoint(jax.device_put(state, par.state_sharding))
    ssl = self_supervised.SelfSupervision(self_supervised.Objective(name=objective), 200)
    step, _ = par.compile_train_step(graphdef, tx, 0, state, par.put_batch(local), ssl=ssl)
    out[objective] = []
    for _ in range(3):
      state, metrics = step(state, par.put_batch(local))
      out[objective].append(float(jax.device_get(par.host_metrics(metrics))["loss"]))
  return out

if __name__ == "__main__":
  mesh.initialize_distributed()
  print("LOSSES", json.dumps({p: losses(p) for p in sys.argv[1:]}))
"""


def losses_here(parallelism: str, devices=None) -> dict:
  """STEPS's `losses` in this process, on `devices` (default: all 8)."""
  namespace = {"__name__": "steps_here"}
  exec(STEPS, namespace)      # noqa: S102  (the test's own code, above)
  return namespace["losses"](parallelism, devices)


def losses_of(stdout: str) -> dict:
  return json.loads(next(line for line in stdout.splitlines()
                         if line.startswith("LOSSES "))[len("LOSSES "):])


def assert_same_losses(losses: dict, expected: dict) -> None:
  assert set(losses) == set(expected) == set(self_supervised.OBJECTIVES)
  for objective, values in expected.items():
    np.testing.assert_allclose(losses[objective], values, rtol=1e-4, err_msg=objective)


def test_the_loss_is_the_global_batch_s_on_any_devices_and_processes(monkeypatch):
  """One device, 8 devices (jit and pmap) and 2 processes x 4 devices (jit and pmap) give
  each objective the same losses on one global batch: every ECG's negatives (and
  VICReg's variance and covariance) come from all 16, not from the 2 on its device or
  the 8 on its process."""
  assert jax.device_count() == 8
  one = losses_here("jit", jax.devices()[:1])
  for values in one.values():
    assert values[-1] < values[0]                              # it learns
  for parallelism in ("jit", "pmap"):
    assert_same_losses(losses_here(parallelism), one)
  outs = start_two_processes([sys.executable, "-c", STEPS, "jit", "pmap"],
                             stdout=subprocess.PIPE)
  for stdout, _ in outs:
    by_parallelism = losses_of(stdout)
    assert set(by_parallelism) == {"jit", "pmap"}
    for losses in by_parallelism.values():
      assert_same_losses(losses, one)
  # The equality is earned: under pmap with the projections not gathered, each device's
  # loss sees its own 2 ECGs, and the losses leave the tolerance above.
  monkeypatch.setattr(self_supervised, "_gathered", lambda z, axis_name: z)
  alone = losses_here("pmap")
  for objective in self_supervised.OBJECTIVES:
    assert not np.allclose(alone[objective], one[objective], rtol=1e-2), objective


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def encoder(tiny_data_dir, tmp_path_factory):
  """A contrastive run of 8 steps on synthetic_ecg/tiny, its k-NN probe on the same
  dataset's validation labels."""
  workdir = str(tmp_path_factory.mktemp("ssl"))
  ssl_experiment.train_and_evaluate(tiny_self_supervised_config(tiny_data_dir), workdir)
  return workdir


def test_a_self_supervised_run_writes_an_encoder_and_its_monitoring(encoder):
  lines = read_metrics(encoder)
  assert [m["step"] for m in lines if "loss" in m] == [2, 4, 6, 8]
  evals = [m for m in lines if "split" in m]
  assert [m["step"] for m in evals] == [4, 8]
  for m in evals:
    assert 1.0 <= m["embedding_rank"] <= m["embedding_width"] == 16
    assert m["probe_examples"] > 0 and 0.0 <= m["knn_auroc_mean"] <= 1.0
    assert "sinus_rhythm" in m["knn_auroc"]
  card = json.load(open(os.path.join(encoder, "model_card.json")))
  assert card["labels"] == [] and card["thresholds"] == {}
  assert card["training"]["task"] == "self_supervised"
  assert card["embedding"]["features"] == 16 and card["embedding"]["view_samples"] == 500
  assert "no labels" in card["embedding"]["what_it_is_not"]
  assert card["metrics"]["split"] == "test"
  markdown = open(os.path.join(encoder, "model_card.md")).read()
  assert "no labels and no thresholds" in markdown
  assert [m["probe_split"] for m in evals] == ["validation", "validation"]
  results = json.load(open(os.path.join(encoder, "results.json")))
  assert results["self_supervised"]["name"] == "contrastive"
  assert results["representation"]["examples"] > 0
  assert results["representation"]["probe_split"] == "test"     # scored once, at the end
  # No label was read: the training config says so, and the validation refused otherwise.
  assert json.load(open(os.path.join(encoder, "config.json")))["labels"] == "none"


def test_a_signal_saves_and_the_run_resumes_bit_identically(tiny_data_dir, tmp_path,
                                                           signal_at, encoder):
  """SIGTERM at step 4's line: the run saves after the step in progress (5) and exits;
  the same command then finishes with the losses and embeddings of the uninterrupted
  run (`encoder`)."""
  workdir = str(tmp_path / "interrupted")
  signal_at("logged", 2, "term")            # at step 4's line (logged every 2)
  with pytest.raises(interrupt.Interrupted, match="SIGTERM at step 5"):
    ssl_experiment.train_and_evaluate(tiny_self_supervised_config(tiny_data_dir), workdir)
  assert [m["step"] for m in read_metrics(workdir) if "loss" in m] == [2, 4, 5]
  resumed = ssl_experiment.train_and_evaluate(tiny_self_supervised_config(tiny_data_dir),
                                              workdir)
  straight = {(m["step"], "split" in m): m for m in read_metrics(encoder)}
  again = {(m["step"], "split" in m): m for m in read_metrics(workdir)}
  for key in ((8, False), (4, True), (8, True)):     # windows both runs logged whole
    for name in ("loss", "embedding_rank", "knn_auroc_mean"):
      if name in straight[key]:
        assert again[key][name] == straight[key][name], (key, name)
  expected = json.load(open(os.path.join(encoder, "results.json")))
  assert resumed["representation"] == expected["representation"]


def test_vicreg_trains_on_8_devices_under_pmap(tiny_data_dir, tmp_path):
  workdir = str(tmp_path / "vicreg")
  config = tiny_self_supervised_config(tiny_data_dir, "vicreg", parallelism="pmap")
  results = ssl_experiment.train_and_evaluate(config, workdir)
  assert jax.device_count() == 8
  losses = [m["loss"] for m in read_metrics(workdir) if "loss" in m]
  assert len(losses) == 4 and np.isfinite(losses).all()
  assert results["self_supervised"]["name"] == "vicreg"
  assert results["self_supervised"]["projector"] == [32, 16]


@pytest.mark.parametrize("mode", ["linear_probe", "full"])
def test_fine_tuning_reads_the_encoder_with_a_new_head(encoder, tiny_data_dir, tmp_path, mode):
  """init_from a self-supervised checkpoint: the backbone is loaded, the projector left
  unused, the head fresh (there is no head to carry), and the run concludes."""
  workdir = str(tmp_path / mode)
  results = fine_tuning.train_and_evaluate(
      tiny_finetune_config(tiny_data_dir, encoder, mode=mode), workdir)
  transfer = json.load(open(os.path.join(workdir, "transfer.json")))
  assert any(p.startswith("backbone/") for p in transfer["loaded"])
  assert any(p.startswith("projector/") for p in transfer["unused"])
  assert all(p.startswith(("head/", "batch_stats/head")) for p in transfer["reinitialised"])
  assert transfer["head_from_checkpoint"] == []
  assert results["mode"] == mode and results["medians"]["auroc"]["value"] is not None


def test_predict_writes_each_ecg_s_embedding_and_refuses_labels(encoder, shared_data,
                                                                tmp_path):
  """predict --embeddings on real ECG files: one row per file, the encoder's 16
  features, a long recording's windows averaged; without --embeddings an encoder has no
  labels to predict, a usage error."""
  from ecgjax.inference import model_input, scoring, score_files
  records = os.path.join(shared_data, "cinc2017")
  out = str(tmp_path / "embeddings.csv")
  command = [sys.executable, "-m", "ecgjax.predict", f"--model={encoder}", f"--out={out}",
             "--embeddings", "--lead_names=ECG=I", "--missing_leads=zero", records]
  done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  rows = list(__import__("csv").DictReader(open(out)))
  assert len(rows) == 200 and all(r["status"] == "ok" for r in rows)
  columns = [c for c in rows[0] if c.startswith("e") and c[1:].isdigit()]
  assert columns == [f"e{k}" for k in range(16)]
  long_row = max(rows, key=lambda r: int(r["windows"]))
  assert int(long_row["windows"]) > 1
  # The row is the mean of its windows' embeddings, as the Scorer computes them.
  model = scoring.load(encoder)
  windows = model_input.file_windows(long_row["path"], model.card,
                                     score_files.Options(lead_names=(("ECG", "I"),),
                                                         fill_missing_leads=True)
                                     )[long_row["record"]]
  expected = scoring.Scorer(model, embeddings=True)(windows).mean(axis=0)
  np.testing.assert_allclose([float(long_row[c]) for c in columns], expected, rtol=1e-4,
                             atol=1e-5)

  refused = subprocess.run([c for c in command if c != "--embeddings"], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
  assert refused.returncode == 2
  assert "is a self-supervised encoder: it has no labels to predict" in refused.stderr


def test_export_serves_the_encoder_s_embeddings(encoder, tmp_path):
  from ecgjax.inference import serving_export
  checks = serving_export.export_model(encoder, str(tmp_path / "export"), onnx=False)
  assert checks[0].max_abs_difference <= serving_export.TOLERANCE
  contract = json.load(open(tmp_path / "export" / "export.json"))
  assert contract["output"] == {"dtype": "float32", "shape": ["batch", 16], "embedding": True}


def test_a_self_supervised_run_can_start_from_a_pretrained_backbone(tiny_pretrained,
                                                                     tiny_data_dir):
  """init_from: the backbone starts as the checkpoint's (with its architecture), the
  projector afresh, and the card records where it started."""
  from ecgjax.data import run_input
  from ecgjax.experiments import validation
  from ecgjax.training import checkpoints, model_init, transfer
  config = tiny_self_supervised_config(tiny_data_dir, init_from=tiny_pretrained)
  config.model.stage_widths = (4, 4)       # the checkpoint's architecture wins
  spec = validation.validate_self_supervised(config)
  start = model_init.self_supervised_start(config, spec, run_input.make_input(config, spec),
                                           spec.objective)
  saved = checkpoints.read_pretrained(tiny_pretrained)
  ours, theirs = transfer.flatten(start.params), transfer.flatten(saved.params)
  backbone = [p for p in ours if p.startswith("backbone/")]
  assert backbone and all(np.array_equal(ours[p], theirs[p]) for p in backbone)
  assert any(p.startswith("projector/") for p in ours)
  assert not any(p.startswith("head/") for p in ours)
  assert start.init_from["step"] == saved.step


def test_evaluate_refuses_an_encoder_in_one_line(encoder, tiny_data_dir, tmp_path):
  from ecgjax.configs import evaluate as evaluate_config
  from ecgjax.experiments import checkpoint_evaluation, validation
  config = evaluate_config.get_config()
  config.checkpoint = encoder
  config.dataset.data_dir = tiny_data_dir
  with pytest.raises(validation.ConfigError, match="is a self-supervised encoder: it has no "
                                                   "labels to evaluate"):
    checkpoint_evaluation.evaluate_checkpoint(config, str(tmp_path / "eval"))


def test_views_longer_than_the_ecgs_are_refused_before_any_work(tiny_data_dir, tmp_path):
  from ecgjax.experiments import validation
  config = tiny_self_supervised_config(tiny_data_dir)
  config.self_supervised.view_s = 20.0
  with pytest.raises(validation.ConfigError, match="view_s=20.0: 2000 samples, but the "
                                                   "dataset holds 1000"):
    ssl_experiment.train_and_evaluate(config, str(tmp_path / "long"))
  assert not os.path.exists(tmp_path / "long" / "checkpoints")
