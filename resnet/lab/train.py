"""The training lab's one training loop: the app's workers, the CLI and data-parallel runs.

    python -m resnet.lab train --depth 56 --shortcut none --steps 200
    python -m resnet.lab train --depth 56 --shortcut scaled --scale 2 --store runs.sqlite

Data parallel (several processes, CPUs, GPUs or machines) is the same code: each rank
trains on its slice of every global batch and Paddle averages the gradients. The
launcher wants a script or an executable, so hand it the interpreter::

    python -m paddle.distributed.launch --nproc_per_node 2 .venv/bin/python -m resnet.lab train --depth 56

(``batch_size`` is the global batch and must be divisible by the number of ranks; only
rank 0 reports metrics and writes to ``--store``; BatchNorm statistics stay per rank.
tests/lab/test_data_parallel.py runs it on 2 CPU processes (gloo).)

How a step runs (``engine``): a single process trains with ``StaticStep``
(``resnet.lab.fast_step``: a static program whose convolutions run on oneDNN, faster than
the eager step on the lab's workload; bench/training.py measures it); data-parallel runs
use ``EagerStep``, the dygraph step, because ``paddle.DataParallel`` averages gradients
only in dygraph, and so do the gated shortcuts, which the static program cannot build
(``fast_step.runs_static``). Both start from the model ``build_model`` made, and the trained weights
end up in that model (same parameter names), which ``save_final_weights`` writes.

Comparable runs: variants trained from the same ``seed`` start from identical weights
for every parameter they share (each parameter is drawn from a generator seeded by
``(seed, parameter name)``, so creation order does not matter, and blocks create their
``downsample`` before ``conv1``) and see the batches in the same order (the order depends
only on ``seed``, the training-set size and ``batch_size``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import numpy as np
import paddle
import paddle.distributed as dist
from paddle import nn

from ..model.init import init_parameters
from ..model.modes import eval_mode
from ..model.network import ResNet, resnet
from ..model.preprocess import Preprocess
from ..model.weights import save_trained
from .config import (
    EVAL_BATCH, FIELD_TYPES, ConfigError, StepMetrics, TrainConfig, TrainResult, batch_problem, chance_loss, pack_correct,
)
from .data import Dataset, load_dataset
from .fast_step import StaticStep, runs_static
from .store import RunStore

_log = logging.getLogger(__name__)
Engine = Literal["static", "eager"]
ENGINES: tuple[Engine, ...] = ("static", "eager")


# ---------------------------------------------------------------------------------
# Comparable starts: weights and data order
# ---------------------------------------------------------------------------------


def build_model(config: TrainConfig, data: Dataset) -> ResNet:
    """The network for ``config``, initialised by ``init_parameters``."""
    model = resnet(
        config.depth,
        num_classes=data.num_classes,
        shortcut=config.shortcut,
        scale=config.scale,
        unit=config.unit,
        residual_scale=config.residual_scale,
        width=config.width,
        in_channels=data.in_channels,
        stem=config.stem,
        downsample=config.downsample_kind,
    )
    init_parameters(model, config.seed)
    return model


def batch_indices(num_train: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
    """Endless stream of training-set index batches: epoch after epoch of shuffles."""
    rng = np.random.default_rng(seed)
    pending = np.empty(0, dtype=np.int64)
    while True:
        while len(pending) < batch_size:
            pending = np.concatenate([pending, rng.permutation(num_train)])
        yield pending[:batch_size]
        pending = pending[batch_size:]


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup_steps`` (step is 1-based), then constant."""
    if step <= config.warmup_steps:
        return config.lr * step / (config.warmup_steps + 1)
    return config.lr


# ---------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------


def blew_up_then_stuck(train_losses: list[float], num_classes: int, window: int = 50) -> bool:
    """True for the λ = 2 pattern: a loss spike far above chance, then a flat ln C.

    Needs a spike ≥ 3·ln C somewhere and the last ``window`` losses within 5 % of ln C
    (a net still learning slowly, like plain-56, drifts below that band).
    """
    if len(train_losses) < 2 * window:
        return False
    chance = chance_loss(num_classes)
    tail = np.asarray(train_losses[-window:], dtype=np.float64)
    spiked = max(train_losses[:-window]) >= 3 * chance
    return bool(spiked and np.all(np.isfinite(tail)) and abs(tail.mean() - chance) <= 0.05 * chance)


# ---------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------


def evaluate_each(model: nn.Layer, data: Dataset) -> tuple[float, np.ndarray]:
    """(mean cross-entropy, which test images the net gets right: bool [n], test-set order),
    BatchNorm in inference mode."""
    total_loss, right = 0.0, []
    with eval_mode(model), paddle.no_grad():
        for start in range(0, len(data.y_test), EVAL_BATCH):
            x = paddle.to_tensor(data.x_test[start : start + EVAL_BATCH])
            y = paddle.to_tensor(data.y_test[start : start + EVAL_BATCH])
            logits = model(x)
            total_loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            right.append((logits.argmax(axis=1) == y).numpy())
    return total_loss / len(data.y_test), np.concatenate(right)


def evaluate(model: nn.Layer, data: Dataset) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the test set, BatchNorm in inference mode."""
    loss, right = evaluate_each(model, data)
    return loss, int(right.sum()) / len(right)


class EagerStep:
    """The dygraph training step; with several ranks each trains on its slice and Paddle averages the gradients."""

    def __init__(self, model: ResNet, config: TrainConfig, world: int) -> None:
        self.model = model
        self.net: nn.Layer = model
        if world > 1:
            dist.init_parallel_env()
            self.net = paddle.DataParallel(model)
        self.optimizer = paddle.optimizer.Momentum(
            learning_rate=config.lr,
            momentum=config.momentum,
            parameters=model.parameters(),
            weight_decay=config.weight_decay,
        )

    def __call__(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on images ``x`` [N, C, H, W], labels ``y`` [N]; the batch's mean loss."""
        self.optimizer.set_lr(lr)
        loss = nn.functional.cross_entropy(self.net(paddle.to_tensor(x)), paddle.to_tensor(y))
        loss.backward()
        self.optimizer.step()
        self.optimizer.clear_grad()
        return float(loss)

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        return evaluate(self.model, data)

    def evaluate_each(self, data: Dataset) -> tuple[float, np.ndarray]:
        return evaluate_each(self.model, data)

    def write_back(self) -> None:
        """Nothing to copy: the dygraph model is the one trained."""


def train(
    config: TrainConfig,
    *,
    on_step: Callable[[StepMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data: Dataset | None = None,
    save_weights: str | Path | None = None,
    engine: Engine | None = None,
) -> TrainResult:
    """Train one run; ``on_step`` gets every step's metrics, ``should_stop`` cancels.

    Stops early, status "diverged", at the first non-finite training loss. With
    ``save_weights`` a run that ends "done" writes its final weights there (rank 0;
    see ``save_final_weights``) and the result names the file. ``config`` is valid by
    construction (``resnet.lab.config``): only what depends on the data is checked here.
    ``engine`` (one of ENGINES) defaults to "static" in one process, "eager" across ranks.
    """
    data = data if data is not None else load_dataset(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    world, rank = dist.get_world_size(), dist.get_rank()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by the {world} data-parallel ranks")
    if (problem := batch_problem(config.batch_size, len(data.y_train))) is not None:
        raise ConfigError([problem])
    # the static program cannot build every variant (``fast_step.runs_static``): those fall back to the dygraph step
    static_ok = world == 1 and runs_static(config)
    engine = engine or ("static" if static_ok else "eager")
    if engine not in ENGINES or (engine == "static" and not static_ok):
        raise ValueError(f"engine must be one of {ENGINES} ('eager' for data-parallel runs and gated shortcuts), "
                         f"got {engine!r}")

    model = build_model(config, data)
    stepper = StaticStep(model, config, data) if engine == "static" else EagerStep(model, config, world)
    report = on_step if rank == 0 else None
    batches = batch_indices(len(data.y_train), config.batch_size, config.seed)
    losses: list[float] = []
    test_loss = test_acc = right = None
    status, diverged_step = "done", None
    train_s = 0.0
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        t0 = time.perf_counter()
        idx = next(batches)[rank::world]  # each rank its slice of the same global batch
        value = stepper(data.x_train[idx], data.y_train[idx], learning_rate(config, step))
        train_s += time.perf_counter() - t0
        losses.append(value)
        if not math.isfinite(value):
            status, diverged_step = "diverged", step
            if report:
                report(StepMetrics(step, time.perf_counter() - start, value))
            break
        evaluate_now = step % config.eval_every == 0 or step == config.steps
        if evaluate_now:
            test_loss, right = stepper.evaluate_each(data)
            test_acc = int(right.sum()) / len(right)
        if report:
            metrics = (test_loss, test_acc) if evaluate_now else (None, None)
            report(StepMetrics(step, time.perf_counter() - start, value, *metrics))
    stepper.write_back()
    steps_done = len(losses)
    weights = None
    if save_weights is not None and status == "done" and rank == 0:
        try:
            weights = str(save_final_weights(model, config, data, save_weights))
        except OSError as exc:  # a full disk must not cost the run its curve and result
            _log.warning("could not save the final weights to %s: %s", save_weights, exc)
    return TrainResult(
        status=status,
        steps_done=steps_done,
        wall_s=time.perf_counter() - start,
        images_per_s=steps_done * config.batch_size / train_s if train_s > 0 else 0.0,
        final_train_loss=losses[-1] if losses else None,
        final_test_loss=test_loss,
        final_test_acc=test_acc,
        stuck_at_chance=blew_up_then_stuck(losses, data.num_classes),
        diverged_step=diverged_step,
        skipped_files=data.skipped,
        weights=weights,
        final_test_correct=pack_correct(right) if right is not None else None,
        test_images=len(right) if right is not None else None,
    )


def save_final_weights(model: ResNet, config: TrainConfig, data: Dataset, path: str | Path) -> Path:
    """``path`` (.safetensors) + JSON sidecar via ``resnet.model.weights.save_trained``.

    The sidecar holds what the Feature maps page needs to feed the model new images (the
    training set's pixel mean/std, input size, channels; the class names) and the run's
    configuration, so the lab can rebuild it for diagnostics.
    """
    meta: dict[str, Any] = {"classes": list(data.classes), "train_config": asdict(config.canonical()), "label": config.label}
    if data.mean and data.std:
        size = data.image_size
        meta["preprocess"] = Preprocess(resize=size, crop=size, mean=data.mean, std=data.std, channels=data.in_channels).to_dict()
    return save_trained(model, meta, path)


# ---------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> tuple[dict[str, Any], str | None]:
    """The settings as given (the config checks them) and the ``--store`` path."""
    parser = argparse.ArgumentParser(prog="python -m resnet.lab train", description=__doc__.splitlines()[0])
    for f in fields(TrainConfig):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=FIELD_TYPES[f.name], default=f.default)
    parser.add_argument("--store", default=None, help="also record the run in this SQLite run store")
    args = vars(parser.parse_args(argv))
    store_path = args.pop("store")
    return args, store_path


def main(argv: list[str] | None = None) -> int:
    settings, store_path = _parse_args(argv)
    try:
        config = TrainConfig(**settings)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2

    run_store = run_id = None
    if store_path and dist.get_rank() == 0:
        run_store = RunStore(store_path)
        run_id = run_store.create_run(config, status="running")

    def on_step(m: StepMetrics) -> None:
        if run_store is not None:
            run_store.add_metrics(run_id, [m])
        if m.test_loss is not None:
            print(f"step {m.step:5d}  {m.wall_s:7.1f}s  train loss {m.train_loss:.4f}  "
                  f"test loss {m.test_loss:.4f}  test acc {m.test_acc:.3f}", flush=True)

    result = train(config, on_step=on_step)
    if run_store is not None:
        run_store.finish_run(run_id, result)
    print(json.dumps(result.to_dict()))
    return 0 if result.status == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())
