"""The Feature maps page's work without Streamlit: one call for each thing the page shows.

    shown = sample_shown("cat", lab.preprocess)        # or upload_shown(data, lab.preprocess), file_shown(…)
    analysis, seconds = analyse(lab.model, shown.prepared.array, labels=lab.classes)
    view = block_view(analysis, STEM)                   # the stem too, as a block's view
    files = weight_files("trained", folder)             # a source's weights files (or WeightsError)

``analyse`` takes the fast path (``resnet.inference.fastpath``) when the input size
allows it (not the shipped digits models' 16×16: dygraph, a few ms) and falls back to
dygraph if that fails: the fast path is an optimisation, never a reason to fail. The page
caches these results; they are read-only.

The page itself builds and runs no model: it names the weights by a ``ModelSpec`` and the
inference service (``resnet.inference.served``) loads them, answers with a ``ModelInfo``
(the model without its network) and computes the analyses.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, MutableMapping, Sequence

import numpy as np
from PIL import Image

from ..i18n import Translator
from ..model import preprocess, weights
from ..model.modes import ensure_dygraph
from ..model.network import ResNet, ResNetConfig
from . import features, images
from .fastpath import IMAGE_SIZE_RANGE as FAST_SIZES, fast_forward_features

_log = logging.getLogger(__name__)

STEM = "stem"  # the stem's name among the blocks (the overview's customdata, the URL's ?block=)
UPLOAD = "upload"  # the image selector's choice that opens the upload box
PHOTOS = tuple(s.name for s in images.SAMPLES)
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "gif")  # the extensions of ``images.FORMATS``
FILE_SOURCES = ("shipped", "local", "trained")  # weights from a file: the file says which network it holds
URL_NAMES = ("image", "weights", "depth", "seed", "file", "block", "ch", "k", "scale", "ablate", "drop")
DISPLAY_SIDE = 768  # an upload is shown at most this many pixels wide or high
# Size of the official .pdparams files in MB: float32 parameters and BatchNorm statistics.
OFFICIAL_MB = {18: 45, 34: 83, 50: 98, 101: 171, 152: 230}
TOP_K = 5  # classes the predictions show of a large label set (ImageNet's 1000)
ALL_CLASSES_UP_TO = 10  # a label set this small is shown whole: the digits' 0–9, each on the axis


@dataclass(frozen=True)
class ModelSpec:
    """Weights as the page names them: the inference service builds or loads them (``served``).

    ``kind``: "random" (``depth``, ``seed``), "official" (``depth``; ``path`` is its file, so
    another data folder is another model) or "file" (``path`` and its ``file_stamp``).
    """

    kind: str
    depth: int | None = None
    seed: int | None = None
    path: str | None = None
    stamp: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """Names the weights in the caches (the server's analyses, the service's models)."""
        if self.kind == "random":
            return f"random:{self.depth}:{self.seed}"
        if self.kind == "official":
            return f"official:{self.depth}:{self.path}"
        stamp = self.stamp or (0, 0)
        return f"file:{self.path}:{stamp[0]}:{stamp[1]}"


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model as the page shows and feeds it, without the network (that stays in the service)."""

    spec: ModelSpec
    config: ResNetConfig
    kind: str  # "random" | "official" | "trained"
    source: str  # for people: "seed 0", a URL, a file name
    preprocess: preprocess.Preprocess
    classes: tuple[str, ...] | None  # class names by index; None for random weights
    meta: dict[str, Any]  # the sidecar JSON of a trained model ({} otherwise)

    @classmethod
    def of(cls, spec: ModelSpec, lab: weights.LabModel) -> ModelInfo:
        return cls(spec, lab.model.config, lab.kind, lab.source, lab.preprocess, lab.classes, lab.meta)

    @property
    def label(self) -> str:
        """As charts name it: its run's label ("ResNet-56"), else its architecture."""
        label = self.meta.get("label")
        return label if isinstance(label, str) and label else weights.model_label(self.config)


@dataclass(frozen=True)
class Shown:
    """The image as the page shows and feeds it."""

    key: str  # names the image in the shared analysis cache: "sample:cat", "upload:<digest>"
    picture: Image.Image  # for display (at most DISPLAY_SIDE px a side)
    size: tuple[int, int]  # the file's own width and height
    steps: list[preprocess.Step]  # loading steps; preprocessing steps are in ``prepared``
    prepared: preprocess.Prepared


def shown_image(key: str, loaded: images.LoadedImage, spec: preprocess.Preprocess) -> Shown:
    """``loaded`` preprocessed for the network, with a display copy no larger than needed.

    Only the thumbnail and the network's input are kept, not the decoded file (an upload
    may have up to 40 megapixels).
    """
    picture = loaded.image
    if max(picture.size) > DISPLAY_SIDE:
        picture = picture.copy()
        picture.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    return Shown(key, picture, loaded.size, loaded.steps, preprocess.preprocess(loaded.image, spec))


def sample_shown(name: str, spec: preprocess.Preprocess) -> Shown:
    """One of the shipped sample photos (``images.SAMPLES``)."""
    return shown_image(f"sample:{name}", images.load_sample(name), spec)


def file_shown(key: str, path: Path, spec: preprocess.Preprocess) -> Shown:
    """An image file that ships with the app (the sample digits), named ``key`` in the caches."""
    return shown_image(key, images.load_image(path.read_bytes()), spec)


def upload_shown(data: bytes, spec: preprocess.Preprocess) -> Shown:
    """An uploaded file, checked and decoded by ``images.load_image``.

    Raises ``images.ImageError`` for any file that cannot be used, whatever it holds: an
    unexpected failure of a decoder becomes the ``"damaged"`` refusal (and is logged).
    """
    key = "upload:" + hashlib.sha256(data).hexdigest()[:20]
    try:
        loaded = images.load_image(data)
    except images.ImageError:
        raise
    except Exception as exc:  # never a traceback for a file
        _log.warning("decoding an upload failed", exc_info=True)
        raise images.ImageError("damaged", str(exc)) from None
    return shown_image(key, loaded, spec)


def upload_once(memo: MutableMapping[str, Any], slot: str, file_id: str, data: Callable[[], bytes],
                spec: preprocess.Preprocess) -> Shown:
    """``upload_shown`` once per (file, preprocessing), remembered in ``memo[slot]`` (a session's state).

    A refusal is remembered too and raised again, so reruns do not decode the file again.
    """
    cached = memo.get(slot)
    if cached is not None and cached[0] == file_id:
        if isinstance(cached[2], images.ImageError):
            raise cached[2]
        if cached[1] == spec:
            return cached[2]
    try:
        shown = upload_shown(data(), spec)
    except images.ImageError as exc:
        memo[slot] = (file_id, spec, exc)
        raise
    memo[slot] = (file_id, spec, shown)
    return shown


def fast_path_takes(array: np.ndarray) -> bool:
    """Whether ``analyse`` tries the fast path for ``array`` [N, C, H, W]: its sides in ``FAST_SIZES``."""
    return all(FAST_SIZES[0] <= side <= FAST_SIZES[1] for side in array.shape[2:])


def analyse(
    model: ResNet,
    array: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    drop_blocks: Sequence[str] = (),
    shortcuts_off: bool = False,
) -> tuple[features.Analysis, float]:
    """``features.run`` of ``array`` ([1, C, H, W]) on the fastest path that works; and its seconds."""
    ensure_dygraph()
    start = time.perf_counter()
    settings = dict(labels=labels, drop_blocks=frozenset(drop_blocks), shortcuts_off=shortcuts_off)
    if fast_path_takes(array):
        try:  # the fast path runs ablations on dygraph itself
            return features.run(model, array, forward=fast_forward_features, **settings), time.perf_counter() - start
        except Exception:  # an optimisation: never a reason to fail the page
            _log.warning("fast path failed; using dygraph", exc_info=True)
    return features.run(model, array, **settings), time.perf_counter() - start


def classes_shown(num_classes: int) -> int:
    """How many classes the predictions chart shows: all of a small label set, else the top ``TOP_K``."""
    return num_classes if num_classes <= ALL_CLASSES_UP_TO else TOP_K


def stem_view(analysis: features.Analysis) -> features.BlockView:
    """The stem's output as a view, so the channel grid can show it (it has no F(x) or shortcut)."""
    stem = analysis.stem  # [C, H, W]
    zeros = np.broadcast_to(np.float32(0), stem.shape)
    return features.BlockView(
        name=STEM, stage=0, x=stem, residual=zeros, shortcut=zeros, out=stem, shortcut_kind="off", scale=0.0,
        x_how="same", x_source=None, residual_ratio=math.nan, out_ratio=1.0, channel_means=stem.mean(axis=(1, 2)),
        absmax=float(np.abs(stem).max()), dropped=False,
    )


def default_block(analysis: features.Analysis) -> str:
    """The block the page opens on: the second (layer1.1 of an ImageNet ResNet, an identity
    block, where x and F(x) line up channel by channel), or the only one."""
    names = [v.name for v in analysis.blocks]
    return names[1] if len(names) > 1 else names[0]


def block_choices(analysis: features.Analysis) -> list[str]:
    """What the overview and the block selector offer: the stem, then every block."""
    return [STEM, *(v.name for v in analysis.blocks)]


def drop_default(analysis: features.Analysis, block: str) -> str:
    """The block the ablation drops unless told: the one on show, or ``default_block`` when the stem is."""
    return block if any(v.name == block for v in analysis.blocks) else default_block(analysis)


def block_view(analysis: features.Analysis, name: str) -> features.BlockView:
    """The view of block ``name``, or of the stem for ``STEM``."""
    return stem_view(analysis) if name == STEM else analysis.block(name)


def weight_files(source: str, trained: Path) -> list[Path]:
    """The files a weights source offers: ``"local"``, the operator's folder; ``"trained"``,
    the lab's finished runs in ``trained``. Raises ``weights.WeightsError`` when there are none."""
    if source == "local":
        folder = weights.weights_dir()
        if folder is None:
            raise weights.WeightsError("local_unset", f"${weights.ENV_WEIGHTS_DIR} is not set", env=weights.ENV_WEIGHTS_DIR)
    elif source == "trained":
        folder = trained
    else:
        raise ValueError(f"weights from files are 'local' or 'trained', got {source!r}")
    files = weights.safetensors_files(folder)
    if not files and source == "local":
        raise weights.WeightsError("local_empty", f"no .safetensors file in {folder}", folder=str(folder))
    if not files:
        raise weights.WeightsError("trained_empty", f"nothing trained yet in {folder}", folder=str(folder))
    return files


def error_text(exc: Exception, t: Translator) -> str:
    """A refusal from ``images`` / ``weights`` in the page's language, by its ``code``
    (``fm.error.<code>``, ``fm.weights_error.<code>``); anything else as ``fm.error.other``."""
    prefix = "fm.error." if isinstance(exc, images.ImageError) else "fm.weights_error."
    key = prefix + getattr(exc, "code", "")
    if key in t.texts:
        try:
            return t(key, **getattr(exc, "values", {}))
        except (KeyError, IndexError, ValueError):  # a value the text expects is missing: say it in English
            pass
    return t("fm.error.other", reason=str(exc)[:500])


def file_stamp(path: Path) -> tuple[int, int]:
    """(mtime in ns, size) of a file: caches keyed by it notice when the file is rewritten."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def file_label(path: Path) -> str:
    """A weights file as a selector lists it: its run's label from the sidecar, if it has one."""
    try:
        label = weights.read_sidecar(path).get("label")
    except weights.WeightsError:
        label = None
    return f"{label} · {path.name}" if isinstance(label, str) and label else path.name


# -- the page's texts, from the results above ------------------------------------------


def model_caption(info: ModelInfo, t: Translator) -> str:
    """The loaded model in one line: architecture, classes, where it came from, the input it takes."""
    config, spec = info.config, info.preprocess
    return t("fm.model_info", model=weights.model_label(config), classes=config.num_classes, source=info.source,
             size=spec.crop, channels=spec.channels)


def preprocessing_steps(shown: Shown, t: Translator) -> str:
    """What loading and preprocessing did to the image, as a numbered markdown list."""
    steps = preprocess.describe(shown.steps + shown.prepared.steps, t)
    return "\n".join(f"{i}. {line}" for i, line in enumerate(steps, 1))


def timing_caption(analysis: features.Analysis, seconds: float, fast: bool, t: Translator) -> str:
    """How long the maps took, and on which backend (``fast``: ``fast_path_takes`` the input)."""
    key = "fm.computed" if fast else "fm.computed_dygraph"  # dygraph by design, not because the fast path failed
    return t(key, ms=seconds * 1000, backend=analysis.backend)


def is_digit_sample(name: str) -> bool:
    """Whether the image choice ``name`` is one of the sample digits (``digit_<label>``), not a photo or the upload."""
    return name != UPLOAD and name not in PHOTOS


def image_label(name: str, t: Translator) -> str:
    """An image as the selector lists it: the upload box, a sample photo or a sample digit (``digit_<label>``)."""
    if name == UPLOAD:
        return t("fm.upload_option")
    return t("fm.sample.digit", label=name.removeprefix("digit_")) if is_digit_sample(name) else t(f"fm.sample.{name}")


def sample_credit(name: str, t: Translator) -> str:
    """Who made a sample: a photo's author and licence, or where the digits come from."""
    if name not in PHOTOS:
        return t("fm.digit_credit")
    info = images.sample(name)
    return t("fm.credit", by=info.credit, licence=info.licence)


def download_progress(done: int, total: int | None, t: Translator) -> tuple[float, str]:
    """The download's progress bar (fraction, text) after ``done`` of ``total`` bytes (None: size unknown)."""
    fraction = min(done / total, 1.0) if total else 0.0
    return fraction, t("fm.downloading", done=done / 2**20, total=(total or 0) / 2**20)


def dead_blocks_warning(analysis: features.Analysis, t: Translator, shown: int = 6) -> str | None:
    """A warning naming (the first ``shown`` of) the blocks whose output is all zeros; None if there are none."""
    dead = [v.name for v in analysis.blocks if not v.out.any()]
    if not dead:
        return None
    return t("fm.dead_blocks", n=len(dead), names=", ".join(dead[:shown]) + (", …" if len(dead) > shown else ""))


def url_settings(source: str | None, ablate: str | None) -> tuple[list[str], list[str]]:
    """The ``URL_NAMES`` that apply to the view of weights ``source`` and ablation ``ablate``, and those
    that do not (the seed of a file's weights, the block to drop without that ablation…)."""
    unused = {"seed": source != "random", "file": source not in FILE_SOURCES, "depth": source in FILE_SOURCES,
              "drop": ablate != "drop"}
    return [name for name in URL_NAMES if not unused.get(name)], [name for name, off in unused.items() if off]
