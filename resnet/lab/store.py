"""The run store: runs, their configurations, status and metrics, in SQLite or PostgreSQL.

Default: one SQLite file, ``data_home() / RUN_STORE_FILE`` (``$RESNET_LAB_HOME/runs.sqlite``).
Several processes use it at once (the app, the training workers, the CLI), so every call
opens its own short-lived connection (safe from any thread) in WAL mode, and the writes
that must be atomic (dedup on submit, claiming a queued run, starting an artifact) run
in ``BEGIN IMMEDIATE`` transactions.

PostgreSQL, for app replicas on several machines sharing one store: with
``RESNET_LAB_DB_URL=postgresql://…`` the default store is that database (``RunStore(url)``
opens one explicitly); the data folder still holds the trained weights. Same schema (its
REAL columns as DOUBLE PRECISION), same semantics: those atomic writes take one
transaction-scoped advisory lock, the stand-in for SQLite's single writer; workers claim
runs with ``SELECT … FOR UPDATE SKIP LOCKED``; connections are reused from a small pool.

Nothing here imports Paddle: configurations and results arrive as ``resnet.lab.config``
objects (a ``TrainConfig`` is valid by construction, so nothing is checked again here) and
leave as plain dicts; a configuration is stored as its ``config_key``.

Run statuses: queued → running → done | diverged (loss became NaN/inf) | cancelled |
failed (an exception) | interrupted (its worker died; the partial curve is kept).
``stuck_at_chance`` flags the "blew up, then sat at ln C" pattern (λ = 2).

Orphans: a running run holds a lease. Its worker writes ``heartbeat_at`` with every batch
of metrics and at least every ``HEARTBEAT_S`` (``heartbeat``); a run whose worker has not
written for ``LEASE_S`` is an orphan (its worker died, or the whole server did), and
``interrupt_orphans`` marks it interrupted, as it does at once for the runs of a worker its
pool saw die. No process id is tested: after a restart a reused PID cannot keep a run
alive. Cancelling an orphan ends it at once.

Artifacts: results the page computes from a run in a worker process
(``resnet.lab.tasks``: per-block diagnostics, loss landscapes…), keyed by (run, kind,
key), with status running → done | failed | cancelled, a progress fraction and a JSON
payload. A running artifact holds a lease like a running run; ``begin_artifact`` takes
over one whose lease expired.

Schema versions (``PRAGMA user_version``): 1 spells out every config's ``downsample``;
rows of a version-0 file were trained before the setting existed, with option B
(``resnet.lab.config.upgrade_stored``), and are rewritten so, labels included, on open.
2 adds the runs' ``heartbeat_at`` (a version-1 file gets the column on open; its running
runs have no heartbeat yet and count from their start) and the ``artifacts`` table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from ..paths import ENV_HOME, RUN_STORE_FILE, data_home
from .config import StepMetrics, TrainConfig, TrainResult, config_key, upgrade_stored

STATUSES = ("queued", "running", "done", "cancelled", "interrupted", "diverged", "failed")
ACTIVE = ("queued", "running")
# A new submission of a config reuses a live run in one of these states; a cancelled,
# interrupted or failed run is trained again.
REUSABLE = ("queued", "running", "done", "diverged")
METRIC_COLUMNS = ("step", "wall_s", "train_loss", "test_loss", "test_acc")
EXPORT_FORMAT = "resnet-lab-run/1"
SCHEMA_VERSION = 2
ENV_DB_URL = "RESNET_LAB_DB_URL"  # postgresql://user:password@host:port/database: the store is that database
PG_SCHEMES = ("postgresql://", "postgres://")
PG_LOCK = 0x7265736E6574  # the advisory lock of the atomic writes ("resnet")
PG_IDLE = 4  # idle PostgreSQL connections a store keeps for the next call
LEASE_S = 60.0  # a running run or artifact whose worker has not written for this long is an orphan
HEARTBEAT_S = 5.0  # workers write at least this often (a long step may hold the GIL for a while: margin)
ARTIFACT_STATUSES = ("running", "done", "failed", "cancelled")

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
    heartbeat_at REAL,               -- the worker's last write (lease, see LEASE_S)
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
CREATE TABLE IF NOT EXISTS artifacts (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,              -- e.g. "signals_init", "landscape"
    key TEXT NOT NULL,               -- what exactly was computed (canonical JSON of its inputs)
    status TEXT NOT NULL,            -- running | done | failed | cancelled
    progress REAL NOT NULL DEFAULT 0,
    payload TEXT,                    -- JSON, once done
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER,
    heartbeat_at REAL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, kind, key)
);
"""


class StoreError(RuntimeError):
    """The run store cannot be opened or written (read-only dir, full disk, locked…)."""


@dataclass(frozen=True)
class Artifact:
    """A result computed from a run in a worker (``resnet.lab.tasks``), as the store holds it."""

    run_id: int
    kind: str
    key: str
    status: str  # ARTIFACT_STATUSES
    progress: float  # 0..1
    payload: dict[str, Any] | None  # once done
    error: str | None  # why it failed
    updated_at: float


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
        raise StoreError(f"the data folder (${ENV_HOME} or ~/.resnet_lab) cannot be created: {exc.strerror}") from exc


def database_url(path: str | Path | None = None) -> str | None:
    """The PostgreSQL database a store address means: ``path`` itself if it is a URL, else
    ``$RESNET_LAB_DB_URL`` for the default store (``path`` None or the default file), else None (SQLite)."""
    if isinstance(path, str) and path.startswith(PG_SCHEMES):
        return path
    url = os.environ.get(ENV_DB_URL) or None
    if url is None or (path is not None and Path(path).resolve() != store_path().resolve()):
        return None
    if not url.startswith(PG_SCHEMES):
        raise StoreError(f"${ENV_DB_URL} must start with postgresql://")
    return url


class RunStore:
    """The run store at ``path``: a SQLite file (default ``data_home()/runs.sqlite``) or a
    ``postgresql://`` URL; the default store is ``$RESNET_LAB_DB_URL``'s database when it is set.

    ``path`` stays the data folder's store file even on PostgreSQL: workers are handed it
    (or ``address``), and trained weights go next to it. ``clock``: the time of day, for
    every timestamp and lease (tests pass a fake one).
    """

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.url = database_url(path)
        self.path = store_path(None if self.url == path else path)  # a URL given: the data folder's file for the weights
        self.address = self.url or str(self.path)  # what another process opens the same store with
        self.clock = clock
        self._idle: list[Any] = []  # PostgreSQL connections for the next call
        self._idle_lock = threading.Lock()
        if self.url is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"run store folder {self.path.parent.name} cannot be created: {exc.strerror}") from exc
        with self._tx(immediate=True) as con:
            for statement in (_pg_schema() if self.url else SCHEMA).split(";"):  # executescript() would commit on its own
                if statement.strip():
                    con.execute(statement)
            version = self._version(con)
            if version < 1:
                _upgrade_configs(con)
            if version < 2 and not self.url and "heartbeat_at" not in {r["name"] for r in con.execute("PRAGMA table_info(runs)")}:
                con.execute("ALTER TABLE runs ADD COLUMN heartbeat_at REAL")
            if version < SCHEMA_VERSION:
                self._set_version(con, SCHEMA_VERSION)

    @property
    def name(self) -> str:
        """The store as a message may name it: the file's name, or the database and host (no password, no path)."""
        if self.url is None:
            return self.path.name
        parts = urlsplit(self.url)
        return f"PostgreSQL database {parts.path.lstrip('/') or '(default)'} on {parts.hostname or 'localhost'}"

    # -- plumbing -----------------------------------------------------------------

    def _version(self, con: Any) -> int:
        if self.url is None:
            return int(con.execute("PRAGMA user_version").fetchone()[0])
        row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        return int(row["value"]) if row else 0

    def _set_version(self, con: Any, version: int) -> None:
        if self.url is None:
            con.execute(f"PRAGMA user_version = {version}")
        else:
            con.execute("INSERT INTO store_meta (key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (version,))

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[Any]:
        """A connection in one transaction, committed on success; errors → StoreError.

        ``immediate``: no other atomic write of any process runs meanwhile (SQLite's write
        lock taken at BEGIN; PostgreSQL's advisory lock).
        """
        if self.url is not None:
            with self._pg_tx(immediate) as con:
                yield con
            return
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"run store {self.name} cannot be opened: {exc}") from exc
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
            raise StoreError(f"run store {self.name} failed ({exc}); is it writable?") from exc
        except BaseException:
            if con.in_transaction:
                con.rollback()
            raise
        finally:
            con.close()

    @contextmanager
    def _pg_tx(self, immediate: bool) -> Iterator[_PgConnection]:
        try:  # the optional extra (requirements-ray.txt), loaded only for a store on PostgreSQL
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise StoreError(f"run store {self.name} needs psycopg: pip install -r requirements-ray.txt") from exc

        with self._idle_lock:
            con = self._idle.pop() if self._idle else None
        try:
            if con is None or con.closed:
                con = psycopg.connect(self.url, row_factory=dict_row, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"run store {self.name} cannot be opened: {type(exc).__name__}") from exc
        done = False
        try:
            if immediate:
                con.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK,))
            yield _PgConnection(con)
            con.commit()
            done = True
        except psycopg.Error as exc:
            raise StoreError(f"run store {self.name} failed ({type(exc).__name__}: {str(exc).strip()[:200]})") from exc
        finally:
            if not done:
                try:
                    con.rollback()
                except psycopg.Error:  # the connection broke: not kept
                    con.close()
            with self._idle_lock:
                if not con.closed and len(self._idle) < PG_IDLE:
                    self._idle.append(con)
                    con = None
            if con is not None:
                con.close()

    def _insert(self, con: Any, config_json: str, label: str, source: str, status: str) -> int:
        now = self.clock()
        running = status == "running"
        row = con.execute(
            "INSERT INTO runs (config, label, source, status, created_at, started_at, worker_pid, heartbeat_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (config_json, label, source, status, now, now if running else None, os.getpid() if running else None,
             now if running else None),
        ).fetchone()
        return int(row["id"])

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
        """A run outside the queue (the CLI records one it trains itself; its metrics keep the lease)."""
        with self._tx() as con:
            return self._insert(con, config_key(config), config.label, source, status)

    # -- the worker's side ------------------------------------------------------------

    def claim_next(self, worker_pid: int) -> tuple[int, dict[str, Any]] | None:
        """Atomically take the oldest queued run: (run id, config dict), now running.

        Never twice: SQLite's write lock, or on PostgreSQL a row lock that other claimers skip.
        """
        with self._tx() as con:  # idle workers poll: look before taking the write lock
            if con.execute("SELECT 1 FROM runs WHERE status = 'queued' LIMIT 1").fetchone() is None:
                return None
        lock = " FOR UPDATE SKIP LOCKED" if self.url else ""
        with self._tx(immediate=not self.url) as con:
            row = con.execute(f"SELECT id, config FROM runs WHERE status = 'queued' ORDER BY id LIMIT 1{lock}").fetchone()
            if row is None:
                return None
            now = self.clock()
            con.execute(
                "UPDATE runs SET status = 'running', started_at = ?, heartbeat_at = ?, worker_pid = ? WHERE id = ?",
                (now, now, worker_pid, row["id"]),
            )
            return int(row["id"]), json.loads(row["config"])

    def add_metrics(self, run_id: int, rows: Iterable[StepMetrics]) -> None:
        """Append (or overwrite) per-step metrics; a write from the worker, so it renews the run's lease."""
        values = [(run_id, m.step, m.wall_s, *map(_no_nan, (m.train_loss, m.test_loss, m.test_acc))) for m in rows]
        if values:
            with self._tx() as con:
                con.executemany(
                    "INSERT INTO metrics (run_id, step, wall_s, train_loss, test_loss, test_acc) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, step) DO UPDATE SET wall_s = excluded.wall_s, train_loss = excluded.train_loss, "
                    "test_loss = excluded.test_loss, test_acc = excluded.test_acc",
                    values,
                )
                con.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", (self.clock(), run_id))

    def heartbeat(self, run_id: int) -> bool:
        """Renew a running run's lease; False when it is no longer running (cancelled, or interrupted as an orphan)."""
        with self._tx() as con:
            cur = con.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'", (self.clock(), run_id))
        return cur.rowcount > 0

    def finish_run(self, run_id: int, result: TrainResult) -> None:
        """Record the outcome of a training run (``resnet.lab.train.train``) that is still running.

        A run interrupted meanwhile as an orphan stays interrupted (it may have been queued anew).
        """
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET status = ?, stuck_at_chance = ?, result = ?, finished_at = ?, worker_pid = NULL "
                "WHERE id = ? AND status = 'running'",
                (result.status, int(result.stuck_at_chance), json.dumps(result.to_dict()), self.clock(), run_id),
            )

    def fail_run(self, run_id: int, error: str, status: str = "failed") -> None:
        """End a running run without a result: ``failed`` (an exception) or ``interrupted``."""
        with self._tx() as con:
            con.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ?, worker_pid = NULL WHERE id = ? AND status = 'running'",
                (status, error, self.clock(), run_id),
            )

    def cancel_requested(self, run_id: int) -> bool:
        with self._tx() as con:
            row = con.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def interrupt_orphans(self, dead_workers: Iterable[int] = ()) -> list[int]:
        """Mark orphaned running runs interrupted (curves kept); their ids.

        Orphans: runs whose lease expired (no write for ``LEASE_S``), and at once the runs
        held by ``dead_workers``, the PIDs of workers the caller saw die (their pool reaped
        them, so no other process can hold the PID yet). The pool calls it whenever
        one of its workers dies and every few seconds.
        """
        now = self.clock()
        dead = tuple(dead_workers)
        with self._tx(immediate=True) as con:
            rows = con.execute(
                "UPDATE runs SET status = 'interrupted', error = 'its worker process died', finished_at = ?, worker_pid = NULL "
                f"WHERE status = 'running' AND (COALESCE(heartbeat_at, started_at, created_at) < ? OR worker_pid IN ({_marks(dead)})) "
                "RETURNING id",
                (now, now - LEASE_S, *dead),
            ).fetchall()
        return sorted(int(r["id"]) for r in rows)

    # -- the page's side --------------------------------------------------------------

    def request_cancel(self, run_id: int) -> str:
        """Cancel a run: a queued one or an orphan (lease expired) at once, a running one at its next step; new status."""
        now = self.clock()
        with self._tx(immediate=True) as con:
            row = con.execute(
                "SELECT status, COALESCE(heartbeat_at, started_at, created_at) AS seen FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id}")
            orphan = row["status"] == "running" and row["seen"] < now - LEASE_S
            if row["status"] == "queued" or orphan:
                cur = con.execute(
                    "UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished_at = ?, worker_pid = NULL, error = ? "
                    "WHERE id = ? AND status = ?",  # on PostgreSQL a worker may have claimed it meanwhile
                    (now, "its worker process had died" if orphan else None, run_id, row["status"]),
                )
                if cur.rowcount:
                    return "cancelled"
                row = con.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
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
            ahead = con.execute("SELECT COUNT(*) AS n FROM runs WHERE status = 'queued' AND id < ?", (run_id,)).fetchone()["n"]
        return int(ahead) + 1

    def metrics(self, run_id: int, since_step: int = 0) -> dict[str, list]:
        """Columns ``METRIC_COLUMNS`` for steps > ``since_step`` (poll with the last step seen)."""
        with self._tx() as con:
            rows = con.execute(
                f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id = ? AND step > ? ORDER BY step",
                (run_id, since_step),
            ).fetchall()
        return {c: [r[c] for r in rows] for c in METRIC_COLUMNS}

    # -- artifacts: results computed from a run in a worker (resnet.lab.tasks) ------------

    def artifact(self, run_id: int, kind: str, key: str) -> Artifact | None:
        """The stored artifact (any status), or None."""
        with self._tx() as con:
            row = con.execute("SELECT * FROM artifacts WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)).fetchone()
        if row is None:
            return None
        return Artifact(
            run_id=int(row["run_id"]), kind=row["kind"], key=row["key"], status=row["status"], progress=float(row["progress"]),
            payload=json.loads(row["payload"]) if row["payload"] else None, error=row["error"], updated_at=row["updated_at"],
        )

    def begin_artifact(self, run_id: int, kind: str, key: str, worker_pid: int) -> bool:
        """Take the computation of an artifact: True if the caller should compute it now.

        False when it is done, or running with a live lease; otherwise (absent, failed,
        cancelled, or an orphan) it is (re)written as running with progress 0, atomically,
        so two servers never both compute it.
        """
        now = self.clock()
        with self._tx(immediate=True) as con:
            row = con.execute(
                "SELECT status, heartbeat_at FROM artifacts WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
            ).fetchone()
            if row is not None and (row["status"] == "done" or (row["status"] == "running" and row["heartbeat_at"] >= now - LEASE_S)):
                return False
            con.execute(
                "INSERT INTO artifacts (run_id, kind, key, status, progress, payload, error, cancel_requested, worker_pid, "
                "heartbeat_at, updated_at) VALUES (?, ?, ?, 'running', 0, NULL, NULL, 0, ?, ?, ?) "
                "ON CONFLICT (run_id, kind, key) DO UPDATE SET status = 'running', progress = 0, payload = NULL, error = NULL, "
                "cancel_requested = 0, worker_pid = excluded.worker_pid, heartbeat_at = excluded.heartbeat_at, "
                "updated_at = excluded.updated_at",
                (run_id, kind, key, worker_pid, now, now),
            )
        return True

    def artifact_progress(self, run_id: int, kind: str, key: str, progress: float, *, worker_pid: int | None = None) -> None:
        """Record a running artifact's progress (0..1) and renew its lease; ``worker_pid``: the process now computing it."""
        now = self.clock()
        with self._tx() as con:
            con.execute(
                "UPDATE artifacts SET progress = ?, heartbeat_at = ?, updated_at = ?, worker_pid = COALESCE(?, worker_pid) "
                "WHERE run_id = ? AND kind = ? AND key = ? AND status = 'running'",
                (min(1.0, max(0.0, float(progress))), now, now, worker_pid, run_id, kind, key),
            )

    def finish_artifact(self, run_id: int, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Store a running artifact's result (JSON-able; ``TypeError`` if it is not)."""
        text = json.dumps(payload)
        with self._tx() as con:
            con.execute(
                "UPDATE artifacts SET status = 'done', progress = 1, payload = ?, error = NULL, worker_pid = NULL, updated_at = ? "
                "WHERE run_id = ? AND kind = ? AND key = ? AND status = 'running'",
                (text, self.clock(), run_id, kind, key),
            )

    def fail_artifact(self, run_id: int, kind: str, key: str, error: str, status: str = "failed") -> None:
        """End a running artifact without a result: ``failed`` (with why) or ``cancelled``."""
        if status not in ("failed", "cancelled"):
            raise ValueError(f"an artifact ends failed or cancelled, not {status!r}")
        with self._tx() as con:
            con.execute(
                "UPDATE artifacts SET status = ?, error = ?, worker_pid = NULL, updated_at = ? "
                "WHERE run_id = ? AND kind = ? AND key = ? AND status = 'running'",
                (status, error, self.clock(), run_id, kind, key),
            )

    def request_artifact_cancel(self, run_id: int, kind: str, key: str) -> str | None:
        """Ask a running artifact's worker to stop (an orphan is cancelled at once); its status then, None if absent."""
        now = self.clock()
        with self._tx(immediate=True) as con:
            row = con.execute(
                "SELECT status, heartbeat_at FROM artifacts WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
            ).fetchone()
            if row is None or row["status"] != "running":
                return None if row is None else str(row["status"])
            if row["heartbeat_at"] < now - LEASE_S:
                con.execute(
                    "UPDATE artifacts SET status = 'cancelled', cancel_requested = 1, worker_pid = NULL, updated_at = ? "
                    "WHERE run_id = ? AND kind = ? AND key = ?",
                    (now, run_id, kind, key),
                )
                return "cancelled"
            con.execute(
                "UPDATE artifacts SET cancel_requested = 1 WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
            )
            return "running"

    def artifact_cancel_requested(self, run_id: int, kind: str, key: str) -> bool:
        """Whether the artifact's computation should stop (cancel requested, or it is no longer running)."""
        with self._tx() as con:
            row = con.execute(
                "SELECT status, cancel_requested FROM artifacts WHERE run_id = ? AND kind = ? AND key = ?", (run_id, kind, key)
            ).fetchone()
        return row is None or bool(row["cancel_requested"]) or row["status"] != "running"

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
                [(run_id, *map(_no_nan, values)) for values in zip(*(metrics[c] for c in METRIC_COLUMNS))],
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


def _upgrade_configs(con: Any) -> None:
    """Schema 0 → 1: spell out ``downsample`` in every stored config (option B before it existed)."""
    for row in con.execute("SELECT id, config FROM runs").fetchall():
        try:
            config = upgrade_stored(json.loads(row["config"]))
            label = TrainConfig.from_dict(config).label
        except ValueError:  # a ConfigError, or not JSON
            continue  # not a configuration this version can train: left as it was, it matches nothing
        con.execute("UPDATE runs SET config = ?, label = ? WHERE id = ?", (config_key(config), label, row["id"]))


def _marks(values: tuple) -> str:
    """Placeholders for ``IN (…)``; NULL for none (matches nothing; PostgreSQL refuses an empty list)."""
    return ", ".join("?" * len(values)) or "NULL"


def _no_nan(value: float | None) -> float | None:
    """NaN stored as NULL, as SQLite does by itself (PostgreSQL would keep the NaN)."""
    return None if value is not None and math.isnan(value) else value


def _pg_schema() -> str:
    """``SCHEMA`` for PostgreSQL: its own id sequence, 8-byte floats (REAL is 4 there), and the schema version."""
    return (SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "SERIAL PRIMARY KEY").replace(" REAL", " DOUBLE PRECISION")
            + "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);\n")


class _PgConnection:
    """A psycopg connection that takes the SQL written for SQLite (``?`` placeholders)."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Any:
        return self.con.execute(sql.replace("?", "%s"), tuple(args))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> Any:
        cur = self.con.cursor()
        cur.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])
        return cur
