"""ResNet in PaddlePaddle, written to be read top to bottom.

One block computes

    y = f(ρ · F(x) + λ · s(x))

where F is the residual branch (two 3×3 convs, or the 1×1 → 3×3 → 1×1 bottleneck), s is the
identity, ρ the residual scale (1 unless set) and λ the shortcut scale. ``shortcut="identity"``
is λ = 1, ``"none"`` drops the term (a plain net), ``"scaled"`` uses any finite λ. He et al.
2016 (Identity Mappings) Fig. 2's other shortcuts: ``"exclusive_gate"`` (F·g + s·(1−g)),
``"shortcut_gate"`` (F + s·(1−g)), g = sigmoid(1×1 conv(x) + b) with b starting at
``gate_bias``; ``"conv1x1"`` (s is a 1×1 conv on every block); ``"dropout"`` (dropout, p = 0.5,
on s). Both terms are formed in exactly one place, ``ResidualBlock.forward_trace``.

Where BN and ReLU sit, and so what f is, is the ``unit`` (paper Fig. 4): ``"original"`` (f =
ReLU), ``"bn_after_add"``, ``"relu_before_add"``, ``"relu_preact"``, ``"full_preact"`` (f is the
identity: out = x + F(x)). ``plan.py`` holds the table, and the walk over stages and blocks.

Where a stage starts (stride 2, more channels) s must change the shape, in one of the two
ways of He et al. 2015 (Sec. 3.3, 4.2), the config's ``downsample``:

- ``"pad"``, option A (the CIFAR nets' default): s(x) = x[:, :, ::2, ::2] with zero
  channels appended. No parameters, so a residual net has exactly the parameters of its
  plain twin, and nothing resets the scale: λ multiplies the signal at every block.
- ``"conv"``, option B (the ImageNet nets' default, as paddle.vision): a 1×1 conv + BN
  projection. Its BatchNorm brings the shortcut back to unit size at every stage start.

Parameter names match ``paddle.vision.models.resnet18/34/50/101/152`` (conv1, bn1,
layer1..layer4 of blocks with conv1/bn1/conv2/bn2[/conv3/bn3]/downsample, fc), so the
official ImageNet state dicts load unchanged. The variants add ``gate.*``, ``shortcut_conv.*``
and, for full pre-activation, ``final_bn.*`` (and drop the stem's ``bn1``).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import paddle
from paddle import nn
from paddle.nn import functional as F

from .modes import MODE_LOCK, ensure_dygraph, eval_mode  # the last two re-exported: pages import them from here
# Without Paddle in spec.py, so resnet.lab.config can check a training configuration against them.
from .spec import (
    BOTTLENECK_CIFAR_DEPTHS, CIFAR_DEPTHS, DOWNSAMPLES, IMAGENET_DEPTHS, SHORTCUT_VARIANTS, SHORTCUTS,
    SMALL_STEM_DEPTHS, STAGES, STEMS, UNITS, DownsampleKind, ShortcutMode, ShortcutVariant, StemKind, Unit,
    default_downsample, shortcut_scale,
)
from .plan import EXPANSION, BlockPlan, NetworkPlan, VariantError, block_plan, default_width, network_plan, variant_problem

# The ImageNet design shrinks its input 32× (stem /4, then /2 in stages 2-4: 224 → 7):
# the smallest image side whose last stage still sees one whole pixel.
MIN_IMAGE_SIZE = 32

# What s(x) is in one block: x itself, option A's subsample + zero-pad, option B's 1×1
# ConvBN projection, nothing (a plain block, λ = 0), or the conv1x1 variant's bare 1×1 conv.
SHORTCUT_KINDS = ("identity", "pad", "projection", "off", "conv1x1")
# Dropout on the shortcut (He et al. 2016 (Identity Mappings), Fig. 2(f), Table 1: ratio 0.5).
# Paddle's "downscale_in_infer" keeps x · mask in training and 0.5 · x in eval: the paper's
# reading, "a scale of λ with an expectation of 0.5 on the shortcut" (Sec. 3.1).
SHORTCUT_DROPOUT = 0.5


@dataclass(frozen=True)
class ResNetConfig:
    """Everything that defines a network; build one with ``resnet(...)``."""

    depth: int = 50
    num_classes: int = 1000
    shortcut: ShortcutVariant = "identity"
    scale: float = 1.0  # λ; used only when shortcut == "scaled"
    unit: Unit = "original"  # where BN and ReLU sit (He et al. 2016 (Identity Mappings), Fig. 4)
    residual_scale: float = 1.0  # ρ, multiplies F (Table 1's "0.5 on both" with scale=0.5)
    gate_bias: float = 0.0  # the gate conv's bias at init; used only by the gated shortcuts
    width: int = 64  # channels of the first stage; stage i has width · 2^i
    in_channels: int = 3
    stem: StemKind = "imagenet"
    # The shortcut of a block that changes shape: "pad" (option A) or "conv" (option B);
    # None means by depth (``default_downsample``), so a config always holds one of the two.
    downsample: DownsampleKind | None = None

    def __post_init__(self) -> None:
        if self.downsample is None:  # frozen: the one place a field is filled in after construction
            object.__setattr__(self, "downsample", default_downsample(self.depth))

    @property
    def block(self) -> str:
        return STAGES[self.depth][0]

    @property
    def blocks_per_stage(self) -> tuple[int, ...]:
        return STAGES[self.depth][1]

    @property
    def expansion(self) -> int:
        return EXPANSION[self.block]

    @property
    def stem_channels(self) -> int:
        return self.width

    def stage_planes(self, stage: int) -> int:
        """Inner channel count of stage ``stage`` (0-based); its output is planes · expansion."""
        return self.width * 2**stage

    def shortcut_scale(self) -> float:
        """The λ every block multiplies its shortcut by (0 for a plain net)."""
        return shortcut_scale(self.shortcut, self.scale)

    def plan(self) -> NetworkPlan:
        """Every block's shapes and layers (``plan.network_plan``), what the network is built from."""
        return network_plan(self.depth, self.width, unit=self.unit, shortcut=self.shortcut, scale=self.scale,
                            downsample=self.downsample)

    def block_plan(self, kind: str, c_in: int, planes: int, stride: int) -> BlockPlan:
        """The plan of one block of this configuration (for a block built on its own)."""
        return block_plan(kind, c_in, planes, stride, unit=self.unit, shortcut=self.shortcut, scale=self.scale,
                          downsample=self.downsample)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def validate(config: ResNetConfig) -> ResNetConfig:
    """Raise ``ValueError`` naming the allowed values when ``config`` is not buildable, and
    ``VariantError`` (coded, translated by the pages) for a combination the model refuses."""
    if config.depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {config.depth!r}")
    if config.shortcut not in SHORTCUT_VARIANTS:
        raise ValueError(f"shortcut must be one of {SHORTCUT_VARIANTS}, got {config.shortcut!r}")
    if config.unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {config.unit!r}")
    if config.stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}, got {config.stem!r}")
    if config.downsample not in DOWNSAMPLES:
        raise ValueError(f"downsample must be one of {DOWNSAMPLES}, got {config.downsample!r}")
    for name in ("scale", "residual_scale", "gate_bias"):
        if not _finite(getattr(config, name)):
            shown = "scale (λ)" if name == "scale" else name
            raise ValueError(f"{shown} must be a finite number, got {getattr(config, name)!r}")
    for name in ("width", "num_classes", "in_channels"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if config.depth in SMALL_STEM_DEPTHS and config.stem != "small":
        raise ValueError(f"CIFAR depths {SMALL_STEM_DEPTHS} use stem='small', got {config.stem!r}")
    if (problem := variant_problem(config.unit, config.shortcut, config.scale, config.residual_scale)) is not None:
        raise problem
    return config


# ---------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Conv2D:
    """A bias-free conv with 'same' padding: BatchNorm right after it has its own shift."""
    return nn.Conv2D(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias_attr=False)


class ConvBN(nn.Sequential):
    """Bias-free conv followed by BatchNorm, no ReLU: the projection shortcut.

    A Sequential so its parameters are named ``0.weight`` (conv) and ``1.*`` (BN),
    exactly as Paddle's ``downsample`` is. Inside the blocks the conv and BN stay
    siblings (``conv1``/``bn1``), again to match Paddle's names.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(conv(c_in, c_out, kernel, stride), nn.BatchNorm2D(c_out))


def subsample_pad(x: paddle.Tensor, stride: int, c_out: int) -> paddle.Tensor:
    """Option A's parameter-free shortcut: every ``stride``-th pixel, zero channels appended.

    He et al. 2015 Sec. 3.3: "the shortcut still performs identity mapping, with extra
    zero entries padded for increasing dimensions". The zeros go after x's channels, so
    output channel c < C_in carries x's channel c and the rest carry nothing (CIFAR
    reimplementations in torch pad both sides; the split changes no number but the order).
    [N, C_in, H, W] → [N, c_out, ⌈H/stride⌉, ⌈W/stride⌉], the size of the stride-2 3×3 conv's output.
    """
    if stride != 1:
        x = x[:, :, ::stride, ::stride]
    extra = c_out - int(x.shape[1])
    if not extra:
        return x
    # [N, extra, H', W'] zeros made from x, so an exported program keeps N, H, W dynamic
    # (F.pad over the channel axis would be shorter, but aborts Paddle 3.3's oneDNN predictor)
    zeros = paddle.zeros_like(x[:, :1]).expand([-1, extra, -1, -1])
    return paddle.concat([x, zeros], axis=1)


def block_name(stage: int, index: int) -> str:
    """The state-dict prefix of block ``index`` (0-based) of stage ``stage`` (1-based): "layer3.4"."""
    return f"layer{stage}.{index}"


def block_stage(name: str) -> int:
    """The 1-based stage of a block named by ``block_name``: "layer3.4" → 3."""
    return int(name.split(".")[0].removeprefix("layer"))


@dataclass
class BlockTrace:
    """What one residual block did: out = f(residual + shortcut), f = ReLU in the original unit."""

    name: str  # e.g. "layer1.0"
    x: paddle.Tensor  # block input                       [N, C_in, H, W]
    residual: paddle.Tensor  # ρ · F(x) (· g), the term added [N, C_out, H', W']
    shortcut: paddle.Tensor  # λ · s(x) (· (1 − g)), added    [N, C_out, H', W'] (zeros if none)
    out: paddle.Tensor  # f(residual + shortcut)            [N, C_out, H', W']
    mid: list[paddle.Tensor] = field(default_factory=list)  # each conv's response, after its BN if one follows

    @property
    def stage(self) -> int:
        """1-based stage of the block."""
        return block_stage(self.name)


class ResidualBlock(nn.Layer):
    """One block, built from its plan (``plan.block_plan``); subclasses name the kind."""

    kind = ""
    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, config: ResNetConfig) -> None:
        super().__init__()
        self.plan = plan = config.block_plan(self.kind, c_in, planes, stride)
        self.c_in, self.c_out, self.stride = c_in, plan.c_out, stride
        self.scale = plan.scale  # λ
        self.residual_scale = float(config.residual_scale)  # ρ
        self.shortcut_kind = plan.shortcut_kind  # s(x), one of SHORTCUT_KINDS
        self.exclusive = config.shortcut == "exclusive_gate"  # F·g + s·(1−g), not F + s·(1−g)
        # The shortcut's layers. Option B's is ``downsample.*`` (paddle.vision's name); a block
        # whose shortcut is multiplied by 0 (plain nets, λ = 0) has none.
        self.downsample = ConvBN(c_in, self.c_out, 1, stride) if plan.shortcut_kind == "projection" else None
        self.shortcut_conv = conv(c_in, self.c_out, 1, stride) if plan.shortcut_kind == "conv1x1" else None
        # g(x) = sigmoid(1×1 conv(x) + b), b starting at gate_bias: [N, C_out, H', W'] in (0, 1)
        self.gate = nn.Conv2D(
            c_in, self.c_out, 1, stride=stride,
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(float(config.gate_bias))),
        ) if plan.gate else None
        self.dropout = nn.Dropout(SHORTCUT_DROPOUT, mode="downscale_in_infer") if config.shortcut == "dropout" else None
        self.relu = nn.ReLU()
        # conv1, bn1, conv2, … as paddle.vision; in a pre-activation unit bn_i runs before conv_i
        for step in plan.convs:
            setattr(self, f"conv{step.index}", conv(step.c_in, step.c_out, step.kernel, step.stride))
            if step.bn:
                setattr(self, f"bn{step.index}", nn.BatchNorm2D(step.bn))

    def _apply(self, ops: tuple[str, ...], x: paddle.Tensor, index: int) -> paddle.Tensor:
        """Run ``ops`` ("bn" is ``bn{index}``, "relu" the ReLU) on x, in order; shape unchanged."""
        for op in ops:
            x = getattr(self, f"bn{index}")(x) if op == "bn" else self.relu(x)
        return x

    def shortcut_path(self, x: paddle.Tensor) -> paddle.Tensor:
        """s(x) before λ: x, its subsample + zero-pad, or its 1×1 conv [N, C_out, H', W']."""
        if self.downsample is not None:
            return self.downsample(x)
        if self.shortcut_conv is not None:
            return self.shortcut_conv(x)
        if self.shortcut_kind == "pad":
            return subsample_pad(x, self.stride, self.c_out)
        return x

    def residual_branch(
        self, x: paddle.Tensor, *, preactivated: bool = False
    ) -> tuple[paddle.Tensor, list[paddle.Tensor]]:
        """(F(x), each conv's response after its BN when one follows it); ``preactivated``: x has
        had the first conv's pre-activation already (a pre-activation block that changes shape)."""
        mids = []
        for step in self.plan.convs:
            if not (preactivated and step.index == 1):
                x = self._apply(step.before, x, step.index)  # pre-activation: BN→ReLU, or ReLU
            x = getattr(self, f"conv{step.index}")(x)  # [N, c_out, H/s, W/s] of this conv
            if "bn" in step.after:
                x = getattr(self, f"bn{step.index}")(x)
            mids.append(x)
            if "relu" in step.after:
                x = self.relu(x)
        return x, mids

    def forward_trace(
        self, x: paddle.Tensor, *, drop_residual: bool = False, drop_shortcut: bool = False
    ) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor, list[paddle.Tensor]]:
        """(out, residual, shortcut, mids) for input x: out = f(residual + shortcut), the two terms
        exactly as added; the drop flags ablate one term."""
        plan = self.plan
        if plan.shared_preact:
            # a pre-activation block that changes shape normalises x once, for both paths
            # (He et al. 2016 (Identity Mappings), appendix)
            x = self._apply(plan.convs[0].before, x, 1)
        f, mids = self.residual_branch(x, preactivated=plan.shared_preact)
        g = F.sigmoid(self.gate(x)) if self.gate is not None else None  # [N, C_out, H', W']
        residual = f if self.residual_scale == 1.0 else self.residual_scale * f  # ρ · F(x)
        if self.exclusive:
            residual = residual * g
        if drop_residual:
            residual = paddle.zeros_like(residual)
        if self.scale == 0.0 or drop_shortcut:
            shortcut = paddle.zeros_like(residual)
        else:
            s = self.shortcut_path(x)
            if g is not None:
                s = s * (1.0 - g)
            if self.dropout is not None:
                s = self.dropout(s)
            # λ · s(x): the one place λ is applied, at every kind of shortcut (skipped at λ = 1:
            # same numbers, one op less)
            shortcut = s if self.scale == 1.0 else self.scale * s
        out = self._apply(plan.after_add, residual + shortcut, len(plan.convs))  # f: ReLU, BN→ReLU or nothing
        return out, residual, shortcut, mids

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.forward_trace(x)[0]


class BasicBlock(ResidualBlock):
    """F(x) = conv3×3 → conv3×3 (stride on the first), BN and ReLU where the unit puts them.

    Original unit: [N, C_in, H, W] → [N, planes, H/s, W/s] → [N, planes, H/s, W/s].
    """

    kind = "basic"
    expansion = EXPANSION[kind]


class BottleneckBlock(ResidualBlock):
    """F(x) = 1×1 reduce → 3×3 (stride here, as Paddle/torchvision) → 1×1 expand ×4.

    Original unit: [N, C_in, H, W] → [N, planes, H, W] → [N, planes, H/s, W/s] (the 3×3 sees
    4× fewer channels) → [N, 4·planes, H/s, W/s], e.g. 256 → 64 → 64 → 256 in ResNet-50's stage 1.
    """

    kind = "bottleneck"
    expansion = EXPANSION[kind]


# ---------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------


@dataclass
class Features:
    """What ``ResNet.forward_features`` returns."""

    logits: paddle.Tensor  # [N, num_classes]
    stem: paddle.Tensor  # input of the first block
    blocks: list[BlockTrace]
    pooled: paddle.Tensor  # [N, C_last] after global average pooling


# ``paddle.LazyGuard`` (``modes.shapes_only``: shapes without weights, resnet.inference.cost)
# is one switch for the whole process: a model built in another thread meanwhile gets
# parameters with no memory. Both hold the modes lock, so a page counting shapes never
# empties another session's model.
def _built_alone(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def locked(*args: Any, **kwargs: Any) -> None:
        with MODE_LOCK:
            init(*args, **kwargs)
    return locked


class ResNet(nn.Layer):
    @_built_alone
    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = validate(config)
        c = config
        self.plan = plan = c.plan()
        if c.stem == "imagenet":
            # 224 → 112 (7×7/2 conv) → 56 (3×3/2 max-pool, floor rounding in Paddle 3)
            self.conv1 = nn.Conv2D(c.in_channels, c.stem_channels, 7, stride=2, padding=3, bias_attr=False)
            self.maxpool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        else:
            # small images (8×8 digits, 32×32 photos): 3×3/1 conv, no pooling
            self.conv1 = conv(c.in_channels, c.stem_channels, 3)
            self.maxpool = None
        # full pre-activation: the stem is the conv alone, its first block normalises
        self.bn1 = nn.BatchNorm2D(c.stem_channels) if plan.stem_bn else None
        self.relu = nn.ReLU()

        block_cls = BottleneckBlock if c.block == "bottleneck" else BasicBlock
        blocks = iter(plan.blocks)  # in network order, stage by stage
        for i, n_blocks in enumerate(c.blocks_per_stage):
            stage = [block_cls(b.c_in, b.planes, b.stride, c) for b in itertools.islice(blocks, n_blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        # full pre-activation ends with BN → ReLU before pooling (the last addition is not normalised)
        self.final_bn = nn.BatchNorm2D(plan.final_bn) if plan.final_bn else None
        self.avgpool = nn.AdaptiveAvgPool2D((1, 1))
        self.fc = nn.Linear(plan.features, c.num_classes)

    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{i + 1}") for i in range(len(self.config.blocks_per_stage))]

    def named_blocks(self) -> list[tuple[str, ResidualBlock]]:
        """Every residual block in network order, named as in the state dict."""
        return [
            (block_name(i + 1, j), block)
            for i, stage in enumerate(self.stages())
            for j, block in enumerate(stage)
        ]

    def forward_stem(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.conv1(x)  # [N, 64, 112, 112] for a 224 input
        if self.bn1 is not None:
            x = self.relu(self.bn1(x))
        if self.maxpool is not None:
            x = self.maxpool(x)  # [N, 64, 56, 56]
        return x

    def forward_head(self, x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        if self.final_bn is not None:
            x = self.relu(self.final_bn(x))
        pooled = paddle.flatten(self.avgpool(x), 1)  # [N, 2048] for ResNet-50
        return self.fc(pooled), pooled  # [N, num_classes]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.forward_stem(x)
        for stage in self.stages():
            x = stage(x)
        return self.forward_head(x)[0]

    def forward_features(
        self,
        x: paddle.Tensor,
        *,
        drop_blocks: frozenset[str] | set[str] = frozenset(),
        shortcuts_off: bool = False,
    ) -> Features:
        """Forward pass that returns every block's x, F(x), shortcut and output.

        Ablations for inference, without touching the model: ``drop_blocks`` keeps only
        the shortcut of the named blocks (Veit et al. 2016); ``shortcuts_off`` removes
        every shortcut term. No hooks are installed.
        """
        names = {name for name, _ in self.named_blocks()}
        if unknown := set(drop_blocks) - names:
            raise ValueError(f"no such block(s) {sorted(unknown)}; blocks are layer1.0 … {max(names)}")
        stem = x = self.forward_stem(x)
        traces = []
        for name, block in self.named_blocks():
            out, residual, shortcut, mids = block.forward_trace(
                x, drop_residual=name in drop_blocks, drop_shortcut=shortcuts_off
            )
            traces.append(BlockTrace(name, x, residual, shortcut, out, mids))
            x = out
        logits, pooled = self.forward_head(x)
        return Features(logits=logits, stem=stem, blocks=traces, pooled=pooled)


def resnet(
    depth: int = 50,
    *,
    num_classes: int = 1000,
    shortcut: ShortcutVariant = "identity",
    scale: float = 1.0,
    unit: Unit = "original",
    residual_scale: float = 1.0,
    gate_bias: float = 0.0,
    width: int | None = None,
    in_channels: int = 3,
    stem: StemKind | None = None,
    downsample: DownsampleKind | None = None,
) -> ResNet:
    """Build a ResNet. ``stem``, ``width`` and ``downsample`` default by depth.

    ImageNet depths: "imagenet" stem, width 64, "conv" projections (paddle.vision's weights
    load); CIFAR depths: "small" stem, width 16, "pad" (option A, He et al. 2015 Sec. 4.2);
    164 and 1001 (He et al. 2016 (Identity Mappings)): "small" stem, width 16, "conv".
    """
    ensure_dygraph()
    if depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {depth!r}")
    config = ResNetConfig(
        depth=depth,
        num_classes=num_classes,
        shortcut=shortcut,
        scale=float(scale) if isinstance(scale, (int, float)) else scale,
        unit=unit,
        residual_scale=float(residual_scale) if isinstance(residual_scale, (int, float)) else residual_scale,
        gate_bias=float(gate_bias) if isinstance(gate_bias, (int, float)) else gate_bias,
        width=width if width is not None else default_width(depth),
        in_channels=in_channels,
        stem=stem if stem is not None else ("small" if depth in SMALL_STEM_DEPTHS else "imagenet"),
        downsample=downsample,
    )
    return ResNet(config)


def count_parameters(model: nn.Layer, trainable_only: bool = True) -> int:
    """Number of scalars in ``model``'s parameters.

    Paddle lists BatchNorm's running mean/variance among the parameters, with
    ``stop_gradient=True``: ``trainable_only`` leaves them out (the usual count).
    """
    return sum(int(p.size) for p in model.parameters() if not (trainable_only and p.stop_gradient))


__all__ = [
    "STAGES", "IMAGENET_DEPTHS", "CIFAR_DEPTHS", "SHORTCUTS", "STEMS", "ShortcutMode", "StemKind", "MIN_IMAGE_SIZE",
    "BOTTLENECK_CIFAR_DEPTHS", "SMALL_STEM_DEPTHS", "SHORTCUT_VARIANTS", "ShortcutVariant", "UNITS", "Unit",
    "VariantError", "SHORTCUT_DROPOUT",
    "eval_mode", "block_name", "block_stage",
    "DOWNSAMPLES", "SHORTCUT_KINDS", "DownsampleKind", "default_downsample", "subsample_pad",
    "ResNetConfig", "ResNet", "BasicBlock", "BottleneckBlock", "ResidualBlock", "ConvBN",
    "BlockTrace", "Features", "resnet", "count_parameters", "validate", "ensure_dygraph",
]
