"""The training configuration: coded problems, the one place its rules live (tests/test_layers.py: no Paddle)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import pytest

from resnet.i18n import LANGS, catalog
from resnet.lab.config import (
    CHOICES,
    DATASET_SHAPES,
    LATER_DEFAULTS,
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
from resnet.papers import FIGURE_LETTERS

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
    at_defaults = {k: v for k, v in asdict(TINY.canonical()).items() if LATER_DEFAULTS.get(k, ...) != v}
    assert stored == at_defaults and config_key(stored) == config_key(TINY)
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


# ---------------------------------------------------------------------------------
# He et al. 2016 (Identity Mappings)' variants: unit (Fig. 4), shortcuts (Fig. 2), ρ
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["degradation", "why_not_2x", "resnet50_shortcut"])
def test_runs_stored_before_the_variants_keep_their_keys_and_labels(key):
    """Every run shipped before ``unit`` and ``residual_scale`` existed: its stored configuration, read back
    as a TrainConfig (the new settings at their defaults), has the very key and label it was stored with."""
    from resnet.lab.presets import reference_seed_runs

    for run in reference_seed_runs(key):
        assert "unit" not in run["config"] and "residual_scale" not in run["config"]
        config = TrainConfig.from_dict(run["config"])
        assert (config.unit, config.residual_scale) == ("original", 1.0)
        assert config_key(config) == config_key(run["config"]) and config.label == run["label"]


def test_the_variants_defaults_stay_out_of_the_key_and_the_rest_go_in():
    assert {"unit", "residual_scale"}.isdisjoint(json.loads(config_key(TINY)))
    assert config_key(replace(TINY, unit="original", residual_scale=1)) == config_key(TINY)
    preact = replace(TINY, unit="full_preact")
    assert json.loads(config_key(preact))["unit"] == "full_preact" and config_key(preact) != config_key(TINY)
    both = replace(TINY, shortcut="scaled", scale=0.5, residual_scale=0.5)
    assert json.loads(config_key(both))["residual_scale"] == 0.5
    assert TrainConfig.from_dict(json.loads(config_key(both))) == both.canonical()  # a stored variant reads back


def test_unit_shortcut_and_rho_are_checked_like_every_setting():
    assert [p.code for p in field_problems("unit", "post")] == ["choice"]
    assert [p.code for p in field_problems("shortcut", "highway")] == ["choice"]
    assert field_problems("shortcut", "exclusive_gate") == [] and field_problems("unit", "full_preact") == []
    assert LIMITS["residual_scale"] == LAMBDA_RANGE
    assert [p.code for p in field_problems("residual_scale", 5.0)] == ["range"]
    assert [p.code for p in field_problems("residual_scale", math.nan)] == ["number"]
    assert parse_field("unit", "relu_preact") == "relu_preact" and parse_field("residual_scale", "0.5") == 0.5


@pytest.mark.parametrize("settings, code, field", [
    ({"shortcut": "none", "unit": "full_preact"}, "plain_unit", "unit"),
    ({"shortcut": "scaled", "scale": 0.0, "unit": "bn_after_add"}, "plain_unit", "unit"),
    ({"shortcut": "none", "residual_scale": 0.0}, "no_signal", "residual_scale"),
])
def test_illegal_combinations_get_the_models_coded_refusal_in_both_languages(settings, code, field):
    """resnet.model.plan.variant_problem's rule, checked once when the config is built; the page words it."""
    with pytest.raises(ConfigError) as info:
        replace(TINY, **settings)
    [problem] = info.value.problems
    assert (problem.code, problem.field) == (code, field) and str(problem) == MESSAGES[code].format(**problem.values)
    for lang in LANGS:
        text = catalog(lang)[f"lab.bad.{code}"].format(field="", **problem.values)
        assert "{" not in text and text.strip(), lang


def test_a_bad_unit_is_named_and_not_also_refused_as_a_combination():
    with pytest.raises(ConfigError) as info:
        replace(TINY, shortcut="none", unit="post")
    assert [(p.code, p.field) for p in info.value.problems] == [("choice", "unit")]


VARIANTS = [("unit", u) for u in CHOICES["unit"] if u != "original"] + [
    ("shortcut", s) for s in CHOICES["shortcut"] if s not in ("identity", "none", "scaled")]


@pytest.mark.parametrize("setting, value", VARIANTS)
def test_one_name_per_variant_in_the_url_and_the_label(setting, value):
    """The URL's value names the variant in its run label (legends, run lists, CSV), with He et al. 2016 (Identity
    Mappings)' figure letter as its gloss; the pages' shared texts for it (the form's gloss) carry the same letter."""
    figure, letter = FIGURE_LETTERS[setting][value]
    config = replace(TINY, **{setting: value})
    assert f" {value} (Fig. {figure}{letter})" in config.label
    assert TrainConfig.from_dict({setting: parse_field(setting, value)}).label.endswith(f"{value} (Fig. {figure}{letter})")
    for lang, fig in (("en", "Fig. "), ("zh", "图 ")):
        assert f"{fig}{figure}{letter}" in catalog(lang)[f"variant.{setting}.{value}"], lang


def test_the_lambda_shortcuts_and_the_original_unit_keep_their_names():
    assert [c.label for c in PRESETS["why_not_2x"].configs] == ["ResNet-56 λ=0", "ResNet-56 A λ=0.5", "ResNet-56 A",
                                                               "ResNet-56 A λ=2"]
    assert replace(TINY, shortcut="scaled", scale=0.5, residual_scale=0.5).label == "ResNet-20 A λ=0.5 ρ=0.5 w4"


def test_a_1x1_conv_on_every_shortcut_has_no_stage_start_option():
    """Fig. 2(e)'s conv is on every shortcut, the stage starts' too: option A or B changes nothing."""
    conv = replace(TINY, shortcut="conv1x1")
    assert config_key(conv) == config_key(replace(conv, downsample="conv")) == config_key(replace(conv, downsample="pad"))
    assert conv.label == "ResNet-20 conv1x1 (Fig. 2e) w4"


@pytest.mark.parametrize("settings", [
    {"depth": 20, "width": 4, "unit": "full_preact"},
    {"depth": 20, "width": 4, "unit": "bn_after_add", "shortcut": "exclusive_gate"},
    {"depth": 20, "width": 4, "unit": "relu_preact", "shortcut": "shortcut_gate", "downsample": "conv"},
    {"depth": 20, "width": 4, "shortcut": "conv1x1"},
    {"depth": 20, "width": 4, "unit": "relu_before_add", "shortcut": "dropout"},
    {"depth": 50, "width": 8, "stem": "imagenet", "unit": "full_preact", "shortcut": "conv1x1"},
])
def test_memory_estimate_counts_each_variants_own_parameters(settings):
    """The plan's count for the variants' layers (gates with their bias, shortcut convs, pre-activation BNs of
    the conv's input, full pre-activation's final BN and its stem without one) is the built network's."""
    from resnet.model.network import resnet

    config = TrainConfig(**settings)
    channels, classes = DATASET_SHAPES[config.dataset]
    net = resnet(config.depth, num_classes=classes, shortcut=config.shortcut, scale=config.scale, unit=config.unit,
                 residual_scale=config.residual_scale, width=config.width, in_channels=channels, stem=config.stem,
                 downsample=config.downsample_kind)
    assert estimate_memory(config).parameters == sum(int(v.size) for v in net.state_dict().values())
