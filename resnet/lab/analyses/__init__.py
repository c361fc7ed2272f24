"""The analyses the pages show, computed in task processes (``resnet.lab.tasks``): one family, one client shape.

An analysis is a kind of artifact in the run store and the task target that computes it.
The server only starts it, reads its progress or result, and cancels it; nothing here
imports Paddle:

    artifact = LESION.start(store.address, GLOBAL_RUN, key, {"weights": path})   # as stored, or started now
    artifact = LESION.read(store.address, GLOBAL_RUN, key)                       # None: never asked for
    LESION.cancel(store.address, GLOBAL_RUN, key)
    artifact.status, artifact.progress, artifact.payload   # running 0.4 → done {…} | failed (error) | cancelled

The scope is the run an analysis belongs to (its id), or ``GLOBAL_RUN`` for one of no run.
A target is ``f(progress, should_stop, **kwargs) -> dict`` (``Progress``, ``ShouldStop``).

The family:

- ``resnet.lab.analyses.lesion``: Veit et al.'s lesion study of a weights file (client and
  target here; the compiled program that measures it in ``resnet.lab.lesion``);
- ``resnet.lab.analyses.at_init``: the home page's per-block signal and gradient of fresh
  nets (client and target here; the measurement in ``resnet.inference.diagnostics``);
- ``resnet.lab.analyses.gradient_split``: the home page's gradient split by path, per block, at
  initialisation and of the shipped trained nets (client and target here; the measurement in
  ``resnet.inference.gradient_split``);
- ``resnet.lab.analyses.signals``: the lab page's per-block diagnostics of its runs
  (targets in ``resnet.lab.measure``);
- ``resnet.lab.surfaces``: the lab page's loss landscapes of its runs (targets in
  ``resnet.lab.landscape``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import tasks
from ..store import Artifact
from ..store.db import GLOBAL_RUN
from ..tasks import Progress, ShouldStop

__all__ = ["Analysis", "GLOBAL_RUN", "Progress", "ShouldStop"]


@dataclass(frozen=True)
class Analysis:
    """One kind of result: its artifacts' ``kind`` in the store and the ``target`` (``"module:function"``) computing it."""

    kind: str
    target: str

    def start(self, address: str | Path, scope: int, key: str, kwargs: dict[str, Any], *, retry_failed: bool = False) -> Artifact:
        """The artifact as stored when done, being computed or (``retry_failed`` False) failed; else started now.

        ``address``: the store's (``RunStore.address``); ``key``: what exactly is computed.
        """
        return tasks.start_task(address, scope, self.kind, key, self.target, kwargs, retry_failed=retry_failed)

    def restart(self, address: str | Path, scope: int, key: str, kwargs: dict[str, Any]) -> Artifact:
        """Compute it again, even when done (a running one goes on)."""
        tasks.forget_task(address, scope, self.kind, key)
        return self.start(address, scope, key, kwargs)

    def read(self, address: str | Path, scope: int, key: str) -> Artifact | None:
        """The artifact as stored, or None; starts nothing."""
        return tasks.read_task(address, scope, self.kind, key)

    def cancel(self, address: str | Path, scope: int, key: str) -> str | None:
        """Stop it: at once if it waits in line, else at its next check; its status then."""
        return tasks.cancel_task(address, scope, self.kind, key)
