"""ResNet in PaddlePaddle, written to be read top to bottom.

One block computes

    y = ReLU(F(x) + λ · s(x))

where F is the residual branch (two 3×3 convs, or the 1×1 → 3×3 → 1×1 bottleneck),
s is the identity, and λ is the shortcut scale. ``shortcut="identity"`` is λ = 1,
``"none"`` drops the term (a plain net), ``"scaled"`` uses any finite λ. λ is applied in
exactly one place: ``ResidualBlock.forward_trace``, to every shortcut, the ones that
change shape included.

Where a stage starts (stride 2, more channels) s must change the shape, in one of the two
ways of He et al. 2015 (Sec. 3.3, 4.2), the config's ``downsample``:

- ``"pad"``, option A (the CIFAR nets' default): s(x) = x[:, :, ::2, ::2] with zero
  channels appended. No parameters, so a residual net has exactly the parameters of its
  plain twin, and nothing resets the scale: λ multiplies the signal at every block.
- ``"conv"``, option B (the ImageNet nets' default, as paddle.vision): a 1×1 conv + BN
  projection. Its BatchNorm brings the shortcut back to unit size at every stage start.

Parameter names match ``paddle.vision.models.resnet18/34/50/101/152`` (conv1, bn1,
layer1..layer4 of blocks with conv1/bn1/conv2/bn2[/conv3/bn3]/downsample, fc), so the
official ImageNet state dicts load unchanged.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import paddle
from paddle import nn

from .modes import MODE_LOCK, ensure_dygraph, eval_mode  # the last two re-exported: pages import them from here
# Without Paddle in spec.py, so resnet.lab.config can check a training configuration against them.
from .spec import (
    CIFAR_DEPTHS, DOWNSAMPLES, IMAGENET_DEPTHS, SHORTCUTS, STAGES, STEMS, DownsampleKind, ShortcutMode, StemKind,
    default_downsample, shortcut_scale,
)

# The ImageNet design shrinks its input 32× (stem /4, then /2 in stages 2-4: 224 → 7):
# the smallest image side whose last stage still sees one whole pixel.
MIN_IMAGE_SIZE = 32

# What s(x) is in one block: x itself, option A's subsample + zero-pad, option B's 1×1
# ConvBN projection, or nothing (a plain block, λ = 0).
SHORTCUT_KINDS = ("identity", "pad", "projection", "off")


@dataclass(frozen=True)
class ResNetConfig:
    """Everything that defines a network; build one with ``resnet(...)``."""

    depth: int = 50
    num_classes: int = 1000
    shortcut: ShortcutMode = "identity"
    scale: float = 1.0  # λ; used only when shortcut == "scaled"
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
        return 4 if self.block == "bottleneck" else 1

    @property
    def stem_channels(self) -> int:
        return self.width

    def stage_planes(self, stage: int) -> int:
        """Inner channel count of stage ``stage`` (0-based); its output is planes · expansion."""
        return self.width * 2**stage

    def shortcut_scale(self) -> float:
        """The λ every block multiplies its shortcut by (0 for a plain net)."""
        return shortcut_scale(self.shortcut, self.scale)


def validate(config: ResNetConfig) -> ResNetConfig:
    """Raise ``ValueError`` naming the allowed values when ``config`` is not buildable."""
    if config.depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {config.depth!r}")
    if config.shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {config.shortcut!r}")
    if config.stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}, got {config.stem!r}")
    if config.downsample not in DOWNSAMPLES:
        raise ValueError(f"downsample must be one of {DOWNSAMPLES}, got {config.downsample!r}")
    if not isinstance(config.scale, (int, float)) or not math.isfinite(config.scale):
        raise ValueError(f"scale (λ) must be a finite number, got {config.scale!r}")
    for name in ("width", "num_classes", "in_channels"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if config.depth in CIFAR_DEPTHS and config.stem != "small":
        raise ValueError(f"CIFAR depths {CIFAR_DEPTHS} use stem='small', got {config.stem!r}")
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
    """What one residual block did: out = ReLU(residual + shortcut)."""

    name: str  # e.g. "layer1.0"
    x: paddle.Tensor  # block input                    [N, C_in, H, W]
    residual: paddle.Tensor  # F(x), after the last BN   [N, C_out, H', W']
    shortcut: paddle.Tensor  # λ · s(x), the term added  [N, C_out, H', W'] (zeros if none)
    out: paddle.Tensor  # ReLU(residual + shortcut)      [N, C_out, H', W']
    mid: list[paddle.Tensor] = field(default_factory=list)  # each conv's response after BN

    @property
    def stage(self) -> int:
        """1-based stage of the block."""
        return block_stage(self.name)


class ResidualBlock(nn.Layer):
    """Shared forward of both block kinds; subclasses define ``residual_branch``."""

    def __init__(self, c_in: int, c_out: int, stride: int, config: ResNetConfig) -> None:
        super().__init__()
        self.scale = config.shortcut_scale()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        # s(x), one of SHORTCUT_KINDS. Only option B has a layer (and state-dict entries,
        # ``downsample.*``); a block whose shortcut is multiplied by 0 (plain nets, λ = 0) has none.
        if self.scale == 0.0:
            self.shortcut_kind = "off"
        elif stride == 1 and c_in == c_out:
            self.shortcut_kind = "identity"
        else:
            self.shortcut_kind = "projection" if config.downsample == "conv" else "pad"
        self.downsample = ConvBN(c_in, c_out, 1, stride) if self.shortcut_kind == "projection" else None
        self.relu = nn.ReLU()

    def shortcut_path(self, x: paddle.Tensor) -> paddle.Tensor:
        """s(x) before λ: x, its subsample + zero-pad, or its projection [N, C_out, H', W']."""
        if self.downsample is not None:
            return self.downsample(x)
        if self.shortcut_kind == "pad":
            return subsample_pad(x, self.stride, self.c_out)
        return x

    def residual_branch(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        """Each conv+BN response along F, in order; the last one is F(x)."""
        raise NotImplementedError

    def forward_trace(
        self, x: paddle.Tensor, *, drop_residual: bool = False, drop_shortcut: bool = False
    ) -> tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor, list[paddle.Tensor]]:
        """(out, residual, shortcut, mids) for input x; the drop flags ablate one term."""
        mids = self.residual_branch(x)
        residual = mids[-1]
        if drop_residual:
            residual = paddle.zeros_like(residual)
        if self.scale == 0.0 or drop_shortcut:
            shortcut = paddle.zeros_like(residual)
        else:
            s = self.shortcut_path(x)
            # λ · s(x): the one place λ is applied, at every kind of shortcut (skipped at λ = 1:
            # same numbers, one op less)
            shortcut = s if self.scale == 1.0 else self.scale * s
        out = self.relu(residual + shortcut)
        return out, residual, shortcut, mids

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.forward_trace(x)[0]


class BasicBlock(ResidualBlock):
    """F(x) = BN(conv3×3(ReLU(BN(conv3×3(x))))); stride on the first conv."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int, config: ResNetConfig) -> None:
        super().__init__(c_in, planes, stride, config)
        self.conv1 = conv(c_in, planes, 3, stride)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2D(planes)

    def residual_branch(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        a = self.bn1(self.conv1(x))  # [N, planes, H/stride, W/stride]
        b = self.bn2(self.conv2(self.relu(a)))  # [N, planes, H/stride, W/stride]
        return [a, b]


class BottleneckBlock(ResidualBlock):
    """F(x) = 1×1 reduce → 3×3 (stride here, as Paddle/torchvision) → 1×1 expand ×4."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int, config: ResNetConfig) -> None:
        super().__init__(c_in, planes * 4, stride, config)
        self.conv1 = conv(c_in, planes, 1)
        self.bn1 = nn.BatchNorm2D(planes)
        self.conv2 = conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2D(planes)
        self.conv3 = conv(planes, planes * 4, 1)
        self.bn3 = nn.BatchNorm2D(planes * 4)

    def residual_branch(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        a = self.bn1(self.conv1(x))  # [N, planes, H, W]        e.g. [N, 64, 56, 56]
        b = self.bn2(self.conv2(self.relu(a)))  # [N, planes, H/s, W/s] the 3×3 sees 4× fewer channels
        c = self.bn3(self.conv3(self.relu(b)))  # [N, 4·planes, H/s, W/s] e.g. [N, 256, 56, 56]
        return [a, b, c]


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
        if c.stem == "imagenet":
            # 224 → 112 (7×7/2 conv) → 56 (3×3/2 max-pool, floor rounding in Paddle 3)
            self.conv1 = nn.Conv2D(c.in_channels, c.stem_channels, 7, stride=2, padding=3, bias_attr=False)
            self.maxpool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        else:
            # small images (8×8 digits, 32×32 photos): 3×3/1 conv, no pooling
            self.conv1 = conv(c.in_channels, c.stem_channels, 3)
            self.maxpool = None
        self.bn1 = nn.BatchNorm2D(c.stem_channels)
        self.relu = nn.ReLU()

        block_cls = BottleneckBlock if c.block == "bottleneck" else BasicBlock
        c_in = c.stem_channels
        for i, n_blocks in enumerate(c.blocks_per_stage):
            planes = c.stage_planes(i)
            blocks = []
            for j in range(n_blocks):
                stride = 2 if (i > 0 and j == 0) else 1  # each later stage halves H and W once
                blocks.append(block_cls(c_in, planes, stride, c))
                c_in = planes * block_cls.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2D((1, 1))
        self.fc = nn.Linear(c_in, c.num_classes)

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
        x = self.relu(self.bn1(self.conv1(x)))  # [N, 64, 112, 112] for a 224 input
        if self.maxpool is not None:
            x = self.maxpool(x)  # [N, 64, 56, 56]
        return x

    def forward_head(self, x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
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
    shortcut: ShortcutMode = "identity",
    scale: float = 1.0,
    width: int | None = None,
    in_channels: int = 3,
    stem: StemKind | None = None,
    downsample: DownsampleKind | None = None,
) -> ResNet:
    """Build a ResNet. ``stem``, ``width`` and ``downsample`` default by depth.

    ImageNet depths: "imagenet" stem, width 64, "conv" projections (paddle.vision's weights
    load); CIFAR depths: "small" stem, width 16, "pad" (option A, He et al. 2015 Sec. 4.2).
    """
    ensure_dygraph()
    if depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {depth!r}")
    cifar = depth in CIFAR_DEPTHS
    config = ResNetConfig(
        depth=depth,
        num_classes=num_classes,
        shortcut=shortcut,
        scale=float(scale) if isinstance(scale, (int, float)) else scale,
        width=width if width is not None else (16 if cifar else 64),
        in_channels=in_channels,
        stem=stem if stem is not None else ("small" if cifar else "imagenet"),
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
    "eval_mode", "block_name", "block_stage",
    "DOWNSAMPLES", "SHORTCUT_KINDS", "DownsampleKind", "default_downsample", "subsample_pad",
    "ResNetConfig", "ResNet", "BasicBlock", "BottleneckBlock", "ResidualBlock", "ConvBN",
    "BlockTrace", "Features", "resnet", "count_parameters", "validate", "ensure_dygraph",
]
