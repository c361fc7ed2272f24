"""Offline data sets for the training lab, as in-memory numpy arrays.

* ``digits``: scikit-learn's 1,797 real 8×8 handwritten digits (they ship inside the
  package), optionally upscaled; the embedded default.
* ``folder``: an image folder with one subfolder per class (``root/cat/*.jpg`` …).
* ``ichallenge_pm``: the course's iChallenge-PM (PALM) layout, a folder of fundus photos
  whose file names say the label: N… or H… → 0 (normal / high myopia), P… → 1
  (pathologic myopia).

Folders are only ever read from a directory the caller passes in; nothing is
downloaded. Every loader returns the same fixed, stratified train/test split for the
same files, standardised with the training set's per-channel mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..model.preprocess import to_rgb
from .config import DATASETS, DEFAULT_IMAGE_SIZE

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the split never depends on a run's seed: every run sees the same test set
PM_LABELS = {"N": 0, "H": 0, "P": 1}
PM_CLASSES = ("non-pathologic (N, H)", "pathologic myopia (P)")


@dataclass(frozen=True)
class Dataset:
    """Standardised images ``[N, C, H, W]`` (float32) and integer labels ``[N]``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # "path: reason" for every file that was left out
    # Per-channel mean and std of the training images before standardising, in 0…1 pixel
    # units: what a saved model needs to preprocess new images (``resnet.model.preprocess.Preprocess``).
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])


def load_dataset(name: str, *, image_size: int, data_dir: str | Path | None = None) -> Dataset:
    """Load one of ``DATASETS``; folder data sets need ``data_dir``."""
    if name == "digits":
        return load_digits(image_size)
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    if data_dir is None:
        raise ValueError(f"dataset {name!r} reads images from a folder: set data_dir")
    if name == "folder":
        return load_image_folder(data_dir, image_size)
    return load_ichallenge_pm(data_dir, image_size)


def load_digits(image_size: int = DEFAULT_IMAGE_SIZE["digits"]) -> Dataset:
    """scikit-learn's digits, 10 classes, 1 channel, bilinearly upscaled if asked."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = bunch.images.astype(np.float32) / 16.0  # pixel values are 0..16
    if image_size != 8:
        images = np.stack([_resize_gray(img, image_size) for img in images])
    return _split_and_standardise(
        "digits", images[:, None], bunch.target.astype(np.int64), tuple(str(c) for c in range(10))
    )


def load_image_folder(root: str | Path, image_size: int = DEFAULT_IMAGE_SIZE["folder"]) -> Dataset:
    """One subfolder per class; unreadable files are skipped and listed in ``skipped``."""
    root = _existing_dir(root)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(f, label) for label, d in enumerate(class_dirs) for f in _files_under(d)]
    if not files:
        raise ValueError(f"data folder {root} has no class subfolders with files (expected root/<class>/<image>)")
    x, y, skipped = _read_images(files, image_size)
    classes = tuple(d.name for d in class_dirs)
    present = sorted({classes[i] for i in y.tolist()})
    if len(present) < 2:
        found = f"only {present[0]!r}" if present else "no readable images"
        raise ValueError(f"data folder {root} needs at least two classes with readable images, found {found}" + _skipped_note(skipped))
    # Classes whose folder held no readable image are dropped so labels stay 0..C-1.
    keep = [c for c in classes if c in present]
    remap = np.array([keep.index(c) if c in keep else -1 for c in classes])
    return _split_and_standardise(f"folder:{root}", x, remap[y], tuple(keep), skipped)


def load_ichallenge_pm(root: str | Path, image_size: int = DEFAULT_IMAGE_SIZE["ichallenge_pm"]) -> Dataset:
    """iChallenge-PM training images (any depth below ``root``): N/H → 0, P → 1."""
    root = _existing_dir(root)
    files, skipped = [], []
    for f in _files_under(root):
        label = PM_LABELS.get(f.name[:1].upper())
        if label is None:
            skipped.append(f"{f}: name does not start with N, H or P")
        else:
            files.append((f, label))
    if not files:
        raise ValueError(f"data folder {root} has no files named N*, H* or P* (iChallenge-PM layout)")
    x, y, unreadable = _read_images(files, image_size)
    skipped += unreadable
    if len(set(y.tolist())) < 2:
        found = "no readable images" if len(y) == 0 else f"only label {int(y[0])} ({PM_CLASSES[int(y[0])]})"
        raise ValueError(f"data folder {root} needs both N/H and P images, found {found}" + _skipped_note(skipped))
    return _split_and_standardise(f"ichallenge_pm:{root}", x, y, PM_CLASSES, skipped)


# ---------------------------------------------------------------------------------


def _existing_dir(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise ValueError(f"data folder {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"data folder {path} is not a directory")
    return path


def _files_under(folder: Path) -> list[Path]:
    """Regular, non-hidden files below ``folder``, in a stable order."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _read_images(files: list[tuple[Path, int]], size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """RGB images resized to size×size, [N, 3, size, size] in 0..1, plus skipped files."""
    images, labels, skipped = [], [], []
    for path, label in files:
        try:
            with Image.open(path) as img:
                img.draft("RGB", (size, size))  # JPEG decodes at reduced scale: fundus photos are ~2000 px
                rgb, _ = to_rgb(img)  # the uploads' conversions: 16-bit, CMYK, alpha on white…
                arr = np.asarray(rgb.resize((size, size), Image.BILINEAR), dtype=np.float32)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            skipped.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
            continue
        images.append(arr.transpose(2, 0, 1) / 255.0)
        labels.append(label)
    x = np.stack(images) if images else np.zeros((0, 3, size, size), np.float32)
    return x, np.array(labels, dtype=np.int64), skipped


def _resize_gray(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img, mode="F").resize((size, size), Image.BILINEAR), dtype=np.float32)


def _skipped_note(skipped: list[str]) -> str:
    return f"; {len(skipped)} file(s) skipped, e.g. {skipped[0]}" if skipped else ""


def _split_and_standardise(
    name: str, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...], skipped: list[str] | tuple[str, ...] = ()
) -> Dataset:
    """Fixed stratified split (TEST_FRACTION of each class with ≥ 2 items goes to test)."""
    rng = np.random.default_rng(SPLIT_SEED)
    test_idx = []
    for c in range(len(classes)):
        idx = np.flatnonzero(y == c)
        n_test = max(1, round(len(idx) * TEST_FRACTION)) if len(idx) >= 2 else 0
        test_idx.extend(rng.permutation(idx)[:n_test].tolist())
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test_idx] = True
    x_train, x_test = x[~is_test], x[is_test]
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    return Dataset(
        name=name,
        x_train=((x_train - mean) / std).astype(np.float32),
        y_train=y[~is_test],
        x_test=((x_test - mean) / std).astype(np.float32),
        y_test=y[is_test],
        classes=classes,
        skipped=tuple(skipped),
        mean=tuple(float(m) for m in mean.ravel()),
        std=tuple(float(s) for s in std.ravel()),
    )
