"""The shipped config files and their variants, as `--help` lists them.

Imports the config modules only (ml_collections, no TensorFlow or JAX), so the
entries answer `--help` at once.
"""

import importlib
import os
import textwrap

CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))
NOT_CONFIGS = ("__init__.py", "common.py", "catalogue.py")


def config_names() -> list[str]:
  """The shipped --config files' module names, sorted."""
  return sorted(name[:-3] for name in os.listdir(CONFIG_DIR)
                if name.endswith(".py") and name not in NOT_CONFIGS)


def summary(doc: str) -> str:
  """A docstring's first paragraph as one line: a whole sentence, never cut."""
  return " ".join((doc or "").strip().split("\n\n")[0].split())


def describe(width: int = 88) -> str:
  """Every config file with its summary and, where it takes `:ARG`, each variant."""
  lines = ["Config files (--config=PATH, or PATH:ARG for a variant):"]
  for name in config_names():
    module = importlib.import_module(f"ecgjax.configs.{name}")
    lines += textwrap.wrap(summary(module.__doc__), width, break_on_hyphens=False,
                           initial_indent=f"  ecgjax/configs/{name}.py  ",
                           subsequent_indent="      ")
    for variant, what in getattr(module, "VARIANTS", {}).items():
      lines += textwrap.wrap(what, width, break_on_hyphens=False,
                             initial_indent=f"      :{variant:<21} ", subsequent_indent=" " * 29)
  return "\n".join(lines)
