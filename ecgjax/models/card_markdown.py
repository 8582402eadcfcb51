"""model_card.md: the card (models/model_card.py) as a page a reader takes in at once,
one section per part of it: input, outputs with each label's threshold and test
metrics, training, and a shipped model's release record (ecgjax/release.py)."""

import json


def _fmt(value, digits=3) -> str:
  return "-" if value is None else f"{value:.{digits}f}"


def _with_ci(entry) -> str:
  if not entry:
    return "-"
  return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def _outputs_sentence(card: dict, points: dict) -> str:
  if card["threshold_rule"] is None:
    return ("**Not evaluated yet.** This card was written before the run's first "
            "evaluation: no label has a threshold (predict leaves `positive` empty) and "
            "the probabilities are not calibrated. Use a checkpoint saved at or after an "
            "evaluation (every `eval_every` steps, and at the end of a run).")
  return (f"Probabilities calibrated per label ({card['calibration']['formula']}); a label "
          f"is positive at or above its threshold, chosen by `{card['threshold_rule']}` on "
          f"{points.get('split', 'an unrecorded split')}"
          + (f" at step {points['step']} ({points.get('examples', '?')} ECGs)."
             if points else "."))


def markdown(card: dict) -> str:
  """A short, readable account of the card: one section per part of it."""
  outputs = (_embedding_section(card) if card.get("embedding") else
             [*_outputs_section(card), *_label_scope_lines(card)])
  lines = [*_heading(card), *_input_section(card), *outputs, *_training_section(card)]
  if card.get("release"):
    lines += _release_lines(card["release"])
  return "\n".join(lines)


def _heading(card: dict) -> list[str]:
  training, model = card["training"], card["model"]
  datasets = ", ".join(f"{d['name']} {d.get('version', '')}".strip() for d in training["datasets"])
  return [f"# Model card: ResNet1D, {training['task']} on {datasets}", "",
          f"ecgjax {card['ecgjax_version']}, written {card['created']}. "
          f"{len(card['labels'])} labels, {model['parameters']:,} parameters, "
          f"{training['steps']} training steps.", ""]


def _input_section(card: dict) -> list[str]:
  inp = card["input"]
  return ["## Input", "",
          f"{inp['samples']} samples at {inp['sampling_rate']:g} Hz ({inp['duration_s']:g} s) "
          f"of {len(inp['leads'])} leads in the order {', '.join(inp['leads'])}, "
          f"{inp['dtype']} {inp['units']}s, laid out {inp['layout']}; the model divides by "
          f"1000 (mV). Preprocessing recipe: {json.dumps(inp['recipe'])}.", ""]


def _outputs_section(card: dict) -> list[str]:
  """The outputs sentence, the exclusive groups, and a row per label with its threshold
  and test metrics."""
  points = card.get("operating_points") or {}
  metric_labels = (card.get("metrics") or {}).get("labels", {})
  lines = ["## Outputs", "", _outputs_sentence(card, points), "",
           *[f"Exclusive classes, one softmax whose probabilities sum to 1 (an ECG is the "
             f"most probable of them, its `class`, and only that one can be positive): "
             f"{', '.join(group)}.\n"
             for group in card.get("exclusive_groups") or []],
           *[f"Threshold of {name}: {why}.\n"
             for name, why in (card.get("thresholds_fallback") or {}).items()],
           *_exclusion_lines(card),
           "| # | label | SNOMED CT | threshold | AUROC [95% CI] | sensitivity | specificity |",
           "|---|---|---|---|---|---|---|"]
  for k, name in enumerate(card["labels"]):
    m = metric_labels.get(name, {})
    lines.append(f"| {k} | {name} | {card['snomed'][name] or '-'} | "
                 f"{_fmt(card['thresholds'][name])} | {_with_ci(m.get('auroc'))} | "
                 f"{_with_ci(m.get('sensitivity'))} | {_with_ci(m.get('specificity'))} |")
  metrics = card.get("metrics") or {}
  if metrics:
    lines += ["", f"Metrics on the {metrics.get('split')} split ({metrics.get('examples')} ECGs"
              + (f", step {metrics['step']}" if "step" in metrics else "") + ")."]
  return lines


def _embedding_section(card: dict) -> list[str]:
  """A self-supervised encoder's outputs: what its features are, and its last scores."""
  entry, metrics = card["embedding"], card.get("metrics") or {}
  objective = entry["objective"]
  lines = ["## Outputs", "",
           f"An encoder, not a classifier: it has no labels and no thresholds. Its "
           f"embedding of an ECG is the backbone's {entry['features']} pooled features "
           f"(`python -m ecgjax.predict --embeddings`); fine-tuning (`init_from`) puts a "
           f"new head on them. Trained by `{objective['name']}` on pairs of "
           f"{entry['view_samples']}-sample views of each ECG, its labels never read.", ""]
  if metrics:
    lines.append(f"On the {metrics['split']} split at step {metrics['step']}: embedding rank "
                 f"{_fmt(metrics.get('embedding_rank'), 1)} of {metrics.get('embedding_width')}, "
                 f"spread {_fmt(metrics.get('embedding_std'))}"
                 + (f", k-NN probe mean AUROC {_fmt(metrics['knn_auroc_mean'])}"
                    if metrics.get("knn_auroc_mean") is not None else "") + ".")
  return lines


def _training_section(card: dict) -> list[str]:
  training = card["training"]
  lines = ["", "## Training", "", f"Command: `{training['command']}`", ""]
  for d in training["datasets"]:
    lines.append(f"- {d['name']} {d.get('version', '')}: splits "
                 + ", ".join(f"{k} {v}" for k, v in d.get("splits", {}).items())
                 + (f"; trained on {d['train_examples']} ECGs" if "train_examples" in d else ""))
  return lines + ["", f"Model: {json.dumps(card['model'].get('config', {}))}", ""]


def _ci_text(ci) -> str:
  return f" [95% CI {ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def _release_lines(release: dict) -> list[str]:
  """A shipped model's record (ecgjax/release.py): how it was made, and how it
  reads real ECGs it never trained on."""
  cost = release.get("training_cost") or {}
  lines = ["## Release", "",
           f"Generator: {release['generator']}. Recipe: `{release['recipe']}`, "
           f"{release['steps']} steps"
           + (f", {cost['wall_s'] / 60:.1f} min of training at a median "
              f"{cost['median_ecg_per_sec']:.0f} ECG/s on {cost['cpus']} CPUs"
              if cost.get("wall_s") and cost.get("median_ecg_per_sec") else "")
           + f". Thresholds {release['thresholds']}.", ""]
  if release.get("note"):
    lines += [release["note"], ""]
  if release.get("real_calibration"):
    lines += _real_calibration_lines(release["real_calibration"])
  s2r = release["sim_to_real"]
  lines += ["### Zero-shot on real ECGs it never trained on", "",
            f"Real sets: {s2r['real_data']}. Median AUROC over the labels with at least "
            f"{s2r['min_positives']} positives: "
            + ("n/a" if s2r["median_auroc"] is None else
               f"**{s2r['median_auroc']:.3f}**" + _ci_text(s2r.get("median_auroc_ci"))
               + f" over {s2r['labels_counted']}")
            + "".join(f"; {name} {s['median_auroc']:.3f}" + _ci_text(s.get("median_auroc_ci"))
                      + f" over {s['labels_counted']}"
                      for name, s in s2r["sets"].items() if s["median_auroc"] is not None)
            + ". These sets are small: read the CIs.", "",
            "| set | label | positives / ECGs | AUROC [95% CI] |", "|---|---|---|---|"]
  for name, s in s2r["sets"].items():
    for label, v in s["labels"].items():
      if v["n_pos"] and v["auroc"] is not None:
        lines.append(f"| {name} | {label} | {v['n_pos']} / {v['n_pos'] + v['n_neg']} | "
                     f"{v['auroc']:.3f} [{v['auroc_ci'][0]:.2f}, {v['auroc_ci'][1]:.2f}] |")
  lines.append("")
  flagged = [("synthetic validation", release.get("synthetic_normals_flagged") or {})]
  if release.get("real_calibration"):
    real = release["real_calibration"]
    flagged.append((f"{real['dataset']} {real['held_out']} (held out)", real["normals_flagged"]))
  for name, s in s2r["sets"].items():
    flagged.append((name, s["normals_flagged"]))
    if s.get("normals_flagged_any_label", s["normals_flagged"]) != s["normals_flagged"]:
      flagged.append((f"{name}, counting every label", s["normals_flagged_any_label"]))
  for name, n in flagged:
    if n.get("normal_ecgs"):
      called = ", ".join(f"{k} {v}" for k, v in sorted(n["labels_called"].items(),
                                                       key=lambda kv: -kv[1]))
      lines.append(f"- {name}: {n['flagged']} of its {n['normal_ecgs']} normal ECGs "
                   f"({n['fraction']:.0%}) get an abnormal label they do not carry"
                   + (f" ({called})." if called else "."))
  return lines + [""]


def _real_calibration_lines(real: dict) -> list[str]:
  """Where the thresholds were set on real ECGs, and what they do on held-out ones."""
  lines = ["### Thresholds set on real ECGs", "",
           f"Trained on synthetic ECGs only; calibrated on {real['chosen_on_examples']} real "
           f"ECGs ({real['dataset']} {real['chosen_on']}), by `{real['threshold_rule']}` for "
           f"the {len(real['labels_refitted'])} labels PTB-XL names (normal findings such as "
           f"sinus rhythm, which flag no normal ECG, by `{real.get('normal_findings_rule')}`). "
           f"The "
           f"{len(real['labels_raised_on_normals'])} it does not name keep their synthetic "
           "thresholds, raised where needed so that its normal ECGs rarely reach them: "
           f"{', '.join(real['labels_raised_on_normals']) or 'none'}. On the "
           f"{real['held_out_examples']} ECGs held out ({real['held_out']}): median "
           f"sensitivity {real['median_sensitivity']:.2f}, median specificity "
           f"{real['median_specificity']:.2f}, and "
           f"{real['normals_flagged']['flagged']} of {real['normals_flagged']['normal_ecgs']} "
           "normal ECGs get a label they do not carry.", "",
           "| label | positives held out | sensitivity [95% CI] | specificity [95% CI] |",
           "|---|---|---|---|"]
  for label, v in real["labels"].items():
    lines.append(f"| {label} | {v['n_pos']} | {_with_ci(v['sensitivity'])} | "
                 f"{_with_ci(v['specificity'])} |")
  return lines + [""]


def _label_scope_lines(card: dict) -> list[str]:
  """What a model restricted to some labels claims, and what it leaves out, with why."""
  scope = card.get("label_scope")
  if not scope:
    return []
  return ["", "## What it claims", "",
          f"It reads {scope['reads']} only, so its {len(scope['kept'])} labels are those that "
          "lead shows:", "",
          *[f"- {name}: {why}" for name, why in scope["kept"].items()], "",
          f"Left out ({len(scope['left_out'])}), because one lead cannot show them:", "",
          *[f"- {name}: {why}" for name, why in scope["left_out"].items()], ""]


def _exclusion_lines(card: dict) -> list[str]:
  """The labels that exclude each other, and how predict resolves a contradiction."""
  listed = card.get("label_exclusions") or []
  if not listed:
    return []
  return [f"Labels that exclude each other. Where the model calls two, "
          f"{listed[0]['rule']} (predict's `dropped` column says which, and why):", "",
          *[f"- {e['name']}: "
            + " / ".join(", ".join(a) for a in e["alternatives"]) + f" ({e['reason']})"
            for e in listed], ""]
