"""Comparable starts: every random parameter drawn from a generator seeded by (seed, its name).

Variants built from the same ``seed`` (plain, identity, λ·x) start from identical weights
for every parameter they share, whatever order the layers were created in.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from paddle import nn


def init_parameters(model: nn.Layer, seed: int) -> None:
    """Re-draw every random parameter from a generator seeded by (seed, its name).

    Convs get He (Kaiming) normal, std = sqrt(2 / fan_in), as in the ResNet paper;
    the fc weight Xavier uniform and zero bias, as Paddle's defaults. BatchNorm keeps
    its deterministic γ = 1, β = 0.
    """
    for layer_name, layer in model.named_sublayers():
        if isinstance(layer, nn.Conv2D):
            w = layer.weight
            fan_in = int(np.prod(w.shape[1:]))
            w.set_value(_rng(seed, f"{layer_name}.weight").normal(0.0, math.sqrt(2.0 / fan_in), w.shape).astype("float32"))
        elif isinstance(layer, nn.Linear):
            w = layer.weight  # [in, out]
            limit = math.sqrt(6.0 / (w.shape[0] + w.shape[1]))
            w.set_value(_rng(seed, f"{layer_name}.weight").uniform(-limit, limit, w.shape).astype("float32"))
            layer.bias.set_value(np.zeros(layer.bias.shape, dtype="float32"))


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])
