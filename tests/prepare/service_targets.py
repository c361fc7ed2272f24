"""Targets the tests run in an inference service process (``resnet.lab.service``), to look inside it."""

from __future__ import annotations

from resnet.inference import fastpath


def fast_models() -> list[tuple[str, str, int]]:
    """(weights digest, backend, object id) of every fast model in this process's memory cache."""
    with fastpath._CACHE_LOCK:
        return [(digest, fast.backend, id(fast)) for (digest, _), fast in fastpath._MEMORY.items()]
