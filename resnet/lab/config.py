"""A training run's configuration, its limits and what a run reports, without Paddle.

``TrainConfig`` checks itself when it is built: every setting on its own (type, choice,
range), then the rules between settings. A config that exists is valid, so the session,
the store, the job queue and the training loop take it as it is and check nothing again.
A refusal is a ``ConfigError`` listing every ``Problem``: a stable ``code`` (the page's
catalog key ``lab.bad.<code>``), the setting and the values of its text; ``str()`` is the
English text the CLI prints.

Same config (after ``canonical()``) = same run: ``config_key`` is the store's dedup key.
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
from ..model.spec import (
    CIFAR_DEPTHS, DOWNSAMPLES, SHORTCUTS, STAGES, STEMS, DownsampleKind, ShortcutMode, StemKind, default_downsample,
    shortcut_scale,
)

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
    "momentum": (0.0, 0.999),
    "weight_decay": (0.0, 0.1),
    "seed": (0, 2**31 - 1),
    "eval_every": (1, MAX_STEPS),
    "warmup_steps": (0, MAX_STEPS),
}
CHOICES: dict[str, tuple[Any, ...]] = {
    "depth": tuple(sorted(STAGES)), "shortcut": SHORTCUTS, "downsample": DOWNSAMPLES, "stem": STEMS, "dataset": DATASETS,
}
# What every run stored before the ``downsample`` setting existed used at a stage start.
LEGACY_DOWNSAMPLE: DownsampleKind = "conv"
# The paper's names for the two stage-start shortcuts (He et al. 2015, Sec. 3.3), in labels.
OPTION_LETTER: dict[str, str] = {"pad": "A", "conv": "B"}

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
}


@dataclass(frozen=True)
class Problem:
    """One reason a configuration cannot be trained: ``code`` (a key of MESSAGES), the setting, its text's values."""

    code: str
    field: str  # the TrainConfig field it is about ("" for unknown settings)
    values: Mapping[str, Any]

    def __str__(self) -> str:
        name = "λ (scale)" if self.field == "scale" else self.field
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
    shortcut: ShortcutMode = "identity"  # "none" is the plain net, "scaled" is y = F(x) + λx
    scale: float = 1.0  # λ, used only when shortcut == "scaled"; any finite number
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

    def canonical(self) -> TrainConfig:
        """The same run spelled one way: λ only matters for "scaled", paths absolute, the stage-start
        shortcut spelled out (a net without shortcuts, plain or λ = 0, has none: the depth's default)."""
        return replace(
            self,
            scale=float(self.scale) if self.shortcut == "scaled" else 1.0,
            downsample=self.downsample_kind if self.shortcut_scale != 0 else default_downsample(self.depth),
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
        """A run's name everywhere (legends, run lists, weights files): "plain-56", "ResNet-56 A λ=2", "ResNet-50 w8".

        The letter is the paper's option for the stage-start shortcut ("ResNet-34 A/B" in
        He et al. 2015, Table 3), always on CIFAR depths, on ImageNet ones when not B.
        """
        kind = "plain" if self.shortcut == "none" else "ResNet"
        text = f"{kind}-{self.depth}"
        if self.shortcut_scale != 0 and (self.depth in CIFAR_DEPTHS or self.downsample_kind != default_downsample(self.depth)):
            text += f" {OPTION_LETTER[self.downsample_kind]}"
        if self.shortcut == "scaled":
            text += f" λ={self.scale:g}"
        if self.width != (16 if self.depth in CIFAR_DEPTHS else 64):
            text += f" w{self.width}"
        return text


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


def upgrade_stored(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored configuration dict in today's canonical form: one without ``downsample``
    was trained before the setting existed, with option B (``LEGACY_DOWNSAMPLE``).

    ``ConfigError`` if the stored settings are not a valid configuration.
    """
    if "downsample" in data:
        return dict(data)
    return asdict(TrainConfig.from_dict({**data, "downsample": LEGACY_DOWNSAMPLE}).canonical())


def config_key(config: TrainConfig | Mapping[str, Any]) -> str:
    """The store's dedup key: canonical JSON with sorted keys (a stored config dict is taken as it is)."""
    data = asdict(config.canonical()) if isinstance(config, TrainConfig) else dict(config)
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
