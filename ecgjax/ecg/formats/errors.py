"""The one error every reader raises for a file it cannot use."""


class RecordFormatError(ValueError):
  """A malformed or unsupported ECG file: `path` and `reason` say which and why.

  Builders catch it, count the file under `reason` in the build report and go on.
  """

  def __init__(self, path: str, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path = str(path)
    self.reason = reason
