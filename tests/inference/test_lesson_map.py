"""Tests for resnet/inference/lesson_map.py: every row's "ours" side, checked on a real
ResNet-50, on ``paddle.vision.models.resnet50`` and on the installed Paddle 3.

Each row of ``ROWS`` has its own ``test_row_<key>`` below (a meta-test makes sure of it).
The lesson's side (its names, its loop's rule) is the PaddlePaddle course's ResNet code,
fluid dygraph version; see the module docstring. Inputs are tiny (1 image, 8×8 maps).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect

import numpy as np
import paddle
import pytest
from paddle import nn

from resnet.i18n import LANGS, catalog
from resnet.inference.lesson_map import LESSON_DEPTHS, ROWS, block_pairs, lesson_block_name
from resnet.model import BottleneckBlock, ResNet, eval_mode, resnet
from resnet.model.spec import STAGES


def _built(depth: int = 50, **kwargs) -> ResNet:
    paddle.seed(0)
    return resnet(depth, **kwargs)


@pytest.fixture(scope="module")
def net() -> ResNet:
    return _built(50)


@pytest.fixture(scope="module")
def sublayers(net) -> dict[str, nn.Layer]:
    return dict(net.named_sublayers())


@pytest.fixture(scope="module")
def vision() -> nn.Layer:
    from paddle.vision import models

    paddle.seed(0)
    return models.resnet50(pretrained=False)


def _x(*shape: int, seed: int = 0) -> paddle.Tensor:
    return paddle.to_tensor(np.random.default_rng(seed).standard_normal(shape).astype("float32"))


def _trace(block, x):
    """(out, residual, shortcut, mids) of one block in eval mode, as numpy."""
    with eval_mode(block), paddle.no_grad():
        out, residual, shortcut, mids = block.forward_trace(x)
    return out.numpy(), residual.numpy(), shortcut.numpy(), [m.numpy() for m in mids]


def _resolve(name: str) -> object:
    """``paddle.nn.Conv2D`` → the object, importing the longest module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


# ---------------------------------------------------------------------------------
# The table as a whole
# ---------------------------------------------------------------------------------


def test_rows_have_unique_keys_and_both_sides():
    keys = [r.key for r in ROWS]
    assert len(keys) == len(set(keys))
    assert all(r.lesson.strip() and r.ours.strip() for r in ROWS)
    assert all("`" not in r.lesson + r.ours for r in ROWS)  # the page shows each side as one code span


def test_every_row_has_its_own_test():
    missing = [r.key for r in ROWS if not callable(globals().get(f"test_row_{r.key}"))]
    assert missing == []


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.key)
def test_row_layers_exist_in_ours_and_in_paddle_vision(row, sublayers, vision):
    theirs = dict(vision.named_sublayers())
    for path in row.layers:
        assert path in sublayers, path
        assert path in theirs, path
        # the same kind of layer: the same class, a subclass (our ConvBN is a Sequential) or a
        # block class of the same name
        ours, other = sublayers[path], theirs[path]
        assert isinstance(ours, type(other)) or type(ours).__name__ == type(other).__name__, path


@pytest.mark.parametrize("row", [r for r in ROWS if r.apis], ids=lambda r: r.key)
def test_row_apis_exist_in_paddle_3(row):
    for name in row.apis:
        assert _resolve(name) is not None, name


# ---------------------------------------------------------------------------------
# One test per row
# ---------------------------------------------------------------------------------


def test_row_framework(net):
    assert importlib.util.find_spec("paddle.fluid") is None  # fluid is gone in Paddle 3
    assert paddle.in_dynamic_mode()  # eager without any guard
    assert isinstance(net, paddle.nn.Layer)


def test_row_convbn(net, sublayers):
    params = inspect.signature(nn.Conv2D).parameters  # fluid's num_channels/num_filters/filter_size renamed
    assert {"in_channels", "out_channels", "kernel_size", "bias_attr"} <= set(params) and "act" not in params
    convs = {name: layer for name, layer in sublayers.items() if isinstance(layer, nn.Conv2D)}
    assert len(convs) == 53  # stem + 16 × 3 + 4 projections
    for name, conv in convs.items():
        assert conv.bias is None, name  # bias_attr=False
        assert conv._groups == 1, name  # the lesson's groups is always 1
        kernel = conv.weight.shape[-1]
        assert conv._padding == kernel // 2, name  # "same" padding, as the lesson's (k - 1) // 2
        if ".downsample." in name:
            continue
        bn = sublayers[name.replace("conv", "bn")]  # the sibling: layer1.0.conv2 → layer1.0.bn2
        assert isinstance(bn, nn.BatchNorm2D) and bn.weight.shape[0] == conv.weight.shape[0], name


def test_row_act(net):
    assert "act" not in inspect.signature(nn.BatchNorm2D).parameters  # the BN carries no activation
    block = net.layer1[0]
    x = _x(1, 64, 8, 8)
    _, _, _, (a, b, c) = _trace(block, x)
    assert a.min() < 0 and b.min() < 0  # bn1 and bn2 themselves are not rectified…
    with eval_mode(block), paddle.no_grad():  # …the ReLU is applied before the next conv
        b_again = block.bn2(block.conv2(block.relu(paddle.to_tensor(a)))).numpy()
    np.testing.assert_allclose(b_again, b, atol=1e-5)


def test_row_stem(net):
    assert list(net.conv1.weight.shape) == [64, 3, 7, 7] and list(net.conv1._stride) == [2, 2]
    assert isinstance(net.maxpool, nn.MaxPool2D)
    assert (net.maxpool.ksize, net.maxpool.stride, net.maxpool.padding) == (3, 2, 1)
    assert not hasattr(paddle.nn, "Pool2D")  # fluid's one pooling class with a pool_type is gone
    with eval_mode(net), paddle.no_grad():
        stem = net.forward_stem(_x(1, 3, 32, 32)).numpy()
    assert stem.shape == (1, 64, 8, 8) and stem.min() >= 0  # /2 conv, /2 pool; ReLU after bn1


def test_row_conv0(sublayers):
    assert list(sublayers["layer1.0.conv1"].weight.shape) == [64, 64, 1, 1]
    assert list(sublayers["layer2.0.conv1"].weight.shape) == [128, 256, 1, 1]  # c_in → planes
    assert list(sublayers["layer2.0.conv1"]._stride) == [1, 1]


def test_row_conv1(net, vision):
    for model in (net, vision):
        for s in (1, 2, 3, 4):
            block = getattr(model, f"layer{s}")[0]
            assert list(block.conv2.weight.shape[2:]) == [3, 3]
            assert list(block.conv2._stride) == [1 if s == 1 else 2] * 2  # the 3×3 carries the stride
            assert list(block.conv1._stride) == list(block.conv3._stride) == [1, 1]


def test_row_conv2(net):
    block = net.layer1[0]
    assert list(block.conv3.weight.shape) == [256, 64, 1, 1]  # 1×1, planes × 4
    x = _x(1, 64, 8, 8)
    out, residual, shortcut, (a, b, c) = _trace(block, x)
    with eval_mode(block), paddle.no_grad():
        f = block.bn3(block.conv3(block.relu(paddle.to_tensor(b)))).numpy()
    np.testing.assert_allclose(residual, f, atol=1e-5)  # F(x) is bn3's output itself…
    np.testing.assert_allclose(c, f, atol=1e-5)
    assert residual.min() < 0  # …with no ReLU after it


def test_row_channels_out(net):
    assert BottleneckBlock.expansion == 4
    blocks = net.named_blocks()
    for i, (name, block) in enumerate(blocks):
        assert block.c_out == 4 * block.conv1.weight.shape[0], name
        if i + 1 < len(blocks):
            assert blocks[i + 1][1].c_in == block.c_out, name  # the next block's input width


def test_row_short(net, sublayers):
    state = net.state_dict()
    assert list(state["layer2.0.downsample.0.weight"].shape) == [512, 256, 1, 1]
    assert isinstance(sublayers["layer2.0.downsample.1"], nn.BatchNorm2D)
    assert list(sublayers["layer2.0.downsample.0"]._stride) == [2, 2]
    with_downsample = sorted({k.split(".downsample")[0] for k in state if ".downsample." in k})
    assert with_downsample == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    pad = _built(50, downsample="pad")  # option A: no layer, so no state-dict entry
    assert not any(".downsample." in k for k in pad.state_dict())
    assert [b.shortcut_kind for _, b in pad.named_blocks() if b.shortcut_kind != "identity"] == ["pad"] * 4


def test_row_shortcut_true(net):
    pairs = block_pairs(net)
    blocks = dict(net.named_blocks())
    for pair in pairs:
        if pair.identity:  # the lesson's shortcut=True
            assert pair.kind == "identity" and blocks[pair.ours].downsample is None, pair
    x = _x(1, 256, 8, 8)
    _, _, shortcut, _ = _trace(net.layer1[1], x)
    np.testing.assert_array_equal(shortcut, x.numpy())  # s(x) = x


@pytest.mark.parametrize("downsample, kind", [("conv", "projection"), ("pad", "pad")])
def test_row_shortcut_false(downsample, kind):
    pairs = block_pairs(_built(50, downsample=downsample))
    assert all(p.agrees for p in pairs)
    assert [p.ours for p in pairs if not p.identity] == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    assert {p.kind for p in pairs if not p.identity} == {kind}


def test_row_modes():
    plain = _built(50, shortcut="none")
    assert {b.shortcut_kind for _, b in plain.named_blocks()} == {"off"}
    assert not any(".downsample." in k for k in plain.state_dict())
    assert not any(p.agrees for p in block_pairs(plain))  # the lesson never builds a block without shortcut
    scaled = _built(50, shortcut="scaled", scale=2.0)  # Q1's y = F(x) + 2x
    block = scaled.layer1[1]
    assert {b.scale for _, b in scaled.named_blocks()} == {2.0}
    x = _x(1, 256, 8, 8)
    _, _, shortcut, _ = _trace(block, x)
    np.testing.assert_allclose(shortcut, 2.0 * x.numpy(), rtol=1e-6)


def test_row_add(net):
    x = _x(1, 256, 8, 8)
    out, residual, shortcut, _ = _trace(net.layer2[0], x)
    total = residual + shortcut
    assert total.min() < 0  # so the ReLU after the sum does something
    np.testing.assert_allclose(out, np.maximum(total, 0.0), atol=1e-6)


def test_row_stages(net):
    assert STAGES[50] == ("bottleneck", (3, 4, 6, 3))
    assert STAGES[101][1] == (3, 4, 23, 3) and STAGES[152][1] == (3, 8, 36, 3)
    assert all(STAGES[d][0] == "bottleneck" for d in LESSON_DEPTHS)
    assert [net.config.stage_planes(i) for i in range(4)] == [64, 128, 256, 512]  # the lesson's num_filters


@pytest.mark.parametrize("depth", [50, 101])
def test_row_blocks(depth):
    model = _built(depth)
    pairs = block_pairs(model)
    counts = STAGES[depth][1]
    assert len(pairs) == sum(counts)  # 16 for ResNet-50
    expected = [
        (lesson_block_name(s, i), f"layer{s + 1}.{i}") for s, n in enumerate(counts) for i in range(n)
    ]
    assert [(p.lesson, p.ours) for p in pairs] == expected  # bb_0_0 ↔ layer1.0 … bb_3_2 ↔ layer4.2
    keys = model.state_dict().keys()
    assert all(any(k.startswith(p.ours + ".conv3.") for k in keys) for p in pairs)
    assert all(p.agrees for p in pairs)


def test_row_stride_rule(net):
    pairs = block_pairs(net)
    assert [p.stride for p in pairs] == [p.our_stride for p in pairs]
    assert [p.ours for p in pairs if p.stride == 2] == ["layer2.0", "layer3.0", "layer4.0"]


def test_row_avgpool(net):
    assert isinstance(net.avgpool, nn.AdaptiveAvgPool2D)
    with eval_mode(net), paddle.no_grad():
        for size in (32, 64):  # whatever the input size: one value per channel
            assert list(net.forward_features(_x(1, 3, size, size)).pooled.shape) == [1, 2048]


def test_row_head(net):
    assert {"in_features", "out_features", "weight_attr"} <= set(inspect.signature(nn.Linear).parameters)
    assert list(net.fc.weight.shape) == [2048, 1000]
    assert list(_built(50, num_classes=1).fc.weight.shape) == [2048, 1]  # the lesson's class_dim=1


def test_block_pairs_disagree_where_the_lesson_cannot_build():
    """ResNet-18's first block keeps 64 channels: an identity, where the lesson's loop
    (made for bottlenecks, 64 → 256) would project. Hence the page's LESSON_DEPTHS."""
    pairs = block_pairs(_built(18))
    assert [p.ours for p in pairs if not p.agrees] == ["layer1.0"]


@pytest.mark.parametrize("lang", LANGS)
def test_every_row_has_a_note_in_both_languages(lang):
    notes = {k for k in catalog(lang) if k.startswith("arch.lesson.")}
    assert notes == {f"arch.lesson.{r.key}" for r in ROWS}
