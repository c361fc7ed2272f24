"""A training run's configuration, its limits and what a run reports, without Paddle.

``TrainConfig`` checks itself when it is built: every setting on its own (type, choice,
range), then the rules between settings. A config that exists is valid, so the session,
the store, the job queue and the training loop take it as it is and check nothing again.
A refusal is a ``ConfigError`` listing every ``Problem``: a stable ``code`` (the page's
catalog key ``lab.bad.<code>``), the setting and the values of its text; ``str()`` is the
English text the CLI prints.

A run must also fit ``MEMORY_BUDGET_MB``: ``estimate_memory`` counts its parameters, their
gradients and momentum, and the activations its batch keeps for the backward pass, from
the architecture alone (no model is built), and a config over the budget is refused
(code ``memory``) before it is queued.

Same config (after ``canonical()``) = same run: ``config_key`` is the store's dedup key.
Settings added after runs were first stored (``unit``, ``residual_scale``: He et al. 2016
(Identity Mappings)) stay out of the key at their default (``LATER_DEFAULTS``), so every
stored run keeps its key, and a new run of an old configuration finds it.
A configuration stored before ``downsample`` existed was trained with option B (1×1 conv
projections, then the only kind): ``upgrade_stored`` reads it so, and the store rewrites
its old rows once, so no old run passes for an option-A one.
Nothing here imports Paddle, so the store, the job queue and the page use it freely.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import CodedError
from ..model.plan import VARIANT_MESSAGES, network_plan, variant_problem
from ..model.spec import (
    BOTTLENECK_CIFAR_DEPTHS, CIFAR_DEPTHS, DOWNSAMPLES, LAMBDA_RANGE, SHORTCUT_VARIANTS, STAGES, STEMS, UNITS,
    DownsampleKind, ShortcutVariant, StemKind, Unit, default_downsample, shortcut_scale,
)
from ..papers import FIGURE_LETTERS

DATASETS = ("digits", "folder", "ichallenge_pm")
# The image size a data set starts at: digits are 8×8 scans; photos (an image folder,
# iChallenge-PM's ~2000 px fundus photos) are shrunk to this many pixels a side.
DEFAULT_IMAGE_SIZE = {"digits": 8, "folder": 32, "ichallenge_pm": 64}
MAX_STEPS = 20_000
# Inclusive bounds of each number on its own; eval_every and warmup_steps are also at most steps.
LIMITS: dict[str, tuple[float, float]] = {
    "steps": (1, MAX_STEPS),
    "batch_size": (2, 1024),  # BatchNorm needs two samples
    "width": (1, 128),
    "image_size": (8, 256),
    "lr": (1e-6, 10.0),
    "scale": LAMBDA_RANGE,  # λ (see resnet.model.spec.LAMBDA_RANGE)
    "residual_scale": LAMBDA_RANGE,  # ρ, on F as λ is on the shortcut: the same range teaches the same
    "momentum": (0.0, 0.999),
    "weight_decay": (0.0, 0.1),
    "seed": (0, 2**31 - 1),
    "eval_every": (1, MAX_STEPS),
    "warmup_steps": (0, MAX_STEPS),
}
CHOICES: dict[str, tuple[Any, ...]] = {
    # He et al. 2015's depths; not (yet) He et al. 2016 (Identity Mappings)' bottleneck ResNet-164/1001 (their
    # variants train here on the basic-block CIFAR nets, ResNet-110 the paper's Table 1 and 2 net among them)
    "depth": tuple(sorted(set(STAGES) - set(BOTTLENECK_CIFAR_DEPTHS))),
    # every shortcut of He et al. 2016 (Identity Mappings), Fig. 2, and every unit of its Fig. 4
    "shortcut": SHORTCUT_VARIANTS, "unit": UNITS, "downsample": DOWNSAMPLES, "stem": STEMS, "dataset": DATASETS,
}
# Settings that came after runs were stored, at the value every earlier run was trained with:
# left out of ``config_key`` at that value, so stored keys stay what they were.
LATER_DEFAULTS: dict[str, Any] = {"unit": "original", "residual_scale": 1.0}
# What every run stored before the ``downsample`` setting existed used at a stage start.
LEGACY_DOWNSAMPLE: DownsampleKind = "conv"
# The paper's names for the two stage-start shortcuts (He et al. 2015, Sec. 3.3), in labels.
OPTION_LETTER: dict[str, str] = {"pad": "A", "conv": "B"}

# What one training run (a worker process) may allocate for its model, beyond Paddle's own
# ~0.5 GB: parameters, gradients, momentum and the activations of one batch (see
# ``estimate_memory``). ``lab?depth=152&width=128&batch=1024&size=256`` would need ~1.7 TB.
MEMORY_BUDGET_MB = 3072
# Test images per forward pass when a run is evaluated (``resnet.lab.train``, ``fast_step``).
# The static program keeps every layer's output of the pass alive: at 512 images an
# evaluation of ResNet-20 on 64 px photos held ~6 GB, more than any training step.
EVAL_BATCH = 64
# What the training engine (``resnet.lab.fast_step``'s static program) holds per value
# ``estimate_memory`` counts, for a training step and an evaluation together (outputs,
# their gradients, oneDNN's reordered copies): ≤ 2×, from peak RSS measured by
# bench/train_memory.py (3 configurations: measured / estimated 0.74–1.01).
HOLDS = 2.0
# Image channels and (at most) classes of each data set, for the estimate: an image
# folder's class count is only known once it is read; its classifier is a small part.
DATASET_SHAPES = {"digits": (1, 10), "folder": (3, 1000), "ichallenge_pm": (3, 2)}

# The English text of each problem code (the page's own texts: assets/i18n/*/lab.json, lab.bad.<code>).
MESSAGES = {
    "whole": "{name} must be a whole number, got {value!r}",
    "number": "{name} must be a finite number, got {value!r}",
    "range": "{name} must be between {low:g} and {high:g}, got {value:g}",
    "upto_steps": "{name} must be between {low} and steps ({steps}), got {value}",
    "choice": "{name} must be one of {options}, got {value!r}",
    "stem": "CIFAR depths {cifar} use stem='small', got {value!r}",
    "no_folder": "dataset {dataset!r} needs a data folder (data_dir)",
    "unknown": "unknown training setting(s): {names}",
    "batch_vs_data": "batch_size {batch} exceeds the {n} training images",
    "data": "the data folder cannot be used: {reason}",
    **VARIANT_MESSAGES,  # the model's refusals of a unit or ρ with a plain net: "plain_unit", "no_signal"
    "memory": "this run would need about {need_mb} MB for its model and one batch; the limit is {budget_mb} MB "
              "(a smaller batch, image size, width or depth fits)",
}


@dataclass(frozen=True)
class Problem:
    """One reason a configuration cannot be trained: ``code`` (a key of MESSAGES), the setting, its text's values."""

    code: str
    field: str  # the TrainConfig field it is about ("" for unknown settings)
    values: Mapping[str, Any]

    def __str__(self) -> str:
        name = {"scale": "λ (scale)", "residual_scale": "ρ (residual_scale)"}.get(self.field, self.field)
        return MESSAGES[self.code].format(name=name, **self.values)


class ConfigError(CodedError):
    """A configuration that cannot be trained; ``problems`` holds every reason, in field order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("config", "; ".join(str(p) for p in self.problems), problems=self.problems)


@dataclass(frozen=True)
class TrainConfig:
    """One run, valid by construction (``ConfigError`` otherwise)."""

    depth: int = 20
    # "none" is the plain net, "scaled" is y = F(x) + λx; the others are He et al. 2016
    # (Identity Mappings)'s Fig. 2 (gates, 1×1 conv, dropout on the shortcut)
    shortcut: ShortcutVariant = "identity"
    scale: float = 1.0  # λ, used only when shortcut == "scaled"; within LAMBDA_RANGE
    unit: Unit = "original"  # where BN and ReLU sit, He et al. 2016 (Identity Mappings), Fig. 4
    residual_scale: float = 1.0  # ρ in y = ρ·F(x) + λx (Table 1's "0.5 on both": scaled, λ = ρ = 0.5)
    # The shortcut where a stage starts: "pad" (option A, subsample + zero channels) or
    # "conv" (option B, 1×1 conv + BN); None: the depth's default (A for CIFAR depths).
    downsample: DownsampleKind | None = None
    width: int = 16
    stem: StemKind = "small"
    dataset: str = "digits"
    data_dir: str | None = None  # for "folder" and "ichallenge_pm"
    image_size: int = 8
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 0  # linear ramp from lr/(warmup_steps+1) up to lr
    batch_size: int = 64
    steps: int = 300
    eval_every: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        problems = [p for f in fields(self) for p in field_problems(f.name, getattr(self, f.name))]
        bad = {p.field for p in problems}
        if not bad & {"depth", "stem"} and self.depth in CIFAR_DEPTHS and self.stem != "small":
            problems.append(Problem("stem", "stem", {"cifar": CIFAR_DEPTHS, "value": self.stem}))
        if "dataset" not in bad and self.dataset != "digits" and not self.data_dir:
            problems.append(Problem("no_folder", "data_dir", {"dataset": self.dataset}))
        for name in ("eval_every", "warmup_steps"):
            value = getattr(self, name)
            if not bad & {"steps", name} and value > self.steps:
                problems.append(Problem("upto_steps", name, {"low": LIMITS[name][0], "steps": self.steps, "value": value}))
        if not bad & {"unit", "shortcut", "scale", "residual_scale"}:
            refusal = variant_problem(self.unit, self.shortcut, self.scale, self.residual_scale)
            if refusal is not None:  # the model's own rule, with its code and values
                problems.append(Problem(refusal.code, "unit" if refusal.code == "plain_unit" else "residual_scale",
                                        dict(refusal.values)))
        if not problems and (problem := memory_problem(self)) is not None:
            problems.append(problem)
        if problems:
            raise ConfigError(problems)

    @property
    def shortcut_scale(self) -> float:
        """The λ every block multiplies its shortcut by (0: no shortcut at all, as resnet.model builds it)."""
        return shortcut_scale(self.shortcut, self.scale)

    @property
    def downsample_kind(self) -> DownsampleKind:
        """The stage-start shortcut the network is built with: ``downsample``, or the depth's default."""
        return self.downsample or default_downsample(self.depth)

    @property
    def has_stage_start_shortcut(self) -> bool:
        """Whether ``downsample`` matters: not without shortcuts (plain, λ = 0), nor with Fig. 2(e)'s 1×1
        conv on every shortcut (the stage starts' included)."""
        return self.shortcut_scale != 0 and self.shortcut != "conv1x1"

    def canonical(self) -> TrainConfig:
        """The same run spelled one way: λ only matters for "scaled", paths absolute, the stage-start
        shortcut spelled out (a net without one, plain, λ = 0 or 1×1 conv shortcuts, has the depth's default)."""
        return replace(
            self,
            scale=float(self.scale) if self.shortcut == "scaled" else 1.0,
            residual_scale=float(self.residual_scale),
            downsample=self.downsample_kind if self.has_stage_start_shortcut else default_downsample(self.depth),
            data_dir=str(Path(self.data_dir).expanduser().resolve()) if self.data_dir and self.dataset != "digits" else None,
            lr=float(self.lr),
            momentum=float(self.momentum),
            weight_decay=float(self.weight_decay),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict (a stored run, URL values): text is converted to each field's type.

        ``ConfigError`` for unknown keys, and for anything else wrong, every problem at once.
        """
        unknown = sorted(set(data) - set(FIELD_TYPES))
        if unknown:
            raise ConfigError([Problem("unknown", "", {"names": ", ".join(unknown)})])
        values = {}
        for name, value in data.items():
            if isinstance(value, str):
                try:
                    value = parse_field(name, value)
                except ValueError:
                    pass  # kept as text: the field's own check names it
            values[name] = value
        return cls(**values)

    @property
    def label(self) -> str:
        """A run's name everywhere (legends, run lists, CSV, weights files): "plain-56", "ResNet-56 A λ=2",
        "ResNet-50 w8", "ResNet-20 A full_preact (Fig. 4e)", "ResNet-20 A λ=0.5 ρ=0.5".

        The letter is the paper's option for the stage-start shortcut ("ResNet-34 A/B" in
        He et al. 2015, Table 3), always on CIFAR depths, on ImageNet ones when not B. A unit or
        shortcut of He et al. 2016 (Identity Mappings) is named as the URL and the form name it,
        with its figure letter (``variant_name``); the original unit and the λ shortcuts keep
        their names of before (stored runs keep their labels).
        """
        kind = "plain" if self.shortcut == "none" else "ResNet"
        text = f"{kind}-{self.depth}"
        if self.has_stage_start_shortcut and (self.depth in CIFAR_DEPTHS or self.downsample_kind != default_downsample(self.depth)):
            text += f" {OPTION_LETTER[self.downsample_kind]}"
        if self.unit != "original":
            text += f" {variant_name('unit', self.unit)}"
        if self.shortcut not in ("identity", "none", "scaled"):
            text += f" {variant_name('shortcut', self.shortcut)}"
        if self.shortcut == "scaled":
            text += f" λ={self.scale:g}"
        if self.residual_scale != 1.0:
            text += f" ρ={self.residual_scale:g}"
        if self.width != (16 if self.depth in CIFAR_DEPTHS else 64):
            text += f" w{self.width}"
        return text


def variant_name(setting: str, value: str) -> str:
    """A unit's or shortcut's one name, with He et al. 2016 (Identity Mappings)' figure letter as gloss:
    "full_preact (Fig. 4e)", "exclusive_gate (Fig. 2c)"; the name is the URL's value (``lab?unit=full_preact``)."""
    figure, letter = FIGURE_LETTERS[setting][value]
    return f"{value} (Fig. {figure}{letter})"


# Each field's value type (``data_dir`` and ``downsample``, default None, are str).
FIELD_TYPES: dict[str, type] = {f.name: type(f.default) if f.default is not None else str for f in fields(TrainConfig)}


def parse_field(name: str, raw: str) -> Any:
    """A setting from text (a URL value, a CLI flag) as its field's type; ``ValueError`` if it does not convert."""
    kind = FIELD_TYPES[name]
    return raw if kind is str else kind(raw)


def field_problems(name: str, value: Any) -> list[Problem]:
    """What is wrong with one setting on its own (type, choice, range); [] when nothing.

    The rules between settings (eval_every ≤ steps, …) are checked when a TrainConfig is built.
    """
    kind = FIELD_TYPES[name]
    if name == "data_dir":
        return []  # any path: the data loader says what is wrong with the folder
    if name == "downsample" and value is None:
        return []  # the depth's default
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return [Problem("whole", name, {"value": value})]
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        return [Problem("number", name, {"value": value})]
    if name in CHOICES and value not in CHOICES[name]:
        return [Problem("choice", name, {"value": value, "options": CHOICES[name]})]
    if name in LIMITS and not LIMITS[name][0] <= value <= LIMITS[name][1]:
        low, high = LIMITS[name]
        return [Problem("range", name, {"low": low, "high": high, "value": value})]
    return []


def batch_problem(batch_size: int, num_train: int) -> Problem | None:
    """A batch larger than the training set (it would hold some images twice); None when it fits."""
    if batch_size > num_train:
        return Problem("batch_vs_data", "batch_size", {"batch": batch_size, "n": num_train})
    return None


@dataclass(frozen=True)
class MemoryEstimate:
    """What training a configuration holds at its peak, in float32 values."""

    parameters: int  # weights and biases (BatchNorm's running statistics included)
    activations: int  # values the forward pass of one batch keeps for the backward pass
    evaluation: int  # the same for EVAL_BATCH test images (an evaluation pass)

    @property
    def megabytes(self) -> int:
        """Parameters ×3 (the weights, their gradients, SGD's momentum), plus what a training
        step and an evaluation hold (both stay in the program's scope), 4 bytes a value."""
        held = 3 * self.parameters + HOLDS * (self.activations + self.evaluation)
        return math.ceil(4 * held / 2**20)


def estimate_memory(config: TrainConfig) -> MemoryEstimate:
    """The memory a run of ``config`` needs, from its architecture's shapes alone (no Paddle).

    Counts the tensors a forward pass leaves for the backward one: per conv + BatchNorm
    its two outputs, per ReLU, sum and λ·s(x) one tensor of the block's output shape
    ([N, C, H, W] each, N = batch_size), and what He et al. 2016 (Identity Mappings)' variants
    add (ρ·F, a gate, a shortcut conv, dropout's mask); an evaluation the same for EVAL_BATCH images.
    ``HOLDS`` turns those counts into what the engine holds; ``bench/train_memory.py``
    checks the estimate against measured peak RSS.
    """
    in_channels, num_classes = DATASET_SHAPES[config.dataset]
    n, side = config.batch_size, config.image_size
    params, acts = 0, 0

    def conv_bn(c_in: int, c_out: int, k: int, out_side: int, relu: bool, bn: int | None = None) -> None:
        """A conv and the BN that goes with it (``bn`` channels, c_out unless said; 0: none) and maybe a ReLU."""
        nonlocal params, acts
        bn = c_out if bn is None else bn
        params += c_in * c_out * k * k + 4 * bn  # weights; BN's γ, β, running mean and variance
        acts += (1 + (bn > 0) + relu) * n * c_out * out_side * out_side

    plan = network_plan(config.depth, config.width, unit=config.unit, shortcut=config.shortcut, scale=config.scale,
                        downsample=config.downsample_kind)
    stem_bn = config.width if plan.stem_bn else 0  # full pre-activation: the stem is the conv alone
    if config.stem == "imagenet":
        side = (side - 1) // 2 + 1  # 7×7/2 conv, padding 3
        conv_bn(in_channels, config.width, 7, side, relu=plan.stem_bn, bn=stem_bn)
        side = (side - 1) // 2 + 1  # 3×3/2 max-pool, padding 1
        acts += n * config.width * side * side
    else:
        conv_bn(in_channels, config.width, 3, side, relu=plan.stem_bn, bn=stem_bn)
    for block in plan.blocks:
        out_side = (side - 1) // block.stride + 1
        block_map = n * block.c_out * out_side * out_side  # one tensor of the block's output shape
        conv_side = side
        for step in block.convs:
            conv_side = (conv_side - 1) // step.stride + 1  # the side of this conv's output
            # a conv, its BN (before or after it) and a ReLU if one runs (pre-activations: before it)
            conv_bn(step.c_in, step.c_out, step.kernel, conv_side, relu="relu" in step.after + step.before, bn=step.bn)
        if block.shortcut_kind == "projection":
            conv_bn(block.c_in, block.c_out, 1, out_side, relu=False)
        elif block.shortcut_kind == "conv1x1":  # Fig. 2(e): a bare 1×1 conv
            params += block.c_in * block.c_out
            acts += block_map
        elif block.shortcut_kind == "pad":  # option A: the subsampled x, then zero-padded
            acts += 2 * block_map
        if block.gate:  # g = sigmoid(1×1 conv(x) + b): the conv, g, 1 − g, and the products
            params += block.c_in * block.c_out + block.c_out
            acts += 4 * block_map
        extra = (block.scale not in (0.0, 1.0)) + (config.residual_scale != 1.0) + 2 * (config.shortcut == "dropout")
        acts += (2 + extra) * block_map  # the sum, what runs after it; λ·s(x), ρ·F, dropout's mask and output
        side = out_side
    if plan.final_bn:  # full pre-activation's BN + ReLU before pooling (no conv)
        params += 4 * plan.final_bn
        acts += 2 * n * plan.final_bn * side * side
    params += plan.features * num_classes + num_classes
    acts += n * (plan.features + num_classes) + n * in_channels * config.image_size**2  # pooled, logits, the batch
    return MemoryEstimate(params, acts, acts // n * EVAL_BATCH)  # every count above is n × per image


def memory_problem(config: TrainConfig) -> Problem | None:
    """A run over ``MEMORY_BUDGET_MB`` (code ``memory``, the budget in its text); None when it fits."""
    need = estimate_memory(config).megabytes
    if need > MEMORY_BUDGET_MB:
        return Problem("memory", "batch_size", {"need_mb": need, "budget_mb": MEMORY_BUDGET_MB})
    return None


def upgrade_stored(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored configuration dict in today's canonical form: one without ``downsample``
    was trained before the setting existed, with option B (``LEGACY_DOWNSAMPLE``).

    ``ConfigError`` if the stored settings are not a valid configuration.
    """
    if "downsample" in data:
        return dict(data)
    return asdict(TrainConfig.from_dict({**data, "downsample": LEGACY_DOWNSAMPLE}).canonical())


def config_key(config: TrainConfig | Mapping[str, Any]) -> str:
    """The store's dedup key: canonical JSON with sorted keys (a stored config dict is taken as it is),
    without the ``LATER_DEFAULTS`` settings at their default: a run stored before they existed keeps its key."""
    data = asdict(config.canonical()) if isinstance(config, TrainConfig) else dict(config)
    for name, default in LATER_DEFAULTS.items():
        if name in data and data[name] == default:
            del data[name]
    return json.dumps(data, sort_keys=True)


def chance_loss(num_classes: int) -> float:
    """Cross-entropy of a uniform guess, ln C (2.30 for ten digits)."""
    return math.log(num_classes)


@dataclass(frozen=True)
class StepMetrics:
    """What the loop reports after each step; test metrics only on evaluation steps."""

    step: int  # 1-based
    wall_s: float  # since the loop started (after data loading and model building)
    train_loss: float
    test_loss: float | None = None
    test_acc: float | None = None


@dataclass(frozen=True)
class TrainResult:
    """How a run ended (the store keeps it as JSON)."""

    status: str  # "done" | "diverged" | "cancelled"
    steps_done: int
    wall_s: float
    images_per_s: float  # training throughput, evaluation time excluded
    final_train_loss: float | None
    final_test_loss: float | None
    final_test_acc: float | None
    stuck_at_chance: bool
    diverged_step: int | None = None
    skipped_files: tuple[str, ...] = field(default_factory=tuple)
    weights: str | None = None  # the saved final weights (safetensors), when asked for and done
    # Which test images the evaluation behind final_test_acc got right (``pack_correct``), and
    # how many there are: two runs on the same test images compare image by image
    # (``resnet.stats.paired_difference``), and the accuracy gets its Wilson interval.
    final_test_correct: str | None = None
    test_images: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pack_correct(right: Sequence[bool]) -> str:
    """Per-image outcomes (True: classified right), in test-set order, as hex: bit i of the
    string is image i, most significant bit first (``numpy.packbits``' order), zero-padded to
    whole bytes. 359 digit test images take 90 characters."""
    bits = bytearray((len(right) + 7) // 8)
    for i, ok in enumerate(right):
        if ok:
            bits[i >> 3] |= 0x80 >> (i & 7)
    return bits.hex()


def unpack_correct(text: str, n: int) -> list[bool]:
    """``pack_correct``'s outcomes of ``n`` images back; ``ValueError`` if ``text`` is not that long."""
    data = bytes.fromhex(text)
    if len(data) != (n + 7) // 8:
        raise ValueError(f"{len(data)} bytes of outcomes do not hold {n} images")
    return [bool(data[i >> 3] & (0x80 >> (i & 7))) for i in range(n)]
