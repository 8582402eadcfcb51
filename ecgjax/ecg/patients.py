"""Patient keys: a salted hash of the source's patient identifier.

Splits by patient and per-patient bootstrap need a stable key; the raw
identifier (an MRN in a hospital export) must never be stored. HMAC-SHA256 with
a secret salt: without the salt nobody can test a guessed MRN against the key.
"""

import hashlib
import hmac
import os

SALT_VARIABLE = "ECGJAX_PATIENT_SALT"


class MissingSaltError(RuntimeError):
  pass


def salt_from_environment(dataset: str, public_default: str | None = None) -> str:
  """The salt from ECGJAX_PATIENT_SALT; clinical archives (no public default) need it."""
  salt = os.environ.get(SALT_VARIABLE, "")
  if salt:
    return salt
  if public_default is not None:
    return public_default
  raise MissingSaltError(
      f"{dataset}: set {SALT_VARIABLE} to a secret string before building; patient "
      "identifiers are stored only as a hash salted with it (keep the salt to rebuild "
      "with the same keys, and out of the dataset).")


def patient_key(patient_id: str, salt: str) -> str:
  return hmac.new(salt.encode(), str(patient_id).strip().encode(), hashlib.sha256).hexdigest()[:32]
