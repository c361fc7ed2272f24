"""A bounded pool of training worker processes fed from the run store.

The page (or a test, or a script) submits configurations; the store queues them
(deduplicated: the same configuration submitted twice is one run) and the workers, one
per core by default with one compute thread each, claim queued runs, train them with
``resnet.lab.train.train`` and stream metrics into the store as they go. Everything the page
shows is read back from the store, so workers never touch Streamlit and a page rerun,
a second browser tab or a server restart sees the same runs.

    pool = get_pool()                    # process-wide, started lazily
    run_id, created = pool.submit(TrainConfig(depth=56, shortcut="none"))
    pool.store.get_run(run_id).status    # queued / running / done …
    pool.store.metrics(run_id)           # the curve so far
    pool.cancel(run_id)

Faults: a worker renews its run's lease in the store (``resnet.lab.store.LEASE_S``) with
every batch of metrics and from a heartbeat thread; the pool's monitor marks the runs of
a worker it saw die interrupted at once, and those of a worker silent for longer than the
lease (a server that died, another machine) within HEARTBEAT_S. A store that cannot be
written (full or read-only disk) stops the run, and the worker marks it failed once the
store takes writes again, retrying with back-off; it never dies of it. The monitor
replaces dead workers whatever the store does, a worker that dies young (e.g. at
start-up) after a wait that doubles each time.

Processes, not threads: training holds the GIL and would freeze the UI. Measured on 2
cores (bench/training.py): two 1-thread workers train ~1.6× the images per second of
one (the "Degradation" preset: ~28–33 s instead of ~52 s); a second Paddle thread in
one process did not help (Paddle's CPU conv kernels ran single-threaded here).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import re
import sys
import threading
import time
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

from ..paths import REPO_ROOT, TRAINED_SUBDIR
from ..system import usable_cores
from .config import StepMetrics, TrainConfig, TrainResult
from .store import ACTIVE, HEARTBEAT_S, RunInfo, RunStore, StoreError, store_path

POLL_S = 0.5  # the pool checks its workers this often
STABLE_S = 30.0  # a worker that dies sooner failed to start (or keeps failing): its replacement waits, longer each time
IDLE_POLL_S = 2.0  # idle workers look for runs queued elsewhere (a submit here wakes them at once)
FLUSH_S = 0.5  # a training worker writes metrics and checks for cancel/stop at least this often


class Submitted(NamedTuple):
    """A submitted configuration's run, and whether this submission created it (else it was there)."""

    run_id: int
    created: bool


class QueuedPool:
    """What every pool does through its store alone: submit several, cancel, queue position, wait.

    A pool (``JobPool`` here, ``resnet.lab.cluster.RayPool`` on a Ray cluster) has a ``store``
    and its own ``submit``, which queues one configuration and sees that it gets trained.
    """

    store: RunStore

    def submit(self, config: TrainConfig) -> Submitted:
        raise NotImplementedError

    def submit_many(self, configs: Iterable[TrainConfig]) -> list[Submitted]:
        """Queue several configs; their runs in the given order.

        The costliest are queued first so the workers finish a comparison together
        (with FIFO order, two small runs first leave one worker alone on a big one).
        """
        configs = list(configs)
        order = sorted(range(len(configs)), key=lambda i: -relative_cost(configs[i]))
        submitted = {i: self.submit(configs[i]) for i in order}
        return [submitted[i] for i in range(len(configs))]

    def cancel(self, run_id: int) -> str:
        """Cancel a queued or running run; the resulting status."""
        return self.store.request_cancel(run_id)

    def queue_position(self, run_id: int) -> int | None:
        return self.store.queue_position(run_id)

    def wait(self, run_ids: Iterable[int], timeout: float) -> list[RunInfo]:
        """Poll until none of ``run_ids`` is queued or running; ``TimeoutError`` after ``timeout`` s."""
        run_ids = list(run_ids)
        deadline = time.monotonic() + timeout
        while True:
            runs = [self.store.get_run(r) for r in run_ids]
            if all(r.status not in ACTIVE for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs still active after {timeout:g} s: {[r.id for r in runs if r.status in ACTIVE]}")
            time.sleep(0.1)


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
            target=_worker_main,
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
                if proc.is_alive():  # stuck (e.g. a huge step): its run is marked interrupted below
                    proc.terminate()
                    proc.join()
            self._dead_pids.update(p.pid for p in self._procs)
            self._procs = {}
        if self._monitor is not None:
            self._monitor.join()
        try:
            self.store.interrupt_orphans(self._dead_pids)
            self._dead_pids.clear()
        except StoreError:  # their leases run out: whoever uses the store next interrupts them
            pass

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    # -- runs -------------------------------------------------------------------------

    def submit(self, config: TrainConfig) -> Submitted:
        """Queue ``config``; an identical live run (queued, running, done, diverged) is reused."""
        self.start()
        submitted = Submitted(*self.store.enqueue(config))
        if submitted.created:
            self._wake.release()
        return submitted


def trained_dir(store_path: str | Path) -> Path:
    """``<store dir>/trained``: where finished runs' weights go (default store: ``data_home()/trained``)."""
    return Path(store_path).parent / TRAINED_SUBDIR


def trained_weights_path(store_path: str | Path, run_id: int, label: str) -> Path:
    """Where a worker saves a finished run's weights: ``<store dir>/trained/run<id>_<label>.safetensors``.

    With the default store that is ``data_home()/trained``, where the Feature maps page
    lists the lab's trained models.
    """
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", label.replace("λ=", "lambda")).strip("_")
    return trained_dir(store_path) / f"run{run_id}_{slug}.safetensors"


def relative_cost(config: TrainConfig) -> float:
    """Rough training cost for ordering: conv work grows with depth, width² and pixels."""
    return config.steps * config.batch_size * config.depth * config.width**2 * config.image_size**2


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
    import Streamlit); with a bare stand-in the child only imports ``resnet.lab.jobs``. The
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


_POOLS: dict[Path, JobPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(path: str | Path | None = None) -> JobPool:
    """The process-wide pool for a store (default: the data home's), started on first use.

    For a long-lived server: call it on every page run; ``StoreError`` if the store
    cannot be written.
    """
    key = store_path(path).resolve()
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = JobPool(key)
            atexit.register(pool.shutdown)
    return pool.start()


def runs_waiting(path: str | Path | None = None) -> bool:
    """Whether a store (default: the data home's) holds runs that need workers: queued, or running.

    A server calls it once at start (``pages.common.ui``): runs queued before a restart
    resume, and runs left running by it are found orphaned, whichever page is opened first.
    """
    store = RunStore(path)
    return any(store.list_runs(status=status) for status in ACTIVE)


def started_pools() -> list[Path]:
    """The stores whose process-wide pool ``get_pool`` has started in this process."""
    with _POOLS_LOCK:
        return list(_POOLS)


def close_pool(path: str | Path | None = None) -> None:
    """Shut down the process-wide pool of a store (default: the data home's) and forget it."""
    with _POOLS_LOCK:
        pool = _POOLS.pop(store_path(path).resolve(), None)
    if pool is not None:
        atexit.unregister(pool.shutdown)
        pool.shutdown()


# ---------------------------------------------------------------------------------
# Inside a worker process
# ---------------------------------------------------------------------------------


def _worker_main(path: str, threads: int, wake, stop) -> None:
    """Claim queued runs and train them until told to stop or the app process dies."""
    limit_threads(threads)
    # Deferred on purpose, not to dodge a cycle: Paddle reads OMP_NUM_THREADS when it is
    # first imported, so the worker's entry point loads the training loop (and Paddle)
    # only now. The app process that imports this module never loads Paddle through it.
    from .train import train

    store = RunStore(path)  # a store that cannot be opened ends the worker: its pool backs off
    parent = mp.parent_process()

    def leaving() -> bool:
        return stop.is_set() or not parent.is_alive()

    _serve(store, train, leaving, idle=lambda s: wake.acquire(timeout=s), pause=stop.wait)


def _serve(
    store: RunStore, train: Callable[..., TrainResult], leaving: Callable[[], bool],
    idle: Callable[[float], object], pause: Callable[[float], object],
) -> None:
    """The worker's loop: claim, train, record; the store failing only makes it wait.

    ``idle(s)``: wait up to s seconds for a new run; ``pause(s)``: wait s seconds (or until
    the worker must leave) before trying the store again, longer each time.
    """
    backoff = Backoff()
    while not leaving():
        try:
            claimed = store.claim_next(os.getpid())
        except StoreError:
            pause(backoff.next())
            continue
        backoff.reset()
        if claimed is None:
            idle(IDLE_POLL_S)
            continue
        run_id, config = claimed
        try:
            config = TrainConfig.from_dict(config)
        except ValueError as exc:  # stored by an older version under rules that have changed since
            _record(store, lambda: store.fail_run(run_id, f"this configuration cannot be trained: {exc}"), leaving, pause)
            continue
        if not _train_run(train, store, run_id, config, leaving, pause):
            return


def _train_run(
    train: Callable[..., TrainResult], store: RunStore, run_id: int, config: TrainConfig,
    leaving: Callable[[], bool], pause: Callable[[float], object],
) -> bool:
    """Train one claimed run to its end state; False when the worker must quit meanwhile.

    ``train`` is ``resnet.lab.train.train``, which the worker's entry point loaded. When
    the store cannot be written the run stops (its curve could not be kept) and is
    marked failed as soon as the store takes writes again.
    """
    reporter = _Reporter(store, run_id, leaving)
    result: TrainResult | None = None
    error = None
    try:
        result = train(config, on_step=reporter.on_step, should_stop=reporter.should_stop,
                       save_weights=trained_weights_path(store.path, run_id, config.label))
    except Exception as exc:  # a bad data folder, out of memory…: the run fails, the worker lives on
        error = public_message(exc)
    finally:
        reporter.close()
    if reporter.store_error is not None:
        error = f"the run store could not be written ({reporter.store_error})"

    def outcome() -> None:
        reporter.flush()  # what the run measured before it ended: the curve is kept
        if error is not None:
            store.fail_run(run_id, error)
        elif result.status == "cancelled" and not reporter.cancelled:  # stopped because the app is going away
            store.fail_run(run_id, "the app stopped while it trained", status="interrupted")
        else:
            store.finish_run(run_id, result)

    _record(store, outcome, leaving, pause)
    return not reporter.leaving


def _record(store: RunStore, write: Callable[[], None], leaving: Callable[[], bool], pause: Callable[[float], object]) -> None:
    """Do ``write`` once the store takes it, waiting longer after each failure; give up only when leaving.

    A run left running when the worker gives up is an orphan: its lease runs out.
    """
    backoff = Backoff()
    while True:
        try:
            write()
            return
        except StoreError:
            if leaving():
                return
            pause(backoff.next())


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


class _Reporter:
    """Buffers metrics into the store every FLUSH_S, renews the run's lease, and answers "should I stop?".

    A heartbeat thread renews the lease every HEARTBEAT_S even while one long step runs.
    """

    def __init__(self, store: RunStore, run_id: int, leaving: Callable[[], bool]) -> None:
        self.store, self.run_id, self.is_leaving = store, run_id, leaving
        self.pending: list[StepMetrics] = []
        self.last_flush = time.monotonic()
        self.cancelled = self.leaving = self.lost = False
        self.store_error: str | None = None
        self._closed = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="resnet-run-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._closed.wait(HEARTBEAT_S):
            try:
                self.lost = not self.store.heartbeat(self.run_id)  # interrupted as an orphan meanwhile
            except StoreError:
                pass  # the next flush says so

    def on_step(self, metrics: StepMetrics) -> None:
        self.pending.append(metrics)
        # The first step and every evaluation show up at once; the rest in batches.
        if metrics.step == 1 or metrics.test_loss is not None or time.monotonic() - self.last_flush >= FLUSH_S:
            try:
                self.flush()
            except StoreError as exc:  # stop the run; the worker records why once the store works again
                self.store_error = str(exc)

    def flush(self) -> None:
        """Write the buffered metrics; ``StoreError`` if the store cannot take them (they stay buffered)."""
        self.store.add_metrics(self.run_id, self.pending)
        self.pending = []
        self.last_flush = time.monotonic()
        self.cancelled = self.store.cancel_requested(self.run_id)
        self.leaving = self.is_leaving()

    def should_stop(self) -> bool:
        return self.cancelled or self.leaving or self.lost or self.store_error is not None

    def close(self) -> None:
        self._closed.set()
        self._beat.join()
