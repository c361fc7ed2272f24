"""Tiny task targets for the tests (tests/lab/test_tasks.py; stand-ins for slow targets in page tests), imported by the task processes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable


def count(progress: Callable[[float], None], should_stop: Callable[[], bool], n: int) -> dict:
    """Sum 0..n-1, reporting progress after each term."""
    total = 0
    for i in range(n):
        total += i
        progress((i + 1) / n)
    return {"total": total, "threads": os.environ.get("OMP_NUM_THREADS")}


def until_stopped(progress: Callable[[float], None], should_stop: Callable[[], bool], started: str) -> dict:
    """Report half way, leave a file saying so, then wait for a cancel (the worker's own polling, not a test's)."""
    progress(0.5)
    Path(started).write_text(str(os.getpid()))
    while not should_stop():
        time.sleep(0.01)
    return {"stopped": True}


def out_of_memory(progress: Callable[[float], None], should_stop: Callable[[], bool], folder: str) -> dict:
    raise MemoryError(f"cannot allocate 32 GB for {folder}/weights.pdparams")


def missing_file(progress: Callable[[float], None], should_stop: Callable[[], bool], folder: str) -> dict:
    raise FileNotFoundError(f"[Errno 2] No such file or directory: '{folder}/secret/model.safetensors'")


def not_json(progress: Callable[[float], None], should_stop: Callable[[], bool]) -> dict:
    return {"value": object()}


def dies(progress: Callable[[float], None], should_stop: Callable[[], bool]) -> dict:
    os._exit(3)  # as the kernel's OOM killer would leave it: no handler runs


def stored_lesion(progress: Callable[[float], None], should_stop: Callable[[], bool], weights: str) -> dict:
    """Stands in for the lesion analysis's target (seconds of model work) in page tests: the study stored
    with a shipped model, unless cancelled first."""
    from resnet.lab.shipped import stored_lesion_studies

    if should_stop():
        return {}
    progress(1.0)
    return stored_lesion_studies(Path(weights).parent)[Path(weights).stem].to_dict()
