"""predict --adapt_batch_norm: BatchNorm statistics recomputed on unlabelled ECGs
(AdaBN), the weights untouched, written as a model directory and scored with."""

import csv
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ecgjax.inference import batch_norm_adaptation, score_files, scoring, serving_export
from ecgjax.training import checkpoints, steps


def logits(model, signal, batch_norm_train: bool):
  net = nnx.merge(model.graphdef, model.params, model.batch_stats, copy=True)
  return np.asarray(net(steps.signal_to_model_input(jnp.asarray(signal)), train=False,
                        batch_norm_train=batch_norm_train))


def test_adapted_statistics_normalise_as_the_batch_itself_would(tiny_pretrained):
  """Adapted on one batch, inference with the new running statistics is exactly the
  original network normalising that batch by its own statistics, at every layer."""
  model = scoring.load(tiny_pretrained)
  windows = serving_export.probe_signals(model.card, 12)
  stats = batch_norm_adaptation.adapted_batch_stats(model, windows, batch_size=64)
  adapted = scoring.LoadedModel(model.card, model.directory, model.step, model.graphdef,
                                model.params, stats)
  np.testing.assert_allclose(logits(adapted, windows, False), logits(model, windows, True),
                             rtol=1e-4, atol=1e-4)
  assert not np.allclose(logits(adapted, windows, False), logits(model, windows, False),
                         atol=1e-3)
  # In batches of 4 the pooled moments of the first BatchNorm's input (the stem's
  # output, which no normalisation precedes) are the same as in one batch.
  small = batch_norm_adaptation.adapted_batch_stats(model, windows, batch_size=4)
  for key in ("mean", "var"):
    np.testing.assert_allclose(small["backbone"]["blocks"][0]["norm1"][key],
                               stats["backbone"]["blocks"][0]["norm1"][key], rtol=1e-4,
                               atol=1e-6)


def test_predict_adapts_writes_the_model_and_scores_with_it(tiny_pretrained, shared_data,
                                                           tmp_path):
  records = os.path.join(shared_data, "ptbxl", "records100", "00000")
  files = [os.path.join(records, f"0000{k}_lr.hea") for k in range(1, 7)]
  plain, adapted_csv = str(tmp_path / "plain.csv"), str(tmp_path / "adapted.csv")
  out = str(tmp_path / "adapted_model")
  score_files.predict_files(tiny_pretrained, files, plain)
  summary = score_files.predict_files(tiny_pretrained, files, adapted_csv,
                                      options=score_files.Options(adapt_batch_norm_to=out))
  assert summary.scored == 6
  adapted = scoring.load(out)
  note = adapted.card["training"]["batch_norm_adaptation"]
  assert note["ecgs"] == 6 and note["windows"] == 6
  original = scoring.load(tiny_pretrained)
  for a, b in zip(jax.tree.leaves(original.params), jax.tree.leaves(adapted.params),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))        # weights untouched
  rows = [list(csv.DictReader(open(p))) for p in (plain, adapted_csv)]
  label = original.labels[0]
  assert [r["record"] for r in rows[0]] == [r["record"] for r in rows[1]]
  assert any(abs(float(a[label]) - float(b[label])) > 1e-4 for a, b in zip(*rows))
  with pytest.raises(checkpoints.InitFromError, match="already holds checkpoints"):
    score_files.predict_files(tiny_pretrained, files, adapted_csv,
                              options=score_files.Options(adapt_batch_norm_to=out))
