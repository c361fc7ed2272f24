"""Process utilities of the lab's worker and task processes and of the server that starts them: spawning,
thread limits, back-off, messages, a SIGTERM handler that survives Paddle's import, and the exit.

The exit: the pools, the task line and the service register their stop with ``on_exit``.
At interpreter exit ``_exit`` marks the exit begun (``clean_spawn`` refuses from then on: a
monitor replacing a worker, a task or a page request starting a process while the server
stops, would start a child that Ctrl-C's signal kills at start-up, or one left for the next
stage to wait for) and runs the stops in turn, each bounded. It runs before multiprocessing's
own exit handler, which would SIGTERM every child and wait for each without a bound (a Paddle
process answers SIGTERM with a crash report first), so that handler finds none left; then it
spares the interpreter's finalization its full collections (``gc.freeze``).
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import multiprocessing.util  # noqa: F401  its exit handler registers now: ours, registered below, runs before it
import os
import re
import signal
import sys
import threading
import types
from contextlib import contextmanager
from typing import Callable, Iterator

from ..paths import REPO_ROOT

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Cap this (worker) process's compute threads; call before Paddle is first imported, which reads them."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


_SPAWN_LOCK = threading.Lock()  # two threads swapping __main__ at once could leave the stand-in behind
_EXITING = threading.Event()  # set when this process's exit begins: no child starts after it
_AT_EXIT: list[Callable[[], None]] = []
_log = logging.getLogger(__name__)


class Exiting(OSError):
    """A child process was asked for while this process exits."""


def on_exit(stop: Callable[[], None]) -> None:
    """Run ``stop`` at interpreter exit, after no child may start any more (in the order registered)."""
    _AT_EXIT.append(stop)


def _exit() -> None:
    _EXITING.set()
    for stop in _AT_EXIT:
        try:
            stop()
        except Exception:  # the other stops still run: every child ends
            _log.exception("stopping at exit")
    # The interpreter's finalization then runs full collections over every object a server
    # holds (Streamlit, Plotly, pandas…): a second or more, ten times that on a loaded machine,
    # all of it inside a stopped server's exit. Refcounts still free what they free; the
    # collector skips the frozen objects (what only a cycle holds is left to the OS).
    gc.freeze()


atexit.register(_exit)


@contextmanager
def clean_spawn() -> Iterator[None]:
    """Start spawn children that import ``resnet`` and none of the parent's ``__main__``.

    Used for the training workers and the page's task processes (``resnet.lab.tasks``).
    A spawn child re-executes the parent's main script to unpickle what it defines.
    Under Streamlit ``__main__`` is the page script (the child would run the page and
    import Streamlit); with a bare stand-in the child only imports its target's module. The
    child also gets the parent's ``sys.path``, which lacks the app folder outside page
    runs (Streamlit adds it only while a script runs), when the monitor replaces a worker.
    ``Exiting`` once this process's exit has begun.
    """
    if _EXITING.is_set():
        raise Exiting("the app is stopping")
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
