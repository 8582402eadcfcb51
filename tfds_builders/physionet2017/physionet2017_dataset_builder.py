"""physionet2017: the PhysioNet/CinC Challenge 2017 training set (one lead, 300 Hz).

  tfds build tfds_builders/physionet2017 --manual_dir=RAW --data_dir=DIR --config=challenge_100

RAW holds the records (`A00001.hea` and `.mat`, any layout below it) and
`REFERENCE.csv` (no header row; `A00001,N`). The one AliveCor lead is stored
as lead I, the other eleven as zeros; the metadata's `recorded_leads` is ["I"],
so a model reads it with `dataset.leads=I` (or `all`, which means the recorded
leads). Configs are LABELS_RATE[_first|_whole]:
  LABELS  `challenge`: normal, af, other, noisy (the Challenge's four classes);
          `vocabulary`: A -> atrial_fibrillation, N -> sinus_rhythm; noisy
          records are left out (their rhythm is unknown); `O` records are not
          atrial fibrillation and their sinus_rhythm is unknown, stored as 0 in
          the `labels_known` feature (ecgjax.ecg.archives.physionet2017).
  RATE    100 or 300 Hz (resampled polyphase from 300), 10 s windows.
  _first  one example per record, its first 10 s (a 9 s record is padded);
          without it every whole non-overlapping 10 s window is an example,
          `record_id` suffixed `_w0`, `_w1`, ..., and evaluation aggregates a
          record's windows (`dataset.eval_aggregate`).
  _whole  one example per record, the whole recording: its first 61 s (the
          longest training recording is 60.9 s), a shorter one repeated until
          the 61 s are full (the recipe's `pad="repeat"`), so a model's global
          average pool reads the whole recording (configs/cinc2017.py).
The Challenge publishes no patient ids: a record is its own patient, and the
80/10/10 splits are by a hash of the record name.
"""

import tensorflow_datasets as tfds
from absl import logging

from ecgjax.ecg import preprocess
from ecgjax.ecg.archives import physionet2017 as cinc2017
from tfds_builders import ecg_archive


WHOLE_RECORDING_S = 61.0


def _configs():
  out = []
  for label_set in cinc2017.LABEL_SETS:
    for rate in (100, 300):
      for windows, suffix, duration, pad, what in (
          ("all", "", 10.0, "zeros", "every 10 s window"),
          ("first", "_first", 10.0, "zeros", "the first 10 s"),
          ("first", "_whole", WHOLE_RECORDING_S, "repeat", "the whole recording, repeated "
           f"to {WHOLE_RECORDING_S:g} s")):
        out.append(ecg_archive.EcgArchiveConfig(
            name=f"{label_set}_{rate}{suffix}", label_set=label_set, windows=windows,
            recipe=preprocess.Recipe(sampling_rate=rate, duration=duration, pad=pad),
            description=f"{label_set} labels, {rate} Hz, {what} of each record"))
  return out


class Builder(ecg_archive.EcgArchiveBuilder):
  """CinC 2017 records joined to REFERENCE.csv."""

  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {"1.0.0": "First release.",
                   "1.1.0": "labels_known: an `O` record's sinus_rhythm is unknown, no "
                            "longer a negative.",
                   "1.2.0": "_whole configs (one example per whole recording); the recipe "
                            "records how it pads (`pad`)."}
  RECORD_UNKNOWNS = True
  BUILDER_CONFIGS = _configs()
  DEFAULT_CONFIG_NAME = "challenge_100"
  PUBLIC_SALT = "physionet2017"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download the Challenge 2017 training set (training2017.zip, v3 labels in
  REFERENCE-v3.csv) from https://physionet.org/content/challenge-2017/1.0.0/
  (ODC-By 1.0), unzip it, and pass the directory holding the records and
  REFERENCE.csv (rename REFERENCE-v3.csv to it) as --manual_dir.
  """

  def label_names(self):
    return cinc2017.label_names(self.builder_config.label_set)

  def label_groups(self):
    return super().label_groups() if self.builder_config.label_set == "vocabulary" else {}

  def annotated_labels(self):
    if self.builder_config.label_set == "vocabulary":
      return list(cinc2017.VOCABULARY_ANNOTATED)
    return self.label_names()

  def recorded_leads(self):
    return list(cinc2017.RECORDED_LEADS)

  def _items(self, manual_dir):
    reference_file = manual_dir / "REFERENCE.csv"
    if not reference_file.exists():
      raise FileNotFoundError(f"{reference_file} not found.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    reference = cinc2017.read_reference(str(reference_file), reference_file.read_text())
    headers = {path.rsplit("/", 1)[-1][:-4]: path
               for path in ecg_archive.find_files(manual_dir, ".hea")}
    unlisted = sorted(set(headers) - set(reference))
    absent = sorted(set(reference) - set(headers))
    if unlisted or absent:
      logging.warning("physionet2017: %d records without a REFERENCE.csv row (%s) and %d rows "
                      "without a record (%s) are left out", len(unlisted),
                      ", ".join(unlisted[:5]), len(absent), ", ".join(absent[:5]))
    items = [(headers[name], code) for name, code in sorted(reference.items())
             if name in headers]
    if self.builder_config.label_set == "vocabulary":
      noisy = sum(code == "~" for _, code in items)
      items = [item for item in items if item[1] != "~"]
      logging.info("physionet2017: %d noisy (~) records left out of the vocabulary labels",
                   noisy)
    if not items:
      raise FileNotFoundError(f"no records of REFERENCE.csv under {manual_dir}.\n"
                              f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    self._manual_dir = str(manual_dir)
    return self._split_by_patient(items, lambda item: item[0].rsplit("/", 1)[-1],
                                  salt="physionet2017")

  def _reader(self):
    return cinc2017.Physionet2017Reader(self._manual_dir, self.builder_config.label_set)
