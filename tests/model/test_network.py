"""Tests for resnet/model.py: parameter facts, Paddle compatibility, forward_features,
shortcut modes, ablations, CIFAR depths, bad input and hook hygiene.

Everything is seeded and runs on small inputs (64×64 or smaller) except where a fact
needs more; nothing downloads (Paddle reference models are built with pretrained=False).
"""

from __future__ import annotations

import math

import numpy as np
import paddle
import pytest
from paddle import nn

from resnet.inference import anatomy
from resnet.model import network
from resnet.model import (
    CIFAR_DEPTHS,
    IMAGENET_DEPTHS,
    STAGES,
    count_parameters,
    resnet,
)

ATOL = 1e-5


def _seed(seed: int = 0) -> None:
    paddle.seed(seed)
    np.random.seed(seed)


def _randn(*shape: int, seed: int = 0) -> paddle.Tensor:
    rng = np.random.default_rng(seed)
    return paddle.to_tensor(rng.standard_normal(shape).astype("float32"))


def _np(t: paddle.Tensor) -> np.ndarray:
    return t.numpy()


def _perturb_bn(model: nn.Layer, seed: int = 1) -> None:
    """Give every BatchNorm non-trivial running stats and affine params (eval uses them)."""
    rng = np.random.default_rng(seed)
    for layer in model.sublayers():
        if isinstance(layer, nn.BatchNorm2D):
            c = int(layer.weight.shape[0])
            layer._mean.set_value(rng.normal(0.0, 0.2, c).astype("float32"))
            layer._variance.set_value(rng.uniform(0.5, 2.0, c).astype("float32"))
            layer.weight.set_value(rng.uniform(0.5, 1.5, c).astype("float32"))
            layer.bias.set_value(rng.normal(0.0, 0.1, c).astype("float32"))


# ---------------------------------------------------------------------------------
# Parameter counts (DESIGN.md facts)
# ---------------------------------------------------------------------------------

TRAINABLE = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


@pytest.mark.parametrize("depth", IMAGENET_DEPTHS)
def test_trainable_parameter_count_matches_paper_facts(depth):
    assert count_parameters(resnet(depth)) == TRAINABLE[depth]


def test_resnet50_parameter_count_with_bn_running_stats():
    model = resnet(50)
    assert count_parameters(model, trainable_only=False) == 25_610_152
    # the difference is exactly the BN running mean + variance
    bn_stats = sum(
        2 * int(layer.weight.shape[0]) for layer in model.sublayers() if isinstance(layer, nn.BatchNorm2D)
    )
    assert 25_610_152 - 25_557_032 == bn_stats


# ---------------------------------------------------------------------------------
# Compatibility with paddle.vision.models
# ---------------------------------------------------------------------------------


def _reference(depth: int) -> nn.Layer:
    from paddle.vision import models

    _seed(depth)
    return getattr(models, f"resnet{depth}")(pretrained=False)


@pytest.mark.parametrize("depth", [18, 50])
def test_official_state_dict_loads_unchanged_and_gives_same_logits(depth):
    ref = _reference(depth)
    _perturb_bn(ref, seed=depth)
    ref.eval()
    ref_state = ref.state_dict()

    _seed(1000 + depth)  # different init, so equal logits can only come from the load
    ours = resnet(depth)
    ours_state = ours.state_dict()

    # same key sets, both ways, and same shapes
    assert set(ref_state) - set(ours_state) == set()
    assert set(ours_state) - set(ref_state) == set()
    for key, value in ref_state.items():
        assert list(ours_state[key].shape) == list(value.shape), key

    x = _randn(2, 3, 64, 64, seed=7)
    ours.eval()
    before = _np(ours(x))

    missing, unexpected = ours.set_state_dict(ref_state)
    assert list(missing) == []
    assert list(unexpected) == []

    with paddle.no_grad():
        expected = _np(ref(x))
        got = _np(ours(x))
    assert got.shape == (2, 1000)
    assert np.abs(got - expected).max() < 1e-4
    # the load really changed something (the BN perturbation is significant)
    assert np.abs(before - expected).max() > 1e-3


def test_set_state_dict_reports_missing_and_unexpected_keys():
    """The empty lists above are meaningful: a renamed key is reported both ways."""
    model = resnet(18)
    state = dict(model.state_dict())
    state["fc.renamed"] = state.pop("fc.bias")
    missing, unexpected = model.set_state_dict(state)
    assert "fc.bias" in list(missing)
    assert "fc.renamed" in list(unexpected)


def test_bn_perturbation_changes_eval_logits():
    """Eval-mode logits depend on the running stats, so the logits test exercises them."""
    _seed(3)
    model = resnet(18)
    model.eval()
    x = _randn(1, 3, 64, 64, seed=3)
    with paddle.no_grad():
        a = _np(model(x))
        _perturb_bn(model, seed=3)
        b = _np(model(x))
    assert np.abs(a - b).max() > 1e-3


# ---------------------------------------------------------------------------------
# forward_features
# ---------------------------------------------------------------------------------

RESNET50_BLOCKS = [f"layer{s + 1}.{j}" for s, n in enumerate((3, 4, 6, 3)) for j in range(n)]


@pytest.fixture(scope="module")
def r50():
    _seed(50)
    model = resnet(50)
    _perturb_bn(model, seed=50)
    model.eval()
    return model


@pytest.fixture(scope="module")
def r50_input():
    return _randn(2, 3, 64, 64, seed=11)


@pytest.fixture(scope="module")
def r50_features(r50, r50_input):
    with paddle.no_grad():
        return r50.forward_features(r50_input)


def test_forward_features_one_entry_per_block_in_order(r50_features):
    names = [b.name for b in r50_features.blocks]
    assert len(names) == 16
    assert names == RESNET50_BLOCKS


def test_forward_features_shapes(r50_features):
    # 64 → 32 (stem conv) → 16 (max-pool), then stages at 16, 8, 4, 2
    assert list(r50_features.stem.shape) == [2, 64, 16, 16]
    expected_out = {1: [2, 256, 16, 16], 2: [2, 512, 8, 8], 3: [2, 1024, 4, 4], 4: [2, 2048, 2, 2]}
    for block in r50_features.blocks:
        assert list(block.out.shape) == expected_out[block.stage], block.name
        assert list(block.residual.shape) == expected_out[block.stage], block.name
        assert list(block.shortcut.shape) == expected_out[block.stage], block.name
        assert len(block.mid) == 3
        np.testing.assert_array_equal(_np(block.mid[-1]), _np(block.residual))
    assert list(r50_features.pooled.shape) == [2, 2048]
    assert list(r50_features.logits.shape) == [2, 1000]


def test_forward_features_chain_and_block_equation(r50_features):
    blocks = r50_features.blocks
    np.testing.assert_array_equal(_np(blocks[0].x), _np(r50_features.stem))
    for prev, block in zip(blocks, blocks[1:]):
        np.testing.assert_array_equal(_np(block.x), _np(prev.out))
    for block in blocks:
        expected = np.maximum(_np(block.residual) + _np(block.shortcut), 0.0)
        np.testing.assert_allclose(_np(block.out), expected, atol=ATOL)
        # neither term is trivially zero in the identity net
        assert np.abs(_np(block.residual)).max() > 0
        assert np.abs(_np(block.shortcut)).max() > 0


def test_forward_features_identity_shortcut_is_the_input(r50, r50_features):
    for block in r50_features.blocks:
        layer = dict(r50.named_blocks())[block.name]
        if layer.downsample is None:
            np.testing.assert_array_equal(_np(block.shortcut), _np(block.x))
        else:
            with paddle.no_grad():
                np.testing.assert_allclose(_np(block.shortcut), _np(layer.downsample(block.x)), atol=ATOL)
    projected = [name for name, layer in r50.named_blocks() if layer.downsample is not None]
    assert projected == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]


def test_forward_features_logits_equal_forward(r50, r50_input, r50_features):
    with paddle.no_grad():
        logits = _np(r50(r50_input))
    np.testing.assert_allclose(_np(r50_features.logits), logits, atol=ATOL)
    assert np.abs(logits).max() > 0


# ---------------------------------------------------------------------------------
# Shortcut modes
# ---------------------------------------------------------------------------------


def test_shortcut_none_is_a_plain_net():
    _seed(5)
    model = resnet(50, shortcut="none")
    names = [name for name, _ in model.named_parameters()]
    assert not any("downsample" in name for name in names)
    assert all(block.downsample is None for _, block in model.named_blocks())
    assert count_parameters(model) < TRAINABLE[50]
    model.eval()
    with paddle.no_grad():
        feats = model.forward_features(_randn(1, 3, 64, 64, seed=5))
    for block in feats.blocks:
        assert not np.any(_np(block.shortcut)), block.name
        np.testing.assert_allclose(_np(block.out), np.maximum(_np(block.residual), 0.0), atol=ATOL)


def _identity_and_scaled(scale: float):
    _seed(21)
    identity = resnet(50, num_classes=10)
    _perturb_bn(identity, seed=21)
    scaled = resnet(50, num_classes=10, shortcut="scaled", scale=scale)
    missing, unexpected = scaled.set_state_dict(identity.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    identity.eval()
    scaled.eval()
    return dict(identity.named_blocks()), dict(scaled.named_blocks())


@pytest.mark.parametrize("scale", [2.0, 0.5])
def test_scaled_shortcut_on_identity_block(scale):
    ident, scaled = _identity_and_scaled(scale)
    x = paddle.nn.functional.relu(_randn(2, 256, 16, 16, seed=22))  # layer1.1 input
    with paddle.no_grad():
        out_i, res_i, sc_i, _ = ident["layer1.1"].forward_trace(x)
        out_s, res_s, sc_s, _ = scaled["layer1.1"].forward_trace(x)
    assert ident["layer1.1"].downsample is None
    np.testing.assert_allclose(_np(res_s), _np(res_i), atol=ATOL)  # F(x) is unchanged
    np.testing.assert_allclose(_np(sc_s), scale * _np(sc_i), atol=ATOL)
    np.testing.assert_allclose(_np(sc_s), scale * _np(x), atol=ATOL)
    np.testing.assert_allclose(_np(out_s), np.maximum(_np(res_i) + scale * _np(x), 0.0), atol=ATOL)
    assert np.abs(_np(out_s) - _np(out_i)).max() > 1e-3


def test_scaled_shortcut_scales_projection_by_default():
    ident, scaled = _identity_and_scaled(2.0)
    x = paddle.nn.functional.relu(_randn(2, 256, 16, 16, seed=23))  # layer2.0 input
    with paddle.no_grad():
        sc_i = ident["layer2.0"].forward_trace(x)[2]
        sc_s = scaled["layer2.0"].forward_trace(x)[2]
    assert scaled["layer2.0"].downsample is not None
    assert scaled["layer2.0"].scale == 2.0
    np.testing.assert_allclose(_np(sc_s), 2.0 * _np(sc_i), atol=ATOL)


def test_identity_mode_ignores_scale():
    model = resnet(18, shortcut="identity", scale=3.0)
    assert all(block.scale == 1.0 for _, block in model.named_blocks())


# ---------------------------------------------------------------------------------
# Ablations in forward_features
# ---------------------------------------------------------------------------------


def test_drop_blocks_keeps_only_the_shortcut(r50, r50_input, r50_features):
    with paddle.no_grad():
        dropped = r50.forward_features(r50_input, drop_blocks={"layer2.1"})
    names = [b.name for b in dropped.blocks]
    i = names.index("layer2.1")
    # blocks before it are untouched
    for a, b in zip(dropped.blocks[:i], r50_features.blocks[:i]):
        np.testing.assert_allclose(_np(a.out), _np(b.out), atol=ATOL)
    block = dropped.blocks[i]
    assert not np.any(_np(block.residual))
    # x is a ReLU output (non-negative), so ReLU(0 + x) == x
    np.testing.assert_allclose(_np(block.out), _np(block.x), atol=ATOL)
    np.testing.assert_allclose(_np(block.shortcut), _np(block.x), atol=ATOL)
    # later blocks are computed normally on the changed input
    for later in dropped.blocks[i + 1:]:
        assert np.any(_np(later.residual))
    assert np.abs(_np(dropped.logits) - _np(r50_features.logits)).max() > 1e-4


def test_shortcuts_off_removes_every_shortcut(r50, r50_input, r50_features):
    with paddle.no_grad():
        off = r50.forward_features(r50_input, shortcuts_off=True)
    assert len(off.blocks) == 16
    for block in off.blocks:
        assert not np.any(_np(block.shortcut)), block.name
        np.testing.assert_allclose(_np(block.out), np.maximum(_np(block.residual), 0.0), atol=ATOL)
    assert np.abs(_np(off.logits) - _np(r50_features.logits)).max() > 1e-4


def test_shortcuts_off_equals_plain_net_with_same_weights(r50, r50_input):
    plain = resnet(50, shortcut="none")
    missing, unexpected = plain.set_state_dict(r50.state_dict())
    assert list(missing) == []
    assert unexpected and all("downsample" in k for k in unexpected)
    plain.eval()
    with paddle.no_grad():
        off = r50.forward_features(r50_input, shortcuts_off=True).logits
        expected = plain(r50_input)
    np.testing.assert_allclose(_np(off), _np(expected), atol=1e-4)


def test_ablations_do_not_touch_the_model(r50, r50_input, r50_features):
    with paddle.no_grad():
        r50.forward_features(r50_input, drop_blocks={"layer1.0", "layer4.2"}, shortcuts_off=True)
        again = r50.forward_features(r50_input)
    np.testing.assert_allclose(_np(again.logits), _np(r50_features.logits), atol=ATOL)


# ---------------------------------------------------------------------------------
# CIFAR depths and the small stem
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", CIFAR_DEPTHS)
def test_cifar_depths_have_3n_blocks(depth):
    n = (depth - 2) // 6
    model = resnet(depth, num_classes=10)
    assert model.config.stem == "small" and model.maxpool is None
    assert len(model.stages()) == 3
    assert not hasattr(model, "layer4") or getattr(model, "layer4", None) is None
    assert [len(stage) for stage in model.stages()] == [n, n, n]
    names = [name for name, _ in model.named_blocks()]
    assert len(names) == 3 * n
    assert names[0] == "layer1.0" and names[-1] == f"layer3.{n - 1}"
    # 2 convs per block + stem + fc = depth weighted layers
    convs = [l for l in model.sublayers() if isinstance(l, nn.Conv2D) and l.weight.shape[-1] == 3]
    assert len(convs) + 1 == depth
    assert [int(s[0].conv1.weight.shape[0]) for s in model.stages()] == [16, 32, 64]


def test_cifar_forward_shapes():
    _seed(20)
    model = resnet(20, num_classes=10)
    model.eval()
    with paddle.no_grad():
        feats = model.forward_features(_randn(2, 3, 32, 32, seed=20))
    assert list(feats.logits.shape) == [2, 10]
    assert list(feats.stem.shape) == [2, 16, 32, 32]
    outs = {b.name: list(b.out.shape) for b in feats.blocks}
    assert outs["layer1.2"] == [2, 16, 32, 32]
    assert outs["layer2.0"] == [2, 32, 16, 16]
    assert outs["layer3.2"] == [2, 64, 8, 8]


def test_small_stem_on_resnet50_topology_with_one_channel():
    _seed(8)
    model = resnet(50, num_classes=10, in_channels=1, stem="small")
    assert model.maxpool is None
    assert list(model.conv1.weight.shape) == [64, 1, 3, 3]
    assert len(model.named_blocks()) == 16
    model.eval()
    x = _randn(3, 1, 8, 8, seed=8)
    with paddle.no_grad():
        feats = model.forward_features(x)
        logits = model(x)
    assert list(feats.stem.shape) == [3, 64, 8, 8]
    assert list(feats.blocks[-1].out.shape) == [3, 2048, 1, 1]
    assert list(logits.shape) == [3, 10]
    assert np.all(np.isfinite(_np(logits)))
    np.testing.assert_allclose(_np(feats.logits), _np(logits), atol=ATOL)


# ---------------------------------------------------------------------------------
# Stage starts: option A (subsample + zero-pad) and option B (1×1 conv + BN)
# ---------------------------------------------------------------------------------

# He et al. 2015 Sec. 4.2: "we use identity shortcuts in all cases (i.e., option A), so our
# residual models have exactly the same depth, width, and number of parameters as the
# plain counterparts"; Table 6 gives 0.27 M, 0.85 M and 1.7 M. Counted for 10 classes and
# 3 input channels (CIFAR-10).
CIFAR_PARAMS = {20: 269_722, 56: 853_018, 110: 1_727_962}
PAPER_MILLIONS = {20: (0.27, 2), 56: (0.85, 2), 110: (1.7, 1)}  # (value, decimals as printed)


@pytest.mark.parametrize("depth", sorted(CIFAR_PARAMS))
def test_cifar_resnets_have_the_parameters_of_their_plain_twins(depth):
    residual = resnet(depth, num_classes=10)
    plain = resnet(depth, num_classes=10, shortcut="none")
    assert residual.config.downsample == "pad"
    assert count_parameters(residual) == count_parameters(plain) == CIFAR_PARAMS[depth]
    value, decimals = PAPER_MILLIONS[depth]
    assert round(CIFAR_PARAMS[depth] / 1e6, decimals) == value
    # the same tensors by name and shape, running statistics included: no downsample.* anywhere
    shapes = {k: v.shape for k, v in residual.state_dict().items()}
    assert shapes == {k: v.shape for k, v in plain.state_dict().items()}
    assert not any("downsample" in k for k in shapes)


def test_option_b_is_still_buildable_for_cifar_depths():
    model = resnet(20, num_classes=10, downsample="conv")
    kinds = {name: block.shortcut_kind for name, block in model.named_blocks()}
    assert [n for n, k in kinds.items() if k == "projection"] == ["layer2.0", "layer3.0"]
    # each projection: a 1×1 conv (C_in·C_out weights) + BN (γ, β): 16·32 + 64 and 32·64 + 128
    assert count_parameters(model) == CIFAR_PARAMS[20] + (16 * 32 + 64) + (32 * 64 + 128)
    assert "layer2.0.downsample.0.weight" in model.state_dict()


def test_downsample_defaults_by_depth_and_is_validated():
    assert resnet(50).config.downsample == "conv"  # paddle.vision's projections (official weights load)
    assert resnet(20).config.downsample == "pad"
    assert network.ResNetConfig(depth=56, stem="small").downsample == "pad"
    assert network.ResNetConfig(depth=18).downsample == "conv"
    for bad in ("zero", "A", ""):
        with pytest.raises(ValueError) as info:
            resnet(20, downsample=bad)
        assert "pad" in str(info.value) and "conv" in str(info.value)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_option_a_shortcut_subsamples_and_zero_pads_then_scales(scale):
    _seed(31)
    model = resnet(20, num_classes=10, shortcut="scaled", scale=scale)
    model.eval()
    block = dict(model.named_blocks())["layer2.0"]
    assert block.shortcut_kind == "pad" and block.downsample is None and block.scale == scale
    x = paddle.nn.functional.relu(_randn(2, 16, 9, 9, seed=31))  # odd size: ⌈9/2⌉ = 5, as the stride-2 conv
    with paddle.no_grad():
        out, residual, shortcut, _ = block.forward_trace(x)
    assert list(shortcut.shape) == list(residual.shape) == [2, 32, 5, 5]
    expected = np.zeros((2, 32, 5, 5), dtype="float32")
    expected[:, :16] = scale * _np(x)[:, :, ::2, ::2]  # channel c < 16 carries x's channel c
    np.testing.assert_allclose(_np(shortcut), expected, atol=ATOL)  # channels 16..31: zeros
    np.testing.assert_allclose(_np(out), np.maximum(_np(residual) + expected, 0.0), atol=ATOL)


def test_option_a_on_an_imagenet_topology_pads_any_channel_count():
    """ResNet-50's layer1.0 goes 64 → 256 channels at stride 1: 192 zero channels."""
    _seed(32)
    model = resnet(50, num_classes=10, width=8, stem="small", downsample="pad")
    model.eval()
    kinds = [block.shortcut_kind for _, block in model.named_blocks()]
    assert kinds == ["pad", "identity", "identity", "pad"] + ["identity"] * 3 + ["pad"] + ["identity"] * 5 + ["pad", "identity", "identity"]
    with paddle.no_grad():
        feats = model.forward_features(_randn(1, 3, 8, 8, seed=32))
    first = feats.blocks[0]
    assert list(first.shortcut.shape) == [1, 32, 8, 8]
    np.testing.assert_array_equal(_np(first.shortcut)[:, :8], _np(first.x))
    assert not _np(first.shortcut)[:, 8:].any()


@pytest.mark.parametrize("width", [8, 32])
def test_width_scales_every_stage(width):
    model = resnet(18, width=width)
    assert [int(s[0].conv1.weight.shape[0]) for s in model.stages()] == [width * 2**i for i in range(4)]
    assert int(model.fc.weight.shape[0]) == width * 8


# ---------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 19, 200, -50])
def test_unknown_depth_names_allowed_values(depth):
    with pytest.raises(ValueError) as info:
        resnet(depth)
    message = str(info.value)
    for allowed in STAGES:
        assert str(allowed) in message
    assert repr(depth) in message


@pytest.mark.parametrize("width", [0, -1, -64])
def test_non_positive_width(width):
    with pytest.raises(ValueError, match=r"width must be a positive integer"):
        resnet(18, width=width)


@pytest.mark.parametrize("scale", [math.nan, math.inf, -math.inf])
def test_non_finite_scale(scale):
    with pytest.raises(ValueError, match=r"finite"):
        resnet(18, shortcut="scaled", scale=scale)


def test_non_numeric_scale():
    with pytest.raises(ValueError, match=r"finite"):
        resnet(18, shortcut="scaled", scale="2")


@pytest.mark.parametrize("shortcut", ["skip", "Identity", "", None])
def test_unknown_shortcut_mode(shortcut):
    with pytest.raises(ValueError) as info:
        resnet(18, shortcut=shortcut)
    message = str(info.value)
    assert "identity" in message and "none" in message and "scaled" in message


@pytest.mark.parametrize("stem", ["tiny", "cifar", "ImageNet"])
def test_unknown_stem(stem):
    with pytest.raises(ValueError) as info:
        resnet(50, stem=stem)
    assert "imagenet" in str(info.value) and "small" in str(info.value)


def test_cifar_depth_rejects_imagenet_stem():
    with pytest.raises(ValueError, match="small"):
        resnet(20, stem="imagenet")


# ---------------------------------------------------------------------------------
# No hooks left on the model
# ---------------------------------------------------------------------------------


def _hook_counts(model: nn.Layer) -> int:
    layers = [model] + list(model.sublayers())
    return sum(len(l._forward_pre_hooks) + len(l._forward_post_hooks) for l in layers)


def test_hook_probe_sees_hooks():
    """The probe below is meaningful: a registered hook shows up in it."""
    model = resnet(20)
    assert _hook_counts(model) == 0
    pre = model.layer1[0].conv1.register_forward_pre_hook(lambda layer, inputs: None)
    post = model.fc.register_forward_post_hook(lambda layer, inputs, output: None)
    assert _hook_counts(model) == 2
    pre.remove()
    post.remove()
    assert _hook_counts(model) == 0


def test_forward_features_and_traced_layers_leave_no_hooks():
    _seed(9)
    model = resnet(18)
    model.eval()
    x = _randn(1, 3, 32, 32, seed=9)
    with paddle.no_grad():
        model.forward_features(x)
    assert _hook_counts(model) == 0
    seen = anatomy.traced_layers(model, x)
    assert "layer4.1.conv2" in seen  # the hooks did run
    assert _hook_counts(model) == 0


def test_traced_layers_removes_hooks_when_forward_fails():
    model = resnet(18)
    model.eval()
    with pytest.raises(Exception):
        anatomy.traced_layers(model, _randn(1, 5, 32, 32))  # wrong channel count
    assert _hook_counts(model) == 0


def test_drop_blocks_rejects_unknown_names(r50, r50_input):
    with pytest.raises(ValueError, match="layer2.9"):
        r50.forward_features(r50_input, drop_blocks={"layer2.9"})


# ---------------------------------------------------------------------------------
# Helpers: block names and stages, eval_mode
# ---------------------------------------------------------------------------------


def test_block_stage_inverts_block_name(r50):
    assert network.block_name(3, 4) == "layer3.4" and network.block_stage("layer3.4") == 3
    assert [(network.block_stage(name), name) for name, _ in r50.named_blocks()][-1] == (4, "layer4.2")
    assert len({network.block_stage(name) for name, _ in resnet(110).named_blocks()}) == 3


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_every_sublayer_even_after_an_error(training):
    model = resnet(20, num_classes=10)
    model.train(training)
    model.bn1.eval()  # a layer frozen by hand keeps its own mode
    before = [layer.training for layer in model.sublayers(include_self=True)]
    with network.eval_mode(model) as inside:
        assert inside is model
        assert not any(layer.training for layer in model.sublayers(include_self=True))
    assert [layer.training for layer in model.sublayers(include_self=True)] == before
    with pytest.raises(RuntimeError), network.eval_mode(model):
        raise RuntimeError("boom")
    assert [layer.training for layer in model.sublayers(include_self=True)] == before
