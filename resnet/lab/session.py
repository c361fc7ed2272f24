"""The Training lab as its page uses it: one call for each thing the page shows or does.

    lab = open_lab()                       # the run store, or a private view of the reference runs
    lab.preset_runs("degradation")         # the runs a preset shows (one per variant: its group's head)
    lab.groups()                           # every run grouped by variant: its seeds side by side
    lab.submit(settings, folder="cats")    # → Submission: run id, created?, problems
    lab.submit(settings, seeds=3)          # seeds s, s+1, s+2: three runs, checked before any is queued
    lab.rerun_preset("why_not_2x")         # → [Submitted(run_id, created), …]
    lab.submit(settings, owner=h, queue_limit=1)  # a student's: QueueFull when h has a run in the queue
    lab.cancel(run_id, owner=h)            # only a run h queued (else NotYourRun); no owner: any run
    block_signals(lab.store, runs)         # per-block diagnostics of the runs on the chart (computed in workers)

λ from the page to the network: the form's value → ``Lab.submit`` → ``TrainConfig`` (the
one check) → the store (canonical JSON) → a worker (``resnet.lab.worker``) →
``resnet.lab.train.train`` → ``resnet.model.network``, where it is applied.

Training happens in the workers only, and so does everything that builds or runs a
model: the per-block diagnostics are computed in task processes (``resnet.lab.tasks``)
and kept in the store; this module only starts them and reads what they stored.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..inference.signals import BlockSignal
from ..paths import ENV_DATA_DIR, RUN_STORE_FILE, operator_dir
from . import pools
from .analyses import signals
from .config import DATASETS, ConfigError, Problem, TrainConfig, batch_problem, chance_loss, config_key
from .data import PM_CLASSES, Dataset, load_dataset
from .presets import BASE, PRESETS, import_reference_runs
from .queued import Submitted
from .seeds import variant_key
from .store import ACTIVE, Artifact, RunInfo, RunStore, StoreError, store_address
from .store.runs import NotYourRun  # what ``Lab.cancel`` raises for a run of another session: the page catches it here

# The custom run's settings as the page's URL spells them: URL name → TrainConfig field.
FORM_FIELDS = {
    "depth": "depth", "shortcut": "shortcut", "lam": "scale", "down": "downsample", "width": "width", "lr": "lr", "mom": "momentum",
    "wd": "weight_decay", "warmup": "warmup_steps", "batch": "batch_size", "steps": "steps", "eval": "eval_every",
    "seed": "seed", "dataset": "dataset", "size": "image_size", "unit": "unit", "rho": "residual_scale",
}
# Where the custom run starts: the presets' settings, with λ = 2 (the "why not 2x?" of
# the lesson) ready for when "scaled" is picked, and the paper's option A at stage starts
# (its CIFAR nets, He et al. 2015 Sec. 4.2) spelled out, so the form shows which one.
FORM_START = replace(BASE, scale=2.0, downsample="pad")
MAX_DIAG = 6  # configurations measured at initialisation
MAX_SEEDS = 5  # seeds one press of the form may queue (as many as a reference variant ships with)


class QueueFull(Exception):
    """A submission that would take ``owner`` past its queue limit: nothing was queued."""

    def __init__(self, limit: int, queued: Sequence[int], asked: int) -> None:
        super().__init__(f"{asked} run(s) asked for, {len(queued)} in the queue already, limit {limit}")
        self.limit, self.queued, self.asked = limit, tuple(queued), asked


class LabUnavailable(StoreError):
    """Neither the run store nor a private view of the reference runs can be opened."""

    def __init__(self, store_problem: str, view_problem: str) -> None:
        super().__init__(f"{store_problem}; no private view either: {view_problem}")
        self.store_problem, self.view_problem = store_problem, view_problem


@dataclass(frozen=True)
class Submission:
    """What ``Lab.submit`` did. Nothing was queued when there are ``problems``.

    ``run_id``, ``created`` and ``status`` are the first seed's; ``runs`` holds every seed's run.
    """

    run_id: int | None = None
    created: bool = False  # this call queued the run (else an identical run was there already)
    status: str | None = None  # the run's status right after: "queued", or the existing run's
    label: str = ""
    problems: tuple[Problem, ...] = ()
    skipped: tuple[str, ...] = ()  # files of the data folder that could not be read
    runs: tuple[Submitted, ...] = ()  # one per seed, in seed order


@dataclass(frozen=True)
class RunGroup:
    """The runs of one variant (the same configuration but for the seed) from one kind of source:
    the shipped reference runs, or the runs trained here (live or from the command line).

    The page lists a group once (by its ``head``, its oldest run, whose id stands for it in the
    picker and the URL) and draws it as a band over its seeds when it has several.
    """

    head: RunInfo
    runs: tuple[RunInfo, ...]  # one per seed (the newest run of each), in seed order

    @property
    def id(self) -> int:
        return self.head.id

    @property
    def reference(self) -> bool:
        return self.head.source == "reference"

    @property
    def variant(self) -> str:
        return variant_key(self.head.config)

    @property
    def seeds(self) -> list[int]:
        return [int(r.config["seed"]) for r in self.runs]


def run_groups(runs: Sequence[RunInfo]) -> list[RunGroup]:
    """``runs`` grouped by variant and kind of source, in the order of their heads (oldest run first).

    Of several runs of one seed (a cancelled run trained again) the newest counts.
    """
    members: dict[tuple[bool, str], dict[int, RunInfo]] = {}
    heads: dict[tuple[bool, str], RunInfo] = {}
    for run in sorted(runs, key=lambda r: r.id):
        key = (run.source == "reference", variant_key(run.config))
        heads.setdefault(key, run)
        members.setdefault(key, {})[int(run.config["seed"])] = run  # ascending ids: the newest wins
    return [RunGroup(head, tuple(members[key][s] for s in sorted(members[key]))) for key, head in heads.items()]


def reference_bands(chosen: Sequence[RunGroup], groups: Sequence[RunGroup]) -> list[RunGroup]:
    """The reference groups a chart of ``chosen`` draws: the chosen ones, and for each chosen group of
    live runs its variant's reference band (if one ships) though it was not picked, before the rest."""
    picked = {g.id for g in chosen}
    live = {g.variant for g in chosen if not g.reference}
    return [g for g in groups if g.reference and g.variant in live and g.id not in picked]


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

    def groups(self) -> list[RunGroup]:
        """Every run grouped by variant (``run_groups``)."""
        return run_groups(self.runs())

    def preset_runs(self, key: str) -> list[int]:
        """A preset's variants as the picker lists them (each group's head): its reference runs,
        then the live runs of each of its configurations (other seeds of a variant join its group)."""
        variants = {variant_key(json.loads(config_key(c))) for c in PRESETS[key].configs}
        references = set(self.references.get(key, []))
        groups = [g for g in self.groups() if g.variant in variants]
        return [*(g.id for g in groups if g.head.id in references), *(g.id for g in groups if not g.reference)]

    def submit(self, settings: Mapping[str, Any], folder: str | None = None, *, seeds: int = 1, owner: str | None = None,
               queue_limit: int | None = None) -> Submission:
        """Queue runs of ``settings`` (TrainConfig fields) at ``seeds`` seeds (its seed, the next, …),
        unless one of them has problems: then nothing is queued.

        ``owner``: the browser session they are queued for. ``queue_limit``: how many runs ``owner``
        may have in the queue at once (None: no limit); each seed counts, a reused run too, and past
        it ``QueueFull`` is raised before anything is queued.

        ``folder``: the name of a data folder inside the operator's data directory, for
        the image data sets; no other folder is ever read. Image data is loaded here once
        to check it (cached: a second submit does not read it again).
        """
        if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
            return Submission(problems=(Problem("range", "seeds", {"low": 1, "high": MAX_SEEDS, "value": seeds}),))
        values = dict(settings)
        root = data_root()
        if values.get("dataset") != "digits" and root is not None and folder in data_folders():
            values["data_dir"] = str(root / folder)
        try:
            config = TrainConfig(**values)
            configs = [replace(config, seed=config.seed + k) for k in range(seeds)]  # each checked again
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
        self._check_queue(owner, queue_limit, len(configs))
        pool = pools.pool_for(self.store.address)
        submitted = tuple(pool.submit(c, owner) for c in configs)  # in seed order: seed s starts first
        run_id, created = submitted[0]
        return Submission(run_id, created, self.store.get_run(run_id).status, config.label, skipped=skipped, runs=submitted)

    def rerun_preset(self, key: str, *, owner: str | None = None, queue_limit: int | None = None) -> list[Submitted]:
        """Queue a preset's configurations as live runs for ``owner``; identical runs already there are reused.
        ``queue_limit`` as for ``submit``."""
        configs = PRESETS[key].configs
        self._check_queue(owner, queue_limit, len(configs))
        return pools.pool_for(self.store.address).submit_many(configs, owner)

    def cancel(self, run_id: int, owner: str | None = None) -> str:
        """Cancel a queued run now, a running one at its next step; the status it has then.
        ``owner``: only a run that session queued, else ``NotYourRun`` (None: any run)."""
        return self.store.request_cancel(run_id, owner)

    def _check_queue(self, owner: str | None, limit: int | None, asked: int) -> None:
        """``QueueFull`` when ``asked`` more runs would take ``owner`` past ``limit`` runs in the queue.

        Checked before queueing, not in the same transaction: a browser session runs one script at a
        time, so the only session that could add to ``owner``'s runs meanwhile is the one asking.
        """
        if limit is None or owner is None:
            return
        queued = self.store.queued_by(owner)
        if len(queued) + asked > limit:
            raise QueueFull(limit, queued, asked)


def open_lab() -> Lab:
    """The default run store with the reference runs imported, and workers for runs still queued.

    Opened once per process and store (the schema check and the reference import are not
    repeated on every page run); every session of the server shares it. A store that cannot
    be written falls back to a private, temporary view of the reference runs (the curves
    still show, nothing can be trained) and says why; that answer is not kept, so the next
    call tries the store again. ``LabUnavailable`` when not even the view can be made.
    """
    try:
        address = store_address()
        with _OPEN_LOCK:
            if address not in _OPEN:
                _OPEN[address] = _open(address)
            return _OPEN[address]
    except StoreError as exc:
        try:
            view = _view_only_store()
            references, reference_problem = _import_references(view)
        except (StoreError, OSError) as view_exc:
            raise LabUnavailable(str(exc), str(view_exc)) from view_exc
        return Lab(view, references, str(exc), reference_problem)


_OPEN: dict[str, Lab] = {}  # store address → its Lab, opened by this process
_OPEN_LOCK = threading.Lock()  # sessions run in threads: one opens, the others wait for it


def _open(address: str) -> Lab:
    store = RunStore(address)
    references, reference_problem = _import_references(store)
    lab = Lab(store, references, None, reference_problem)
    if any(r.status in ACTIVE for r in store.list_runs()):
        try:  # runs queued before a restart (or by the CLI) need workers; dead workers' runs get marked
            pools.pool_for(store.address)
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


def num_classes(run: RunInfo) -> int | None:
    """How many classes ``run`` learns: 10 digits, iChallenge-PM's 2, an image folder's class
    subfolders (read from the folder, cached); None when the folder cannot be read any more."""
    name = run.config.get("dataset")
    if name == "digits":
        return 10
    if name == "ichallenge_pm":
        return len(PM_CLASSES)
    try:
        return dataset(TrainConfig.from_dict(run.config)).num_classes
    except (ConfigError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class ChanceLevel:
    """The loss of a uniform guess, ln C, and the chosen runs whose data set has C classes."""

    loss: float
    classes: int
    runs: tuple[RunInfo, ...]


def chance_levels(runs: Sequence[RunInfo]) -> list[ChanceLevel]:
    """One chance level per class count among ``runs``' data sets (digits ln 10, a two-class folder ln 2…),
    highest first; a run whose folder cannot be read any more has none."""
    by_classes: dict[int, list[RunInfo]] = {}
    for run in runs:
        if (classes := num_classes(run)) is not None:
            by_classes.setdefault(classes, []).append(run)
    return [ChanceLevel(chance_loss(c), c, tuple(rs)) for c, rs in sorted(by_classes.items(), reverse=True)]


# ---------------------------------------------------------------------------------
# Per-block diagnostics
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSignals:
    """Per-block measurements of a run: at initialisation (one per configuration) or trained."""

    run: RunInfo
    trained: bool
    signals: list[BlockSignal]  # forward RMS and ∂L/∂x per block, in train mode
    response_std: list[tuple[str, float]]  # Fig. 7 (trained only): std of each 3×3 response, eval mode


@dataclass(frozen=True)
class SignalFailure:
    run: RunInfo
    trained: bool
    reason: str


@dataclass(frozen=True)
class SignalsPending:
    """A measurement a task process is computing (or that waits for one)."""

    run: RunInfo
    trained: bool
    progress: float  # 0..1


@dataclass(frozen=True)
class BlockReport:
    measured: list[RunSignals]  # the configurations at initialisation first, then the trained runs
    failures: list[SignalFailure]
    configs_left_out: int  # configurations past MAX_DIAG, not measured at initialisation
    pending: list[SignalsPending] = field(default_factory=list)  # still computing: ask again


def block_signals(store: RunStore, runs: Sequence[RunInfo]) -> BlockReport:
    """Forward and backward signal per block for the runs on the chart, Fig. 7 for trained ones.

    Each configuration of the first MAX_DIAG variants (up to MAX_SEEDS seeds each: the spread
    over seeds) is measured at initialisation, built with the run's own seed; every run of
    those that left trained weights is measured with them. Both build
    or load models, so they are computed in task processes (``resnet.lab.tasks``, targets
    in ``resnet.lab.measure``), never here: what is not in ``store`` yet is started and
    comes back ``pending``; call again (the page polls) for the results. A measurement
    that failed stays failed (its error is shown) until its inputs change.
    """
    firsts: dict[str, RunInfo] = {}
    for run in runs:
        firsts.setdefault(config_key(run.config), run)
    variants: dict[str, list[RunInfo]] = {}
    for run in firsts.values():
        variants.setdefault(variant_key(run.config), []).append(run)
    kept = [run for seeds in list(variants.values())[:MAX_DIAG] for run in seeds[:MAX_SEEDS]]
    report = BlockReport([], [], max(0, len(variants) - MAX_DIAG))
    for run in kept:
        key = config_key(run.config)
        artifact = signals.SIGNALS_INIT.start(store.address, run.id, key, {"key": key})
        _file(report, run, False, artifact)
    kept_configs = {config_key(run.config) for run in kept}
    for run in runs:
        path = trained_file(run)
        if path is None or config_key(run.config) not in kept_configs:
            continue
        key = json.dumps({"weights": path.name, "stamp": path.stat().st_mtime})  # new weights, new measurement
        artifact = signals.SIGNALS_TRAINED.start(store.address, run.id, key, {"path": str(path), "key": config_key(run.config)})
        _file(report, run, True, artifact)
    return report


def _file(report: BlockReport, run: RunInfo, trained: bool, artifact: Artifact) -> None:
    """Put a measurement where the report shows it: measured, failed or pending."""
    if artifact.status == "done" and artifact.payload:
        payload = artifact.payload
        report.measured.append(RunSignals(run, trained, [BlockSignal(**s) for s in payload["signals"]],
                                          [(name, value) for name, value in payload.get("response_std", [])]))
    elif artifact.status == "running":
        report.pending.append(SignalsPending(run, trained, artifact.progress))
    else:
        report.failures.append(SignalFailure(run, trained, artifact.error or artifact.status))


def fig7_means(measured: Sequence[RunSignals]) -> list[tuple[RunInfo, float]]:
    """Each trained run's mean response std over its 3×3 layers, smallest first.

    He et al. 2015 (Sec. 4.2, Fig. 7): ResNets respond less than their plain twins, and the
    deeper ResNet less than the shallower one; the ordering of these means shows both.
    """
    means = [(m.run, float(sum(v for _, v in m.response_std) / len(m.response_std))) for m in measured if m.response_std]
    return sorted(means, key=lambda pair: pair[1])


def fig7_spread(measured: Sequence[RunSignals]) -> list[tuple[RunInfo, list[float]]]:
    """``fig7_means`` by variant (and kind of source): its first run, and each of its seeds' mean
    response std, for the variants measured at several seeds (their spread over seeds)."""
    by_variant: dict[tuple[bool, str], list[tuple[RunInfo, float]]] = {}
    for run, value in sorted(fig7_means(measured), key=lambda pair: pair[0].id):
        by_variant.setdefault((run.source == "reference", variant_key(run.config)), []).append((run, value))
    return [(pairs[0][0], [v for _, v in pairs]) for pairs in by_variant.values() if len(pairs) > 1]


def trained_file(run: RunInfo) -> Path | None:
    """The run's saved final weights, if it has them and the file is still there."""
    path = (run.result or {}).get("weights")
    return Path(path) if path and Path(path).is_file() else None
