"""The work behind ``python -m resnet.prepare`` and the server's warm-up (``background``).

- ``fetch_weights``: the official ImageNet weights into ``data_home()/weights``, through
  ``weights.download_official`` (the same code as the Feature maps page's Download
  button: resumable, MD5-checked), with a progress line.
- ``warm_up``: what a first visitor would otherwise wait for, done ahead on disk: the
  reference runs imported into the run store, the shipped models loaded (read and
  checked), and the fast path's programs exported (``data_home()/programs``).
- ``warm_server``: the same inside the server's inference service process, where it also
  counts what lives in memory: Paddle and the pages' modules imported, the default view's
  maps run once, and the fast path's predictors built for the weights a class opens first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from ..inference import served
from ..inference.explore import ModelSpec, file_stamp
from ..inference.fastpath import MAX_MEMORY_MODELS, FastModel, clear_memory_cache, fast_model
from ..lab import shipped
from ..lab.presets import import_reference_runs
from ..lab.store import RunStore
from ..model import weights
from ..model.modes import ensure_dygraph
from ..model.network import IMAGENET_DEPTHS
from ..paths import ENV_HOME, data_home

RANDOM_DEFAULT = (50, 0)  # the Feature maps page's random weights when the URL names none: ResNet-50, seed 0
SERVER_DEPTH = 50  # the page's default depth: the official weights the server warms, when on disk


# ---------------------------------------------------------------------------------
# The official weights
# ---------------------------------------------------------------------------------


class ProgressLine:
    """``weights.Progress`` as one line: rewritten in place on a terminal, every 10 % in a log."""

    def __init__(self, name: str, out: TextIO) -> None:
        self.name, self.out, self.tty = name, out, out.isatty()
        self.shown = -1  # the last tenth written to a log

    def __call__(self, done: int, total: int | None) -> None:
        share = f"  {done / total:4.0%}" if total else ""
        text = f"{self.name}: {done / 2**20:6.1f} / {(total or 0) / 2**20:.1f} MB{share}"
        if self.tty:
            self.out.write("\r" + text)
        elif (tenth := int(10 * done / total) if total else 0) > self.shown:
            self.shown = tenth
            self.out.write(text + "\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty:
            self.out.write("\n")


def fetch_weights(depths: Sequence[int], out: TextIO | None = None) -> int:
    """Download the official weights of each depth (those already there are only MD5-checked); failures.

    One failure does not stop the others: each depth says what became of it (on ``out``, stdout by default).
    """
    out = out or sys.stdout
    failures = 0
    for depth in depths:
        name = weights.official_file(depth).name
        line = ProgressLine(name, out)
        try:
            path = weights.download_official(depth, line)
        except weights.WeightsError as exc:
            line.end()
            out.write(f"{name}: FAILED: {exc}\n")
            failures += 1
            continue
        line.end()
        out.write(f"{name}: ready, MD5 {weights.OFFICIAL[depth][1]} checked ({path.stat().st_size / 2**20:.1f} MB)\n")
    folder = weights.official_file(depths[0]).parent if depths else data_home()
    out.write(copy_instructions(folder))
    return failures


def copy_instructions(folder: Path) -> str:
    """How to take the downloaded weights to a machine without a network."""
    return (
        f"\nThe weights are in {folder}\n"
        f"For a machine without network: copy that folder to <data folder>/weights there, where the data folder\n"
        f"is ${ENV_HOME} if set, else ~/.resnet_lab (e.g. rsync -a {folder}/ otherhost:.resnet_lab/weights/).\n"
        f"The Feature maps page then finds them: it checks each file's MD5 and never goes online by itself.\n"
    )


# ---------------------------------------------------------------------------------
# Warm-up
# ---------------------------------------------------------------------------------


def fast_path_models(depths: Sequence[int] = IMAGENET_DEPTHS) -> Iterator[tuple[str, weights.LabModel]]:
    """The weights whose Feature maps take the fast path and may be opened first, one at a time.

    The page's random default, then the official weights of ``depths`` that are on disk
    and whole; each is built when asked for, so a caller holds one ResNet at a time.
    """
    depth, seed = RANDOM_DEFAULT
    yield f"random ResNet-{depth}, seed {seed}", weights.random_model(depth, seed)
    for depth in depths:
        if weights.official_state(depth) == "ready":
            yield f"official ResNet-{depth}", weights.official_model(depth)


def warm_up(out: TextIO | None = None) -> None:
    """Import the reference runs, load the shipped models, export the fast path's programs; say what and how long."""
    out = out or sys.stdout
    ensure_dygraph()
    start = time.perf_counter()
    store = RunStore()
    imported = import_reference_runs(store)
    runs = sum(len(ids) for ids in imported.values())
    out.write(f"reference runs: {runs} of {len(imported)} presets in {store.name} ({time.perf_counter() - start:.1f} s)\n")
    for path in shipped.shipped_models():
        start = time.perf_counter()
        lab = weights.load_trained(path)
        out.write(f"shipped model {path.name}: {weights.model_label(lab.model.config)} loads "
                  f"({time.perf_counter() - start:.1f} s)\n")
    for label, lab in fast_path_models():
        fast = FastModel.from_model(lab.model)  # exports (or finds) the program, builds and self-checks a predictor
        where = fast.program_dir.parent if fast.program_dir else "-"
        out.write(f"fast path for {label}: {fast.backend} in {where} ({fast.build_seconds:.1f} s)"
                  + (f"  NOTICE: {fast.notice}" if fast.notice else "") + "\n")
        clear_memory_cache()  # one ResNet in memory at a time: the program stays on disk for the server


def warm_server(random_default: tuple[int, int] = RANDOM_DEFAULT) -> list[str]:
    """In an inference service process (``resnet.lab.service``): Paddle and the Feature maps
    page's code loaded, its default view's maps run once (the shipped model, on the default
    digit), and fast-path predictors built for the random default and the official ResNet-50
    (when on disk); what each fast model runs on ("predictor", or "dygraph" with its notice).

    The page asks the service for the same weights (``served``) and finds them, and their
    predictors, in this process's caches, so the first visit does not load, export or build.
    """
    if files := shipped.shipped_models():
        spec = ModelSpec("file", path=str(files[0]), stamp=file_stamp(files[0]))
        lab = served.lab_for(spec)
        shown = shipped.sample_shown(shipped.default_sample(shipped.sample_names(lab.preprocess.channels)), lab.preprocess)
        served.maps(spec, shown.prepared.array)
    depth, seed = random_default
    specs = [ModelSpec("random", depth=depth, seed=seed)]
    if weights.official_state(SERVER_DEPTH) == "ready":
        specs.append(ModelSpec("official", depth=SERVER_DEPTH, path=str(weights.official_file(SERVER_DEPTH))))
    built = []
    for spec in specs[:MAX_MEMORY_MODELS - 1]:  # leave the pages room in the cache for one more
        fast = fast_model(served.lab_for(spec).model)
        built.append(fast.backend + (f" ({fast.notice})" if fast.notice else ""))
    return built
