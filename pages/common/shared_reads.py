"""Store reads shared by every session of the server process, each at most ``every_s`` old.

Thirty followers look at their class every second; one of them reads the store for all of
them (the lock also keeps thirty sessions arriving at once from reading thirty times). The
value is handed out as it is, not copied: what is read here is frozen (dataclasses).
``st.cache_data`` would unpickle a copy for every session at every look, which cost most
of an idle class's server time (bench/load.py's follow round).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class SharedReads(Generic[T]):
    """Values by key, each read again once it is older than ``every_s``; at most ``limit`` keys kept."""

    def __init__(self, every_s: float, limit: int = 1024) -> None:
        self.every_s, self.limit = every_s, limit
        self._values: dict[Hashable, tuple[float, T]] = {}  # key → (when read, what)
        self._lock = threading.Lock()

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        """The value of ``key``: kept if read less than ``every_s`` ago, else ``read()`` (errors propagate, nothing kept)."""
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.every_s:
                return hit[1]
            value = read()
            if len(self._values) >= self.limit:  # the oldest half goes
                for old in sorted(self._values, key=lambda k: self._values[k][0])[: self.limit // 2]:
                    del self._values[old]
            self._values[key] = (time.monotonic(), value)
            return value

    def forget(self, key: Hashable) -> None:
        """Read ``key`` anew at its next ``get`` (it changed here)."""
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        """Read every key anew (tests: the store changed behind the process's back)."""
        with self._lock:
            self._values.clear()
