"""Veit et al.'s lesion study of a weights file, measured live in a task process: client and target.

    artifact = start(store.address, path)     # as stored in the run store, or started now
    artifact = read(store.address, path)      # None: never asked for on this store
    cancel(store.address, path); restart(store.address, path)

A study belongs to the file's bytes (its SHA-256), not to a run: scope ``GLOBAL_RUN``, so
every page, tab and server sharing the store sees one measurement. The payload is
``LesionStudy.to_dict()`` (``resnet.inference.lesion_record``). The shipped models' studies
also ship precomputed (``resnet.lab.stored_lesions``); this is "measured live on this server".
The target runs in a task process only: it loads the file and measures it on compiled
programs (``resnet.lab.lesion``), importing Paddle there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store import Artifact
from ..stored_lesions import file_digest
from . import GLOBAL_RUN, Analysis, Progress, ShouldStop

LESION = Analysis("lesion", "resnet.lab.analyses.lesion:lesion_task")


def study_key(path: Path) -> str:
    """The artifact key of ``path``'s study: its bytes' SHA-256 (the same weights on any server, any path)."""
    return f"sha256:{file_digest(path)}"


def start(address: str | Path, path: Path) -> Artifact:
    """``path``'s study: as stored (done, running, failed or cancelled), else started now."""
    return LESION.start(address, GLOBAL_RUN, study_key(path), {"weights": str(path)})


def restart(address: str | Path, path: Path) -> Artifact:
    """Measure ``path`` again, even when it was measured."""
    return LESION.restart(address, GLOBAL_RUN, study_key(path), {"weights": str(path)})


def read(address: str | Path, path: Path) -> Artifact | None:
    """``path``'s study as the store holds it, or None; starts nothing."""
    return LESION.read(address, GLOBAL_RUN, study_key(path))


def cancel(address: str | Path, path: Path) -> str | None:
    return LESION.cancel(address, GLOBAL_RUN, study_key(path))


def lesion_task(progress: Progress, should_stop: ShouldStop, *, weights: str) -> dict[str, Any]:
    """Task target: the study of a lab-trained weights file on the held-out split its run was measured on."""
    from ..shipped import measure_file  # Paddle: only in the task process

    study = measure_file(Path(weights), progress, should_stop)
    return {} if study is None else study.to_dict()
