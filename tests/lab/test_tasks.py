"""The page's task processes: computed once in a worker, progress, cancel, failures, a bounded line.

Targets are the tiny functions of tests/lab/task_targets.py. One dispatcher with a single
slot serves the module, so the line is visible; every wait is a poll on the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import poll
from resnet.lab import tasks
from resnet.lab.config import TrainConfig
from resnet.lab.store import Artifact, RunStore

CONFIG = TrainConfig(depth=20, width=4, batch_size=16, steps=3, eval_every=2)
TARGETS = "tests.lab.task_targets"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(store, run id, dispatcher): a store with one run; one task process at a time."""
    store = RunStore(tmp_path_factory.mktemp("tasks") / "runs.sqlite")
    run_id, _ = store.enqueue(CONFIG)
    dispatcher = tasks._Dispatcher(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tasks, "_DISPATCHER", dispatcher)
        yield store, run_id, dispatcher
    dispatcher.shutdown()


def _start(env, key: str, function: str, **kwargs) -> Artifact:
    store, run_id, _ = env
    return tasks.start_task(store.address, run_id, "test", key, f"{TARGETS}:{function}", kwargs)


def _ended(env, key: str) -> Artifact:
    store, run_id, _ = env
    return poll(lambda: (a := store.artifact(run_id, "test", key)) and a.status != "running" and a, f"task {key} to end")


def test_a_task_runs_in_a_worker_once_with_its_progress(env, monkeypatch):
    store, run_id, dispatcher = env
    first = _start(env, "count", "count", n=5)
    assert (first.status, first.progress, first.payload) == ("running", 0.0, None)
    done = _ended(env, "count")
    assert (done.status, done.progress, done.error) == ("done", 1.0, None)
    assert done.payload == {"total": 10, "threads": str(tasks.TASK_THREADS)}  # its threads limited
    monkeypatch.setattr(dispatcher, "submit", lambda task: pytest.fail(f"{task} computed twice"))
    assert _start(env, "count", "count", n=5) == done  # stored: not computed again


def test_cancel_stops_a_running_task(env, tmp_path):
    store, run_id, _ = env
    started = tmp_path / "started"
    _start(env, "cancel", "until_stopped", started=str(started))
    poll(started.exists, "the task to start")
    assert store.artifact(run_id, "test", "cancel").progress == 0.5
    assert tasks.cancel_task(store.address, run_id, "test", "cancel") == "running"  # stops at its next check
    cancelled = _ended(env, "cancel")
    assert cancelled.status == "cancelled" and cancelled.payload is None


def test_tasks_wait_in_line_for_a_free_slot(env, tmp_path):
    store, run_id, dispatcher = env
    started = tmp_path / "started"
    _start(env, "busy", "until_stopped", started=str(started))
    poll(started.exists, "the first task to start")
    waiting = _start(env, "waiting", "count", n=3)
    dropped = _start(env, "dropped", "count", n=3)
    assert waiting.status == dropped.status == "running" and dispatcher.counts() == (1, 2)
    assert tasks.cancel_task(store.address, run_id, "test", "dropped") == "cancelled"  # never started: at once
    assert store.artifact(run_id, "test", "dropped").status == "cancelled" and dispatcher.counts() == (1, 1)
    assert store.artifact(run_id, "test", "waiting").progress == 0.0
    tasks.cancel_task(store.address, run_id, "test", "busy")
    assert _ended(env, "waiting").payload["total"] == 3  # the freed slot took it


@pytest.mark.parametrize("function, expected", [
    ("out_of_memory", "out of memory: cannot allocate 32 GB for weights.pdparams"),
    ("missing_file", "FileNotFoundError: [Errno 2] No such file or directory: 'model.safetensors'"),
    ("not_json", "TypeError: Object of type object is not JSON serializable"),
    ("dies", "the worker process stopped (exit code 3), most likely out of memory"),
])
def test_failures_are_stored_with_a_clear_message_and_no_paths(env, tmp_path, function, expected):
    kwargs = {"folder": str(tmp_path)} if function in ("out_of_memory", "missing_file") else {}
    _start(env, function, function, **kwargs)
    failed = _ended(env, function)
    assert (failed.status, failed.error) == ("failed", expected)


def test_after_running_out_of_memory_a_fresh_process_takes_the_next_task(env, tmp_path):
    store, run_id, dispatcher = env
    _start(env, "oom_first", "out_of_memory", folder=str(tmp_path))
    _start(env, "after_oom", "count", n=3)  # waits in line for the slot the failing task holds
    assert _ended(env, "oom_first").status == "failed"
    assert _ended(env, "after_oom").payload["total"] == 3


def test_a_failed_task_is_kept_or_retried(env, monkeypatch):
    store, run_id, _ = env
    _start(env, "retry", "dies")
    failed = _ended(env, "retry")
    kept = tasks.start_task(store.address, run_id, "test", "retry", f"{TARGETS}:count", {"n": 2}, retry_failed=False)
    assert kept == failed
    tasks.start_task(store.address, run_id, "test", "retry", f"{TARGETS}:count", {"n": 2})
    assert _ended(env, "retry").payload["total"] == 1


def test_a_task_another_server_computes_is_not_started_again(env, monkeypatch):
    store, run_id, dispatcher = env
    assert store.begin_artifact(run_id, "test", "elsewhere", worker_pid=1)  # live lease, held elsewhere
    monkeypatch.setattr(dispatcher, "submit", lambda task: pytest.fail(f"{task} started twice"))
    artifact = _start(env, "elsewhere", "count", n=2)
    assert artifact.status == "running" and artifact.progress == 0.0


@pytest.mark.postgres
def test_a_task_on_a_postgresql_store(env, postgres_database):
    store = RunStore(postgres_database())
    run_id, _ = store.enqueue(CONFIG)
    tasks.start_task(store.address, run_id, "test", "pg", f"{TARGETS}:count", {"n": 4})
    done = poll(lambda: (a := store.artifact(run_id, "test", "pg")) and a.status != "running" and a, "the task to end")
    assert (done.status, done.payload["total"]) == ("done", 6)


def test_shutdown_ends_the_task_processes_and_leaves_their_artifacts_to_the_next_request(tmp_path, monkeypatch):
    """What a server does at exit (SIGTERM): the line's thread stops, its processes end at once, and
    what they computed or waited for is computed anew by the next request, without waiting for a lease."""
    store = RunStore(tmp_path / "runs.sqlite")
    run_id, _ = store.enqueue(CONFIG)
    dispatcher = tasks._Dispatcher(1)
    monkeypatch.setattr(tasks, "_DISPATCHER", dispatcher)
    started = tmp_path / "started"
    tasks.start_task(store.address, run_id, "test", "busy", f"{TARGETS}:until_stopped", {"started": str(started)})
    tasks.start_task(store.address, run_id, "test", "waiting", f"{TARGETS}:count", {"n": 2})
    poll(started.exists, "the first task to start")
    pid = int(started.read_text())
    tasks.shutdown_dispatcher()
    assert tasks._DISPATCHER is None and not dispatcher._thread.is_alive()
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
    for key in ("busy", "waiting"):
        assert store.artifact(run_id, "test", key).status == "running"
        assert store.begin_artifact(run_id, "test", key, worker_pid=1)
