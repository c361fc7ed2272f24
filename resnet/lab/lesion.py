"""Veit et al.'s lesion study on compiled programs: the numbers of ``resnet.inference.ablation``, computed faster.

    study = lesion_study(model, data, "ResNet-56", progress=…, should_stop=…)   # None when asked to stop

``resnet.inference.ablation`` defines the study (which sets of blocks are deleted, what a
deleted block passes on) and measures it in dygraph; the app measures it here, in a task
process (``resnet.lab.analyses.lesion``), with the same sets, on the same test images,
to the same per-image outcomes (tests/lab/test_lesion.py checks them equal). Two things make it
faster (bench/lesion.py measures both paths):

- **Compiled blocks.** Each block runs as a ``FedProgram`` (``resnet.lab.landscape``): a
  static program with oneDNN kernels and BatchNorm folded into its conv, whose inputs are
  the block's input and its weights. Blocks of one shape share one program; only the fed
  weights differ. The stem and the head (one conv; a pooling and the fc) stay in dygraph.
- **Each distinct computation once.** What block i receives depends only on which blocks
  before it are deleted, so the deletion sets form a tree (a trie of their deleted blocks
  in network order): walked depth first, block i runs once per distinct set of deletions
  before it, not once per set. For ResNet-56's study (78 sets) that is 31 forward passes'
  worth of blocks instead of the 57 the dygraph prefix sharing needs.

What a deleted block passes on (``ablation.deleted_output``), here:

- with a shortcut (λ ≠ 0: identity, option A's pad or option B's projection): the same
  block program with the residual branch's last conv weight and shift (its folded BN)
  fed as zeros. F(x) = conv(h, 0) + 0 = 0 exactly (for finite activations), so the block
  computes ReLU(0 + λ·s(x)), the shortcut path only, with the shortcut's own weights (a
  projection's) untouched. An identity block with λ = 1 then computes ReLU(x) = x (x is a
  ReLU's output): that one is not run, x is passed on as it is;
- plain (λ = 0): no shortcut to keep, ``ablation.deleted_output`` itself (x, or option
  A's stand-in where the shape changes), in dygraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import paddle

from ..inference.ablation import KS, SEED, TRIALS, HeldOutSplit, LesionStudy, deleted_output, study_from, study_sets
from ..model.modes import ensure_dygraph, eval_mode
from ..model.network import ResidualBlock, ResNet
from .landscape import FedProgram, state_arrays
from .tasks import Progress, ShouldStop

# Test images walked through the tree at once: as many as keep one block input within this many
# floats (8 MB). The walk holds up to one pending input per block: a bounded amount for any test split.
CHUNK_FLOATS = 2**21


@dataclass
class _Block:
    """One block as the walk runs it: its program and fed weights, kept and deleted."""

    name: str
    block: ResidualBlock
    program: FedProgram
    kept: dict[str, np.ndarray]  # the program's inputs for the block's own weights
    deleted: dict[str, np.ndarray] | None  # …with F's last conv zeroed; None for a plain block (no shortcut)


class LesionProgram:
    """A trained model's blocks compiled for its test split: ``outcomes(deletion sets)`` as ``ablation.outcomes``."""

    def __init__(self, model: ResNet, data: HeldOutSplit) -> None:
        ensure_dygraph()
        self.model = model
        self.x, self.y = np.ascontiguousarray(data.x_test, dtype=np.float32), np.asarray(data.y_test)
        if len(self.y) == 0:
            raise ValueError("the test split is empty")
        with eval_mode(model), paddle.no_grad():
            shape = self.stem(self.x[:1]).shape[1:]
            self.chunk = max(1, CHUNK_FLOATS // int(np.prod(shape)))  # test images per walk
            programs: dict[tuple, FedProgram] = {}
            self.blocks: list[_Block] = []
            for name, block in model.named_blocks():
                signature = (type(block).__name__, tuple(shape), block.stride, block.c_out, block.shortcut_kind, block.scale)
                if signature not in programs:
                    programs[signature] = FedProgram(block, shape)
                program = programs[signature]
                kept = program.folded(state_arrays(block))
                self.blocks.append(_Block(name, block, program, kept, _zero_residual(program, kept) if block.scale else None))
                shape = block(paddle.zeros([1, *shape])).shape[1:]  # the next block's input shape

    def stem(self, x: np.ndarray) -> np.ndarray:
        """The first block's input for images ``x`` [N, C, H, W] (the model in eval mode)."""
        return self.model.forward_stem(paddle.to_tensor(x)).numpy()

    def outcomes(self, deletions: Sequence[Iterable[str]], progress: Progress | None = None,
                 should_stop: ShouldStop | None = None) -> np.ndarray | None:
        """Which test images each set of named blocks deleted gets right ([sets, N] bool, as ``ablation.outcomes``);
        None when ``should_stop()`` asked to stop.

        ``progress(fraction)`` after every block run.
        """
        index = {b.name: i for i, b in enumerate(self.blocks)}
        sets = [frozenset(d) for d in deletions]
        if unknown := set().union(*sets) - set(index):
            raise ValueError(f"no such block(s) {sorted(unknown)}; blocks are {self.blocks[0].name} … {self.blocks[-1].name}")
        deleted = [frozenset(index[n] for n in s) for s in sets]
        chunks = range(0, len(self.y), self.chunk)
        total, done = _runs(deleted, len(self.blocks)) * len(chunks), 0
        right = np.zeros((len(sets), len(self.y)), dtype=bool)
        ensure_dygraph()
        with eval_mode(self.model), paddle.no_grad():
            for start in chunks:
                y = self.y[start : start + self.chunk]
                # depth first: (block position, its input, the sets whose deletions before it led here)
                stack = [(0, self.stem(self.x[start : start + self.chunk]), list(range(len(sets))))]
                while stack:
                    position, h, members = stack.pop()
                    if position == len(self.blocks):
                        logits = self.model.forward_head(paddle.to_tensor(h))[0]  # [N, num_classes]
                        right[members, start : start + len(y)] = logits.argmax(axis=1).numpy() == y
                        continue
                    for dropped in (True, False):
                        branch = [m for m in members if (position in deleted[m]) == dropped]
                        if not branch:
                            continue
                        if should_stop is not None and should_stop():
                            return None
                        stack.append((position + 1, self._run(position, h, dropped), branch))
                        done += 1
                        if progress is not None:
                            progress(done / total)
        return right

    def accuracies(self, deletions: Sequence[Iterable[str]], progress: Progress | None = None,
                   should_stop: ShouldStop | None = None) -> list[float] | None:
        """Test accuracy (0…1) with each set of named blocks deleted: ``outcomes``' share of images right."""
        right = self.outcomes(deletions, progress, should_stop)
        return None if right is None else (right.sum(axis=1) / right.shape[1]).tolist()

    def _run(self, position: int, h: np.ndarray, dropped: bool) -> np.ndarray:
        """Block ``position``'s output for input ``h``, the block kept or deleted."""
        b = self.blocks[position]
        if not dropped:
            return b.program.run(h, b.kept)
        if b.block.shortcut_kind == "identity" and b.block.scale == 1.0:  # ReLU(0 + x) = x: nothing to run
            return h
        if b.deleted is None:  # plain: the whole block goes (x, or option A's stand-in)
            return deleted_output(b.block, paddle.to_tensor(h)).numpy()
        return b.program.run(h, b.deleted)


def _zero_residual(program: FedProgram, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``inputs`` with the residual branch's last conv (and its folded BN's shift) zero: F(x) = 0 exactly."""
    conv = [c for c, _ in program.folds if not c.startswith("downsample.")][-1]  # conv2 (basic) or conv3 (bottleneck)
    return inputs | {f"{conv}.weight": np.zeros_like(inputs[f"{conv}.weight"]), f"{conv}.shift": np.zeros_like(inputs[f"{conv}.shift"])}


def _runs(deleted: Sequence[frozenset[int]], blocks: int) -> int:
    """How many block runs the walk makes: per block, one per distinct (deletions before it, deleted or not)."""
    return sum(len({(s & frozenset(range(position)), position in s) for s in deleted}) for position in range(blocks))


def lesion_study(
    model: ResNet, data: HeldOutSplit, label: str, *, ks: Iterable[int] = KS, trials: int = TRIALS, seed: int = SEED,
    progress: Progress | None = None, should_stop: ShouldStop | None = None,
) -> LesionStudy | None:
    """``ablation.lesion_study`` on compiled blocks: the same study; None when ``should_stop()`` asked to stop."""
    ks, sets = study_sets(model, ks, trials, seed)
    right = LesionProgram(model, data).outcomes(sets, progress, should_stop)
    return None if right is None else study_from(model, label, ks, trials, right)
