"""The worker-process pool: runs, dedup, queue position, cancel, a killed worker, recovery.

Every test that trains gets its own pool (two spawned workers) on its own store, so none
depends on another's order or leftovers. Every wait is a poll on a store condition with
a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import count
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.helpers import open_page, poll, started_pools
from resnet.lab import pools, worker
from resnet.lab.config import StepMetrics, TrainConfig, TrainResult, config_key
from resnet.lab.pools import JobPool
from resnet.lab.procs import public_message
from resnet.lab.queued import Submitted
from resnet.lab.store import ACTIVE, LEASE_S, RunInfo, RunStore, StoreError
from resnet.paths import REPO_ROOT, trained_weights_path

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=4, eval_every=2)
LONG = replace(TINY, steps=20_000, eval_every=1000)  # runs until a test stops it
DEADLINE_S = 60


def _training(store: RunStore, run_id: int) -> RunInfo:
    """Wait until the run is running with at least one step in the store."""
    return poll(lambda: (r := store.get_run(run_id)).status == "running" and r.steps_done >= 1 and r, f"run {run_id} to train")


@pytest.fixture
def new_pool(tmp_path) -> Iterator[Callable[..., JobPool]]:
    """``new_pool(store=None)``: a two-worker pool on ``store`` (default: a new one), started as a
    Streamlit server would start it; shut down after the test. A marker file says whether a
    worker re-ran the parent's main script (``tmp_path / "main_script_ran"``)."""
    started: list[JobPool] = []
    # A main script like Streamlit's page: a spawned worker must not re-run it.
    script = tmp_path / "page.py"
    script.write_text(f"import pathlib\npathlib.Path({str(tmp_path / 'main_script_ran')!r}).write_text('ran')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)

    def start(store: RunStore | None = None) -> JobPool:
        pool = JobPool(store or RunStore(tmp_path / "runs.sqlite"), workers=2)
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(sys.modules, "__main__", fake_main)
            # Outside a Streamlit script run the app folder is not on sys.path.
            mp.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT])
            started.append(pool.start())
        return pool

    yield start
    for pool in started:
        pool.shutdown()


def test_runs_train_in_workers(new_pool, tmp_path):
    pool = new_pool()
    submitted = pool.submit_many([replace(TINY, shortcut=s) for s in ("identity", "none")])
    assert all(s.created for s in submitted)
    runs = pool.wait([s.run_id for s in submitted], timeout=DEADLINE_S)
    for run in runs:
        assert run.status == "done" and run.steps_done == 4 and run.result["steps_done"] == 4
        test_acc = pool.store.metrics(run.id)["test_acc"]  # evaluated every 2nd step
        assert test_acc[0] is None and test_acc[2] is None and test_acc[3] == run.result["final_test_acc"]
    assert {r.worker_pid for r in runs} == {None}
    assert not (tmp_path / "main_script_ran").exists(), "a worker re-ran the parent's __main__ script"


def test_finished_runs_leave_their_weights_next_to_the_store(new_pool, tmp_path):
    pool = new_pool()
    config = replace(TINY, shortcut="scaled", scale=2.0, seed=7)
    run = pool.wait([pool.submit(config).run_id], timeout=DEADLINE_S)[0]
    path = trained_weights_path(pool.store.address, run.id, run.label)
    assert path == tmp_path / "trained" / f"run{run.id}_ResNet-20_A_lambda2_w4.safetensors"
    assert run.status == "done" and run.result["weights"] == str(path)
    assert path.is_file() and path.with_suffix(".json").is_file()


def test_orphaned_run_marked_interrupted_on_start(new_pool, tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    # A run left "running" by a worker of a previous server, silent for longer than its lease;
    # its PID is this process's, alive, as a reused PID would be.
    orphan, _ = store.enqueue(replace(TINY, seed=99))
    RunStore(store.address, clock=lambda: time.time() - LEASE_S - 1).claim_next(worker_pid=os.getpid())
    new_pool(store)
    poll(lambda: store.get_run(orphan).status == "interrupted", "the monitor to interrupt the orphan")


def test_identical_configs_train_once(new_pool):
    pool = new_pool()
    config = replace(TINY, seed=5)
    first, created = pool.submit(config)
    assert created and pool.submit(config) == Submitted(first, created=False)
    assert pool.submit_many([config, replace(config, scale=3.0)]) == [(first, False), (first, False)]
    pool.wait([first], timeout=DEADLINE_S)
    assert pool.submit(config) == (first, False)  # done runs are reused too
    assert sum(r.config["seed"] == 5 for r in pool.store.list_runs()) == 1


def test_queue_position_and_cancel(new_pool):
    pool = new_pool()
    store = pool.store
    busy = [pool.submit(replace(LONG, seed=10 + i)).run_id for i in range(2)]
    for run_id in busy:
        _training(store, run_id)  # both workers are occupied
    waiting = [pool.submit(replace(TINY, seed=20 + i)).run_id for i in range(2)]
    assert [pool.queue_position(r) for r in waiting] == [1, 2]
    assert pool.cancel(waiting[0]) == "cancelled"
    assert pool.queue_position(waiting[1]) == 1
    assert pool.cancel(busy[0]) == "running"
    cancelled = pool.wait([busy[0]], timeout=DEADLINE_S)[0]
    assert cancelled.status == "cancelled" and 1 <= cancelled.steps_done < LONG.steps
    assert cancelled.result["status"] == "cancelled"
    # The freed worker takes the next queued run.
    assert pool.wait([waiting[1]], timeout=DEADLINE_S)[0].status == "done"


def test_killed_worker_leaves_interrupted_run_and_is_replaced(new_pool):
    pool = new_pool()
    store = pool.store
    run_id = pool.submit(replace(LONG, seed=30)).run_id
    victim = _training(store, run_id).worker_pid
    os.kill(victim, signal.SIGKILL)
    run = poll(lambda: (r := store.get_run(run_id)).status == "interrupted" and r, "the run to be marked interrupted")
    assert run.steps_done >= 1 and len(store.metrics(run_id)["step"]) == run.steps_done  # partial curve kept
    assert run.worker_pid is None and run.error
    assert not [r for r in store.list_runs(status="running")]
    poll(lambda: len(pool.worker_pids) == 2 and victim not in pool.worker_pids, "a replacement worker")
    rerun, created = pool.submit(replace(LONG, seed=30))
    assert created and rerun != run_id  # an interrupted run is trained anew, not reused
    pool.cancel(rerun)
    assert pool.wait([rerun], timeout=DEADLINE_S)[0].status == "cancelled"
    assert pool.wait([pool.submit(replace(TINY, seed=31)).run_id], timeout=DEADLINE_S)[0].status == "done"


def test_invalid_config_queues_nothing(tmp_path):
    pool = JobPool(tmp_path / "runs.sqlite")  # never started: nothing may reach it
    with pytest.raises(ValueError, match="steps must be between"):  # refused as it is built, before any submit
        pool.submit_many([TINY, replace(TINY, steps=0)])
    assert pool.store.list_runs() == []


def test_pool_for_is_one_per_store(tmp_path, monkeypatch):
    monkeypatch.setattr(JobPool, "start", lambda self: self)  # no worker processes needed here
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    pool = pools.pool_for()
    assert pools.pool_for() is pool and pools.pool_for(tmp_path / "home" / "runs.sqlite") is pool
    assert isinstance(pool, JobPool) and pool.store.address == str(tmp_path / "home" / "runs.sqlite")
    other = pools.pool_for(tmp_path / "other.sqlite")
    assert other is not pool
    assert started_pools() == {pool.store.address, other.store.address}
    pools.shutdown_pools()
    assert started_pools() == set()


@pytest.mark.slow
def test_shutdown_interrupts_training_and_queued_runs_survive_restart(new_pool):
    pool = new_pool()
    store = pool.store
    run_id = pool.submit(replace(LONG, seed=40)).run_id
    _training(store, run_id)
    workers = list(pool._procs)
    pool.shutdown()
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.steps_done >= 1 and pool.worker_pids == []
    # each worker recorded its run and ended itself (exit 0), not killed after the grace (-9):
    # a Paddle interpreter's own exit is skipped, so a stopping server does not wait for it
    assert [w.exitcode for w in workers] == [0] * len(workers)
    queued, _ = store.enqueue(replace(TINY, seed=41))  # e.g. submitted by another server meanwhile
    pool.start()
    assert pool.wait([queued], timeout=DEADLINE_S)[0].status == "done"


# -- without worker processes: the monitor's and the worker's logic, with a store that fails on demand --


class FlakyStore(RunStore):
    """A run store whose every call raises StoreError while ``broken`` (a full or read-only disk)."""

    broken = False

    def _tx(self, immediate: bool = False):
        if self.broken:
            raise StoreError("run store runs.sqlite failed (disk I/O error); is it writable?")
        return super()._tx(immediate)


def test_worker_survives_store_errors_and_fails_the_run_once_writable(tmp_path):
    store = FlakyStore(tmp_path / "runs.sqlite")
    run_id, _ = store.enqueue(TINY)
    store.broken = True  # full disk from the start: claiming waits
    pauses: list[float] = []

    def pause(seconds: float) -> None:  # instead of waiting: count, and mend the disk after a while
        pauses.append(seconds)
        if len(pauses) in (2, 5):
            store.broken = False

    def train(config, on_step, should_stop, save_weights):
        on_step(StepMetrics(1, 0.1, 2.3))
        store.broken = True  # the disk fills up mid-run
        for step in range(2, config.steps + 1):
            on_step(StepMetrics(step, 0.1 * step, 2.0, 2.1, 0.2))  # evaluated: written at once
            if should_stop():
                return TrainResult("cancelled", step, 0.1 * step, 1.0, 2.0, 2.1, 0.2, False)
        return TrainResult("done", config.steps, 0.4, 1.0, 2.0, 2.1, 0.2, False)

    def leaving() -> bool:
        return not store.broken and store.get_run(run_id).status not in ACTIVE

    worker.serve(store, train, leaving, idle=lambda s: pytest.fail("nothing else to wait for"), pause=pause)  # returns: the worker lives
    assert pauses == [1.0, 2.0, 1.0, 2.0, 4.0]  # backing off: to claim, then to record the run's end
    run = store.get_run(run_id)
    assert run.status == "failed" and run.error.startswith("the run store could not be written (run store runs.sqlite failed")
    assert store.metrics(run_id)["step"] == [1, 2]  # what it measured is kept


def test_a_stored_config_that_is_no_longer_valid_fails_its_run(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id, _ = store.enqueue(TINY)
    with sqlite3.connect(store.address) as con:
        con.execute("UPDATE runs SET config = ?", (json.dumps({**json.loads(config_key(TINY)), "scale": 1e308}),))
    worker.serve(store, lambda *a, **k: pytest.fail("trained"), lambda: store.get_run(run_id).status not in ACTIVE,
                idle=lambda s: pytest.fail("idle"), pause=lambda s: pytest.fail("paused"))
    run = store.get_run(run_id)
    assert run.status == "failed" and run.error.startswith("this configuration cannot be trained: λ (scale)")


class FakeProcess:
    """A worker that died at once (e.g. could not open the store), or one that lives."""

    pids = count(10_000)

    def __init__(self, alive: bool) -> None:
        self.pid, self.alive = next(self.pids), alive

    def is_alive(self) -> bool:
        return self.alive


def test_monitor_respawns_with_backoff_even_when_the_store_fails(tmp_path, monkeypatch):
    store = FlakyStore(tmp_path / "runs.sqlite")
    now = [0.0]
    pool = JobPool(store, workers=1, clock=lambda: now[0])
    spawned: list[float] = []
    alive = [False]

    def spawn() -> FakeProcess:
        spawned.append(now[0])
        return FakeProcess(alive[0])

    monkeypatch.setattr(pool, "_spawn", spawn)
    monkeypatch.setattr(pool, "_watch", lambda: None)  # the test is the monitor
    pool.start()
    store.broken = True  # interrupting orphans fails: replacing workers must not
    for tick in range(0, 161):  # 16 s of checks every 0.1 s
        now[0] = tick / 10
        assert pool.check_workers() == []
    assert spawned == [0.0, 1.0, 3.0, 7.0, 15.0]  # each young death doubles the wait: no spin
    alive[0] = True
    now[0] = 31.0
    pool.check_workers()  # the next one lives
    assert spawned[-1] == 31.0 and len(pool.worker_pids) == 1
    store.broken = False
    dead_worker = spawned and pool.worker_pids[0]
    run_id, _ = store.enqueue(TINY)
    store.claim_next(worker_pid=dead_worker)
    next(iter(pool._procs)).alive = False  # it dies after a long life
    now[0] = 100.0
    assert pool.check_workers() == [run_id]  # its run at once; a replacement without waiting
    assert spawned[-1] == 100.0


def test_ten_sessions_submitting_at_once_create_one_run(tmp_path, monkeypatch):
    monkeypatch.setattr(JobPool, "start", lambda self: self)  # queues only
    pool = JobPool(tmp_path / "runs.sqlite", workers=1)
    barrier = threading.Barrier(10)

    def submit(_: int) -> Submitted:
        barrier.wait()
        return pool.submit(TINY)

    with ThreadPoolExecutor(10) as executor:
        results = list(executor.map(submit, range(10)))
    assert len({r.run_id for r in results}) == 1 and [r.created for r in results].count(True) == 1


def test_public_message_keeps_file_names_only():
    exc = OSError("cannot read /home/teacher/data/cats/x.png nor C:\\Users\\t\\y.png")
    assert public_message(exc) == "OSError: cannot read x.png nor y.png"
    assert public_message(MemoryError()) == "out of memory"


@pytest.mark.parametrize("waiting", [True, False])
def test_queued_runs_resume_at_server_start_whichever_page_opens(monkeypatch, waiting):
    """A restarted server starts workers for the runs left queued, though nobody opens the Training lab."""
    from pages.common import ui

    if waiting:
        RunStore().enqueue(TINY)  # queued before the restart
    started = []
    monkeypatch.setattr(pools, "pool_for", lambda address=None: started.append(address) or "a pool")  # no workers needed
    ui.resume_runs.clear()  # a new server process
    open_page("pages/cost.py", lang="en")
    open_page("pages/cost.py", lang="zh")
    assert started == ([None] if waiting else [])  # once per server, and only when runs wait


@pytest.mark.postgres
def test_workers_train_from_a_postgresql_store(postgres_database, tmp_path, monkeypatch):
    """With RESNET_LAB_DB_URL the default store is the database: workers claim and report there."""
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RESNET_LAB_DB_URL", postgres_database())
    pool = JobPool(workers=1)
    try:
        run = pool.wait([pool.submit(TINY).run_id], timeout=DEADLINE_S)[0]
    finally:
        pool.shutdown()
    assert run.status == "done" and run.steps_done == 4 and pool.store.metrics(run.id)["step"] == [1, 2, 3, 4]
    assert Path(run.result["weights"]).parent == tmp_path / "home" / "trained"  # weights stay in the data folder
