"""Loss landscapes of the lab's runs: why shortcuts make training easier.

    d1, d2 = filter_normalised_directions(params, seed=0)
    surface = loss_surface(model, subset, Grid(21), seed=0)       # [21, 21]: rows β, columns α
    curve = interpolate(model_init, model_final, subset, ts)       # loss along θ(t)

- **2-D surface** (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", §4
  and Fig. 5): L(θ + α·d₁ + β·d₂) around a run's final weights θ, on a grid of α, β in
  −1…1, with two random Gaussian directions made *filter-normalised*: every filter of dᵢ
  is rescaled to the norm of the same filter of θ, so the plot does not depend on the
  scale invariance that BatchNorm gives each filter. As the authors' code does for the
  paper's plots (github.com/tomgoldstein/loss-landscape, net_plotter.py,
  ``normalize_directions_for_weights(..., ignore='biasbn')``), every 1-D tensor (BN's γ and
  β, biases) gets a zero direction, and BN's running statistics stay at θ's values.
- **1-D interpolation** (Goodfellow, Vinyals & Saxe 2015, "Qualitatively characterizing
  neural network optimization problems"): the loss along θ(t) = (1 − t)·θ₀ + t·θ₁ from the
  run's initial weights θ₀ to its final weights θ₁, t in −0.25…1.25. θ₀ is rebuilt from the
  run's configuration (``init_parameters`` is seeded by (seed, parameter name)), not stored.

Both are evaluated on a fixed subset of the training set (``SUBSET_SIZE`` = 512 images,
the same for every run of a data set) with BatchNorm in inference mode, on the running
statistics of the weights evaluated; the loss is the mean cross-entropy computed in
float64 from the logits, without Paddle's softmax clip (an image's loss may exceed 64).

Speed: one forward of 512 images per grid point, by a static program with oneDNN kernels
whose inputs are the images and the weights themselves (``LossProgram``): between grid
points only the weight tensors change, nothing is rebuilt (bench/landscape.py measures it
against the dygraph forward). BatchNorm is folded into the conv before it: in inference
mode it is a per-channel affine map, conv(x, w)·s + (β − μ·s) = conv(x, w·s) + (β − μ·s)
with s = γ/√(σ² + ε), so a layer is one conv and one add instead of a conv and a BN.
``FedProgram`` does this for any layer (a whole net here; one block for the lesion study,
``resnet.lab.lesion``); ``LossProgram`` is a whole net's with its loss.

In the app the computations run in task processes (``resnet.lab.tasks``): ``surface_task``
and ``interpolation_task`` are their targets, started and cached in the run store by
``resnet.lab.surfaces`` (their analyses' clients, which also hold the settings, keys and
payload formats, without Paddle). The Degradation preset's ResNet-56 and plain-56 ship precomputed (``SHIPPED_FILE``):

    python -m resnet.lab landscape      # trains both, then their 21×21 surfaces and curves (timing: see ``make_shipped``)
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import paddle
from paddle import nn
from paddle.static import InputSpec

from ..model.modes import ensure_dygraph, exporting, onednn_static
from ..model.network import ResNet
from ..model.weights import load_trained
from .config import TrainConfig
from .data import Dataset, load_dataset
from .presets import BASE
from .surfaces import (
    FORMAT, INTERPOLATION, SHIPPED_CONFIGS, SHIPPED_FILE, SHIPPED_SIZE, SUBSET_SIZE, SURFACE, T_RANGE, T_STEPS, Grid,
    edge_mean, rounded,
)
from .tasks import Progress, ShouldStop
from .train import build_model, train

SUBSET_SEED = 0  # which training images: the same subset for every run and every seed of directions


@dataclass(frozen=True)
class Subset:
    """The images a landscape is measured on: ``x`` [N, C, H, W] float32, ``y`` [N] int64."""

    x: np.ndarray
    y: np.ndarray

    @property
    def n(self) -> int:
        return len(self.y)


def training_subset(data: Dataset, n: int = SUBSET_SIZE) -> Subset:
    """A fixed random subset of ``n`` training images (all of them if there are fewer), in index order."""
    count = len(data.y_train)
    idx = np.sort(np.random.default_rng(SUBSET_SEED).permutation(count)[: min(n, count)])
    return Subset(np.ascontiguousarray(data.x_train[idx]), data.y_train[idx])


# ---------------------------------------------------------------------------------
# Directions
# ---------------------------------------------------------------------------------


def _filters(array: np.ndarray) -> np.ndarray:
    """``array`` as [filters, weights per filter].

    A conv weight [out, in, k, k] has one filter per output channel (axis 0). Paddle keeps a
    Linear weight as [in, out]; Li et al. (§4) take the weights that produce one output
    neuron as its filter (an FC layer is a conv with a 1×1 output), here a column (axis 1).
    """
    if array.ndim == 2:
        return array.T.reshape(array.shape[1], -1)
    return array.reshape(array.shape[0], -1)


def _from_filters(filters: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return filters.T.copy() if len(shape) == 2 else filters.reshape(shape)


def filter_normalised_directions(params: Mapping[str, np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Two random directions in weight space, each filter rescaled to the norm of θ's filter.

    Li et al. 2018, §4: d_{i,j} ← d_{i,j} / ‖d_{i,j}‖ · ‖θ_{i,j}‖ for the j-th filter of
    layer i. 1-D tensors (BN γ, β and running statistics, biases) get zeros, as the
    authors' code does with ``ignore='biasbn'``. Each tensor's Gaussian draw is seeded by
    (seed, direction, parameter name): two models with the same parameter names (a
    ResNet and its plain twin) get the same draws, whatever else they hold.
    """
    directions = []
    for which in (1, 2):
        d: dict[str, np.ndarray] = {}
        for name, theta in params.items():
            theta = np.asarray(theta, dtype=np.float32)
            if theta.ndim <= 1:
                d[name] = np.zeros_like(theta)
                continue
            rng = np.random.default_rng([seed, which, zlib.crc32(name.encode())])
            raw = _filters(rng.standard_normal(theta.shape))  # float64 draws: the same on every platform
            scale = np.linalg.norm(_filters(theta), axis=1) / (np.linalg.norm(raw, axis=1) + 1e-10)
            d[name] = _from_filters(raw * scale[:, None], theta.shape).astype(np.float32)
        directions.append(d)
    return directions[0], directions[1]


def state_arrays(model: nn.Layer) -> dict[str, np.ndarray]:
    """A model's state dict (parameters and BN statistics) as float32 numpy arrays, copied."""
    return {name: np.array(t.numpy(), dtype=np.float32) for name, t in model.state_dict().items()}


# ---------------------------------------------------------------------------------
# The loss of any weights: a static program whose inputs are the images and the weights
# ---------------------------------------------------------------------------------


class _AddShift(nn.Layer):
    """What a folded BatchNorm leaves: x + shift per channel ([C] → [1, C, 1, 1])."""

    def __init__(self, shift: Any) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x + self.shift.reshape([1, -1, 1, 1])


class _Exported(nn.Layer):
    """The layer handed to ``paddle.jit.to_static``: ``layer``'s output for an input and its weights, both inputs."""

    def __init__(self, program: FedProgram, layer: nn.Layer) -> None:
        super().__init__()
        self.program = program
        self.layer = layer

    def forward(self, x: paddle.Tensor, weights: list[paddle.Tensor]) -> paddle.Tensor:
        return _traced_forward(self.program, self.layer, x, weights)


@paddle.jit.not_to_static
def _traced_forward(program: FedProgram, root: nn.Layer, x: Any, weights: list[Any]) -> Any:
    # Plain Python on static values: each conv and the fc read their weights from the
    # inputs, each BN is replaced by its folded shift, then the layer's own forward runs
    # (the network is not written twice). Everything is put back afterwards.
    layers = dict(root.named_sublayers(include_self=True))
    inputs = dict(zip(program.input_names, weights, strict=True))
    saved_params, saved_layers = [], []
    try:
        for name in program.weight_inputs:
            layer_name, _, key = name.rpartition(".")
            layer = layers[layer_name]
            saved_params.append((layer, key, layer._parameters[key]))
            layer._parameters[key] = inputs[name]
        for conv_name, bn_name in program.folds:
            parent_name, _, leaf = bn_name.rpartition(".")
            parent = layers[parent_name]
            saved_layers.append((parent, leaf, parent._sub_layers[leaf]))
            parent._sub_layers[leaf] = _AddShift(inputs[f"{conv_name}.shift"])
        return root(x)
    finally:
        for layer, key, value in saved_params:
            layer._parameters[key] = value
        for parent, leaf, layer in saved_layers:
            parent._sub_layers[leaf] = layer


def _folds(layer: nn.Layer) -> list[tuple[str, str]]:
    """(conv, BN) name pairs: every BatchNorm2D normalises the conv created just before it.

    True of every net ``resnet.model.network`` builds (stem conv1/bn1, convK/bnK in a block,
    downsample.0/downsample.1); checked here by channel count and the conv's missing bias.
    """
    pairs, last_conv = [], None
    for name, sub in layer.named_sublayers():
        if isinstance(sub, nn.Conv2D):
            last_conv = (name, sub)
        elif isinstance(sub, nn.BatchNorm2D):
            if last_conv is None or last_conv[1].bias is not None or last_conv[1].weight.shape[0] != sub.weight.shape[0]:
                raise ValueError(f"BatchNorm {name} does not follow a bias-free conv of its width: cannot fold it")
            pairs.append((last_conv[0], name))
            last_conv = None
    return pairs


class FedProgram:
    """A layer's forward (a whole net, or one block) as a static program whose inputs are its input and its weights.

    Built once per architecture (≈ 1–2 s for a net: trace, export, load); ``run(x, inputs)``
    then costs one forward, for any weights of that architecture. BatchNorm in inference
    mode, folded into the conv before it: ``inputs`` are ``folded(state)``.

    Run by a static ``Executor`` with oneDNN kernels, not by the inference predictor: the
    predictor's oneDNN kernels cache a conv's reordered weights at the first run and would
    ignore every later weight input (measured: the same logits for any fc or conv weights).
    """

    def __init__(self, layer: nn.Layer, input_shape: Sequence[int]) -> None:
        """``input_shape``: one input's shape without the batch axis, e.g. [C, H, W]."""
        ensure_dygraph()
        self.folds = _folds(layer)
        self.bn_eps = {bn: float(sub._epsilon) for bn, sub in layer.named_sublayers() if isinstance(sub, nn.BatchNorm2D)}
        folded_bn = {bn for _, bn in self.folds}
        state = layer.state_dict()
        self.weight_inputs = [k for k in state if k.rpartition(".")[0] not in folded_bn]  # conv weights, fc weight and bias
        if any(not (k.endswith(".weight") or k.endswith(".bias")) for k in self.weight_inputs):
            raise ValueError("only conv, BN and fc tensors can be fed to a compiled program")
        self.input_names = self.weight_inputs + [f"{conv}.shift" for conv, _ in self.folds]
        self.state_names = list(state)
        shapes = {k: list(v.shape) for k, v in state.items()} | {
            f"{conv}.shift": [int(state[f"{conv}.weight"].shape[0])] for conv, _ in self.folds
        }
        spec = [InputSpec([None, *input_shape], "float32", "x"),
                [InputSpec(shapes[k], "float32", f"w{i}") for i, k in enumerate(self.input_names)]]
        self._scope = paddle.static.Scope()
        with tempfile.TemporaryDirectory(prefix="resnet_program_") as tmp:
            with exporting():
                paddle.jit.save(paddle.jit.to_static(_Exported(self, layer), input_spec=spec, full_graph=True), f"{tmp}/model")
            Path(f"{tmp}/model.pdiparams").touch()  # no parameters: every weight is an input
            with onednn_static(), paddle.static.scope_guard(self._scope):
                self._executor = paddle.static.Executor(paddle.CPUPlace())
                self._program, _, self._fetch = paddle.static.load_inference_model(f"{tmp}/model", self._executor)

    def folded(self, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The program's inputs for ``state`` (the layer's state dict as arrays): conv weights × s,
        shifts β − μ·s (s = γ/√(σ² + ε)), fc as is; float32, contiguous, by input name."""
        if missing := set(self.state_names) - set(state):
            raise KeyError(f"state lacks {sorted(missing)[:4]}")
        out = {k: state[k] for k in self.weight_inputs}
        for conv, bn in self.folds:
            s = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}._variance"] + self.bn_eps[bn])  # [C_out]
            out[f"{conv}.weight"] = state[f"{conv}.weight"] * s[:, None, None, None]
            out[f"{conv}.shift"] = state[f"{bn}.bias"] - state[f"{bn}._mean"] * s
        return {name: np.ascontiguousarray(out[name], dtype=np.float32) for name in self.input_names}

    def run(self, x: np.ndarray, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The layer's output for ``x`` [N, *input_shape] under ``inputs`` (``folded(state)``, edited or not)."""
        feed = {"x": np.ascontiguousarray(x, dtype=np.float32)} | {f"w{i}": inputs[name] for i, name in enumerate(self.input_names)}
        with onednn_static(), paddle.static.scope_guard(self._scope):
            return self._executor.run(self._program, feed=feed, fetch_list=self._fetch)[0]


class LossProgram:
    """Mean cross-entropy on a fixed subset of one architecture, for any of its state dicts.

    A ``FedProgram`` of the whole net; ``loss(state)`` costs one forward of the subset.
    BatchNorm in inference mode on ``state``'s running statistics.
    """

    def __init__(self, model: ResNet, subset: Subset) -> None:
        self.subset = subset
        self.program = FedProgram(model, subset.x.shape[1:])

    def logits(self, state: Mapping[str, np.ndarray]) -> np.ndarray:
        """[N, classes] for the subset under ``state`` (a full state dict of the architecture)."""
        return self.program.run(self.subset.x, self.program.folded(state))

    def loss(self, state: Mapping[str, np.ndarray]) -> float:
        """Mean cross-entropy, float64 log-softmax (inf when a logit overflowed)."""
        return cross_entropy(self.logits(state), self.subset.y)


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean −log softmax(logits)[y] in float64, unclipped; inf for non-finite logits."""
    z = logits.astype(np.float64)
    if not np.all(np.isfinite(z)):
        return math.inf
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


# ---------------------------------------------------------------------------------
# Surface and interpolation
# ---------------------------------------------------------------------------------


def loss_surface(
    model: ResNet, subset: Subset, grid: Grid, seed: int, progress: Progress | None = None,
    should_stop: ShouldStop | None = None, *, program: LossProgram | None = None,
) -> np.ndarray | None:
    """L(θ + α·d₁ + β·d₂) over ``grid`` around ``model``'s weights θ: [size (β), size (α)].

    Directions: ``filter_normalised_directions(θ, seed)``. None when ``should_stop()``
    asked to stop. ``program``: a ``LossProgram`` of this architecture to reuse.
    """
    theta = state_arrays(model)
    d1, d2 = filter_normalised_directions(theta, seed)
    moving = [k for k in theta if d1[k].any() or d2[k].any()]  # 1-D tensors keep θ's values
    program = program or LossProgram(model, subset)
    coords = grid.coords()
    surface = np.empty((grid.size, grid.size))
    state = dict(theta)
    for i, beta in enumerate(coords):
        for j, alpha in enumerate(coords):
            if should_stop is not None and should_stop():
                return None
            for k in moving:
                state[k] = theta[k] + np.float32(alpha) * d1[k] + np.float32(beta) * d2[k]
            surface[i, j] = program.loss(state)
            if progress is not None:
                progress((i * grid.size + j + 1) / grid.size**2)
    return surface


def interpolation_ts(steps: int = T_STEPS, t_range: tuple[float, float] = T_RANGE) -> np.ndarray:
    return np.linspace(*t_range, steps)


def interpolate(
    model_init: ResNet, model_final: ResNet, subset: Subset, ts: Sequence[float] | np.ndarray,
    progress: Progress | None = None, should_stop: ShouldStop | None = None, *, program: LossProgram | None = None,
) -> np.ndarray | None:
    """Loss along θ(t) = (1 − t)·θ₀ + t·θ₁ (Goodfellow et al. 2015) at each t of ``ts``.

    The weights follow the line for every t. BN's running statistics are not weights
    (a variance extrapolated past an end can turn negative): they follow t clamped to
    0…1, so both ends are exactly the two models. None when asked to stop.
    """
    start, end = state_arrays(model_init), state_arrays(model_final)
    if start.keys() != end.keys():
        raise ValueError("the two models have different parameters: not the same architecture")
    program = program or LossProgram(model_final, subset)
    statistics = {k for k in start if k.endswith("._mean") or k.endswith("._variance")}
    losses = np.empty(len(ts))
    for i, t in enumerate(ts):
        if should_stop is not None and should_stop():
            return None
        state = {}
        for k in start:
            w = min(max(float(t), 0.0), 1.0) if k in statistics else float(t)
            state[k] = ((1 - w) * start[k] + w * end[k]).astype(np.float32)
        losses[i] = program.loss(state)
        if progress is not None:
            progress((i + 1) / len(ts))
    return losses


# ---------------------------------------------------------------------------------
# The task targets and their payloads
# ---------------------------------------------------------------------------------


def _run_models(weights: str) -> tuple[TrainConfig, ResNet, Dataset]:
    """A finished run's configuration (from the weights' sidecar), its final model and its data set."""
    lab = load_trained(weights)
    if "train_config" not in lab.meta:
        raise ValueError(f"{Path(weights).name} does not say how it was trained (no train_config in its sidecar)")
    config = TrainConfig.from_dict(lab.meta["train_config"])
    data = load_dataset(config.dataset, image_size=config.image_size, data_dir=config.data_dir)
    return config, lab.model, data


def _finite(value: float) -> float | None:
    """JSON has no inf/NaN: a loss that overflowed is stored as null."""
    return float(value) if math.isfinite(value) else None


def surface_payload(label: str, surface: np.ndarray, grid: Grid, seed: int, n: int) -> dict[str, Any]:
    """The JSON a surface is cached and shipped as; ``loss[i][j]`` is at β = coords[i], α = coords[j]."""
    return {
        "format": FORMAT, "kind": SURFACE, "label": label, "size": grid.size, "span": grid.span, "seed": seed,
        "subset": n, "coords": [float(c) for c in grid.coords()],
        "loss": [[_finite(v) for v in row] for row in surface],
        "center": _finite(surface[grid.size // 2, grid.size // 2]) if grid.size % 2 else None,
    }


def interpolation_payload(label: str, ts: np.ndarray, losses: np.ndarray, n: int) -> dict[str, Any]:
    return {"format": FORMAT, "kind": INTERPOLATION, "label": label, "subset": n,
            "t": [float(t) for t in ts], "loss": [_finite(v) for v in losses]}


def surface_task(progress: Progress, should_stop: ShouldStop, *, weights: str, size: int,
                 seed: int = 0, n: int = SUBSET_SIZE) -> dict[str, Any]:
    """Task target (``resnet.lab.surfaces.SURFACES``): the surface around a finished run's final weights (a lab weights file)."""
    config, model, data = _run_models(weights)
    grid = Grid(size)
    surface = loss_surface(model, training_subset(data, n), grid, seed, progress, should_stop)
    if surface is None:
        return {}  # cancelled: the task marks the artifact so
    return surface_payload(config.label, surface, grid, seed, min(n, len(data.y_train)))


def interpolation_task(progress: Progress, should_stop: ShouldStop, *, weights: str,
                       steps: int = T_STEPS, n: int = SUBSET_SIZE) -> dict[str, Any]:
    """Task target (``resnet.lab.surfaces.CURVES``): the loss from a run's initial weights (rebuilt from its config) to its final ones."""
    config, model, data = _run_models(weights)
    ts = interpolation_ts(steps)
    losses = interpolate(build_model(config, data), model, training_subset(data, n), ts, progress, should_stop)
    if losses is None:
        return {}
    return interpolation_payload(config.label, ts, losses, min(n, len(data.y_train)))


# ---------------------------------------------------------------------------------
# The shipped pair: the Degradation preset's ResNet-56 and plain-56
# ---------------------------------------------------------------------------------


def _compact(payload: dict[str, Any]) -> dict[str, Any]:
    out = dict(payload)
    if "loss" in out:
        out["loss"] = [[rounded(v) for v in row] if isinstance(row, list) else rounded(row) for row in out["loss"]]
    if out.get("center") is not None:
        out["center"] = rounded(out["center"])
    return out


def make_shipped(out: Path = SHIPPED_FILE, size: int = SHIPPED_SIZE, seed: int = 0) -> Path:
    """Train the shipped pair with the lab's loop, then write their surfaces and curves to ``out``.

    Measured on 2 cores shared with other jobs (load average 15–80): 1,145 s in all, training
    153 s (ResNet-56) and 341 s (plain-56), each 21×21 surface with its curve 167 s and 477 s.
    """
    runs = []
    data = load_dataset("digits", image_size=BASE.image_size)
    subset = training_subset(data)
    grid = Grid(size)
    with tempfile.TemporaryDirectory(prefix="resnet_landscape_") as tmp:
        for config in SHIPPED_CONFIGS:
            start = time.perf_counter()
            result = train(config, data=data, save_weights=Path(tmp) / f"{config.depth}_{config.shortcut}.safetensors")
            if result.status != "done" or result.weights is None:
                raise RuntimeError(f"{config.label} ended {result.status}")
            model = load_trained(result.weights).model
            print(f"{config.label}: trained in {time.perf_counter() - start:.0f} s, final train loss {result.final_train_loss:.3f}", flush=True)
            start = time.perf_counter()
            program = LossProgram(model, subset)
            surface = loss_surface(model, subset, grid, seed, program=program)
            ts = interpolation_ts()
            losses = interpolate(build_model(config, data), model, subset, ts, program=program)
            assert surface is not None and losses is not None  # nothing asks them to stop
            print(f"{config.label}: surface {size}×{size} + curve in {time.perf_counter() - start:.0f} s, "
                  f"centre {surface[size // 2, size // 2]:.4f}, edge mean {edge_mean(surface):.4f}", flush=True)
            runs.append({
                "label": config.label, "config": asdict(config.canonical()),
                "surface": _compact(surface_payload(config.label, surface, grid, seed, subset.n)),
                "interpolation": _compact(interpolation_payload(config.label, ts, losses, subset.n)),
            })
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"format": FORMAT, "regenerate": "python -m resnet.lab landscape", "runs": runs},
                              separators=(",", ":")) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet.lab landscape",
                                     description="Train the Degradation preset's ResNet-56 and plain-56; write their loss landscapes.")
    parser.add_argument("--size", type=int, default=SHIPPED_SIZE, help="grid points a side (default 21)")
    parser.add_argument("--out", type=Path, default=SHIPPED_FILE)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = make_shipped(args.out, args.size)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB) in {time.perf_counter() - start:.0f} s")
    return 0
