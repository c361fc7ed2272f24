"""Tests for resnet/anatomy.py: the course's ResNet-50 numbers, the output-size formula,
Paddle's pooling rounding, the forward-pass cross-check, and MACs against the paper.

The table itself is analytic (cheap); real forward passes use batch 1–2.
"""

from __future__ import annotations

import dataclasses

import paddle
import pytest
from paddle import nn

from resnet.inference.anatomy import (
    block_summary, conv_output_size, cross_check, layer_table, model_rows, pooling_rounding,
)
from resnet.model.rows import totals
from resnet.model import count_parameters, resnet

REQUIRED_KEYS = {"name", "kind", "kernel_shape", "padding", "stride", "params", "output_shape", "macs"}


@pytest.fixture(scope="module")
def table50():
    """ResNet-50, batch 10, 224×224: the course's setting."""
    return layer_table(50, batch=10, image_size=224)


@pytest.fixture(scope="module")
def rows_by_name(table50):
    by_name = {row["name"]: row for row in table50}
    assert len(by_name) == len(table50), "row names must be unique"
    return by_name


# ---------------------------------------------------------------------------------
# The course's ResNet-50 numbers
# ---------------------------------------------------------------------------------


def test_layer_table_rows_are_dicts_with_required_keys(table50):
    assert table50 and all(isinstance(row, dict) for row in table50)
    for row in table50:
        assert REQUIRED_KEYS <= set(row), row.get("name")
    kinds = {row["kind"] for row in table50}
    assert kinds == {"conv", "bn", "maxpool", "avgpool", "fc"}
    for row in table50:
        if row["kind"] == "conv":
            assert len(row["kernel_shape"]) == 4
            assert isinstance(row["padding"], int) and isinstance(row["stride"], int)
        assert len(row["output_shape"]) in (2, 4)
        assert row["output_shape"][0] == 10


def test_stem(rows_by_name):
    conv1 = rows_by_name["conv1"]
    assert conv1["kind"] == "conv"
    assert conv1["kernel_shape"] == [64, 3, 7, 7]
    assert conv1["params"] == 9_408 == 64 * 3 * 7 * 7  # no bias
    assert conv1["output_shape"] == [10, 64, 112, 112]
    assert conv1["stride"] == 2 and conv1["padding"] == 3
    # the lesson's "3-element bias" does not exist: BN has 64 scale + 64 shift
    assert rows_by_name["bn1"]["params"] == 128
    pool = rows_by_name["maxpool"]
    assert pool["output_shape"] == [10, 64, 56, 56]
    assert pool["stride"] == 2 and pool["padding"] == 1 and pool["params"] == 0


def test_first_block_convs(rows_by_name):
    expected = {
        "layer1.0.conv1": ([64, 64, 1, 1], 4_096, 0),
        "layer1.0.conv2": ([64, 64, 3, 3], 36_864, 1),
        "layer1.0.conv3": ([256, 64, 1, 1], 16_384, 0),
        "layer1.0.downsample.0": ([256, 64, 1, 1], 16_384, 0),
    }
    for name, (kernel, params, padding) in expected.items():
        row = rows_by_name[name]
        assert row["kernel_shape"] == kernel, name
        assert row["params"] == params, name
        assert row["padding"] == padding, name
        assert row["stride"] == 1, name
    assert rows_by_name["layer1.0.conv3"]["output_shape"] == [10, 256, 56, 56]


def test_sixteen_bottleneck_blocks_in_stages_3_4_6_3(table50):
    blocks = []
    for row in table50:
        if row["name"].startswith("layer"):
            block = row["name"].rsplit(".", 1)[0].replace(".downsample", "")
            if block not in blocks:
                blocks.append(block)
    assert len(blocks) == 16
    per_stage = [sum(b.startswith(f"layer{s}.") for b in blocks) for s in (1, 2, 3, 4)]
    assert per_stage == [3, 4, 6, 3]
    for block in blocks:
        convs = [r for r in table50 if r["name"].startswith(block + ".conv")]
        assert [r["name"].rsplit(".", 1)[1] for r in convs] == ["conv1", "conv2", "conv3"], block
    # 48 conv layers inside the blocks (the lesson's "48 residual blocks")
    in_blocks = [r for r in table50 if r["kind"] == "conv" and r["name"].startswith("layer") and "downsample" not in r["name"]]
    assert len(in_blocks) == 48


def test_stride_lives_on_the_3x3(table50, rows_by_name):
    for stage in (2, 3, 4):
        block = f"layer{stage}.0"
        assert rows_by_name[f"{block}.conv2"]["stride"] == 2
        assert rows_by_name[f"{block}.conv2"]["kernel_shape"][2:] == [3, 3]
        assert rows_by_name[f"{block}.conv1"]["stride"] == 1
        assert rows_by_name[f"{block}.conv3"]["stride"] == 1
        assert rows_by_name[f"{block}.downsample.0"]["stride"] == 2
    strided = sorted(r["name"] for r in table50 if r["kind"] == "conv" and r["stride"] != 1)
    assert strided == sorted(
        ["conv1"] + [f"layer{s}.0.conv2" for s in (2, 3, 4)] + [f"layer{s}.0.downsample.0" for s in (2, 3, 4)]
    )


def test_stage_output_shapes(rows_by_name):
    assert rows_by_name["layer1.2.bn3"]["output_shape"] == [10, 256, 56, 56]
    assert rows_by_name["layer2.3.bn3"]["output_shape"] == [10, 512, 28, 28]
    assert rows_by_name["layer3.5.bn3"]["output_shape"] == [10, 1024, 14, 14]
    assert rows_by_name["layer4.2.bn3"]["output_shape"] == [10, 2048, 7, 7]
    assert rows_by_name["avgpool"]["output_shape"] == [10, 2048, 1, 1]
    assert rows_by_name["fc"]["kernel_shape"] == [2048, 1000]
    assert rows_by_name["fc"]["output_shape"] == [10, 1000]


def test_stage1_block_macs_per_batch_of_10(rows_by_name):
    gmacs = [rows_by_name[f"layer1.1.conv{i}"]["macs"] / 1e9 for i in (1, 2, 3)]
    assert [round(g, 2) for g in gmacs] == [0.51, 1.16, 0.51]
    assert rows_by_name["layer1.1.conv2"]["macs"] == 10 * 64 * 56 * 56 * 64 * 3 * 3


def test_total_macs(table50):
    per_batch = sum(row["macs"] for row in table50)
    per_image = per_batch / 10
    assert 4.05e9 <= per_image <= 4.15e9  # ≈ 4.1 G per image
    assert 40.5e9 <= per_batch <= 41.5e9  # ≈ 41 G per batch of 10
    # the lesson's 48 × one-stage-1-block estimate (~104.6 G per batch) is far off
    assert per_batch < 104.6e9 / 2
    # MACs are linear in the batch
    one = sum(row["macs"] for row in layer_table(50, batch=1, image_size=224))
    assert one * 10 == per_batch
    t = totals(model_rows(resnet(50), 10, 224))
    assert t.macs_per_batch == per_batch and t.macs_per_image == per_batch // 10


@pytest.mark.parametrize("depth", [18, 50])
def test_table_param_total_equals_model_trainable_count(depth):
    model = resnet(depth)
    rows = model_rows(model, 1, 64)
    assert sum(r.params for r in rows) == count_parameters(model)
    assert totals(rows).params == count_parameters(model)


def test_option_a_shortcut_row_has_no_parameters_and_no_macs():
    """CIFAR ResNet-20 (option A): the stage starts get a "subsample + zero-pad" row."""
    model = resnet(20, num_classes=10)
    rows = model_rows(model, 2, 32)
    shortcuts = [r for r in rows if r.kind == "shortcut"]
    assert [r.name for r in shortcuts] == ["layer2.0.shortcut", "layer3.0.shortcut"]
    for row in shortcuts:
        assert (row.role, row.params, row.macs, row.stride, row.kernel_shape) == ("subsample_pad", 0, 0, 2, None)
    assert shortcuts[0].input_shape == (2, 16, 32, 32) and shortcuts[0].output_shape == (2, 32, 16, 16)
    assert not any("downsample" in r.name for r in rows)
    plain = model_rows(resnet(20, num_classes=10, shortcut="none"), 2, 32)
    assert totals(rows).params == totals(plain).params == count_parameters(model) == 269_722
    assert totals(rows).macs_per_batch == totals(plain).macs_per_batch  # the shortcuts cost no MACs
    summary = {b["block"]: b for b in block_summary(rows)}
    assert summary["layer2.0"]["output_shape"] == [2, 32, 16, 16] and not summary["layer2.0"]["projection"]
    assert cross_check(model, rows) == []
    odd = model_rows(model, 1, 33)  # ⌈33/2⌉ = 17, as the stride-2 3×3 conv gives
    assert next(r for r in odd if r.name == "layer2.0.shortcut").output_shape == (1, 32, 17, 17)
    assert cross_check(model, odd) == []
    wrong = [dataclasses.replace(r, output_shape=(2, 32, 15, 15)) if r.name == "layer3.0.shortcut" else r for r in rows]
    assert cross_check(model, wrong) == ["layer3.0.shortcut: table says (2, 32, 15, 15), forward gave (2, 64, 8, 8)"]


def test_table_without_shortcuts_has_no_projection_rows():
    rows = layer_table(50, batch=1, image_size=64, shortcut="none")
    assert not any("downsample" in r["name"] for r in rows)
    assert sum(r["params"] for r in rows) == count_parameters(resnet(50, shortcut="none"))


# ---------------------------------------------------------------------------------
# Output-size formula and Paddle's pooling rounding
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, kernel, stride, padding, ceil_mode, expected",
    [
        (224, 7, 2, 3, False, 112),  # ImageNet stem
        (112, 3, 2, 1, False, 56),  # max-pool, floor
        (112, 3, 2, 1, True, 57),  # max-pool, ceil
        (56, 1, 1, 0, False, 56),
        (56, 3, 1, 1, False, 56),
        (56, 3, 2, 1, False, 28),
        (56, 1, 2, 0, False, 28),
        (7, 3, 2, 0, False, 3),
        (7, 3, 2, 0, True, 3),  # exact division: ceil == floor
        (8, 3, 2, 0, False, 3),
        (8, 3, 2, 0, True, 4),
        (3, 3, 1, 0, False, 1),
        (32, 3, 1, 1, False, 32),
    ],
)
def test_conv_output_size(size, kernel, stride, padding, ceil_mode, expected):
    assert conv_output_size(size, kernel, stride, padding, ceil_mode=ceil_mode) == expected


def test_conv_output_size_too_small_input():
    with pytest.raises(ValueError):
        conv_output_size(2, 3, 1, 0)


def test_conv_output_size_agrees_with_paddle():
    for size in (5, 6, 7, 8, 9, 13):
        x = paddle.zeros([1, 1, size, size])
        for kernel, stride, padding in [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (3, 2, 0), (5, 2, 2), (7, 2, 3)]:
            conv = nn.Conv2D(1, 1, kernel, stride=stride, padding=padding, bias_attr=False)
            assert conv(x).shape[-1] == conv_output_size(size, kernel, stride, padding), (size, kernel, stride, padding)
            for ceil in (False, True):
                if padding * 2 > kernel:
                    continue  # pooling requires padding <= kernel / 2
                pool = nn.MaxPool2D(kernel, stride, padding, ceil_mode=ceil)
                got = pool(x).shape[-1]
                assert got == conv_output_size(size, kernel, stride, padding, ceil_mode=ceil), (size, kernel, stride, padding, ceil)


def test_pooling_rounding_shows_paddle_floors():
    result = pooling_rounding()
    assert result == {
        "input": 112,
        "paddle_default": 56,
        "paddle_ceil_mode": 57,
        "formula_floor": 56,
        "formula_ceil": 57,
    }
    # the model's own max-pool uses the default (floor)
    assert not resnet(50).maxpool.ceil_mode


def test_pooling_rounding_other_size():
    result = pooling_rounding(56)
    assert result["paddle_default"] == result["formula_floor"] == 28
    assert result["paddle_ceil_mode"] == result["formula_ceil"] == 29


# ---------------------------------------------------------------------------------
# Cross-check against a real forward pass
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "depth, batch, image_size",
    [(18, 2, 64), (50, 1, 224), (50, 2, 64), (20, 2, 32)],
)
def test_cross_check_agrees(depth, batch, image_size):
    paddle.seed(depth)
    model = resnet(depth)
    rows = model_rows(model, batch, image_size)
    assert cross_check(model, rows) == []
    assert model.training  # cross_check restores the mode


def test_cross_check_small_stem_one_channel():
    model = resnet(50, num_classes=10, in_channels=1, stem="small")
    assert cross_check(model, model_rows(model, 1, 32)) == []


def test_cross_check_can_fail():
    paddle.seed(0)
    model = resnet(18)
    rows = model_rows(model, 1, 64)
    i = next(k for k, r in enumerate(rows) if r.name == "layer2.0.conv2")
    j = next(k for k, r in enumerate(rows) if r.name == "fc")
    bad = list(rows)
    wrong_shape = tuple(rows[i].output_shape[:-1]) + (rows[i].output_shape[-1] + 1,)
    bad[i] = dataclasses.replace(rows[i], output_shape=wrong_shape)
    bad[j] = dataclasses.replace(rows[j], macs=rows[j].macs + 1)
    problems = cross_check(model, bad)
    assert len(problems) == 2
    assert problems[0].startswith("layer2.0.conv2:") and "forward gave" in problems[0]
    assert problems[1].startswith("fc:") and "MACs" in problems[1]

    # a row missing from the table, and a row the forward pass never reaches
    k = next(k for k, r in enumerate(rows) if r.name == "layer3.1.bn1")
    missing = rows[:k] + rows[k + 1:]
    assert cross_check(model, missing) == ["layer3.1.bn1: ran in the forward pass but missing from the table"]
    ghost = list(rows) + [dataclasses.replace(rows[-1], name="layer9.0.conv1")]
    assert cross_check(model, ghost) == ["layer9.0.conv1: not reached by the forward pass"]


# ---------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [0, -1, 1025, 2.0])
def test_bad_batch(batch):
    with pytest.raises(ValueError, match=r"batch must be an integer in 1\.\.1024"):
        layer_table(18, batch=batch, image_size=64)


@pytest.mark.parametrize("image_size", [0, 8, 31, 1025, 224.0])
def test_bad_image_size(image_size):
    with pytest.raises(ValueError, match=r"image_size must be an integer in 32\.\.1024"):
        layer_table(18, batch=1, image_size=image_size)


def test_layer_table_passes_model_kwargs_and_validates_them():
    rows = layer_table(20, batch=2, image_size=32, num_classes=10)
    assert rows[-1]["name"] == "fc" and rows[-1]["output_shape"] == [2, 10]
    with pytest.raises(ValueError, match="depth must be one of"):
        layer_table(19)


# ---------------------------------------------------------------------------------
# MACs against the ResNet paper (Table 1)
# ---------------------------------------------------------------------------------

PAPER_GMACS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}
# what this implementation gives (stride on the 3×3, fc included), for the record:
# 18: 1.814  34: 3.664  50: 4.089  101: 7.801  152: 11.514


def _gmacs_per_image(depth: int) -> float:
    rows = model_rows(resnet(depth), 1, 224)
    return totals(rows).macs_per_image / 1e9


@pytest.mark.parametrize("depth", [18, 34, 101, 152])
def test_macs_within_5_percent_of_paper(depth):
    got = _gmacs_per_image(depth)
    assert abs(got - PAPER_GMACS[depth]) / PAPER_GMACS[depth] < 0.05, got


def test_resnet50_macs_vs_paper():
    """ResNet-50 is 4.09 G here, 7.6% above the paper's 3.8 G: the stride sits on the 3×3
    (Paddle/torchvision, "ResNet v1.5"), while the paper's layout strided the first 1×1 of
    stages 2–4, so that 1×1 ran at a quarter of the resolution. Undoing that difference
    analytically lands within 5% of the paper, which pins down where the gap comes from."""
    rows = model_rows(resnet(50), 1, 224)
    got = totals(rows).macs_per_image
    assert 4.05e9 <= got <= 4.15e9
    assert abs(got / 1e9 - 3.8) / 3.8 > 0.05  # the gap is real, not rounding
    strided_1x1 = sum(r.macs for r in rows if r.name in {f"layer{s}.0.conv1" for s in (2, 3, 4)})
    paper_layout = got - strided_1x1 * 3 // 4
    assert abs(paper_layout / 1e9 - 3.8) / 3.8 < 0.05, paper_layout


def test_macs_include_fc():
    rows = model_rows(resnet(50), 1, 224)
    fc = next(r for r in rows if r.name == "fc")
    assert fc.macs == 2048 * 1000
    bn_and_pool = [r for r in rows if r.kind in ("bn", "maxpool", "avgpool")]
    assert all(r.macs == 0 for r in bn_and_pool)


# ---------------------------------------------------------------------------------
# λ = 0 with shortcut="scaled" is a plain net: no projection weights, table agrees
# ---------------------------------------------------------------------------------


def test_cross_check_scaled_lambda_zero():
    model = resnet(18, shortcut="scaled", scale=0.0)
    assert cross_check(model, model_rows(model, 1, 64)) == []
    assert count_parameters(model) == count_parameters(resnet(18, shortcut="none"))
