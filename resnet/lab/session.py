"""The Training lab as its page uses it: one call for each thing the page shows or does.

    lab = open_lab()                       # the run store, or a private view of the reference runs
    lab.preset_runs("degradation")         # the runs a preset shows
    lab.submit(settings, folder="cats")    # → Submission: run id, created?, problems
    lab.rerun_preset("why_not_2x")         # → [Submitted(run_id, created), …]
    block_signals(runs)                    # per-block diagnostics of the runs on the chart

λ from the page to the network: the form's value → ``Lab.submit`` → ``TrainConfig`` (the
one check) → the store (canonical JSON) → a worker (``resnet.lab.jobs``) →
``resnet.lab.train.train`` → ``resnet.model.network``, where it is applied.

Training happens in the workers only. The per-block diagnostics do build and measure
small models here, in the calling (server) process, cached per configuration.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import paddle

from ..inference import diagnostics
from ..model.network import ensure_dygraph
from ..model.weights import load_trained
from ..paths import ENV_DATA_DIR, RUN_STORE_FILE, operator_dir
from . import jobs
from .config import DATASETS, ConfigError, Problem, TrainConfig, batch_problem, chance_loss, config_key
from .data import Dataset, load_dataset
from .jobs import Submitted
from .presets import BASE, PRESETS, import_reference_runs
from .store import ACTIVE, RunInfo, RunStore, StoreError
from .train import build_model

# The custom run's settings as the page's URL spells them: URL name → TrainConfig field.
FORM_FIELDS = {
    "depth": "depth", "shortcut": "shortcut", "lam": "scale", "down": "downsample", "width": "width", "lr": "lr", "mom": "momentum",
    "wd": "weight_decay", "warmup": "warmup_steps", "batch": "batch_size", "steps": "steps", "eval": "eval_every",
    "seed": "seed", "dataset": "dataset", "size": "image_size",
}
# Where the custom run starts: the presets' settings, with λ = 2 (the "why not 2x?" of
# the lesson) ready for when "scaled" is picked, and the paper's option A at stage starts
# (its CIFAR nets, He et al. 2015 Sec. 4.2) spelled out, so the form shows which one.
FORM_START = replace(BASE, scale=2.0, downsample="pad")
DIAG_BATCH = 64  # images fed to the diagnostics (the first of the run's training set)
MAX_DIAG = 6  # configurations measured at initialisation


class LabUnavailable(StoreError):
    """Neither the run store nor a private view of the reference runs can be opened."""

    def __init__(self, store_problem: str, view_problem: str) -> None:
        super().__init__(f"{store_problem}; no private view either: {view_problem}")
        self.store_problem, self.view_problem = store_problem, view_problem


@dataclass(frozen=True)
class Submission:
    """What ``Lab.submit`` did. Nothing was queued when there are ``problems``."""

    run_id: int | None = None
    created: bool = False  # this call queued the run (else an identical run was there already)
    status: str | None = None  # the run's status right after: "queued", or the existing run's
    label: str = ""
    problems: tuple[Problem, ...] = ()
    skipped: tuple[str, ...] = ()  # files of the data folder that could not be read


@dataclass
class Lab:
    """The run store the page shows, and why it may be only a private view."""

    store: RunStore
    references: dict[str, list[int]]  # preset → its reference runs
    store_problem: str | None = None  # why nothing can be trained (then ``store`` may be a private view)
    reference_problem: str | None = None  # why the shipped reference runs could not be read

    @property
    def writable(self) -> bool:
        return self.store_problem is None

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return self.store.list_runs()

    def preset_runs(self, key: str) -> list[int]:
        """A preset's reference runs, then the newest live run of each of its configurations."""
        wanted = {config_key(c) for c in PRESETS[key].configs}
        live: dict[str, int] = {}
        for run in self.store.list_runs(source="live"):
            if (run_key := config_key(run.config)) in wanted:
                live[run_key] = run.id  # oldest first: the newest wins
        return [*self.references.get(key, []), *sorted(live.values())]

    def submit(self, settings: Mapping[str, Any], folder: str | None = None) -> Submission:
        """Queue a run of ``settings`` (TrainConfig fields) unless it has problems.

        ``folder``: the name of a data folder inside the operator's data directory, for
        the image data sets; no other folder is ever read. Image data is loaded here once
        to check it (and then cached for the diagnostics).
        """
        values = dict(settings)
        root = data_root()
        if values.get("dataset") != "digits" and root is not None and folder in data_folders():
            values["data_dir"] = str(root / folder)
        try:
            config = TrainConfig(**values)
        except ConfigError as exc:
            return Submission(problems=exc.problems)
        skipped: tuple[str, ...] = ()
        if config.dataset != "digits":
            try:
                data = dataset(config)
            except (ValueError, OSError) as exc:
                return Submission(problems=(Problem("data", "data_dir", {"reason": str(exc)}),))
            if (problem := batch_problem(config.batch_size, len(data.y_train))) is not None:
                return Submission(problems=(problem,))
            skipped = data.skipped
        run_id, created = jobs.get_pool(self.store.path).submit(config)
        return Submission(run_id, created, self.store.get_run(run_id).status, config.label, skipped=skipped)

    def rerun_preset(self, key: str) -> list[Submitted]:
        """Queue a preset's configurations as live runs; identical runs already there are reused."""
        return jobs.get_pool(self.store.path).submit_many(PRESETS[key].configs)

    def cancel(self, run_id: int) -> str:
        """Cancel a queued run now, a running one at its next step; the status it has then."""
        return self.store.request_cancel(run_id)


def open_lab() -> Lab:
    """The default run store with the reference runs imported, and workers for runs still queued.

    A store that cannot be written falls back to a private, temporary view of the
    reference runs (the curves still show, nothing can be trained) and says why;
    ``LabUnavailable`` when not even that can be made.
    """
    try:
        store = RunStore()
        references, reference_problem = _import_references(store)
        runs = store.list_runs()
    except StoreError as exc:
        try:
            view = _view_only_store()
            references, reference_problem = _import_references(view)
        except (StoreError, OSError) as view_exc:
            raise LabUnavailable(str(exc), str(view_exc)) from view_exc
        return Lab(view, references, str(exc), reference_problem)
    lab = Lab(store, references, None, reference_problem)
    if any(r.status in ACTIVE for r in runs):
        try:  # runs queued before a restart (or by the CLI) need workers; dead workers' runs get marked
            jobs.get_pool(store.path)
        except StoreError as exc:
            lab.store_problem = str(exc)
    return lab


@lru_cache(maxsize=1)
def _view_only_store() -> RunStore:
    """The reference runs in a temporary store of this process: the curves still show, nothing can train."""
    store = RunStore(Path(tempfile.mkdtemp(prefix="resnet_lab_view_")) / RUN_STORE_FILE)
    import_reference_runs(store)
    return store


def _import_references(store: RunStore) -> tuple[dict[str, list[int]], str | None]:
    """``import_reference_runs``, and why it failed: a damaged file costs its curves, not the page."""
    try:
        return import_reference_runs(store), None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # StoreError (a RuntimeError) goes up
        return {}, str(exc)[:300]


# ---------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------


def data_root() -> Path | None:
    """The operator's directory of image data sets (``$RESNET_LAB_DATA_DIR``), if set."""
    return operator_dir(ENV_DATA_DIR)


def data_folders() -> list[str]:
    """Its subfolders: the only places image data is read from."""
    root = data_root()
    if root is None or not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def datasets_offered(folders: Sequence[str]) -> tuple[str, ...]:
    """The data sets a visitor may pick: the image ones only when there are folders to read."""
    return DATASETS if folders else ("digits",)


def dataset(config: TrainConfig) -> Dataset:
    """The data set ``config`` trains on, cached (a folder is read again once its mtime changes)."""
    try:
        stamp = Path(config.data_dir).stat().st_mtime if config.data_dir else 0.0
    except OSError:
        stamp = 0.0  # the loader says what is wrong with it
    return _dataset(config.dataset, config.data_dir, config.image_size, stamp)


@lru_cache(maxsize=4)
def _dataset(name: str, data_dir: str | None, size: int, stamp: float) -> Dataset:
    return load_dataset(name, image_size=size, data_dir=data_dir)


def chance_level(runs: Sequence[RunInfo]) -> float | None:
    """ln 10, the loss of a uniform guess, when every run is on the ten digits (else classes differ)."""
    return chance_loss(10) if runs and all(r.config.get("dataset") == "digits" for r in runs) else None


# ---------------------------------------------------------------------------------
# Per-block diagnostics
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSignals:
    """Per-block measurements of a run: at initialisation (one per configuration) or trained."""

    run: RunInfo
    trained: bool
    signals: list[diagnostics.BlockSignal]  # forward RMS and ∂L/∂x per block, in train mode
    response_std: list[tuple[str, float]]  # Fig. 7 (trained only): std of each 3×3 response, eval mode


@dataclass(frozen=True)
class SignalFailure:
    run: RunInfo
    trained: bool
    reason: str


@dataclass(frozen=True)
class BlockReport:
    measured: list[RunSignals]  # the configurations at initialisation first, then the trained runs
    failures: list[SignalFailure]
    configs_left_out: int  # configurations past MAX_DIAG, not measured at initialisation


def block_signals(runs: Sequence[RunInfo]) -> BlockReport:
    """Forward and backward signal per block for the runs on the chart, Fig. 7 for trained ones.

    Each configuration (the first MAX_DIAG) is measured at initialisation, built with the
    run's own seed; every run that left trained weights is measured with them.
    """
    firsts: dict[str, RunInfo] = {}
    for run in runs:
        firsts.setdefault(config_key(run.config), run)
    measured, failures = [], []
    for key, run in list(firsts.items())[:MAX_DIAG]:
        try:
            measured.append(RunSignals(run, False, _signals_at_init(key), []))
        except (ValueError, OSError) as exc:  # e.g. a data folder that went away
            failures.append(SignalFailure(run, False, str(exc)))
    for run in runs:
        path = trained_file(run)
        if path is None:
            continue
        try:
            signals, stds = _signals_trained(str(path), path.stat().st_mtime, config_key(run.config))
        except Exception as exc:  # a weights file that does not load: say which, keep the page
            failures.append(SignalFailure(run, True, str(exc)[:300]))
            continue
        measured.append(RunSignals(run, True, signals, stds))
    return BlockReport(measured, failures, max(0, len(firsts) - MAX_DIAG))


def fig7_means(measured: Sequence[RunSignals]) -> list[tuple[RunInfo, float]]:
    """Each trained run's mean response std over its 3×3 layers, smallest first.

    He et al. 2015 (Sec. 4.2, Fig. 7): ResNets respond less than their plain twins, and the
    deeper ResNet less than the shallower one; the ordering of these means shows both.
    """
    means = [(m.run, float(sum(v for _, v in m.response_std) / len(m.response_std))) for m in measured if m.response_std]
    return sorted(means, key=lambda pair: pair[1])


def trained_file(run: RunInfo) -> Path | None:
    """The run's saved final weights, if it has them and the file is still there."""
    path = (run.result or {}).get("weights")
    return Path(path) if path and Path(path).is_file() else None


def _diag_input(config: TrainConfig) -> tuple[paddle.Tensor, paddle.Tensor]:
    """The first DIAG_BATCH training images of the run's data set [N, C, H, W], and their labels [N]."""
    data = dataset(config)
    return paddle.to_tensor(data.x_train[:DIAG_BATCH]), paddle.to_tensor(data.y_train[:DIAG_BATCH])


@lru_cache(maxsize=32)
def _signals_at_init(key: str) -> list[diagnostics.BlockSignal]:
    """A freshly built model of this configuration (``key``: its config_key), in train mode."""
    ensure_dygraph()  # Paddle's mode is per thread, and each page run has its own
    config = TrainConfig.from_dict(json.loads(key))
    x, labels = _diag_input(config)
    model = build_model(config, dataset(config))  # the run's own seed: the very weights it started from
    model.train()
    return diagnostics.measure_signal(model, x, labels)


@lru_cache(maxsize=32)
def _signals_trained(path: str, stamp: float, key: str) -> tuple[list[diagnostics.BlockSignal], list[tuple[str, float]]]:
    """Per-block signal (train mode, as during training) and Fig. 7 response std (eval mode) of trained weights."""
    ensure_dygraph()
    x, labels = _diag_input(TrainConfig.from_dict(json.loads(key)))
    model = load_trained(path).model  # private: measuring in train mode moves BatchNorm's statistics
    stds = diagnostics.response_std(model, x)
    model.train()
    return diagnostics.measure_signal(model, x, labels), stds
