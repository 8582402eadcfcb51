"""The documentation: the site builds with --strict (a broken link or a page missing
from the nav fails), and every relative link in the README leads to a file."""

import os
import re
import subprocess
import sys


from tests.helpers import REPO, require_extra

require_extra("mkdocs", "docs")


def test_the_site_builds_strict(tmp_path):
  result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / "site" / "using-a-model" / "index.html").exists()


def test_readme_links_lead_to_files_and_every_page_is_in_the_nav():
  readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
  links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
  local = [link for link in links if "://" not in link]
  assert local, "the README links its documentation"
  for link in local:
    assert os.path.exists(os.path.join(REPO, link)), link
  nav = open(os.path.join(REPO, "mkdocs.yml"), encoding="utf-8").read()
  for page in os.listdir(os.path.join(REPO, "docs")):
    if page.endswith(".md"):
      assert f": {page}" in nav, f"docs/{page} is not in mkdocs.yml's nav"


def test_nothing_points_outside_the_repository():
  """A relative path to a document, in the docs or the code, stays inside the
  repository and leads to a file: a user has no sibling checkout's notes."""
  relative = re.compile(r"(?:\.\./)+[\w./-]+\.md\b")
  for folder in ("docs", "ecgjax", "benchmarks", "tfds_builders", "launch", "tests"):
    for root, _, files in os.walk(os.path.join(REPO, folder)):
      for name in files:
        if name.endswith((".md", ".py", ".sh", ".yml")):
          path = os.path.join(root, name)
          for link in relative.findall(open(path, encoding="utf-8", errors="replace").read()):
            target = os.path.normpath(os.path.join(root, link))
            assert target.startswith(REPO + os.sep) and os.path.exists(target), (path, link)
