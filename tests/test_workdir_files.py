"""Workdir files written through etils.epath, so a workdir may be a bucket: object
stores cannot append, so there metrics.jsonl is rewritten whole; both ways must
leave the same file, also across a resume."""

import json
import os

from ecgjax.training import checkpoints
from ecgjax.training.metric_writer import MetricWriter


def write_run(workdir: str, append: bool) -> list[dict]:
  writer = MetricWriter(workdir, append=append)
  for step in (10, 20, 30):
    writer.write(step, {"loss": 1.0 / step, "auroc": {"af": 0.9}})
  writer.close()
  # Resumed from step 20: the line of step 30 is dropped, then written again.
  writer = MetricWriter(workdir, resume_step=20, append=append)
  writer.write(30, {"loss": 0.5, "nan": float("nan")})
  writer.write(40, {"loss": 0.25})
  writer.close()
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_rewriting_metrics_gives_the_appended_file(tmp_path):
  appended = write_run(str(tmp_path / "append"), append=True)
  rewritten = write_run(str(tmp_path / "rewrite"), append=False)
  assert rewritten == appended
  assert [r["step"] for r in appended] == [10, 20, 30, 40]
  assert appended[2] == {"step": 30, "loss": 0.5, "nan": None}
  assert not [f for f in os.listdir(tmp_path / "rewrite") if f.endswith(".tmp")]


def test_checkpoint_dir_is_absolute_locally_and_left_alone_in_a_bucket(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert checkpoints.checkpoint_dir("run") == str(tmp_path / "run" / "checkpoints")
  assert checkpoints.checkpoint_dir("gs://bucket/run") == "gs://bucket/run/checkpoints"


def test_a_bucket_file_is_held_in_memory_and_uploaded_whole_at_sync(tmp_path):
  """storage.Appender as on a bucket (hold_in_memory): nothing reaches the file between
  uploads, everything at sync, and a write after `upload_every_s` uploads by itself."""
  from ecgjax import storage
  path = str(tmp_path / "metrics.jsonl")
  held = storage.Appender(path, b"kept\n", upload_every_s=3600, hold_in_memory=True)
  held.sync()                                  # the resumed file's kept lines, as given
  held.write(b"one\n")
  held.write(b"two\n")
  assert open(path, "rb").read() == b"kept\n"  # no upload per line
  held.sync()
  assert open(path, "rb").read() == b"kept\none\ntwo\n" and held.uploads == 1
  held.sync()
  assert held.uploads == 1                     # nothing new: no upload
  held.upload_every_s = 0
  held.write(b"three\n")                       # past the interval: uploaded at once
  assert open(path, "rb").read().endswith(b"three\n")
  held.close()
  assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_failpoints_parse_names_with_colons_counts_and_actions():
  import signal
  from ecgjax import failpoints
  assert failpoints.parse("writing:results.json#2:term,step,final_checkpoint_committed:kill") == {
      "writing:results.json": (2, signal.SIGTERM), "step": (1, signal.SIGKILL),
      "final_checkpoint_committed": (1, signal.SIGKILL)}


def test_local_only_paths_are_refused_up_front_in_one_line(tmp_path):
  import subprocess
  import sys
  from tests.helpers import REPO
  for argv in (["ecgjax.predict", "--model=synthetic_foundation", "--out=gs://b/p.csv",
                str(tmp_path)],
               ["ecgjax.predict", "--model=synthetic_foundation", f"--out={tmp_path}/p.csv",
                "gs://b/ecgs"],
               ["ecgjax.export", "--model=synthetic_foundation", "--out=gs://b/export"]):
    result = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "gs://b/" in lines[0] and "local" in lines[0], lines
