"""Inside a training worker process: claim queued runs from the store, train them, stream their metrics.

A worker (started by ``resnet.lab.pools.JobPool``) claims the oldest queued run, trains it
with ``resnet.lab.train.train`` and writes its metrics into the store every ``FLUSH_S``,
renewing the run's lease (``resnet.lab.store.LEASE_S``) with every batch and from a
heartbeat thread. It stops a run at its next step when the run is cancelled, when the
pool tells it to leave or when the app process is gone; a run it stops for leaving ends
"interrupted", its curve kept. A store that cannot be written (full or read-only disk)
stops the run, which the worker marks failed once the store takes writes again,
retrying with back-off; it never dies of it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import time
from typing import Callable

from ..paths import trained_weights_path
from .config import StepMetrics, TrainConfig, TrainResult
from .procs import Backoff, ignore_ctrl_c, limit_threads, public_message
from .store import HEARTBEAT_S, RunStore, StoreError

IDLE_POLL_S = 2.0  # idle workers look for runs queued elsewhere (a submit here wakes them at once)
FLUSH_S = 0.5  # a training worker writes metrics and checks for cancel/stop at least this often


def main(address: str, threads: int, wake, stop) -> None:
    """Claim queued runs and train them until told to stop or the app process dies."""
    ignore_ctrl_c()
    limit_threads(threads)
    # Deferred on purpose, not to dodge a cycle: Paddle reads OMP_NUM_THREADS when it is
    # first imported, so the worker's entry point loads the training loop (and Paddle)
    # only now. The app process that imports this module never loads Paddle through it.
    from .train import train

    store = RunStore(address)  # a store that cannot be opened ends the worker: its pool backs off
    parent = mp.parent_process()

    def leaving() -> bool:
        return stop.is_set() or not parent.is_alive()

    serve(store, train, leaving, idle=lambda s: wake.acquire(timeout=s), pause=stop.wait)
    # Its runs are recorded in the store now. The interpreter's own exit in a process that loaded
    # Paddle takes seconds more (the stopping server waits for it) and aborts if one of Paddle's
    # threads is still busy: end the process here instead.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def serve(
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
                       save_weights=trained_weights_path(store.address, run_id, config.label))
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

