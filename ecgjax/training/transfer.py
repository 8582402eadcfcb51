"""Moving a pretrained backbone into a model with a new head (carrying over the head's
columns for labels the checkpoint already predicts), after checking that the
fine-tuning data is what the checkpoint was trained to read.

Every parameter path of the new model is accounted for: loaded from the
checkpoint, re-initialised (the head, or anything the rule says to leave
fresh), or refused. A backbone path whose shape differs, or that the checkpoint
lacks, stops the run before training with the paths and shapes listed.
"""

import dataclasses
import re

import jax
import numpy as np
from absl import logging


@dataclasses.dataclass
class TransferReport:
  loaded: list[str]
  reinitialised: list[str]
  unused: list[str]            # in the checkpoint, not in the new model (e.g. the old head)

  def summary(self) -> str:
    return (f"loaded {len(self.loaded)} arrays, re-initialised {len(self.reinitialised)} "
            f"({', '.join(self.reinitialised) or 'none'}), left unused "
            f"{len(self.unused)} ({', '.join(self.unused) or 'none'})")


class ArchitectureMismatchError(ValueError):
  pass


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
  """{'backbone': {'stem': {'kernel': x}}} -> {'backbone/stem/kernel': x}."""
  out = {}
  for key, value in tree.items():
    path = f"{prefix}{key}"
    if isinstance(value, dict):
      out.update(flatten(value, path + "/"))
    else:
      out[path] = value
  return out


def unflatten(flat: dict[str, object], like: dict) -> dict:
  """Inverse of `flatten`, keyed like `like` (keeps integer keys of nnx.List)."""
  def build(node, prefix):
    return {k: build(v, f"{prefix}{k}/") if isinstance(v, dict) else flat[f"{prefix}{k}"]
            for k, v in node.items()}
  return build(like, "")


def transfer(new: dict, pretrained: dict, *, reinit: str = r"^head/",
             source: str = "checkpoint") -> tuple[dict, list[str], list[str], list[str]]:
  """Fills `new` (a params or batch_stats tree) from `pretrained` where paths match
  and do not match the `reinit` regex. Returns (tree, loaded, reinitialised, unused)."""
  new_flat, old_flat = flatten(new), flatten(pretrained)
  keep_fresh = re.compile(reinit)
  loaded, fresh, problems = [], [], []
  out = {}
  for path, value in new_flat.items():
    if keep_fresh.search(path):
      fresh.append(path)
      out[path] = value
    elif path not in old_flat:
      problems.append(f"{path}: in the model {tuple(np.shape(value))}, not in the {source}")
    elif np.shape(old_flat[path]) != np.shape(value):
      problems.append(f"{path}: model {tuple(np.shape(value))}, "
                      f"{source} {tuple(np.shape(old_flat[path]))}")
    else:
      loaded.append(path)
      # `value` may be abstract (a jax.ShapeDtypeStruct: models.construction.abstract).
      out[path] = jax.numpy.asarray(old_flat[path], dtype=value.dtype)
  if problems:
    raise ArchitectureMismatchError(
        f"the {source} does not fit the model ({len(problems)} paths):\n  "
        + "\n  ".join(problems))
  unused = sorted(set(old_flat) - set(new_flat) | {p for p in old_flat if keep_fresh.search(p)})
  return unflatten(out, new), loaded, fresh, unused


def load_backbone(params: dict, batch_stats: dict, pretrained_params: dict,
                  pretrained_stats: dict, *, source: str, reinit: str = r"^head/"
                  ) -> tuple[dict, dict, TransferReport]:
  """Backbone parameters and BatchNorm statistics from the checkpoint; a fresh head
  (and whatever else `reinit` matches)."""
  params, loaded_p, fresh_p, unused_p = transfer(params, pretrained_params, reinit=reinit,
                                                 source=source)
  stats, loaded_s, fresh_s, unused_s = transfer(batch_stats, pretrained_stats, reinit=reinit,
                                                source=source)
  report = TransferReport(loaded=loaded_p + [f"batch_stats/{p}" for p in loaded_s],
                          reinitialised=fresh_p + [f"batch_stats/{p}" for p in fresh_s],
                          unused=unused_p + [f"batch_stats/{p}" for p in unused_s])
  return params, stats, report


def carry_head(head: dict, pretrained_head: dict, labels, checkpoint_labels
               ) -> tuple[dict, list[str]]:
  """`head` ({'kernel': (features, labels), 'bias': (labels,)}) with the column of each
  label the checkpoint's head already predicts (matched by name, its model card's
  order) copied from `pretrained_head`; the other columns stay as initialised.
  Returns (head, the labels carried, in head order).

  Fine-tuning on a label the pretrained model knows then starts from its zero-shot
  classifier instead of a random one, which a small real training set may not
  rebuild (docs/sim-to-real.md, "Fine-tuning on real samples")."""
  where = {name: i for i, name in enumerate(checkpoint_labels)}
  carried = [(j, where[name]) for j, name in enumerate(labels) if name in where]
  if not carried:
    return head, []
  old_kernel = np.asarray(pretrained_head["kernel"])
  kernel = np.array(head["kernel"])
  if old_kernel.shape[0] != kernel.shape[0] or old_kernel.shape[1] != len(checkpoint_labels):
    raise ArchitectureMismatchError(
        f"head/kernel: model {kernel.shape}, checkpoint {old_kernel.shape} for "
        f"{len(checkpoint_labels)} labels in its model card")
  bias = np.array(head["bias"])
  new_columns, old_columns = (list(c) for c in zip(*carried))
  kernel[:, new_columns] = old_kernel[:, old_columns]
  bias[new_columns] = np.asarray(pretrained_head["bias"])[old_columns]
  out = {"kernel": jax.numpy.asarray(kernel, dtype=np.asarray(head["kernel"]).dtype),
         "bias": jax.numpy.asarray(bias, dtype=np.asarray(head["bias"]).dtype)}
  return out, [labels[j] for j in new_columns]


class InputContractError(ValueError):
  """The fine-tuning data is not what the pretrained model was trained to read."""


def check_input_contract(pretrained, data_input: dict, init_from: str) -> list[str] | None:
  """Refuses a pretrained backbone whose card expects other signals than the
  fine-tuning dataset holds: filters learnt at 100 Hz mean nothing at 500 Hz.

  Returns the checkpoint's leads when the dataset reads a proper subset of them
  (the stem is then adapted, `lead_transfer`), else None. Leads the checkpoint
  never read are refused: there are no filters to start them from.
  """
  if pretrained.card is None:
    logging.warning("init_from=%s has no model card (written before cards existed): its "
                    "input contract cannot be checked against the dataset", init_from)
    return None
  expected = pretrained.card["input"]
  differ = [f"{key}: checkpoint {expected[key]!r}, dataset {data_input[key]!r}"
            for key in ("sampling_rate", "samples", "units")
            if expected[key] != data_input[key]]
  if differ:
    raise InputContractError(
        f"init_from={init_from}: the pretrained model's input differs from the dataset's "
        f"({'; '.join(differ)}). Build the dataset with the checkpoint's recipe "
        f"({expected['recipe']}) or pretrain on this one.")
  if expected["leads"] == data_input["leads"]:
    return None
  unseen = [n for n in data_input["leads"] if n not in expected["leads"]]
  if unseen:
    raise InputContractError(
        f"init_from={init_from}: the pretrained model read leads {expected['leads']}, the "
        f"dataset gives {data_input['leads']}: no pretrained filters for {unseen}. Choose "
        f"leads among the checkpoint's (config.dataset.leads) or pretrain with them.")
  return list(expected["leads"])


def adapt_stem(pretrained_params: dict, checkpoint_leads, leads, how: str
               ) -> tuple[dict, str, str]:
  """The checkpoint's parameters with a stem for `leads` (a subset of its
  `checkpoint_leads`), the regex of paths to leave freshly initialised, and a
  line for transfer.json.

  `select` keeps the stem's input channels of the chosen leads: the network is
  then exactly the pretrained one fed zeros on the other leads. `reinit` leaves
  the whole stem fresh (its kernel is the only array shaped by the lead count).
  """
  if how == "reinit":
    return pretrained_params, r"^head/|^backbone/stem/", (
        f"backbone/stem re-initialised for leads {list(leads)} (checkpoint read "
        f"{list(checkpoint_leads)})")
  columns = [list(checkpoint_leads).index(n) for n in leads]
  backbone = dict(pretrained_params["backbone"])
  stem = dict(backbone["stem"])
  stem["kernel"] = np.asarray(stem["kernel"])[:, columns, :]
  backbone["stem"] = stem
  return {**pretrained_params, "backbone": backbone}, r"^head/", (
      f"backbone/stem/kernel: input channels of {list(leads)} selected from the "
      f"checkpoint's {list(checkpoint_leads)}")
