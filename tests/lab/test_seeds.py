"""resnet.lab.seeds: summaries of runs over seeds, each helper's arithmetic on synthetic runs."""

from __future__ import annotations

import math

import pytest

from resnet import stats
from resnet.lab.config import pack_correct
from resnet.lab.seeds import (
    TAIL_STEPS, SeedCount, band, by_variant, final_accuracy, near_chance, paired_difference, seed_differences,
    seeds_with, stuck_at_chance, summarise, variant_key,
)
from resnet.stats import wilson

CHANCE = math.log(10)


def _run(seed: int, losses: list, right: list[bool] | None = None, label: str = "plain-56", **config) -> dict:
    result = {"final_train_loss": losses[-1], "final_test_acc": None if right is None else sum(right) / len(right),
              "final_test_correct": None if right is None else pack_correct(right),
              "test_images": None if right is None else len(right)}
    return {"label": label, "status": "done", "stuck_at_chance": False, "result": result,
            "config": {"seed": seed, "dataset": "digits", "data_dir": None, "image_size": 8, **config},
            "metrics": {"step": list(range(1, len(losses) + 1)), "train_loss": losses}}


def test_band_is_the_median_and_range_of_the_runs_at_each_step():
    runs = [_run(0, [3.0, 2.0, 1.0]), _run(1, [1.0, None, 0.5]), _run(2, [2.0, 4.0]), _run(3, [5.0, 0.0, float("inf")])]
    b = band(runs)
    assert b.steps == [1, 2, 3] and b.runs == [4, 3, 2]  # a gap, a short run, an overflow drop out
    assert b.median == [2.5, 2.0, 0.75] and b.low == [1.0, 0.0, 0.5] and b.high == [5.0, 4.0, 1.0]


def test_final_accuracy_carries_its_wilson_interval():
    right = [True] * 340 + [False] * 19
    assert final_accuracy(_run(0, [1.0], right)) == wilson(340, 359)
    assert final_accuracy(_run(0, [1.0])) is None  # a run from before outcomes were recorded


def test_paired_difference_of_two_variants_of_one_seed():
    a = [True] * 300 + [False] * 59
    b = [True] * 290 + [False] * 10 + [True] * 30 + [False] * 29  # 10 lost, 30 gained
    diff = paired_difference(_run(0, [1.0], a), _run(0, [1.0], b, label="ResNet-56 A"))
    assert diff == stats.paired_difference(a, b) and diff.value == pytest.approx(20 / 359) and diff.excludes_zero
    assert seed_differences([_run(0, [1.0], a), _run(1, [1.0], a)], [_run(1, [1.0], b)]) == {1: diff}
    with pytest.raises(ValueError, match="same images"):
        paired_difference(_run(0, [1.0], a), _run(0, [1.0], b, image_size=16))
    with pytest.raises(ValueError, match="per-image"):
        paired_difference(_run(0, [1.0]), _run(0, [1.0]))


def test_k_of_n_seeds_at_chance():
    flat = [CHANCE + 0.05 * (-1) ** i for i in range(TAIL_STEPS)]
    learnt = [0.5] * TAIL_STEPS
    runs = [_run(0, [9.0, *flat]), _run(1, flat), _run(2, learnt), _run(3, flat[:-1])]
    runs[0]["stuck_at_chance"] = True
    assert seeds_with(runs, near_chance) == SeedCount(2, 4)  # the short run has no full tail
    assert seeds_with(runs, stuck_at_chance) == SeedCount(1, 4)
    assert near_chance(_run(0, [math.log(2)] * TAIL_STEPS), num_classes=2)


def test_summary_of_a_variant_leaves_diverged_seeds_out_of_the_numbers_and_counts_them():
    right = [True] * 300 + [False] * 59
    runs = [_run(0, [0.2], right), _run(1, [0.4], right), _run(2, [float("nan")])]
    runs[2]["status"] = "diverged"
    (summary,) = summarise({"plain-56": runs})
    assert summary.seeds == [0, 1, 2] and summary.final_train_loss == (pytest.approx(0.3), 0.2, 0.4)
    assert summary.final_test_acc == 300 / 359 and summary.accuracies == [wilson(300, 359), wilson(300, 359), None]
    assert summary.diverged == SeedCount(1, 3) and summary.stuck == SeedCount(0, 3)


def test_runs_of_one_configuration_at_several_seeds_form_one_variant():
    runs = [_run(2, [1.0]), _run(0, [1.0]), _run(0, [1.0], image_size=16), _run(1, [1.0])]
    grouped = list(by_variant(runs).values())
    assert [[r["config"]["seed"] for r in group] for group in grouped] == [[0, 1, 2], [0]]
    assert grouped[1][0]["config"]["image_size"] == 16
    assert variant_key(runs[0]["config"]) == variant_key(runs[1]["config"]) != variant_key(runs[2]["config"])
