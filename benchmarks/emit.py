"""How every benchmark reports: one JSON object per measurement on stdout, and
appended to `out` (a file under benchmarks/results/) when one is given."""

import json


def emit(result: dict, out: str | None) -> None:
  line = json.dumps(result)
  print(line, flush=True)
  if out:
    with open(out, "a") as f:
      f.write(line + "\n")
