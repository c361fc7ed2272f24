"""The lesion studies stored with the shipped models, read without Paddle (the Why page quotes them).

``python -m resnet.lab shipped --lesion-only`` (``resnet.lab.shipped.write_lesion_studies``)
measures every shipped model and writes ``MODELS_DIR / LESION_FILE``: per model key, the
SHA-256 of the weights file it was measured on and ``LesionStudy.to_dict()`` (per-image
outcomes included). A study of weights that changed since is not used.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from ..inference.lesion_record import LesionStudy
from ..paths import ASSETS

MODELS_DIR = ASSETS / "models"  # the shipped models (resnet.lab.shipped) and their stored studies
LESION_FILE = "lesion_studies.json"
LESION_FORMAT = "resnet-lab-lesion/2"  # 2: with per-image outcomes (the paired interval of every deletion)


def file_digest(path: Path) -> str:
    """SHA-256 of a file as it is now: which weights a lesion study was measured on.

    Read again when the file changes: a rewrite (atomic, so a new inode), new bytes, or a
    new modification time; the file system's clock may not tick between two quick writes.
    """
    stat = Path(path).stat()
    return _digest(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _digest(path: str, inode: int, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stored_lesion_studies(folder: Path = MODELS_DIR) -> dict[str, LesionStudy]:
    """The studies stored in ``folder / LESION_FILE`` (by model key, in the file's order) whose weights file
    ``<key>.safetensors`` is still the one they were measured on.

    A missing or unreadable file gives {}; a study of weights changed since, or in an older format, is left out.
    """
    try:
        document = json.loads((folder / LESION_FILE).read_text(encoding="utf-8"))
        entries = document["studies"] if document.get("format") == LESION_FORMAT else {}
        keys = list(entries)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    studies = {}
    for key in keys:
        entry, weights = entries[key], folder / f"{key}.safetensors"
        try:
            if isinstance(entry, Mapping) and weights.is_file() and entry.get("sha256") == file_digest(weights):
                studies[key] = LesionStudy.from_dict(entry["study"])
        except (KeyError, TypeError, ValueError, OSError):
            continue
    return studies
