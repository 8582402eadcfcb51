"""launch/: the dry runs print the exact commands, and the real runs issue them
(to stand-ins for gcloud and sbatch that record what they were given)."""

import os
import shlex
import subprocess

import pytest

from tests.helpers import REPO

TPU = os.path.join(REPO, "launch", "tpu_vm.sh")
SLURM = os.path.join(REPO, "launch", "slurm_gpu.sh")
# Flags a shell would mangle if they were passed on unquoted.
FLAGS = ["--config=ecgjax/configs/pretrain.py:synthetic_large", "--workdir=gs://bucket/run 1",
         "--config.model.stage_widths=(16, 16)", "--config.labels=it's;$HOME"]


def run(*args, env=None):
  return subprocess.run(list(args), capture_output=True, text=True, cwd=REPO, timeout=60,
                        env={**os.environ, **(env or {})})


def remote_command(line: str) -> list[str]:
  """The words run on the workers by a printed `gcloud ... ssh ... --command CMD`."""
  words = shlex.split(line)
  assert words[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh"], line
  return shlex.split(words[words.index("--command") + 1])


def test_tpu_run_dry_run_starts_the_command_on_every_worker():
  out = run(TPU, "run", "my-tpu", "us-central2-b", "--dry_run", "--", *FLAGS)
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert len(lines) == 1
  words = shlex.split(lines[0])
  assert "my-tpu" in words and "--zone=us-central2-b" in words and "--worker=all" in words
  remote = remote_command(lines[0])
  assert remote[:6] == ["cd", "~/ecgjax", "&&", ".", ".venv/bin/activate", "&&"]
  assert remote[6:] == ["python", "-m", "ecgjax.main", *FLAGS]     # every flag intact


def test_tpu_setup_dry_run_copies_head_and_installs_on_every_worker():
  out = run(TPU, "setup", "my-tpu", "us-central2-b", "--dry_run")
  assert out.returncode == 0, out.stderr
  archive, scp, ssh = (shlex.split(line) for line in out.stdout.strip().splitlines())
  assert archive[:3] == ["git", "-C", REPO] and archive[3] == "archive" and archive[-1] == "HEAD"
  tarball = archive[archive.index("-o") + 1]
  assert scp[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "scp"]
  assert tarball in scp and "my-tpu:ecgjax.tar.gz" in scp and "--worker=all" in scp
  remote = " ".join(remote_command(shlex.join(ssh)))
  assert "tar -xzf ~/ecgjax.tar.gz -C ~/ecgjax" in remote
  assert 'pip install -q -e .[train,tpu]' in remote and "python3 -m venv .venv" in remote


def test_tpu_setup_dry_run_can_clone_a_ref():
  out = run(TPU, "setup", "my-tpu", "europe-west4-a", "--dry_run",
            "--clone=https://github.com/example/ecgjax.git@v0.3")
  assert out.returncode == 0, out.stderr
  lines = out.stdout.strip().splitlines()
  assert len(lines) == 1
  remote = " ".join(remote_command(lines[0]))
  assert "git clone -q https://github.com/example/ecgjax.git ~/ecgjax" in remote
  assert "git -C ~/ecgjax checkout -q v0.3" in remote


@pytest.mark.parametrize("args, message", [
    (("deploy", "t", "z"), "unknown action deploy"),
    (("run", "t", "z", "--dry_run"), "give the flags of python -m ecgjax.main after --"),
    (("run", "t"), "tpu_vm.sh run   TPU_NAME ZONE"),
    (("run", "t", "z", "--dryrun", "--", "--workdir=x"), "unknown option --dryrun"),
])
def test_tpu_refuses_bad_arguments(args, message):
  out = run(TPU, *args)
  assert out.returncode == 2 and message in out.stderr


def fake_tool(tmp_path, name: str) -> dict:
  """A stand-in for `name` on PATH that appends its arguments (and stdin) to a log."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir(exist_ok=True)
  log = tmp_path / f"{name}.log"
  tool = bin_dir / name
  tool.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" >> {log}\n'
                  f'[ -t 0 ] || cat >> {log}\necho "---" >> {log}\n')
  tool.chmod(0o755)
  return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_tpu_run_issues_what_the_dry_run_prints(tmp_path):
  env = fake_tool(tmp_path, "gcloud")
  printed = run(TPU, "run", "my-tpu", "us-central2-b", "--dry_run", "--", *FLAGS).stdout
  out = run(TPU, "run", "my-tpu", "us-central2-b", "--", *FLAGS, env=env)
  assert out.returncode == 0, out.stderr
  called = (tmp_path / "gcloud.log").read_text().split("---\n")[0].splitlines()
  assert ["gcloud", *called] == shlex.split(printed.strip())


def test_slurm_dry_run_prints_the_job():
  out = run(SLURM, "--nodes=2", "--gpus_per_node=8", "--dry_run", "--time=04:00:00", "--",
            *FLAGS)
  assert out.returncode == 0, out.stderr
  sbatch, *script = out.stdout.strip().splitlines()
  words = shlex.split(sbatch)
  assert words[0] == "sbatch"
  for expected in ("--nodes=2", "--gpus-per-node=8", "--ntasks-per-node=1", "--time=04:00:00"):
    assert expected in words
  assert script[0] == "#!/usr/bin/env bash"
  assert shlex.split(script[2]) == ["cd", REPO]
  srun = shlex.split(script[-1])
  assert srun[:3] == ["srun", "--nodes=2", "--ntasks-per-node=1"]
  assert srun[3:] == ["python", "-m", "ecgjax.main", *FLAGS]


def test_slurm_submits_the_job_script(tmp_path):
  env = fake_tool(tmp_path, "sbatch")
  out = run(SLURM, "--nodes=3", "--gpus_per_node=4", "--partition=gpu", "--", *FLAGS, env=env)
  assert out.returncode == 0, out.stderr
  log = (tmp_path / "sbatch.log").read_text()
  assert "--nodes=3\n" in log and "--gpus-per-node=4\n" in log and "--partition=gpu\n" in log
  srun_line = next(line for line in log.splitlines() if line.startswith("srun "))
  assert shlex.split(srun_line)[3:] == ["python", "-m", "ecgjax.main", *FLAGS]


@pytest.mark.parametrize("args, message", [
    (("--nodes=0", "--gpus_per_node=8", "--", "--workdir=x"), "--nodes must be a positive"),
    (("--nodes=2", "--", "--workdir=x"), "--gpus_per_node must be a positive"),
    (("--nodes=2", "--gpus_per_node=8"), "give the flags of python -m ecgjax.main"),
])
def test_slurm_refuses_bad_arguments(args, message):
  out = run(SLURM, *args)
  assert out.returncode == 2 and message in out.stderr
