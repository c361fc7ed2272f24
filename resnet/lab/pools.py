"""The lab's training pools: local worker processes (``JobPool``), and the one pool per store a server uses.

The page (or a test, or a script) submits configurations; the store queues them
(deduplicated: the same configuration submitted twice is one run) and the workers, one
per core by default with one compute thread each, claim queued runs and train them
(``resnet.lab.worker``). Everything the page shows is read back from the store, so
workers never touch Streamlit and a page rerun, a second browser tab or a server restart
sees the same runs.

    pool = pool_for()                    # this process's pool for the default store, started
    run_id, created = pool.submit(TrainConfig(depth=56, shortcut="none"))
    pool.store.get_run(run_id).status    # queued / running / done …
    pool.store.metrics(run_id)           # the curve so far
    pool.cancel(run_id)

``pool_for`` is the one place that picks the back end: a ``resnet.lab.cluster.RayPool``
when ``RESNET_LAB_RAY_ADDRESS`` names a Ray cluster, else a ``JobPool``; every pool it
made is shut down when the process exits (``shutdown_pools``).

Faults: the pool's monitor marks the runs of a worker it saw die interrupted at once,
and those of a worker silent for longer than the lease (a server that died, another
machine) within HEARTBEAT_S. It replaces dead workers whatever the store does, a worker
that dies young (e.g. at start-up) after a wait that doubles each time.

Processes, not threads: training holds the GIL and would freeze the UI. How the
workers' count and threads pay off on this machine: bench/training.py.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from pathlib import Path
from typing import Callable

from ..system import usable_cores
from . import cluster, worker
from .config import TrainConfig
from .procs import Backoff, clean_spawn, keep_sigterm_handler, on_exit
from .queued import QueuedPool, Submitted
from .store import ACTIVE, HEARTBEAT_S, RunStore, StoreError, store_address

POLL_S = 0.5  # the pool checks its workers this often
EXIT_GRACE_S = 3.0  # at exit, a training worker gets this long to end its step (then it is killed)
KILL_WAIT_S = 1.0  # a killed process is gone within this (bounded: one in uninterruptible I/O is left behind)
STABLE_S = 30.0  # a worker that dies sooner failed to start (or keeps failing): its replacement waits, longer each time
_log = logging.getLogger(__name__)


class JobPool(QueuedPool):
    """Worker processes (spawn context) training queued runs from one store."""

    def __init__(
        self, store: RunStore | str | Path | None = None, *, workers: int | None = None, threads: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store if isinstance(store, RunStore) else RunStore(store)
        self.workers = workers or usable_cores()
        self.threads = threads
        self._ctx = mp.get_context("spawn")
        self._wake = self._ctx.Semaphore(0)  # one release per new run: an idle worker claims it now
        self._stop = self._ctx.Event()
        self._procs: dict[mp.process.BaseProcess, float] = {}  # worker → when it started (``clock``)
        self._lock = threading.Lock()
        self._monitor: threading.Thread | None = None
        self._clock = clock
        self._respawn = Backoff(first=POLL_S * 2)
        self._respawn_at = 0.0  # no replacement before this time after workers died young
        self._dead_pids: set[int] = set()  # dead workers whose runs are still to be marked interrupted
        self._orphans_at = 0.0  # next look for runs whose lease ran out

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> JobPool:
        """Start the workers and their monitor (idempotent).

        Runs left running by a server that died are interrupted by the monitor once their
        lease runs out (``resnet.lab.store.LEASE_S``).
        """
        with self._lock:
            if self._monitor is not None and self._monitor.is_alive():
                return self
            self._stop.clear()  # a pool that was shut down can start again
            self._fill()
            self._monitor = threading.Thread(target=self._watch, name="resnet-jobs-monitor", daemon=True)
            self._monitor.start()
        return self

    def _fill(self) -> None:
        """Start workers up to ``self.workers``; a failed start counts as a worker dying young."""
        while len(self._procs) < self.workers:
            try:
                self._procs[self._spawn()] = self._clock()
            except OSError:  # out of processes or memory for a moment
                self._respawn_at = self._clock() + self._respawn.next()
                return

    def _spawn(self) -> mp.process.BaseProcess:
        proc = self._ctx.Process(
            target=worker.main,
            args=(self.store.address, self.threads, self._wake, self._stop),
            name="resnet-train-worker",
            daemon=True,  # never outlive the app
        )
        with clean_spawn():
            proc.start()
        return proc

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            self.check_workers()

    def check_workers(self) -> list[int]:
        """Replace dead workers, mark orphaned runs interrupted (curves kept); their ids.

        Replacing comes first and never depends on the store: a worker that died young
        (within STABLE_S, e.g. at start-up on an unreadable store) is replaced after a
        wait that doubles each time, not at once. Orphans are the runs of the dead
        workers, at once, and every HEARTBEAT_S those whose lease ran out.
        """
        with self._lock:
            if self._stop.is_set():
                return []
            now = self._clock()
            for proc, started in list(self._procs.items()):
                if not proc.is_alive():  # is_alive() also reaps zombies
                    del self._procs[proc]
                    self._dead_pids.add(proc.pid)
                    if now - started < STABLE_S:
                        self._respawn_at = started + self._respawn.next()
                    else:
                        self._respawn.reset()
            if len(self._procs) < self.workers and now >= self._respawn_at:
                self._fill()
            if not self._dead_pids and now < self._orphans_at:
                return []
            try:
                interrupted = self.store.interrupt_orphans(self._dead_pids)
            except StoreError:  # e.g. disk full for a moment: tried again at the next check
                return []
            self._dead_pids.clear()
            self._orphans_at = now + HEARTBEAT_S
            return interrupted

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the workers; a run still training stops within a step or so, marked interrupted."""
        with self._lock:
            self._stop.set()
            for _ in self._procs:
                self._wake.release()
            deadline = time.monotonic() + timeout
            for proc in self._procs:
                proc.join(max(0.0, deadline - time.monotonic()))
            for proc in self._procs:
                if proc.is_alive():  # stuck (e.g. a huge step, or still importing Paddle): its run is marked interrupted below
                    proc.kill()  # not SIGTERM: Paddle answers it with a crash report, seconds long
                    proc.join(KILL_WAIT_S)
            self._dead_pids.update(p.pid for p in self._procs)
            self._procs = {}
        if self._monitor is not None:
            self._monitor.join(KILL_WAIT_S)  # it sees the stop within POLL_S, or once its store write returns
        try:
            self.store.interrupt_orphans(self._dead_pids)
            self._dead_pids.clear()
        except StoreError:  # their leases run out: whoever uses the store next interrupts them
            pass

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    # -- runs -------------------------------------------------------------------------

    def submit(self, config: TrainConfig, owner: str | None = None) -> Submitted:
        """Queue ``config`` for ``owner``; an identical live run (queued, running, done, diverged) is reused."""
        self.start()
        submitted = Submitted(*self.store.enqueue(config, owner))
        if submitted.created:
            self._wake.release()
        return submitted


_POOLS: dict[str, QueuedPool] = {}  # store address → its pool in this process
_POOLS_LOCK = threading.Lock()


def pool_for(address: str | Path | None = None) -> QueuedPool:
    """This process's pool for a store (default: the default store), started on first use.

    On the Ray cluster ``RESNET_LAB_RAY_ADDRESS`` names, else local worker processes.
    ``StoreError`` if the store cannot be used; ``cluster.ClusterUnavailable`` (a
    ``StoreError``) if the cluster cannot be reached, unless ``RESNET_LAB_RAY_FALLBACK=local``
    asks for local workers then.
    """
    key = store_address(address)
    ray_at = cluster.ray_address()
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = cluster.RayPool(key, address=ray_at) if ray_at else JobPool(key)
    try:
        return pool.start()
    except cluster.ClusterUnavailable:
        if os.environ.get(cluster.ENV_RAY_FALLBACK) != "local":
            raise
        _log.warning("Ray cluster %s unreachable: training on local workers", ray_at)
        with _POOLS_LOCK:
            if isinstance(_POOLS.get(key), cluster.RayPool):
                _POOLS[key] = JobPool(key)
            pool = _POOLS[key]
        return pool.start()


def shutdown_pools(grace_s: float = EXIT_GRACE_S) -> None:
    """Stop and forget every pool ``pool_for`` made in this process (at exit: runs training end "interrupted").

    A worker gets ``grace_s`` to finish its step; then it is terminated. Its run keeps the
    curve it flushed (every ``worker.FLUSH_S``), and a server told to stop is gone in seconds.
    """
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(grace_s)


on_exit(shutdown_pools)
keep_sigterm_handler()  # so that a server told to stop gets to its exit, Paddle imported or not


def runs_waiting(address: str | Path | None = None) -> bool:
    """Whether a store (default: the default store) holds runs that need workers: queued, or running.

    A server calls it once at start (``pages.common.ui``): runs queued before a restart
    resume, and runs left running by it are found orphaned, whichever page is opened first.
    """
    store = RunStore(address)
    return any(store.list_runs(status=status) for status in ACTIVE)
