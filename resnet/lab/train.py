"""The training lab's one training loop: the app's workers, the CLI and data-parallel runs.

    python -m resnet.lab train --depth 56 --shortcut none --steps 200
    python -m resnet.lab train --depth 56 --shortcut scaled --scale 2 --store runs.sqlite

Data parallel (several processes, CPUs, GPUs or machines) is the same code: each rank
trains on its slice of every global batch and Paddle averages the gradients. The
launcher wants a script or an executable, so hand it the interpreter::

    python -m paddle.distributed.launch --nproc_per_node 2 .venv/bin/python -m resnet.lab train --depth 56

(``batch_size`` is the global batch and must be divisible by the number of ranks; only
rank 0 reports metrics and writes to ``--store``; BatchNorm statistics stay per rank.
Tried by hand on 2 CPU processes (gloo); not part of the tests.)

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
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import paddle
import paddle.distributed as dist
from paddle import nn

from .data import DATASETS, Dataset, load_dataset
from ..model.init import init_parameters
from ..model.network import CIFAR_DEPTHS, ResNet, ResNetConfig, resnet
from ..model.network import validate as validate_model

# Inclusive bounds the page can also use for its widgets.
LIMITS: dict[str, tuple[float, float]] = {
    "steps": (1, 20_000),
    "batch_size": (2, 1024),  # BatchNorm needs two samples
    "width": (1, 128),
    "image_size": (8, 256),
    "lr": (1e-6, 10.0),
    "momentum": (0.0, 0.999),
    "weight_decay": (0.0, 0.1),
    "seed": (0, 2**31 - 1),
}
EVAL_BATCH = 512
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """One run. Same config (after ``canonical()``) = same run: the store dedups on it."""

    depth: int = 20
    shortcut: str = "identity"  # "identity" | "none" (plain net) | "scaled" (λ·x)
    scale: float = 1.0  # λ, used only when shortcut == "scaled"
    width: int = 16
    stem: str = "small"
    dataset: str = "digits"
    data_dir: str | None = None  # for "folder" and "ichallenge_pm"
    image_size: int = 8
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 0  # linear ramp from lr/(warmup_steps+1) up to lr
    batch_size: int = 64
    steps: int = 300
    eval_every: int = 25
    seed: int = 0

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` with a message a learner can act on; return self."""
        _check_int(self, "depth")
        # the model's own checks: depth, shortcut mode, stem (and CIFAR depths' small stem)
        validate_model(ResNetConfig(depth=self.depth, shortcut=self.shortcut, stem=self.stem))
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.dataset != "digits" and not self.data_dir:
            raise ValueError(f"dataset {self.dataset!r} needs a data folder (data_dir)")
        for name in ("steps", "batch_size", "width", "image_size", "seed", "warmup_steps", "eval_every"):
            _check_int(self, name)
        for name in ("scale", "lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                shown = "λ (scale)" if name == "scale" else name
                raise ValueError(f"{shown} must be a finite number, got {value!r}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
        if not 1 <= self.eval_every <= self.steps:
            raise ValueError(f"eval_every must be between 1 and steps ({self.steps}), got {self.eval_every}")
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"warmup_steps must be between 0 and steps ({self.steps}), got {self.warmup_steps}")
        return self

    def canonical(self) -> TrainConfig:
        """The same run spelled one way: λ only matters for "scaled", paths absolute."""
        return replace(
            self,
            scale=float(self.scale) if self.shortcut == "scaled" else 1.0,
            data_dir=str(Path(self.data_dir).expanduser().resolve()) if self.data_dir and self.dataset != "digits" else None,
            lr=float(self.lr),
            momentum=float(self.momentum),
            weight_decay=float(self.weight_decay),
        )

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): the store's dedup key."""
        return json.dumps(asdict(self.canonical()), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict; strings (URL query values) are converted to each field's type.

        Raises ``ValueError`` for unknown keys and unconvertible values; call
        ``validate()`` on the result for the ranges.
        """
        kinds = _field_types()
        unknown = sorted(set(data) - set(kinds))
        if unknown:
            raise ValueError(f"unknown training setting(s): {', '.join(unknown)}")
        values = {}
        for name, value in data.items():
            if isinstance(value, str) and kinds[name] is not str:
                try:
                    value = kinds[name](value)
                except ValueError:
                    noun = "a whole number" if kinds[name] is int else "a number"
                    raise ValueError(f"{name} must be {noun}, got {value!r}") from None
            values[name] = value
        return cls(**values)

    @property
    def label(self) -> str:
        """Legend text, e.g. "plain-56", "ResNet-20", "ResNet-56 λ=2", "ResNet-50 w8"."""
        kind = {"none": "plain", "identity": "ResNet", "scaled": "ResNet"}[self.shortcut]
        text = f"{kind}-{self.depth}"
        if self.shortcut == "scaled":
            text += f" λ={self.scale:g}"
        if self.width != (16 if self.depth in CIFAR_DEPTHS else 64):
            text += f" w{self.width}"
        return text


def _field_types() -> dict[str, type]:
    """Each TrainConfig field's value type (``data_dir``, default None, is a str)."""
    return {f.name: type(f.default) if f.default is not None else str for f in fields(TrainConfig)}


def _check_int(config: TrainConfig, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")


@dataclass(frozen=True)
class StepMetrics:
    """What the loop reports after each step; test metrics only on evaluation steps."""

    step: int  # 1-based
    wall_s: float  # since the loop started (after data loading and model building)
    train_loss: float
    test_loss: float | None = None
    test_acc: float | None = None


@dataclass(frozen=True)
class TrainResult:
    status: str  # "done" | "diverged" | "cancelled"
    steps_done: int
    wall_s: float
    images_per_s: float  # training throughput, evaluation time excluded
    final_train_loss: float | None
    final_test_loss: float | None
    final_test_acc: float | None
    stuck_at_chance: bool
    diverged_step: int | None = None
    skipped_files: tuple[str, ...] = field(default_factory=tuple)
    weights: str | None = None  # the saved final weights (safetensors), when asked for and done

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        width=config.width,
        in_channels=data.in_channels,
        stem=config.stem,
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


def chance_loss(num_classes: int) -> float:
    """Cross-entropy of a uniform guess, ln C (2.30 for ten digits)."""
    return math.log(num_classes)


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


def evaluate(model: nn.Layer, data: Dataset) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the test set, BatchNorm in inference mode."""
    model.eval()
    total_loss, correct = 0.0, 0
    with paddle.no_grad():
        for start in range(0, len(data.y_test), EVAL_BATCH):
            x = paddle.to_tensor(data.x_test[start : start + EVAL_BATCH])
            y = paddle.to_tensor(data.y_test[start : start + EVAL_BATCH])
            logits = model(x)
            total_loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(axis=1) == y).sum())
    model.train()
    n = len(data.y_test)
    return total_loss / n, correct / n


def train(
    config: TrainConfig,
    *,
    on_step: Callable[[StepMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data: Dataset | None = None,
    save_weights: str | Path | None = None,
) -> TrainResult:
    """Train one run; ``on_step`` gets every step's metrics, ``should_stop`` cancels.

    Stops early, status "diverged", at the first non-finite training loss. With
    ``save_weights`` a run that ends "done" writes its final weights there (rank 0;
    see ``save_final_weights``) and the result names the file.
    """
    config.validate()
    data = data if data is not None else load_dataset(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    world, rank = dist.get_world_size(), dist.get_rank()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by the {world} data-parallel ranks")
    if config.batch_size > len(data.y_train):
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(data.y_train)} training images")

    model = build_model(config, data)
    net: nn.Layer = model
    if world > 1:
        dist.init_parallel_env()
        net = paddle.DataParallel(model)
    optimizer = paddle.optimizer.Momentum(
        learning_rate=config.lr,
        momentum=config.momentum,
        parameters=model.parameters(),
        weight_decay=config.weight_decay,
    )
    report = on_step if rank == 0 else None
    batches = batch_indices(len(data.y_train), config.batch_size, config.seed)
    losses: list[float] = []
    test_loss = test_acc = None
    status, diverged_step = "done", None
    train_s = 0.0
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        if should_stop is not None and should_stop():
            status = "cancelled"
            break
        t0 = time.perf_counter()
        idx = next(batches)[rank::world]  # each rank its slice of the same global batch
        optimizer.set_lr(learning_rate(config, step))
        loss = nn.functional.cross_entropy(net(paddle.to_tensor(data.x_train[idx])), paddle.to_tensor(data.y_train[idx]))
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        value = float(loss)
        train_s += time.perf_counter() - t0
        losses.append(value)
        if not math.isfinite(value):
            status, diverged_step = "diverged", step
            if report:
                report(StepMetrics(step, time.perf_counter() - start, value))
            break
        evaluate_now = step % config.eval_every == 0 or step == config.steps
        if evaluate_now:
            test_loss, test_acc = evaluate(model, data)
        if report:
            metrics = (test_loss, test_acc) if evaluate_now else (None, None)
            report(StepMetrics(step, time.perf_counter() - start, value, *metrics))
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
    )


def save_final_weights(model: ResNet, config: TrainConfig, data: Dataset, path: str | Path) -> Path:
    """``path`` (.safetensors) + JSON sidecar via ``resnet.model.weights.save_trained``.

    The sidecar holds what the Feature maps page needs to feed the model new images (the
    training set's pixel mean/std, input size, channels; the class names) and the run's
    configuration, so the lab can rebuild it for diagnostics.
    """
    from ..model.preprocess import Preprocess
    from ..model.weights import save_trained

    meta: dict[str, Any] = {"classes": list(data.classes), "train_config": asdict(config.canonical()), "label": config.label}
    if data.mean and data.std:
        size = data.image_size
        meta["preprocess"] = Preprocess(resize=size, crop=size, mean=data.mean, std=data.std, channels=data.in_channels).to_dict()
    return save_trained(model, meta, path)


# ---------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> tuple[TrainConfig, str | None]:
    parser = argparse.ArgumentParser(prog="python -m resnet.lab train", description=__doc__.splitlines()[0])
    for name, kind in _field_types().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(TrainConfig, name))
    parser.add_argument("--store", default=None, help="also record the run in this SQLite run store")
    args = vars(parser.parse_args(argv))
    store_path = args.pop("store")
    return TrainConfig(**args), store_path


def main(argv: list[str] | None = None) -> int:
    config, store_path = _parse_args(argv)
    try:
        config.validate()
    except ValueError as exc:
        print(f"error: {exc}")
        return 2

    run_store = run_id = None
    if store_path and dist.get_rank() == 0:
        from .store import RunStore

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
