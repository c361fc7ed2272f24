"""Measured shortcut diagnostics: how signal and gradient scale from block to block.

Theory (He et al. 2016, "Identity Mappings"): with y = F(x) + λ·x, the shortcut part of
the signal after L blocks is λ^L · x, and so is the shortcut part of the gradient going
back. λ > 1 explodes, λ < 1 vanishes, λ = 1 passes both through unchanged. Here we
measure it on real models instead of simulating it.

All sizes are RMS values (‖t‖ / √numel) so stages of different shapes are comparable.
What the shortcut alone multiplies the RMS by in one block, its *gain*:

- identity: λ, forward and backward;
- option A stage start (keep every s-th pixel, s = 2; pad C_in → C_out = 2·C_in channels
  with zeros): forward λ·√(C_in/C_out) = λ/√2, as the kept pixels hold 1/s² of x's
  squares, now spread over C_out/C_in · 1/s² as many elements, half of them zeros;
  backward λ/s = λ/2, as the gradient of each output pixel of the first C_in channels
  lands on one of s² input pixels, the padded channels' on none. Both assume the kept
  pixels, and the gradient's channels, are of average size: measured within 10% forward,
  and 7–17% above λ/2 backward, as the padded channels carry less gradient
  (tests/inference/test_diagnostics.py);
- option B stage start (1×1 conv + BN): none can be given, BatchNorm sets the size
  (train mode: the projection's output has unit variance whatever x's size), so the
  prediction starts again from the measurement there;
- off (plain block, λ = 0): 0.
"""

from __future__ import annotations

import math

import numpy as np
import paddle
import paddle.nn.functional as F

from ..model.init import init_parameters
from ..model.modes import ensure_dygraph, eval_mode
from ..model.network import DownsampleKind, ResidualBlock, ResNet, ShortcutMode, resnet
from .signals import BlockSignal


def rms(t: paddle.Tensor) -> float:
    """‖t‖ / √numel as a Python float."""
    return float(paddle.sqrt(paddle.mean(paddle.square(t))))


def shortcut_gain(block: ResidualBlock) -> tuple[float, float]:
    """(forward, backward) gain of ``block``'s shortcut on RMS sizes (see the module doc)."""
    lam = block.scale
    if block.shortcut_kind == "pad":
        return lam * math.sqrt(block.c_in / block.c_out), lam / block.stride
    if block.shortcut_kind == "projection":
        return math.nan, math.nan
    return lam, lam  # identity; λ = 0 when off


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
        forward_gain, backward_gain = shortcut_gain(block)
        signals.append(BlockSignal(
            name=trace.name,
            stage=trace.stage,
            shortcut_kind=block.shortcut_kind,
            scale=block.scale,
            forward_gain=forward_gain,
            backward_gain=backward_gain,
            out_rms=rms(trace.out),
            residual_rms=rms(trace.residual),
            shortcut_rms=rms(trace.shortcut),
            grad_rms=rms(grad) if grad is not None else 0.0,
        ))
    model.clear_gradients(set_to_zero=False)
    return signals


def measure_at_init(
    depth: int, shortcut: ShortcutMode = "identity", scale: float = 1.0, *,
    downsample: DownsampleKind | None = None, batch: int = 32, size: int = 8, seed: int = 0,
) -> list[BlockSignal]:
    """``measure_signal`` of a CIFAR-style net at initialisation, as the Why page shows it.

    One-channel ``size``×``size`` random-normal images and random labels of 10 classes,
    weights from ``init_parameters(seed)`` (the lab's), train-mode BatchNorm as in
    training: every variant of the same seed sees the same data and shared weights.
    """
    ensure_dygraph()  # before the first tensor: a Streamlit thread may start in static mode
    rng = np.random.default_rng(seed)
    x = paddle.to_tensor(rng.standard_normal((batch, 1, size, size)).astype("float32"))
    labels = paddle.to_tensor(rng.integers(0, 10, batch))
    model = resnet(depth, num_classes=10, in_channels=1, shortcut=shortcut, scale=scale, downsample=downsample)
    init_parameters(model, seed)
    model.train()
    return measure_signal(model, x, labels)


def response_std(model: ResNet, x: paddle.Tensor) -> list[tuple[str, float]]:
    """Std of each 3×3 conv's response after BN, before ReLU/addition (ResNet paper Fig. 7).

    Measured in eval mode (BatchNorm with its running statistics, as the paper's
    trained models on the test set). Bottleneck blocks contribute their middle conv.
    """
    ensure_dygraph()
    with eval_mode(model), paddle.no_grad():
        features = model.forward_features(x)
    stds = []
    for trace in features.blocks:
        mids = trace.mid if model.config.block == "basic" else trace.mid[1:2]
        for i, response in enumerate(mids, start=1):
            stds.append((f"{trace.name}.conv{i if model.config.block == 'basic' else 2}", float(paddle.std(response))))
    return stds
