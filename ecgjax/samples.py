"""Real ECGs shipped inside the package, so that the README's examples and the demo's
zero-shot section run on real ECGs with nothing beside the install.

  python -m ecgjax.samples             prints the folder that holds every set
  python -m ecgjax.samples ptbxl       prints one set's folder (ptbxl, cpsc2018, cinc2017)

`ecgjax/sample_ecgs/README.md` says what each set is, and its licence and attribution.
The folders keep their archives' layout, so a TFDS builder reads one as it reads the
whole archive (`--manual_dir`), and the demo's `--config.real_data` and predict's paths
take your own archive instead.
"""

import importlib.resources
import os
import sys

# name: (folder under the root, what it is)
SETS = {
    "ptbxl": ("ptbxl", "PTB-XL ecg_id 1-40, 12 leads at 100 Hz, with their statements"),
    "cpsc2018": ("cinc2020", "CPSC 2018 A0001-A0020 (PhysioNet/CinC 2020), 12 leads at 500 Hz"),
    "cinc2017": ("cinc2017", "PhysioNet/CinC 2017 A00001-A00100, one lead (AliveCor) at 300 Hz"),
}


def root() -> str:
  """The folder that holds every set (a real directory in any pip install)."""
  return os.fspath(importlib.resources.files("ecgjax").joinpath("sample_ecgs"))


def path(name: str | None = None) -> str:
  """One set's folder, or the root when `name` is None."""
  if name is None:
    return root()
  if name not in SETS:
    raise ValueError(f"no sample set {name!r}; the sets: {', '.join(SETS)}")
  return os.path.join(root(), SETS[name][0])


def main(argv: list[str]) -> int:
  if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
    print(__doc__.strip() + "\n\nSets:\n" + "\n".join(
        f"  {name:9} {what}" for name, (_, what) in SETS.items()))
    return 0 if argv and argv[0] in ("-h", "--help") else 2
  try:
    print(path(argv[0] if argv else None))
  except ValueError as e:
    print(f"ecgjax.samples: {e}", file=sys.stderr)
    return 2
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
