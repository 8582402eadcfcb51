"""The real ECGs shipped in the package (ecgjax.samples): the archives' own files,
unchanged, counted, licensed, small, and what the README's first example scores."""

import csv
import filecmp
import os
import re
import subprocess
import sys

import pytest

from ecgjax import samples
from tests.helpers import REPO

# Per set: the files it must hold, counted by extension, and its licence file.
EXPECTED = {"ptbxl": ({".hea": 40, ".dat": 40, ".csv": 2}, "LICENSE.txt"),
            "cpsc2018": ({".hea": 20, ".mat": 20}, "LICENSE"),
            "cinc2017": ({".hea": 100, ".mat": 100, ".csv": 1}, "LICENSE")}


def files_under(directory: str) -> list[str]:
  return sorted(os.path.relpath(os.path.join(root, f), directory)
                for root, _, names in os.walk(directory) for f in names)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_set_holds_its_records_and_its_licence(name):
  counts, licence = EXPECTED[name]
  found = files_under(samples.path(name))
  by_extension = {ext: sum(f.endswith(ext) for f in found) for ext in counts}
  assert by_extension == counts
  assert licence in found
  assert len(found) == sum(counts.values()) + 1       # nothing else


def test_the_samples_are_the_archives_files_unchanged(shared_data):
  """Every record and table is byte for byte the file of ../shared/data it came from
  (the licence files say which excerpt they cover, so they differ)."""
  for name, (_, licence) in EXPECTED.items():
    folder = samples.SETS[name][0]
    for relative in files_under(samples.path(name)):
      if relative == licence or relative == "REFERENCE.csv":
        continue
      assert filecmp.cmp(os.path.join(samples.path(name), relative),
                         os.path.join(shared_data, folder, relative), shallow=False), relative
  # CinC 2017's REFERENCE.csv: the rows of its 100 records, as the archive gives them.
  with open(os.path.join(shared_data, "cinc2017", "REFERENCE.csv")) as f:
    archive = [line for line in f if line.strip()][:100]
  with open(os.path.join(samples.path("cinc2017"), "REFERENCE.csv")) as f:
    assert f.readlines() == archive
  # PTB-XL's table: a row for each of the 40 records, and nothing else.
  with open(os.path.join(samples.path("ptbxl"), "ptbxl_database.csv")) as f:
    assert [int(float(r["ecg_id"])) for r in csv.DictReader(f)] == list(range(1, 41))


def test_they_fit_the_package_budget():
  size = sum(os.path.getsize(os.path.join(samples.root(), f))
             for f in files_under(samples.root()))
  assert size < 10.5e6, f"{size / 1e6:.1f} MB"


def test_the_command_prints_a_sets_folder_and_refuses_an_unknown_one():
  run = [sys.executable, "-m", "ecgjax.samples"]
  ok = subprocess.run(run + ["cpsc2018"], capture_output=True, text=True, cwd="/")
  assert ok.returncode == 0 and ok.stdout.strip() == samples.path("cpsc2018")
  assert os.path.isdir(ok.stdout.strip())
  bad = subprocess.run(run + ["ptb"], capture_output=True, text=True, cwd="/")
  assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "ptbxl" in bad.stderr


def readme_block(marker: str) -> str:
  with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
    text = f.read()
  block = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)\n```", text, re.S)
  assert block, f"README.md has no block after <!-- {marker} -->"
  return block.group(1)


@pytest.mark.slow      # runs predict end to end
def test_the_readmes_first_example_scores_the_packaged_samples(tmp_path):
  """Run from an empty directory, as a user with nothing beside the install would: all
  40 PTB-XL samples are scored, and the first, a normal ECG in sinus rhythm (its
  scp_codes: NORM, SR), is called sinus rhythm."""
  command = readme_block("first-example").replace("/tmp/predictions.csv",
                                                  str(tmp_path / "predictions.csv"))
  assert "ecgjax.samples" in command and "shared" not in command
  result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600,
                          env={**os.environ, "PATH": os.path.dirname(sys.executable)
                               + os.pathsep + os.environ["PATH"]})
  assert result.returncode == 0, result.stderr[-2000:]
  with open(tmp_path / "predictions.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 40 and {r["status"] for r in rows} == {"ok"}
  first = next(r for r in rows if r["record"] == "00001_lr")
  assert "sinus_rhythm" in first["positive"].split(";")
