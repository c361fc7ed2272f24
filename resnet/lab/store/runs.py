"""Runs: the queue, claims, leases, metrics, and what the page reads.

Run statuses: queued → running → done | diverged (loss became NaN/inf) | cancelled |
failed (an exception) | interrupted (its worker died; the partial curve is kept).
``stuck_at_chance`` flags the "blew up, then sat at ln C" pattern (λ = 2).
Configurations arrive as ``resnet.lab.config`` objects (a ``TrainConfig`` is valid by
construction, so nothing is checked again here), are stored as their ``config_key``
(also the dedup key) and leave as plain dicts.

Claims: a worker takes the oldest queued run atomically, never twice (SQLite's write lock;
on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED``).

Orphans: a running run holds a lease. Its worker writes ``heartbeat_at`` with every batch
of metrics and at least every ``HEARTBEAT_S`` (``heartbeat``); a run whose worker has not
written for ``LEASE_S`` is an orphan (its worker died, or the whole server did), and
``interrupt_orphans`` marks it interrupted, as it does at once for the runs of a worker its
pool saw die. No process id is tested: after a restart a reused PID cannot keep a run
alive. Cancelling an orphan ends it at once.

Owners: a run queued from the page keeps the browser session that queued it (``owner``, a
hash of its token: ``pages/common/roles.py``); a request to cancel may name an owner, and
then only that owner's runs are cancelled (a student's), in the same transaction as the
cancel itself, so no page can skip the check.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterable

from ..config import StepMetrics, TrainConfig, TrainResult, config_key
from .db import Database, no_nan, placeholders

STATUSES = ("queued", "running", "done", "cancelled", "interrupted", "diverged", "failed")
ACTIVE = ("queued", "running")
# A new submission of a config reuses a live run in one of these states; a cancelled,
# interrupted or failed run is trained again.
REUSABLE = ("queued", "running", "done", "diverged")
METRIC_COLUMNS = ("step", "wall_s", "train_loss", "test_loss", "test_acc")
LEASE_S = 60.0  # a running run or artifact whose worker has not written for this long is an orphan
HEARTBEAT_S = 5.0  # workers write at least this often (a long step may hold the GIL for a while: margin)


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
    owner: str | None = None  # the browser session that queued it (its token's hash); None: the CLI, a reference run

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


class NotYourRun(PermissionError):
    """A cancel that named an owner, of a run someone else queued: nothing was changed."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id} was queued by another session")
        self.run_id = run_id


class Runs(Database):
    """The runs of a store: creating, claiming, reporting, cancelling and reading them."""

    def _insert(self, con: Any, config_json: str, label: str, source: str, status: str, owner: str | None = None) -> int:
        now = self.clock()
        running = status == "running"
        row = con.execute(
            "INSERT INTO runs (config, label, source, status, created_at, started_at, worker_pid, heartbeat_at, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (config_json, label, source, status, now, now if running else None, os.getpid() if running else None,
             now if running else None, owner),
        ).fetchone()
        return int(row["id"])

    # -- creating runs -------------------------------------------------------------

    def enqueue(self, config: TrainConfig, owner: str | None = None) -> tuple[int, bool]:
        """Queue a live run for ``owner`` (a browser session's hash); (run id, created). An identical live
        config is reused, and keeps its owner."""
        config_json = config_key(config)
        with self._tx(immediate=True) as con:  # check-then-insert must not interleave
            row = con.execute(
                f"SELECT id FROM runs WHERE config = ? AND source = 'live' AND status IN ({placeholders(REUSABLE)}) "
                "ORDER BY id DESC LIMIT 1",
                (config_json, *REUSABLE),
            ).fetchone()
            if row is not None:
                return int(row["id"]), False
            return self._insert(con, config_json, config.label, "live", "queued", owner), True

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
        lock = " FOR UPDATE SKIP LOCKED" if self._pg else ""
        with self._tx(immediate=not self._pg) as con:
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
        values = [(run_id, m.step, m.wall_s, *map(no_nan, (m.train_loss, m.test_loss, m.test_acc))) for m in rows]
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
                f"WHERE status = 'running' AND (COALESCE(heartbeat_at, started_at, created_at) < ? OR worker_pid IN ({placeholders(dead)})) "
                "RETURNING id",
                (now, now - LEASE_S, *dead),
            ).fetchall()
        return sorted(int(r["id"]) for r in rows)

    # -- the page's side --------------------------------------------------------------

    def request_cancel(self, run_id: int, owner: str | None = None) -> str:
        """Cancel a run: a queued one or an orphan (lease expired) at once, a running one at its next step; new status.

        ``owner``: only if that session queued it, else ``NotYourRun`` (None: any run's, the teacher's right).
        """
        now = self.clock()
        with self._tx(immediate=True) as con:
            row = con.execute(
                "SELECT status, owner, COALESCE(heartbeat_at, started_at, created_at) AS seen FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no run {run_id}")
            if owner is not None and row["owner"] != owner:
                raise NotYourRun(run_id)
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
                owner=r["owner"],
            )
            for r in rows
        ]

    def queued_by(self, owner: str) -> list[int]:
        """The runs ``owner`` has in the queue (waiting or training), oldest first."""
        with self._tx() as con:
            rows = con.execute(
                f"SELECT id FROM runs WHERE owner = ? AND status IN ({placeholders(ACTIVE)}) ORDER BY id", (owner, *ACTIVE)
            ).fetchall()
        return [int(r["id"]) for r in rows]

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
