"""The pages' model work as the inference service runs it (``resnet.lab.service``), never in the server.

Each function is a service target: it takes plain values (a ``ModelSpec``, the network's
input array, numbers) and finds or builds its models in this process's caches, which stay
warm from one request to the next:

    info = model_info(spec)                                  # Feature maps: the weights, loaded once
    analysis, seconds = maps(spec, array, drop=("layer3.2",))  # every block's maps of one image
    problems = table_check(50, 224)                          # Architecture: the layer table against a forward pass
    result = latency(50, 1, 224, repeats=7)                  # Compute cost: dygraph against the fast path

The server checks what a visitor sent (widgets' ranges, an upload's bytes) before it asks;
the targets check their numbers again, as every core function does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

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


def table_check(depth: int, size: int) -> list[str]:
    """Cross-check the Architecture page's layer table (batch 1) by a forward pass of a fresh ResNet-``depth``."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(f"depth must be one of {list(IMAGENET_DEPTHS)}, got {depth!r}")
    anatomy.check_int("size", size, *cost.IMAGE_SIZE_RANGE)
    net = resnet(depth)  # private: the check hooks its layers
    return anatomy.cross_check(net, anatomy.model_rows(net, 1, size))


def latency(depth: int, batch: int, size: int, repeats: int, progress: cost.Progress | None = None) -> dict[str, Any]:
    """``cost.measure_latency`` of a seeded ResNet-``depth`` on this process's compute threads."""
    return cost.measure_latency(depth, batch, size, repeats=repeats, progress=progress)
