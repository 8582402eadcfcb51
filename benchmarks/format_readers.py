"""Parse-and-preprocess throughput per file format, one core, ECG/s.

  python benchmarks/format_readers.py --shared ../shared/data [--repeats 5] [--out FILE]

Each measurement reads every sample file of a format (cycling to `--ecgs`
reads from the page cache, so disk speed is out of it) and turns it into the
int16 array a builder stores (500 Hz or 100 Hz, 10 s). The `wfdb` package's own
reader is measured beside ecgjax's WFDB path in the same run: it is the peer the
fast path replaced. CODE-15% is read from a fixture written in its real layout.
Median of `repeats` timed runs.
"""

import argparse
import datetime
import glob
import os
import statistics
import tempfile
import time

import numpy as np

from emit import emit
from ecgjax.ecg import leads, preprocess, record as record_lib
from ecgjax.ecg.formats import code15, hl7_aecg, muse_xml, physionet, wfdb_format


def wfdb_package_read(path):
  import wfdb
  r = wfdb.rdrecord(path)
  return record_lib.EcgRecord(
      signal=leads.to_standard_order(r.p_signal.astype(np.float32) * 1000, r.sig_name)[0],
      sampling_rate=r.fs, lead_names=leads.STANDARD_LEADS, record_id=os.path.basename(path))


def code15_fixture(directory: str, n: int = 50) -> tuple:
  import h5py
  rng = np.random.default_rng(0)
  path = os.path.join(directory, "exams_part0.hdf5")
  with h5py.File(path, "w") as f:
    f["exam_id"] = np.arange(1, n + 1)
    f["tracings"] = np.pad(rng.normal(0, 0.3, (n, 4000, 12)).astype(np.float32),
                           ((0, 0), (48, 48), (0, 0)))
  part = code15.Code15Part(path)
  exam = {"age": "50", "is_male": "True", "patient_id": "1"}
  return [(part, i, exam) for i in range(n)]


def formats(shared: str, scratch: str) -> dict:
  ptbxl = sorted(p[:-4] for p in glob.glob(os.path.join(shared, "ptbxl/records500/*/*.hea")))
  cinc = sorted(p[:-4] for p in glob.glob(os.path.join(shared, "cinc2020/*.hea")))
  muse = sorted(glob.glob(os.path.join(shared, "muse_xml/*.xml")))
  aecg = sorted(glob.glob(os.path.join(shared, "hl7_aecg/*.xml")))
  return {
      "wfdb_ptbxl_500hz": (ptbxl, wfdb_format.read_wfdb),
      "wfdb_ptbxl_500hz_wfdb_package": (ptbxl, wfdb_package_read),
      "physionet_cinc2020_mat": (cinc, physionet.read_physionet),
      "muse_xml": (muse, muse_xml.read_muse_xml),
      "hl7_aecg": (aecg, hl7_aecg.read_hl7_aecg),
      "code15_hdf5": (code15_fixture(scratch), lambda item: item[0].record(item[1], item[2])),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "shared", "data"))
  parser.add_argument("--ecgs", type=int, default=400)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--rates", type=int, nargs="+", default=[500, 100])
  parser.add_argument("--out")
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as scratch:
    for name, (items, read) in formats(args.shared, scratch).items():
      for fs in args.rates:
        recipe = preprocess.Recipe(sampling_rate=fs, duration=10.0)
        runs = []
        for _ in range(args.repeats):
          start = time.perf_counter()
          for i in range(args.ecgs):
            preprocess.to_int16(read(items[i % len(items)]), recipe)
          runs.append(args.ecgs / (time.perf_counter() - start))
        emit({"benchmark": "format_readers", "framework": "ecgjax" if "package" not in name
              else "wfdb", "format": name, "files": len(items), "target_sampling_rate": fs,
              "cores": 1, "ecg_per_sec": statistics.median(runs), "runs": runs,
              "command": f"python benchmarks/format_readers.py --ecgs {args.ecgs} "
                         f"--repeats {args.repeats} --rates {fs}",
              "date": datetime.date.today().isoformat()}, args.out)


if __name__ == "__main__":
  main()
