"""The lab page's per-block measurements, computed in a task process (``resnet.lab.tasks``).

Targets of ``tasks.start_task``: each builds or loads a model, measures it on the first
DIAG_BATCH training images of the run's data set and returns a JSON-able payload,
``{"signals": [BlockSignal as a dict, …]}`` plus, for trained weights, Fig. 7's
``"response_std": [[layer, std], …]``. The server never imports this module: it reads
the payloads from the store (``resnet.lab.session.Lab.block_signals``); their clients are
``resnet.lab.analyses.signals``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import paddle

from ..inference import diagnostics
from ..model.modes import ensure_dygraph
from ..model.weights import load_trained
from .config import TrainConfig
from .data import Dataset, load_dataset
from .tasks import Progress, ShouldStop
from .train import build_model

DIAG_BATCH = 64  # images fed to the diagnostics (the first of the run's training set)


def signals_at_init(progress: Progress, should_stop: ShouldStop, key: str) -> dict[str, Any]:
    """A freshly built model of this configuration (``key``: its config_key), in train mode.

    Built with the run's own seed: the very weights it started from.
    """
    if (loaded := _config_and_data(key, progress, should_stop)) is None:
        return {}
    config, data = loaded
    model = build_model(config, data)
    progress(0.6)
    model.train()
    x, labels = _first_images(data)
    return {"signals": [asdict(s) for s in diagnostics.measure_signal(model, x, labels)]}


def signals_trained(progress: Progress, should_stop: ShouldStop, path: str, key: str) -> dict[str, Any]:
    """Per-block signal (train mode, as during training) and Fig. 7 response std (eval mode) of trained weights.

    ``path``: the run's saved weights; ``key``: its config_key (which data set to feed).
    """
    if (loaded := _config_and_data(key, progress, should_stop)) is None:
        return {}
    _, data = loaded
    model = load_trained(path).model  # private: measuring in train mode moves BatchNorm's statistics
    progress(0.5)
    x, labels = _first_images(data)
    stds = diagnostics.response_std(model, x)
    progress(0.75)
    model.train()
    return {"signals": [asdict(s) for s in diagnostics.measure_signal(model, x, labels)],
            "response_std": [[name, value] for name, value in stds]}


def _config_and_data(key: str, progress: Progress, should_stop: ShouldStop) -> tuple[TrainConfig, Dataset] | None:
    """The run's configuration (``key``: its config_key) and data set, in dygraph; None when cancelled."""
    ensure_dygraph()
    config = TrainConfig.from_dict(json.loads(key))
    data = load_dataset(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    progress(0.3)
    return None if should_stop() else (config, data)


def _first_images(data: Dataset) -> tuple[paddle.Tensor, paddle.Tensor]:
    """The first DIAG_BATCH training images [N, C, H, W], and their labels [N]."""
    return paddle.to_tensor(data.x_train[:DIAG_BATCH]), paddle.to_tensor(data.y_train[:DIAG_BATCH])
