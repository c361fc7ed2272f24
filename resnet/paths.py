"""Where ResNet Lab keeps its files: ``$RESNET_LAB_HOME`` or ``~/.resnet_lab``."""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_HOME = "RESNET_LAB_HOME"
ENV_WEIGHTS_DIR = "RESNET_LAB_WEIGHTS_DIR"  # the operator's folder of *.safetensors weights
WEIGHTS_SUBDIR = "weights"  # data_home()/weights: the official ImageNet weights, downloaded
PROGRAM_SUBDIR = "programs"  # data_home()/programs: the fast path's exported programs
REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = REPO_ROOT / "assets"


def data_home() -> Path:
    """The data dir (run store, exported programs, downloaded weights); created on demand."""
    home = Path(os.environ.get(ENV_HOME) or Path.home() / ".resnet_lab").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def operator_dir(env_var: str) -> Path | None:
    """A folder the operator names in ``env_var`` (weights, data sets), or None if unset."""
    value = os.environ.get(env_var)
    return Path(value).expanduser() if value else None


# The training lab's files.
ENV_DATA_DIR = "RESNET_LAB_DATA_DIR"  # the operator's folder of image data sets (one subfolder each)
RUN_STORE_FILE = "runs.sqlite"  # data_home()/runs.sqlite: the lab's run store
TRAINED_SUBDIR = "trained"  # next to the run store: finished runs' final weights (data_home()/trained)


def run_store_file() -> Path:
    """The default run store's file, ``data_home()/runs.sqlite`` (unless ``$RESNET_LAB_DB_URL`` names a database)."""
    return data_home() / RUN_STORE_FILE


def trained_dir(store_address: str | Path | None = None) -> Path:
    """Where finished runs' weights go: next to a SQLite store's file; for the default store or a
    database (a ``…://`` URL), ``data_home()/trained``, where the Feature maps page lists them."""
    if store_address is None or "://" in str(store_address):
        return data_home() / TRAINED_SUBDIR
    return Path(store_address).parent / TRAINED_SUBDIR


def trained_weights_path(store_address: str | Path | None, run_id: int, label: str) -> Path:
    """A finished run's weights file: ``<trained_dir>/run<id>_<label>.safetensors`` (λ spelled ``lambda``)."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", label.replace("λ=", "lambda")).strip("_")
    return trained_dir(store_address) / f"run{run_id}_{slug}.safetensors"
