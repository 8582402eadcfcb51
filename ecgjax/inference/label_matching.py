"""Matching a dataset's labels to a model head's, by name or SNOMED CT code.

Never by position: a list in another order, or another archive's vocabulary,
scores each label against the head output that means the same diagnosis, and
says which labels on either side found no partner.
"""

import dataclasses

from ecgjax.ecg import labels as vocabulary


@dataclasses.dataclass
class Matching:
  dataset_labels: list[str]        # matched, in the order scored
  head_indices: list[int]          # the head output of each
  by: list[str]                    # "name" or "snomed"
  unmatched_dataset: list[str]
  unmatched_model: list[str]

  def describe(self, head_names) -> dict:
    return {"matched": [{"dataset_label": d, "model_label": head_names[i], "by": b}
                        for d, i, b in zip(self.dataset_labels, self.head_indices, self.by)],
            "unmatched_dataset_labels": self.unmatched_dataset,
            "unmatched_model_labels": self.unmatched_model}


def _snomed(name: str, known: dict) -> str | None:
  if known.get(name):
    return known[name]
  return next((label.snomed for label in vocabulary.vocabulary() if label.name == name), None)


def match(head_names, head_snomed: dict, dataset_names, dataset_snomed: dict | None = None
          ) -> Matching:
  """Each dataset label to the head output of the same name, else of the same code."""
  head_index = {n: i for i, n in enumerate(head_names)}
  by_code = {}
  for i, n in enumerate(head_names):
    code = _snomed(n, head_snomed or {})
    if code:
      by_code.setdefault(code, i)
  matched, indices, how, unmatched = [], [], [], []
  for name in dataset_names:
    code = _snomed(name, dataset_snomed or {})
    if name in head_index:
      index, kind = head_index[name], "name"
    elif code in by_code:
      index, kind = by_code[code], "snomed"
    else:
      unmatched.append(name)
      continue
    matched.append(name)
    indices.append(index)
    how.append(kind)
  used = set(indices)
  return Matching(matched, indices, how, unmatched,
                  [n for i, n in enumerate(head_names) if i not in used])
