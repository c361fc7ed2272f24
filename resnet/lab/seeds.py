"""Runs over seeds: one seed is an anecdote (DESIGN.md, "Measured claims").

The runs are dicts in the export format (``RunStore.export_run``: the shipped reference
runs, ``resnet.lab.presets.variant_runs``, or a store's exports); the runs of one variant
differ only in the seed (initial weights and batch order), two variants of one seed share
both. No Paddle; numpy and ``resnet.stats``:

    band(runs)                     # median curve with its min–max band over seeds
    final_accuracy(run)            # final test accuracy with its 95 % Wilson interval
    paired_difference(a, b)        # acc_b − acc_a on the same test images, exact McNemar interval
    seeds_with(runs, near_chance)  # "at chance in k of n seeds"
    by_variant(runs)               # live runs of one configuration at several seeds, grouped
    summarise(variant_runs(key))   # all of it, variant by variant
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from .. import stats
from .config import chance_loss, config_key, unpack_correct

# "At chance": the mean of the last TAIL_STEPS training losses (one step's loss on 64 images
# is noisy) within NEAR_CHANCE of ln C, relative.
TAIL_STEPS = 20
NEAR_CHANCE = 0.1


@dataclass(frozen=True)
class Band:
    """A metric over several runs, step by step: the median and the min–max band of the runs
    that have a finite value at that step (``runs``: how many)."""

    steps: list[int]
    median: list[float]
    low: list[float]
    high: list[float]
    runs: list[int]


def band(runs: Sequence[dict], metric: str = "train_loss") -> Band:
    """The median curve of ``metric`` ("train_loss", "test_loss", "test_acc") over ``runs`` and
    its min–max band. Steps where no run has a finite value (test metrics between evaluations)
    are left out; a run that ended early (diverged) drops out of the later steps."""
    by_step: dict[int, list[float]] = {}
    for run in runs:
        for step, value in zip(run["metrics"]["step"], run["metrics"][metric]):
            if value is not None and math.isfinite(value):
                by_step.setdefault(int(step), []).append(float(value))
    steps = sorted(by_step)
    values = [np.asarray(by_step[s]) for s in steps]
    return Band(steps, [float(np.median(v)) for v in values], [float(v.min()) for v in values],
                [float(v.max()) for v in values], [len(v) for v in values])


def correct_images(run: dict) -> list[bool] | None:
    """Which test images the run's final evaluation got right (test-set order); None if not recorded."""
    result = run.get("result") or {}
    if result.get("final_test_correct") is None or not result.get("test_images"):
        return None
    return unpack_correct(result["final_test_correct"], result["test_images"])


def final_accuracy(run: dict) -> stats.Interval | None:
    """The run's final test accuracy with its 95 % Wilson interval (n = its test images); None if not recorded."""
    right = correct_images(run)
    return stats.wilson(sum(right), len(right)) if right is not None else None


def _test_images_of(run: dict) -> tuple[Any, ...]:
    """What fixes a run's test images: the data set, its folder, image size and the number of images."""
    config = run["config"]
    return config["dataset"], config.get("data_dir"), config["image_size"], (run.get("result") or {}).get("test_images")


def paired_difference(run_a: dict, run_b: dict) -> stats.Interval:
    """acc_b − acc_a of two runs on the same test images, with its exact (McNemar) 95 % interval.

    ``ValueError`` if they were not tested on the same images or did not record which they got right.
    """
    if _test_images_of(run_a) != _test_images_of(run_b):
        raise ValueError(f"{run_a['label']} and {run_b['label']} were not tested on the same images")
    right_a, right_b = correct_images(run_a), correct_images(run_b)
    if right_a is None or right_b is None:
        raise ValueError("a run without per-image outcomes cannot be compared image by image")
    return stats.paired_difference(right_a, right_b)


def seed_differences(runs_a: Sequence[dict], runs_b: Sequence[dict]) -> dict[int, stats.Interval]:
    """seed → ``paired_difference(a, b)`` for every seed both variants ran (same weights, same batches)."""
    by_seed = {run["config"]["seed"]: run for run in runs_a}
    return {seed: paired_difference(by_seed[seed], run) for run in runs_b if (seed := run["config"]["seed"]) in by_seed}


def variant_key(config: Mapping[str, Any]) -> str:
    """A stored configuration without its seed: the runs that share it are seeds of one variant."""
    return config_key({name: value for name, value in config.items() if name != "seed"})


def by_variant(runs: Sequence[dict]) -> dict[str, list[dict]]:
    """``runs`` grouped by ``variant_key`` (first seen first), each group ordered by seed: live
    runs of one configuration at several seeds become one band."""
    grouped: dict[str, list[dict]] = {}
    for run in runs:
        grouped.setdefault(variant_key(run["config"]), []).append(run)
    return {key: sorted(group, key=lambda r: r["config"]["seed"]) for key, group in grouped.items()}


class SeedCount(NamedTuple):
    """A qualitative outcome over seeds: it happened in ``k`` of ``n`` runs."""

    k: int
    n: int


def seeds_with(runs: Sequence[dict], outcome: Callable[[dict], bool]) -> SeedCount:
    """In how many of ``runs`` (one per seed) ``outcome`` holds: "stuck at chance in 5 of 5 seeds"."""
    return SeedCount(sum(1 for run in runs if outcome(run)), len(runs))


def stuck_at_chance(run: dict) -> bool:
    """The λ = 2 pattern (``resnet.lab.train.blew_up_then_stuck``): blew up, then sat at ln C."""
    return bool(run["stuck_at_chance"])


def near_chance(run: dict, num_classes: int = 10) -> bool:
    """The run ended at chance level: its last ``TAIL_STEPS`` training losses average within
    ``NEAR_CHANCE`` of ln C (``num_classes``: the digits' ten by default)."""
    tail = [v for v in run["metrics"]["train_loss"][-TAIL_STEPS:] if v is not None and math.isfinite(v)]
    chance = chance_loss(num_classes)
    return len(tail) == TAIL_STEPS and abs(sum(tail) / len(tail) - chance) <= NEAR_CHANCE * chance


@dataclass(frozen=True)
class VariantSummary:
    """One variant of a preset over its seeds, for sentences and tables."""

    label: str
    seeds: list[int]
    final_train_loss: tuple[float, float, float] | None  # median, min, max over the seeds that ended finite
    final_test_acc: float | None  # median over the seeds with an evaluation
    accuracies: list[stats.Interval | None]  # each seed's final test accuracy with its Wilson interval
    stuck: SeedCount  # stuck_at_chance
    at_chance: SeedCount  # near_chance
    diverged: SeedCount  # the loss left the numbers (NaN or inf): the run stopped there


def diverged(run: dict) -> bool:
    """The run stopped at a non-finite training loss (status "diverged")."""
    return run["status"] == "diverged"


def summarise(runs_by_variant: dict[str, list[dict]]) -> list[VariantSummary]:
    """``variant_runs``' groups summarised variant by variant."""
    out = []
    for label, runs in runs_by_variant.items():
        losses = [v for r in runs if (v := r["result"]["final_train_loss"]) is not None and math.isfinite(v)]
        accs = [a for r in runs if (a := r["result"]["final_test_acc"]) is not None]
        out.append(VariantSummary(
            label, [r["config"]["seed"] for r in runs],
            (float(np.median(losses)), min(losses), max(losses)) if losses else None,
            float(np.median(accs)) if accs else None,
            [final_accuracy(r) for r in runs],
            seeds_with(runs, stuck_at_chance), seeds_with(runs, near_chance), seeds_with(runs, diverged),
        ))
    return out
