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
from tests.helpers import REPO, xla_flags

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

  # The same model as a run on local disk never stopped (tiny_pretrained: the same
  # config), bit for bit, read back from the bucket through Orbax.
  from ecgjax.training import checkpoints
  import jax
  local, remote = checkpoints.read_pretrained(tiny_pretrained), None
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
    assert p["test_scores"].shape == (results["test_examples"], 39)

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
