"""Thresholds, bootstrap intervals and DeLong's test, against independent computations."""

import numpy as np
import pytest
from sklearn import metrics as skm

from ecgjax.evaluation import bootstrap, calibration, comparison, thresholds


def scores(n=300, prevalence=0.2, separation=1.0, seed=0, ties=False):
  rng = np.random.default_rng(seed)
  y = (rng.uniform(size=n) < prevalence).astype(int)
  s = rng.normal(size=n) + separation * y
  return y, (np.round(s, 1) if ties else s)


@pytest.mark.parametrize("ties", [False, True])
def test_weighted_metrics_with_unit_weights_match_sklearn(ties):
  y, s = scores(ties=ties)
  ones = np.ones((1, len(y)))
  assert bootstrap.weighted_auroc(y, s, ones)[0] == pytest.approx(skm.roc_auc_score(y, s))
  assert bootstrap.weighted_average_precision(y, s, ones)[0] == pytest.approx(
      skm.average_precision_score(y, s))


def test_integer_weights_equal_duplicated_examples():
  y, s = scores(n=120, ties=True)
  w = np.random.default_rng(1).integers(0, 4, size=len(y)).astype(float)
  rep = np.repeat(np.arange(len(y)), w.astype(int))
  assert bootstrap.weighted_auroc(y, s, w[None])[0] == pytest.approx(
      skm.roc_auc_score(y[rep], s[rep]))
  assert bootstrap.weighted_average_precision(y, s, w[None])[0] == pytest.approx(
      skm.average_precision_score(y[rep], s[rep]))
  t = 0.3
  assert bootstrap.weighted_sensitivity(y, s, w[None], t)[0] == pytest.approx(
      np.mean(s[rep][y[rep] == 1] >= t))


@pytest.mark.parametrize("ties", [False, True])
def test_every_resample_is_scored_as_its_duplicated_examples(ties):
  # All resamples are scored at once; each row must be its own resample's metric, with
  # tie groups summed within the row (and a row whose positives were all left out NaN).
  y, s = scores(n=150, ties=ties, seed=3)
  w = bootstrap.patient_weights(np.arange(len(y)), 12, seed=4)
  w[5, y == 1] = 0
  auroc, ap = bootstrap.weighted_auroc(y, s, w), bootstrap.weighted_average_precision(y, s, w)
  sensitivity = bootstrap.weighted_sensitivity(y, s, w, 0.3)
  specificity = bootstrap.weighted_specificity(y, s, w, 0.3)
  for row in range(len(w)):
    rep = np.repeat(np.arange(len(y)), w[row].astype(int))
    if row == 5:
      assert np.isnan(auroc[row]) and np.isnan(ap[row]) and np.isnan(sensitivity[row])
      continue
    assert auroc[row] == pytest.approx(skm.roc_auc_score(y[rep], s[rep]))
    assert ap[row] == pytest.approx(skm.average_precision_score(y[rep], s[rep]))
    assert sensitivity[row] == pytest.approx(np.mean(s[rep][y[rep] == 1] >= 0.3))
    assert specificity[row] == pytest.approx(np.mean(s[rep][y[rep] == 0] < 0.3))


def test_resamples_score_alike_whatever_block_of_them_is_scored_at_once():
  # Resamples are scored a block of rows at a time (bootstrap.BLOCK_BYTES): one row per
  # block, blocks that do not divide the 13 rows, and all at once must agree to the bit,
  # the last, partial block included.
  y, s = scores(n=150, ties=True, seed=5)
  w = bootstrap.patient_weights(np.arange(len(y)) // 2, 13, seed=6)
  ranking = bootstrap.Ranking(y, s)
  whole = ranking.auroc_and_average_precision(w, block_bytes=1 << 30)
  for rows in (1, 5, 12):
    blocks = ranking.auroc_and_average_precision(w, block_bytes=8 * len(y) * rows)
    for a, b in zip(whole, blocks):
      np.testing.assert_array_equal(a, b)
  assert not np.isnan(whole[0]).any()
  np.testing.assert_array_equal(ranking.auroc(w), whole[0])
  np.testing.assert_array_equal(ranking.average_precision(w), whole[1])
  p = 1 / (1 + np.exp(-s))
  for metric in (calibration.weighted_ece, calibration.weighted_brier):
    np.testing.assert_array_equal(metric(y, p, w),
                                  [metric(y, p, w[row:row + 1])[0] for row in range(len(w))])


def test_a_label_that_is_not_0_or_1_is_refused():
  y, s = scores(n=20)
  y[3] = -1            # an unannotated ECG must be left out, not ranked as a negative
  with pytest.raises(ValueError, match="0 or 1"):
    bootstrap.weighted_auroc(y, s, np.ones((1, len(y))))


def test_patient_weights_resample_whole_patients():
  patients = np.array(["a", "a", "b", "c", "c", "c"])
  w = bootstrap.patient_weights(patients, 500, seed=0)
  assert w.shape == (500, 6)
  assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, 3] == w[:, 5])   # same patient, same weight
  assert np.all(w[:, [0, 2, 3]].sum(axis=1) == 3)                     # 3 patients drawn each time
  np.testing.assert_array_equal(w, bootstrap.patient_weights(patients, 500, seed=0))


def test_patient_weights_are_one_byte_counts_drawn_as_in_one_call():
  # 1,000 resamples of 5,000 patients' 8,000 ECGs are drawn a block of resamples at a
  # time (bootstrap.BLOCK_BYTES: ten blocks here) and kept as one byte per weight; they
  # must be the counts NumPy draws for every resample in one call, spread to each ECG.
  patients = np.random.default_rng(0).integers(0, 5000, size=8000)
  w = bootstrap.patient_weights(patients, 1000, seed=7)
  assert w.dtype == np.uint8 and w.shape == (1000, 8000)
  _, index = np.unique(patients, return_inverse=True)
  n = index.max() + 1
  drawn = np.random.default_rng(7).multinomial(n, np.full(n, 1 / n), size=1000)
  assert 8 * n * 1000 > 2 * bootstrap.BLOCK_BYTES      # drawn in several blocks
  np.testing.assert_array_equal(w, drawn[:, index])


def test_counts_are_kept_in_the_narrowest_type_that_holds_them():
  # A count over 255 (a patient drawn that often) widens what came before it, exactly.
  blocks = [np.array([[1, 2]]), np.array([[300, 0]]), np.array([[5, 70_000]])]
  assert bootstrap.narrowest_counts(iter(blocks[:1])).dtype == np.uint8
  assert bootstrap.narrowest_counts(iter(blocks[:2])).dtype == np.uint16
  wide = bootstrap.narrowest_counts(iter(blocks))
  assert wide.dtype == np.uint32
  np.testing.assert_array_equal(wide, np.concatenate(blocks))


def test_one_byte_weights_score_as_the_same_counts_in_float64():
  # Every metric reads the weights a block of rows at a time in their own type: one-byte
  # counts whose sums pass 255 must give, to the bit, what the same counts give as float64
  # (a sum or product taken in one byte would wrap).
  y, s = scores(n=400, ties=True, seed=8)
  narrow = np.random.default_rng(9).integers(0, 256, size=(7, len(y))).astype(np.uint8)
  wide = narrow.astype(np.float64)
  ranking = bootstrap.Ranking(y, s)
  for a, b in zip(ranking.auroc_and_average_precision(narrow, block_bytes=8 * len(y) * 3),
                  ranking.auroc_and_average_precision(wide)):
    np.testing.assert_array_equal(a, b)
  for metric in (bootstrap.weighted_sensitivity, bootstrap.weighted_specificity):
    np.testing.assert_array_equal(metric(y, s, narrow, 0.3), metric(y, s, wide, 0.3))
  p = 1 / (1 + np.exp(-s))
  for metric in (calibration.weighted_ece, calibration.weighted_brier):
    np.testing.assert_array_equal(metric(y, p, narrow), metric(y, p, wide))


def test_bootstrap_interval_covers_the_true_auroc_about_95_percent():
  # AUROC of N(1,1) vs N(0,1) is Phi(1/sqrt(2)).
  true_auroc = 0.7602499389065233
  covered = 0
  trials = 120
  for trial in range(trials):
    y, s = scores(n=250, prevalence=0.3, seed=100 + trial)
    w = bootstrap.patient_weights(np.arange(len(y)), 1000, seed=trial)
    ci = bootstrap.interval(bootstrap.weighted_auroc, y, s, w)
    covered += ci.low <= true_auroc <= ci.high
  assert 0.88 <= covered / trials <= 0.99


def test_interval_reports_resamples_where_the_metric_is_defined():
  y = np.array([1, 0, 0, 0, 0, 0, 0, 0])
  s = np.linspace(1, 0, 8)
  ci = bootstrap.interval(bootstrap.weighted_auroc, y, s,
                          bootstrap.patient_weights(np.arange(8), 1000, seed=0))
  assert ci.estimate == 1.0
  assert 500 < ci.resamples < 1000      # resamples that missed the one positive are dropped


def naive_delong(y, a, b):
  """DeLong's structural components, straight from the 1988 definitions (O(m n))."""
  def psi(x, z):
    return (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
  comps = []
  for s in (a, b):
    kernel = psi(s[y == 1], s[y == 0])
    comps.append((kernel.mean(axis=1), kernel.mean(axis=0), kernel.mean()))
  m, n = (y == 1).sum(), (y == 0).sum()
  s10 = np.cov(np.stack([comps[0][0], comps[1][0]]))
  s01 = np.cov(np.stack([comps[0][1], comps[1][1]]))
  cov = s10 / m + s01 / n
  return comps[0][2], comps[1][2], cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]


def test_fast_delong_equals_the_definition():
  y, a = scores(n=200, ties=True, seed=3)
  b = np.round(a + np.random.default_rng(4).normal(scale=0.8, size=len(a)), 1)
  auc_a, auc_b, variance = naive_delong(y, a, b)
  result = comparison.delong_test(y, a, b)
  assert result.auroc_a == pytest.approx(auc_a)
  assert result.auroc_b == pytest.approx(auc_b)
  assert result.standard_error ** 2 == pytest.approx(variance)
  assert result.auroc_a == pytest.approx(skm.roc_auc_score(y, a))


def test_delong_on_the_published_hanley_mcneil_ratings():
  """The CT ratings of Hanley & McNeil (Radiology 1982;143:29, Table 1): 58 normal and
  51 abnormal cases rated 1 (definitely normal) to 5 (definitely abnormal).
  Published: AUC 0.893 (ibid.); DeLong standard error 0.0307 and asymptotic 95% CI
  0.83295-0.95339 (Stata's `roctab`, which implements DeLong et al. 1988, on the same
  data, its manual's worked example). The paired test's covariance has these
  variances on its diagonal."""
  normal, abnormal = [33, 6, 6, 11, 2], [3, 2, 2, 11, 33]
  y = np.concatenate([np.zeros(58), np.ones(51)]).astype(int)
  ratings = np.concatenate([np.repeat(np.arange(1, 6), normal),
                            np.repeat(np.arange(1, 6), abnormal)]).astype(float)
  auroc, covariance = comparison.delong_covariance(y, ratings)
  se = float(np.sqrt(covariance[0, 0]))
  assert round(float(auroc[0]), 3) == 0.893
  assert se == pytest.approx(0.0307, abs=5e-5)
  low, high = auroc[0] - 1.959964 * se, auroc[0] + 1.959964 * se
  assert (low, high) == pytest.approx((0.83295, 0.95339), abs=5e-5)
  # Compared with a rating that reverses two categories, the paired test uses the
  # same variances.
  swapped = np.where(ratings == 2, 3.0, np.where(ratings == 3, 2.0, ratings))
  result = comparison.delong_test(y, ratings, swapped)
  _, pair = comparison.delong_covariance(y, np.stack([ratings, swapped]))
  assert pair[0, 0] == pytest.approx(covariance[0, 0])
  assert result.standard_error ** 2 == pytest.approx(pair[0, 0] + pair[1, 1] - 2 * pair[0, 1])


def test_delong_is_calibrated_under_the_null():
  # Two equally good, correlated scores: about 5% of tests reject at 0.05.
  rejections = 0
  trials = 300
  for trial in range(trials):
    rng = np.random.default_rng(trial)
    y = (rng.uniform(size=200) < 0.3).astype(int)
    shared = rng.normal(size=200) + y
    a = shared + rng.normal(scale=0.7, size=200)
    b = shared + rng.normal(scale=0.7, size=200)
    rejections += comparison.delong_test(y, a, b).p_value < 0.05
  assert 0.02 <= rejections / trials <= 0.09


def test_delong_detects_a_real_difference_and_bootstrap_agrees_in_sign():
  y, good = scores(n=400, separation=1.5, seed=7)
  bad = good + np.random.default_rng(8).normal(scale=2.0, size=len(y))
  result = comparison.delong_test(y, good, bad)
  assert result.difference > 0 and result.p_value < 0.01
  ci = comparison.paired_bootstrap_difference(
      y, good, bad, bootstrap.patient_weights(np.arange(len(y)), 1000, seed=0))
  assert ci.low > 0 and ci.estimate == pytest.approx(result.difference)


def test_youden_threshold_and_fixed_operating_points():
  y, s = scores(n=2000, separation=2.0, seed=11)
  t = thresholds.choose_threshold(y, s, "youden")
  assert 0.5 < t < 1.5                                  # midway between N(0,1) and N(2,1)
  sens, spec = thresholds.sensitivity_specificity(y, s, thresholds.choose_threshold(
      y, s, "specificity:0.95"))
  assert spec >= 0.95 and sens > 0.5
  sens, spec = thresholds.sensitivity_specificity(y, s, thresholds.choose_threshold(
      y, s, "sensitivity:0.9"))
  assert sens >= 0.9
  with pytest.raises(ValueError, match="threshold rule"):
    thresholds.parse_rule("specificity:95")


def test_results_follow_the_spec_and_explain_undefined_labels():
  from ecgjax.evaluation import results
  rng = np.random.default_rng(0)
  n = 400
  patients = rng.integers(0, 150, size=n)
  y = np.stack([rng.uniform(size=n) < 0.3, np.zeros(n, bool)], axis=1).astype(float)
  s = rng.normal(size=(n, 2)) + 1.5 * y                  # log-odds
  points = results.operating_points(["common", "absent"], y, s)
  out = results.evaluate_predictions(["common", "absent"], y, s, patients, points,
                                     resamples=1000, seed=0)
  common = out["labels"]["common"]
  assert common["auroc"]["value"] == pytest.approx(skm.roc_auc_score(y[:, 0], s[:, 0]))
  # The threshold is on calibrated probabilities; sensitivity is read there too.
  a, b = common["calibration"]["a"], common["calibration"]["b"]
  calibrated = 1 / (1 + np.exp(-(a * s[:, 0] + b)))
  assert common["sensitivity"]["value"] == pytest.approx(
      thresholds.sensitivity_specificity(y[:, 0], calibrated, common["threshold"])[0])
  # ECE before calibration is the model's own probabilities'.
  raw = 1 / (1 + np.exp(-s[:, 0]))
  assert common["ece"]["before"]["value"] == pytest.approx(
      calibration.weighted_ece(y[:, 0], raw, np.ones((1, n)))[0])
  assert out["labels"]["absent"]["n_pos"] == 0
  assert common["auroc"]["ci_low"] < common["auroc"]["value"] < common["auroc"]["ci_high"]
  assert {"auprc", "threshold", "sensitivity", "specificity", "n_pos", "n_neg"} <= set(common)
  assert common["n_pos"] + common["n_neg"] == n
  assert out["labels"]["absent"]["undefined"] == "test split: no positive examples"
  # One schema: every label has every field, null where it could not be computed.
  assert list(common) == list(results.LABEL_FIELDS) == list(out["labels"]["absent"])
  assert common["undefined"] is None and common["undefined_threshold"] is None
  absent = out["labels"]["absent"]
  assert all(absent[f] is None for f in ("auroc", "auprc", "threshold", "sensitivity",
                                         "specificity", "calibration", "ece", "brier"))
  assert out["medians"]["auroc"] == {"value": common["auroc"]["value"], "labels_covered": 1,
                                     "labels_total": 2}
  assert out["test_patients"] == len(np.unique(patients))


def test_newcombe_interval_is_honest_at_the_boundary_and_wald_like_in_large_samples():
  from ecgjax.evaluation.auroc_interval import hanley_mcneil_variance, newcombe_interval
  low, high = newcombe_interval(1.0, 6, 100)
  assert high == 1.0 and 0.7 < low < 0.95            # not [1, 1] with 6 positives
  # Symmetric under A -> 1 - A, and narrower with more data.
  assert newcombe_interval(0.0, 6, 100) == pytest.approx((1 - high, 1 - low))
  assert newcombe_interval(1.0, 60, 1000)[0] > low
  # It is the score interval: at each bound (A - θ)² = z² V(θ).
  a, (lo, hi) = 0.8, newcombe_interval(0.8, 50, 50)
  for bound in (lo, hi):
    assert (a - bound) ** 2 == pytest.approx(1.959964 ** 2 * hanley_mcneil_variance(bound, 50, 50),
                                             rel=1e-6)
  # With thousands of ECGs it agrees with the Wald interval on the same variance.
  se = np.sqrt(hanley_mcneil_variance(0.9, 2000, 3000))
  assert newcombe_interval(0.9, 2000, 3000) == pytest.approx((0.9 - 1.96 * se, 0.9 + 1.96 * se),
                                                             abs=1e-3)
  with pytest.raises(ValueError):
    newcombe_interval(0.5, 0, 10)


def test_perfect_separation_with_few_positives_gets_an_interval_not_a_point():
  """Percentile bootstrap alone gave [1.000, 1.000] here (issue 11)."""
  from ecgjax.evaluation import results
  rng = np.random.default_rng(1)
  n = 300
  patients = np.arange(n)
  y = np.zeros((n, 2))
  y[:6, 0] = 1                                       # 6 positives, perfectly separated
  y[:, 1] = rng.uniform(size=n) < 0.3
  s = np.stack([y[:, 0] * 3 + rng.normal(0, 0.1, n), y[:, 1] + rng.normal(size=n)], axis=1)
  points = results.operating_points(["rare", "common"], y, s)
  out = results.evaluate_predictions(["rare", "common"], y, s, patients, points,
                                     resamples=1000, seed=0)
  rare = out["labels"]["rare"]["auroc"]
  assert rare["value"] == 1.0 and rare["bootstrap_ci_low"] == rare["bootstrap_ci_high"] == 1.0
  assert rare["ci_low"] < 0.95 and rare["ci_high"] == 1.0
  common = out["labels"]["common"]["auroc"]
  assert common["ci_low"] == min(common["bootstrap_ci_low"], common["newcombe_ci_low"])
  macro = out["macro_auroc"]
  assert macro["value"] == pytest.approx((rare["value"] + common["value"]) / 2)
  assert macro["ci_low"] < macro["value"] < macro["ci_high"]
  assert macro["labels_covered"] == 2
  assert "Newcombe" in out["bootstrap"]["auroc_interval"]


def miscalibrated(n, seed, a=2.0, b=-1.0, shift=0.0):
  """Log-odds f + shift whose true probability is sigmoid(a f + b)."""
  rng = np.random.default_rng(seed)
  f = rng.normal(size=n)
  y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(a * f + b)))).astype(float)
  return y, f + shift


def test_platt_recovers_the_true_calibration_and_lowers_held_out_ece():
  y, f = miscalibrated(20_000, seed=0)
  fit = calibration.fit_platt(y, f)
  assert fit["a"] == pytest.approx(2.0, abs=0.1) and fit["b"] == pytest.approx(-1.0, abs=0.1)
  y_test, f_test = miscalibrated(5000, seed=1)
  p_test = 1 / (1 + np.exp(-f_test))
  ones = np.ones((1, len(y_test)))
  before = calibration.weighted_ece(y_test, p_test, ones)[0]
  after = calibration.weighted_ece(y_test, calibration.apply_platt(f_test[:, None], [fit])[:, 0],
                                   ones)[0]
  assert before > 0.1 and after < 0.03
  brier_before = calibration.weighted_brier(y_test, p_test, ones)[0]
  brier_after = calibration.weighted_brier(
      y_test, calibration.apply_platt(f_test[:, None], [fit])[:, 0], ones)[0]
  assert brier_after < brier_before


def test_confident_scores_are_calibrated_and_thresholded_without_ties():
  """Log-odds around 25, where a float32 probability is 1.0 for every ECG (clipped
  to 1 - 1e-7, they all read 16.1): Platt fits on the log-odds themselves, the 99%
  specificity threshold holds on validation, and test sensitivity and specificity
  equal those read from the log-odds directly at the calibrated threshold."""
  from ecgjax.evaluation import results
  shift = 25.0
  y, f = miscalibrated(4000, seed=4, shift=shift)
  assert np.all(np.float32(1) / (1 + np.exp(-f.astype(np.float32))) == 1)
  fit = calibration.fit_platt(y, f)
  # The same map as the unshifted scores' fit, moved by the shift: b' = b - a * shift.
  unshifted = calibration.fit_platt(y, f - shift)
  assert fit["a"] == pytest.approx(unshifted["a"], rel=1e-4)
  assert fit["b"] == pytest.approx(unshifted["b"] - unshifted["a"] * shift, rel=1e-4)
  names, labels = ["x"], y[:, None]
  points = results.operating_points(names, labels, f[:, None], "specificity:0.99")
  t = points["thresholds"]["x"]
  calibrated = calibration.apply_platt(f[:, None], [points["calibration"]["labels"]["x"]])[:, 0]
  specificity = np.mean(calibrated[y == 0] < t)
  assert 0.99 <= specificity < 0.995             # a real cut, not everything or nothing
  y_test, f_test = miscalibrated(3000, seed=5, shift=shift)
  out = results.evaluate_predictions(names, y_test[:, None], f_test[:, None],
                                     np.arange(3000), points, resamples=50)
  entry = out["labels"]["x"]
  assert entry["auroc"]["value"] == pytest.approx(skm.roc_auc_score(y_test, f_test))
  a, b = fit["a"], fit["b"]
  cut = np.log(t) - np.log1p(-t)                 # the threshold in calibrated log-odds
  called = a * f_test + b >= cut - 1e-9
  assert entry["sensitivity"]["value"] == pytest.approx(called[y_test == 1].mean(), abs=1e-3)
  assert entry["specificity"]["value"] == pytest.approx(1 - called[y_test == 0].mean(),
                                                        abs=1e-3)
  assert 0.1 < entry["sensitivity"]["value"] < 0.9          # neither nothing nor all


def test_predictions_written_before_log_odds_are_read_as_log_odds(tmp_path):
  """A sweep may hold runs from before predictions.npz kept log-odds: their
  `test_scores` were probabilities, and the report reads them back as log-odds."""
  from ecgjax.evaluation import sweep_runs
  p = np.array([[0.1, 0.5], [0.9, 0.999]], np.float32)
  old, new = tmp_path / "old", tmp_path / "new"
  old.mkdir()
  new.mkdir()
  np.savez(old / "predictions.npz", names=np.array(["a", "b"]), test_scores=p)
  np.savez(new / "predictions.npz", names=np.array(["a", "b"]), test_log_odds=p)
  read = sweep_runs.read_predictions(str(old))
  np.testing.assert_allclose(read["test_log_odds"], np.log(p / (1 - p)), rtol=1e-5)
  assert "test_scores" not in read
  np.testing.assert_array_equal(sweep_runs.read_predictions(str(new))["test_log_odds"], p)


def test_ece_matches_its_definition_and_platt_degenerate_cases():
  rng = np.random.default_rng(3)
  y, p = (rng.uniform(size=500) < 0.3).astype(float), rng.uniform(size=500)
  bins = np.minimum((p * 15).astype(int), 14)
  direct = sum(abs(p[bins == b].sum() - y[bins == b].sum()) for b in range(15)) / len(p)
  assert calibration.weighted_ece(y, p, np.ones((1, 500)))[0] == pytest.approx(direct)
  # Under resample weights: each row is its duplicated examples' ECE and Brier score.
  w = bootstrap.patient_weights(np.arange(500) // 3, 6, seed=2)
  ece, brier = calibration.weighted_ece(y, p, w), calibration.weighted_brier(y, p, w)
  for row in range(len(w)):
    rep = np.repeat(np.arange(500), w[row].astype(int))
    yr, pr, br = y[rep], p[rep], bins[rep]
    assert ece[row] == pytest.approx(
        sum(abs(pr[br == b].sum() - yr[br == b].sum()) for b in range(15)) / len(rep))
    assert brier[row] == pytest.approx(np.mean((pr - yr) ** 2))
  # A validation split the model separates perfectly: a finite, monotone fit.
  separable = calibration.fit_platt(np.array([0, 0, 0, 1, 1.]), np.array([.1, .2, .3, .8, .9]))
  assert np.isfinite(separable["a"]) and separable["a"] > 0 and "reason" not in separable
  one_class = calibration.fit_platt(np.zeros(10), rng.uniform(size=10))
  assert one_class["a"] == 1.0 and one_class["b"] == 0.0 and "0 positives" in one_class["reason"]
  reversed_scores = calibration.fit_platt(y, 1 - (0.1 + 0.8 * y))
  assert reversed_scores["a"] == 1.0 and "do not rise" in reversed_scores["reason"]


def test_sweep_summary_adds_a_macro_row_and_keeps_perfect_labels_honest():
  from ecgjax.evaluation import sweep_runs, sweep_statistics, sweep_tables
  rng = np.random.default_rng(2)
  n = 200
  y = np.zeros((n, 2))
  y[:6, 0] = 1
  y[:, 1] = rng.uniform(size=n) < 0.4
  base = {"names": np.array(["rare", "common"]), "test_patients": np.arange(n),
          "test_labels": y}

  def run(mode, strength, seed):
    scores = np.stack([y[:, 0] * strength + rng.normal(size=n),
                       y[:, 1] * strength + rng.normal(size=n)], axis=1)
    return sweep_runs.Run(mode, 50, seed, {}, {**base, "test_log_odds": scores})

  runs = [run("scratch", 0.5, 0), run("full", 20.0, 0)]
  summary = sweep_statistics.summarize(runs, resamples=500, seed=0)
  rows = {r["label"]: r for r in summary["table"]}
  macro = rows[sweep_statistics.MACRO_LABEL]
  for mode in ("scratch", "full"):
    assert macro["modes"][mode][0] == pytest.approx(
        np.mean([rows["rare"]["modes"][mode][0], rows["common"]["modes"][mode][0]]))
  point, low, high, p = macro["full_minus_scratch"]
  assert point == pytest.approx(macro["modes"]["full"][0] - macro["modes"]["scratch"][0])
  assert low <= point <= high and p < 0.05
  value, low, high, _, _, _ = rows["rare"]["modes"]["full"]
  assert value == 1.0 and low < 0.95            # not the bootstrap's [1, 1]
  assert any(sweep_statistics.MACRO_LABEL in line for line in sweep_tables.summary_table(summary))


def test_sweep_summary_pairs_any_two_starts_and_gives_macro_auprc():
  """Runs of two pretrained starts, named apart: their paired difference is the negative
  of the reverse pair's, resampled alike. Macro AUPRC is 1 for a start that separates
  every label and near each label's prevalence for one that guesses."""
  from ecgjax.evaluation import sweep_runs, sweep_statistics, sweep_tables
  rng = np.random.default_rng(4)
  n = 2000
  y = (rng.uniform(size=(n, 2)) < np.array([0.1, 0.3])).astype(float)
  base = {"names": np.array(["a", "b"]), "test_patients": np.arange(n), "test_labels": y}
  guess = rng.normal(size=(n, 2))
  runs = [sweep_runs.Run("synthetic/full", 100, 0, {}, {**base, "test_log_odds": guess}),
          sweep_runs.Run("ssl/full", 100, 0, {}, {**base, "test_log_odds": y * 10 + guess})]
  one = sweep_statistics.summarize(runs, resamples=200, seed=0,
                                   pairs=(("ssl/full", "synthetic/full"),))
  other = sweep_statistics.summarize(runs, resamples=200, seed=0,
                                     pairs=(("synthetic/full", "ssl/full"),))
  macro = one["table"][-1]
  reverse = other["table"][-1]
  point, low, high, p = macro["ssl/full_minus_synthetic/full"]
  assert point > 0.4 and p < 0.01
  assert reverse["synthetic/full_minus_ssl/full"][:3] == pytest.approx((-point, -high, -low))
  assert macro["auprc"]["ssl/full"] == pytest.approx(1.0)
  assert macro["auprc"]["synthetic/full"] == pytest.approx(0.2, abs=0.03)   # mean prevalence
  assert "Macro AUPRC" in "\n".join(sweep_tables.summary_table(
      sweep_statistics.summarize([sweep_runs.Run(m, 100, 0, {}, r.predictions)
                                  for m, r in zip(("scratch", "full"), runs)], resamples=50)))


def test_sweep_summary_gives_the_seed_spread_beside_the_mean():
  """Three seeds: a mode's cell is their mean AUROC with its CI, and the lowest and
  highest seed's own AUROC (sklearn's, computed here apart); the macro row's spread is
  over each seed's mean over labels."""
  from sklearn import metrics as skm

  from ecgjax.evaluation import sweep_runs, sweep_statistics, sweep_tables
  rng = np.random.default_rng(9)
  n = 300
  y = (rng.uniform(size=(n, 2)) < 0.3).astype(float)
  base = {"names": np.array(["a", "b"]), "test_patients": np.arange(n), "test_labels": y}
  scores = {seed: y * strength + rng.normal(size=(n, 2))
            for seed, strength in ((0, 0.5), (1, 1.0), (2, 2.0))}
  runs = [sweep_runs.Run(mode, 100, seed, {}, {**base, "test_log_odds": s + shift})
          for seed, s in scores.items() for mode, shift in (("scratch", 0.0), ("full", 0.1))]
  summary = sweep_statistics.summarize(runs, resamples=200, seed=0)
  rows = {r["label"]: r for r in summary["table"]}
  own = {seed: [skm.roc_auc_score(y[:, k], s[:, k]) for k in range(2)]
         for seed, s in scores.items()}
  mean, _, _, seeds, lowest, highest = rows["a"]["modes"]["scratch"]
  assert seeds == 3 and mean == pytest.approx(np.mean([own[s][0] for s in own]))
  assert (lowest, highest) == pytest.approx((own[0][0], own[2][0]))
  macro = rows[sweep_statistics.MACRO_LABEL]["modes"]["scratch"]
  assert macro[4:] == pytest.approx((np.mean(own[0]), np.mean(own[2])))
  table = "\n".join(sweep_tables.summary_table(summary))
  assert f"(seeds {own[0][0]:.3f}-{own[2][0]:.3f})" in table
  assert "lowest and highest seed's own AUROC" in table


def test_sweep_summary_and_plots_leave_unknown_labels_out(tmp_path):
  """A record's unknown label (NaN in test_labels: a CinC 2017 "other rhythm"
  record's sinus rhythm) is left out of that label's AUROC, CI, DeLong test and plots,
  and kept for the other labels."""
  from sklearn import metrics as skm

  from ecgjax.evaluation import sweep_plots, sweep_runs, sweep_statistics
  rng = np.random.default_rng(4)
  n = 120
  y = np.stack([rng.uniform(size=n) < 0.5, rng.uniform(size=n) < 0.3], axis=1).astype(float)
  unknown = rng.uniform(size=n) < 0.3
  # Scores that would be perfect on the known rows and wrong on the unknown ones.
  scores = np.stack([np.where(unknown, 1 - y[:, 0], y[:, 0]) + 0.1 * rng.normal(size=n),
                     y[:, 1] + rng.normal(size=n)], axis=1)
  labels = y.copy()
  labels[unknown, 0] = np.nan
  base = {"names": np.array(["sinus_rhythm", "atrial_fibrillation"]),
          "test_patients": np.arange(n), "test_labels": labels}
  runs = [sweep_runs.Run(mode, 0, 0, {"labels": {}}, {**base, "test_log_odds": scores + shift})
          for mode, shift in (("scratch", 0.0), ("full", 0.01))]
  summary = sweep_statistics.summarize(runs, resamples=200, seed=0)
  rows = {r["label"]: r for r in summary["table"] if r["train_size"] == 0}
  known = ~unknown
  assert rows["sinus_rhythm"]["modes"]["full"][0] == pytest.approx(
      skm.roc_auc_score(y[known, 0], scores[known, 0]))
  assert rows["sinus_rhythm"]["n_test_pos"] == int(y[known, 0].sum())
  assert rows["atrial_fibrillation"]["modes"]["full"][0] == pytest.approx(
      skm.roc_auc_score(y[:, 1], scores[:, 1]))
  assert all(np.isfinite(c["delong_p"]) for c in summary["comparisons"])
  assert sweep_plots.roc_curves(runs, summary, str(tmp_path), 0)
  # One known positive (a small fold's test split): DeLong is undefined, not a crash.
  one = labels.copy()
  one[:, 0] = 0.0
  one[0, 0] = 1.0
  runs = [sweep_runs.Run(m, 0, 0, {"labels": {}}, {**base, "test_labels": one,
                                               "test_log_odds": scores + shift})
          for m, shift in (("scratch", 0.0), ("full", 0.01))]
  [lone] = [c for c in sweep_statistics.summarize(runs, resamples=50, seed=0)["comparisons"]
            if c["label"] == "sinus_rhythm"]
  assert np.isnan(lone["delong_p"]) and np.isfinite(lone["difference"])


def test_challenge_2017_score_is_the_mean_f1_of_normal_af_and_other():
  from ecgjax.evaluation import challenge2017
  rng = np.random.default_rng(3)
  reference = rng.choice(4, size=300, p=[0.55, 0.1, 0.3, 0.05])
  predicted = np.where(rng.uniform(size=300) < 0.7, reference, rng.choice(4, size=300))
  out = challenge2017.challenge_score(reference, predicted, resamples=1000, seed=0)
  per_class = skm.f1_score(reference, predicted, labels=[0, 1, 2, 3], average=None)
  assert [out["f1"][c] for c in challenge2017.CLASSES] == pytest.approx(per_class)
  assert out["score"]["value"] == pytest.approx(per_class[:3].mean())
  assert out["score"]["ci_low"] < out["score"]["value"] < out["score"]["ci_high"]
  # Hand-computed: one normal called AF, everything else right.
  f1 = challenge2017.class_f1(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), np.ones((1, 4)))[0]
  assert f1[:3] == pytest.approx([2 / 3, 2 / 3, 1.0]) and np.isnan(f1[3])
  with pytest.raises(ValueError, match="must index"):
    challenge2017.class_f1(np.array([0, 4]), np.array([0, 1]), np.ones((1, 2)))


def test_challenge_2017_paired_difference_resamples_both_recipes_together():
  from ecgjax.evaluation import challenge2017
  rng = np.random.default_rng(4)
  reference = rng.choice(4, size=400, p=[0.55, 0.1, 0.3, 0.05])
  worse = np.where(rng.uniform(size=400) < 0.6, reference, rng.choice(4, size=400))
  better = np.where(rng.uniform(size=400) < 0.3, reference, worse)   # fixes some errors
  out = challenge2017.paired_difference(reference, worse, better, resamples=1000, seed=0)
  a = challenge2017.challenge_score(reference, worse, resamples=1000, seed=0)
  b = challenge2017.challenge_score(reference, better, resamples=1000, seed=0)
  assert out["value"] == pytest.approx(b["score"]["value"] - a["score"]["value"])
  assert 0 < out["ci_low"] < out["value"] < out["ci_high"]
  # Paired: narrower than either score's own interval.
  assert out["ci_high"] - out["ci_low"] < b["score"]["ci_high"] - b["score"]["ci_low"]
  same = challenge2017.paired_difference(reference, worse, worse, resamples=200)
  assert (same["value"], same["ci_low"], same["ci_high"]) == (0.0, 0.0, 0.0)
  with pytest.raises(ValueError, match="400 references, 400 and 3 predictions"):
    challenge2017.paired_difference(reference, worse, worse[:3])
  # Over seeds: one pair is the paired difference; a pair with no change halves it.
  one = challenge2017.mean_paired_difference(reference, [(worse, better)], resamples=1000)
  assert (one["value"], one["ci_low"], one["ci_high"]) == pytest.approx(
      (out["value"], out["ci_low"], out["ci_high"]))
  two = challenge2017.mean_paired_difference(reference, [(worse, better), (worse, worse)],
                                             resamples=1000)
  assert two["value"] == pytest.approx(out["value"] / 2) and two["pairs"] == 2
  assert two["ci_low"] == pytest.approx(out["ci_low"] / 2)


def test_a_threshold_needs_enough_validation_positives():
  """One AF positive in a small fine-tune's validation split once chose a threshold of
  0.002 that called AF on most normal ECGs. Below MIN_THRESHOLD_POSITIVES positives a
  label is called at FALLBACK_THRESHOLD instead, and the points and results.json say
  why; a label with enough positives keeps its chosen threshold."""
  from ecgjax.evaluation import results
  rng = np.random.default_rng(3)
  n = 600
  y = np.zeros((n, 2))
  y[0, 0] = 1                                       # "rare": one positive ...
  y[:, 1] = rng.uniform(size=n) < 0.2               # "common": about 120
  s = rng.normal(size=(n, 2)) + 2.0 * y
  s[0, 0] = 0.3                                     # ... scored like an ordinary negative
  points = results.operating_points(["rare", "common"], y, s, "youden")
  assert points["thresholds"]["rare"] == results.FALLBACK_THRESHOLD
  assert points["thresholds_fallback"]["rare"].startswith(
      "1 positive(s) in the split thresholds are chosen on, fewer than the "
      f"{results.MIN_THRESHOLD_POSITIVES}")
  assert "common" not in points["thresholds_fallback"]
  # What the fallback prevents: the cut chosen on that one positive calls a third or
  # more of the negatives; the fallback calls almost none.
  calibrated = calibration.apply_platt(s[:, :1], [points["calibration"]["labels"]["rare"]])[:, 0]
  chosen = thresholds.choose_threshold(y[:, 0], calibrated, "youden")
  negatives = calibrated[y[:, 0] == 0]
  assert (negatives >= chosen).mean() > 0.3 and (negatives >= results.FALLBACK_THRESHOLD).mean() < 0.01
  common_cut = thresholds.choose_threshold(
      y[:, 1], calibration.apply_platt(s[:, 1:], [points["calibration"]["labels"]["common"]])[:, 0])
  assert points["thresholds"]["common"] == common_cut
  out = results.evaluate_predictions(["rare", "common"], y, s, np.arange(n), points,
                                     resamples=20)
  assert out["labels"]["rare"]["threshold_fallback"] == points["thresholds_fallback"]["rare"]
  assert out["labels"]["common"]["threshold_fallback"] is None


def test_an_exclusive_class_is_called_only_where_it_is_the_class():
  """In a group of exclusive classes, a class reaches its threshold only where it is the
  ECG's most probable class: at a threshold low enough to call a second class on many
  ECGs, every ECG has at most one, the argmax, in the points, the results and predict's
  `positive` (LoadedModel.called)."""
  from ecgjax.evaluation import exclusive, results
  from ecgjax.inference import scoring
  rng = np.random.default_rng(5)
  n, names = 400, ["normal", "af", "other"]
  logits = rng.normal(size=(n, 3))
  truth = np.eye(3)[rng.integers(0, 3, size=n)]
  logits += 1.5 * truth
  p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  log_odds = np.log(p) - np.log1p(-p)
  points = results.operating_points(names, truth, log_odds, "sensitivity:0.99",
                                    exclusive_groups=[names])
  t = np.array([points["thresholds"][c] for c in names])
  assert ((p >= t).sum(axis=1) > 1).mean() > 0.2    # thresholds alone would call two
  card = {"labels": names, "exclusive_groups": [names],
          "thresholds": dict(zip(names, t.tolist()))}
  called = scoring.LoadedModel(card, "", 0, None, {}, {}).called(p)
  assert called.sum(axis=1).max() == 1
  assert np.all(called.argmax(axis=1)[called.any(axis=1)] == p.argmax(axis=1)[called.any(axis=1)])
  out = results.evaluate_predictions(names, truth, log_odds, np.arange(n), points,
                                     resamples=20, exclusive_groups=[names])
  decision = exclusive.decision_scores(p, [[0, 1, 2]])
  for k, name in enumerate(names):
    hits = called[truth[:, k] == 1, k].mean()
    assert out["labels"][name]["sensitivity"]["value"] == pytest.approx(hits)
    assert np.array_equal(decision[:, k] >= t[k], called[:, k])


def test_a_class_evaluated_without_the_rest_of_its_group_is_called_as_in_the_whole_group():
  """An evaluation of some of a group's classes (release refits AF on PTB-XL apart from
  sinus rhythm) chooses thresholds and reports sensitivity and specificity on the calls
  predict makes, where the class is its *whole* group's most probable (Scored.top): the
  same figures as the whole group's evaluation, not those of the part alone, where AF
  would be 'the class' on every ECG whose sinus rhythm is not evaluated."""
  from ecgjax.evaluation import exclusive, results
  rng = np.random.default_rng(7)
  n, names = 600, ["sinus", "af", "flutter"]
  truth = np.eye(3)[rng.choice(3, size=n, p=[0.8, 0.15, 0.05])]
  logits = rng.normal(size=(n, 3)) + 1.0 * truth
  p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  log_odds = np.log(p) - np.log1p(-p)
  whole = results.operating_points(names, truth, log_odds, "youden", exclusive_groups=[names])
  part, top = [1, 2], exclusive.is_top(log_odds, [[0, 1, 2]])[:, [1, 2]]
  cut = results.operating_points(names[1:], truth[:, part], log_odds[:, part], "youden",
                                 exclusive_groups=[names[1:]], top=top)
  assert cut["thresholds"]["af"] == pytest.approx(whole["thresholds"]["af"])

  def af(names_, columns, **kwargs):
    out = results.evaluate_predictions(names_, truth[:, columns], log_odds[:, columns],
                                       np.arange(n), whole, resamples=20,
                                       exclusive_groups=[names_], **kwargs)
    return [out["labels"]["af"][f]["value"] for f in ("sensitivity", "specificity")]

  assert af(names[1:], part, top=top) == pytest.approx(af(names, [0, 1, 2]))
  # The part alone calls AF on sinus ECGs where AF merely beats flutter.
  assert af(names[1:], part)[1] < af(names, [0, 1, 2])[1] - 0.03
