"""What the gradient split measures (``resnet.inference.gradient_split``), as plain data (no Paddle).

The Why page reads it back from the run store and must not load Paddle to do so.

For one block, out = f(r(x) + s(x)) with r the residual term as added (ρ·F(x), gated) and s the
shortcut term as added (λ·s(x), gated, zero in a plain block), f what follows the addition
(ReLU in the original unit, nothing in full pre-activation). With g = ∂L/∂out and
g₊ = ∂L/∂(r + s) = f'ᵀ g, the gradient at the block's input splits exactly in two:

    ∂L/∂x = (∂s/∂x)ᵀ g₊ + (∂r/∂x)ᵀ g₊          (the shortcut term + the residual term)

He et al. 2016 (Identity Mappings), Eq. 5 is this, unrolled over blocks, for full
pre-activation and identity shortcuts: there the shortcut term is g itself.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class BlockSplit:
    """The gradient at one block's input, split by the path it came through (L2 norms over the batch)."""

    name: str  # "layer2.3"
    stage: int  # 1-based
    shortcut_kind: str  # network.SHORTCUT_KINDS
    shortcut_norm: float  # ‖(∂s/∂x)ᵀ g₊‖: through the shortcut
    residual_norm: float  # ‖(∂r/∂x)ᵀ g₊‖: through the residual branch F
    total_norm: float  # ‖∂L/∂x‖, the two terms' sum
    out_grad_norm: float  # ‖g‖ = ‖∂L/∂out‖, what reached the block from above

    @property
    def identity_share(self) -> float:
        """‖shortcut term‖ / (‖shortcut term‖ + ‖residual term‖): 1 all through the shortcut, 0 all through F.

        A share of norms, not of the sum: the two terms may point different ways, so the
        shares say which path carries how much, not how much of ‖∂L/∂x‖ each one makes.
        0 when no gradient arrives at all.
        """
        both = self.shortcut_norm + self.residual_norm
        return self.shortcut_norm / both if both > 0 else 0.0

    @property
    def shortcut_gain(self) -> float:
        """‖shortcut term‖ / ‖g‖: what the way back through the shortcut multiplies the gradient by.

        1 through an identity shortcut of full pre-activation (Eq. 5's 1), λ through λ·x (Eq. 8),
        less than 1 where the original unit's ReLU after the addition zeroes part of g.
        """
        return self.shortcut_norm / self.out_grad_norm if self.out_grad_norm > 0 else 0.0


# Shortcuts that keep the shape: a stage start's (option A's subsample + zero-pad, a projection)
# changes the gradient's size for reasons of its own, so typical values leave those blocks out.
SAME_SHAPE = ("identity", "off", "conv1x1")


def typical(splits: list[BlockSplit], value: str) -> float:
    """The median of a ``BlockSplit`` property (say ``"shortcut_gain"``) over the blocks that keep their shape."""
    values = [getattr(s, value) for s in splits if s.shortcut_kind in SAME_SHAPE]
    if not values:
        raise ValueError("no block keeps its shape")
    return statistics.median(values)


__all__ = ["BlockSplit", "SAME_SHAPE", "typical"]
