"""Measured shortcut diagnostics: how signal and gradient scale from block to block.

Theory (He et al. 2016, "Identity Mappings"): with y = F(x) + λ·x, the shortcut part of
the signal after L blocks is λ^L · x, and so is the shortcut part of the gradient going
back. λ > 1 explodes, λ < 1 vanishes, λ = 1 passes both through unchanged. Here we
measure it on real models instead of simulating it.

All sizes are RMS values (‖t‖ / √numel) so stages of different shapes are comparable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn.functional as F

from ..model.network import ResNet, ensure_dygraph


@dataclass(frozen=True)
class BlockSignal:
    name: str  # "layer2.3"
    stage: int  # 1-based
    projected: bool  # shortcut is a 1×1 projection here (shape changes)
    scale: float  # the λ this block applies to its shortcut (0 for a plain block)
    out_rms: float  # forward: size of the block's output
    residual_rms: float  # size of F(x)
    shortcut_rms: float  # size of λ·s(x)
    grad_rms: float  # backward: size of ∂L/∂x at the block's input


def rms(t: paddle.Tensor) -> float:
    """‖t‖ / √numel as a Python float."""
    return float(paddle.sqrt(paddle.mean(paddle.square(t))))


def measure_signal(model: ResNet, x: paddle.Tensor, labels: paddle.Tensor) -> list[BlockSignal]:
    """One forward + backward pass; per block the forward sizes and ∂L/∂x at its input.

    The model is used in its current mode (train mode: BatchNorm uses batch statistics,
    as during training) and its parameter gradients are cleared afterwards.
    """
    ensure_dygraph()
    features = model.forward_features(x)
    for trace in features.blocks:
        trace.x.retain_grads()  # intermediate tensors drop their grads unless asked
    loss = F.cross_entropy(features.logits, labels)
    loss.backward()
    blocks = dict(model.named_blocks())
    signals = []
    for trace in features.blocks:
        block = blocks[trace.name]
        grad = trace.x.grad
        signals.append(BlockSignal(
            name=trace.name,
            stage=int(trace.name[5]),
            projected=block.downsample is not None,
            scale=block.scale,
            out_rms=rms(trace.out),
            residual_rms=rms(trace.residual),
            shortcut_rms=rms(trace.shortcut),
            grad_rms=rms(grad) if grad is not None else 0.0,
        ))
    model.clear_gradients(set_to_zero=False)
    return signals


def predicted_growth(signals: list[BlockSignal]) -> tuple[np.ndarray, np.ndarray]:
    """∏λ along the net, anchored at the first block: (forward, backward) predictions.

    forward[i]  = out_rms[0] · λ_1 ⋯ λ_i          (what the shortcut alone would carry)
    backward[i] = grad_rms[-1] · λ_{i+1} ⋯ λ_last  (the gradient along the shortcuts)
    """
    scales = np.array([s.scale for s in signals], dtype=float)
    forward = signals[0].out_rms * np.concatenate([[1.0], np.cumprod(scales[1:])])
    tail = np.concatenate([np.cumprod(scales[::-1][:-1])[::-1], [1.0]])
    backward = signals[-1].grad_rms * tail
    return forward, backward


def per_block_ratio(values: list[float]) -> list[float]:
    """values[i+1] / values[i]: how much one block multiplies the quantity by."""
    return [b / a if a > 0 else math.inf for a, b in zip(values, values[1:])]


def response_std(model: ResNet, x: paddle.Tensor) -> list[tuple[str, float]]:
    """Std of each 3×3 conv's response after BN, before ReLU/addition (ResNet paper Fig. 7).

    Measured in eval mode (BatchNorm with its running statistics, as the paper's
    trained models on the test set). Bottleneck blocks contribute their middle conv.
    """
    ensure_dygraph()
    was_training = model.training
    model.eval()
    try:
        with paddle.no_grad():
            features = model.forward_features(x)
    finally:
        model.train(was_training)
    stds = []
    for trace in features.blocks:
        mids = trace.mid if model.config.block == "basic" else trace.mid[1:2]
        for i, response in enumerate(mids, start=1):
            stds.append((f"{trace.name}.conv{i if model.config.block == 'basic' else 2}", float(paddle.std(response))))
    return stds
