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
