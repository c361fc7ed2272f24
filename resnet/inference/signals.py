"""What the per-block diagnostics measure, as plain data, and what ∏λ predicts of it (no Paddle).

``resnet.inference.diagnostics`` measures it on a model; the lab's server side
(``resnet.lab.session``) reads it back from the run store, and must not load Paddle to do so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockSignal:
    name: str  # "layer2.3"
    stage: int  # 1-based
    shortcut_kind: str  # network.SHORTCUT_KINDS: "identity" | "pad" | "projection" | "off"
    scale: float  # the λ this block applies to its shortcut (0 for a plain block)
    forward_gain: float  # what λ·s(x) alone multiplies the output's RMS by (nan: BN sets it)
    backward_gain: float  # what it multiplies ∂L/∂x's RMS by going back through the block
    out_rms: float  # forward: size of the block's output
    residual_rms: float  # size of F(x)
    shortcut_rms: float  # size of λ·s(x)
    grad_rms: float  # backward: size of ∂L/∂x at the block's input


def predicted_growth(signals: list[BlockSignal]) -> tuple[np.ndarray, np.ndarray]:
    """∏λ along the net (what the shortcuts alone carry): (forward, backward) predictions.

    forward[i]  = forward[i-1] · g_i, from out_rms[0]     (g: the block's forward gain)
    backward[i] = backward[i+1] · g'_i, from grad_rms[-1]  (g': its backward gain, block i's own)

    The gains are λ, or λ/√2 and λ/2 at an option-A stage start. Where BatchNorm sets the
    size (an option-B projection) there is no gain: the prediction restarts from the
    measurement of that block (forward: its output; backward: the gradient at its input).
    """
    n = len(signals)
    forward, backward = np.empty(n), np.empty(n)
    for i, s in enumerate(signals):
        restart = i == 0 or math.isnan(s.forward_gain)
        forward[i] = s.out_rms if restart else forward[i - 1] * s.forward_gain
    for i in reversed(range(n)):
        s = signals[i]
        restart = i == n - 1 or math.isnan(s.backward_gain)
        backward[i] = s.grad_rms if restart else backward[i + 1] * s.backward_gain
    return forward, backward
