"""The training configuration: coded problems, the one place its rules live (tests/test_layers.py: no Paddle)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import pytest

from resnet.i18n import LANGS, catalog
from resnet.lab.config import (
    DATASET_SHAPES,
    LIMITS,
    MEMORY_BUDGET_MB,
    MESSAGES,
    ConfigError,
    TrainConfig,
    batch_problem,
    config_key,
    estimate_memory,
    field_problems,
    parse_field,
    upgrade_stored,
)

from resnet.lab.presets import PRESETS
from resnet.model.spec import LAMBDA_RANGE

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=3, eval_every=2, seed=3)


def test_every_problem_at_once_with_codes_and_values():
    with pytest.raises(ConfigError) as info:
        replace(TINY, steps=0, batch_size=1, lr=50.0, shortcut="scaled", scale=math.inf)
    problems = {p.field: p for p in info.value.problems}
    assert set(problems) == {"steps", "batch_size", "lr", "scale"}
    assert (problems["steps"].code, dict(problems["steps"].values)) == ("range", {"low": 1, "high": 20_000, "value": 0})
    assert problems["lr"].values == {"low": 1e-6, "high": 10.0, "value": 50.0}
    assert problems["scale"].code == "number" and str(problems["scale"]) == "λ (scale) must be a finite number, got inf"
    assert info.value.code == "config" and info.value.values["problems"] == info.value.problems
    # eval_every ≤ steps is only judged against a valid number of steps
    assert "eval_every" not in problems


def test_rules_between_settings():
    with pytest.raises(ConfigError) as info:
        replace(TINY, eval_every=60, warmup_steps=4)
    assert [(p.code, p.field, p.values["steps"]) for p in info.value.problems] == [
        ("upto_steps", "eval_every", 3), ("upto_steps", "warmup_steps", 3)]
    with pytest.raises(ConfigError) as info:
        replace(TINY, stem="imagenet", dataset="folder")
    assert [p.code for p in info.value.problems] == ["stem", "no_folder"]


def test_lambda_within_the_range_that_teaches():
    """−1…4 (resnet.model.spec.LAMBDA_RANGE): λ = 1e308 and λ = −5 were trained without a word."""
    assert LIMITS["scale"] == LAMBDA_RANGE == (-1.0, 4.0)
    for lam in (-1.0, 0.0, 0.5, 2.0, 4.0):
        assert replace(TINY, shortcut="scaled", scale=lam).scale == lam
    for lam in (1e308, -5.0, 4.01):
        with pytest.raises(ConfigError) as info:
            replace(TINY, shortcut="scaled", scale=lam)
        [problem] = info.value.problems
        assert (problem.code, problem.field, problem.values["low"], problem.values["high"]) == ("range", "scale", -1.0, 4.0)
    assert str(field_problems("scale", 1e308)[0]) == "λ (scale) must be between -1 and 4, got 1e+308"
    for lam in (math.nan, math.inf, "2", True):
        assert [p.code for p in field_problems("scale", lam)] == ["number"]


def test_one_setting_on_its_own():
    assert field_problems("steps", LIMITS["steps"][1]) == []
    assert [p.code for p in field_problems("steps", 2.5)] == ["whole"]
    assert [p.code for p in field_problems("depth", 21)] == ["choice"]
    assert [p.code for p in field_problems("shortcut", "double")] == ["choice"]
    assert [p.code for p in field_problems("eval_every", 0)] == ["range"]
    assert parse_field("depth", "56") == 56 and parse_field("scale", "0.5") == 0.5 and parse_field("dataset", "x") == "x"
    with pytest.raises(ValueError):
        parse_field("steps", "many")


def test_batch_against_the_data():
    assert batch_problem(64, 64) is None
    problem = batch_problem(64, 40)
    assert problem.code == "batch_vs_data" and str(problem) == "batch_size 64 exceeds the 40 training images"


def test_config_key_of_a_config_and_of_its_stored_dict_agree():
    stored = json.loads(config_key(TINY))
    assert stored == asdict(TINY.canonical()) and config_key(stored) == config_key(TINY)
    assert TrainConfig.from_dict(stored) == TINY.canonical()


def test_every_problem_code_has_a_text_in_both_languages():
    for lang in LANGS:
        texts = catalog(lang)
        assert [code for code in MESSAGES if f"lab.bad.{code}" not in texts] == [], lang
        assert [name for name in asdict(TINY) if f"lab.field.{name}" not in texts] == [], lang


def test_downsample_defaults_by_depth_and_is_checked_once():
    """Option A (zero-pad) for the CIFAR depths, as He et al. 2015 Sec. 4.2; option B (projection) for ImageNet's."""
    assert TINY.downsample is None and TINY.downsample_kind == "pad" and TINY.canonical().downsample == "pad"
    resnet50 = TrainConfig(depth=50, width=8)
    assert resnet50.downsample_kind == "conv" and resnet50.canonical().downsample == "conv"
    assert replace(TINY, downsample="conv").canonical().downsample == "conv"
    assert replace(resnet50, downsample="pad").downsample_kind == "pad"
    with pytest.raises(ConfigError) as info:
        replace(TINY, downsample="zero")
    assert [(p.code, p.field) for p in info.value.problems] == [("choice", "downsample")]
    assert field_problems("downsample", None) == [] and parse_field("downsample", "conv") == "conv"


def test_option_a_and_option_b_are_different_runs_with_different_labels():
    a, b = TrainConfig(depth=56), TrainConfig(depth=56, downsample="conv")
    assert config_key(a) != config_key(b) and config_key(a) == config_key(replace(a, downsample="pad"))
    assert (a.label, b.label) == ("ResNet-56 A", "ResNet-56 B")
    assert replace(a, shortcut="scaled", scale=2.0).label == "ResNet-56 A λ=2"
    # a net without shortcuts has no stage-start shortcut either: one run, whatever the setting says
    for plain in (replace(a, shortcut="none"), replace(a, shortcut="scaled", scale=0.0)):
        assert config_key(plain) == config_key(replace(plain, downsample="conv")) and " A" not in plain.label
    assert TrainConfig(depth=50, width=8).label == "ResNet-50 w8"  # the ImageNet default (B) goes unsaid
    assert TrainConfig(depth=50, width=8, downsample="pad").label == "ResNet-50 A w8"


def test_configs_stored_before_downsample_existed_read_as_option_b():
    """Before the setting, every run was built with projections (option B): no old run passes for option A."""
    old = {k: v for k, v in json.loads(config_key(replace(TINY, depth=56))).items() if k != "downsample"}
    upgraded = upgrade_stored(old)
    assert upgraded["downsample"] == "conv" and TrainConfig.from_dict(upgraded).label == "ResNet-56 B w4"
    assert config_key(upgraded) == config_key(replace(TINY, depth=56, downsample="conv"))
    plain = upgrade_stored({**old, "shortcut": "none"})
    assert config_key(plain) == config_key(replace(TINY, depth=56, shortcut="none"))  # the same net either way
    current = json.loads(config_key(TINY))
    assert upgrade_stored(current) == current


def test_a_run_over_the_memory_budget_is_refused_with_the_budget():
    """lab?depth=152&width=128&batch=1024&size=256&steps=20000 made the worker allocate 32 GB."""
    with pytest.raises(ConfigError) as info:
        TrainConfig(depth=152, width=128, batch_size=1024, image_size=256, steps=20_000, stem="imagenet")
    [problem] = info.value.problems
    assert problem.code == "memory" and problem.values["budget_mb"] == MEMORY_BUDGET_MB
    assert problem.values["need_mb"] > 100 * MEMORY_BUDGET_MB
    assert f"the limit is {MEMORY_BUDGET_MB} MB" in str(problem)
    for lang in LANGS:
        assert str(MEMORY_BUDGET_MB) in catalog(lang)["lab.bad.memory"].format(**problem.values)


@pytest.mark.parametrize("settings", [
    {"depth": 56, "width": 16},
    {"depth": 20, "width": 4, "shortcut": "none"},
    {"depth": 20, "width": 4, "shortcut": "scaled", "scale": 0.0, "downsample": "conv"},
    {"depth": 18, "width": 8, "stem": "imagenet", "dataset": "ichallenge_pm", "data_dir": "x"},
    {"depth": 50, "width": 8, "stem": "imagenet", "downsample": "pad"},
    {"depth": 34, "width": 8, "stem": "imagenet", "downsample": "conv", "shortcut": "scaled", "scale": 2.0},
])
def test_memory_estimate_counts_the_networks_own_parameters(settings):
    """Without Paddle, the same count as every value of the built network's state dict
    (weights, biases, BatchNorm's γ, β and running statistics)."""
    from resnet.model.network import resnet  # Paddle: only this test, to check the Paddle-free count

    config = TrainConfig(**settings)
    channels, classes = DATASET_SHAPES[config.dataset]
    net = resnet(config.depth, num_classes=classes, shortcut=config.shortcut, scale=config.scale, width=config.width,
                 in_channels=channels, stem=config.stem, downsample=config.downsample_kind)
    assert estimate_memory(config).parameters == sum(int(v.size) for v in net.state_dict().values())


def test_memory_estimate_grows_with_the_batch_and_the_presets_fit():
    base = TrainConfig(depth=56, width=16, batch_size=64, image_size=8)
    assert estimate_memory(replace(base, batch_size=128)).activations == 2 * estimate_memory(base).activations
    assert estimate_memory(replace(base, image_size=32)).activations > 15 * estimate_memory(base).activations
    assert max(estimate_memory(c).megabytes for p in PRESETS.values() for c in p.configs) < MEMORY_BUDGET_MB / 10
