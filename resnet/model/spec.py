"""What a ResNet may be, without Paddle: depths, shortcut modes and variants, units, stems.

``plan.py`` walks them into blocks and ``network.py`` builds from that; ``resnet.lab.config`` checks a training configuration
against them in processes that must not load Paddle yet (the store, the job queue).
"""

from __future__ import annotations

from typing import Literal, get_args

# depth -> (block kind, blocks per stage)
STAGES: dict[int, tuple[str, tuple[int, ...]]] = {
    # ImageNet design (He et al. 2015, Table 1): 4 stages, 7×7/2 stem + 3×3/2 max-pool.
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    # CIFAR design (He et al. 2015, Sec. 4.2): 3 stages of n basic blocks, depth = 6n + 2.
    20: ("basic", (3, 3, 3)),
    32: ("basic", (5, 5, 5)),
    44: ("basic", (7, 7, 7)),
    56: ("basic", (9, 9, 9)),
    110: ("basic", (18, 18, 18)),
    # He et al. 2016 (Identity Mappings), Sec. 4.1 and appendix: 3 stages of n bottleneck blocks,
    # depth = 9n + 2, inner widths 16/32/64, outputs ×4 (Table 4: 1.7 M and 10.2 M parameters).
    164: ("bottleneck", (18, 18, 18)),
    1001: ("bottleneck", (111, 111, 111)),
}
IMAGENET_DEPTHS = (18, 34, 50, 101, 152)
CIFAR_DEPTHS = (20, 32, 44, 56, 110)  # He et al. 2015's CIFAR nets (basic blocks, the lab's)
BOTTLENECK_CIFAR_DEPTHS = (164, 1001)  # He et al. 2016's: small stem, width 16, like CIFAR_DEPTHS
SMALL_STEM_DEPTHS = CIFAR_DEPTHS + BOTTLENECK_CIFAR_DEPTHS

# The shortcut's λ modes (the lab's choices): identity (λ = 1), none (λ = 0, the plain net), scaled.
ShortcutMode = Literal["identity", "none", "scaled"]
StemKind = Literal["imagenet", "small"]
SHORTCUTS: tuple[ShortcutMode, ...] = get_args(ShortcutMode)
# Every shortcut the model builds: the λ modes and He et al. 2016 (Identity Mappings)'s Fig. 2
# variants: (c) F·g + x·(1−g), (d) F + x·(1−g), g = sigmoid(1×1 conv(x)); (e) a 1×1 conv on every
# shortcut; (f) dropout (p = 0.5) on the shortcut.
ShortcutVariant = Literal["identity", "none", "scaled", "exclusive_gate", "shortcut_gate", "conv1x1", "dropout"]
SHORTCUT_VARIANTS: tuple[ShortcutVariant, ...] = get_args(ShortcutVariant)
GATED_SHORTCUTS = ("exclusive_gate", "shortcut_gate")
# Where BN and ReLU sit in a block, He et al. 2016 (Identity Mappings), Fig. 4 (a)-(e).
Unit = Literal["original", "bn_after_add", "relu_before_add", "relu_preact", "full_preact"]
UNITS: tuple[Unit, ...] = get_args(Unit)
STEMS: tuple[StemKind, ...] = get_args(StemKind)
# A stage start's shortcut (He et al. 2015, Sec. 3.3): option A, subsample + zero-pad, no
# parameters (the paper's CIFAR nets, Sec. 4.2); option B, 1×1 conv + BN (paddle.vision's).
DownsampleKind = Literal["pad", "conv"]
DOWNSAMPLES: tuple[DownsampleKind, ...] = get_args(DownsampleKind)


# λ, the shortcut scale of y = F(x) + λx, everywhere it is set (the lab's form and URL,
# the Why page's slider): one range that teaches. λ = 1 is the identity shortcut, λ = 0
# the plain net; over L blocks the shortcut path carries λ^L x, so |λ| > 1 grows it
# exponentially and |λ| < 1 makes it vanish (He et al. 2016, "Identity Mappings in Deep
# Residual Networks", Sec. 3); negative λ flips its sign at every block. −1…4 shows all
# of that (4^54 ≈ 3e32; over the Why page's up to 110 blocks 4^L overflows float32's
# 3.4e38); λ = 1e308 or −5 teach nothing more.
LAMBDA_RANGE: tuple[float, float] = (-1.0, 4.0)


def default_downsample(depth: int) -> DownsampleKind:
    """Option A ("pad") for He et al. 2015's CIFAR depths, as that paper; "conv" for ImageNet's, as
    paddle.vision, and for ResNet-164/1001, whose code (KaimingHe/resnet-1k-layers) projects."""
    return "pad" if depth in CIFAR_DEPTHS else "conv"


def shortcut_scale(shortcut: ShortcutVariant, scale: float) -> float:
    """The λ every block multiplies its shortcut by: 0 for a plain net, ``scale`` for "scaled", else 1."""
    if shortcut == "none":
        return 0.0
    return float(scale) if shortcut == "scaled" else 1.0
