"""Small trained models that ship with the app, so every demonstration runs on trained weights.

    python -m resnet.lab shipped                 # retrain both, rewrite assets/models and assets/samples/digits
    python -m resnet.lab shipped --only plain20_digits16
    python -m resnet.lab shipped --lesion-only   # only re-measure the lesion studies (bench/lesion.py times one)

Two nets, trained by the lab's own loop (``resnet.lab.train.train``) with fixed seeds on
scikit-learn's digits upscaled to 16×16, so their feature maps are legible (16×16, 8×8,
4×4 in the three stages):

- ResNet-56, the CIFAR design of He et al. 2015 (Sec. 4.2) with the model's default
  shortcuts, the net Veit et al. 2016 delete blocks from (they used ResNet-110);
- plain-20, a plain net that does train (plain-56 does not: the degradation problem),
  the stand-in for the paper's VGG.

Each is written as ``<key>.safetensors`` in float16 (half the bytes; loading converts to
float32) plus its JSON sidecar (``resnet.model.weights.save_trained``): the training set's
mean/std, the class names, the run's configuration and ``test_acc``, the accuracy of the
float16 weights on the fixed test split, measured here and checked again by the tests.
A few test-set digits are written as PNGs at the models' input size (``digit_<label>.png``),
so a sample fed through the model's preprocessing is exactly a test image.

Then Veit et al.'s lesion study of every shipped model (``resnet.inference.ablation``) is
measured by the same code the Feature maps page runs live (``resnet.lab.lesion``, in a task
process there), and written to ``lesion_studies.json`` (``resnet.lab.stored_lesions``) with
the per-image outcomes of the intact net and of each single deletion (each change of accuracy
has its paired interval) and the SHA-256 of the weights file it was measured on: a class sees
the charts at once, and a study of weights that changed since is not used.

Hyperparameters: the lab's defaults (SGD, momentum 0.9, weight decay 1e-4, lr 0.1, batch
64) with the presets' 20-step warm-up, 300 steps (≈ 13 epochs of the 1,438 training
digits). Measured on 2 shared cores: ResNet-56 passes 97 % test accuracy by step 150 and
ends at 98.1 % (≈ 150 s, ~136 images/s); plain-20 is at 94 % by step 150 and ends at
97.8 % (≈ 50 s); then the lesion studies (bench/lesion.py times them). The whole command takes ≈ 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from .. import stats
from ..inference import explore
from ..inference.explore import file_stamp
from ..inference.lesion_record import LesionStudy
from ..model.preprocess import Preprocess
from ..model.weights import LabModel, WeightsError, load_state, load_trained, model_label, read_sidecar, save_trained
from ..paths import ASSETS
from .config import TrainConfig
from .data import Dataset, load_dataset
from .lesion import lesion_study
from .store import Artifact
from .stored_lesions import LESION_FILE, LESION_FORMAT, MODELS_DIR, file_digest, stored_lesion_studies
from .tasks import Progress, ShouldStop
from .train import evaluate, train

DIGITS_DIR = ASSETS / "samples" / "digits"
IMAGE_SIZE = 16
BASE = TrainConfig(dataset="digits", image_size=IMAGE_SIZE, batch_size=64, lr=0.1, warmup_steps=20, steps=300,
                   eval_every=50, seed=0)
# key (file name) -> run; DEFAULT_KEY is the Feature maps page's default trained net
SHIPPED: dict[str, TrainConfig] = {
    "resnet56_digits16": replace(BASE, depth=56, shortcut="identity"),
    "plain20_digits16": replace(BASE, depth=20, shortcut="none"),
}
DEFAULT_KEY = "resnet56_digits16"
DEFAULT_DIGIT = "digit_3"  # both shipped nets get it right, and the Why page's link opens on it
STORAGE_DTYPE = np.float16
DIGITS_CREDITS = """# Sample digits

The first test-set image of each class of scikit-learn's digits (`sklearn.datasets.load_digits`,
BSD-3-Clause package; the data: UCI ML "Optical Recognition of Handwritten Digits",
E. Alpaydin and C. Kaynak, 1998, CC BY 4.0), upscaled bilinearly to {size}×{size} as the
shipped models see them. Regenerate with `python -m resnet.lab shipped`.
"""


@dataclass(frozen=True)
class Shipped:
    """What regenerating one model produced."""

    key: str
    path: Path
    label: str  # "ResNet-56"
    test_acc: float  # float16 weights, fixed test split
    test_acc_float32: float | None  # the same net before rounding to float16, as training reported
    wall_s: float
    images_per_s: float


def shipped_path(key: str, folder: Path = MODELS_DIR) -> Path:
    return folder / f"{key}.safetensors"


def shipped_models(folder: Path = MODELS_DIR) -> list[Path]:
    """The shipped models present on disk, in ``SHIPPED`` order (the default first)."""
    return [shipped_path(key, folder) for key in SHIPPED if shipped_path(key, folder).is_file()]


def weight_files(source: str, trained: Path, folder: Path = MODELS_DIR) -> list[Path]:
    """The files a weights source offers: ``"shipped"``, the models in ``folder`` (the default
    first); else ``explore.weight_files``. ``WeightsError`` when there are none."""
    if source != "shipped":
        return explore.weight_files(source, trained)
    if not (files := shipped_models(folder)):
        raise WeightsError("shipped_missing", f"no shipped model in {folder}", folder=str(folder))
    return files


def file_option(path: Path, folder: Path = MODELS_DIR) -> str:
    """A weights file as the selector lists it, short (a projector cuts long options): a shipped model by its
    label; its test accuracy goes under the selector, with its interval (``recorded_accuracy``)."""
    if path.parent != folder:
        return explore.file_label(path)
    try:
        meta = read_sidecar(path)
    except WeightsError:
        meta = {}
    return str(meta.get("label") or path.stem)


def recorded_accuracy(meta: Mapping[str, Any]) -> stats.Interval | None:
    """The test accuracy a sidecar records (``test_acc`` on ``test_images``, as ``train_shipped`` writes them) with
    its 95 % Wilson interval; None if it records none."""
    acc, n = meta.get("test_acc"), meta.get("test_images")
    if not isinstance(acc, (int, float)) or not isinstance(n, int) or n <= 0 or not 0 <= acc <= 1:
        return None
    return stats.wilson(round(acc * n), n)


def sample_digits(folder: Path = DIGITS_DIR) -> list[Path]:
    """The shipped sample digits (``digit_<label>.png``), by label."""
    return sorted(folder.glob("digit_*.png"))


def sample_names(channels: int, folder: Path = DIGITS_DIR) -> list[str]:
    """The samples that suit a model with ``channels`` input channels: the digits first for a one-channel model."""
    digits = [p.stem for p in sample_digits(folder)] if channels == 1 else []
    return [*digits, *explore.PHOTOS]


def default_sample(names: Sequence[str]) -> str:
    """The image the Feature maps page opens on among ``names``: ``DEFAULT_DIGIT`` if offered, else the cat."""
    return DEFAULT_DIGIT if DEFAULT_DIGIT in names else "cat"


def sample_shown(name: str, spec: Preprocess, folder: Path = DIGITS_DIR) -> explore.Shown:
    """A sample photo (``explore.PHOTOS``), or a sample digit (``digit_<label>``) from ``folder``."""
    if name in explore.PHOTOS:
        return explore.sample_shown(name, spec)
    return explore.file_shown(f"sample:{name}", folder / f"{name}.png", spec)


def held_out_split(lab: LabModel) -> Dataset:
    """The held-out split a lab-trained model was measured on, rebuilt from its sidecar.

    The split and the standardisation are fixed by the files (``resnet.lab.data``), so
    this is the same data the training loop evaluated on. ``ValueError`` if the sidecar
    has no training configuration or the data folder is gone.
    """
    run = lab.meta.get("train_config")
    if not isinstance(run, Mapping):
        raise ValueError(f"{lab.source} records no training run (no train_config in its sidecar)")
    return load_dataset(run.get("dataset", "digits"), image_size=int(run.get("image_size", 8)), data_dir=run.get("data_dir"))


def lab_label(lab: LabModel) -> str:
    """A model as charts name it: its run's label ("ResNet-56"), else its architecture."""
    label = lab.meta.get("label")
    return label if isinstance(label, str) and label else model_label(lab.model.config)


def measure_lesion(lab: LabModel, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> LesionStudy | None:
    """Veit et al.'s lesion study of a lab-trained model on the held-out split it was measured on; None if asked to stop.

    ``ValueError`` (from ``held_out_split``) when that split cannot be rebuilt.
    """
    return lesion_study(lab.model, held_out_split(lab), lab_label(lab), progress=progress, should_stop=should_stop)


def measure_file(path: Path, progress: Progress | None = None, should_stop: ShouldStop | None = None) -> LesionStudy | None:
    """``measure_lesion`` of a weights file (the lesion analysis's task target calls this)."""
    return measure_lesion(load_trained(path), progress, should_stop)


def write_lesion_studies(folder: Path = MODELS_DIR) -> Path:
    """Measure every shipped model in ``folder`` and write ``LESION_FILE`` there."""
    studies = {}
    for path in shipped_models(folder):
        study = measure_file(path)
        assert study is not None  # nothing asks it to stop
        studies[path.stem] = {"sha256": file_digest(path), "study": study.to_dict()}
    out = folder / LESION_FILE
    document = {"format": LESION_FORMAT, "regenerate": "python -m resnet.lab shipped --lesion-only", "studies": studies}
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return out


class LesionBoard:
    """Lesion studies of weights files as the Feature maps page shows them: stored with the shipped
    models, or measured live in a task process (``resnet.lab.analyses.lesion``: its artifacts).
    """

    def __init__(self, folder: Path = MODELS_DIR) -> None:
        self.folder = folder
        self._stored: tuple[tuple, dict[str, LesionStudy]] = ((), {})
        self._lock = threading.Lock()

    def stored(self) -> dict[str, LesionStudy]:
        """``stored_lesion_studies`` of the folder, reread when a file in it changes."""
        files = [self.folder / LESION_FILE, *shipped_models(self.folder)]
        stamps = tuple((str(f), *file_stamp(f)) for f in files if f.is_file())
        with self._lock:
            if self._stored[0] != stamps:
                self._stored = stamps, stored_lesion_studies(self.folder)
            return self._stored[1]

    def study(self, path: Path, live: Artifact | None) -> LesionStudy | None:
        """The file's study: ``live`` (its measurement on this server) if it is done, else the stored one
        of a shipped model, else None."""
        if live is not None and live.status == "done" and live.payload:
            try:
                return LesionStudy.from_dict(live.payload)
            except (KeyError, TypeError, ValueError):  # measured by an older version (no per-image outcomes)
                pass
        return self.stored().get(path.stem) if path.parent == self.folder else None


def write_digit_samples(data: Dataset, folder: Path = DIGITS_DIR) -> list[Path]:
    """The first test image of every class as an 8-bit grayscale PNG at the data's size.

    Un-standardised with the training set's mean/std, so the model's preprocessing
    (``Preprocess`` in the sidecar) turns the file back into the test image, up to the
    8-bit rounding.
    """
    if data.in_channels != 1:
        raise ValueError(f"digit samples are grayscale; {data.name} has {data.in_channels} channels")
    folder.mkdir(parents=True, exist_ok=True)
    for old in sample_digits(folder):
        old.unlink()
    (folder / "CREDITS.md").write_text(DIGITS_CREDITS.format(size=data.image_size), encoding="utf-8")
    written = []
    for label, name in enumerate(data.classes):
        index = int(np.flatnonzero(data.y_test == label)[0])
        pixels = data.x_test[index, 0] * data.std[0] + data.mean[0]  # [H, W] in 0…1
        path = folder / f"digit_{name}.png"
        Image.fromarray(np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8), mode="L").save(path, optimize=True)
        written.append(path)
    return written


def train_shipped(key: str, config: TrainConfig, data: Dataset, folder: Path = MODELS_DIR) -> Shipped:
    """Train ``config`` through the lab's loop, store it in float16 and measure what was stored."""
    with tempfile.TemporaryDirectory() as tmp:
        result = train(config, data=data, save_weights=Path(tmp) / f"{key}.safetensors")
        if result.status != "done" or result.weights is None:
            raise RuntimeError(f"{key}: training ended {result.status!r}, nothing written")
        lab = load_trained(result.weights)
    # Round every tensor to float16 in the model itself: what is measured is what is stored.
    load_state(lab.model, {k: v.numpy().astype(STORAGE_DTYPE) for k, v in lab.model.state_dict().items()})
    _, test_acc = evaluate(lab.model, data)
    meta = {k: v for k, v in lab.meta.items() if k not in ("format", "model")}  # save_trained writes those
    meta.update(test_acc=test_acc, test_acc_float32=result.final_test_acc, test_images=len(data.y_test),
                weights_dtype=np.dtype(STORAGE_DTYPE).name, regenerate="python -m resnet.lab shipped")
    path = save_trained(lab.model, meta, shipped_path(key, folder), dtype=STORAGE_DTYPE)
    return Shipped(key, path, config.label, test_acc, result.final_test_acc, result.wall_s, result.images_per_s)


def make_shipped(
    specs: Mapping[str, TrainConfig] = SHIPPED, folder: Path = MODELS_DIR, samples: Path | None = DIGITS_DIR
) -> list[Shipped]:
    """Train every run of ``specs`` into ``folder``; write sample digits of the first one's data."""
    cache: dict[tuple[str, int], Dataset] = {}
    done = []
    for i, (key, config) in enumerate(specs.items()):
        if (config.dataset, config.image_size) not in cache:
            cache[config.dataset, config.image_size] = load_dataset(
                config.dataset, image_size=config.image_size, data_dir=config.data_dir)
        data = cache[config.dataset, config.image_size]
        if i == 0 and samples is not None:
            write_digit_samples(data, samples)
        done.append(train_shipped(key, config, data, folder))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet.lab shipped", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(SHIPPED), help="default: all")
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help=f"default: {MODELS_DIR}")
    parser.add_argument("--samples", type=Path, default=DIGITS_DIR, help=f"default: {DIGITS_DIR}")
    parser.add_argument("--lesion-only", action="store_true", help=f"only re-measure {LESION_FILE}")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    specs = {k: v for k, v in SHIPPED.items() if not args.only or k in args.only}
    for s in [] if args.lesion_only else make_shipped(specs, args.out, args.samples):
        f32 = f"{s.test_acc_float32:.4f}" if s.test_acc_float32 is not None else "?"
        print(f"{s.label:10s} test acc {s.test_acc:.4f} (float32 {f32})  {s.wall_s:6.1f} s  "
              f"{s.images_per_s:5.0f} img/s  {s.path} ({s.path.stat().st_size / 2**20:.2f} MB)", flush=True)
    lesion_start = time.perf_counter()
    path = write_lesion_studies(args.out)  # every shipped model in the folder, so none keeps a stale study
    print(f"lesion studies {time.perf_counter() - lesion_start:.1f} s  {path}")
    print(f"total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
