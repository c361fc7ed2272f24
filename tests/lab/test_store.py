"""The SQLite run store: round trip, dedup, queue, cancel, recovery, import/export, errors."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
import subprocess
import sys
from dataclasses import replace

import pytest

from resnet.lab.config import StepMetrics, TrainConfig, TrainResult, config_key
from resnet.lab.presets import PRESETS, import_reference_runs
from resnet.lab.store import RunStore, StoreError

CONFIG = TrainConfig(depth=20, width=4, batch_size=16, steps=3, eval_every=2)


def _result(status: str = "done", stuck: bool = False) -> TrainResult:
    return TrainResult(status, 3, 1.5, 100.0, 0.5, 0.6, 0.8, stuck)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: no process has this pid now
    return proc.pid


def test_default_path_follows_resnet_lab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "home"))
    assert RunStore().path == tmp_path / "home" / "runs.sqlite"


def test_round_trip_survives_reopening(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
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

    reopened = RunStore(tmp_path / "runs.sqlite")
    run = reopened.get_run(run_id)
    assert (run.status, run.stuck_at_chance, run.label, run.progress) == ("diverged", True, "ResNet-20 A w4", 1.0)
    assert run.result["final_test_acc"] == 0.8 and run.worker_pid is None
    metrics = reopened.metrics(run_id)
    assert metrics["step"] == [1, 2, 3]
    assert metrics["train_loss"][:2] == [2.5, 2.0] and metrics["train_loss"][2] is None  # NaN → NULL
    assert metrics["test_loss"] == [None, 2.1, math.inf] and metrics["test_acc"] == [None, 0.3, 0.1]
    assert reopened.metrics(run_id, since_step=2)["step"] == [3]


def test_identical_configs_are_deduplicated(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    first, _ = store.enqueue(CONFIG)
    assert store.enqueue(CONFIG) == (first, False)
    assert store.enqueue(replace(CONFIG, scale=5.0)) == (first, False)  # λ is unused by "identity"
    other, created = store.enqueue(replace(CONFIG, seed=1))
    assert created and other != first
    assert store.request_cancel(first) == "cancelled"
    again, created = store.enqueue(CONFIG)  # a cancelled run is trained anew
    assert created and again not in (first, other)


def test_option_a_and_option_b_are_different_runs(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
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


def test_queue_position_and_cancel(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
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


def test_runs_of_dead_workers_become_interrupted_with_their_curve(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_id, _ = store.enqueue(CONFIG)
    store.claim_next(worker_pid=_dead_pid())
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.4)])
    alive_id = store.create_run(replace(CONFIG, seed=9), status="running")  # this process: alive
    assert store.interrupt_dead() == [run_id]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.steps_done == 1 and "died" in run.error
    assert store.get_run(alive_id).status == "running"


def test_export_import_round_trip(tmp_path):
    store = RunStore(tmp_path / "a.sqlite")
    run_id, _ = store.enqueue(CONFIG)
    store.claim_next(worker_pid=1)
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.5), StepMetrics(2, 0.2, 2.0, 2.1, 0.3)])
    store.finish_run(run_id, _result())
    exported = json.loads(json.dumps(store.export_run(run_id)))

    other = RunStore(tmp_path / "b.sqlite")
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


def test_metrics_csv(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
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
    with pytest.raises(StoreError, match="cannot be created|run store"):
        RunStore(path)


def test_shipped_reference_runs_import(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    imported = import_reference_runs(store)
    assert set(imported) == set(PRESETS), "run python -m resnet.lab reference to (re)write assets/reference_runs"
    assert import_reference_runs(store) == imported  # idempotent
    for key, run_ids in imported.items():
        runs = [store.get_run(r) for r in run_ids]
        assert [r.config for r in runs] == [json.loads(config_key(c)) for c in PRESETS[key].configs]
        for run in runs:
            assert run.status == "done" and run.steps_done == run.steps
    by_label = {store.get_run(r).label: store.get_run(r) for r in imported["why_not_2x"]}
    assert by_label["ResNet-56 A λ=2"].stuck_at_chance and not by_label["ResNet-56 A"].stuck_at_chance
    degradation = {store.get_run(r).label: store.get_run(r).result["final_train_loss"] for r in imported["degradation"]}
    assert degradation["plain-56"] > degradation["plain-20"] + 1.0  # the gap the preset is about
