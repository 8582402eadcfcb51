"""The self-supervised objectives and their views, and the embedding monitor: math that
trains nothing (the fast tier). Training runs are in test_self_supervised.py."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ecgjax.configs import self_supervised as ssl_config
from ecgjax.experiments.validation import ConfigError, validate_self_supervised
from ecgjax.training import mesh as mesh_lib, representation, self_supervised
from ecgjax.training.self_supervised import Objective


def test_nt_xent_of_collapsed_projections_is_chance():
  """All 2N projections equal: every other projection is as similar as the positive,
  so the softmax is uniform over 2N - 1 and the loss is log(2N - 1)."""
  z = jnp.ones((8, 4))
  assert float(self_supervised.nt_xent(z, z, 0.1)) == pytest.approx(math.log(15), rel=1e-5)


def test_nt_xent_rewards_views_that_agree_and_differ_from_the_others():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(16, 32))
  agreeing = float(self_supervised.nt_xent(z, z + 0.01 * rng.normal(size=z.shape), 0.1))
  shuffled = float(self_supervised.nt_xent(z, z[rng.permutation(16)], 0.1))
  assert agreeing < 0.1 < math.log(31) < shuffled


def test_nt_xent_takes_each_other_example_as_a_negative():
  """A negative made as similar as the positive raises the loss of that pair: the
  loss reads every other row of the batch, not the positive alone."""
  z_a = np.eye(4, 8)
  z_b = np.eye(4, 8)
  base = float(self_supervised.nt_xent(z_a, z_b, 0.5))
  z_b_close = z_b.copy()
  z_b_close[1] = z_a[0]              # example 1's second view now looks like example 0
  assert float(self_supervised.nt_xent(z_a, z_b_close, 0.5)) > base + 0.1


def test_vicreg_of_collapsed_projections_is_the_variance_hinge():
  """Identical, constant projections: no invariance or covariance cost, and each view
  pays the full variance hinge, 1 - sqrt(1e-4) per dimension, times its weight."""
  z = jnp.ones((8, 4))
  expected = 25.0 * 2 * (1.0 - math.sqrt(1e-4))
  assert float(self_supervised.vicreg(z, z)) == pytest.approx(expected, rel=1e-5)


def test_vicreg_is_near_zero_for_agreeing_whitened_views():
  """Views that agree, with unit-variance uncorrelated dimensions, leave nothing to
  pay; correlating two dimensions costs covariance."""
  rng = np.random.default_rng(0)
  z = rng.normal(size=(4096, 4)) * 1.2
  assert float(self_supervised.vicreg(z, z)) < 0.01
  correlated = z.copy()
  correlated[:, 1] = correlated[:, 0]
  assert float(self_supervised.vicreg(correlated, correlated)) > 0.5


def test_views_are_segments_of_the_ecg_drawn_by_example_not_by_device():
  """Without scaling, noise or masking a view is a stretch of the ECG; the two views of
  one ECG differ; the same key and index give the same views on one device and on a
  batch split over 8."""
  objective = Objective(amplitude_scale=0.0, noise_mv=0.0, mask_fraction=0.0)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(16, 300, 3)).astype(np.float32)
  index = jnp.arange(16)
  a, b = jax.jit(lambda x: self_supervised.views(x, jax.random.key(1), index, objective,
                                                 100))(x)
  a, b = np.asarray(a), np.asarray(b)
  for k in range(16):
    for view in (a[k], b[k]):
      starts = [s for s in range(201) if np.array_equal(x[k, s:s + 100], view)]
      assert starts, k
  assert not np.array_equal(a, b)

  full = Objective()
  mesh = mesh_lib.make_data_mesh()
  sharded = jax.device_put(x, mesh_lib.batch_sharded(mesh))
  index_sharded = jax.device_put(np.arange(16), mesh_lib.batch_sharded(mesh))
  one = jax.jit(lambda x: self_supervised.views(x, jax.random.key(2), jnp.arange(16), full,
                                                100))(x)
  eight = jax.jit(lambda x, i: self_supervised.views(x, jax.random.key(2), i, full, 100))(
      sharded, index_sharded)
  for u, v in zip(one, eight):        # the same draws; XLA may fuse the arithmetic apart
    np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-5, atol=1e-6)


def test_views_mask_one_stretch_and_add_noise_of_the_asked_size():
  objective = Objective(amplitude_scale=0.0, noise_mv=0.0, mask_fraction=0.5)
  x = np.ones((64, 200, 2), np.float32)
  a, _ = self_supervised.views(x, jax.random.key(0), jnp.arange(64), objective, 200)
  zeros = (np.asarray(a) == 0).all(axis=-1)          # masked time steps, all leads at once
  assert zeros.any() and zeros.sum(axis=1).max() <= 100
  for row in zeros:                                  # one contiguous stretch
    where = np.flatnonzero(row)
    assert len(where) == 0 or where[-1] - where[0] + 1 == len(where)
  noisy = Objective(amplitude_scale=0.0, noise_mv=0.1, mask_fraction=0.0)
  a, _ = self_supervised.views(np.zeros((64, 200, 2), np.float32), jax.random.key(0),
                               jnp.arange(64), noisy, 200)
  assert float(np.std(np.asarray(a))) == pytest.approx(0.1, rel=0.05)


def test_rank_me_and_spread_see_collapse():
  rng = np.random.default_rng(0)
  spread_out = rng.normal(size=(500, 16))
  low_rank = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 16))
  collapsed = np.ones((500, 16)) + 1e-6 * rng.normal(size=(500, 16))
  assert representation.rank_me(spread_out) > 14
  assert 1.5 < representation.rank_me(low_rank) < 2.5
  assert representation.rank_me(collapsed) < 1.1
  assert representation.spread(spread_out) > 0.8
  assert representation.spread(collapsed) < 1e-3


def test_knn_probe_never_takes_a_neighbour_of_the_same_patient():
  """Two ECGs of one positive patient sit on top of each other; every other ECG is a
  negative. Leave-one-patient-out, a positive's neighbours are other patients'."""
  z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [0.2, 1.0]])
  labels = np.array([[1.0], [1.0], [0.0], [0.0], [0.0]])
  patients = np.array([7, 7, 1, 2, 3])
  scores = representation.knn_scores(z, labels, patients, k=1)
  assert scores[0, 0] == 0.0 and scores[1, 0] == 0.0
  # Two patients, not one: the positives' neighbours are each other.
  scores = representation.knn_scores(z, labels, np.array([7, 8, 1, 2, 3]), k=1)
  assert scores[0, 0] == 1.0 and scores[1, 0] == 1.0


def test_knn_probe_leaves_unannotated_neighbours_out():
  z = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])
  labels = np.array([[1.0], [np.nan], [1.0], [0.0]])
  scores = representation.knn_scores(z, labels, np.arange(4), k=2)
  assert scores[0, 0] == 1.0          # neighbours 1 (not annotated) and 2 (positive)


def test_config_variants_and_refusals():
  for arg in ssl_config.VARIANTS:
    config = ssl_config.get_config(arg)
    spec = validate_self_supervised(config, device_count=1)
    assert spec.objective.name == arg.split(",")[0]
  with pytest.raises(ValueError, match="unknown argument 'simclr'"):
    ssl_config.get_config("simclr")
  config = ssl_config.get_config()
  config.labels = "all"
  with pytest.raises(ConfigError, match="config.labels='all'.*reads no label"):
    validate_self_supervised(config, device_count=1)
  config = ssl_config.get_config()
  config.dataset.crop_s = 2.5
  with pytest.raises(ConfigError, match="crop_s=2.5.*view_s"):
    validate_self_supervised(config, device_count=1)
  for field, value, message in (("objective", "cpc", "objective must be one of"),
                                ("temperature", 0.0, "temperature=0.0"),
                                ("mask_fraction", 1.0, "mask_fraction=1.0"),
                                ("projector", (), "projector=")):
    config = ssl_config.get_config()
    config.self_supervised[field] = value
    with pytest.raises(ConfigError, match=message):
      validate_self_supervised(config, device_count=1)
  config = ssl_config.get_config()
  config.self_supervised.view_s = 20.0
  with pytest.raises(ValueError, match="view_s=20.0: 2000 samples, but the dataset holds 1000"):
    Objective(view_s=20.0).view_samples(100.0, 1000)
