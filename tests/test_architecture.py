"""The layers hold: `lint-imports` keeps every contract in pyproject.toml (no import
circle, no arrow up, no TensorFlow where a serving or accelerator host has none), and
it would notice if one broke."""

import os
import shutil
import subprocess
import sys

from tests.helpers import REPO


def lint_imports(cwd: str, env=None) -> subprocess.CompletedProcess:
  command = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or "lint-imports"
  return subprocess.run([command], cwd=cwd, capture_output=True, text=True, timeout=120,
                        env=env)


def test_every_import_contract_is_kept():
  result = lint_imports(REPO)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert "0 broken" in result.stdout


def test_an_arrow_up_breaks_a_contract(tmp_path):
  """A copy of the package where the model card imports the training loop."""
  shutil.copytree(os.path.join(REPO, "ecgjax"), tmp_path / "ecgjax",
                  ignore=shutil.ignore_patterns("__pycache__"))
  shutil.copy(os.path.join(REPO, "pyproject.toml"), tmp_path / "pyproject.toml")
  card = tmp_path / "ecgjax" / "models" / "model_card.py"
  card.write_text(card.read_text() + "\nfrom ecgjax.training import loop  # noqa\n")
  result = lint_imports(str(tmp_path), env={**os.environ, "PYTHONPATH": str(tmp_path)})
  assert result.returncode != 0
  assert "ecgjax.models.model_card -> ecgjax.training.loop" in result.stdout
