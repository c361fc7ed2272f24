"""The run store: runs, their configurations, status and metrics, and the artifacts computed from them.

One class, ``RunStore``, made of one part per job:

    db.py         the address, connections (SQLite or PostgreSQL), schema and migrations
    runs.py       runs: the queue, claims, leases, metrics, cancel, what the page reads
    artifacts.py  results computed from a run in a worker (``resnet.lab.tasks``)
    export.py     the run export format (reference runs) and CSV
    classes.py    classes: a teacher's view that students follow
    predictions.py  a class's predictions and their anonymous answers

    store = RunStore()                 # $RESNET_LAB_DB_URL's database, else data_home()/runs.sqlite
    store = RunStore(store.address)    # the same store, in another process (a worker, a task)

Nothing here imports Paddle.
"""

from __future__ import annotations

from functools import lru_cache

from .artifacts import ARTIFACT_STATUSES, Artifact, Artifacts
from .classes import ClassView, Classes
from .db import ENV_DB_URL, StoreError, store_address
from .export import EXPORT_FORMAT, Export
from .predictions import Predictions
from .runs import ACTIVE, HEARTBEAT_S, LEASE_S, METRIC_COLUMNS, REUSABLE, STATUSES, RunInfo

__all__ = [
    "ACTIVE", "ARTIFACT_STATUSES", "ENV_DB_URL", "EXPORT_FORMAT", "HEARTBEAT_S", "LEASE_S", "METRIC_COLUMNS",
    "REUSABLE", "STATUSES", "Artifact", "ClassView", "RunInfo", "RunStore", "StoreError", "opened_store", "store_address",
]


class RunStore(Export, Artifacts, Classes, Predictions):
    """The run store at ``address``: a SQLite file or a ``postgresql://`` URL (None: the default store).

    ``address`` (a str) is what any other process opens the same store with: the
    workers and task processes are handed it. ``clock``: the time of day, for every
    timestamp and lease (tests pass a fake one).
    """


@lru_cache(maxsize=8)
def opened_store(address: str) -> RunStore:
    """The store at ``address``, opened once per process (the schema check on open is not repeated on every
    call): for code that is handed an address and reads or writes often (task processes, the class's looks).
    A store that cannot be opened raises and is not kept."""
    return RunStore(address)
