"""The analyses family (resnet.lab.analyses): one client shape over the task processes, artifacts of no run,
and the targets of the home page's measurements at initialisation and of the lesion study.

Tasks are computed here, in the test's process (``tasks._compute``, what a task process
does with one); tests/lab/test_tasks.py covers the task processes themselves.
"""

from __future__ import annotations

import sqlite3

import pytest

from resnet.inference.ablation import lesion_study
from resnet.inference.diagnostics import measure_at_init
from resnet.lab import tasks
from resnet.lab.analyses import GLOBAL_RUN, Analysis, at_init, lesion
from resnet.lab.config import TrainConfig
from resnet.lab.shipped import held_out_split, measure_lesion
from resnet.lab.store import RunStore
from resnet.lab.store.db import SCHEMA_VERSION
from resnet.model.init import init_parameters
from resnet.model.network import resnet
from resnet.model.preprocess import Preprocess
from resnet.model.weights import load_trained, save_trained

TARGETS = "tests.lab.task_targets"


class Line:
    """The dispatcher's stand-in: tasks wait here until ``compute`` runs them in this process."""

    def __init__(self) -> None:
        self.tasks: list[tasks._Task] = []

    def submit(self, task: tasks._Task) -> None:
        self.tasks.append(task)

    def compute(self) -> None:
        while self.tasks:
            tasks._compute(self.tasks.pop(0))


@pytest.fixture
def line(monkeypatch):
    waiting = Line()
    monkeypatch.setattr(tasks, "_dispatcher", lambda: waiting)
    return waiting


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.sqlite")


def test_one_client_shape_start_read_cancel_restart(store, line):
    count = Analysis("test", f"{TARGETS}:count")
    assert count.read(store.address, GLOBAL_RUN, "k") is None  # nothing started by a read
    started = count.start(store.address, GLOBAL_RUN, "k", {"n": 4})
    assert (started.run_id, started.status, started.progress) == (GLOBAL_RUN, "running", 0.0) and len(line.tasks) == 1
    assert count.start(store.address, GLOBAL_RUN, "k", {"n": 4}).status == "running" and len(line.tasks) == 1  # once
    line.compute()
    done = count.read(store.address, GLOBAL_RUN, "k")
    assert (done.status, done.progress, done.payload["total"]) == ("done", 1.0, 6)
    assert count.start(store.address, GLOBAL_RUN, "k", {"n": 4}) == done and not line.tasks  # stored: not again
    assert count.restart(store.address, GLOBAL_RUN, "k", {"n": 5}).status == "running"  # asked again: computed anew
    line.compute()
    assert count.read(store.address, GLOBAL_RUN, "k").payload["total"] == 10
    stopped = Analysis("test", f"{TARGETS}:until_stopped")
    stopped.start(store.address, GLOBAL_RUN, "s", {"started": str(store.address) + ".started"})
    assert stopped.cancel(store.address, GLOBAL_RUN, "s") == "running"  # the task sees it at its next check
    line.compute()
    assert stopped.read(store.address, GLOBAL_RUN, "s").status == "cancelled"
    assert stopped.start(store.address, GLOBAL_RUN, "s", {"started": "x"}).status == "cancelled"  # not retried by itself


def test_a_version_2_store_takes_artifacts_of_no_run_and_still_drops_a_runs_own(tmp_path):
    """Schema 3: ``artifacts.run_id`` is no foreign key any more (GLOBAL_RUN is no run); a deleted run's go with it."""
    path = tmp_path / "runs.sqlite"
    with sqlite3.connect(path) as con:  # the tables as schema 2 made them
        con.executescript("""
            CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, config TEXT NOT NULL, label TEXT NOT NULL,
                source TEXT NOT NULL, status TEXT NOT NULL, stuck_at_chance INTEGER NOT NULL DEFAULT 0,
                cancel_requested INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER, heartbeat_at REAL, created_at REAL NOT NULL,
                started_at REAL, finished_at REAL, result TEXT, error TEXT);
            CREATE TABLE artifacts (run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE, kind TEXT NOT NULL,
                key TEXT NOT NULL, status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, payload TEXT, error TEXT,
                cancel_requested INTEGER NOT NULL DEFAULT 0, worker_pid INTEGER, heartbeat_at REAL, updated_at REAL NOT NULL,
                PRIMARY KEY (run_id, kind, key));
            PRAGMA user_version = 2;
        """)
    store = RunStore(path)
    run_id, _ = store.enqueue(TrainConfig(depth=20, width=4, steps=3, eval_every=3))
    assert store.begin_artifact(run_id, "k", "k", worker_pid=1)
    assert store.begin_artifact(GLOBAL_RUN, "k", "k", worker_pid=1)  # refused by the foreign key before
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
    assert store.artifact(run_id, "k", "k") is None and store.artifact(GLOBAL_RUN, "k", "k").status == "running"


def test_the_home_pages_measurement_is_measure_at_init_of_every_variant(store, line):
    started = at_init.start(store.address, depth=20, scale=0.75, downsample="conv")
    assert started.run_id == GLOBAL_RUN and line.tasks[0].kwargs == {"depth": 20, "scale": 0.75, "downsample": "conv"}
    line.compute()
    measured = at_init.measured(at_init.start(store.address, depth=20, scale=0.75, downsample="conv").payload)
    assert [(s, lam) for s, lam, _ in measured] == [*at_init.VARIANTS, ("scaled", 0.75)]  # the chosen λ last
    for shortcut, lam, signals in measured:  # the numbers measure_at_init gives here, NaN gains (projections) included
        expected = measure_at_init(20, shortcut, lam, downsample="conv")
        assert repr(signals) == repr(expected)
    assert at_init.variants(2.0) == list(at_init.VARIANTS)  # λ = 2 is one of them: measured once
    assert at_init.at_init_task(lambda f: None, lambda: True, depth=20, scale=2.0, downsample="pad") == {}  # cancelled


@pytest.mark.parametrize("settings, wrong", [
    ({"depth": 34, "scale": 2.0, "downsample": "pad"}, "depth"),
    ({"depth": 20, "scale": 1e9, "downsample": "pad"}, "λ"),
    ({"depth": 20, "scale": float("nan"), "downsample": "pad"}, "λ"),
    ({"depth": 20, "scale": 2.0, "downsample": "zeros"}, "downsample"),
])
def test_the_home_pages_measurement_is_bounded_before_anything_starts(store, line, settings, wrong):
    with pytest.raises(ValueError, match=wrong):
        at_init.start(store.address, **settings)
    assert not line.tasks


def test_the_lesion_analysis_measures_a_lab_file_once_for_every_copy_of_it(store, line, tmp_path):
    model = resnet(20, num_classes=10, in_channels=1, width=2)
    init_parameters(model, 0)
    meta = {"preprocess": Preprocess(resize=8, crop=8, mean=(0.3,), std=(0.35,), channels=1).to_dict(),
            "classes": [str(i) for i in range(10)], "label": "ResNet-20 (lab)",
            "train_config": {"dataset": "digits", "image_size": 8, "depth": 20}}
    path = save_trained(model, meta, tmp_path / "a" / "run1")
    assert lesion.read(store.address, path) is None
    lesion.start(store.address, path)
    line.compute()
    payload = lesion.read(store.address, path).payload
    lab = load_trained(path)
    assert payload == measure_lesion(lab).to_dict() == lesion_study(lab.model, held_out_split(lab), "ResNet-20 (lab)").to_dict()
    copy = tmp_path / "b" / path.name  # the same bytes elsewhere: the same study, not measured again
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert lesion.start(store.address, copy).payload == payload and not line.tasks
