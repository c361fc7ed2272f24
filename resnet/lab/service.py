"""The inference service: the pages' model work, in long-lived processes, never in the server.

A page view that needs a model built or run (Feature maps' maps, the Architecture page's
forward-pass check, the Compute cost page's latency) asks for it and waits for the answer:

    analysis, seconds = call("resnet.inference.served:maps", key=spec.key, spec=spec, array=array)
    result = call("resnet.inference.served:latency", depth=50, batch=1, size=224, repeats=7,
                  progress=lambda fraction, step: bar.progress(fraction))

A target is ``"module:function"`` called with plain keyword arguments (numpy arrays
allowed; never a visitor's raw bytes: uploads are checked and decoded in the server,
``resnet.inference.images``, and only the network's input array is sent). Its return value
is pickled back: the service runs our own code only. ``progress`` (if given) is called in
the caller's thread with whatever the target reports through its own ``progress`` argument.

At most ``MAX_SERVICES`` processes (spawn, started lazily, ``SERVICE_THREADS`` compute
threads each) serve one request at a time each; a request waits for a free one within its
``timeout``. A process keeps its module-level caches (models, fast-path predictors) warm
across requests, so a request goes preferably to the process that last served the same
``key``. A request that runs past its ``timeout`` has its process stopped; a process that
dies (killed when out of memory) or raises ``MemoryError`` is replaced by a fresh one on
the next request. Errors come back as ``ServiceError`` (a public message: no paths), the
core's own refusals (``resnet.errors.CodedError``, e.g. ``WeightsError``) as themselves,
and ``MemoryError`` as itself, so a page answers them as it did when the work ran in it.

The server's threads only ever wait on a pipe here: none is inside Paddle when the
interpreter exits, and then the pool stops its processes (an idle one leaves on its own,
a busy one is killed).
"""

from __future__ import annotations

import functools
import importlib
import logging
import multiprocessing as mp
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable

from ..errors import CodedError
from ..paths import ENV_DATA_DIR, ENV_HOME, ENV_WEIGHTS_DIR
from ..system import usable_cores
from .procs import clean_spawn, ignore_ctrl_c, limit_threads, on_exit, public_message

MAX_SERVICES = usable_cores()  # service processes at once per server
SERVICE_THREADS = 1  # compute threads per service process (the fast path's predictor sets its own)
TIMEOUT_S = 120.0  # a request's default bound: waiting for a process included
KEYS_KEPT = 8  # a process remembers this many request keys to route the same model back to it
STOP_WAIT_S = 5.0  # a stopped process gets this long to leave before it is killed
EXIT_WAIT_S = 1.0  # … when the server stops (the rest of its exit waits for it)
# Folders the service resolves like the server that asks: sent with every request, so a
# long-lived process serves the server's current settings (tests change them per test).
FORWARDED_ENV = (ENV_HOME, ENV_WEIGHTS_DIR, ENV_DATA_DIR)

_log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """The service could not answer: a public message (the target's error, a timeout, a process that died)."""


class ServiceStopped(ServiceError):
    """The pool was stopped (the server leaves) while the request ran."""


@dataclass
class _Process:
    """One service process and the keys it served last (its warm caches)."""

    proc: mp.process.BaseProcess
    conn: Connection
    busy: bool = False
    keys: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def remember(self, key: str | None) -> None:
        if key is not None:
            self.keys[key] = None
            self.keys.move_to_end(key)
            while len(self.keys) > KEYS_KEPT:
                self.keys.popitem(last=False)


class ServicePool:
    """At most ``limit`` service processes; ``call`` hands a request to one and waits for its answer."""

    def __init__(self, limit: int = MAX_SERVICES, threads: int = SERVICE_THREADS) -> None:
        self.limit, self.threads = max(1, limit), threads
        self._ctx = mp.get_context("spawn")
        self._cond = threading.Condition()
        self._procs: list[_Process] = []

    def call(self, target: str, *, key: str | None = None, timeout: float = TIMEOUT_S,
             progress: Callable[..., None] | None = None, **kwargs: Any) -> Any:
        """``target(**kwargs)`` in a service process; its result, or its error raised here (see the module)."""
        deadline = time.monotonic() + timeout
        worker = self._acquire(key, deadline)
        healthy = False
        try:
            result, healthy = self._exchange(worker, (target, kwargs, _forwarded_env(), progress is not None), progress, deadline)
        finally:
            self._release(worker, key if healthy else None, healthy)
        return _raised(result) if isinstance(result, _Failure) else result

    def running(self) -> int:
        """How many service processes are alive."""
        with self._cond:
            return sum(p.proc.is_alive() for p in self._procs)

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop every process now: an idle one leaves on its own within ``wait_s`` (else it is
        killed), a busy one is killed (its caller gets ``ServiceStopped``). The next call starts afresh."""
        with self._cond:
            stopping, self._procs = self._procs, []
        for process in stopping:  # the busy ones now; every idle pipe closed: those leave together, within one wait
            if process.busy:
                _kill(process)
            else:
                process.conn.close()
        deadline = time.monotonic() + wait_s
        for process in stopping:
            process.proc.join(max(0.0, deadline - time.monotonic()))
            if process.proc.is_alive():
                _kill(process)

    # -- in the caller's thread ---------------------------------------------------------

    def _acquire(self, key: str | None, deadline: float) -> _Process:
        """A free process: an idle one that served ``key``, else the oldest idle one (the first
        started: the one that warmed up), else a new one."""
        with self._cond:
            while True:
                for dead in [p for p in self._procs if not p.busy and not p.proc.is_alive()]:
                    self._procs.remove(dead)
                    dead.conn.close()
                idle = [p for p in self._procs if not p.busy]
                chosen = next((p for p in idle if key in p.keys), idle[0] if idle else None)
                if chosen is None and len(self._procs) < self.limit:
                    chosen = self._start()
                if chosen is not None:
                    chosen.busy = True
                    return chosen
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServiceError("the server is busy: every inference process is working on another request")
                self._cond.wait(remaining)

    def _start(self) -> _Process:
        conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child_conn, self.threads), name="resnet-service", daemon=True)
        with clean_spawn():
            proc.start()
        child_conn.close()  # the child's end lives in the child: its death closes the pipe
        process = _Process(proc, conn)
        self._procs.append(process)
        return process

    def _exchange(self, worker: _Process, request: tuple, progress: Callable[..., None] | None,
                  deadline: float) -> tuple[Any, bool]:
        """Send the request, relay its progress, return (its answer, whether the process may serve again)."""
        try:
            worker.conn.send(request)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not worker.conn.poll(remaining):
                    _log.warning("service request %s ran out of time; stopping its process", request[0])
                    return _Failure("timeout", "the request took too long and was stopped"), False
                kind, payload = worker.conn.recv()
                if kind == "progress":
                    if progress is not None:
                        progress(*payload)
                    continue
                return (payload if kind == "ok" else _Failure(*payload)), kind != "memory"
        except (EOFError, OSError):  # the process died: stopped with the pool, or killed when out of memory
            with self._cond:
                stopped = worker not in self._procs
            if stopped:
                return _Failure("stopped", "the inference service was stopped"), False
            worker.proc.join(STOP_WAIT_S)
            code = worker.proc.exitcode
            how = f"was killed (signal {-code}), most likely out of memory" if (code or 0) < 0 else f"stopped (exit code {code})"
            return _Failure("other", f"the inference process {how}"), False

    def _release(self, worker: _Process, key: str | None, healthy: bool) -> None:
        with self._cond:
            worker.busy = False
            worker.remember(key)
            if not healthy and worker in self._procs:
                self._procs.remove(worker)
            self._cond.notify_all()
        if not healthy:
            _kill(worker)


@dataclass(frozen=True)
class _Failure:
    """An error as it crosses the pipe (``kind`` "coded": a ``CodedError``, "memory", "other"), or
    what became of the process ("timeout", "stopped")."""

    kind: str
    message: str
    coded: tuple[str, str, str, dict[str, Any]] | None = None  # (module, class, code, values)


def _raised(failure: _Failure) -> Any:
    """Raise ``failure`` as the page expects it: the core's refusal, ``MemoryError``, else ``ServiceError``."""
    if failure.kind == "memory":
        raise MemoryError(failure.message)
    if failure.kind == "stopped":
        raise ServiceStopped(failure.message)
    if failure.coded is not None:
        module, name, code, values = failure.coded
        cls = getattr(importlib.import_module(module), name, None) if module.startswith("resnet.") else None
        if isinstance(cls, type) and issubclass(cls, CodedError):
            error = cls.__new__(cls)  # as raised in the service, without re-running its __init__
            error.args, error.code, error.values = (failure.message,), code, values
            raise error
    raise ServiceError(failure.message)


def _forwarded_env() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in FORWARDED_ENV}


def _kill(process: _Process) -> None:
    """End a service process now. Its work is only ever a cache or an answer (exports are written
    atomically), and Paddle answers SIGTERM with a crash report, so SIGKILL: it just ends."""
    process.conn.close()
    process.proc.kill()
    process.proc.join(STOP_WAIT_S)


_POOL: ServicePool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> ServicePool:
    """This process's service pool (started lazily: no process until the first call)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ServicePool()
            on_exit(functools.partial(_POOL.stop, wait_s=EXIT_WAIT_S))
        return _POOL


def call(target: str, *, key: str | None = None, timeout: float = TIMEOUT_S,
         progress: Callable[..., None] | None = None, **kwargs: Any) -> Any:
    """``pool().call(...)``: ``target(**kwargs)`` in a service process (see the module)."""
    return pool().call(target, key=key, timeout=timeout, progress=progress, **kwargs)


# ---------------------------------------------------------------------------------
# Inside a service process
# ---------------------------------------------------------------------------------


def _serve(conn: Connection, threads: int) -> None:
    """Answer requests one at a time until the server closes the pipe, or after ``MemoryError``."""
    limit_threads(threads)  # before a target loads Paddle, which reads the limits on import
    ignore_ctrl_c()  # Ctrl-C in the server's terminal is the server's to handle
    while True:
        try:
            target, kwargs, env, wants_progress = conn.recv()
        except EOFError:  # the server went away
            return
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if wants_progress:
            kwargs["progress"] = lambda *args: conn.send(("progress", args))
        kind, payload = _answer(target, kwargs)
        try:
            conn.send((kind, payload))
        except (BrokenPipeError, EOFError):
            return
        except Exception as exc:  # a result that cannot be pickled: say so instead
            conn.send(("error", ("other", f"the answer could not be sent back ({public_message(exc)})")))
        if kind == "memory":
            return  # leave: the memory goes back to the machine, a fresh process takes the next request


def _answer(target: str, kwargs: dict[str, Any]) -> tuple[str, Any]:
    """("ok", result), ("memory", failure fields) or ("error", failure fields) of one request."""
    try:
        module, _, name = target.partition(":")
        return "ok", getattr(importlib.import_module(module), name)(**kwargs)
    except MemoryError as exc:
        return "memory", ("memory", public_message(exc))
    except CodedError as exc:
        return "error", ("coded", str(exc), (type(exc).__module__, type(exc).__qualname__, exc.code, exc.values))
    except Exception as exc:  # the page shows it; the server never sees a traceback
        _log.warning("service request %s failed", target, exc_info=True)
        return "error", ("other", public_message(exc))
