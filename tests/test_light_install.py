"""`pip install ecgjax`, no extras: predict, export and the samples run; the training
commands and the ONNX export say in one line which extra they need.

The light install is rebuilt from this environment: a folder of links to the files of
exactly the distributions that pyproject.toml's base `dependencies` bring (followed
through their own requirements), put on the path of `python -S`, which reads no
site-packages. A module of an extra imported on the light path fails here as it would
for a user. CI also installs the built wheel into a fresh environment (.ci/run).
"""

import csv
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from tests.helpers import REPO

# Modules that only extras bring: none may be importable in the light install.
EXTRAS_ONLY = ("tensorflow", "tensorflow_datasets", "sklearn", "ml_collections", "tensorboard",
               "apache_beam", "torch", "jax2onnx", "onnxruntime", "pytest", "wfdb", "pandas",
               "matplotlib")


def _key(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


def base_distributions() -> dict[str, metadata.Distribution]:
  """The base dependencies and everything they require, with the extras they name."""
  with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
    todo = list(tomllib.load(f)["project"]["dependencies"])
  found: dict[str, tuple[metadata.Distribution, set]] = {}
  while todo:
    requirement = Requirement(todo.pop())
    key = _key(requirement.name)
    extras = set(requirement.extras) | (found[key][1] if key in found else set())
    if key in found and extras <= found[key][1]:
      continue
    distribution = metadata.distribution(requirement.name)
    found[key] = (distribution, extras)
    for text in distribution.requires or []:
      needed = Requirement(text)
      if needed.marker is None or any(needed.marker.evaluate({"extra": e})
                                      for e in extras | {""}):
        todo.append(text)
  return {key: d for key, (d, _) in found.items()}


@pytest.fixture(scope="module")
def light_path(tmp_path_factory) -> str:
  site = tmp_path_factory.mktemp("light_site")
  distributions = list(base_distributions().values()) + [metadata.distribution("ecgjax")]
  for distribution in distributions:
    for top in {f.parts[0] for f in distribution.files or () if f.parts[0] != ".."}:
      source = distribution.locate_file(top)
      link = site / top
      if os.path.exists(source) and not os.path.lexists(link) and not top.endswith(".pth"):
        os.symlink(source, link)
  # The package itself from the checkout (an editable install has no files to link).
  return f"{site}{os.pathsep}{REPO}"


def light(light_path: str, *args: str, cwd) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True,
                        cwd=cwd, timeout=600, env={**env, "PYTHONPATH": light_path})


def test_the_light_install_holds_no_module_of_an_extra(light_path, tmp_path):
  probe = ("import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] "
           "if importlib.util.find_spec(m) is not None))")
  result = light(light_path, "-c", probe, *EXTRAS_ONLY, "jax", "flax", "orbax", cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["jax", "flax", "orbax"]
  assert len(base_distributions()) < 80        # 69 when measured; the count was 118


def test_training_says_which_extra_in_one_line(light_path, tmp_path):
  result = light(light_path, "-m", "ecgjax.main", "--config=ecgjax/configs/demo.py",
                 f"--workdir={tmp_path / 'wd'}", cwd=REPO)
  assert result.returncode == 2
  assert result.stderr.strip() == (
      "ecgjax: this needs the `train` extra (tensorflow, tensorflow_datasets, sklearn, "
      "ml_collections, tensorboard not installed): pip install 'ecgjax[train]' (in a "
      "checkout: pip install -e '.[train]')")
  assert not (tmp_path / "wd").exists()
  release = light(light_path, "-m", "ecgjax.release", "--model=synthetic_foundation",
                  "--name=x", "--recipe=y", f"--out={tmp_path / 'out'}", cwd=REPO)
  assert release.returncode == 2
  assert release.stderr.strip().startswith("ecgjax.release: this needs the `train` extra")
  assert release.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
  explain = light(light_path, "-m", "ecgjax.predict", "--model=synthetic_foundation",
                  f"--out={tmp_path / 'p.csv'}", f"--explain={tmp_path / 'png'}",
                  os.path.join(REPO, "ecgjax", "sample_ecgs", "ptbxl"), cwd=tmp_path)
  assert explain.returncode == 2 and explain.stderr.count("\n") == 1
  assert "--explain: this needs the `explain` extra (matplotlib not installed)" in explain.stderr
  assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow       # predict and export end to end, in their own processes
def test_predict_and_export_run_on_the_light_install(light_path, tmp_path):
  out = tmp_path / "predictions.csv"
  samples = light(light_path, "-m", "ecgjax.samples", "cpsc2018", cwd=tmp_path)
  assert samples.returncode == 0, samples.stderr
  result = light(light_path, "-m", "ecgjax.predict", "--model=synthetic_foundation",
                 f"--out={out}", samples.stdout.strip(), cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(out) as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 20 and {r["status"] for r in rows} == {"ok"}
  # The ONNX form is the `export` extra's: refused in one line, nothing written.
  refused = light(light_path, "-m", "ecgjax.export", "--model=synthetic_foundation",
                  f"--out={tmp_path / 'onnx'}", cwd=tmp_path)
  assert refused.returncode == 2 and not (tmp_path / "onnx").exists()
  assert refused.stderr.strip().endswith(
      "pip install -e '.[export]'); or --noonnx for the JAX export alone")
  exported = light(light_path, "-m", "ecgjax.export", "--model=synthetic_foundation",
                   f"--out={tmp_path / 'jax'}", "--noonnx", cwd=tmp_path)
  assert exported.returncode == 0, exported.stderr[-3000:]
  assert (tmp_path / "jax" / "model.jax_export").stat().st_size > 0


def test_a_record_the_built_in_reader_cannot_read_names_the_wfdb_extra(tmp_path, monkeypatch):
  """Format 80 (8-bit offset binary) is not the built-in reader's: without the wfdb
  library (its import made to fail for real, as in the light install) the record's
  error names the extra, and the record is refused, not misread."""
  from ecgjax.ecg.formats import errors, wfdb_format
  (tmp_path / "r.hea").write_text("r 1 100 10\nr.dat 80 200 8 0 0 0 0 I\n")
  (tmp_path / "r.dat").write_bytes(bytes(range(128, 138)))
  monkeypatch.setitem(sys.modules, "wfdb", None)       # `import wfdb` raises ImportError
  with pytest.raises(errors.RecordFormatError,
                     match=r"\(format 80\) needs the wfdb library: pip install 'ecgjax\[wfdb\]'"):
    wfdb_format.read_wfdb(str(tmp_path / "r"))
  monkeypatch.delitem(sys.modules, "wfdb")             # with it, the record reads
  record = wfdb_format.read_wfdb(str(tmp_path / "r"), fill_missing_leads=True)
  assert record.signal.shape == (10, 12) and record.filled_leads
