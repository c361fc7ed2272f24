"""What one lesion study measured, and how sure it is: the record ``resnet.inference.ablation`` fills.

No Paddle: the Why page and the figures read the shipped studies with it. Besides each
accuracy, a study keeps the per-image outcomes (which test images were classified right)
of the intact net and of every single-block deletion, so that each deletion's change of
accuracy carries its paired, exact 95 % interval (McNemar, ``resnet.stats``): on the same
test images only the images the two nets disagree on count. A deletion "hurts" only when
that interval excludes 0; otherwise its change is within noise.

Outcomes are stored packed, in test-set order, as ``resnet.lab.config.pack_correct`` packs
them (hex of ``numpy.packbits``, most significant bit first; the lab layer sits above this
one, so the format is written here again and tests/inference/test_ablation.py checks the two agree).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ..stats import Interval, paired_difference, wilson


def pack(right: Sequence[bool] | np.ndarray) -> str:
    """Per-image outcomes (True: classified right) as hex, ``resnet.lab.config.pack_correct``'s format."""
    return np.packbits(np.asarray(right, dtype=bool)).tobytes().hex()


def unpack(text: str, n: int) -> list[bool]:
    """``pack``'s outcomes of ``n`` images back; ``ValueError`` if ``text`` does not hold exactly n."""
    data = np.frombuffer(bytes.fromhex(text), dtype=np.uint8)
    if len(data) != (n + 7) // 8:
        raise ValueError(f"{len(data)} bytes of outcomes do not hold {n} images")
    return np.unpackbits(data)[:n].astype(bool).tolist()


class BlockDeletion(NamedTuple):
    """Test accuracy with one block deleted, and which test images it still gets right."""

    name: str  # "layer2.0"
    downsampling: bool  # the block changes the shape (first block of a later stage)
    accuracy: float  # 0…1
    right: str  # per-image outcomes, ``pack``ed


@dataclass(frozen=True)
class RandomDeletions:
    """Test accuracy with ``k`` blocks deleted, over ``trials`` random sets of k blocks."""

    k: int
    mean: float
    min: float
    max: float
    trials: int


class Verdict(NamedTuple):
    """One deletion against the intact net on the same test images."""

    block: BlockDeletion
    delta: Interval  # accuracy deleted − intact, with its paired 95 % interval (fractions)

    @property
    def beyond_noise(self) -> bool:
        return self.delta.excludes_zero


@dataclass(frozen=True)
class LesionStudy:
    """Veit et al.'s lesion study of one trained model, as the figures draw it."""

    label: str  # "ResNet-56", "plain-20"
    baseline: float  # accuracy with nothing deleted
    chance: float  # 1 / number of classes
    blocks: list[BlockDeletion]
    random: list[RandomDeletions]
    test_images: int  # how many held-out images every accuracy is measured on
    baseline_right: str  # the intact net's per-image outcomes, ``pack``ed

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``from_dict`` reads them back)."""
        return {**asdict(self), "blocks": [b._asdict() for b in self.blocks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LesionStudy":
        """The study ``to_dict`` wrote; ``KeyError``/``TypeError`` if a field is missing or wrong,
        ``ValueError`` if an accuracy is not its outcomes' count (a record from before outcomes were kept, or edited)."""
        n = int(data["test_images"])
        study = cls(
            label=str(data["label"]), baseline=float(data["baseline"]), chance=float(data["chance"]),
            blocks=[BlockDeletion(str(b["name"]), bool(b["downsampling"]), float(b["accuracy"]), str(b["right"]))
                    for b in data["blocks"]],
            random=[RandomDeletions(int(r["k"]), float(r["mean"]), float(r["min"]), float(r["max"]), int(r["trials"]))
                    for r in data["random"]],
            test_images=n, baseline_right=str(data["baseline_right"]),
        )
        for accuracy, right in [(study.baseline, study.baseline_right), *((b.accuracy, b.right) for b in study.blocks)]:
            if sum(unpack(right, n)) / n != accuracy:
                raise ValueError(f"an accuracy of {accuracy} is not its outcomes' count out of {n}")
        return study

    @property
    def baseline_interval(self) -> Interval:
        """The intact net's accuracy with its 95 % Wilson interval."""
        return wilson(sum(unpack(self.baseline_right, self.test_images)), self.test_images)

    def verdicts(self) -> list[Verdict]:
        """Every single-block deletion against the intact net, in network order."""
        intact = unpack(self.baseline_right, self.test_images)
        return [Verdict(b, paired_difference(intact, unpack(b.right, self.test_images))) for b in self.blocks]

    @property
    def worst(self) -> BlockDeletion:
        """The single deletion that costs the most accuracy (the first in network order on a tie)."""
        return min(self.blocks, key=lambda b: b.accuracy)

    def harmless(self) -> BlockDeletion | None:
        """The deletion the study is surest changes nothing: within noise, the narrowest interval, then the
        smallest change, then the latest block (the furthest from the stem's features); None if every one hurts."""
        quiet = [(v.delta.high - v.delta.low, abs(v.delta.value), -i, v.block)
                 for i, v in enumerate(self.verdicts()) if not v.beyond_noise]
        return min(quiet, key=lambda q: q[:3])[3] if quiet else None


def study_record(label: str, chance: float, blocks: Sequence[tuple[str, bool]], right: np.ndarray,
                 random: list[RandomDeletions]) -> LesionStudy:
    """A study from its per-image outcomes: ``right`` [1 + blocks, N] bool, the intact net first, then each block deleted."""
    right = np.asarray(right, dtype=bool)
    n = right.shape[1]
    accs = right.sum(axis=1) / n
    return LesionStudy(
        label=label, baseline=float(accs[0]), chance=chance,
        blocks=[BlockDeletion(name, down, float(a), pack(r)) for (name, down), a, r in zip(blocks, accs[1:], right[1:])],
        random=random, test_images=n, baseline_right=pack(right[0]),
    )


__all__ = ["pack", "unpack", "BlockDeletion", "RandomDeletions", "Verdict", "LesionStudy", "study_record"]
