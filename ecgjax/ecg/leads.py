"""Standard 12-lead order and the linear relations between leads.

Every record in ecgjax keeps its signal as (samples, leads) in `STANDARD_LEADS`
order. The limb leads are not independent: Einthoven's law (III = II - I) and
Goldberger's definitions of the augmented leads make four of the six limb leads
linear combinations of I and II.
"""

import dataclasses

import numpy as np

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF",
                  "V1", "V2", "V3", "V4", "V5", "V6")

# The nine recording electrodes, in the order `ELECTRODE_TO_LEADS` expects.
ELECTRODES = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")


def _electrode_to_leads() -> np.ndarray:
  """(12, 9) matrix turning electrode potentials into the 12 standard leads."""
  ra, la, ll = np.eye(9)[:3]
  wilson_central_terminal = (ra + la + ll) / 3
  rows = [
      la - ra,              # I
      ll - ra,              # II
      ll - la,              # III
      ra - (la + ll) / 2,   # aVR
      la - (ra + ll) / 2,   # aVL
      ll - (ra + la) / 2,   # aVF
  ]
  rows += [np.eye(9)[i] - wilson_central_terminal for i in range(3, 9)]
  return np.stack(rows)


ELECTRODE_TO_LEADS = _electrode_to_leads()


def leads_from_electrodes(potentials: np.ndarray) -> np.ndarray:
  """(samples, 9) electrode potentials -> (samples, 12) leads, standard order."""
  return potentials @ ELECTRODE_TO_LEADS.T


def limb_lead_residuals(signal: np.ndarray) -> dict[str, np.ndarray]:
  """How far a (samples, 12) signal is from Einthoven's and Goldberger's relations.

  Each entry is zero for a physically consistent recording (up to rounding).
  """
  i, ii, iii, avr, avl, avf = (signal[:, k] for k in range(6))
  return {
      "einthoven": iii - (ii - i),
      "aVR": avr + (i + ii) / 2,
      "aVL": avl - (i - ii / 2),
      "aVF": avf - (ii - i / 2),
  }


# Spellings sources use for the standard leads, upper-cased -> standard name.
_ALIASES = {name.upper(): name for name in STANDARD_LEADS}
_ALIASES.update({"MDC_ECG_LEAD_" + name.upper(): name for name in STANDARD_LEADS})
_ALIASES.update({"LEAD_" + name.upper(): name for name in STANDARD_LEADS})
_ALIASES.update({"D1": "I", "D2": "II", "D3": "III", "DI": "I", "DII": "II", "DIII": "III"})


def canonical_lead_name(name: str) -> str | None:
  """'AVR', 'aVR', 'MDC_ECG_LEAD_AVR' -> 'aVR'; None for a non-standard lead."""
  return _ALIASES.get(str(name).strip().upper())


def derive_limb_leads(lead_i: np.ndarray, lead_ii: np.ndarray) -> dict[str, np.ndarray]:
  """III, aVR, aVL, aVF from I and II (Einthoven, Goldberger)."""
  return {"III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2,
          "aVL": lead_i - lead_ii / 2, "aVF": lead_ii - lead_i / 2}


class MissingLeadsError(ValueError):
  pass


@dataclasses.dataclass(frozen=True)
class LeadNaming:
  """What a file's lead names mean where they are not standard names.

  `renames`: (file's name, standard lead) pairs a user gives (`ECG=I`, `MLII=II`),
  the file's name matched ignoring case. `single_lead`: the lead that a file with one
  signal under a non-standard name is taken as (a one-lead model's lead: CinC 2017 and
  many patches and Holters call their one lead `ECG`). Names that are already lead
  names in any spelling (`i`, `avr`, `MDC_ECG_LEAD_V1`) need neither.
  """
  renames: tuple[tuple[str, str], ...] = ()
  single_lead: str | None = None

  def renaming(self, names) -> dict[str, str]:
    """{file's name: standard lead} for the names of one file that are renamed."""
    given = {source.strip().upper(): target for source, target in self.renames}
    out = {n: given[n.strip().upper()] for n in names if n.strip().upper() in given}
    names = list(names)
    if (not out and self.single_lead and len(names) == 1
        and canonical_lead_name(names[0]) is None):
      out = {names[0]: self.single_lead}
    return out


def parse_renames(items) -> tuple[tuple[str, str], ...]:
  """['ECG=I', 'mlii=II'] (or one comma-separated string) -> (('ECG', 'I'), ('mlii',
  'II')); an item that is not NAME=LEAD with a standard LEAD is refused."""
  if isinstance(items, str):
    items = [i for i in items.split(",") if i.strip()]
  out = []
  for item in items:
    source, sep, target = item.partition("=")
    lead = canonical_lead_name(target)
    if not sep or not source.strip() or lead is None:
      raise UnknownLeadError(f"{item!r} is not FILE_NAME=LEAD with LEAD one of "
                             f"{', '.join(STANDARD_LEADS)} (e.g. ECG=I, MLII=II)")
    out.append((source.strip(), lead))
  return tuple(out)


def to_standard_order(signal: np.ndarray, names, fill_missing: bool = False
                      ) -> tuple[np.ndarray, tuple[str, ...]]:
  """(samples, k) in the source's `names` -> ((samples, 12) in STANDARD_LEADS order,
  the leads filled with zeros).

  Limb leads a source leaves out (MUSE stores I, II and V1-V6 only) are derived
  from I and II. Any other missing lead raises MissingLeadsError naming it, or,
  with `fill_missing` (a model asked to score a partial recording), is zeros.
  """
  canonical = [canonical_lead_name(n) for n in names]
  have = {c: signal[:, i] for i, c in enumerate(canonical) if c is not None}
  missing_limb = [n for n in ("III", "aVR", "aVL", "aVF") if n not in have]
  if missing_limb and "I" in have and "II" in have:
    derived = derive_limb_leads(have["I"], have["II"])
    have.update({n: derived[n] for n in missing_limb})
  missing = tuple(n for n in STANDARD_LEADS if n not in have)
  if missing and not fill_missing:
    raise MissingLeadsError(f"missing leads {list(missing)} (has {list(names)})")
  zeros = np.zeros(signal.shape[0], signal.dtype)
  return np.stack([have.get(n, zeros) for n in STANDARD_LEADS], axis=1), missing


LIMB_LEADS = STANDARD_LEADS[:6]


class UnknownLeadError(ValueError):
  pass


def parse_lead_spec(spec: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
  """`dataset.leads` -> canonical lead names in the order given; None for `all`.
  A spec already parsed (a tuple, or None) is returned as it is.

  `all` (every lead the dataset records), `limb` (I, II, III, aVR, aVL, aVF), or
  comma-separated names in any common spelling ('I', 'avr', 'V1'). A name that is
  not a standard lead, or one given twice, is refused with the valid names listed.
  """
  if spec is None or isinstance(spec, tuple):
    return spec
  text = str(spec).strip()
  if text.lower() == "all":
    return None
  if text.lower() == "limb":
    return LIMB_LEADS
  names = [n.strip() for n in text.split(",") if n.strip()]
  canonical = [canonical_lead_name(n) for n in names]
  unknown = [n for n, c in zip(names, canonical) if c is None]
  if unknown or not names:
    raise UnknownLeadError(
        f"dataset.leads={spec!r}: {unknown or 'no lead'} not a lead name; valid: 'all', "
        f"'limb' or comma-separated names from {', '.join(STANDARD_LEADS)}")
  if len(set(canonical)) != len(canonical):
    raise UnknownLeadError(f"dataset.leads={spec!r} names a lead twice")
  return tuple(canonical)


def select_leads(spec: str | tuple[str, ...] | None, recorded,
                 dataset: str = "the dataset") -> tuple[str, ...]:
  """The leads `spec` chooses among those a dataset `recorded`, in standard order.

  `all` is every recorded lead (a one-lead archive stores the other eleven as
  zeros: they are not data). Asking for a lead the dataset does not record is
  refused, naming the ones it does.
  """
  recorded = tuple(recorded)
  chosen = parse_lead_spec(spec)
  if chosen is None:
    return recorded
  absent = [n for n in chosen if n not in recorded]
  if absent:
    spelled = spec if isinstance(spec, str) else ",".join(chosen)
    raise UnknownLeadError(f"dataset.leads={spelled!r}: {dataset} does not record {absent}; "
                           f"it records {', '.join(recorded)}")
  return tuple(n for n in STANDARD_LEADS if n in chosen)
