"""Where ResNet Lab keeps its files: ``$RESNET_LAB_HOME`` or ``~/.resnet_lab``."""

from __future__ import annotations

import os
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
