"""Every package the code imports is declared in pyproject.toml: the base dependencies
or an extra. Read from the source (every import statement, also those inside
functions), so an import added without its declaration fails here, not on a user's
machine. test_light_install.py checks the other half: what the base install runs."""

import ast
import os
import re
import sys
import tomllib
from importlib import metadata

from packaging.requirements import Requirement

from tests.helpers import REPO

SOURCES = ("ecgjax", "tfds_builders", "benchmarks", "launch", "tests")
# Modules of this repository itself (benchmarks and tests import their siblings by name).
OWN = {"ecgjax", "tfds_builders", "tests", "benchmarks"} | {
    name[:-3] for folder in ("benchmarks", "tests")
    for name in os.listdir(os.path.join(REPO, folder)) if name.endswith(".py")}


def imported_modules() -> dict[str, set[str]]:
  """Top-level module -> the files that import it."""
  found: dict[str, set[str]] = {}
  for source in SOURCES:
    for root, _, files in os.walk(os.path.join(REPO, source)):
      for name in files:
        if not name.endswith(".py"):
          continue
        path = os.path.join(root, name)
        with open(path, encoding="utf-8") as f:
          tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
          if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
          elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
          else:
            continue
          for module in modules:
            found.setdefault(module.split(".")[0], set()).add(os.path.relpath(path, REPO))
  return found


def declared() -> set[str]:
  with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
  texts = list(project["dependencies"])
  for extra in project["optional-dependencies"].values():
    texts += extra
  return {_key(Requirement(t).name) for t in texts}


def _key(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared():
  distributions = metadata.packages_distributions()
  names = declared()
  undeclared = {}
  for module, files in sorted(imported_modules().items()):
    if module in sys.stdlib_module_names or module in OWN:
      continue
    providers = {_key(d) for d in distributions.get(module, ())}
    if not providers & names:
      undeclared[module] = (sorted(providers) or ["not installed"], sorted(files)[:3])
  assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(
      f"{m} (from {', '.join(p)}; in {', '.join(f)})" for m, (p, f) in undeclared.items())


def test_the_scan_sees_lazy_imports():
  """The check reads imports inside functions too: the wfdb reader's general path
  imports wfdb lazily, and etils is imported by the storage layer."""
  modules = imported_modules()
  assert "ecgjax/ecg/formats/wfdb_format.py" in modules["wfdb"]
  assert "ecgjax/storage.py" in modules["etils"]
  assert "etils" in declared() and "wfdb" in declared()
