import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ecgjax.configs import common
from ecgjax.models import presets, resnet1d


def make(name="small", dtype="bfloat16", labels=5):
  cfg = resnet1d.ResNet1DConfig(**{**presets.PRESETS[name], "dtype": dtype})
  return resnet1d.ResNet1D(cfg, labels, rngs=nnx.Rngs(0))


def test_forward_shapes_and_mixed_precision():
  model = make(dtype="bfloat16")
  x = jnp.ones((3, 1000, 12))
  logits = model(x, train=False)
  assert logits.shape == (3, 5) and logits.dtype == jnp.float32
  params = nnx.state(model, nnx.Param)
  assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
  stats = nnx.state(model, nnx.BatchStat)
  assert {p.dtype for p in jax.tree.leaves(stats)} == {jnp.dtype(jnp.float32)}
  # The convolutions really compute in bf16.
  hlo = jax.jit(lambda m, x: m(x)).lower(model, x).as_text()
  assert "bf16" in hlo


def test_backbone_and_head_are_separate_submodules():
  model = make()
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  assert set(params) == {"backbone", "head"}
  assert params["head"]["kernel"].shape == (model.backbone.features, 5)
  features = model.backbone(jnp.ones((2, 1000, 12)))
  assert features.shape == (2, model.backbone.features)


@pytest.mark.parametrize("name, low, high", [("hannun2019", 9e6, 12e6),
                                             ("ribeiro2020", 5e6, 8e6)])
def test_published_shapes_have_published_sizes(name, low, high):
  # Hannun 2019 reports ~10.5M parameters; Ribeiro 2020 ~6.4M (kernel 16, 64-320 channels).
  # Counted on the shapes alone (nnx.eval_shape): nothing is drawn or compiled.
  assert low < resnet1d.parameter_count(nnx.eval_shape(lambda: make(name, labels=6))) < high


def test_train_mode_uses_batch_statistics_and_dropout():
  model = make(dtype="float32")
  x = jax.random.normal(jax.random.key(0), (4, 500, 12))
  eval_a, eval_b = model(x, train=False), model(x, train=False)
  np.testing.assert_array_equal(eval_a, eval_b)
  train_a = model(x, train=True, rngs=nnx.Rngs(dropout=1))
  train_b = model(x, train=True, rngs=nnx.Rngs(dropout=2))
  assert not np.allclose(train_a, train_b)          # different dropout masks


def test_attention_pooling_weighs_time_steps_by_a_learned_score():
  cfg = resnet1d.ResNet1DConfig(**{**presets.PRESETS["small"], "dtype": "float32",
                                   "pool": "attention"})
  model = resnet1d.ResNet1D(cfg, 4, in_leads=1, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (2, 800, 1))
  mean_cfg = resnet1d.ResNet1DConfig(**{**presets.PRESETS["small"], "dtype": "float32"})
  mean_model = resnet1d.ResNet1D(mean_cfg, 4, in_leads=1, rngs=nnx.Rngs(0))
  # The same convolutions; a zero score weighs every step alike: mean pooling.
  attention = model.backbone.attention
  attention.kernel[...] = jnp.zeros_like(attention.kernel[...])
  np.testing.assert_allclose(model.backbone(x), mean_model.backbone(x), rtol=1e-5, atol=1e-6)
  # A score that singles out a feature pools towards the steps where it is high.
  attention.kernel[...] = jnp.zeros_like(attention.kernel[...]).at[0, 0].set(50.0)
  pooled, averaged = model.backbone(x)[:, 0], mean_model.backbone(x)[:, 0]
  assert bool(jnp.all(pooled > averaged))
  assert "attention" in nnx.to_pure_dict(nnx.state(model, nnx.Param))["backbone"]
  assert model(x).shape == (2, 4)


def test_invalid_model_config_names_the_problem():
  with pytest.raises(ValueError, match="same length"):
    resnet1d.ResNet1DConfig(stage_widths=(8, 16), blocks_per_stage=(1,), stage_strides=(1, 2))
  with pytest.raises(ValueError, match="dtype"):
    resnet1d.ResNet1DConfig(dtype="int8")
  with pytest.raises(ValueError, match="model.pool must be one of"):
    resnet1d.ResNet1DConfig(pool="max")


@pytest.mark.parametrize("length,channels,taps,stride", [
    (2500, 8, 9, 2), (2501, 8, 9, 2), (5000, 4, 16, 4), (313, 6, 16, 4), (10, 3, 5, 4)])
def test_space_to_depth_conv_equals_the_strided_convolution(length, channels, taps, stride):
  rng = np.random.default_rng(length)
  x = jnp.asarray(rng.normal(size=(2, length, channels)).astype(np.float32))
  w = jnp.asarray(rng.normal(size=(taps, channels, 5)).astype(np.float32))

  def native(x, w):
    return jax.lax.conv_general_dilated(x, w, (stride,), "SAME",
                                        dimension_numbers=("NWC", "WIO", "NWC"))

  np.testing.assert_allclose(resnet1d.space_to_depth_conv(x, w, stride), native(x, w),
                             rtol=1e-5, atol=1e-4)
  grads = [jax.grad(lambda x, w, f=f: (f(x, w) ** 2).sum(), argnums=(0, 1))(x, w)
           for f in (lambda x, w: resnet1d.space_to_depth_conv(x, w, stride), native)]
  for a, b in zip(*grads, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_both_strided_convolutions_give_the_same_model():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 1003, 12)).astype(np.float32))
  outputs = []
  for strided_conv in ("space_to_depth", "native"):
    cfg = resnet1d.ResNet1DConfig(**presets.PRESETS["small"], dtype="float32",
                                  strided_conv=strided_conv)
    outputs.append(resnet1d.ResNet1D(cfg, 3, 12, rngs=nnx.Rngs(0))(x))
  np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="strided_conv"):
    resnet1d.ResNet1DConfig(strided_conv="fast")


def test_auto_dtype_is_fp32_on_cpu_and_bf16_on_accelerators():
  assert resnet1d.resolve_dtype("auto", "cpu") == "float32"
  assert resnet1d.resolve_dtype("auto", "gpu") == "bfloat16"
  assert resnet1d.resolve_dtype("auto", "tpu") == "bfloat16"
  assert resnet1d.resolve_dtype("bfloat16", "cpu") == "bfloat16"    # asked for: kept
  assert resnet1d.resolve_dtype("auto") == "float32"                # these tests run on CPU
  assert common.model_config("ribeiro2020").dtype == "auto"


def _weights(model) -> dict:
  return {"/".join(map(str, path)): np.asarray(variable.get_value())
          for path, variable in nnx.to_flat_state(nnx.state(model))}


def test_weights_drawn_in_one_program_are_the_eagerly_drawn_ones():
  """models.construction.initialised draws under nnx.jit what eager construction draws,
  to the bit: a pretraining or a fine-tune's fresh head starts where it did before (a
  seed means the same network whichever way it was built)."""
  from ecgjax.models import construction, self_supervised
  cfg = resnet1d.ResNet1DConfig(**{**presets.PRESETS["small"], "dtype": "float32",
                                   "pool": "attention", "stem_extra_widths": (16,)})
  networks = {      # (class, arguments, keyword arguments)
      "classifier": (resnet1d.ResNet1D, (cfg, 5, 3), {"exclusive_groups": ((2, 3, 4),)}),
      "encoder": (self_supervised.SelfSupervisedNet, (cfg, (32, 16), 12), {}),
  }
  for kind, (network, args, kwargs) in networks.items():
    eager = _weights(network(*args, **kwargs, rngs=nnx.Rngs(params=7)))
    for seed in (7, 8):     # a second seed: the first one's compiled program, run again
      jitted = _weights(construction.initialised(network, *args, seed=seed, **kwargs))
      assert eager.keys() == jitted.keys(), kind
      if seed == 8:
        assert not np.array_equal(jitted["backbone/stem/kernel"],
                                  eager["backbone/stem/kernel"]), kind
        continue
      for path, value in eager.items():
        assert value.dtype == jitted[path].dtype, (kind, path)
        np.testing.assert_array_equal(jitted[path], value, err_msg=f"{kind} {path}")


def test_an_abstract_network_has_the_structure_and_computes_nothing():
  """models.construction.abstract: what a loaded model (predict, export, evaluation)
  builds before its weights are replaced; the same paths, shapes and dtypes as a drawn
  network, each weight only a description."""
  from ecgjax.models import construction
  cfg = resnet1d.ResNet1DConfig(**{**presets.PRESETS["small"], "dtype": "float32"})
  network = lambda: resnet1d.ResNet1D(cfg, 5, rngs=nnx.Rngs(0))  # noqa: E731
  drawn = nnx.to_flat_state(nnx.state(network()))
  shaped = nnx.to_flat_state(nnx.state(construction.abstract(network)))
  assert [path for path, _ in shaped] == [path for path, _ in drawn]
  for (path, variable), (_, described) in zip(drawn, shaped, strict=True):
    value, description = variable.get_value(), described.get_value()
    assert isinstance(description, jax.ShapeDtypeStruct), path
    assert (description.shape, description.dtype) == (value.shape, value.dtype), path


def test_build_model_refuses_a_kind_of_weights_it_does_not_make():
  """A misspelt `weights=` would otherwise draw a network meant to be loaded over."""
  from ecgjax.training import model_init
  cfg = resnet1d.ResNet1DConfig(**{**presets.PRESETS["small"], "dtype": "float32"})
  with pytest.raises(ValueError, match="weights='shapes': expected 'drawn' or 'abstract'"):
    model_init.build_model(cfg, 5, 12, seed=0, weights="shapes")
