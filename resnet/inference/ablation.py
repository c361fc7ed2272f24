"""Veit et al. (2016) measured: test accuracy of a trained net after deleting blocks at test time.

Source: Veit, Wilber, Belongie, "Residual Networks Behave Like Ensembles of Relatively
Shallow Networks", NeurIPS 2016, Sec. 4 (Fig. 3 and 5). Deleting a single block from a
trained ResNet (ResNet-110 on CIFAR-10) barely changes its test error, except at the
downsampling blocks; deleting a single layer of VGG (no shortcuts) is catastrophic; and
the error grows smoothly as more and more blocks are deleted.

What "deleting a block" means here (``deleted_output``):

- A block with a shortcut (λ ≠ 0): the paper's definition. The residual module F is
  removed and the shortcut path is kept, out = ReLU(0 + λ·s(x)). For an identity block
  with λ = 1 that is x itself (x is already a ReLU's output). For a downsampling block
  the shortcut is what the model has there and is kept too: option A's subsample +
  zero-pad (parameter-free) or option B's 1×1 conv + BN projection (learned). This is
  ``ResNet.forward_features(drop_blocks=…)``, computed by the same
  ``ResidualBlock.forward_trace(drop_residual=True)``.
- A plain block (λ = 0): there is no shortcut to keep, so the whole block goes and its
  input is handed on to the next block unchanged (out = x), as removing a layer from VGG
  in the paper. Zeroing F there instead would zero the whole signal. A plain block that
  changes the shape (stride 2, more channels) cannot simply be skipped: the next block
  expects the new shape. The least that fits is used, the parameter-free option-A
  stand-in (every 2nd pixel, zero channels appended; He et al. 2015 Sec. 3.3), which is
  x itself wherever the shape is kept.

"Downsampling" blocks are the blocks whose output shape differs from their input's (the
first block of every later stage; in bottleneck nets also layer1.0, whose channels grow
×4): the paper's peaks in Fig. 3(a).

Every accuracy is measured in inference mode (BatchNorm on its running statistics, no
gradients) on a held-out test split, in batches of ``EVAL_BATCH`` images. A deletion set
only recomputes the blocks from its first deleted block on: everything before is shared
with the undeleted pass of the same batch.

This module is the definition, in dygraph, on the model itself. The app measures the same
study on compiled programs (``resnet.lab.lesion``, in a task process), tested equal to this.
What is measured is which test images each deletion set gets right (``outcomes``); a study
keeps those of the intact net and of every single deletion (``resnet.inference.lesion_record``),
so each deletion's change of accuracy has its paired interval.

The random sets are nested: each trial draws one random order of the blocks and deletes
its first k, for every k. Each set is still k distinct blocks drawn uniformly, but the
trials' curves are comparable from one k to the next (common random numbers). With
independent sets per k, a block whose deletion alone is fatal (layer1.0 of the shipped
digits ResNet-56) lands in 3 of 5 sets at one k and in none at the next, and the mean
jumps up and down (measured: 55 % at k = 3, 93 % at k = 4); nested, it enters a trial
once and stays, and the mean falls steadily with k (measured on that net: 98 % at k = 1,
95 % at k = 3, 75 % at k = 5, 16 % at k = 10), as Veit et al. Fig. 3(b) describes.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence

import numpy as np
import paddle

from ..model.modes import ensure_dygraph, eval_mode
from ..model.network import ResidualBlock, ResNet, subsample_pad
from .lesion_record import BlockDeletion, LesionStudy, RandomDeletions, pack, study_record

EVAL_BATCH = 128  # test images per forward pass: measured a little faster than 512 on 2 cores
KS = range(1, 11)  # k blocks deleted at random: the smooth rise of Veit et al. Fig. 3(b)
TRIALS = 5  # random deletion sets per k (nested, see above); bench/lesion.py times a whole study
SEED = 0


class HeldOutSplit(Protocol):
    """Held-out images, preprocessed as in training; ``resnet.lab.data.Dataset`` is one."""

    @property
    def x_test(self) -> np.ndarray: ...  # [N, C, H, W] float32

    @property
    def y_test(self) -> np.ndarray: ...  # [N] integer class labels


def is_downsampling(block: ResidualBlock) -> bool:
    """True if the block changes the shape: stride > 1 or more channels out than in."""
    return block.stride != 1 or block.c_out != int(block.conv1.weight.shape[1])  # conv weight [M, C_in, k, k]


def deleted_output(block: ResidualBlock, x: paddle.Tensor) -> paddle.Tensor:
    """What the network passes on when ``block`` is deleted (see the module docstring)."""
    if block.scale != 0.0:
        return block.forward_trace(x, drop_residual=True)[0]  # ReLU(λ·s(x)): the shortcut path only
    return subsample_pad(x, block.stride, block.c_out)  # plain: no block at all (x, or its option-A reshape)


def outcomes(model: ResNet, data: HeldOutSplit, deletions: Sequence[Iterable[str]]) -> np.ndarray:
    """Which test images each set of named blocks deleted still gets right: [sets, N] bool, in test-set order;
    an empty set deletes nothing."""
    blocks = model.named_blocks()
    index = {name: i for i, (name, _) in enumerate(blocks)}
    sets = [frozenset(d) for d in deletions]
    if unknown := set().union(*sets) - set(index):
        raise ValueError(f"no such block(s) {sorted(unknown)}; blocks are {blocks[0][0]} … {blocks[-1][0]}")
    x_all, y_all = np.asarray(data.x_test), np.asarray(data.y_test)
    if len(y_all) == 0:
        raise ValueError("the test split is empty")
    right = np.zeros((len(sets), len(y_all)), dtype=bool)
    ensure_dygraph()
    with eval_mode(model), paddle.no_grad():
        for start in range(0, len(y_all), EVAL_BATCH):
            y = y_all[start : start + EVAL_BATCH]
            h = model.forward_stem(paddle.to_tensor(x_all[start : start + EVAL_BATCH]))
            inputs = []  # inputs[i]: what block i receives undeleted   [N, C_i, H_i, W_i]
            for _, block in blocks:
                inputs.append(h)
                h = block(h)
            inputs.append(h)  # the last block's output, for the head
            for s, deleted in enumerate(sets):
                first = min((index[n] for n in deleted), default=len(blocks))
                h = inputs[first]
                for name, block in blocks[first:]:
                    h = deleted_output(block, h) if name in deleted else block(h)
                logits = model.forward_head(h)[0]  # [N, num_classes]
                right[s, start : start + len(y)] = logits.argmax(axis=1).numpy() == y
    return right


def accuracies(model: ResNet, data: HeldOutSplit, deletions: Sequence[Iterable[str]]) -> list[float]:
    """Test accuracy (0…1) with each set of named blocks deleted: ``outcomes``' share of images right."""
    right = outcomes(model, data, deletions)
    return (right.sum(axis=1) / right.shape[1]).tolist()


def accuracy(model: ResNet, data: HeldOutSplit) -> float:
    """Test accuracy with nothing deleted."""
    return accuracies(model, data, [()])[0]


def delete_each_block(model: ResNet, data: HeldOutSplit) -> list[BlockDeletion]:
    """Test accuracy after deleting each single block, in network order (Veit et al. Fig. 3a)."""
    blocks = model.named_blocks()
    right = outcomes(model, data, [{name} for name, _ in blocks])
    return [BlockDeletion(name, is_downsampling(block), float(r.sum() / len(r)), pack(r)) for (name, block), r in zip(blocks, right)]


def delete_random_blocks(
    model: ResNet, data: HeldOutSplit, ks: Iterable[int] = KS, trials: int = TRIALS, seed: int = SEED,
) -> list[RandomDeletions]:
    """Accuracy after deleting k random blocks, ``trials`` sets per k (Veit et al. Fig. 3b).

    Each set is k distinct blocks drawn uniformly, the first k of the trial's random order
    of the blocks (nested, see the module docstring); the sets depend only on ``seed``, the
    block count and ``ks``. A k larger than the number of blocks is left out.
    """
    ks, sets = random_sets([name for name, _ in model.named_blocks()], ks, trials, seed)
    return _summarise(ks, trials, accuracies(model, data, sets))


def lesion_study(
    model: ResNet, data: HeldOutSplit, label: str, *, ks: Iterable[int] = KS, trials: int = TRIALS, seed: int = SEED,
) -> LesionStudy:
    """Both of Veit et al.'s measurements for one model, in one pass over the test split.

    Same numbers as ``accuracy``, ``delete_each_block`` and ``delete_random_blocks``.
    """
    ks, sets = study_sets(model, ks, trials, seed)
    return study_from(model, label, ks, trials, outcomes(model, data, sets))


def study_sets(model: ResNet, ks: Iterable[int], trials: int, seed: int) -> tuple[list[int], list[list[str]]]:
    """A lesion study's deletion sets in order: nothing, each block alone (network order), then the random sets k by k;
    and the usable ks."""
    names = [name for name, _ in model.named_blocks()]
    ks, randoms = random_sets(names, ks, trials, seed)
    return ks, [[]] + [[name] for name in names] + randoms


def study_from(model: ResNet, label: str, ks: list[int], trials: int, right: np.ndarray) -> LesionStudy:
    """The study whose ``study_sets`` gave these per-image outcomes ([sets, N] bool), in the same order."""
    blocks = model.named_blocks()
    accs = right.sum(axis=1) / right.shape[1]
    return study_record(label, 1.0 / model.config.num_classes, [(name, is_downsampling(block)) for name, block in blocks],
                        right[: 1 + len(blocks)], _summarise(ks, trials, accs[1 + len(blocks) :].tolist()))


def random_sets(names: list[str], ks: Iterable[int], trials: int, seed: int) -> tuple[list[int], list[list[str]]]:
    """The usable ks (1 ≤ k ≤ blocks) and ``trials`` sets of k distinct names for each, k by k.

    Trial j's set for k is the first k names of its random order ``orders[j]``.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    ks = [k for k in ks if 1 <= k <= len(names)]
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(len(names)) for _ in range(trials)]
    return ks, [[names[i] for i in order[:k]] for k in ks for order in orders]


def _summarise(ks: list[int], trials: int, accs: list[float]) -> list[RandomDeletions]:
    by_k = np.asarray(accs, dtype=np.float64).reshape(len(ks), trials)
    return [RandomDeletions(k, float(a.mean()), float(a.min()), float(a.max()), trials) for k, a in zip(ks, by_k)]


__all__ = [
    "HeldOutSplit", "BlockDeletion", "RandomDeletions", "LesionStudy", "is_downsampling", "deleted_output",
    "outcomes", "accuracies", "accuracy", "delete_each_block", "delete_random_blocks", "lesion_study", "study_sets", "study_from",
    "random_sets",
]
