"""The page's compute-heavy work, in worker processes: never in the server.

What the page measures on a run (per-block signals at initialisation or of trained
weights, a loss landscape…) builds and runs models: seconds of CPU and, for a big
configuration, gigabytes. The server only asks for it and shows what the store holds:

    artifact = start_task(store.address, run_id, "signals_init", key, "resnet.lab.measure:signals_at_init", {"key": key})
    artifact.status, artifact.progress    # running 0.4 → done (payload) | failed (error) | cancelled
    read_task(store.address, run_id, "signals_init", key)      # the same, without starting anything
    cancel_task(store.address, run_id, "signals_init", key)

The pages call these through ``resnet.lab.analyses`` (one ``Analysis`` per kind of result).

``store.address`` is the store's file, or its PostgreSQL URL. A target is
``"module:function"`` with ``f(progress, should_stop, **kwargs) -> dict``: it calls
``progress(fraction)`` now and then, returns early when ``should_stop()`` (a cancel, or
the server went away), and returns a JSON-able payload. It runs in a spawn process with
``TASK_THREADS`` compute threads; at most ``MAX_TASKS`` such processes run per server
(one per core), the rest wait in line. A task process computes one task after another,
so Paddle is imported once, not per task, and leaves when idle or out of memory. The store keeps each artifact, its
progress and its lease (``resnet.lab.store``), so page reruns, other tabs, other servers
and restarts see one computation, done once. An exception, ``MemoryError`` included,
or a worker that dies (killed when out of memory) leaves a failed artifact whose error
says why, with file names, never absolute paths.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from ..system import usable_cores
from .procs import Exiting, clean_spawn, ignore_ctrl_c, keep_sigterm_handler, limit_threads, on_exit, public_message
from .store import HEARTBEAT_S, LEASE_S, Artifact, StoreError, opened_store

MAX_TASKS = usable_cores()  # task processes at once per server; the rest wait in line
TASK_THREADS = 1  # compute threads per task process (the training workers use the cores too)
POLL_S = 0.2  # the dispatcher looks at its processes this often
STOP_WAIT_S = 1.0  # at shutdown, the dispatcher's thread and its terminated processes get this long
IDLE_EXIT_S = 60.0  # a task process without work for this long leaves
CHECK_S = 0.5  # a task asks the store "cancelled?" at most this often
PROGRESS_S = 0.25  # …and writes its progress at most this often

Progress = Callable[[float], None]  # a target's progress(fraction of its work done, 0..1)
ShouldStop = Callable[[], bool]  # True once the target should return at once (a cancel, or the server went away)
Target = Callable[..., dict[str, Any]]  # f(progress: Progress, should_stop: ShouldStop, **kwargs) -> JSON-able payload
_log = logging.getLogger(__name__)


def start_task(
    store_path: str | Path, run_id: int, kind: str, key: str, target: str, kwargs: dict[str, Any], *, retry_failed: bool = True
) -> Artifact:
    """The artifact (run, kind, key): as stored when done or being computed, else now started in a worker.

    ``store_path``: the store's address (``RunStore.address``: its file, or a PostgreSQL URL).
    ``retry_failed=False`` returns a failed or cancelled artifact as it is (a page that
    polls would otherwise start a computation that failed again and again).
    """
    store = opened_store(str(store_path))
    found = store.artifact(run_id, kind, key)
    if found is not None and (found.status == "done" or (not retry_failed and found.status in ("failed", "cancelled"))):
        return found
    if found is not None and found.status == "running" and found.updated_at >= store.clock() - LEASE_S:
        return found  # being computed (its lease renews updated_at): a page polling it only reads
    if store.begin_artifact(run_id, kind, key, os.getpid()):
        _dispatcher().submit(_Task(store.address, run_id, kind, key, target, dict(kwargs)))
    artifact = store.artifact(run_id, kind, key)
    assert artifact is not None  # begun here or elsewhere: the row exists
    return artifact


def read_task(store_path: str | Path, run_id: int, kind: str, key: str) -> Artifact | None:
    """The artifact (run, kind, key) as the store holds it (any status), or None: nothing is started."""
    return opened_store(str(store_path)).artifact(run_id, kind, key)


def forget_task(store_path: str | Path, run_id: int, kind: str, key: str) -> None:
    """Drop a finished artifact (done, failed or cancelled), so that the next ``start_task`` computes it again."""
    opened_store(str(store_path)).forget_artifact(run_id, kind, key)


def cancel_task(store_path: str | Path, run_id: int, kind: str, key: str) -> str | None:
    """Stop computing an artifact: at once if it waits in line here, else at its next check; its status then."""
    store = opened_store(str(store_path))
    status = store.request_artifact_cancel(run_id, kind, key)
    if _DISPATCHER is not None and _DISPATCHER.drop(store.address, run_id, kind, key):
        store.fail_artifact(run_id, kind, key, "cancelled", status="cancelled")
        return "cancelled"
    return status


# ---------------------------------------------------------------------------------
# In the server: a bounded line of task processes
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    store_path: str
    run_id: int
    kind: str
    key: str
    target: str
    kwargs: dict[str, Any] = field(compare=False, hash=False)

    @property
    def ident(self) -> tuple[str, int, str, str]:
        return self.store_path, self.run_id, self.kind, self.key


@dataclass
class _Slot:
    """One task process and the task it computes (None: idle since ``idle_since``)."""

    proc: mp.process.BaseProcess
    conn: Connection  # tasks go down, "finished" comes back
    task: _Task | None = None
    idle_since: float = 0.0


class _Dispatcher:
    """Hands waiting tasks to at most ``limit`` task processes; marks the tasks of those that died failed.

    A task process computes one task after another (Paddle is imported once, not per
    task) and leaves after IDLE_EXIT_S without work, or after running out of memory.
    ``shutdown`` ends the line: its thread and every task process.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._ctx = mp.get_context("spawn")
        self._cond = threading.Condition()
        self._waiting: deque[_Task] = deque()
        self._slots: list[_Slot] = []
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="resnet-tasks", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop the thread and end every task process now; what they computed or waited for is left to the next request.

        A task may take minutes and checks for a stop only now and then, so its process
        is terminated (SIGTERM: no handler there, it ends at once). Its artifact, and
        those of the tasks still in line, stay "running" with their lease ended
        (``RunStore.release_artifact``): the next ``start_task`` computes them anew.
        """
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            slots, left = list(self._slots), list(self._waiting)
            self._slots.clear()
            self._waiting.clear()
        for slot in slots:
            slot.proc.terminate()
        deadline = time.monotonic() + timeout  # one wait for all of them: they end together
        for slot in slots:
            slot.proc.join(max(0.0, deadline - time.monotonic()))
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join(timeout)
            slot.conn.close()
        for task in [s.task for s in slots if s.task is not None] + left:
            _try_store(lambda: opened_store(task.store_path).release_artifact(task.run_id, task.kind, task.key))

    def submit(self, task: _Task) -> None:
        with self._cond:
            self._waiting.append(task)
            self._cond.notify()

    def drop(self, *ident: Any) -> bool:
        """Remove a task still waiting in line; whether it was there."""
        with self._cond:
            for task in self._waiting:
                if task.ident == ident:
                    self._waiting.remove(task)
                    return True
        return False

    def counts(self) -> tuple[int, int]:
        """(tasks being computed, tasks waiting)."""
        with self._cond:
            return sum(s.task is not None for s in self._slots), len(self._waiting)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # never leave the line unserved; what failed is tried again next time
                _log.exception("task dispatcher")

    def _step(self) -> None:
        with self._cond:
            self._cond.wait(POLL_S)
            died = self._collect()
            self._assign()
            waiting = list(self._waiting)
        for task, proc in died:  # store writes outside the lock: a slow disk must not block submit()
            _settle(task, proc)
        if time.monotonic() - self._renewed >= HEARTBEAT_S:  # the line's tasks keep their lease here
            self._renewed = time.monotonic()
            for task in waiting:
                _try_store(lambda: opened_store(task.store_path).artifact_progress(task.run_id, task.kind, task.key, 0.0))

    def _collect(self) -> list[tuple[_Task, mp.process.BaseProcess]]:
        """Free the slots whose task finished, drop dead, leaving and long-idle processes; the tasks that died with theirs."""
        now, died = time.monotonic(), []
        for slot in list(self._slots):
            if slot.task is not None and slot.conn.poll():  # before is_alive(): it may have finished, then left
                try:
                    stays = slot.conn.recv()  # False: it ran out of memory and leaves
                except (EOFError, OSError):  # no: it died during the task (or at start-up: Ctrl-C's signal)
                    pass
                else:
                    slot.task, slot.idle_since = None, now
                    if not stays:
                        self._drop(slot)
                        continue
            if not slot.proc.is_alive():
                if slot.task is not None:
                    died.append((slot.task, slot.proc))
                self._drop(slot)
            elif slot.task is None and now - slot.idle_since >= IDLE_EXIT_S:
                self._send(slot, None)  # leave: its memory goes back to the machine
                self._drop(slot)
        return died

    def _assign(self) -> None:
        while self._waiting:
            slot = next((s for s in self._slots if s.task is None), None)
            if slot is None:
                if len(self._slots) >= self.limit:
                    return
                try:
                    slot = self._start_process()
                except Exiting:  # the server stops: the tasks in line are released by ``shutdown``
                    return
            slot.task = self._waiting.popleft()
            if not self._send(slot, slot.task):  # it left meanwhile: the task goes first in line again
                self._waiting.appendleft(slot.task)
                self._drop(slot)

    def _send(self, slot: _Slot, message: _Task | None) -> bool:
        try:
            slot.conn.send(message)
            return True
        except OSError:  # BrokenPipeError: the process is gone
            return False

    def _drop(self, slot: _Slot) -> None:
        self._slots.remove(slot)
        slot.conn.close()

    def _start_process(self) -> _Slot:
        conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(target=_task_worker, args=(child_conn, TASK_THREADS), name="resnet-task", daemon=True)
        with clean_spawn():
            proc.start()
        child_conn.close()  # the child's end lives in the child: its death closes the pipe
        slot = _Slot(proc, conn)
        self._slots.append(slot)
        return slot


def _settle(task: _Task, proc: mp.process.BaseProcess) -> None:
    """A task process died during ``task``: the artifact fails (killed when out of memory, most likely)."""
    proc.join()
    how = f"was killed (signal {-proc.exitcode})" if (proc.exitcode or 0) < 0 else f"stopped (exit code {proc.exitcode})"
    error = f"the worker process {how}, most likely out of memory"
    _try_store(lambda: opened_store(task.store_path).fail_artifact(task.run_id, task.kind, task.key, error))


def _try_store(write: Callable[[], None]) -> None:
    try:
        write()
    except StoreError:  # the disk is full for a moment: the lease runs out and the next request starts it again
        pass


_DISPATCHER: _Dispatcher | None = None
_DISPATCHER_LOCK = threading.Lock()


def _dispatcher() -> _Dispatcher:
    global _DISPATCHER
    with _DISPATCHER_LOCK:
        if _DISPATCHER is None:
            _DISPATCHER = _Dispatcher(MAX_TASKS)
        return _DISPATCHER


def shutdown_dispatcher() -> None:
    """End this process's line of task processes, if it started one (at exit; the tests, between tests)."""
    global _DISPATCHER
    with _DISPATCHER_LOCK:
        dispatcher, _DISPATCHER = _DISPATCHER, None
    if dispatcher is not None:
        dispatcher.shutdown()


on_exit(shutdown_dispatcher)  # no task process outlives the server, and their artifacts are released
keep_sigterm_handler()  # …also when SIGTERM stops it after Paddle's import


# ---------------------------------------------------------------------------------
# Inside a task process
# ---------------------------------------------------------------------------------


def _task_worker(conn: Connection, threads: int) -> None:
    """Compute the tasks the dispatcher sends, one at a time, until told to leave or the server goes."""
    ignore_ctrl_c()
    limit_threads(threads)  # before a target loads Paddle, which reads the limits on import
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the server went away
            return
        if task is None:
            return
        stays = _compute(task)
        conn.send(stays)
        if not stays:
            return


def _compute(task: _Task) -> bool:
    """Compute one artifact: progress and lease into the store, then its payload or why it failed.

    False after ``MemoryError``: the process had better leave and give its memory back.
    """
    store = opened_store(task.store_path)
    ident = (task.run_id, task.kind, task.key)
    _try_store(lambda: store.artifact_progress(*ident, 0.0, worker_pid=os.getpid()))
    parent = mp.parent_process()
    state = {"progress": 0.0, "written": 0.0, "checked": 0.0, "stop": False}  # the first report is written at once
    done = threading.Event()

    def progress(fraction: float) -> None:
        state["progress"] = fraction
        if time.monotonic() - state["written"] >= PROGRESS_S:
            state["written"] = time.monotonic()
            _try_store(lambda: store.artifact_progress(*ident, fraction))

    def should_stop() -> bool:
        if not state["stop"] and time.monotonic() - state["checked"] >= CHECK_S:
            state["checked"] = time.monotonic()
            try:
                state["stop"] = store.artifact_cancel_requested(*ident) or (parent is not None and not parent.is_alive())
            except StoreError:
                pass  # asked again at the next check
        return bool(state["stop"])

    def beat() -> None:  # the lease, also while the target is inside one long computation
        while not done.wait(HEARTBEAT_S):
            _try_store(lambda: store.artifact_progress(*ident, state["progress"]))

    threading.Thread(target=beat, name="resnet-task-heartbeat", daemon=True).start()
    try:
        module, _, name = task.target.partition(":")
        function: Target = getattr(importlib.import_module(module), name)
        payload = function(progress, should_stop, **task.kwargs)
        if state["stop"]:
            _try_store(lambda: store.fail_artifact(*ident, "cancelled", status="cancelled"))
        else:
            store.finish_artifact(*ident, payload)  # TypeError if not JSON-able: caught below
    except Exception as exc:  # MemoryError is one too: the artifact says why, the server never sees a traceback
        _try_store(lambda: store.fail_artifact(*ident, public_message(exc)))
        return not isinstance(exc, MemoryError)
    finally:
        done.set()
    return True
