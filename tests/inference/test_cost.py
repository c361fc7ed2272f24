"""Tests for resnet/cost.py: parameter counts and MACs of ResNet and VGG against the
published figures, the course's estimate vs the truth, per-stage and per-kernel
breakdowns, bottleneck vs basic block, the latency measurement's shape, bad input.
"""

from __future__ import annotations

import pytest

from resnet.inference import cost
from resnet.model.rows import totals

G = 1e9

PARAMS = {  # trainable, 1000 classes (DESIGN.md, torchvision/Paddle model cards)
    "ResNet-18": 11_689_512, "ResNet-34": 21_797_672, "ResNet-50": 25_557_032,
    "ResNet-101": 44_549_160, "ResNet-152": 60_192_808,
    "VGG-16": 138_357_544, "VGG-19": 143_667_240,
}


@pytest.fixture(scope="module")
def comparison():
    return {row["name"]: row for row in cost.compare_architectures()}


def test_parameter_counts_match_the_reference_models(comparison):
    assert {name: row["params"] for name, row in comparison.items()} == PARAMS


def test_macs_per_image_at_224(comparison):
    ours = {name: round(row["gmacs_per_image"], 2) for name, row in comparison.items()}
    assert ours == {
        "ResNet-18": 1.81, "ResNet-34": 3.66, "ResNet-50": 4.09, "ResNet-101": 7.8,
        "ResNet-152": 11.51, "VGG-16": 15.47, "VGG-19": 19.63,
    }
    for row in comparison.values():
        assert row["gflops_per_image"] == pytest.approx(2 * row["gmacs_per_image"])
        assert row["paper_gmacs"] == cost.PAPER_GMACS[row["name"]]


def test_stride_on_the_first_1x1_explains_the_papers_bottleneck_figures(comparison):
    for name in ("ResNet-50", "ResNet-101", "ResNet-152"):
        row = comparison[name]
        assert row["gmacs_paper_layout"] < row["gmacs_per_image"]
        assert row["gmacs_paper_layout"] == pytest.approx(row["paper_gmacs"], abs=0.07)
    for name in ("ResNet-18", "ResNet-34", "VGG-16", "VGG-19"):  # no bottlenecks: nothing moves
        assert comparison[name]["gmacs_paper_layout"] == comparison[name]["gmacs_per_image"]


def test_paper_figures_only_at_224():
    assert all(row["paper_gmacs"] is None for row in cost.compare_architectures(batch=2, image_size=112))


def test_course_estimate_vs_truth():
    course = cost.course_estimate()
    assert course["batch"] == 10 and course["block"] == "layer1.1"
    convs = [round(c["macs"] / G, 2) for c in course["block_convs"]]
    assert convs == [0.51, 1.16, 0.51]  # the course's per-conv figures, batch of 10
    assert [c["kernel"] for c in course["block_convs"]] == ["1×1", "3×3", "1×1"]
    assert course["block_macs"] / G == pytest.approx(2.18, abs=0.01)
    assert course["multiplier"] == 48
    assert course["course_total"] / G == pytest.approx(104.6, abs=0.5)
    assert course["true_total"] / G == pytest.approx(40.9, abs=0.1)
    assert course["true_total"] == 10 * totals(cost.resnet_rows(50, 1, 224)).macs_per_batch
    assert course["overestimate"] == pytest.approx(2.56, abs=0.01)
    assert course["residual_blocks"] == 16 and len(course["per_block"]) == 16
    # the course's own 1046亿 comes from its per-conv figures rounded to 0.01 G: 2.18 G × 48
    assert course["course_total_rounded"] == 104_640_000_000
    assert round(course["course_total_rounded"] / 1e8) == round(cost.COURSE_FIGURES["resnet50_multiplications"] / 1e8) == 1046
    assert course["course_total"] == 104_815_656_960  # unrounded, the same method
    # its "48 residual blocks" are ResNet-50's conv layers inside the blocks, projections not counted
    assert course["convs_in_blocks"] == 48 == course["multiplier"] == 3 * course["residual_blocks"]
    assert course["stem_bias"] == 0 and course["stem_bn_channels"] == 64  # no bias; BN's 64 scales + 64 shifts
    # later stages: twice the channels, a quarter of the pixels, the same cost per block
    stages = course["per_stage"]
    assert [s["blocks"] for s in stages] == [3, 4, 6, 3]
    assert [s["channels"] for s in stages] == [256, 512, 1024, 2048]
    assert [s["spatial"] for s in stages] == ["56×56", "28×28", "14×14", "7×7"]
    assert {s["macs_per_block"] for s in stages} == {course["block_macs"]}
    assert all(s["first_block_macs"] > s["macs_per_block"] for s in stages)  # + projection
    assert sum(b["macs"] for b in course["per_block"]) == sum(s["macs"] for s in stages)


def test_course_vs_vgg_in_flops_per_batch_of_10():
    """The course: ResNet-50 2092亿 FLOPs (2 × its 1046亿) vs VGG-16 3069亿, so only 1.47×.

    Its VGG-16 figure is VGG-16's 13 conv layers counted right (fc left out); ResNet-50's
    true figure is 2 × 40.9 G MACs ≈ 818亿 FLOPs, and VGG-16 costs 3.78× as much (all
    layers of both; VGG-16 per He et al. 2015 Sec. 4.1: 15.3 G multiply-adds).
    """
    vgg = cost.course_vs_vgg()
    assert vgg["course_ratio"] == pytest.approx(1.467, abs=0.001)
    assert round(vgg["vgg_conv_flops"] / 1e8) == round(vgg["course_vgg_flops"] / 1e8) == 3069
    batch10 = totals(cost.resnet_rows(50, 10, 224)).macs_per_batch
    assert vgg["resnet_flops"] == 2 * batch10 == 2 * cost.course_estimate()["true_total"]
    assert round(vgg["resnet_flops"] / 1e8) == 818
    assert vgg["vgg_flops"] == 2 * totals(cost.vgg_rows(16, 10, 224)).macs_per_batch
    assert vgg["ratio"] == pytest.approx(vgg["vgg_flops"] / vgg["resnet_flops"])
    assert vgg["ratio"] == pytest.approx(3.78, abs=0.01)


def test_shortcut_costs_of_resnet50():
    """Identity shortcuts cost no parameters; ResNet-50's four 1×1 conv + BN projections
    (He et al. 2015, Sec. 3.3, option B; layer1.0 too, 64 → 256 channels at 56×56) do.
    And y = F(x) + λx adds one multiply per element of every block's output: about 0.1%
    of the network's MACs (the course's "wastes a multiplication"; He et al. 2016b, Sec. 3)."""
    rows = cost.resnet_rows(50, 1, 224)
    short = cost.shortcut_costs(rows)
    assert short["projections"] == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    # conv weights C_in·C_out plus BN's scale and shift per output channel
    assert short["projection_params"] == sum(c_in * c_out + 2 * c_out for c_in, c_out in
                                             [(64, 256), (256, 512), (512, 1024), (1024, 2048)]) == 2_776_576
    assert short["projection_macs"] == 256 * 64 * 56 * 56 + 3 * 102_760_448 == 359_661_568  # ≈ 0.36 G
    # what the shortcuts add is exactly the projections: a net without shortcuts has the rest
    assert totals(cost.resnet_rows(50, 1, 224, shortcut="none")).params + short["projection_params"] == short["params"]
    outputs = 3 * 256 * 56 * 56 + 4 * 512 * 28 * 28 + 6 * 1024 * 14 * 14 + 3 * 2048 * 7 * 7
    assert short["scale_multiplies"] == outputs == 5_519_360
    assert short["macs"] == totals(rows).macs_per_batch
    assert short["scale_multiplies"] / short["macs"] == pytest.approx(0.00135, abs=0.00001)
    assert cost.shortcut_costs(cost.resnet_rows(18, 1, 224))["projections"] == ["layer2.0", "layer3.0", "layer4.0"]


def test_cost_by_resolution_splits_at_resnets_first_block():
    """ResNet's stem shrinks 224 to 56 before any block (He et al. 2015, Table 1); VGG-16
    spends 30% of its MACs above that size, and still 2.7× ResNet-50's below it."""
    split = cost.cost_by_resolution(224)
    assert split["side"] == 56
    resnet50, vgg16 = split["ResNet-50"], split["VGG-16"]
    assert resnet50["above"] == 64 * 3 * 7 * 7 * 112 * 112  # the stem conv only
    vgg_rows = cost.vgg_rows(16)
    assert vgg16["above"] == sum(r.macs for r in vgg_rows[:6] if r.kind == "conv")  # 2 convs at 224², 2 at 112²
    for part in (resnet50, vgg16):
        assert part["above"] + part["below"] == part["total"]
    assert vgg16["total"] == totals(vgg_rows).macs_per_batch and resnet50["total"] == totals(cost.resnet_rows(50)).macs_per_batch
    assert vgg16["above"] / vgg16["total"] == pytest.approx(0.30, abs=0.01)
    assert vgg16["below"] / resnet50["below"] == pytest.approx(2.71, abs=0.01)
    assert cost.cost_by_resolution(160)["side"] == 40


def test_stage_costs_add_up_and_split_by_kernel():
    rows = cost.resnet_rows(50, batch=2, image_size=224)
    stages = cost.stage_costs(rows)
    assert [s["stage"] for s in stages] == ["stem", "stage 1", "stage 2", "stage 3", "stage 4", "head"]
    assert [s["blocks"] for s in stages] == [0, 3, 4, 6, 3, 0]
    t = totals(rows)
    assert sum(s["macs"] for s in stages) == t.macs_per_batch
    assert sum(s["params"] for s in stages) == t.params
    for s in stages:
        assert sum(s["macs_by_kernel"].values()) == s["macs"]
        assert sum(s["params_by_kernel"].values()) == s["params"]
        assert s["macs_per_image"] * 2 == s["macs"]
    assert stages[0]["macs_by_kernel"]["7×7"] == stages[0]["macs"]
    assert stages[-1]["macs_by_kernel"]["fc"] == stages[-1]["macs"] == 2 * 2048 * 1000
    assert sum(cost.kernel_totals(rows).values()) == t.macs_per_batch


def test_vgg_rows_are_only_3x3_convs_and_fc():
    rows = cost.vgg_rows(16)
    assert sum(r.kind == "conv" for r in rows) == 13
    assert sum(r.kind == "fc" for r in rows) == 3
    assert set(cost.kernel_totals(rows)) >= {"3×3", "fc"}
    assert cost.kernel_totals(rows)["1×1"] == 0
    stages = cost.stage_costs(rows)
    assert [s["stage"] for s in stages] == ["stage 1", "stage 2", "stage 3", "stage 4", "stage 5", "head"]
    assert stages[-1]["params"] == 123_642_856  # the fc layers hold 89% of VGG-16's parameters
    pool = next(r for r in rows if r.kind == "avgpool")
    assert pool.output_shape == (1, 512, 7, 7)
    assert sum(r.kind == "conv" for r in cost.vgg_rows(19)) == 16


def test_bottleneck_vs_basic_block():
    bottleneck, basic_wide, basic_inner = cost.bottleneck_vs_basic(width=64, image_size=56)
    assert bottleneck["channels"] == (256, 64, 256)
    assert [c["kernel"] for c in bottleneck["convs"]] == ["1×1", "3×3", "1×1"]
    assert bottleneck["convs"][1]["kernel_shape"] == [64, 64, 3, 3]  # 3×3 on 4× fewer channels
    assert [c["params"] for c in bottleneck["convs"]] == [16_384, 36_864, 16_384]
    # one comparison, two counts (the Why and Cost pages quote both): conv weights, and with BN
    assert (bottleneck["weights"], basic_wide["weights"]) == (69_632, 1_179_648)
    assert (bottleneck["params"], basic_wide["params"]) == (70_400, 1_180_672)
    assert bottleneck["params"] - bottleneck["weights"] == 2 * (64 + 64 + 256)  # BN's scale and shift
    assert bottleneck["macs"] == 56 * 56 * (16_384 + 36_864 + 16_384)
    assert basic_wide["channels"] == (256, 256, 256)
    assert basic_wide["macs"] > 16 * bottleneck["macs"]
    assert basic_wide["params"] > 16 * bottleneck["params"]
    # the paper's Fig. 5 pairing: a 256-d bottleneck costs about a 64-d basic block
    assert basic_inner["macs"] == pytest.approx(bottleneck["macs"], rel=0.06)


def test_measure_latency_reports_progress_and_both_paths():
    steps = []
    result = cost.measure_latency(20, batch=1, image_size=32, repeats=2, warmup=1,
                                  progress=lambda fraction, step: steps.append((fraction, step)))
    assert result["backend"] == "predictor", result["notice"]
    assert len(result["dygraph_times"]) == len(result["fast_times"]) == 2
    assert result["dygraph_ms"] > 0 and result["fast_ms"] > 0
    assert result["macs"] == totals(cost.resnet_rows(20, 1, 32)).macs_per_batch
    assert result["fast_gflops"] == pytest.approx(2 * result["macs"] / (result["fast_ms"] / 1e3) / 1e9)
    assert result["speedup"] == pytest.approx(result["dygraph_ms"] / result["fast_ms"])
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [s for _, s in steps][:2] == ["build", "export"] and steps[-1][1] == "done"
    assert {s for _, s in steps} == {"build", "export", "warmup", "measure", "done"}


@pytest.mark.parametrize(
    "call",
    [
        lambda: cost.compare_architectures(batch=0),
        lambda: cost.compare_architectures(image_size=513),
        lambda: cost.course_estimate(batch=65),
        lambda: cost.course_estimate(image_size=31),
        lambda: cost.resnet_rows(51),
        lambda: cost.vgg_rows(11),
        lambda: cost.architecture_rows("AlexNet"),
        lambda: cost.bottleneck_vs_basic(width=0),
        lambda: cost.measure_latency(51),
        lambda: cost.measure_latency(18, batch=65),
        lambda: cost.measure_latency(18, image_size=16),
        lambda: cost.measure_latency(18, repeats=0),
    ],
    ids=["batch-0", "size-513", "course-batch-65", "course-size-31", "depth-51", "vgg-11", "alexnet",
         "width-0", "latency-depth", "latency-batch", "latency-size", "latency-repeats"],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
