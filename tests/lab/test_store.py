"""The run store: round trip, dedup, queue, cancel, leases, artifacts, import/export, errors.

The tests taking ``new_store`` run against both back ends: SQLite, and PostgreSQL (marked
``postgres``: a throwaway cluster, tests/lab/conftest.py). The others are about SQLite files.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from resnet.lab.config import StepMetrics, TrainConfig, TrainResult, config_key
from resnet.lab.presets import PRESETS, import_reference_runs
from resnet.lab.store import LEASE_S, Artifact, RunStore, StoreError
from resnet.lab.store.db import SCHEMA_VERSION

CONFIG = TrainConfig(depth=20, width=4, batch_size=16, steps=3, eval_every=2)


def _result(status: str = "done", stuck: bool = False) -> TrainResult:
    return TrainResult(status, 3, 1.5, 100.0, 0.5, 0.6, 0.8, stuck)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_store(request, tmp_path):
    """``new_store(name="runs", clock=…)``: a store of the back end under test, empty the first time a name is used."""
    if request.param == "sqlite":
        return lambda name="runs", **options: RunStore(tmp_path / f"{name}.sqlite", **options)
    new_database = request.getfixturevalue("postgres_database")
    databases: dict[str, str] = {}

    def make(name: str = "runs", **options) -> RunStore:
        if name not in databases:
            databases[name] = new_database()
        return RunStore(databases[name], **options)

    return make


def test_default_address_follows_resnet_lab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    store = RunStore()
    assert store.address == str(tmp_path / "home" / "runs.sqlite") and store.name == "runs.sqlite"
    assert RunStore(tmp_path / "home" / "." / "runs.sqlite").address == store.address  # one spelling per store


def test_round_trip_survives_reopening(new_store):
    store = new_store()
    run_id, created = store.enqueue(CONFIG)
    assert created and store.get_run(run_id).status == "queued"

    claimed_id, config = store.claim_next(worker_pid=4242)
    assert claimed_id == run_id and TrainConfig.from_dict(config) == CONFIG.canonical()
    assert store.get_run(run_id).worker_pid == 4242
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.5), StepMetrics(2, 0.2, 2.0, 2.1, 0.3)])
    running = store.get_run(run_id)
    assert running.status == "running" and running.steps_done == 2 and running.eta_s == pytest.approx(0.1)
    store.add_metrics(run_id, [StepMetrics(3, 0.3, float("nan"), float("inf"), 0.1)])
    store.finish_run(run_id, _result("diverged", stuck=True))

    reopened = new_store()
    run = reopened.get_run(run_id)
    assert (run.status, run.stuck_at_chance, run.label, run.progress) == ("diverged", True, "ResNet-20 A w4", 1.0)
    assert run.result["final_test_acc"] == 0.8 and run.worker_pid is None
    metrics = reopened.metrics(run_id)
    assert metrics["step"] == [1, 2, 3]
    assert metrics["train_loss"][:2] == [2.5, 2.0] and metrics["train_loss"][2] is None  # NaN → NULL
    assert metrics["test_loss"] == [None, 2.1, math.inf] and metrics["test_acc"] == [None, 0.3, 0.1]
    assert reopened.metrics(run_id, since_step=2)["step"] == [3]


def test_identical_configs_are_deduplicated(new_store):
    store = new_store()
    first, _ = store.enqueue(CONFIG)
    assert store.enqueue(CONFIG) == (first, False)
    assert store.enqueue(replace(CONFIG, scale=3.0)) == (first, False)  # λ is unused by "identity"
    other, created = store.enqueue(replace(CONFIG, seed=1))
    assert created and other != first
    assert store.request_cancel(first) == "cancelled"
    again, created = store.enqueue(CONFIG)  # a cancelled run is trained anew
    assert created and again not in (first, other)


def test_option_a_and_option_b_are_different_runs(new_store):
    store = new_store()
    a, created_a = store.enqueue(replace(CONFIG, depth=56))  # option A: the CIFAR depths' default
    b, created_b = store.enqueue(replace(CONFIG, depth=56, downsample="conv"))
    assert created_a and created_b and a != b
    assert (store.get_run(a).label, store.get_run(b).label) == ("ResNet-56 A w4", "ResNet-56 B w4")
    assert store.enqueue(replace(CONFIG, depth=56, downsample="pad")) == (a, False)


def test_runs_stored_before_downsample_existed_are_option_b(tmp_path):
    """A version-0 store (no ``downsample`` in its configs) is rewritten once: those runs had projections."""
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    old = {k: v for k, v in json.loads(config_key(replace(CONFIG, depth=56))).items() if k != "downsample"}
    with sqlite3.connect(path) as con:  # what the previous version wrote
        con.execute("INSERT INTO runs (config, label, source, status, created_at) VALUES (?, 'ResNet-56 w4', 'live', 'done', 0)",
                    (json.dumps(old, sort_keys=True),))
        con.execute("PRAGMA user_version = 0")
    (run,) = RunStore(path).list_runs()
    assert (run.config["downsample"], run.label) == ("conv", "ResNet-56 B w4")
    assert store.enqueue(replace(CONFIG, depth=56, downsample="conv")) == (run.id, False)  # the same run
    assert store.enqueue(replace(CONFIG, depth=56))[1]  # option A is a new one

    exported = {**store.export_run(run.id), "config": old, "label": "ResNet-56 w4"}  # an old export file
    other = RunStore(tmp_path / "other.sqlite")
    imported = other.get_run(other.import_run(exported))
    assert (imported.config["downsample"], imported.label) == ("conv", "ResNet-56 B w4")


def test_queue_position_and_cancel(new_store):
    store = new_store()
    ids = [store.enqueue(replace(CONFIG, seed=s))[0] for s in range(3)]
    assert [store.queue_position(i) for i in ids] == [1, 2, 3]
    store.claim_next(worker_pid=1)
    assert [store.queue_position(i) for i in ids] == [None, 1, 2]
    assert store.request_cancel(ids[1]) == "cancelled"
    assert store.queue_position(ids[2]) == 1
    assert store.request_cancel(ids[0]) == "running"  # a running run stops at its next step
    assert store.cancel_requested(ids[0]) and not store.cancel_requested(ids[2])
    with pytest.raises(KeyError):
        store.request_cancel(999)


class Clock:
    """A settable time of day for the store's leases."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_runs_whose_worker_stopped_writing_become_interrupted_with_their_curve(new_store):
    clock = Clock()
    store = new_store(clock=clock)
    run_id, _ = store.enqueue(CONFIG)
    store.claim_next(worker_pid=os.getpid())  # a live PID, as a reused one would be after a restart
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.4)])
    alive_id = store.create_run(replace(CONFIG, seed=9), status="running")
    clock.now += LEASE_S - 1
    assert store.heartbeat(alive_id)  # its worker still writes
    assert store.interrupt_orphans() == []
    clock.now += 2  # the first run's worker has been silent for more than LEASE_S
    assert store.interrupt_orphans() == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.steps_done == 1 and "died" in run.error and run.worker_pid is None
    assert store.get_run(alive_id).status == "running"
    assert not store.heartbeat(run_id)  # its worker, if it ever comes back, learns it lost the run
    store.finish_run(run_id, _result())
    assert store.get_run(run_id).status == "interrupted"


def test_runs_of_a_worker_seen_dying_are_interrupted_at_once(new_store):
    store = new_store()
    ids = [store.enqueue(replace(CONFIG, seed=s))[0] for s in range(2)]
    store.claim_next(worker_pid=111)
    store.claim_next(worker_pid=222)
    assert store.interrupt_orphans(dead_workers=[111]) == [ids[0]]
    assert [store.get_run(i).status for i in ids] == ["interrupted", "running"]


def test_cancel_ends_an_orphaned_run_at_once(new_store):
    clock = Clock()
    store = new_store(clock=clock)
    run_id, _ = store.enqueue(CONFIG)
    store.claim_next(worker_pid=os.getpid())
    assert store.request_cancel(run_id) == "running"  # a live worker stops at its next step
    clock.now += LEASE_S + 1
    assert store.request_cancel(run_id) == "cancelled"  # nobody would ever read the request
    run = store.get_run(run_id)
    assert run.status == "cancelled" and run.finished_at == clock.now and run.worker_pid is None


def test_ten_sessions_submitting_one_config_create_one_run(new_store):
    store = new_store()
    barrier = threading.Barrier(10)

    def submit(_: int) -> tuple[int, bool]:
        barrier.wait()  # all ten at once
        return store.enqueue(CONFIG)

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(submit, range(10)))
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(store.list_runs()) == 1


def test_artifacts_compute_once_with_progress_and_lease(new_store):
    clock = Clock()
    store = new_store(clock=clock)
    run_id, _ = store.enqueue(CONFIG)
    ident = (run_id, "signals_init", '{"depth": 20}')
    assert store.artifact(*ident) is None
    assert store.begin_artifact(*ident, worker_pid=1)
    assert not store.begin_artifact(*ident, worker_pid=2)  # running with a live lease: someone computes it
    clock.now += LEASE_S - 1
    store.artifact_progress(*ident, 0.25)  # renews the lease
    clock.now += 2
    assert not store.begin_artifact(*ident, worker_pid=2)
    assert store.artifact(*ident) == Artifact(*ident, "running", 0.25, None, None, clock.now - 2)
    clock.now += LEASE_S + 1  # its worker went silent: taken over, from the start
    assert store.begin_artifact(*ident, worker_pid=2)
    assert store.artifact(*ident).progress == 0.0
    store.finish_artifact(*ident, {"signals": [1.5, math.inf]})
    done = store.artifact(*ident)
    assert (done.status, done.progress, done.payload, done.error) == ("done", 1.0, {"signals": [1.5, math.inf]}, None)
    assert not store.begin_artifact(*ident, worker_pid=3)  # done: never again
    store.fail_artifact(*ident, "late")  # only a running artifact ends
    assert store.artifact(*ident).status == "done"
    with pytest.raises(TypeError):
        store.finish_artifact(run_id, "other", "k", {"x": object()})


def test_failed_and_cancelled_artifacts_are_computed_again(new_store):
    clock = Clock()
    store = new_store(clock=clock)
    run_id, _ = store.enqueue(CONFIG)
    ident = (run_id, "landscape", "k")
    assert store.request_artifact_cancel(*ident) is None
    store.begin_artifact(*ident, worker_pid=1)
    store.fail_artifact(*ident, "out of memory")
    assert (store.artifact(*ident).status, store.artifact(*ident).error) == ("failed", "out of memory")
    assert store.begin_artifact(*ident, worker_pid=1) and store.artifact(*ident).error is None
    assert not store.artifact_cancel_requested(*ident)
    assert store.request_artifact_cancel(*ident) == "running"
    assert store.artifact_cancel_requested(*ident)
    store.fail_artifact(*ident, "cancelled", status="cancelled")
    assert store.artifact(*ident).status == "cancelled" and store.artifact_cancel_requested(*ident)
    assert store.begin_artifact(*ident, worker_pid=1) and not store.artifact_cancel_requested(*ident)
    clock.now += LEASE_S + 1
    assert store.request_artifact_cancel(*ident) == "cancelled"  # an orphan ends at once
    with pytest.raises(ValueError):
        store.fail_artifact(*ident, "?", status="done")


def test_a_released_artifact_is_computed_anew_at_once(new_store):
    """What a server leaving does with the artifacts its task processes were computing."""
    store = new_store(clock=Clock())
    run_id, _ = store.enqueue(CONFIG)
    ident = (run_id, "landscape", "k")
    store.begin_artifact(*ident, worker_pid=1)
    store.artifact_progress(*ident, 0.5)
    assert not store.begin_artifact(*ident, worker_pid=2)  # its lease is live: someone computes it
    store.release_artifact(*ident)
    assert store.artifact(*ident).status == "running"
    assert store.begin_artifact(*ident, worker_pid=2) and store.artifact(*ident).progress == 0.0  # no wait for the lease


def test_artifacts_go_with_their_run(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id, _ = store.enqueue(CONFIG)
    store.begin_artifact(run_id, "k", "k", worker_pid=1)
    with sqlite3.connect(store.address) as con:
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    assert store.artifact(run_id, "k", "k") is None


def test_a_version_1_store_gets_leases_and_artifacts(tmp_path):
    """A file of the previous schema: no ``heartbeat_at`` column, no artifacts table."""
    path = tmp_path / "runs.sqlite"
    clock = Clock()
    RunStore(path).enqueue(CONFIG)
    with sqlite3.connect(path) as con:
        con.execute("DROP TRIGGER artifacts_go_with_their_run")  # schema 3's
        con.execute("DROP TABLE artifacts")
        con.execute("ALTER TABLE runs DROP COLUMN heartbeat_at")
        con.execute("ALTER TABLE runs DROP COLUMN owner")  # schema 4's
        con.execute("UPDATE runs SET status = 'running', started_at = ?, worker_pid = ?", (clock.now, os.getpid()))
        con.execute("PRAGMA user_version = 1")
    store = RunStore(path, clock=clock)
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "owner" in {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    (run,) = store.list_runs()
    assert store.interrupt_orphans() == []  # counts from its start…
    clock.now += LEASE_S + 1
    assert store.interrupt_orphans() == [run.id]  # …and its worker of the old version is long gone
    assert store.begin_artifact(run.id, "k", "k", worker_pid=1)


def test_export_import_round_trip(new_store):
    store = new_store("a")
    run_id, _ = store.enqueue(CONFIG)
    store.claim_next(worker_pid=1)
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.5), StepMetrics(2, 0.2, 2.0, 2.1, 0.3)])
    store.finish_run(run_id, _result())
    exported = json.loads(json.dumps(store.export_run(run_id)))

    other = new_store("b")
    imported = other.import_run(exported)
    assert other.import_run(exported) == imported  # idempotent
    run = other.get_run(imported)
    assert (run.source, run.status, run.label) == ("reference", "done", "ResNet-20 A w4")
    assert other.metrics(imported) == store.metrics(run_id)
    # A reference run is not a live one: "rerun live" queues a real run.
    live_id, created = other.enqueue(CONFIG)
    assert created and live_id != imported
    with pytest.raises(ValueError, match="not a ResNet Lab run export"):
        other.import_run({"format": "something else"})


def test_metrics_csv(new_store):
    store = new_store()
    run_id, _ = store.enqueue(CONFIG)
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.5), StepMetrics(2, 0.2, 2.0, 2.1, 0.3)])
    rows = list(csv.reader(io.StringIO(store.metrics_csv([run_id]))))
    assert rows[0] == ["run_id", "label", "step", "wall_s", "train_loss", "test_loss", "test_acc"]
    assert rows[1] == [str(run_id), "ResNet-20 A w4", "1", "0.1", "2.5", "", ""]
    assert rows[2][-2:] == ["2.1", "0.3"]


@pytest.mark.parametrize("problem", ["home_is_a_file", "parent_is_a_file", "path_is_a_directory", "not_a_database"])
def test_unusable_store_raises_store_error(tmp_path, monkeypatch, problem):
    # (Tests run as root here, so a chmod-ed folder would still be writable.)
    path = None
    if problem == "home_is_a_file":
        (tmp_path / "file").write_text("x")
        monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "file" / "home"))
    elif problem == "parent_is_a_file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "runs.sqlite"
    elif problem == "path_is_a_directory":
        path = tmp_path / "dir"
        path.mkdir()
    else:
        path = tmp_path / "runs.sqlite"
        path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match="cannot be created|run store") as caught:
        RunStore(path)
    assert str(tmp_path) not in str(caught.value)  # shown to visitors: names, never absolute paths


def test_shipped_reference_runs_import(new_store):
    store = new_store()
    imported = import_reference_runs(store)
    assert set(imported) == set(PRESETS), "run python -m resnet.lab reference to (re)write assets/reference_runs"
    assert import_reference_runs(store) == imported  # idempotent
    for key, run_ids in imported.items():
        runs = [store.get_run(r) for r in run_ids]
        # every seed of every variant, seed 0's (the preset's own configurations) first
        assert sorted(config_key(r.config) for r in runs) == sorted(config_key(c) for c in PRESETS[key].reference_configs)
        assert [r.config for r in runs[:len(PRESETS[key].configs)]] == [json.loads(config_key(c)) for c in PRESETS[key].configs]
        for run in runs:
            assert run.status in ("done", "diverged")
            if run.status == "done":  # a diverged run stopped before its final evaluation
                assert run.steps_done == run.steps and run.result["test_images"] == 359
    seed0 = imported["why_not_2x"][:len(PRESETS["why_not_2x"].configs)]
    by_label = {store.get_run(r).label: store.get_run(r) for r in seed0}
    assert by_label["ResNet-56 A λ=2"].stuck_at_chance and not by_label["ResNet-56 A"].stuck_at_chance
    degradation = {store.get_run(r).label: store.get_run(r).result["final_train_loss"] for r in imported["degradation"][:4]}
    assert degradation["plain-56"] > degradation["plain-20"] + 1.0  # the gap the preset is about


def test_concurrent_claims_take_every_run_once(new_store):
    """Eight workers claiming at once: every queued run is trained by exactly one (SKIP LOCKED on PostgreSQL)."""
    store = new_store()
    ids = [store.enqueue(replace(CONFIG, seed=s))[0] for s in range(12)]
    barrier = threading.Barrier(8)

    def worker(pid: int) -> list[int]:
        mine = new_store()  # each worker process has its own store object and connections
        barrier.wait()
        claimed = []
        while (got := mine.claim_next(worker_pid=pid)) is not None:
            claimed.append(got[0])
        return claimed

    with ThreadPoolExecutor(8) as pool:
        claims = [run_id for claimed in pool.map(worker, range(100, 108)) for run_id in claimed]
    assert sorted(claims) == ids
    assert {r.status for r in store.list_runs()} == {"running"}


@pytest.mark.postgres
def test_the_default_store_is_the_database_of_resnet_lab_db_url(postgres_database, tmp_path, monkeypatch):
    url = postgres_database()
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RESNET_LAB_DB_URL", url)
    store = RunStore()
    assert store.address == url
    assert store.name.startswith("PostgreSQL database t_") and "postgres@" not in store.name
    run_id, _ = store.enqueue(CONFIG)
    assert RunStore(store.address).get_run(run_id).status == "queued"  # what a worker is handed: the same database
    assert not (tmp_path / "home" / "runs.sqlite").exists()  # the folder keeps the trained weights only
    for path in (tmp_path / "other.sqlite", tmp_path / "home" / "runs.sqlite"):  # an explicit file stays a file
        other = RunStore(path)
        assert other.address == str(path) and other.list_runs() == []
    monkeypatch.setenv("RESNET_LAB_DB_URL", "mysql://somewhere")
    with pytest.raises(StoreError, match="must start with postgresql://"):
        RunStore()


@pytest.mark.postgres
def test_an_unreachable_database_is_a_store_error_without_its_password(monkeypatch):
    with pytest.raises(StoreError, match="run store PostgreSQL database runs on 127.0.0.1 cannot be opened") as caught:
        RunStore("postgresql://lab:secret@127.0.0.1:1/runs")
    assert "secret" not in str(caught.value)
