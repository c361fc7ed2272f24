"""The pages' model work as the inference service runs it (``resnet.lab.service``), never in the server.

Each function is a service target: it takes plain values (a ``ModelSpec``, the network's
input array, numbers) and finds or builds its models in this process's caches, which stay
warm from one request to the next:

    info = model_info(spec)                                  # Feature maps: the weights, loaded once
    analysis, seconds = maps(spec, array, drop=("layer3.2",))  # every block's maps of one image
    traced = traced_table(50, 224, "full_preact", "conv1x1")  # Architecture: each layer's shape and MACs, run
    note = course_note()                                     # Architecture: the course's ResNet-50, counted
    result = latency(50, 1, 224, repeats=7)                  # Compute cost: dygraph against the fast path

The server checks what a visitor sent (widgets' ranges, an upload's bytes) before it asks;
the targets check their numbers again, as every core function does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import paddle

from ..model import weights
from ..model.network import IMAGENET_DEPTHS, resnet
from . import anatomy, cost, explore, features
from .explore import ModelInfo, ModelSpec

MAX_MODELS = 4  # models kept per service process (a ResNet-152 holds ~240 MB)

_MODELS: OrderedDict[str, weights.LabModel] = OrderedDict()
_LOCK = threading.Lock()


def lab_for(spec: ModelSpec) -> weights.LabModel:
    """The model ``spec`` names, from this process's cache or loaded now (``WeightsError`` if it cannot be)."""
    key = spec.key
    with _LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    lab = _load(spec)
    with _LOCK:
        _MODELS[key] = lab
        while len(_MODELS) > MAX_MODELS:
            _MODELS.popitem(last=False)
    return lab


def _load(spec: ModelSpec) -> weights.LabModel:
    if spec.kind == "random":
        return weights.random_model(int(spec.depth), int(spec.seed))
    if spec.kind == "official":
        return weights.official_model(int(spec.depth))
    if spec.kind == "file" and spec.path:
        return weights.load_trained(spec.path)
    raise ValueError(f"weights are 'random', 'official' or 'file', got {spec.kind!r}")


def model_info(spec: ModelSpec) -> ModelInfo:
    """What the page shows and feeds of the model ``spec`` names (loaded here, kept for the maps)."""
    return ModelInfo.of(spec, lab_for(spec))


def maps(spec: ModelSpec, array: np.ndarray, drop: Sequence[str] = (), shortcuts_off: bool = False,
         ) -> tuple[features.Analysis, float]:
    """``explore.analyse`` of ``array`` [1, C, H, W] on the model ``spec`` names; its seconds."""
    lab = lab_for(spec)
    return explore.analyse(lab.model, array, labels=lab.classes, drop_blocks=drop, shortcuts_off=shortcuts_off)


def traced_table(depth: int, size: int, unit: str = "original", shortcut: str = "identity") -> dict[str, tuple[list[int], int]]:
    """Each layer's (output shape, MACs) in a forward pass (batch 1) of a fresh ResNet-``depth`` with this
    unit and shortcut (λ = 0.5 if scaled): the Architecture page checks its plan-derived table against it."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(f"depth must be one of {list(IMAGENET_DEPTHS)}, got {depth!r}")
    anatomy.check_int("size", size, *cost.IMAGE_SIZE_RANGE)
    net = resnet(depth, unit=unit, shortcut=shortcut, scale=0.5)  # private: the check hooks its layers; resnet validates the variant
    net.eval()
    seen = anatomy.traced_layers(net, paddle.zeros([1, net.config.in_channels, size, size]))
    return {name: (list(shape), macs) for name, (shape, macs) in seen.items()}


def course_note() -> dict[str, Any]:
    """What the Architecture page's note on the course's slips quotes: ``cost.course_estimate()``,
    ``anatomy.pooling_rounding()`` (Paddle's pooling, measured), the course's figure and its rounding."""
    return {"estimate": cost.course_estimate(), "pooling": anatomy.pooling_rounding(),
            "course_figure": cost.COURSE_FIGURES["resnet50_multiplications"], "decimals": cost.COURSE_DECIMALS}


def latency(depth: int, batch: int, size: int, repeats: int, progress: cost.Progress | None = None) -> dict[str, Any]:
    """``cost.measure_latency`` of a seeded ResNet-``depth`` on this process's compute threads."""
    return cost.measure_latency(depth, batch, size, repeats=repeats, progress=progress)
