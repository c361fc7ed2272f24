"""Where ResNet Lab keeps its files: ``$RESNET_LAB_HOME`` or ``~/.resnet_lab``."""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "RESNET_LAB_HOME"
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
