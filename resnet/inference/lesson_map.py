"""The lesson's own code, mapped name by name to ours (issue 13 §3).

The PaddlePaddle course teaches ResNet with code in the old ``paddle.fluid.dygraph`` API:
a ``ConvBNLayer`` (bias-free conv + a BatchNorm that carries the activation), a
``BottleneckBlock`` with sublayers ``conv0``/``conv1``/``conv2`` and, when its flag
``shortcut`` is False, ``short``; the net adds its blocks in a loop as ``bb_<stage>_<i>``.
Only names and structure are recorded here, in our words; the lesson's code is not copied.

Each row says what the lesson calls a thing, what ``resnet/model/network.py`` calls it
(code notation, the same in every language) and, under the catalog key
``arch.lesson.<key>``, what changed from fluid to Paddle 3 and why. ``layers`` and ``apis``
are what the row's "ours" side names, so tests/inference/test_lesson_map.py can check
every row against a real ResNet-50, against ``paddle.vision.models.resnet50`` and
against the installed Paddle.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model.network import ResNet

# The lesson's ResNet accepts only these depths: it has bottleneck blocks and nothing else.
LESSON_DEPTHS = (50, 101, 152)


@dataclass(frozen=True)
class LessonRow:
    """One name or structure of the lesson's code next to ours."""

    key: str  # its note is the catalog text "arch.lesson.<key>"
    lesson: str  # the lesson's name/structure
    ours: str  # ours
    layers: tuple[str, ...] = ()  # ResNet-50 sublayers that ``ours`` names
    apis: tuple[str, ...] = ()  # Paddle 3 names that ``ours`` uses


ROWS: tuple[LessonRow, ...] = (
    LessonRow(
        "framework",
        "import paddle.fluid; fluid.dygraph.Layer; with fluid.dygraph.guard(): …",
        "import paddle; paddle.nn.Layer; paddle.in_dynamic_mode() == True",
        apis=("paddle.nn.Layer", "paddle.to_tensor", "paddle.in_dynamic_mode"),
    ),
    LessonRow(
        "convbn",
        "ConvBNLayer(num_channels, num_filters, filter_size, stride, groups, act) = _conv + _batch_norm",
        "convK = nn.Conv2D(c_in, c_out, kernel, stride, bias_attr=False); bnK = nn.BatchNorm2D(c_out)",
        layers=("layer1.0.conv1", "layer1.0.bn1"),
        apis=("paddle.nn.Conv2D", "paddle.nn.BatchNorm2D"),
    ),
    LessonRow(
        "act",
        "BatchNorm(num_filters, act='relu')",
        "relu = nn.ReLU(): conv2(relu(bn1(…))), conv3(relu(bn2(…)))",
        layers=("layer1.0.relu",),
        apis=("paddle.nn.ReLU",),
    ),
    LessonRow(
        "stem",
        "conv = ConvBNLayer(3 → 64, 7×7, stride=2, act='relu'); pool2d_max = Pool2D(pool_size=3, pool_stride=2, pool_padding=1, pool_type='max')",
        "conv1 = nn.Conv2D(3, 64, 7, stride=2, padding=3); bn1; relu; maxpool = nn.MaxPool2D(3, 2, 1)",
        layers=("conv1", "bn1", "relu", "maxpool"),
        apis=("paddle.nn.MaxPool2D",),
    ),
    LessonRow(
        "conv0",
        "conv0 = ConvBNLayer(1×1, num_filters, act='relu')",
        "conv1 + bn1 + relu: 1×1, c_in → planes",
        layers=("layer1.0.conv1", "layer1.0.bn1"),
    ),
    LessonRow(
        "conv1",
        "conv1 = ConvBNLayer(3×3, num_filters, stride, act='relu')",
        "conv2 + bn2 + relu: 3×3, stride",
        layers=("layer2.0.conv2", "layer2.0.bn2"),
    ),
    LessonRow(
        "conv2",
        "conv2 = ConvBNLayer(1×1, num_filters × 4, act=None)",
        "conv3 + bn3: 1×1, planes → planes × 4; F(x) = bn3(…)",
        layers=("layer1.0.conv3", "layer1.0.bn3"),
    ),
    LessonRow(
        "channels_out",
        "_num_channels_out = num_filters × 4",
        "BottleneckBlock.expansion = 4; block.c_out = planes × 4",
    ),
    LessonRow(
        "short",
        "if not shortcut: short = ConvBNLayer(1×1, num_filters × 4, stride)",
        "downsample = ConvBN(c_in, c_out, 1, stride) → downsample.0 (Conv2D), downsample.1 (BatchNorm2D)",
        layers=("layer1.0.downsample", "layer2.0.downsample.0", "layer2.0.downsample.1"),
        apis=("paddle.nn.Sequential",),
    ),
    LessonRow(
        "shortcut_true",
        "shortcut=True → short = inputs",
        'shortcut_kind == "identity" → s(x) = x; downsample is None',
        layers=("layer1.1",),
    ),
    LessonRow(
        "shortcut_false",
        "shortcut=False → short = self.short(inputs)",
        'shortcut_kind == "projection" (downsample="conv") | "pad" (downsample="pad")',
        layers=tuple(f"layer{s}.0.downsample" for s in (1, 2, 3, 4)),
    ),
    LessonRow(
        "modes",
        "—; Q1: y = F(x) + 2x",
        'resnet(shortcut="none") → λ = 0, shortcut_kind "off"; resnet(shortcut="scaled", scale=2)',
    ),
    LessonRow(
        "add",
        "relu(elementwise_add(short, conv2))",
        "ResidualBlock.forward_trace: relu(residual + λ · shortcut)",
    ),
    LessonRow(
        "stages",
        "layers ∈ {50, 101, 152}; depth = [3, 4, 6, 3]; num_filters = [64, 128, 256, 512]",
        'STAGES[50] = ("bottleneck", (3, 4, 6, 3)); stage_planes(i) = width × 2^i',
    ),
    LessonRow(
        "blocks",
        "add_sublayer('bb_%d_%d' % (block, i), BottleneckBlock(…)); bottleneck_block_list.append(…)",
        "layer{block + 1} = nn.Sequential(…) → block_name(block + 1, i) = layer{block + 1}.{i}",
        layers=("layer1", "layer4", "layer1.0", "layer4.2"),
    ),
    LessonRow(
        "stride_rule",
        "stride = 2 if i == 0 and block != 0 else 1",
        "ResNet.__init__: stride = 2 if (i > 0 and j == 0) else 1",
    ),
    LessonRow(
        "avgpool",
        "pool2d_avg = Pool2D(pool_size=7, pool_type='avg', global_pooling=True); reshape(y, [N, -1])",
        "avgpool = nn.AdaptiveAvgPool2D((1, 1)); paddle.flatten(x, 1)",
        layers=("avgpool",),
        apis=("paddle.nn.AdaptiveAvgPool2D", "paddle.flatten"),
    ),
    LessonRow(
        "head",
        "out = Linear(input_dim=2048, output_dim=class_dim=1, param_attr=Uniform(−1/√2048, 1/√2048))",
        "fc = nn.Linear(2048, num_classes=1000)",
        layers=("fc",),
        apis=("paddle.nn.Linear",),
    ),
)


def lesson_block_name(stage: int, index: int) -> str:
    """The lesson's name of block ``index`` of stage ``stage`` (both 0-based): "bb_2_5"."""
    return f"bb_{stage}_{index}"


@dataclass(frozen=True)
class BlockPair:
    """One block as the lesson's loop would build it, next to the model's own block."""

    lesson: str  # "bb_1_0"
    identity: bool  # the lesson's flag ``shortcut``: True = identity, False = projection
    stride: int  # the stride the lesson's loop gives it
    ours: str  # "layer2.0"
    kind: str  # our ``shortcut_kind``: identity / projection / pad / off
    our_stride: int

    @property
    def agrees(self) -> bool:
        """Same stride, and an identity where the lesson's flag says identity, else a shape-changing shortcut."""
        return self.stride == self.our_stride and self.kind in (("identity",) if self.identity else ("projection", "pad"))


def block_pairs(model: ResNet) -> list[BlockPair]:
    """Run the lesson's block loop over ``model``'s stage sizes and pair it with its blocks.

    The lesson's rule, in our words: in stage ``block`` (0-based) block ``i`` has
    ``shortcut = i > 0`` and stride 2 only when ``i == 0 and block != 0``.
    """
    ours = model.named_blocks()
    lesson = [
        (lesson_block_name(stage, i), i > 0, 2 if i == 0 and stage != 0 else 1)
        for stage, n_blocks in enumerate(model.config.blocks_per_stage)
        for i in range(n_blocks)
    ]
    return [
        BlockPair(name, identity, stride, our_name, block.shortcut_kind, block.stride)
        for (name, identity, stride), (our_name, block) in zip(lesson, ours, strict=True)
    ]


__all__ = ["LESSON_DEPTHS", "LessonRow", "ROWS", "BlockPair", "lesson_block_name", "block_pairs"]
