"""Process utilities of the lab's worker and task processes and of the server that starts them: spawning,
thread limits, back-off, messages, and a SIGTERM handler that survives Paddle's import."""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import signal
import sys
import threading
import types
from contextlib import contextmanager
from typing import Iterator

from ..paths import REPO_ROOT

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Cap this (worker) process's compute threads; call before Paddle is first imported, which reads them."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


_SPAWN_LOCK = threading.Lock()  # two threads swapping __main__ at once could leave the stand-in behind


@contextmanager
def clean_spawn() -> Iterator[None]:
    """Start spawn children that import ``resnet`` and none of the parent's ``__main__``.

    Used for the training workers and the page's task processes (``resnet.lab.tasks``).
    A spawn child re-executes the parent's main script to unpickle what it defines.
    Under Streamlit ``__main__`` is the page script (the child would run the page and
    import Streamlit); with a bare stand-in the child only imports its target's module. The
    child also gets the parent's ``sys.path``, which lacks the app folder outside page
    runs (Streamlit adds it only while a script runs), when the monitor replaces a worker.
    """
    with _SPAWN_LOCK:
        saved_main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        root = str(REPO_ROOT)
        added = root not in sys.path
        if added:
            sys.path.insert(0, root)
        try:
            yield
        finally:
            sys.modules["__main__"] = saved_main
            if added:
                sys.path.remove(root)



class Backoff:
    """Waits that double after each failure, from ``first`` to ``longest`` seconds."""

    def __init__(self, first: float = 1.0, longest: float = 60.0) -> None:
        self.first, self.longest, self.failures = first, longest, 0

    def next(self) -> float:
        """The wait after one more failure."""
        self.failures += 1
        return min(self.longest, self.first * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


def public_message(exc: BaseException) -> str:
    """``Type: message`` for a visitor to read, every absolute path cut to its file name."""
    text = re.sub(r"(?:[A-Za-z]:)?(?:[/\\][^\s/\\'\"]+)*[/\\]([^\s/\\'\"]+)", r"\1", str(exc))
    if isinstance(exc, MemoryError):
        return f"out of memory{': ' + text if text else ''}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def ignore_ctrl_c() -> None:
    """In a child process: ignore SIGINT, which Ctrl-C in a terminal sends to every process of its
    group; the server stops its children itself, so that runs and tasks end recorded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_SIGACTION_BYTES = 256  # more than any libc's struct sigaction: copied whole, never read


def keep_sigterm_handler() -> None:
    """Have this process's SIGTERM handler survive Paddle's import (idempotent; no-op once Paddle is loaded).

    Importing Paddle installs glog's failure handler for SIGTERM, which prints a "FatalError"
    and kills the process: a server told to stop would skip its exit (``atexit``: the
    pools, the task processes) and leave its runs to their leases. Its handler is read
    before that import and put back right after it, whichever thread imports Paddle
    (``sigaction`` through ctypes: ``signal.signal`` only works in the main thread).
    """
    if "paddle" in sys.modules or any(isinstance(f, _KeepSigterm) for f in sys.meta_path) or not hasattr(signal, "SIGTERM"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.sigaction  # noqa: B018  (absent: not a POSIX libc)
    except (OSError, AttributeError):
        return
    sys.meta_path.insert(0, _KeepSigterm(libc))


class _KeepSigterm(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of ``paddle`` so SIGTERM's handler is restored after it runs."""

    def __init__(self, libc: ctypes.CDLL) -> None:
        self.libc = libc

    def find_spec(self, name: str, path: object, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != "paddle":
            return None
        sys.meta_path.remove(self)  # once: the import below finds the real package
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run, libc = spec.loader.exec_module, self.libc

        def exec_module(module: types.ModuleType) -> None:
            saved = ctypes.create_string_buffer(_SIGACTION_BYTES)
            libc.sigaction(signal.SIGTERM, None, saved)
            try:
                run(module)
            finally:
                libc.sigaction(signal.SIGTERM, saved, None)

        spec.loader.exec_module = exec_module
        return spec
