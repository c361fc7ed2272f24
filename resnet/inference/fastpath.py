"""The fast path: ``forward_features`` from a static program run by Paddle's predictor.

    features = fast_forward_features(model, x)   # a FastFeatures, which is a Features
    features.backend   # "predictor", or "dygraph" when the fast path is unavailable
    features.notice    # why, in that case (None when all is well)

How: a thin wrapper calls ``model.forward_features`` and flattens the result into one
list of tensors; ``paddle.jit.to_static`` + ``paddle.jit.save`` turn that into a PIR
program with a dynamic ``[N, C, H, W]`` input (one program serves every batch and image
size; measured as fast as a fixed-shape export), and ``paddle.inference`` runs it with
oneDNN (BatchNorm folded into the convs, fused conv kernels) on every core we may use.
Before a program is used, a build-time self-check compares it with the dygraph path on a
small input; any disagreement or error means the dygraph path, with a notice.

The contract, the same whichever backend ran:

- inference semantics: BatchNorm uses its running statistics and no gradients are
  recorded, as ``model.eval()`` under ``paddle.no_grad()``; the model's own mode is
  left as it was;
- every tensor is a CPU ``paddle.Tensor`` owned by the caller (``.numpy()`` works);
  ``blocks[i].x`` is the same tensor as ``blocks[i - 1].out`` (``stem`` for block 0);
- ``BlockTrace.mid`` is empty: the fast path returns x, F(x), λ·s(x) and the output;
- ablations (``drop_blocks``, ``shortcuts_off``) run on the dygraph path: exporting a
  program per ablation takes seconds, one dygraph forward a fraction of a second.

Programs are cached on disk under ``data_home()/programs`` (or ``cache_dir``), one
directory per (model config, weights digest, Paddle version), and the predictors in
memory. ``fast_forward_features`` notices weight changes (training, a loaded state dict)
with a cheap sampled fingerprint and rebuilds; a ``FastModel`` is a snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle import inference, nn
from paddle.static import InputSpec

from ..model.modes import at_rest, ensure_dygraph, eval_mode, exporting
from ..model.network import MIN_IMAGE_SIZE, BlockTrace, Features, ResNet
from ..paths import PROGRAM_SUBDIR, data_home
from ..system import usable_cores as cpu_threads  # the predictor's threads: every core we may use

# What one forward pass may be given: it returns every block's tensors, so these bound
# its memory.
IMAGE_SIZE_RANGE = (MIN_IMAGE_SIZE, 512)
BATCH_RANGE = (1, 64)
TOLERANCE = 1e-3  # max |fast − dygraph| / max |dygraph|, per returned tensor
MAX_DISK_PROGRAMS = 6  # each directory holds a copy of the weights (ResNet-50: 100 MB)
MAX_MEMORY_MODELS = 3  # each predictor holds its own oneDNN-folded copy of the weights
EXPORT_FORMAT = 2  # bump when the program's outputs change, so old exports are not reused
CHECK_SIZE = 64  # image size of the build-time self-check
ABLATION_NOTICE = "Ablations (dropped blocks, shortcuts off) run on the dygraph path."

Input = paddle.Tensor | np.ndarray

_log = logging.getLogger(__name__)


@dataclass
class FastFeatures(Features):
    """``Features`` plus which path produced them and why, if it was not the fast one."""

    backend: str = "predictor"  # "predictor" | "dygraph"
    notice: str | None = None


def as_input(x: Input, in_channels: int) -> paddle.Tensor:
    """``x`` as a float32 CPU tensor [N, C, H, W]; ``ValueError`` outside the bounds."""
    if not isinstance(x, (paddle.Tensor, np.ndarray)):
        raise TypeError(f"x must be a paddle.Tensor or a numpy array, got {type(x).__name__}")
    shape = [int(d) for d in x.shape]
    if len(shape) != 4:
        raise ValueError(f"x must be an image batch [N, C, H, W], got shape {shape}")
    n, c, h, w = shape
    lo, hi = BATCH_RANGE
    if not lo <= n <= hi:
        raise ValueError(f"batch size must be in {lo}..{hi}, got {n}")
    if c != in_channels:
        raise ValueError(f"the model takes {in_channels} input channels, x has {c}")
    lo, hi = IMAGE_SIZE_RANGE
    if not (lo <= h <= hi and lo <= w <= hi):
        raise ValueError(f"image height and width must be in {lo}..{hi}, got {h}×{w}")
    if isinstance(x, np.ndarray):
        return paddle.to_tensor(np.ascontiguousarray(x, dtype=np.float32), place=paddle.CPUPlace())
    return x if x.dtype == paddle.float32 else x.astype("float32")


def max_relative_difference(a: Features, b: Features) -> float:
    """The largest max|a − b| / max|b| over every tensor the two results return."""

    def tensors(f: Features) -> list[paddle.Tensor]:
        flat = [f.logits, f.pooled, f.stem]
        for block in f.blocks:
            flat += [block.x, block.residual, block.shortcut, block.out]
        return flat

    worst = 0.0
    for ta, tb in zip(tensors(a), tensors(b), strict=True):
        na, nb = ta.numpy().astype(np.float64), tb.numpy().astype(np.float64)
        if na.shape != nb.shape:
            return float("inf")
        worst = max(worst, float(np.abs(na - nb).max() / max(np.abs(nb).max(), 1e-12)))
    return worst


# ---------------------------------------------------------------------------------
# What the program returns: logits, pooled, stem, then per block residual and out, and
# the shortcut term unless it is x itself. A block's x is the previous block's out (or
# the stem), and an identity shortcut (λ = 1, shape unchanged) is x, bit for bit: leaving
# those out saves a layout conversion and a copy per tensor (measured: 57 → 52 ms for
# ResNet-50 at 224 on 2 cores). Option A's subsample + zero-pad is not x: it is returned.
# ---------------------------------------------------------------------------------


def _shortcut_is_x(model: ResNet) -> list[bool]:
    return [block.shortcut_kind == "identity" and block.scale == 1.0 for _, block in model.named_blocks()]


def _flatten(features: Features, shortcut_is_x: list[bool]) -> list[paddle.Tensor]:
    flat = [features.logits, features.pooled, features.stem]
    for block, is_x in zip(features.blocks, shortcut_is_x, strict=True):
        flat += [block.residual, block.out] if is_x else [block.residual, block.out, block.shortcut]
    return flat


def _unflatten(flat: list[paddle.Tensor], names: list[str], shortcut_is_x: list[bool], notice: str | None) -> FastFeatures:
    logits, pooled, stem = flat[:3]
    rest = iter(flat[3:])
    blocks, x = [], stem
    for name, is_x in zip(names, shortcut_is_x, strict=True):
        residual, out = next(rest), next(rest)
        shortcut = x if is_x else next(rest)
        blocks.append(BlockTrace(name, x, residual, shortcut, out))
        x = out
    return FastFeatures(logits=logits, stem=stem, blocks=blocks, pooled=pooled, backend="predictor", notice=notice)


class _Exported(nn.Layer):
    """The layer handed to ``paddle.jit.to_static``: the flat outputs of ``forward_features``."""

    def __init__(self, model: ResNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        return _traced_outputs(self.model, x)


@paddle.jit.not_to_static
def _traced_outputs(model: ResNet, x: paddle.Tensor) -> list[paddle.Tensor]:
    # Runs as plain Python on static variables instead of being rewritten by dy2static's
    # AST pass: the model has no tensor-dependent control flow, and the rewrite is
    # brittle (it fails on forward_features' comprehension over the block names).
    return _flatten(model.forward_features(x), _shortcut_is_x(model))


def _dygraph_features(
    model: ResNet, x: paddle.Tensor, notice: str | None,
    drop_blocks: frozenset[str] | set[str] = frozenset(), shortcuts_off: bool = False,
) -> FastFeatures:
    """The reference path, under the fast path's contract (eval mode, no mids)."""
    with eval_mode(model), paddle.no_grad():
        f = model.forward_features(x, drop_blocks=drop_blocks, shortcuts_off=shortcuts_off)
    blocks = [BlockTrace(b.name, b.x, b.residual, b.shortcut, b.out) for b in f.blocks]
    return FastFeatures(logits=f.logits, stem=f.stem, blocks=blocks, pooled=f.pooled, backend="dygraph", notice=notice)


# ---------------------------------------------------------------------------------
# Weights identity
# ---------------------------------------------------------------------------------


def _state_arrays(model: nn.Layer) -> list[tuple[str, np.ndarray]]:
    # zero-copy views through DLPack: hashing must not copy 100 MB of weights first
    return [(name, np.from_dlpack(t.detach())) for name, t in model.state_dict().items()]


def weights_digest(model: nn.Layer) -> str:
    """SHA-1 of every parameter and buffer (names, shapes, bytes); ~0.1 s for ResNet-50."""
    h = hashlib.sha1()
    for name, array in _state_arrays(model):
        h.update(f"{name}:{array.dtype}:{array.shape};".encode())
        h.update(array.data)
    return h.hexdigest()


def _fingerprint(model: nn.Layer) -> bytes:
    """A cheap per-call change detector (~2 ms for ResNet-50): 32 values of every tensor.

    Training steps and loaded state dicts change every tensor, so they never slip
    through; editing a few scalars by hand could (``FastModel.from_model`` is exact).
    """
    h = hashlib.sha1()
    for _, array in _state_arrays(model):
        flat = array.reshape(-1)
        h.update(flat[:: max(1, flat.size // 32)].tobytes())
    return h.digest()


def program_key(model: ResNet) -> dict[str, Any]:
    """Everything that makes an exported program what it is."""
    return {
        **asdict(model.config),
        "weights": weights_digest(model),
        "paddle": paddle.__version__,
        "format": EXPORT_FORMAT,
    }


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------
# Export and predictor
# ---------------------------------------------------------------------------------

_PROGRAM_FILES = ("model.json", "model.pdiparams")


def _export(model: ResNet, key: dict[str, Any], program_dir: Path) -> None:
    """Write the program into ``program_dir`` atomically (temp dir, then rename)."""
    root = program_dir.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{program_dir.name}-", dir=root))
    try:
        # eval mode: the program must use BatchNorm's running statistics
        with exporting(), eval_mode(model):
            spec = [InputSpec([None, model.config.in_channels, None, None], "float32", "x")]
            paddle.jit.save(paddle.jit.to_static(_Exported(model), input_spec=spec, full_graph=True), str(tmp / "model"))
        (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
        try:
            tmp.rename(program_dir)
        except OSError:
            if not _complete(program_dir):  # else another process exported it meanwhile
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(program_dir: Path) -> bool:
    return all((program_dir / name).is_file() for name in _PROGRAM_FILES)


def _prune(root: Path, keep: Path) -> None:
    """Delete all but the ``MAX_DISK_PROGRAMS`` most recently used programs."""
    programs = [p for p in root.iterdir() if p.is_dir() and (p / "key.json").is_file()]
    programs.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in programs[MAX_DISK_PROGRAMS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _predictor(program_dir: Path, threads: int) -> tuple[inference.Predictor, bool]:
    """A oneDNN predictor for the program, and whether oneDNN is really on."""
    config = inference.Config(*(str(program_dir / name) for name in _PROGRAM_FILES))
    config.enable_onednn()  # without it the predictor is barely faster than dygraph
    config.set_cpu_math_library_num_threads(threads)
    config.switch_ir_optim(True)  # the passes that fold BN into convs and fuse ops
    # (enable_memory_optim is left off: with PIR programs it makes create_predictor fail)
    config.disable_glog_info()
    with at_rest():  # its executor is set up from process-wide flags
        predictor = inference.create_predictor(config)
    return predictor, config.onednn_enabled()


# ---------------------------------------------------------------------------------
# FastModel and the caches
# ---------------------------------------------------------------------------------

_CACHE_LOCK = threading.RLock()  # also serialises exports: to_static is not thread-safe
_MEMORY: OrderedDict[tuple[str, str | None], FastModel] = OrderedDict()
_KNOWN: weakref.WeakKeyDictionary[ResNet, tuple[bytes, str]] = weakref.WeakKeyDictionary()


class FastModel:
    """A model's weights exported and loaded into a predictor, or its dygraph fallback.

    Build with ``FastModel.from_model``. Thread-safe: one run at a time per predictor.
    """

    def __init__(self, model: ResNet, key: dict[str, Any], cache_dir: str | os.PathLike | None, threads: int) -> None:
        self.key = key
        self.digest = _digest(key)
        self.threads = threads
        self.block_names = [name for name, _ in model.named_blocks()]
        self.backend = "dygraph"
        self.notice: str | None = None
        self.onednn = False
        self.program_dir: Path | None = None
        self._model = model  # for the dygraph fallback and for ablations
        self._shortcut_is_x = _shortcut_is_x(model)
        self._predictor: inference.Predictor | None = None
        self._lock = threading.Lock()
        start = time.perf_counter()
        try:
            self._load(cache_dir)
        except Exception as exc:  # whatever broke (disk, export, predictor, check): stay usable
            _log.warning("fast path unavailable for %s", self.digest, exc_info=True)
            self._predictor, self.backend, self.onednn = None, "dygraph", False
            reason = " ".join(str(exc).split())[:300]  # dy2static errors span many lines
            self.notice = f"Fast path unavailable, running the dygraph path instead ({type(exc).__name__}: {reason})"
        self.build_seconds = time.perf_counter() - start

    @classmethod
    def from_model(
        cls, model: ResNet, cache_dir: str | os.PathLike | None = None, *, threads: int | None = None,
    ) -> FastModel:
        """The fast model for ``model``'s current weights: memory, then disk, then export.

        Never raises for an export or predictor problem: the result then has
        ``backend == "dygraph"`` and a ``notice`` saying why.
        """
        if not isinstance(model, ResNet):
            raise TypeError(f"model must be a resnet.model.ResNet, got {type(model).__name__}")
        ensure_dygraph()
        key = program_key(model)
        memory_key = (_digest(key), None if cache_dir is None else str(cache_dir))
        with _CACHE_LOCK:
            if memory_key in _MEMORY:
                _MEMORY.move_to_end(memory_key)
                return _MEMORY[memory_key]
            fast = cls(model, key, cache_dir, threads or cpu_threads())
            _MEMORY[memory_key] = fast
            while len(_MEMORY) > MAX_MEMORY_MODELS:
                _MEMORY.popitem(last=False)
            return fast

    def _load(self, cache_dir: str | os.PathLike | None) -> None:
        root = Path(cache_dir) if cache_dir is not None else data_home() / PROGRAM_SUBDIR
        program_dir = root / self.digest
        if not _complete(program_dir):
            _export(self._model, self.key, program_dir)
            _prune(root, keep=program_dir)
        try:
            os.utime(program_dir)  # recently used: the last to be pruned
        except OSError:
            pass  # a read-only cache still serves its programs
        self._predictor, self.onednn = _predictor(program_dir, self.threads)
        self.program_dir = program_dir
        self.backend = "predictor"
        if not self.onednn:
            self.notice = "oneDNN is not available in this Paddle build: the fast path is barely faster."
        self._self_check()

    def _self_check(self) -> None:
        """Compare with the dygraph path once, on a small input with these weights."""
        c = self.key["in_channels"]
        x = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, c, CHECK_SIZE, CHECK_SIZE), dtype=np.float32))
        difference = max_relative_difference(self._run(x), _dygraph_features(self._model, x, None))
        if not difference < TOLERANCE:
            raise RuntimeError(f"the exported program disagrees with dygraph (relative difference {difference:.2g})")

    def _run(self, x: paddle.Tensor) -> FastFeatures:
        with self._lock, paddle.no_grad():
            # the predictor's outputs are views of buffers that its next run overwrites
            flat = [t.clone() for t in self._predictor.run([x])]
        return _unflatten(flat, self.block_names, self._shortcut_is_x, self.notice)

    def forward_features(
        self, x: Input, *, drop_blocks: frozenset[str] | set[str] = frozenset(), shortcuts_off: bool = False,
    ) -> FastFeatures:
        """``model.forward_features(x)`` in eval mode, by the predictor when possible."""
        ensure_dygraph()
        x = as_input(x, self.key["in_channels"])
        if drop_blocks or shortcuts_off:
            return _dygraph_features(self._model, x, ABLATION_NOTICE, drop_blocks, shortcuts_off)
        if self._predictor is None:
            return _dygraph_features(self._model, x, self.notice)
        return self._run(x)


def fast_model(model: ResNet, cache_dir: str | os.PathLike | None = None) -> FastModel:
    """``FastModel.from_model``, skipping the full weights hash while the weights look unchanged."""
    fingerprint = _fingerprint(model)
    dir_key = None if cache_dir is None else str(cache_dir)
    with _CACHE_LOCK:
        known = _KNOWN.get(model)
        if known is not None and known[0] == fingerprint and (known[1], dir_key) in _MEMORY:
            _MEMORY.move_to_end((known[1], dir_key))
            return _MEMORY[(known[1], dir_key)]
        fast = FastModel.from_model(model, cache_dir)
        _KNOWN[model] = (fingerprint, fast.digest)
        return fast


def fast_forward_features(
    model: ResNet, x: Input, *, drop_blocks: frozenset[str] | set[str] = frozenset(),
    shortcuts_off: bool = False, cache_dir: str | os.PathLike | None = None,
) -> FastFeatures:
    """Drop-in for ``model.forward_features(x)`` (eval mode) by the fastest path available."""
    ensure_dygraph()  # Streamlit script threads can start in static mode
    x = as_input(x, model.config.in_channels)  # bad input fails before any export work
    if drop_blocks or shortcuts_off:
        return _dygraph_features(model, x, ABLATION_NOTICE, drop_blocks, shortcuts_off)
    return fast_model(model, cache_dir).forward_features(x)


def clear_memory_cache() -> None:
    """Forget every loaded predictor (the disk cache stays)."""
    with _CACHE_LOCK:
        _MEMORY.clear()
        _KNOWN.clear()


__all__ = [
    "FastFeatures", "FastModel", "fast_model", "fast_forward_features", "clear_memory_cache",
    "max_relative_difference", "weights_digest", "program_key", "as_input", "cpu_threads",
    "IMAGE_SIZE_RANGE", "BATCH_RANGE", "TOLERANCE", "ABLATION_NOTICE",
]
