"""The comparison report: report.md, comparisons.csv and the plots, from a sweep's
finished runs (sweep_runs), their statistics (sweep_statistics), tables (sweep_tables)
and plots (sweep_plots). The sweep writes results.csv beside them, in the same phase
(sweep_tables.write_results_csv)."""

from ecgjax import storage
from ecgjax.evaluation import sweep_plots, sweep_tables
from ecgjax.evaluation.sweep_runs import Run


def write_report(summary: dict, runs: list[Run], outdir: str, roc_size: int | None) -> list[str]:
  """report.md, comparisons.csv and the plots; returns the plot file names."""
  sweep_tables.write_comparisons_csv(summary, storage.join(outdir, "comparisons.csv"))
  plots = (sweep_plots.auroc_vs_size(summary, outdir)
           + sweep_plots.roc_curves(runs, summary, outdir, roc_size)
           + sweep_plots.reliability(runs, summary, outdir, roc_size))
  lines = ["# Fine-tuning comparison", "",
           f"Test split scored once per run; AUROC is the mean over seeds, 95% CIs from "
           f"{summary['resamples']} patient-bootstrap resamples shared by all runs; the "
           "difference is paired (same resamples, same seeds), its p-value two-sided from the "
           "bootstrap. DeLong's p-value per seed is in comparisons.csv; every run in "
           "results.csv.", "", *sweep_tables.summary_table(summary)]
  lines += sweep_tables.challenge_2017_table(runs)
  lines += sweep_tables.challenge_2017_summary(runs, summary["resamples"])
  lines += [""] + [f"![{p}]({p})" for p in plots] + [""]
  storage.write_text(storage.join(outdir, "report.md"), "\n".join(lines))
  return plots
