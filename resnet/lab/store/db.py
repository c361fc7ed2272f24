"""The store's database: its address, connections and transactions (SQLite or PostgreSQL), schema and migrations.

An address is a SQLite file's path or a ``postgresql://`` URL (``store_address``); the
default store is ``$RESNET_LAB_DB_URL``'s database when it is set, else the data folder's
``runs.sqlite``. Several processes use a store at once (the app, the training workers,
the CLI), so every call opens its own short-lived SQLite connection (safe from any
thread) in WAL mode, and the writes that must be atomic (dedup on submit, claiming a
queued run, starting an artifact) run in ``BEGIN IMMEDIATE`` transactions.

PostgreSQL, for app replicas on several machines sharing one store: same schema (its
REAL columns as DOUBLE PRECISION), same semantics: those atomic writes take one
transaction-scoped advisory lock, the stand-in for SQLite's single writer; connections
are reused from a small pool. The SQL is written once, for SQLite (``?`` placeholders).

Schema versions (``PRAGMA user_version``): 1 spells out every config's ``downsample``;
rows of a version-0 file were trained before the setting existed, with option B
(``resnet.lab.config.upgrade_stored``), and are rewritten so, labels included, on open.
2 adds the runs' ``heartbeat_at`` (a version-1 file gets the column on open; its running
runs have no heartbeat yet and count from their start) and the ``artifacts`` table.
3 lets an artifact belong to no run: ``run_id`` ``GLOBAL_RUN`` (0, never a run's id) holds the
analyses of no run (the home page's measurements at initialisation, the shipped models'
lesion studies), so the column is no foreign key any more; a deleted run's artifacts still
go with it (a trigger; a rule on PostgreSQL).
4 adds the runs' ``owner`` (the browser session that queued a run: a student may cancel only
their own, see ``pages/common/roles.py``; NULL for runs of the CLI, the reference runs and
older files) and a class's tables: ``classes`` (follow the teacher), ``predictions`` and
their ``answers`` (predict, then see).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from ...paths import ENV_HOME, run_store_file
from ..config import TrainConfig, config_key, upgrade_stored

SCHEMA_VERSION = 4
GLOBAL_RUN = 0  # the artifacts' run_id of an analysis that belongs to no run (ids start at 1)
ENV_DB_URL = "RESNET_LAB_DB_URL"  # postgresql://user:password@host:port/database: the default store is that database
PG_SCHEMES = ("postgresql://", "postgres://")
PG_LOCK = 0x7265736E6574  # the advisory lock of the atomic writes ("resnet")
PG_IDLE = 4  # idle PostgreSQL connections a store keeps for the next call

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
    error TEXT,
    owner TEXT                       -- the queuing browser session's token hash (schema 4), NULL: none
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
    run_id INTEGER NOT NULL,         -- a run's id, or GLOBAL_RUN (0): no foreign key (schema 3)
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
CREATE TABLE IF NOT EXISTS classes (
    code TEXT PRIMARY KEY,           -- the class code of the join link (secrets.token_urlsafe: 96 bits)
    teacher TEXT NOT NULL,           -- the leading browser session's token hash
    page TEXT NOT NULL,              -- the teacher's page, as its script file ("app.py", "pages/lab.py")
    query TEXT NOT NULL,             -- the teacher's settings: the query string a share link carries
    version INTEGER NOT NULL,        -- one more on each change of page or settings
    created_at REAL NOT NULL,
    seen_at REAL NOT NULL,           -- the teacher's last sign of life: 30 minutes without one end the class
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class_code TEXT NOT NULL REFERENCES classes (code) ON DELETE CASCADE,
    question TEXT NOT NULL,          -- a question's id (resnet.lab.predictions)
    status TEXT NOT NULL,            -- open | revealed | closed
    opened_at REAL NOT NULL,
    revealed_at REAL
);
CREATE TABLE IF NOT EXISTS answers (
    prediction_id INTEGER NOT NULL REFERENCES predictions (id) ON DELETE CASCADE,
    session TEXT NOT NULL,           -- the answering browser session's token hash: one answer each, no name
    choice INTEGER NOT NULL,
    PRIMARY KEY (prediction_id, session)
);
"""


class StoreError(RuntimeError):
    """The run store cannot be opened or written (read-only dir, full disk, locked…)."""


def store_address(address: str | Path | None = None) -> str:
    """A store's address in its one spelling: a ``postgresql://`` URL, or a SQLite file's absolute path.

    None means the default store: ``$RESNET_LAB_DB_URL`` when it is set, else ``data_home()/runs.sqlite``.
    """
    if address is None:
        url = os.environ.get(ENV_DB_URL)
        if url:
            if not url.startswith(PG_SCHEMES):
                raise StoreError(f"${ENV_DB_URL} must start with postgresql://")
            return url
        try:
            return str(run_store_file())
        except OSError as exc:
            raise StoreError(f"the data folder (${ENV_HOME} or ~/.resnet_lab) cannot be created: {exc.strerror}") from exc
    text = str(address)
    return text if text.startswith(PG_SCHEMES) else str(Path(text).expanduser().resolve())


class Database:
    """The store's connections: ``_tx`` hands out one transaction at a time; the schema is made or upgraded on open.

    ``clock``: the time of day, for every timestamp and lease (tests pass a fake one).
    """

    def __init__(self, address: str | Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.address = store_address(address)  # what another process opens the same store with
        self.clock = clock
        self._pg = self.address.startswith(PG_SCHEMES)
        self._idle: list[Any] = []  # PostgreSQL connections for the next call
        self._idle_lock = threading.Lock()
        if not self._pg:
            folder = Path(self.address).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"run store folder {folder.name} cannot be created: {exc.strerror}") from exc
        with self._tx(immediate=True) as con:
            for statement in (_pg_schema() if self._pg else SCHEMA).split(";"):  # executescript() would commit on its own
                if statement.strip():
                    con.execute(statement)
            version = self._version(con)
            if version < 1:
                _upgrade_configs(con)
            if version < 2 and not self._pg and "heartbeat_at" not in {r["name"] for r in con.execute("PRAGMA table_info(runs)")}:
                con.execute("ALTER TABLE runs ADD COLUMN heartbeat_at REAL")
            if version < 3:
                _unlink_artifacts(con, self._pg)
            if version < 4:
                _add_owner(con, self._pg)
            if version < SCHEMA_VERSION:
                self._set_version(con, SCHEMA_VERSION)

    @property
    def name(self) -> str:
        """The store as a message may name it: the file's name, or the database and host (no password, no path)."""
        if not self._pg:
            return Path(self.address).name
        parts = urlsplit(self.address)
        return f"PostgreSQL database {parts.path.lstrip('/') or '(default)'} on {parts.hostname or 'localhost'}"

    def _version(self, con: Any) -> int:
        if not self._pg:
            return int(con.execute("PRAGMA user_version").fetchone()[0])
        row = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
        return int(row["value"]) if row else 0

    def _set_version(self, con: Any, version: int) -> None:
        if not self._pg:
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
        if self._pg:
            with self._pg_tx(immediate) as con:
                yield con
            return
        try:
            con = sqlite3.connect(self.address, timeout=30, isolation_level=None)
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
                con = psycopg.connect(self.address, row_factory=dict_row, connect_timeout=10)
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


def placeholders(values: tuple) -> str:
    """Placeholders for ``IN (…)``; NULL for none (matches nothing; PostgreSQL refuses an empty list)."""
    return ", ".join("?" * len(values)) or "NULL"


def no_nan(value: float | None) -> float | None:
    """NaN stored as NULL, as SQLite does by itself (PostgreSQL would keep the NaN)."""
    return None if value is not None and math.isnan(value) else value


def _upgrade_configs(con: Any) -> None:
    """Schema 0 → 1: spell out ``downsample`` in every stored config (option B before it existed)."""
    for row in con.execute("SELECT id, config FROM runs").fetchall():
        try:
            config = upgrade_stored(json.loads(row["config"]))
            label = TrainConfig.from_dict(config).label
        except ValueError:  # a ConfigError, or not JSON
            continue  # not a configuration this version can train: left as it was, it matches nothing
        con.execute("UPDATE runs SET config = ?, label = ? WHERE id = ?", (config_key(config), label, row["id"]))


def _unlink_artifacts(con: Any, pg: bool) -> None:
    """Schema 2 → 3: ``artifacts.run_id`` without its foreign key (GLOBAL_RUN), a deleted run's artifacts deleted with it."""
    if pg:
        con.execute("ALTER TABLE artifacts DROP CONSTRAINT IF EXISTS artifacts_run_id_fkey")
        con.execute("CREATE OR REPLACE RULE artifacts_go_with_their_run AS ON DELETE TO runs "
                    "DO ALSO DELETE FROM artifacts WHERE run_id = OLD.id")
        return
    if con.execute("PRAGMA foreign_key_list(artifacts)").fetchall():  # SQLite drops a constraint by copying the table
        create = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS artifacts"):].split(";")[0]
        con.execute(create.replace("IF NOT EXISTS artifacts", "artifacts_3"))
        con.execute("INSERT INTO artifacts_3 SELECT * FROM artifacts")
        con.execute("DROP TABLE artifacts")
        con.execute("ALTER TABLE artifacts_3 RENAME TO artifacts")
    con.execute("CREATE TRIGGER IF NOT EXISTS artifacts_go_with_their_run AFTER DELETE ON runs "
                "BEGIN DELETE FROM artifacts WHERE run_id = OLD.id; END")


def _add_owner(con: Any, pg: bool) -> None:
    """Schema 3 → 4: the runs' ``owner`` column (the class tables come with ``SCHEMA``)."""
    if pg:
        con.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner TEXT")
    elif "owner" not in {r["name"] for r in con.execute("PRAGMA table_info(runs)")}:
        con.execute("ALTER TABLE runs ADD COLUMN owner TEXT")


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
