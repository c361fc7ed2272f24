"""The shipped reference runs (assets/reference_runs) still show what each preset is about.

Read straight from the JSON files (``python -m resnet.lab reference`` writes them), so a
regeneration that loses an effect fails here, and the numbers the page quotes are checked
against the runs they come from. No Paddle, no training.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from resnet.i18n import LANGS, catalog
from resnet.lab.config import config_key
from resnet.lab.presets import PRESETS, reference_path

CHANCE = math.log(10)  # the loss of a uniform guess over ten digits


def runs(key: str) -> dict[str, dict]:
    """A preset's reference runs by label."""
    return {run["label"]: run for run in json.loads(reference_path(key).read_text())["runs"]}


def final_loss(run: dict) -> float:
    return run["result"]["final_train_loss"]


@pytest.mark.parametrize("key", list(PRESETS))
def test_each_file_holds_its_presets_runs_with_their_labels(key):
    stored = runs(key)
    assert [json.loads(config_key(c)) for c in PRESETS[key].configs] == [run["config"] for run in stored.values()]
    assert list(stored) == [c.label for c in PRESETS[key].configs]
    for run in stored.values():
        assert run["status"] == "done" and len(run["metrics"]["step"]) == run["config"]["steps"]
        if run["config"]["depth"] == 56 and run["config"]["shortcut"] != "none":
            assert run["config"]["downsample"] == "pad"  # the paper's option A (He et al. 2015, Sec. 4.2)


def test_degradation_plain_56_trains_worse_than_plain_20_and_shortcuts_end_it():
    """He et al. 2015, Fig. 1 and Fig. 6: the deeper plain net has the higher *training* loss."""
    stored = {label: final_loss(run) for label, run in runs("degradation").items()}
    assert stored["plain-56"] > stored["plain-20"] + 1.0
    assert stored["plain-56"] > 0.9 * CHANCE  # it hardly left chance in 120 steps
    # with shortcuts depth stops hurting: both ResNets end far below plain-56 (a last step's
    # loss on 64 images is noisy: the 56-layer one ended at 0.06 or 0.18 in two regenerations)
    assert stored["ResNet-56 A"] < 0.1 * stored["plain-56"] and stored["ResNet-20 A"] < 0.1 * stored["plain-56"]


def test_why_not_2x_lambda_2_explodes_at_initialisation_then_sits_at_chance():
    stored = runs("why_not_2x")
    exploded = stored["ResNet-56 A λ=2"]
    step1 = exploded["metrics"]["train_loss"][0]  # computed before the first update
    assert step1 > 20 * CHANCE
    assert exploded["stuck_at_chance"]
    tail = exploded["metrics"]["train_loss"][-50:]
    assert abs(sum(tail) / len(tail) - CHANCE) < 0.05 * CHANCE
    assert final_loss(stored["ResNet-56 A"]) < 0.1 * CHANCE  # λ = 1 trains
    assert final_loss(stored["ResNet-56 λ=0"]) > 0.8 * CHANCE  # λ = 0, a plain net, barely learns
    assert 0.3 * CHANCE < final_loss(stored["ResNet-56 A λ=0.5"]) < 0.8 * CHANCE  # learns, slowly
    assert not any(run["stuck_at_chance"] for label, run in stored.items() if label != "ResNet-56 A λ=2")
    # the page quotes this step-1 loss: it must be the one in the file
    for lang in LANGS:
        text = catalog(lang)["lab.preset.why_not_2x.question"]
        assert re.search(rf"\b{round(step1)}\b", text), lang


def test_resnet50_topology_trains_with_shortcuts_and_not_without():
    stored = {label: final_loss(run) for label, run in runs("resnet50_shortcut").items()}
    assert stored["ResNet-50 w8"] < 0.2 * CHANCE < 0.5 * CHANCE < stored["plain-50 w8"]

