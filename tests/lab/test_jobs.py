"""The worker-process pool: runs, dedup, queue position, cancel, a killed worker, recovery.

One pool (two spawned workers) serves the whole module: starting workers means
importing Paddle in each. Every wait is a poll on a store condition with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import poll
from resnet.lab import jobs
from resnet.lab.jobs import JobPool
from resnet.paths import REPO_ROOT
from resnet.lab.store import RunInfo, RunStore
from resnet.lab.train import TrainConfig

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=4, eval_every=2)
LONG = replace(TINY, steps=20_000, eval_every=1000)  # runs until a test stops it
DEADLINE_S = 60


def _training(store: RunStore, run_id: int) -> RunInfo:
    """Wait until the run is running with at least one step in the store."""
    return poll(lambda: (r := store.get_run(run_id)).status == "running" and r.steps_done >= 1 and r, f"run {run_id} to train")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(pool, store, orphan run id, marker path): a pool started as a Streamlit server would."""
    tmp = tmp_path_factory.mktemp("jobs")
    store = RunStore(tmp / "runs.sqlite")
    # A run left "running" by a worker of a previous server that no longer exists.
    orphan, _ = store.enqueue(replace(TINY, seed=99))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.claim_next(worker_pid=dead.pid)
    # A main script like Streamlit's page: a spawned worker must not re-run it.
    marker = tmp / "main_script_ran"
    script = tmp / "page.py"
    script.write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    pool = JobPool(store, workers=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "__main__", fake_main)
        # Outside a Streamlit script run the app folder is not on sys.path.
        mp.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT])
        pool.start()
    yield pool, store, orphan, marker
    pool.shutdown()


def test_runs_train_in_workers(env):
    pool, store, orphan, marker = env
    run_ids = pool.submit_many([replace(TINY, shortcut=s) for s in ("identity", "none")])
    runs = pool.wait(run_ids, timeout=DEADLINE_S)
    for run in runs:
        assert run.status == "done" and run.steps_done == 4 and run.result["steps_done"] == 4
        test_acc = store.metrics(run.id)["test_acc"]  # evaluated every 2nd step
        assert test_acc[0] is None and test_acc[2] is None and test_acc[3] == run.result["final_test_acc"]
    assert {r.worker_pid for r in runs} == {None}
    assert not marker.exists(), "a worker re-ran the parent's __main__ script"


def test_finished_runs_leave_their_weights_next_to_the_store(env):
    pool, store, *_ = env
    config = replace(TINY, shortcut="scaled", scale=2.0, seed=7)
    run = pool.wait([pool.submit(config)], timeout=DEADLINE_S)[0]
    path = jobs.trained_weights_path(store.path, run.id, run.label)
    assert path == store.path.parent / "trained" / f"run{run.id}_ResNet-20_lambda2_w4.safetensors"
    assert run.status == "done" and run.result["weights"] == str(path)
    assert path.is_file() and path.with_suffix(".json").is_file()


def test_orphaned_run_marked_interrupted_on_start(env):
    pool, store, orphan, marker = env
    assert store.get_run(orphan).status == "interrupted"


def test_identical_configs_train_once(env):
    pool, store, *_ = env
    config = replace(TINY, seed=5)
    first = pool.submit(config)
    assert pool.submit(config) == first
    assert pool.submit_many([config, replace(config, scale=3.0)]) == [first, first]
    pool.wait([first], timeout=DEADLINE_S)
    assert pool.submit(config) == first  # done runs are reused too
    assert sum(r.config["seed"] == 5 for r in store.list_runs()) == 1


def test_queue_position_and_cancel(env):
    pool, store, *_ = env
    busy = [pool.submit(replace(LONG, seed=10 + i)) for i in range(2)]
    for run_id in busy:
        _training(store, run_id)  # both workers are occupied
    waiting = [pool.submit(replace(TINY, seed=20 + i)) for i in range(2)]
    assert [pool.queue_position(r) for r in waiting] == [1, 2]
    assert pool.cancel(waiting[0]) == "cancelled"
    assert pool.queue_position(waiting[1]) == 1
    assert pool.cancel(busy[0]) == "running"
    cancelled = pool.wait([busy[0]], timeout=DEADLINE_S)[0]
    assert cancelled.status == "cancelled" and 1 <= cancelled.steps_done < LONG.steps
    assert cancelled.result["status"] == "cancelled"
    # The freed worker takes the next queued run.
    assert pool.wait([waiting[1]], timeout=DEADLINE_S)[0].status == "done"
    pool.cancel(busy[1])
    pool.wait([busy[1]], timeout=DEADLINE_S)


def test_killed_worker_leaves_interrupted_run_and_is_replaced(env):
    pool, store, *_ = env
    run_id = pool.submit(replace(LONG, seed=30))
    victim = _training(store, run_id).worker_pid
    os.kill(victim, signal.SIGKILL)
    run = poll(lambda: (r := store.get_run(run_id)).status == "interrupted" and r, "the run to be marked interrupted")
    assert run.steps_done >= 1 and len(store.metrics(run_id)["step"]) == run.steps_done  # partial curve kept
    assert run.worker_pid is None and run.error
    assert not [r for r in store.list_runs(status="running")]
    poll(lambda: len(pool.worker_pids) == 2 and victim not in pool.worker_pids, "a replacement worker")
    rerun = pool.submit(replace(LONG, seed=30))
    assert rerun != run_id  # an interrupted run is trained anew, not reused
    pool.cancel(rerun)
    assert pool.wait([rerun], timeout=DEADLINE_S)[0].status == "cancelled"
    assert pool.wait([pool.submit(replace(TINY, seed=31))], timeout=DEADLINE_S)[0].status == "done"


def test_invalid_config_queues_nothing(env):
    pool, store, *_ = env
    before = len(store.list_runs())
    with pytest.raises(ValueError, match="steps must be between"):
        pool.submit_many([TINY, replace(TINY, steps=0)])
    assert len(store.list_runs()) == before


def test_get_pool_is_one_per_store(tmp_path, monkeypatch):
    monkeypatch.setattr(JobPool, "start", lambda self: self)  # no worker processes needed here
    monkeypatch.setattr(jobs, "_POOLS", {})
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    pool = jobs.get_pool()
    assert jobs.get_pool() is pool and jobs.get_pool(tmp_path / "home" / "runs.sqlite") is pool
    assert pool.store.path == tmp_path / "home" / "runs.sqlite"
    assert jobs.get_pool(tmp_path / "other.sqlite") is not pool


def test_shutdown_interrupts_training_and_queued_runs_survive_restart(env):
    pool, store, *_ = env
    run_id = pool.submit(replace(LONG, seed=40))
    _training(store, run_id)
    pool.shutdown()
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.steps_done >= 1 and pool.worker_pids == []
    queued, _ = store.enqueue(replace(TINY, seed=41))  # e.g. submitted by another server meanwhile
    pool.start()
    assert pool.wait([queued], timeout=DEADLINE_S)[0].status == "done"
