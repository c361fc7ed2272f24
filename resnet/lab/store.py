"""The run store: runs, their configurations, status and metrics in one SQLite file.

Default file: ``data_home() / RUN_STORE_FILE`` (``$RESNET_LAB_HOME/runs.sqlite``). Several processes
use it at once (the app, the training workers, the CLI), so every call opens its own
short-lived connection (safe from any thread) in WAL mode, and the writes that must be
atomic (dedup on submit, claiming a queued run) run in ``BEGIN IMMEDIATE`` transactions.

Nothing here imports Paddle: configurations and results arrive as ``resnet.lab.config``
objects (a ``TrainConfig`` is valid by construction, so nothing is checked again here) and
leave as plain dicts; a configuration is stored as its ``config_key``.

Run statuses: queued → running → done | diverged (loss became NaN/inf) | cancelled |
failed (an exception) | interrupted (its worker died; the partial curve is kept).
``stuck_at_chance`` flags the "blew up, then sat at ln C" pattern (λ = 2).

Schema versions (``PRAGMA user_version``): 1 spells out every config's ``downsample``;
rows of a version-0 file were trained before the setting existed, with option B
(``resnet.lab.config.upgrade_stored``), and are rewritten so, labels included, on open.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..paths import ENV_HOME, RUN_STORE_FILE, data_home
from .config import StepMetrics, TrainConfig, TrainResult, config_key, upgrade_stored

STATUSES = ("queued", "running", "done", "cancelled", "interrupted", "diverged", "failed")
ACTIVE = ("queued", "running")
# A new submission of a config reuses a live run in one of these states; a cancelled,
# interrupted or failed run is trained again.
REUSABLE = ("queued", "running", "done", "diverged")
METRIC_COLUMNS = ("step", "wall_s", "train_loss", "test_loss", "test_acc")
EXPORT_FORMAT = "resnet-lab-run/1"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    config TEXT NOT NULL,            -- canonical JSON, also the dedup key
    label TEXT NOT NULL,
    source TEXT NOT NULL,            -- live | reference | cli
    status TEXT NOT NULL,
    stuck_at_chance INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result TEXT,                     -- JSON of TrainResult
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_config ON runs (config, source);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, id);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    wall_s REAL NOT NULL,
    train_loss REAL,                 -- NULL where the loss was NaN (SQLite has no NaN)
    test_loss REAL,
    test_acc REAL,
    PRIMARY KEY (run_id, step)
);
"""


class StoreError(RuntimeError):
    """The run store cannot be opened or written (read-only dir, full disk, locked…)."""


@dataclass(frozen=True)
class RunInfo:
    """One run as the page shows it."""

    id: int
    config: dict[str, Any]
    label: str
    source: str
    status: str
    stuck_at_chance: bool
    cancel_requested: bool
    worker_pid: int | None  # the process training it, while running
    created_at: float
    started_at: float | None
    finished_at: float | None
    result: dict[str, Any] | None
    error: str | None
    steps_done: int  # last step with metrics
    last_wall_s: float | None  # wall time at that step

    @property
    def steps(self) -> int:
        return int(self.config["steps"])

    @property
    def progress(self) -> float:
        """0..1, for a progress bar."""
        return min(1.0, self.steps_done / self.steps)

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (running runs only)."""
        if self.status != "running" or not self.steps_done or self.last_wall_s is None:
            return None
        return self.last_wall_s / self.steps_done * (self.steps - self.steps_done)


def store_path(path: str | Path | None = None) -> Path:
    """``path``, or the default store file ``data_home()/runs.sqlite``."""
    if path is not None:
        return Path(path)
    try:
        return data_home() / RUN_STORE_FILE
    except OSError as exc:
        raise StoreError(f"the data folder (${ENV_HOME} or ~/.resnet_lab) cannot be created: {exc}") from exc


class RunStore:
    """SQLite run store at ``path`` (default ``data_home()/runs.sqlite``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = store_path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"run store folder {self.path.parent} cannot be created: {exc}") from exc
        with self._tx(immediate=True) as con:
            for statement in SCHEMA.split(";"):  # executescript() would commit on its own
                if statement.strip():
                    con.execute(statement)
            if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                _upgrade_configs(con)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- plumbing -----------------------------------------------------------------

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction, committed on success; errors → StoreError."""
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.path} cannot be opened: {exc}") from exc
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            yield con
            con.execute("COMMIT")
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.rollback()
            raise StoreError(f"run store {self.path} failed ({exc}); is it writable?") from exc
        except BaseException:
            if con.in_transaction:
                con.rollback()
            raise
        finally:
            con.close()

    def _insert(self, con: sqlite3.Connection, config_json: str, label: str, source: str, status: str) -> int:
        now = time.time()
        started = now if status == "running" else None
        cur = con.execute(
            "INSERT INTO runs (config, label, source, status, created_at, started_at, worker_pid) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (config_json, label, source, status, now, started, os.getpid() if status == "running" else None),
        )
        return int(cur.lastrowid)

    # -- creating runs -------------------------------------------------------------

    def enqueue(self, config: TrainConfig) -> tuple[int, bool]:
        """Queue a live run; (run id, created). An identical live config is reused."""
        config_json = config_key(config)
        with self._tx(immediate=True) as con:  # check-then-insert must not interleave
            row = con.execute(
                f"SELECT id FROM runs WHERE config = ? AND source = 'live' AND status IN ({_marks(REUSABLE)}) "
                "ORDER BY id DESC LIMIT 1",
                (config_json, *REUSABLE),
            ).fetchone()
            if row is not None:
                return int(row["id"]), False
            return self._insert(con, config_json, config.label, "live", "queued"), True

    def create_run(self, config: TrainConfig, *, status: str = "running", source: str = "cli") -> int:
        """A run outside the queue (the CLI records one it trains itself)."""
        with self._tx() as con:
            return self._insert(con, config_key(config), config.label, source, status)

    # -- the worker's side ------------------------------------------------------------

    def claim_next(self, worker_pid: int) -> tuple[int, dict[str, Any]] | None:
        """Atomically take the oldest queued run: (run id, config dict), now running."""
        with self._tx() as con:  # idle workers poll: look before taking the write lock
            if con.execute("SELECT 1 FROM runs WHERE status = 'queued' LIMIT 1").fetchone() is None:
                return None
        with self._tx(immediate=True) as con:
            row = con.execute("SELECT id, config FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute(
                "UPDATE runs SET status = 'running', started_at = ?, worker_pid = ? WHERE id = ?",
                (time.time(), worker_pid, row["id"]),
            )
            return int(row["id"]), json.loads(row["config"])

    def add_metrics(self, run_id: int, rows: Iterable[StepMetrics]) -> None:
        """Append (or overwrite) per-step metrics."""
        values = [(run_id, m.step, m.wall_s, m.train_loss, m.test_loss, m.test_acc) for m in rows]
        if values:
            with self._tx() as con:
                con.executemany(
                    "INSERT OR REPLACE INTO metrics (run_id, step, wall_s, train_loss, test_loss, test_acc) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    values,
                )

    def finish_run(self, run_id: int, result: TrainResult) -> None:
        """Record the outcome of a training run (``resnet.lab.train.train``)."""
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET status = ?, stuck_at_chance = ?, result = ?, finished_at = ?, worker_pid = NULL WHERE id = ?",
                (result.status, int(result.stuck_at_chance), json.dumps(result.to_dict()), time.time(), run_id),
            )

    def fail_run(self, run_id: int, error: str, status: str = "failed") -> None:
        """End a run without a result: ``failed`` (an exception) or ``interrupted``."""
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ?, worker_pid = NULL WHERE id = ? AND status = 'running'",
                (status, error, time.time(), run_id),
            )

    def cancel_requested(self, run_id: int) -> bool:
        with self._tx() as con:
            row = con.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def interrupt_dead(self) -> list[int]:
        """Mark running runs whose process is gone as interrupted (curves kept); their ids.

        The pool calls it on start (after a server restart no old worker is alive) and
        whenever one of its workers dies.
        """
        with self._tx(immediate=True) as con:
            rows = con.execute("SELECT id, worker_pid FROM runs WHERE status = 'running'").fetchall()
            dead = [int(r["id"]) for r in rows if r["worker_pid"] is None or not _pid_alive(int(r["worker_pid"]))]
            con.executemany(
                "UPDATE runs SET status = 'interrupted', error = 'its worker process died', finished_at = ?, "
                "worker_pid = NULL WHERE id = ?",
                [(time.time(), run_id) for run_id in dead],
            )
        return dead

    # -- the page's side --------------------------------------------------------------

    def request_cancel(self, run_id: int) -> str:
        """Cancel a run: a queued one at once, a running one at its next step; new status."""
        with self._tx(immediate=True) as con:
            row = con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id}")
            if row["status"] == "queued":
                con.execute("UPDATE runs SET status = 'cancelled', finished_at = ? WHERE id = ?", (time.time(), run_id))
                return "cancelled"
            if row["status"] == "running":
                con.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            return str(row["status"])

    def get_run(self, run_id: int) -> RunInfo:
        runs = self._select("WHERE r.id = ?", (run_id,))
        if not runs:
            raise KeyError(f"no run {run_id}")
        return runs[0]

    def list_runs(self, *, status: str | None = None, source: str | None = None) -> list[RunInfo]:
        """All runs, oldest first, optionally filtered."""
        clauses, args = [], []
        for column, value in (("status", status), ("source", source)):
            if value is not None:
                clauses.append(f"r.{column} = ?")
                args.append(value)
        return self._select(("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args))

    def _select(self, where: str, args: tuple) -> list[RunInfo]:
        with self._tx() as con:
            rows = con.execute(
                "SELECT r.*, m.step AS steps_done, m.wall_s AS last_wall_s FROM runs r "
                "LEFT JOIN metrics m ON m.run_id = r.id AND m.step = (SELECT MAX(step) FROM metrics WHERE run_id = r.id) "
                f"{where} ORDER BY r.id",
                args,
            ).fetchall()
        return [
            RunInfo(
                id=int(r["id"]),
                config=json.loads(r["config"]),
                label=r["label"],
                source=r["source"],
                status=r["status"],
                stuck_at_chance=bool(r["stuck_at_chance"]),
                cancel_requested=bool(r["cancel_requested"]),
                worker_pid=r["worker_pid"],
                created_at=r["created_at"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                result=json.loads(r["result"]) if r["result"] else None,
                error=r["error"],
                steps_done=int(r["steps_done"] or 0),
                last_wall_s=r["last_wall_s"],
            )
            for r in rows
        ]

    def queue_position(self, run_id: int) -> int | None:
        """1 = next to start; None when the run is not queued."""
        with self._tx() as con:
            row = con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or row["status"] != "queued":
                return None
            ahead = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'queued' AND id < ?", (run_id,)).fetchone()[0]
        return int(ahead) + 1

    def metrics(self, run_id: int, since_step: int = 0) -> dict[str, list]:
        """Columns ``METRIC_COLUMNS`` for steps > ``since_step`` (poll with the last step seen)."""
        with self._tx() as con:
            rows = con.execute(
                f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id = ? AND step > ? ORDER BY step",
                (run_id, since_step),
            ).fetchall()
        return {c: [r[c] for r in rows] for c in METRIC_COLUMNS}

    # -- import / export --------------------------------------------------------------

    def export_run(self, run_id: int) -> dict[str, Any]:
        """A run and its curve as a JSON-able dict (the reference-run file format)."""
        run = self.get_run(run_id)
        return {
            "format": EXPORT_FORMAT,
            "label": run.label,
            "config": run.config,
            "status": run.status,
            "stuck_at_chance": run.stuck_at_chance,
            "result": run.result,
            "metrics": self.metrics(run_id),
        }

    def import_run(self, data: dict[str, Any], *, source: str = "reference") -> int:
        """Add an exported run; importing the same config from the same source again is a no-op.

        An export from before ``downsample`` existed is read as option B, and labelled so.
        """
        if data.get("format") != EXPORT_FORMAT:
            raise ValueError(f"not a ResNet Lab run export (format {data.get('format')!r}, expected {EXPORT_FORMAT!r})")
        config = upgrade_stored(data["config"])
        config_json, label = config_key(config), TrainConfig.from_dict(config).label
        metrics = data["metrics"]
        with self._tx(immediate=True) as con:
            row = con.execute("SELECT id FROM runs WHERE config = ? AND source = ?", (config_json, source)).fetchone()
            if row is not None:
                return int(row["id"])
            run_id = self._insert(con, config_json, label, source, data["status"])
            con.execute(
                "UPDATE runs SET stuck_at_chance = ?, result = ?, started_at = created_at, finished_at = created_at WHERE id = ?",
                (int(data["stuck_at_chance"]), json.dumps(data["result"]), run_id),
            )
            con.executemany(
                "INSERT INTO metrics (run_id, step, wall_s, train_loss, test_loss, test_acc) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *values) for values in zip(*(metrics[c] for c in METRIC_COLUMNS))],
            )
        return run_id

    def metrics_csv(self, run_ids: Iterable[int]) -> str:
        """CSV of the given runs' curves, one row per run and step."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["run_id", "label", *METRIC_COLUMNS])
        for run_id in run_ids:
            label = self.get_run(run_id).label
            columns = self.metrics(run_id)
            for values in zip(*(columns[c] for c in METRIC_COLUMNS)):
                writer.writerow([run_id, label, *("" if v is None else v for v in values)])
        return out.getvalue()


def _upgrade_configs(con: sqlite3.Connection) -> None:
    """Schema 0 → 1: spell out ``downsample`` in every stored config (option B before it existed)."""
    for row in con.execute("SELECT id, config FROM runs").fetchall():
        try:
            config = upgrade_stored(json.loads(row["config"]))
            label = TrainConfig.from_dict(config).label
        except ValueError:  # a ConfigError, or not JSON
            continue  # not a configuration this version can train: left as it was, it matches nothing
        con.execute("UPDATE runs SET config = ?, label = ? WHERE id = ?", (config_key(config), label, row["id"]))


def _marks(values: tuple) -> str:
    return ", ".join("?" * len(values))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
