"""The block plan: what every residual block of a ResNet holds, walked once, without Paddle.

The topology rule lives here and nowhere else: ``network.py`` builds its layers from the plan,
``resnet.lab.config.estimate_memory`` counts them from it. Stage table (``spec.STAGES``):

    depths              block       stages  stage widths (inner)    stem
    18, 34              basic       4       w, 2w, 4w, 8w            7×7/2 + max-pool
    50, 101, 152        bottleneck  4       w, 2w, 4w, 8w  (out ×4)  7×7/2 + max-pool
    20 … 110 (6n + 2)   basic       3       w, 2w, 4w                3×3/1
    164, 1001 (9n + 2)  bottleneck  3       w, 2w, 4w      (out ×4)  3×3/1

Stage s > 1 starts with stride 2 (H and W halve once). A block's shortcut changes shape when
its stride is 2 or its channel count changes; then s(x) is option A ("pad") or B ("projection",
1×1 conv + BN), the config's ``downsample`` (He et al. 2015, Sec. 3.3).

Where BN and ReLU sit is the ``unit`` (He et al. 2016 (Identity Mappings), Fig. 4), one row of
``UNIT_LAYOUTS``: what runs before every conv, after every conv but the last, after the last,
and after the addition. Every unit has one BN per conv, named after it (``bn2`` goes with
``conv2``), so "original" keeps paddle.vision's names. In the pre-activation units a block that
changes shape runs its first pre-activation before the split, so the shortcut sees it too
(the paper's appendix; KaimingHe/resnet-1k-layers: "common BN, ReLU").
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CodedError
from .spec import (
    GATED_SHORTCUTS, SMALL_STEM_DEPTHS, STAGES, DownsampleKind, ShortcutVariant, Unit, shortcut_scale,
)

Ops = tuple[str, ...]  # "bn" and "relu", in the order they run


@dataclass(frozen=True)
class UnitLayout:
    """Where BN and ReLU sit around the convs of a residual branch and after the addition."""

    before: Ops  # before every conv (pre-activation)
    between: Ops  # after every conv but the last
    after_last: Ops  # after the last conv, before the addition
    after_add: Ops  # after the addition: f in x_{l+1} = f(y_l)


# He et al. 2016 (Identity Mappings), Fig. 4 (a)-(e), for a branch conv → conv (→ conv).
UNIT_LAYOUTS: dict[Unit, UnitLayout] = {
    "original": UnitLayout((), ("bn", "relu"), ("bn",), ("relu",)),  # (a)
    "bn_after_add": UnitLayout((), ("bn", "relu"), (), ("bn", "relu")),  # (b)
    "relu_before_add": UnitLayout((), ("bn", "relu"), ("bn", "relu"), ()),  # (c)
    "relu_preact": UnitLayout(("relu",), ("bn",), ("bn",), ()),  # (d)
    "full_preact": UnitLayout(("bn", "relu"), (), (), ()),  # (e)
}


@dataclass(frozen=True)
class ConvPlan:
    """One conv of a residual branch (layer ``conv{index}``) and what runs around it."""

    index: int  # 1-based
    c_in: int
    c_out: int
    kernel: int
    stride: int
    before: Ops
    after: Ops
    bn: int  # channels of ``bn{index}``, wherever it sits (before, after, or after the addition)


@dataclass(frozen=True)
class BlockPlan:
    """One residual block: its shapes, its branch, its shortcut."""

    kind: str  # "basic" | "bottleneck"
    c_in: int
    planes: int  # inner width; the block outputs planes · expansion channels
    c_out: int
    stride: int
    convs: tuple[ConvPlan, ...]
    after_add: Ops
    # s(x) before λ: "identity" | "pad" (option A) | "projection" (option B, 1×1 conv + BN) |
    # "conv1x1" (Fig. 2(e), on every block) | "off" (no shortcut: λ = 0)
    shortcut_kind: str
    scale: float  # λ
    gate: bool  # a 1×1 conv (c_in → c_out, with bias) + sigmoid: g(x) of Fig. 2(c, d)
    shared_preact: bool  # the first conv's pre-activation runs before the split
    name: str = ""  # "layer2.0" inside a network


@dataclass(frozen=True)
class NetworkPlan:
    """Every block of a network in order, and what the unit puts around them."""

    blocks: tuple[BlockPlan, ...]
    stem_bn: bool  # conv1 → bn1 → ReLU; False for full pre-activation (the first block normalises)
    final_bn: int  # channels of a BN + ReLU before pooling (full pre-activation), else 0
    features: int  # channels the classifier sees


EXPANSION = {"basic": 1, "bottleneck": 4}


def block_plan(
    kind: str, c_in: int, planes: int, stride: int, *,
    unit: Unit = "original", shortcut: ShortcutVariant = "identity", scale: float = 1.0,
    downsample: DownsampleKind = "conv", name: str = "",
) -> BlockPlan:
    """The plan of one block: ``kind`` "basic" (3×3 → 3×3, stride on the first) or "bottleneck"
    (1×1 → 3×3 → 1×1 ×4, stride on the 3×3, as paddle.vision and torchvision)."""
    c_out = planes * EXPANSION[kind]
    if kind == "basic":
        shapes = [(c_in, planes, 3, stride), (planes, c_out, 3, 1)]
    else:
        shapes = [(c_in, planes, 1, 1), (planes, planes, 3, stride), (planes, c_out, 1, 1)]
    layout = UNIT_LAYOUTS[unit]
    convs = []
    for i, (ci, co, k, s) in enumerate(shapes, 1):
        last = i == len(shapes)
        after = layout.after_last if last else layout.between
        if "bn" in layout.before:
            bn = ci  # pre-activation: BN normalises the conv's input
        elif "bn" in after or last and "bn" in layout.after_add:
            bn = co  # after the conv, or (the last conv's BN) after the addition: c_out either way
        else:
            bn = 0
        convs.append(ConvPlan(i, ci, co, k, s, layout.before, after, bn))
    lam = shortcut_scale(shortcut, scale)
    changes_shape = stride != 1 or c_in != c_out
    if lam == 0.0:
        kind_of_s = "off"
    elif shortcut == "conv1x1":
        kind_of_s = "conv1x1"
    elif changes_shape:
        kind_of_s = "projection" if downsample == "conv" else "pad"
    else:
        kind_of_s = "identity"
    return BlockPlan(
        kind=kind, c_in=c_in, planes=planes, c_out=c_out, stride=stride, convs=tuple(convs),
        after_add=layout.after_add, shortcut_kind=kind_of_s, scale=lam, gate=shortcut in GATED_SHORTCUTS,
        shared_preact=bool(layout.before) and changes_shape, name=name,
    )


def network_plan(
    depth: int, width: int, *,
    unit: Unit = "original", shortcut: ShortcutVariant = "identity", scale: float = 1.0,
    downsample: DownsampleKind = "conv",
) -> NetworkPlan:
    """Every block of a ResNet of ``depth`` whose first stage is ``width`` channels wide (the walk)."""
    kind, per_stage = STAGES[depth]
    blocks = []
    c_in = width
    for stage, n_blocks in enumerate(per_stage):
        planes = width * 2**stage
        for j in range(n_blocks):
            stride = 2 if stage > 0 and j == 0 else 1  # each later stage halves H and W once
            block = block_plan(kind, c_in, planes, stride, unit=unit, shortcut=shortcut, scale=scale,
                               downsample=downsample, name=f"layer{stage + 1}.{j}")
            blocks.append(block)
            c_in = block.c_out
    preact = unit == "full_preact"
    return NetworkPlan(tuple(blocks), stem_bn=not preact, final_bn=c_in if preact else 0, features=c_in)


def default_width(depth: int) -> int:
    """16 for the CIFAR nets (both papers), 64 for ImageNet's."""
    return 16 if depth in SMALL_STEM_DEPTHS else 64


# ---------------------------------------------------------------------------------
# Combinations the model refuses
# ---------------------------------------------------------------------------------

# The English text of each refusal (the pages' texts: assets/i18n/*/common.json, variant.bad.<code>).
VARIANT_MESSAGES = {
    # He et al. 2016 (Identity Mappings), Sec. 4.1: in a plain net "it does not matter whether
    # we think of them as post- or pre-activations": every unit would be the same net.
    "plain_unit": "unit {unit!r} places BN and ReLU relative to the addition, and a plain net "
                  "(shortcut {shortcut!r}, λ = 0) adds nothing: use unit 'original'",
    "no_signal": "residual_scale 0 with no shortcut (λ = 0) leaves every block adding nothing: "
                 "nothing reaches the classifier",
}


class VariantError(CodedError):
    """A unit/shortcut combination the model refuses; ``code`` is a key of VARIANT_MESSAGES."""

    def __init__(self, code: str, **values: object) -> None:
        super().__init__(code, VARIANT_MESSAGES[code].format(**values), **values)


def variant_problem(unit: Unit, shortcut: ShortcutVariant, scale: float, residual_scale: float) -> VariantError | None:
    """The refusal for an illegal combination of valid settings, or None."""
    lam = shortcut_scale(shortcut, scale)
    if lam == 0.0 and unit != "original":
        return VariantError("plain_unit", unit=unit, shortcut=shortcut)
    if lam == 0.0 and residual_scale == 0.0:
        return VariantError("no_signal", residual_scale=residual_scale)
    return None


__all__ = [
    "UnitLayout", "UNIT_LAYOUTS", "ConvPlan", "BlockPlan", "NetworkPlan", "EXPANSION", "block_plan", "network_plan",
    "default_width", "VARIANT_MESSAGES", "VariantError", "variant_problem",
]
