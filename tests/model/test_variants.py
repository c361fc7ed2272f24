"""The He et al. 2016 (Identity Mappings) variants: units (Fig. 4), shortcuts (Fig. 2), depths 164/1001.

Parameter counts against the paper's Table 4; every unit × shortcut builds, runs forward and
backward and takes one SGD step (tiny nets, 8×8 images, batch 2); the terms forward_features
reports are the terms added; illegal combinations are refused with a coded, translated error.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import paddle
import pytest
from paddle import nn

from resnet.i18n import LANGS, catalog
from resnet.model import count_parameters, resnet
from resnet.model.modes import shapes_only
from resnet.model.plan import UNIT_LAYOUTS, VARIANT_MESSAGES, VariantError, network_plan
from resnet.model.spec import BOTTLENECK_CIFAR_DEPTHS, SHORTCUT_VARIANTS, UNITS
from resnet.papers import FIGURES

ATOL = 1e-5


def _randn(*shape: int, seed: int = 0) -> paddle.Tensor:
    return paddle.to_tensor(np.random.default_rng(seed).standard_normal(shape).astype("float32"))


def _tiny(depth: int, **variant) -> nn.Layer:
    """A width-2 one-channel net for 8×8 images, three classes."""
    paddle.seed(0)
    return resnet(depth, width=2, num_classes=3, in_channels=1, stem="small", **variant)


def _bn_weights(model: nn.Layer) -> int:
    """BatchNorm's trainable γ and β (its running mean and variance are not trainable)."""
    bns = [layer for layer in model.sublayers() if isinstance(layer, nn.BatchNorm2D)]
    return sum(int(bn.weight.size + bn.bias.size) for bn in bns)


# ---------------------------------------------------------------------------------
# ResNet-164 and ResNet-1001 (He et al. 2016 (Identity Mappings), Table 4: 1.7 M and 10.2 M)
# ---------------------------------------------------------------------------------

# Counted for CIFAR-10 (3 input channels, 10 classes), full pre-activation, option B projections
# (the paper's code, KaimingHe/resnet-1k-layers, projects where the shape changes; ours adds a BN).
# Trainable: conv and fc weights, fc bias, BN's γ and β; BN's running statistics are not counted.
PREACT_TRAINABLE = {164: 1_704_154, 1001: 10_328_602}
PREACT_BN_WEIGHTS = {164: 25_120, 1001: 150_112}


@pytest.mark.parametrize("depth", BOTTLENECK_CIFAR_DEPTHS)
def test_preact_bottleneck_nets_have_the_papers_parameters(depth):
    with shapes_only():  # ResNet-1001 has 333 blocks: shapes are all a count needs
        model = resnet(depth, unit="full_preact", num_classes=10)
    trainable, bn = count_parameters(model), _bn_weights(model)
    assert (trainable, bn) == (PREACT_TRAINABLE[depth], PREACT_BN_WEIGHTS[depth])
    paper = FIGURES[f"he2016.params.resnet{depth}"]
    assert (paper.where, paper.unit) == ("Table 4", "M parameters")
    # The conv and fc weights alone round to the paper's figure for both nets (1.68 M, 10.18 M);
    # with BN's γ and β ResNet-1001 has 10.33 M, so the paper's 10.2 M leaves BN out.
    assert round((trainable - bn) / 1e6, 1) == paper.value
    assert round(trainable / 1e6, 1) == {164: 1.7, 1001: 10.3}[depth]


@pytest.mark.parametrize("depth", BOTTLENECK_CIFAR_DEPTHS)
def test_bottleneck_cifar_depth_is_9n_plus_2(depth):
    plan = network_plan(depth, 16, unit="full_preact")
    n = (depth - 2) // 9
    assert len(plan.blocks) == 3 * n and plan.blocks[-1].name == f"layer3.{n - 1}"
    assert 3 * len(plan.blocks) + 2 == depth  # three convs a block, the stem conv, the classifier
    assert [b.planes for b in plan.blocks if b.stride == 2 or b.name == "layer1.0"] == [16, 32, 64]
    assert plan.features == 256 and plan.final_bn == 256 and not plan.stem_bn


@pytest.mark.parametrize("depth", BOTTLENECK_CIFAR_DEPTHS)
def test_bottleneck_cifar_defaults(depth):
    with shapes_only():
        config = resnet(depth).config
    # small stem and width 16 as the CIFAR nets; projections where the shape changes, as the paper's code
    assert (config.stem, config.width, config.downsample, config.unit) == ("small", 16, "conv", "original")


# ---------------------------------------------------------------------------------
# Every unit × shortcut: builds, forward, backward, one SGD step
# ---------------------------------------------------------------------------------

COMBINATIONS = [(u, s) for u in UNITS for s in SHORTCUT_VARIANTS if not (s == "none" and u != "original")]


@pytest.mark.parametrize("depth", [20, 50])  # basic blocks with option A; bottlenecks with option B
@pytest.mark.parametrize(("unit", "shortcut"), COMBINATIONS)
def test_every_combination_trains_one_step(depth, unit, shortcut):
    model = _tiny(depth, unit=unit, shortcut=shortcut, scale=0.5, residual_scale=0.5, gate_bias=-1.0)
    x, y = _randn(2, 1, 8, 8, seed=1), paddle.to_tensor([0, 2])
    opt = paddle.optimizer.SGD(learning_rate=0.1, parameters=model.parameters())
    before = {name: p.numpy().copy() for name, p in model.named_parameters() if not p.stop_gradient}
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters() if not p.stop_gradient}
    assert [name for name, g in grads.items() if g is None] == []  # every layer is on the path to the loss
    assert all(np.isfinite(g.numpy()).all() for g in grads.values())
    opt.step()
    after = dict(model.named_parameters())
    changed = {name for name, value in before.items() if not np.array_equal(after[name].numpy(), value)}
    # (how far back the step reaches depends on the variant: BN after the addition on ResNet-50's
    # 1×1 last stage, batch 2, passes almost no gradient upstream, Fig. 6's point made extreme)
    assert {"fc.weight", "fc.bias"} <= changed
    if depth == 20:  # ResNet-20's last stage is 2×2: the step reaches the stem
        assert "conv1.weight" in changed
    assert np.isfinite(float(loss))


@pytest.mark.parametrize("unit", UNITS)
def test_forward_features_reports_the_terms_added(unit):
    model = _tiny(50, unit=unit, shortcut="shortcut_gate", residual_scale=0.5)
    model.eval()
    with paddle.no_grad():
        feats = model.forward_features(_randn(2, 1, 8, 8, seed=2))
        logits = model(_randn(2, 1, 8, 8, seed=2))
    np.testing.assert_allclose(feats.logits.numpy(), logits.numpy(), atol=ATOL)
    layout = UNIT_LAYOUTS[unit]
    for trace, (_, block) in zip(feats.blocks, model.named_blocks()):
        y = trace.residual.numpy() + trace.shortcut.numpy()
        if layout.after_add == ("relu",):
            expected = np.maximum(y, 0.0)
        elif layout.after_add == ():
            expected = y
        else:  # BN after the addition, then ReLU (eval mode: the running statistics)
            with paddle.no_grad():
                expected = np.maximum(getattr(block, f"bn{len(block.plan.convs)}")(paddle.to_tensor(y)).numpy(), 0.0)
        np.testing.assert_allclose(trace.out.numpy(), expected, atol=ATOL)
        # ρ · F(x): the residual term is half the branch's output
        with paddle.no_grad():
            x_in = block._apply(block.plan.convs[0].before, trace.x, 1) if block.plan.shared_preact else trace.x
            f = block.residual_branch(x_in, preactivated=block.plan.shared_preact)[0]
        np.testing.assert_allclose(trace.residual.numpy(), 0.5 * f.numpy(), atol=ATOL)


def test_full_preact_identity_blocks_are_x_plus_f_exactly():
    model = _tiny(20, unit="full_preact")
    model.train()  # batch statistics: as in training
    with paddle.no_grad():
        feats = model.forward_features(_randn(2, 1, 8, 8, seed=3))
    identity = [t for t, (_, b) in zip(feats.blocks, model.named_blocks()) if b.shortcut_kind == "identity"]
    assert len(identity) == 7  # ResNet-20: 9 blocks, two of them start a stage
    for trace in identity:
        np.testing.assert_array_equal(trace.shortcut.numpy(), trace.x.numpy())
        np.testing.assert_array_equal(trace.out.numpy(), trace.x.numpy() + trace.residual.numpy())
        assert (trace.out.numpy() < 0).any()  # nothing after the addition: no ReLU clips it
    assert model.bn1 is None and model.final_bn is not None


# ---------------------------------------------------------------------------------
# The shortcut variants do what Fig. 2 draws
# ---------------------------------------------------------------------------------


def _block_terms(model: nn.Layer, name: str, x: paddle.Tensor) -> tuple[np.ndarray, ...]:
    model.eval()
    with paddle.no_grad():
        out, residual, shortcut, _ = dict(model.named_blocks())[name].forward_trace(x)
    return out.numpy(), residual.numpy(), shortcut.numpy()


def test_gates_start_where_gate_bias_puts_them():
    x = nn.functional.relu(_randn(2, 2, 8, 8, seed=4))  # layer1.1 of a width-2 ResNet-20
    # b = -30: g ≈ 1e-13, so the shortcut-only gate passes x and the exclusive gate silences F
    _, residual, shortcut = _block_terms(_tiny(20, shortcut="shortcut_gate", gate_bias=-30.0), "layer1.1", x)
    np.testing.assert_allclose(shortcut, x.numpy(), atol=ATOL)
    assert np.abs(residual).max() > 1e-3
    _, residual, shortcut = _block_terms(_tiny(20, shortcut="exclusive_gate", gate_bias=-30.0), "layer1.1", x)
    np.testing.assert_allclose(shortcut, x.numpy(), atol=ATOL)
    assert np.abs(residual).max() < 1e-9
    # b = 0 and zero gate weights: g = 1/2 on both terms
    model = _tiny(20, shortcut="exclusive_gate")
    gate = dict(model.named_blocks())["layer1.1"].gate
    gate.weight.set_value(np.zeros(gate.weight.shape, dtype="float32"))
    _, _, shortcut = _block_terms(model, "layer1.1", x)
    np.testing.assert_allclose(shortcut, 0.5 * x.numpy(), atol=ATOL)
    assert list(gate.bias.shape) == [2] and not gate.bias.numpy().any()


def test_dropout_shortcut_keeps_half_in_expectation():
    model = _tiny(20, shortcut="dropout")
    x = nn.functional.relu(_randn(2, 2, 8, 8, seed=5))
    _, _, shortcut = _block_terms(model, "layer1.1", x)  # eval: 0.5 · x, Sec. 3.1's "λ with expectation 0.5"
    np.testing.assert_allclose(shortcut, 0.5 * x.numpy(), atol=ATOL)
    model.train()
    paddle.seed(5)
    with paddle.no_grad():
        kept = dict(model.named_blocks())["layer1.1"].forward_trace(x)[2].numpy()
    on = x.numpy() > 0
    assert set(np.unique(kept[on] / x.numpy()[on]).round(6)) == {0.0, 1.0}  # x or 0, not rescaled


def test_conv1x1_shortcut_on_every_block_and_nothing_else():
    model = _tiny(20, shortcut="conv1x1")
    assert {b.shortcut_kind for _, b in model.named_blocks()} == {"conv1x1"}
    state = model.state_dict()
    assert not any(".downsample." in k for k in state)
    shapes = [list(state[f"layer{s}.0.shortcut_conv.weight"].shape) for s in (1, 2, 3)]
    assert shapes == [[2, 2, 1, 1], [4, 2, 1, 1], [8, 4, 1, 1]]  # C_out, C_in: 2 → 2, 2 → 4, 4 → 8
    x = _randn(2, 2, 8, 8, seed=6)
    _, _, shortcut = _block_terms(model, "layer1.1", x)
    with paddle.no_grad():
        expected = dict(model.named_blocks())["layer1.1"].shortcut_conv(x).numpy()
    np.testing.assert_allclose(shortcut, expected, atol=ATOL)


def test_scaling_both_terms_is_table_1s_half_and_half():
    x = nn.functional.relu(_randn(2, 2, 8, 8, seed=7))
    _, residual_1, _ = _block_terms(_tiny(20), "layer1.1", x)
    out, residual, shortcut = _block_terms(_tiny(20, shortcut="scaled", scale=0.5, residual_scale=0.5), "layer1.1", x)
    np.testing.assert_allclose(residual, 0.5 * residual_1, atol=ATOL)  # same seed, same weights
    np.testing.assert_allclose(shortcut, 0.5 * x.numpy(), atol=ATOL)
    np.testing.assert_allclose(out, np.maximum(residual + shortcut, 0.0), atol=ATOL)


# ---------------------------------------------------------------------------------
# Names: the units keep paddle.vision's; the plan matches the built layers
# ---------------------------------------------------------------------------------


def test_post_activation_units_keep_the_original_state_dict():
    shapes = {u: {k: list(v.shape) for k, v in _tiny(50, unit=u).state_dict().items()} for u in UNITS}
    for unit in ("bn_after_add", "relu_before_add", "relu_preact"):
        assert shapes[unit] == shapes["original"], unit
    preact = shapes["full_preact"]
    assert set(preact) - set(shapes["original"]) == {f"final_bn.{k}" for k in ("weight", "bias", "_mean", "_variance")}
    assert not any(k.startswith("bn1.") for k in preact)
    assert preact["layer1.1.bn1.weight"] == [8]  # BN before conv1: the block's input channels


@pytest.mark.parametrize("unit", UNITS)
def test_built_layers_follow_the_plan(unit):
    model = _tiny(50, unit=unit, shortcut="exclusive_gate")
    plan = model.config.plan()
    assert [b.name for b in plan.blocks] == [name for name, _ in model.named_blocks()]
    for planned, (_, block) in zip(plan.blocks, model.named_blocks()):
        for step in planned.convs:
            weight = getattr(block, f"conv{step.index}").weight
            assert list(weight.shape) == [step.c_out, step.c_in, step.kernel, step.kernel]
            assert list(getattr(block, f"bn{step.index}").weight.shape) == [step.bn]
        assert list(block.gate.weight.shape) == [planned.c_out, planned.c_in, 1, 1]


def test_plan_imports_without_paddle():
    code = "import sys, resnet.model.plan; assert 'paddle' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------
# Refusals: coded, translated
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "code"), [
    ({"unit": "full_preact", "shortcut": "none"}, "plain_unit"),
    ({"unit": "bn_after_add", "shortcut": "scaled", "scale": 0.0}, "plain_unit"),
    ({"shortcut": "none", "residual_scale": 0.0}, "no_signal"),
])
def test_illegal_combinations_get_a_coded_translated_refusal(variant, code):
    with pytest.raises(VariantError) as info:
        resnet(20, **variant)
    error = info.value
    assert error.code == code and isinstance(error, ValueError)
    assert str(error) == VARIANT_MESSAGES[code].format(**error.values)
    for lang in LANGS:
        text = catalog(lang)[f"variant.bad.{code}"].format(**error.values)
        assert "{" not in text and (variant.get("unit", "") in text)


def test_legal_neighbours_of_the_refusals_build():
    assert resnet(20, shortcut="none").config.unit == "original"  # the plain net
    assert resnet(20, residual_scale=0.0).config.residual_scale == 0.0  # the shortcut alone still carries x


@pytest.mark.parametrize(("name", "value"), [("unit", "preact"), ("shortcut", "gate"), ("residual_scale", float("nan")),
                                             ("gate_bias", float("inf")), ("residual_scale", "1")])
def test_bad_values_name_what_is_allowed(name, value):
    with pytest.raises(ValueError, match=name if name != "shortcut" else "exclusive_gate"):
        resnet(20, **{name: value})
