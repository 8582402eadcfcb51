"""`ecgjax.predict` end to end, files/s and ECG/s per format, reading included.

  python benchmarks/predict_throughput.py --model DIR [--shared ../shared/data] [--files 200]
      [--repeats 3] [--explain] [--out FILE]

DIR is a trained model with a card (the demo's `pretrain/` workdir). Each format's
sample files from ../shared/data are copied (cycled) to `--files` files in a
scratch directory, and one Predictor (model loaded, scoring compiled once, as
the command does before its first file) scores the whole directory into a CSV:
discovery, reading, the card's resampling, windowing, jitted scoring on every
local device and the CSV are all in the time. CODE-15% is a fixture part in its
real layout; `.npy` is PTB-XL's 500 Hz signal saved as the documented array.
Median of `--repeats` timed runs after one warm-up run. No TensorFlow import.
"""

import argparse
import datetime
import glob
import os
import shutil
import statistics
import sys
import tempfile
import time

import jax
import numpy as np

from emit import emit
from ecgjax.ecg.formats import wfdb_format
from ecgjax.inference import score_files, scoring


def _copies(sources: list[list[str]], directory: str, files: int) -> None:
  """`files` copies of the sample records (each record: its files), cycled."""
  os.makedirs(directory)
  for k in range(files):
    record = sources[k % len(sources)]
    stem = f"r{k:05d}"
    for path in record:
      ext = os.path.splitext(path)[1]
      if ext == ".hea":     # the header names its signal file: rename it too
        old = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
          text = f.read()
        with open(os.path.join(directory, stem + ext), "w") as f:
          f.write(text.replace(old, stem, 1).replace(f"{old}.", f"{stem}."))
      else:
        shutil.copy(path, os.path.join(directory, stem + ext))


def _code15_part(directory: str, tracings: int) -> None:
  import h5py
  os.makedirs(directory)
  rng = np.random.default_rng(0)
  with h5py.File(os.path.join(directory, "exams_part0.hdf5"), "w") as f:
    f["exam_id"] = np.arange(1, tracings + 1)
    f["tracings"] = np.pad(rng.normal(0, 0.3, (tracings, 4000, 12)).astype(np.float32),
                           ((0, 0), (48, 48), (0, 0)))


def formats(shared: str, scratch: str, files: int) -> dict:
  """format name -> (directory, files in it, predict options)."""
  def records(pattern, extensions):
    heads = sorted(glob.glob(os.path.join(shared, pattern)))
    return [[os.path.splitext(h)[0] + e for e in extensions] for h in heads]

  out = {}
  for name, pattern, exts in (
      ("wfdb_ptbxl_500hz", "ptbxl/records500/*/*.hea", (".hea", ".dat")),
      ("wfdb_ptbxl_100hz", "ptbxl/records100/*/*.hea", (".hea", ".dat")),
      ("physionet_cinc2020_mat", "cinc2020/*.hea", (".hea", ".mat")),
      ("muse_xml", "muse_xml/*.xml", (".xml",)),
      ("hl7_aecg", "hl7_aecg/*.xml", (".xml",))):
    directory = os.path.join(scratch, name)
    _copies(records(pattern, exts), directory, files)
    out[name] = (directory, files, score_files.Options())
  directory = os.path.join(scratch, "code15_hdf5")
  _code15_part(directory, files)
  out["code15_hdf5"] = (directory, 1, score_files.Options())
  directory = os.path.join(scratch, "npy_500hz")
  os.makedirs(directory)
  signal = wfdb_format.read_wfdb(os.path.join(shared, "ptbxl/records500/00000/00001_hr")).signal
  for k in range(files):
    np.save(os.path.join(directory, f"r{k:05d}.npy"), signal)
  out["npy_500hz"] = (directory, files, score_files.Options(
      sampling_rate=500.0, leads=wfdb_format.leads_lib.STANDARD_LEADS))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
  parser.add_argument("--files", type=int, default=200)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--explain", action="store_true", help="also draw every explanation")
  parser.add_argument("--formats", nargs="*")
  parser.add_argument("--out")
  args = parser.parse_args()
  model = scoring.load(args.model)
  with tempfile.TemporaryDirectory() as scratch:
    for name, (directory, files, options) in formats(args.shared, scratch, args.files).items():
      if args.formats and name not in args.formats:
        continue
      if args.explain:
        options = score_files.Options(**{**options.__dict__,
                                       "explain_dir": os.path.join(scratch, "png", name)})
      options = score_files.Options(**{**options.__dict__, "batch_size": args.batch_size})
      run = score_files.Predictor(model, options)
      out_csv = os.path.join(scratch, f"{name}.csv")
      summary = run.run([directory], out_csv)          # warm-up: compilation, page cache
      times = []
      for _ in range(args.repeats):
        start = time.perf_counter()
        run.run([directory], out_csv)
        times.append(time.perf_counter() - start)
      elapsed = statistics.median(times)
      devices = jax.local_device_count()
      emit({"benchmark": "predict", "framework": "jax", "format": name,
            "model": f"{model.card['model']['parameters']} params, "
                     f"{model.card['input']['sampling_rate']:g} Hz",
            "batch_size": options.batch_size, "dtype": model.card["model"]["config"]["dtype"],
            "devices": devices, "device_kind": jax.devices()[0].device_kind,
            "explain": args.explain, "files": files, "ecgs": summary.scored,
            "failed": summary.failed, "files_per_sec": files / elapsed,
            "ecg_per_sec": summary.scored / elapsed,
            "ecg_per_sec_per_device": summary.scored / elapsed / devices, "mfu": None,
            "runs_s": times,
            "command": "python benchmarks/predict_throughput.py --model DIR "
                       f"--files {args.files} --repeats {args.repeats}"
                       + (" --explain" if args.explain else ""),
            "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  sys.exit(main())
