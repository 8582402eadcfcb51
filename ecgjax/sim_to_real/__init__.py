"""Sim-to-real: synthetic-pretrained models scored on real ECG sample archives with no
training. Research code, apart from the drivers in ecgjax.experiments.

- sample_sets: which archives a folder holds, and each built at a model's rate with
  its own TFDS builder;
- scored_sets: a built set's recordings scored by a model as predict scores them, and
  the normal ECGs it flags;
- zero_shot.score: per label AUROC with its 95% CI, medians per set and pooled (the
  demo's last section, benchmarks/sim_to_real.py);
- paired.compare: two models on the same records, their difference with a paired CI.

`python -m ecgjax.release` makes a trained model into a shipped one with these
figures in its card. Every function takes the sample folders as an argument:
`ecgjax.samples.root()` holds the ones shipped in the package.
"""
