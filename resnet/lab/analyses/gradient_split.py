"""The Why page's gradient split (He et al. 2016 (Identity Mappings), Eqs. 4-5), computed in a task process: client and target.

    artifact = start(store.address)       # as stored, or started now
    families(artifact.payload)            # [(Family, [BlockSplit, …]), …] once done, in FAMILIES order
    trained(artifact.payload)             # [(label, [BlockSplit, …]), …]: the shipped trained nets
    cancel(store.address); restart(store.address)

One measurement, the same for every visitor (it has no settings): ``split_at_init`` of a
ResNet-20 (width 16, option A) for each family, with the same data and shared weights, and
``split_of_weights`` of each shipped trained digits net (``resnet.lab.shipped``) on the first
``TRAINED_BATCH`` images of its training split. It builds and runs nets, so it runs in a task
process (scope ``GLOBAL_RUN``), cached in the run store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ...inference.gradient_record import BlockSplit
from ..store import Artifact
from . import GLOBAL_RUN, Analysis, Progress, ShouldStop

GRADIENT_SPLIT = Analysis("gradient_split_why", "resnet.lab.analyses.gradient_split:gradient_split_task")
DEPTH = 20  # the net measured at initialisation: 9 blocks, 3 stages
TRAINED_BATCH = 64  # images fed to a trained net (the lab's diagnostics feed as many)


@dataclass(frozen=True)
class Family:
    """One kind of block measured at initialisation; ``name`` names it in the catalogs (``why.grad_family.<name>``)."""

    name: str
    unit: str
    shortcut: str
    scale: float = 1.0


# Full pre-activation for every multiplied shortcut: nothing follows the addition there, so the
# shortcut term is exactly the multiplier times g and only the multiplier differs from the identity
# (a plain net has the original unit: a pre-activation unit without a shortcut is refused).
FAMILIES = (
    Family("full_preact", "full_preact", "identity"),
    Family("original", "original", "identity"),
    Family("plain", "original", "none"),
    Family("scaled_half", "full_preact", "scaled", 0.5),
    Family("scaled_two", "full_preact", "scaled", 2.0),
    Family("exclusive_gate", "full_preact", "exclusive_gate"),
    Family("shortcut_gate", "full_preact", "shortcut_gate"),
)
SETTINGS = {"depth": DEPTH, "seed": 0, "families": [f.name for f in FAMILIES], "trained_batch": TRAINED_BATCH}
KEY = json.dumps(SETTINGS, sort_keys=True)  # another measurement (say more families) is another artifact


def start(address: str | Path) -> Artifact:
    """The measurement: as stored (done, running, failed or cancelled), else started now."""
    return GRADIENT_SPLIT.start(address, GLOBAL_RUN, KEY, {})


def restart(address: str | Path) -> Artifact:
    """Measure again (after a failure or a cancel)."""
    return GRADIENT_SPLIT.restart(address, GLOBAL_RUN, KEY, {})


def cancel(address: str | Path) -> str | None:
    return GRADIENT_SPLIT.cancel(address, GLOBAL_RUN, KEY)


def families(payload: dict[str, Any]) -> list[tuple[Family, list[BlockSplit]]]:
    """A done measurement's families at initialisation with their per-block splits, in ``FAMILIES`` order."""
    by_name = {f.name: f for f in FAMILIES}
    return [(by_name[f["name"]], [BlockSplit(**s) for s in f["splits"]]) for f in payload["families"]]


def trained(payload: dict[str, Any]) -> list[tuple[str, Family, list[BlockSplit]]]:
    """A done measurement's shipped trained nets: label ("ResNet-56"), family (named as in ``FAMILIES``
    when it is one of them, else "trained") and per-block splits."""
    out = []
    for net in payload["trained"]:
        kind = (net["unit"], net["shortcut"], float(net["scale"]))
        name = next((f.name for f in FAMILIES if (f.unit, f.shortcut, f.scale) == kind), "trained")
        out.append((net["label"], Family(name, *kind), [BlockSplit(**s) for s in net["splits"]]))
    return out


def gradient_split_task(progress: Progress, should_stop: ShouldStop) -> dict[str, Any]:
    """Task target: every family at initialisation, then every shipped trained net; {} when asked to stop."""
    from ...inference.gradient_split import split_at_init, split_of_weights  # Paddle: only in the task process
    from ...model.weights import load_trained
    from ..shipped import held_out_split, lab_label, shipped_models

    paths = shipped_models()
    steps = len(FAMILIES) + len(paths)
    at_init = []
    for i, family in enumerate(FAMILIES):
        if should_stop():
            return {}
        splits = split_at_init(DEPTH, unit=family.unit, shortcut=family.shortcut, scale=family.scale, seed=SETTINGS["seed"])
        at_init.append({"name": family.name, "splits": [asdict(s) for s in splits]})
        progress((i + 1) / steps)
    nets = []
    for i, path in enumerate(paths, start=len(FAMILIES)):
        if should_stop():
            return {}
        lab = load_trained(path)  # private: train mode moves its BatchNorm statistics
        data = held_out_split(lab)
        splits = split_of_weights(lab.model, data.x_train[:TRAINED_BATCH], data.y_train[:TRAINED_BATCH])
        config = lab.model.config
        nets.append({"label": lab_label(lab), "file": path.stem, "unit": config.unit, "shortcut": config.shortcut,
                     "scale": config.scale if config.shortcut == "scaled" else 1.0, "splits": [asdict(s) for s in splits]})
        progress((i + 1) / steps)
    return {"families": at_init, "trained": nets}
