"""Artifacts: results the page computes from a run in a worker process (``resnet.lab.tasks``).

Per-block diagnostics, loss landscapes…, keyed by (run, kind, key), with status
running → done | failed | cancelled, a progress fraction and a JSON payload. A running
artifact holds a lease like a running run (``LEASE_S``); ``begin_artifact`` takes over
one whose lease expired, atomically, so two servers never both compute it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .db import Database
from .runs import LEASE_S

ARTIFACT_STATUSES = ("running", "done", "failed", "cancelled")


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


class Artifacts(Database):
    """The artifacts of a store's runs."""

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

    def release_artifact(self, run_id: int, kind: str, key: str) -> None:
        """End a running artifact's lease now: its computation stopped without an outcome (its server left),
        so the next request computes it anew instead of waiting LEASE_S for an orphan."""
        with self._tx() as con:
            con.execute(
                "UPDATE artifacts SET heartbeat_at = 0, updated_at = 0, worker_pid = NULL "
                "WHERE run_id = ? AND kind = ? AND key = ? AND status = 'running'",
                (run_id, kind, key),
            )

    def forget_artifact(self, run_id: int, kind: str, key: str) -> None:
        """Delete a finished artifact (done, failed or cancelled): the next ``begin_artifact`` computes it again.

        A running one stays: it is being computed (cancel it first).
        """
        with self._tx() as con:
            con.execute("DELETE FROM artifacts WHERE run_id = ? AND kind = ? AND key = ? AND status <> 'running'",
                        (run_id, kind, key))

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
