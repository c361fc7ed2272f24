"""The network and what defines its numbers: architecture, seeded init, weights, preprocessing.

``from resnet.model import resnet`` builds a network (``network.py``, where the shortcut λ
is applied in ``ResidualBlock.forward_trace``). The network's names are re-exported here
lazily, so ``resnet.model.preprocess`` (no Paddle) loads without importing Paddle.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    network = importlib.import_module(".network", __name__)
    if name in network.__all__:
        return getattr(network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
