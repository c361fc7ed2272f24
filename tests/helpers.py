"""Helpers shared by the test files (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent


def open_page(script: str, *, timeout: float = 180, **params: str) -> AppTest:
    """Run ``script`` (relative to the repo) under AppTest with these URL settings; no exception."""
    at = AppTest.from_file(str(REPO / script), default_timeout=timeout)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def query_param(at: AppTest, name: str) -> str | None:
    """One URL setting after a run (AppTest keeps them as lists)."""
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def poll(condition: Callable[[], object], what: str, timeout: float = 60, interval: float = 0.05) -> object:
    """Wait, at most ``timeout`` seconds, until ``condition()`` is truthy; return it."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
    return value
