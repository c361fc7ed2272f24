"""The home page's measured signal and gradient at initialisation, computed in a task process: client and target.

    artifact = start(store.address, depth=56, scale=2.0, downsample="pad")   # as stored, or started now
    measured(artifact.payload)   # [(shortcut, λ, [BlockSignal, …]), …] once done
    cancel(store.address, depth=56, scale=2.0, downsample="pad")

One measurement is ``resnet.inference.diagnostics.measure_at_init`` of a CIFAR-style net
for each of the standard variants (``VARIANTS``) and the chosen λ, with the same data and
shared weights. It builds and runs those nets, so it runs in a task process (scope
``GLOBAL_RUN``: it belongs to no run), cached in the run store for every visitor.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...inference.signals import BlockSignal
from ...model.spec import DOWNSAMPLES, LAMBDA_RANGE
from ..store import Artifact
from . import GLOBAL_RUN, Analysis, Progress, ShouldStop

AT_INIT = Analysis("signals_at_init_why", "resnet.lab.analyses.at_init:at_init_task")
DEPTHS = (20, 56)  # the nets the home page measures
VARIANTS = (("identity", 1.0), ("none", 1.0), ("scaled", 0.5), ("scaled", 2.0))  # (shortcut, λ), besides the chosen λ


def variants(scale: float) -> list[tuple[str, float]]:
    """The variants measured with the chosen λ: the standard ones, then ("scaled", λ) last (unless it is one of them)."""
    return list(dict.fromkeys([*VARIANTS, ("scaled", scale)]))


def settings(depth: int, scale: float, downsample: str) -> dict[str, Any]:
    """The measurement's settings, checked (``ValueError`` names what is wrong), λ rounded to 0.01."""
    if depth not in DEPTHS:
        raise ValueError(f"depth must be one of {DEPTHS}, got {depth!r}")
    if downsample not in DOWNSAMPLES:
        raise ValueError(f"downsample must be one of {DOWNSAMPLES}, got {downsample!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and LAMBDA_RANGE[0] <= scale <= LAMBDA_RANGE[1]):
        raise ValueError(f"λ must be in {LAMBDA_RANGE[0]}…{LAMBDA_RANGE[1]}, got {scale!r}")
    return {"depth": int(depth), "scale": round(float(scale), 2), "downsample": downsample}


def _key(chosen: dict[str, Any]) -> str:
    return json.dumps(chosen, sort_keys=True)


def start(address: str | Path, *, depth: int, scale: float, downsample: str) -> Artifact:
    """The measurement: as stored (done, running, failed or cancelled), else started now."""
    chosen = settings(depth, scale, downsample)
    return AT_INIT.start(address, GLOBAL_RUN, _key(chosen), chosen)


def restart(address: str | Path, *, depth: int, scale: float, downsample: str) -> Artifact:
    """Measure again (after a failure or a cancel)."""
    chosen = settings(depth, scale, downsample)
    return AT_INIT.restart(address, GLOBAL_RUN, _key(chosen), chosen)


def cancel(address: str | Path, *, depth: int, scale: float, downsample: str) -> str | None:
    return AT_INIT.cancel(address, GLOBAL_RUN, _key(settings(depth, scale, downsample)))


def measured(payload: dict[str, Any]) -> list[tuple[str, float, list[BlockSignal]]]:
    """A done measurement's payload as (shortcut, λ, per-block signals), in ``variants`` order."""
    return [(v["shortcut"], float(v["scale"]), [BlockSignal(**s) for s in v["signals"]]) for v in payload["variants"]]


def at_init_task(progress: Progress, should_stop: ShouldStop, *, depth: int, scale: float, downsample: str) -> dict[str, Any]:
    """Task target: ``measure_at_init`` of every variant; {} when asked to stop."""
    from ...inference.diagnostics import measure_at_init  # Paddle: only in the task process

    chosen = settings(depth, scale, downsample)
    out = []
    todo = variants(chosen["scale"])
    for i, (shortcut, lam) in enumerate(todo):
        if should_stop():
            return {}
        # the same data for every variant, and the same weights for every layer they share:
        # measure_at_init draws them with init_parameters, seeded by parameter name, as training does
        signals = measure_at_init(depth, shortcut, lam, downsample=downsample)
        out.append({"shortcut": shortcut, "scale": lam, "signals": [asdict(s) for s in signals]})
        progress((i + 1) / len(todo))
    return {"variants": out}
