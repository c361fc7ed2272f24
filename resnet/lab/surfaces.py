"""Loss landscapes as the pages see them, without Paddle: shipped, cached in the run store, computed in task processes.

The computation is ``resnet.lab.landscape`` (Li et al. 2018's filter-normalised surface,
Goodfellow et al. 2015's interpolation); it runs in a task process (``resnet.lab.tasks``),
never in the server. This module is the landscapes' member of ``resnet.lab.analyses``:
its client, without Paddle (the targets are ``resnet.lab.landscape``'s, which import the
settings from here). Here: the settings every variant of a comparison shares (subset,
grids, directions' seed), the cache keys, the shipped pair of the Degradation preset
(``SHIPPED_FILE``, written by ``python -m resnet.lab landscape``), and the calls that start,
read and cancel a computation for a finished run.

Payloads (cached and shipped alike): a surface is ``{"kind": "landscape", "label", "size",
"span", "seed", "subset", "coords", "loss": [[…]], "center"}`` with ``loss[i][j]`` at
β = coords[i], α = coords[j] and null where the loss overflowed; an interpolation is
``{"kind": "interpolation", "label", "subset", "t": […], "loss": […]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..paths import ASSETS
from .analyses import Analysis
from .config import TrainConfig
from .presets import BASE
from .store import Artifact

SUBSET_SIZE = 512
GRID_SIZES = (11, 21, 41)  # quick, default, fine
SPAN = 1.0  # α, β in −SPAN…SPAN: Li et al. plot ±1 in filter-normalised units (Fig. 5)
T_RANGE = (-0.25, 1.25)  # interpolation: a little beyond both ends, as Goodfellow et al. plot
T_STEPS = 31  # t every 0.05
FORMAT = "resnet-lab-landscape/1"
SIGNIFICANT = 4  # digits kept in the shipped file
LANDSCAPE_DIR = ASSETS / "landscapes"
SHIPPED_FILE = LANDSCAPE_DIR / "degradation.json"
# The Degradation preset's deep pair (resnet.lab.presets), whose curves ship as reference runs.
SHIPPED_CONFIGS = tuple(replace(BASE, depth=56, shortcut=s) for s in ("identity", "none"))
SHIPPED_SIZE = 21

@dataclass(frozen=True)
class Grid:
    """``size`` × ``size`` points, α and β each in −span…span."""

    size: int = 21
    span: float = SPAN

    def __post_init__(self) -> None:
        if self.size < 2 or not self.span > 0:
            raise ValueError(f"a grid needs at least 2 points a side and a positive span, got {self.size}, {self.span}")

    def coords(self) -> np.ndarray:
        return np.linspace(-self.span, self.span, self.size)


def surface_key(size: int, seed: int, n: int) -> str:
    """The run store's cache key of a surface, e.g. "21x21-seed0-n512"."""
    return f"{size}x{size}-seed{seed}-n{n}"


def interpolation_key(steps: int, n: int) -> str:
    return f"t{steps}-n{n}"


def rounded(value: float | None, digits: int = SIGNIFICANT) -> float | None:
    """``digits`` significant digits (the shipped file stays small); None and 0 as they are."""
    if value is None or value == 0:
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def edge_mean(surface: np.ndarray | Sequence[Sequence[float | None]]) -> float:
    """Mean loss on the grid's border (α or β = ±span), overflowed points left out."""
    s = np.array([[np.nan if v is None else v for v in row] for row in surface], dtype=np.float64)
    border = np.concatenate([s[0], s[-1], s[1:-1, 0], s[1:-1, -1]])
    return float(np.nanmean(np.where(np.isfinite(border), border, np.nan)))


def local_minima(surface: np.ndarray | Sequence[Sequence[float | None]]) -> int:
    """Grid points lower than each of their (up to 8) neighbours: 1 for a convex bowl, many on a chaotic surface.

    A discrete stand-in for Li et al.'s convexity reading (their Fig. 5 surfaces; Fig. 7 maps
    Hessian eigenvalues instead). An overflowed point (None) counts as +inf.
    """
    s = np.array([[np.inf if v is None else v for v in row] for row in surface], dtype=np.float64)
    padded = np.pad(s, 1, constant_values=np.inf)
    rows, cols = s.shape
    lower = np.ones_like(s, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                lower &= s < padded[1 + di : 1 + di + rows, 1 + dj : 1 + dj + cols]
    return int(lower.sum())


def shipped_landscapes(path: Path = SHIPPED_FILE) -> list[dict[str, Any]]:
    """The shipped entries (label, config, surface, interpolation) in ``SHIPPED_CONFIGS`` order, ResNet-56 first; [] without a file."""
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8"))["runs"]


def shipped_for(config: Mapping[str, Any], path: Path = SHIPPED_FILE) -> dict[str, Any] | None:
    """The shipped entry of a run with exactly this configuration (a reference run's), or None."""
    wanted = TrainConfig.from_dict(dict(config)).canonical()
    return next((e for e in shipped_landscapes(path) if TrainConfig.from_dict(e["config"]).canonical() == wanted), None)


SURFACE, INTERPOLATION = "landscape", "interpolation"  # the artifacts' kinds in the run store
SURFACES = Analysis(SURFACE, "resnet.lab.landscape:surface_task")
CURVES = Analysis(INTERPOLATION, "resnet.lab.landscape:interpolation_task")


def start_surface(store_path: str | Path, run_id: int, weights: Path, size: int, seed: int = 0) -> Artifact:
    """A finished run's surface: as cached, or now started in a task process (poll ``artifact``)."""
    return SURFACES.start(store_path, run_id, surface_key(size, seed, SUBSET_SIZE),
                          {"weights": str(weights), "size": size, "seed": seed, "n": SUBSET_SIZE})


def start_interpolation(store_path: str | Path, run_id: int, weights: Path) -> Artifact:
    """A finished run's interpolation curve from its initial to its final weights, likewise."""
    return CURVES.start(store_path, run_id, interpolation_key(T_STEPS, SUBSET_SIZE),
                        {"weights": str(weights), "steps": T_STEPS, "n": SUBSET_SIZE})


def cancel(store_path: str | Path, run_id: int, kind: str, size: int, seed: int = 0) -> str | None:
    """Stop a surface (or, with ``kind=INTERPOLATION``, the curve) being computed; its status then."""
    if kind == SURFACE:
        return SURFACES.cancel(store_path, run_id, surface_key(size, seed, SUBSET_SIZE))
    return CURVES.cancel(store_path, run_id, interpolation_key(T_STEPS, SUBSET_SIZE))

