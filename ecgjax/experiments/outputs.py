"""What a finished run prints last, on stdout: its headline figures, rounded, and
where its outputs are. The entries call these once a run has ended; the sweep and
the demo print their own tables."""

import os

import jax

from ecgjax.training import completion


def _figure(entry) -> str:
  value = (entry or {}).get("value")
  return "n/a" if value is None else f"{value:.3f}"


def _medians_line(results: dict) -> str:
  medians = results["medians"]
  covered = f"{medians['auroc']['labels_covered']}/{medians['auroc']['labels_total']}"
  figures = ", ".join(f"{name} {_figure(medians.get(name))}"
                      for name in ("auroc", "sensitivity", "specificity"))
  return (f"  {results.get('split') or 'test'} split, medians over {covered} labels: "
          f"{figures} (per label, with 95% CIs: results.json)")


def _read_results(workdir: str) -> dict | None:
  """A finished run's results (training.completion), else None."""
  return completion.finished(workdir)


def print_model(workdir: str, title: str) -> None:
  """A trained model's workdir: results, card, checkpoints and how to use it."""
  if jax.process_index() != 0:
    return
  results = _read_results(workdir)
  lines = [f"{title}: {workdir}"]
  lines.append(_medians_line(results) if results and results.get("medians") else
               "  no test split was scored (dataset.test_split is empty)")
  lines += [f"  model card:  {os.path.join(workdir, 'model_card.md')}",
            f"  checkpoints: {os.path.join(workdir, 'checkpoints')}",
            f"  use it:      python -m ecgjax.predict --model={workdir} "
            "--out=predictions.csv ECG_FILES...", ""]
  print("\n".join(lines), flush=True)


def print_pretraining(workdir: str) -> None:
  print_model(workdir, "pretrained model")


def print_fine_tuning(workdir: str) -> None:
  print_model(workdir, "fine-tuned model")


def print_evaluation(workdir: str) -> None:
  if jax.process_index() != 0:
    return
  results = _read_results(workdir)
  print("\n".join([f"evaluation of {results.get('checkpoint')} step "
                   f"{results.get('checkpoint_step')} on {results.get('dataset')}: "
                   f"{os.path.join(workdir, 'results.json')}",
                   _medians_line(results), ""]), flush=True)


def print_self_supervised(workdir: str) -> None:
  """A self-supervised encoder's workdir: its embeddings' figures and how to use it."""
  if jax.process_index() != 0:
    return
  results = _read_results(workdir) or {}
  lines = [f"self-supervised encoder: {workdir}"]
  summary = results.get("representation")
  if summary:
    line = (f"  {results['split']} split: embedding rank {summary['embedding_rank']:.1f} of "
            f"{summary['embedding_width']}, spread {summary['embedding_std']:.3f}")
    if summary.get("knn_auroc_mean") is not None:
      line += f", k-NN probe mean AUROC {summary['knn_auroc_mean']:.3f}"
    lines.append(line)
  lines += [f"  model card:  {os.path.join(workdir, 'model_card.md')} (no labels: an encoder)",
            f"  embeddings:  python -m ecgjax.predict --model={workdir} --embeddings "
            "--out=embeddings.csv ECG_FILES...",
            f"  fine-tune:   python -m ecgjax.finetune --config=ecgjax/configs/finetune.py "
            f"--config.init_from={workdir} --workdir=DIR", ""]
  print("\n".join(lines), flush=True)


# What each experiment prints when it ends (compare and demo print their own).
BY_EXPERIMENT = {"pretrain": print_pretraining, "finetune": print_fine_tuning,
                 "evaluate": print_evaluation, "self_supervised": print_self_supervised}
