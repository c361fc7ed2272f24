"""Which path the gradient takes back through each block: the shortcut, or the residual branch F.

He et al. 2016 (Identity Mappings), Eqs. 4-5: with full pre-activation units and identity
shortcuts, x_L = x_l + Σ F(x_i), so ∂E/∂x_l = ∂E/∂x_L · (1 + ∂/∂x_l Σ F): one term arrives
unchanged through the shortcuts, the other through the weight layers. Any multiplier on the
shortcut (λ, a gate's 1 − g) multiplies the first term (their Eq. 8); a plain net has none.

Here that split is measured with Paddle's autograd, block by block, on a real net: the
gradient g reaching a block's output is sent back through the shortcut term as added and
through the residual term as added, separately (``resnet.inference.gradient_record`` says
how, and what the identity share is). Both terms are vector-Jacobian products of one
recorded forward pass (``ResNet.forward_features``), so no block is run twice and no hook
is left on the model.
"""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F

from ..model.init import init_parameters
from ..model.modes import ensure_dygraph
from ..model.network import BlockTrace, ResNet, ResidualBlock, ShortcutVariant, Unit, resnet
from .gradient_record import BlockSplit


def split_block(trace: BlockTrace, grad_out: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
    """(shortcut term, residual term) of ∂L/∂x at one block's input, given g = ∂L/∂out.

    Both [N, C_in, H, W]; their sum is the block's whole ∂L/∂x. g goes back through what
    follows the addition first (the original unit's ReLU), giving g₊ = ∂L/∂(r + s), which
    is the same for both terms; then through each term alone. The graph is kept.
    """
    (g_sum,) = paddle.grad(trace.out, trace.residual, grad_outputs=grad_out, retain_graph=True)
    (residual,) = paddle.grad(trace.residual, trace.x, grad_outputs=g_sum, retain_graph=True)
    if trace.shortcut.stop_gradient:  # a plain block (λ = 0): the term is a constant zero
        return paddle.zeros_like(trace.x), residual
    (shortcut,) = paddle.grad(trace.shortcut, trace.x, grad_outputs=g_sum, retain_graph=True, allow_unused=True)
    return (paddle.zeros_like(trace.x) if shortcut is None else shortcut), residual


def _norm(t: paddle.Tensor) -> float:
    return float(paddle.linalg.norm(t.flatten()))


def measure_split(model: ResNet, x: paddle.Tensor, labels: paddle.Tensor) -> list[BlockSplit]:
    """Per block, in network order, the cross-entropy's gradient at its input split by path.

    One forward pass; the gradient goes back block by block from the last: the sum of a
    block's two terms is the g of the block before it. The model is used in its current
    mode (train mode: BatchNorm on batch statistics, as in training); parameter gradients
    are not touched (``paddle.grad``).
    """
    ensure_dygraph()
    features = model.forward_features(x)
    loss = F.cross_entropy(features.logits, labels)
    blocks: dict[str, ResidualBlock] = dict(model.named_blocks())
    (grad,) = paddle.grad(loss, features.blocks[-1].out, retain_graph=True)
    splits = []
    for trace in reversed(features.blocks):
        shortcut, residual = split_block(trace, grad)
        total = shortcut + residual
        splits.append(BlockSplit(
            name=trace.name, stage=trace.stage, shortcut_kind=blocks[trace.name].shortcut_kind,
            shortcut_norm=_norm(shortcut), residual_norm=_norm(residual), total_norm=_norm(total),
            out_grad_norm=_norm(grad),
        ))
        grad = total  # x of this block is the out of the one before
    return splits[::-1]


def split_of_weights(model: ResNet, images: np.ndarray, labels: np.ndarray) -> list[BlockSplit]:
    """``measure_split`` of a loaded model on ``images`` [N, C, H, W] (float32) and ``labels`` [N],
    in train mode as in training (so its BatchNorm statistics move: give it a private model)."""
    ensure_dygraph()
    model.train()
    return measure_split(model, paddle.to_tensor(images), paddle.to_tensor(labels))


def split_at_init(
    depth: int = 20, *, unit: Unit = "full_preact", shortcut: ShortcutVariant = "identity", scale: float = 1.0,
    gate_bias: float = 0.0, batch: int = 32, size: int = 8, seed: int = 0,
) -> list[BlockSplit]:
    """``measure_split`` of a CIFAR-style net (width 16, option A) at initialisation.

    The data and weights of ``diagnostics.measure_at_init``: one-channel ``size``×``size``
    random-normal images, random labels of 10 classes, ``init_parameters(seed)``, train
    mode. Every family of the same seed sees the same data and the same weights wherever
    its layers are named alike.
    """
    ensure_dygraph()  # before the first tensor
    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.standard_normal((batch, 1, size, size)).astype("float32"))
    labels = paddle.to_tensor(rng.integers(0, 10, batch))
    model = resnet(depth, num_classes=10, in_channels=1, unit=unit, shortcut=shortcut, scale=scale, gate_bias=gate_bias)
    init_parameters(model, seed)
    model.train()
    return measure_split(model, x, labels)


__all__ = ["split_block", "measure_split", "split_of_weights", "split_at_init"]
