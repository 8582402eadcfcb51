"""Labels that exclude each other, with the clinical reason, and how a contradictory set
of calls is resolved.

An exclusion lists alternatives, at most one of which an ECG can have; an alternative
is a label with the labels that refine it (sinus bradycardia is a sinus rhythm). A model
that scores labels independently can call two alternatives at once (AF and sinus
rhythm, first- and third-degree AV block). The rule that resolves it: the alternative
holding the most probable called label is kept, and the called labels of every other
alternative are dropped. The exclusions are applied in the order below, each to what
the ones before left; predict writes what it dropped, and a model card lists the
exclusions among its labels.
"""

import dataclasses

SINUS = ("sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia", "sinus_arrhythmia")


@dataclasses.dataclass(frozen=True)
class Exclusion:
  name: str
  alternatives: tuple[tuple[str, ...], ...]
  reason: str

  def describe(self) -> dict:
    return {"name": self.name, "alternatives": [list(a) for a in self.alternatives],
            "reason": self.reason, "rule": RULE}


# The atrial rhythm with its rate band, one per ECG: the classes a head can train as one
# exclusive group (models.head: a softmax), where every training ECG names exactly one,
# as each synthetic ECG does (the generator draws one atrial rhythm, and a sinus rhythm's
# rate band). The classes then compete while training, instead of being learned apart
# and resolved after (EXCLUSIONS below). Left out: sinus arrhythmia (a variation of
# sinus rhythm, beside it), third-degree AV block and pacing (about the ventricles; an
# ECG with them and no class of the group does not count in the group's loss).
RHYTHM_GROUP = ("sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia",
                "atrial_fibrillation", "atrial_flutter", "junctional_rhythm")

RULE = "the alternative with the most probable called label is kept; the others' are dropped"

EXCLUSIONS = (
    Exclusion("atrial rhythm",
              (SINUS, ("atrial_fibrillation",), ("atrial_flutter",), ("junctional_rhythm",)),
              "one rhythm drives the atria at a time: sinus, fibrillation, flutter or a "
              "junctional rhythm"),
    Exclusion("sinus rate", (("sinus_bradycardia",), ("sinus_tachycardia",)),
              "a sinus rate is below 60/min or above 100/min, not both"),
    Exclusion("PR interval without P waves",
              (("atrial_fibrillation", "atrial_flutter"),
               ("first_degree_av_block", "second_degree_av_block")),
              "first- and second-degree AV block are read from PR intervals, which "
              "fibrillation and flutter have none of"),
    Exclusion("AV block degree",
              (("first_degree_av_block",), ("second_degree_av_block",),
               ("third_degree_av_block",)),
              "AV conduction has one degree: a higher degree describes the ECG whole"),
    # Not the fascicles: a right bundle branch block with a left anterior fascicular
    # block is bifascicular block, a common finding.
    Exclusion("bundle branch",
              (("left_bundle_branch_block",),
               ("right_bundle_branch_block", "incomplete_right_bundle_branch_block")),
              "complete block of both bundle branches would block all AV conduction"),
    Exclusion("left bundle branch and its fascicles",
              (("left_bundle_branch_block",), ("left_anterior_fascicular_block",),
               ("left_posterior_fascicular_block",)),
              "a left bundle branch block blocks both fascicles, and both fascicles blocked "
              "is a left bundle branch block"),
    Exclusion("right bundle branch, complete or not",
              (("right_bundle_branch_block",), ("incomplete_right_bundle_branch_block",)),
              "a right bundle branch block is complete (QRS 120 ms or more) or incomplete, "
              "not both"),
    Exclusion("axis", (("left_axis_deviation",), ("right_axis_deviation",)),
              "the frontal QRS axis points one way"),
)


def for_labels(labels) -> list[Exclusion]:
  """The exclusions with at least two alternatives among `labels`, each cut to them."""
  present = set(labels)
  out = []
  for exclusion in EXCLUSIONS:
    alternatives = tuple(tuple(n for n in a if n in present) for a in exclusion.alternatives)
    alternatives = tuple(a for a in alternatives if a)
    if len(alternatives) >= 2:
      out.append(dataclasses.replace(exclusion, alternatives=alternatives))
  return out


def resolve(called: dict[str, float], exclusions) -> tuple[list[str], dict[str, str]]:
  """`called`: {label: probability} of the labels at or above their thresholds. Returns
  the labels kept (in `called`'s order) and {dropped label: why}."""
  kept = dict(called)
  dropped = {}
  for exclusion in exclusions:
    held = [(max(kept[n] for n in a if n in kept), a) for a in exclusion.alternatives
            if any(n in kept for n in a)]
    if len(held) < 2:
      continue
    _, winner = max(held, key=lambda h: h[0])
    best = max((n for n in winner if n in kept), key=lambda n: kept[n])
    for _, alternative in held:
      if alternative is winner:
        continue
      for name in alternative:
        if name in kept:
          del kept[name]
          dropped[name] = f"{exclusion.name}: {best} is more probable"
  return [n for n in called if n in kept], dropped


def violated(labels, exclusions=EXCLUSIONS) -> list[str]:
  """The exclusions a set of labels breaks (two alternatives of one both present)."""
  present = set(labels)
  return [e.name for e in exclusions
          if sum(any(n in present for n in a) for a in e.alternatives) > 1]
