"""Targets the service tests run in an inference service process (``resnet.lab.service``)."""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np

from resnet.model.preprocess import ImageError


def echo(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def steps(n: int, progress: Callable[..., None]) -> int:
    for i in range(n):
        progress((i + 1) / n, f"step {i}")
    return os.getpid()


def refuse(path: str) -> None:
    raise ImageError("damaged", f"{path} is damaged", name=os.path.basename(path))


def out_of_memory() -> None:
    raise MemoryError("no room for a ResNet-152")


def fail(path: str) -> None:
    raise OSError(f"cannot read {path}")


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def die() -> None:
    os._exit(3)


def env(name: str) -> str | None:
    return os.environ.get(name)


def pid() -> int:
    return os.getpid()


def unpicklable() -> Any:
    return lambda: None


def doubled(array: np.ndarray) -> np.ndarray:
    return 2 * array
