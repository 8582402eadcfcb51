"""Exclusive classes (models.head): a softmax over a group beside independent labels,
its cross-entropy, and the figures results.json reports for it."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ecgjax.evaluation import challenge2017, exclusive
from ecgjax.models import head


def test_groups_are_parsed_and_matched_to_the_labels_by_name():
  assert head.parse_groups("") == ()
  assert head.parse_groups("normal, af,other ;x,y") == (("normal", "af", "other"), ("x", "y"))
  assert head.parse_groups("rhythm;x,y") == (
      ("sinus_rhythm", "sinus_bradycardia", "sinus_tachycardia", "atrial_fibrillation",
       "atrial_flutter", "junctional_rhythm"), ("x", "y"))
  with pytest.raises(head.HeadLayoutError, match="at least two labels"):
    head.parse_groups("normal")
  with pytest.raises(head.HeadLayoutError, match="twice"):
    head.parse_groups("a,b;b,c")
  assert head.group_indices(["x", "normal", "af"], (("af", "normal"),)) == ((2, 1),)
  with pytest.raises(head.HeadLayoutError, match=r"\['noisy'\].*not among the run's labels"):
    head.group_indices(["normal", "af"], (("normal", "noisy"),))


def test_a_group_is_a_softmax_and_the_rest_stay_sigmoids():
  logits = jnp.array([[2.0, -1.0, 0.5, 0.3], [0.0, 0.0, 0.0, -2.0]])
  groups = ((0, 2, 3),)
  p = head.probabilities(logits, groups, platt_a=2.0, platt_b=1.0)
  np.testing.assert_allclose(p[:, [0, 2, 3]], jax.nn.softmax(logits[:, [0, 2, 3]]), rtol=1e-6)
  np.testing.assert_allclose(p[:, [0, 2, 3]].sum(axis=1), 1.0, rtol=1e-6)
  # The independent label keeps its (calibrated) sigmoid.
  np.testing.assert_allclose(p[:, 1], jax.nn.sigmoid(2.0 * logits[:, 1] + 1.0), rtol=1e-6)


def test_log_odds_are_the_logit_and_the_softmax_log_odds_even_where_probabilities_round():
  """What evaluation scores: an independent label's logit unchanged; an exclusive
  class's log(p / (1 - p)) of its softmax probability, computed in float64 apart.
  The second row's probabilities round to 1.0 in float32; its log-odds do not."""
  from scipy.special import logit, softmax
  logits = jnp.array([[2.0, -1.0, 0.5, 0.3], [40.0, 27.0, 9.0, -3.0]])
  groups = ((0, 2, 3),)
  z = head.log_odds(logits, groups)
  assert z.dtype == jnp.float32
  np.testing.assert_array_equal(z[:, 1], logits[:, 1])
  expected = logit(softmax(np.asarray(logits, np.float64)[:, [0, 2, 3]], axis=1))
  np.testing.assert_allclose(z[:, [0, 2, 3]], expected, rtol=1e-5)
  assert head.probabilities(logits, groups)[1, 0] == 1.0 and float(z[1, 0]) > 30
  np.testing.assert_allclose(1 / (1 + np.exp(-np.asarray(z[0], np.float64))),
                             head.probabilities(logits, groups)[0], rtol=1e-6)


def test_the_loss_is_cross_entropy_over_the_group_and_bce_elsewhere():
  logits = jnp.array([[2.0, -1.0, 0.5, 0.3], [0.0, 1.0, 0.0, -2.0], [1.0, 1.0, 1.0, 1.0]])
  labels = jnp.array([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
  mask = jnp.array([[1.0] * 4, [1.0] * 4, [1.0, 1.0, 1.0, 1.0]])
  groups = ((0, 2, 3),)
  got = head.loss(logits, labels, mask, groups)
  # Row 3 names no class of the group: only its independent label counts.
  ce = optax.softmax_cross_entropy(logits[:2][:, [0, 2, 3]], labels[:2][:, [0, 2, 3]])
  bce = optax.sigmoid_binary_cross_entropy(logits[:, 1], labels[:, 1])
  expected = (ce.sum() + bce.sum()) / (2 + 3)
  assert float(got) == pytest.approx(float(expected), rel=1e-6)
  # Without groups it is the multi-label binary cross-entropy of every entry.
  plain = optax.sigmoid_binary_cross_entropy(logits, labels).mean()
  assert float(head.loss(logits, labels)) == pytest.approx(float(plain), rel=1e-6)
  # The linear probe closes over host (numpy) labels inside its jitted loop.
  host_labels, host_mask = np.asarray(labels), np.asarray(mask)
  probe_loss = jax.jit(lambda x: head.loss(x, host_labels, host_mask, groups))
  assert float(probe_loss(logits)) == pytest.approx(float(expected), rel=1e-6)


def test_group_figures_match_a_confusion_matrix_worked_by_hand():
  """Reference N N N A A O O ~ and classified N N A A O O N ~:
  rows the reference (N, A, O, ~), columns the classification."""
  classes = ["normal", "af", "other", "noisy"]
  reference = [0, 0, 0, 1, 1, 2, 2, 3]
  predicted = [0, 0, 1, 1, 2, 2, 0, 3]
  labels = np.eye(4)[reference]
  scores = np.eye(4)[predicted] * 0.7 + 0.05
  out = exclusive.group_results(classes, labels, scores, np.arange(8), resamples=200)
  assert out["confusion"]["counts"] == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0],
                                        [0, 0, 0, 1]]
  # F1 = 2 N_cc / (row + column): normal 4/6, af 2/4, other 2/4, noisy 2/2.
  assert out["f1"] == pytest.approx({"normal": 4 / 6, "af": 0.5, "other": 0.5, "noisy": 1.0})
  assert out["macro_f1"]["value"] == pytest.approx((4 / 6 + 0.5 + 0.5 + 1.0) / 4)
  assert out["accuracy"] == pytest.approx(5 / 8)
  # The Challenge's score is the mean of the first three: the same F1s.
  challenge = challenge2017.challenge_score(np.array(reference), np.array(predicted),
                                            resamples=200)
  assert challenge["score"]["value"] == pytest.approx((4 / 6 + 0.5 + 0.5) / 3)
  # A row that names no class (not annotated) is left out.
  labels[0] = np.nan
  assert exclusive.group_results(classes, labels, scores, np.arange(8),
                                 resamples=200)["examples"] == 7
