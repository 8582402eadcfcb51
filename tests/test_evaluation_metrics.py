import numpy as np
import pytest
from sklearn import metrics as skm

from ecgjax.evaluation import metrics


def test_per_label_auroc_matches_sklearn_and_names_undefined_labels():
  rng = np.random.default_rng(0)
  y = (rng.uniform(size=(200, 3)) < [0.3, 0.0, 0.5]).astype(int)
  s = rng.normal(size=(200, 3)) + 1.5 * y
  out = metrics.per_label_auroc(y, s, ["a", "never", "c"])
  assert out["auroc"]["a"] == pytest.approx(skm.roc_auc_score(y[:, 0], s[:, 0]))
  assert out["auroc"]["c"] == pytest.approx(skm.roc_auc_score(y[:, 2], s[:, 2]))
  assert out["auroc"]["never"] is None
  assert out["undefined"] == {"never": "no positive examples"}
  assert out["labels_defined"] == 2 and out["labels_total"] == 3
  assert out["auroc_median"] == pytest.approx(np.median([out["auroc"]["a"], out["auroc"]["c"]]))


def test_hand_computed_auroc():
  # 3 positives, 2 negatives; 5 of 6 positive-negative pairs are ordered right.
  out = metrics.per_label_auroc(np.array([[1], [1], [1], [0], [0]]),
                                np.array([[0.9], [0.8], [0.3], [0.5], [0.1]]), ["x"])
  assert out["auroc"]["x"] == pytest.approx(5 / 6)


def test_shape_mismatch_is_refused():
  with pytest.raises(ValueError, match="do not agree"):
    metrics.per_label_auroc(np.zeros((4, 2)), np.zeros((4, 3)), ["a", "b"])
