"""A workdir in a bucket, against a real GCS emulator that the tests start
(helpers.GcsEmulator): the commands run as users run them, with `gs://` paths, and
nothing in the file API is mocked. What each test lists comes from the emulator's own
listing API."""

import io
import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from ecgjax.training import interrupt
from tests.helpers import REPO, start_two_processes, xla_flags

pytestmark = pytest.mark.slow     # runs commands end to end

# The files docs/using-a-model.md lists for a pretraining workdir.
PRETRAINING_FILES = ("config.json", "metrics.jsonl", "results.json", "model_card.json",
                     "model_card.md", "predictions.npz")


def command(emulator, module, *flags, env=None):
  """A command on 8 simulated devices, as the in-process fixtures it is compared with."""
  return subprocess.run(
      [sys.executable, "-m", module, *flags], cwd=REPO, capture_output=True, text=True,
      timeout=600, env={**os.environ, "XLA_FLAGS": xla_flags(8), **emulator.env, **(env or {})})


def fresh_bucket(emulator) -> str:
  return emulator.make_bucket(f"ecgjax-{uuid.uuid4().hex[:12]}")


def read_events(emulator, path: str) -> dict:
  """Scalars of a TensorBoard event file, read by TensorBoard's own loader."""
  from tensorboard.backend.event_processing import event_file_loader
  import tempfile
  with tempfile.NamedTemporaryFile(suffix=".tfevents") as f:
    f.write(emulator.read(path))
    f.flush()
    scalars = {}
    for event in event_file_loader.LegacyEventFileLoader(f.name).Load():
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  return scalars


def test_bucket_pretraining_stopped_by_sigterm_resumes_to_the_same_model(
    gcs_emulator, tiny_data_dir, tiny_pretrained, tmp_path):
  bucket = fresh_bucket(gcs_emulator)
  workdir = f"{bucket}/runs/pretrain"
  flags = (f"--config=tests/configs/tiny_pretrain.py:{tiny_data_dir}", f"--workdir={workdir}")
  # SIGTERM after step 5, as a preemptible VM's scheduler sends it.
  stopped = command(gcs_emulator, "ecgjax.main", *flags,
                    env={"ECGJAX_FAILPOINT": "step#5:term"})
  assert stopped.returncode == interrupt.EXIT_CODE, stopped.stderr[-3000:]
  assert "saved checkpoint 5 in gs://" in stopped.stderr
  objects = gcs_emulator.objects(workdir)
  assert "checkpoints/5/_CHECKPOINT_METADATA" in objects and "results.json" not in objects

  resumed = command(gcs_emulator, "ecgjax.main", *flags)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "resumed from step 5" in resumed.stderr
  objects = gcs_emulator.objects(workdir)
  for name in PRETRAINING_FILES:
    assert name in objects, (name, objects)
  assert "checkpoints/8/_CHECKPOINT_METADATA" in objects
  assert not [o for o in objects if o.endswith(".tmp") or "orbax-checkpoint-tmp" in o]
  # No log file nor lock there: a bucket can neither append nor lock (docs/scaling.md).
  assert "ecgjax.log" not in objects and "ecgjax.lock" not in objects
  assert "file locks do not exist" in resumed.stderr

  # The same model as a run on local disk never stopped (tiny_pretrained: the same
  # config), bit for bit, read back from the bucket through Orbax.
  from ecgjax.training import checkpoints
  import jax
  local = checkpoints.read_pretrained(tiny_pretrained)
  remote_dir = tmp_path / "copy"
  for name in objects:      # the bucket's checkpoint, copied byte for byte to read it here
    if name.startswith("checkpoints/8/"):
      target = remote_dir / name
      target.parent.mkdir(parents=True, exist_ok=True)
      target.write_bytes(gcs_emulator.read(f"{workdir}/{name}"))
  remote = checkpoints.read_pretrained(str(remote_dir))
  assert remote.step == local.step == 8
  jax.tree.map(np.testing.assert_array_equal, (local.params, local.batch_stats),
               (remote.params, remote.batch_stats))
  results = json.loads(gcs_emulator.read(f"{workdir}/results.json"))
  with open(os.path.join(tiny_pretrained, "results.json")) as f:
    assert results["labels"] == json.load(f)["labels"]
  with np.load(io.BytesIO(gcs_emulator.read(f"{workdir}/predictions.npz"))) as p:
    assert p["test_log_odds"].shape == (results["test_examples"], 39)

  # metrics.jsonl: the stopped run's lines up to its checkpoint, then the resumed run's.
  lines = [json.loads(line) for line in
           gcs_emulator.read(f"{workdir}/metrics.jsonl").decode().splitlines()]
  assert [m["step"] for m in lines] == [2, 4, 5, 6, 8, 8]
  assert lines[-1]["split"] == "validation"
  # TensorBoard reads each run's event file: the train loss of the steps each logged.
  events = sorted(o for o in objects if o.startswith("events.out.tfevents."))
  assert len(events) == 2
  logged = [step for e in events
            for step, _ in read_events(gcs_emulator, f"{workdir}/{e}")["train/loss"]]
  assert logged == [2, 4, 5, 6, 8]

  # Run again once finished: nothing to train, the same results.
  again = command(gcs_emulator, "ecgjax.main", *flags)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "nothing to train" in again.stderr
  assert json.loads(gcs_emulator.read(f"{workdir}/results.json")) == results


@pytest.fixture(scope="module")
def bucket_pretrained(gcs_emulator, tiny_pretrained) -> str:
  """The suite's tiny pretraining, copied into a bucket as a user would upload it."""
  return gcs_emulator.upload(tiny_pretrained, f"{fresh_bucket(gcs_emulator)}/pretrained")


def no_tensorflow_path(root) -> str:
  """A PYTHONPATH entry under which importing TensorFlow or TFDS fails, as on a
  serving host that has only JAX."""
  for name in ("tensorflow", "tensorflow_datasets"):
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(
        f"raise ImportError('{name} imported by a command that must not need it')\n")
  return str(root)


def test_bucket_fine_tune_from_a_bucket_then_predict_and_export_from_it(
    gcs_emulator, bucket_pretrained, tiny_data_dir, shared_data, tmp_path):
  workdir = f"{fresh_bucket(gcs_emulator)}/finetune"
  tuned = command(gcs_emulator, "ecgjax.finetune",
                  f"--config=tests/configs/tiny_finetune.py:{tiny_data_dir},{bucket_pretrained}",
                  f"--workdir={workdir}", "--config.mode=full")
  assert tuned.returncode == 0, tuned.stderr[-3000:]
  objects = gcs_emulator.objects(workdir)
  for name in ("config.json", "transfer.json", "metrics.jsonl", "results.json",
               "model_card.json", "model_card.md", "predictions.npz"):
    assert name in objects, (name, objects)
  assert not [o for o in objects if o.startswith("resume/") or o.endswith(".tmp")], objects
  transfer = json.loads(gcs_emulator.read(f"{workdir}/transfer.json"))
  assert transfer["init_from"] == bucket_pretrained and transfer["loaded"]
  results = json.loads(gcs_emulator.read(f"{workdir}/results.json"))
  step = results["best_step"]
  assert f"checkpoints/{step}/_CHECKPOINT_METADATA" in objects

  # A serving host without TensorFlow scores real ECGs with the bucket's model.
  record = os.path.join(shared_data, "ptbxl", "records500", "00000", "00001_hr")
  out = tmp_path / "predictions.csv"
  predicted = command(gcs_emulator, "ecgjax.predict", f"--model={workdir}", f"--out={out}",
                      record + ".hea",
                      env={"PYTHONPATH": no_tensorflow_path(tmp_path / "no_tf")})
  assert predicted.returncode == 0, predicted.stderr[-3000:]
  header, row = out.read_text().splitlines()[:2]
  card = json.loads(gcs_emulator.read(f"{workdir}/model_card.json"))
  assert header.split(",")[3:3 + len(card["labels"])] == card["labels"]
  assert row.split(",")[2] == "ok"

  exported = command(gcs_emulator, "ecgjax.export", f"--model={bucket_pretrained}",
                     f"--out={tmp_path / 'export'}")
  assert exported.returncode == 0, exported.stderr[-3000:]
  assert (tmp_path / "export" / "model.jax_export").stat().st_size > 0


def test_bucket_sweep_writes_its_report_into_the_bucket(gcs_emulator, bucket_pretrained,
                                                        tiny_data_dir):
  workdir = f"{fresh_bucket(gcs_emulator)}/sweep"
  swept = command(gcs_emulator, "ecgjax.main",
                  f"--config=tests/configs/tiny_compare.py:{tiny_data_dir},{bucket_pretrained}",
                  f"--workdir={workdir}", "--config.modes=scratch,linear_probe",
                  "--config.train_sizes=60")
  assert swept.returncode == 0, swept.stderr[-3000:]
  objects = gcs_emulator.objects(workdir)
  for name in ("config.json", "results.csv", "comparisons.csv", "report.md",
               "auroc_vs_train_size.png", "roc_train_size_60.png"):
    assert name in objects, (name, objects)
  for mode in ("scratch", "linear_probe"):
    assert f"runs/{mode}/n60/seed0/results.json" in objects
  assert not [o for o in objects if "/resume/" in o or o.endswith(".tmp")], objects
  rows = gcs_emulator.read(f"{workdir}/results.csv").decode().splitlines()
  assert len(rows) == 1 + 2 * 2           # header, then runs x labels
  assert gcs_emulator.read(f"{workdir}/roc_train_size_60.png")[:4] == b"\x89PNG"


def test_bucket_pretraining_as_two_processes(gcs_emulator, tiny_data_dir):
  """2 processes x 4 devices, one run, its workdir in a bucket: Orbax commits each
  checkpoint from both processes, process 0 alone writes the workdir's files."""
  workdir = f"{fresh_bucket(gcs_emulator)}/two_processes"
  start_two_processes(
      [sys.executable, "-m", "ecgjax.main",
       f"--config=tests/configs/tiny_pretrain.py:{tiny_data_dir}", f"--workdir={workdir}",
       "--config.total_steps=6", "--config.log_every=3", "--config.eval_every=6",
       "--config.checkpoint_every=3"], extra_env=gcs_emulator.env)
  objects = gcs_emulator.objects(workdir)
  for name in PRETRAINING_FILES:
    assert name in objects, (name, objects)
  assert {o.split("/")[1] for o in objects if o.startswith("checkpoints/")} == {"3", "6"}
  lines = [json.loads(line) for line in
           gcs_emulator.read(f"{workdir}/metrics.jsonl").decode().splitlines()]
  assert [m["step"] for m in lines] == [3, 6, 6]            # one writer, not two
  assert json.loads(gcs_emulator.read(f"{workdir}/results.json"))["step"] == 6
  assert len([o for o in objects if o.startswith("events.out.tfevents.")]) == 1


def test_bucket_tfds_build_into_a_bucket_then_pretrain_from_it(gcs_emulator_for_tensorflow,
                                                               tiny_pretrained):
  """`tfds build` writes the dataset into a bucket, and a pretraining reads it from
  there (TFDS's metadata through epath, the TFRecords through TensorFlow's own GCS
  client: helpers.GcsEmulator.for_tensorflow) into a bucket workdir. Its results equal
  those of the same run on the locally built dataset (tiny_pretrained)."""
  emulator = gcs_emulator_for_tensorflow
  bucket = fresh_bucket(emulator)
  data_dir, workdir = f"{bucket}/tfds", f"{bucket}/runs/from_bucket_data"
  env = {**os.environ, "XLA_FLAGS": xla_flags(8)}
  argv, emulator_env = emulator.for_tensorflow(
      ["tfds", "build", "tfds_builders/synthetic_ecg", "--config=tiny", f"--data_dir={data_dir}"])
  built = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**env, **emulator_env})
  assert built.returncode == 0, built.stderr[-3000:]
  objects = emulator.objects(f"{data_dir}/synthetic_ecg/tiny")
  assert {o.split("/", 1)[1] for o in objects} >= {
      "dataset_info.json", "synthetic_ecg-train.tfrecord-00000-of-00001",
      "synthetic_ecg-validation.tfrecord-00000-of-00001",
      "synthetic_ecg-test.tfrecord-00000-of-00001"}
  assert not [o for o in objects if "incomplete" in o]

  argv, emulator_env = emulator.for_tensorflow(
      [sys.executable, "-m", "ecgjax.main", f"--config=tests/configs/tiny_pretrain.py:{data_dir}",
       f"--workdir={workdir}"])
  run = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600,
                       env={**env, **emulator_env})
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(emulator.read(f"{workdir}/results.json"))
  with open(os.path.join(tiny_pretrained, "results.json")) as f:
    expected = json.load(f)
  assert results["dataset"] == expected["dataset"] == "synthetic_ecg/tiny"
  assert results["test_examples"] == expected["test_examples"]
  assert results["labels"] == expected["labels"]
