"""Where a model's weights come from, for the Feature maps page and the training lab.

- ``random_model(depth, seed)``: seeded initialisation, the same draw as the training lab.
- ``official_model(depth)``: Paddle's official ImageNet weights (the URL and MD5 that
  ``paddle.vision.models.resnet`` uses) from ``data_home()/weights``, never the network;
  ``download_official(depth, progress)`` fetches them there (resumable, MD5-checked) when
  the user asks, and ``official_state(depth)`` says whether they are ready, missing or
  damaged. Offline is a clear ``WeightsError`` (code ``offline``).
- ``load_trained(path)``: a safetensors file plus an optional JSON sidecar of the same
  name (``run.safetensors`` + ``run.json``), as ``save_trained`` writes them. Local files
  that an operator drops into ``$RESNET_LAB_WEIGHTS_DIR`` (``local_weights()``) load the
  same way; without a sidecar the architecture is read off the tensor names and shapes.

Only the official, MD5-checked Paddle file is ever unpickled (``paddle.load``); anything
a user or operator provides is read as safetensors, which holds raw tensors and no code.
Every state dict is checked against the model before loading: a file of the wrong
shape or depth raises ``WeightsMismatch`` naming the keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

import httpx  # a dependency of Paddle's own downloader
import numpy as np
import paddle
import safetensors.numpy
from paddle.vision.models.resnet import model_urls

from .preprocess import IMAGENET, Preprocess, default_preprocess
from .init import init_parameters
from .modes import ensure_dygraph
from .network import IMAGENET_DEPTHS, STAGES, ResNet, ResNetConfig, default_downsample, resnet
from ..errors import CodedError
from ..paths import ASSETS, ENV_WEIGHTS_DIR, WEIGHTS_SUBDIR, data_home, operator_dir

SIDECAR_FORMAT = "resnet-lab-weights/1"
MAX_WEIGHTS_BYTES = 1 << 30  # ResNet-152 in float32 is 241 MB
OFFICIAL: dict[int, tuple[str, str]] = {d: model_urls[f"resnet{d}"] for d in IMAGENET_DEPTHS}  # (url, md5)
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # seconds; a read that stalls this long breaks off
DOWNLOAD_ATTEMPTS = 3  # tries per download_official call, each resuming where the last broke off
DOWNLOAD_CHUNK = 1 << 16
PROGRESS_EVERY_S = 0.2  # a Streamlit progress bar sends one message per update
EXAMPLES = 4  # keys named in a mismatch message

Progress = Callable[[int, int | None], None]  # (bytes done, bytes in total if known)

_DOWNLOAD_LOCK = threading.Lock()  # two sessions must not write the same partial file
_CHECKED: dict[tuple[Path, str], tuple[tuple[int, int], bool]] = {}  # (path, md5) -> ((size, mtime), matches)


class WeightsError(CodedError):
    """Weights the lab cannot use; ``code`` is stable (page key ``fm.weights_error.<code>``)."""


class WeightsMismatch(WeightsError):
    """A state dict that does not fit the model; every offending key is listed.

    ``values`` for the page: source, model, file (what the file holds, or "?"), the
    counts missing / unexpected / wrong, and keys (a few of them, with shapes).
    """

    def __init__(self, source: str, model_label: str, file_label: str | None,
                 missing: list[str], unexpected: list[str], wrong: list[tuple[str, tuple, tuple]]) -> None:
        self.missing, self.unexpected, self.wrong_shape = missing, unexpected, wrong
        shapes = [f"{k} (file {list(f)}, model {list(m)})" for k, f, m in wrong]
        parts = []
        if file_label and file_label != model_label:
            parts.append(f"the file holds a {file_label}")
        if missing:
            parts.append(f"{len(missing)} key(s) missing: {_examples(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_examples(unexpected)}")
        if wrong:
            parts.append(f"{len(wrong)} key(s) with the wrong shape: {_examples(shapes)}")
        super().__init__("mismatch", f"{source} does not fit {model_label}: " + "; ".join(parts) + ".",
                         source=source, model=model_label, file=file_label or "?", missing=len(missing),
                         unexpected=len(unexpected), wrong=len(wrong), keys=_examples(missing + unexpected + shapes))


def _examples(keys: list[str]) -> str:
    return ", ".join(keys[:EXAMPLES]) + (", …" if len(keys) > EXAMPLES else "")


@dataclass
class LabModel:
    """A ready, read-only model (eval mode) and what the page needs to feed and read it."""

    model: ResNet
    kind: str  # "random" | "official" | "trained"
    source: str  # for people: "seed 0", a URL, a file name
    preprocess: Preprocess
    classes: tuple[str, ...] | None  # class names by index; None for random weights
    meta: dict[str, Any]  # the sidecar JSON of a trained model ({} otherwise)


def model_label(config: ResNetConfig) -> str:
    kind = "plain net" if config.shortcut == "none" else "ResNet"
    return f"{kind}-{config.depth}"


# ---------------------------------------------------------------------------------
# State dicts: check, infer, load
# ---------------------------------------------------------------------------------


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in value.shape)


def check_state(model: ResNet, state: Mapping[str, Any], source: str = "the weights file") -> None:
    """Raise ``WeightsMismatch`` unless ``state`` has exactly the model's keys and shapes."""
    expected = {k: _shape(v) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [(k, _shape(state[k]), expected[k]) for k in expected if k in state and _shape(state[k]) != expected[k]]
    if missing or unexpected or wrong:
        try:
            file_label = model_label(infer_config(state))
        except WeightsError:
            file_label = None
        raise WeightsMismatch(source, model_label(model.config), file_label, missing, unexpected, wrong)


def load_state(model: ResNet, state: Mapping[str, Any], source: str = "the weights file") -> ResNet:
    """Check, then copy ``state`` (numpy arrays or tensors) into ``model``; eval mode."""
    check_state(model, state, source)
    values = {}
    for key, value in state.items():
        array = value.numpy() if isinstance(value, paddle.Tensor) else np.asarray(value)
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsError("unreadable", f"{source}: {key} holds {array.dtype} values, not floats.",
                               source=source, reason=f"{key} is {array.dtype}")
        check_finite(array, key, source)
        values[key] = array.astype(np.float32, copy=False)  # our models are built in Paddle's default float32
    model.set_state_dict(values)
    model.eval()
    return model


def check_finite(array: np.ndarray, key: str, source: str) -> None:
    """``WeightsError`` (code ``not_finite``) for a tensor holding NaN or ±inf (a run that
    diverged, a damaged file): such a model computes nothing the page could show."""
    if not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise WeightsError("not_finite", f"{source}: {key} holds {bad} NaN or infinite value(s).",
                           source=source, tensor=key, n=bad)


def infer_config(state: Mapping[str, Any]) -> ResNetConfig:
    """The architecture a state dict was saved from, read off its names and shapes.

    λ is not in the tensors: a net with projections (``downsample.*``) is taken as identity
    (λ = 1) with option-B shortcuts. Without any, a residual net with option-A shortcuts
    and its plain twin hold the very same tensors, so the depth's default decides: a CIFAR
    depth is read as the paper's option-A ResNet, an ImageNet depth (whose residual nets
    have projections) as a plain net. The sidecar JSON says better when present.
    """
    if "conv1.weight" not in state or "fc.weight" not in state:
        raise WeightsError("unknown_architecture", "These tensors are not a ResNet (no conv1.weight / fc.weight).",
                           reason="no conv1.weight / fc.weight")
    blocks = []
    while any(k.startswith(f"layer{len(blocks) + 1}.") for k in state):
        stage = len(blocks) + 1
        blocks.append(sum(1 for k in state if k.startswith(f"layer{stage}.") and k.endswith(".conv1.weight")))
    kind = "bottleneck" if "layer1.0.conv3.weight" in state else "basic"
    depth = next((d for d, (k, b) in STAGES.items() if k == kind and b == tuple(blocks)), None)
    if depth is None:
        raise WeightsError("unknown_architecture",
                           f"No ResNet has {kind} blocks per stage {tuple(blocks)}.", reason=f"{kind} {tuple(blocks)}")
    stem_w, fc_w = _shape(state["conv1.weight"]), _shape(state["fc.weight"])
    projected = _has_projections(state)
    return ResNetConfig(
        depth=depth,
        num_classes=fc_w[1],  # Paddle's Linear weight is [in, out]
        shortcut="identity" if projected or default_downsample(depth) == "pad" else "none",
        downsample="conv" if projected else None,  # None: the depth's default
        width=stem_w[0],
        in_channels=stem_w[1],
        stem="imagenet" if stem_w[2] == 7 else "small",
    )


# ---------------------------------------------------------------------------------
# Random initialisation
# ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def random_model(depth: int = 50, seed: int = 0) -> LabModel:
    """ImageNet-shaped ResNet with seeded weights (He init), BatchNorm at its initial stats.

    The last one built is kept (read-only, like every ``LabModel``): the same seed gives the
    same weights anyway, and so the server's warm-up and the Feature maps page share it
    (ResNet-50: ~1 s to draw, 100 MB).
    """

    model = resnet(depth)
    init_parameters(model, seed)
    model.eval()
    return LabModel(model, "random", f"seed {seed}", IMAGENET, None, {})


# ---------------------------------------------------------------------------------
# Official ImageNet weights
# ---------------------------------------------------------------------------------


def official_file(depth: int) -> Path:
    """Where the official ``resnet{depth}.pdparams`` is kept (``data_home()/weights``); no download."""
    if depth not in OFFICIAL:
        raise WeightsError("no_official", f"There are no official ImageNet weights for ResNet-{depth} "
                           f"(only {', '.join(map(str, IMAGENET_DEPTHS))}).", depth=depth)
    return data_home() / WEIGHTS_SUBDIR / Path(urlparse(OFFICIAL[depth][0]).path).name


def official_state(depth: int) -> str:
    """``"ready"`` (on disk, MD5 as published), ``"missing"`` or ``"damaged"``; never the network.

    The MD5 of a file is remembered by (size, mtime), so a page run re-reads nothing.
    """
    path = official_file(depth)
    if not path.is_file():
        return "missing"
    return "ready" if _md5_matches(path, OFFICIAL[depth][1]) else "damaged"


def download_official(depth: int, progress: Progress | None = None) -> Path:
    """Fetch the official ``resnet{depth}.pdparams`` into ``official_file(depth)``; the only network access.

    Nothing happens when the file is there and its MD5 matches. Otherwise the bytes go
    to ``<file>.part``, resumed with an HTTP Range request from what an earlier, cut
    download left there (Paddle's own downloader, ``paddle.utils.download``, always
    starts over: 230 MB for ResNet-152 on a school network), retried
    ``DOWNLOAD_ATTEMPTS`` times while the transfer breaks off, then MD5-checked and
    renamed into place: a damaged file already there is replaced only by a good one.
    ``progress(done, total)`` is called in the caller's thread (Streamlit's progress bar
    may only be touched from the script's thread), at most every ``PROGRESS_EVERY_S``.
    Raises ``WeightsError``: ``offline`` (no connection at all), ``interrupted`` (the
    transfer kept breaking off; what arrived is kept for the next try),
    ``download_failed`` (an HTTP error) or ``checksum`` (the part file is deleted).
    """
    path = official_file(depth)
    url, md5 = OFFICIAL[depth]
    with _DOWNLOAD_LOCK:
        if _md5_matches(path, md5):
            return path
        partial = path.with_name(path.name + ".part")
        partial.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                _fetch(url, partial, progress)
                break
            except httpx.TransportError as exc:  # connected, then the transfer broke off
                if attempt == DOWNLOAD_ATTEMPTS:
                    done = _size(partial)
                    raise WeightsError("interrupted", f"Downloading {url} broke off after {done / 2**20:.1f} MB "
                                       f"({exc}); what arrived is kept: download again to resume.",
                                       url=url, done_mb=round(done / 2**20, 1), reason=str(exc)) from exc
        got = _md5(partial)
        if got != md5:
            partial.unlink()
            raise WeightsError("checksum", f"The downloaded {path.name} does not match its published MD5 "
                               f"(got {got}, expected {md5}); it was deleted and nothing else was changed. "
                               "Download again; if this repeats, something between this machine and the server "
                               "alters the file.", file=path.name, got=got, expected=md5)
        os.replace(partial, path)
        stat = path.stat()
        _CHECKED[(path, md5)] = ((stat.st_size, stat.st_mtime_ns), True)  # just checked: no second pass over the file
        return path


def _fetch(url: str, partial: Path, progress: Progress | None) -> None:
    """GET ``url`` into ``partial``, resuming after its current size when the server allows.

    A failure before any byte is exchanged is ``WeightsError("offline")``; one during the
    transfer is left to raise (``httpx.TransportError``), with the bytes so far on disk.
    """
    done = _size(partial)
    headers = {"Range": f"bytes={done}-"} if done else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as response:
            if response.status_code == 416:  # nothing after ``done``: the part file is whole; the MD5 decides
                return
            if response.status_code == 206 and response.headers.get("content-range", "").startswith(f"bytes {done}-"):
                total = int(response.headers["content-range"].rpartition("/")[2])
                mode = "ab"
            elif response.status_code == 200:  # no Range support (or a fresh start): from byte 0
                length = response.headers.get("content-length")
                done, total, mode = 0, int(length) if length else None, "wb"
            else:
                raise WeightsError("download_failed", f"Downloading {url} failed: HTTP {response.status_code}.",
                                   url=url, reason=f"HTTP {response.status_code}")
            last = 0.0
            with open(partial, mode) as f:
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None and time.monotonic() - last >= PROGRESS_EVERY_S:
                        progress(done, total)
                        last = time.monotonic()
            if progress is not None:
                progress(done, total)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError, httpx.UnsupportedProtocol) as exc:
        host = urlparse(url).hostname
        raise WeightsError("offline", f"Could not reach {host} to download the official ImageNet weights: "
                           f"this machine seems to be offline ({exc}). Choose another weights source.",
                           host=host) from exc


def _md5(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _md5_matches(path: Path, md5: str) -> bool:
    """Whether ``path`` exists with this MD5; remembered per (path, md5) while size and mtime stay."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    stamp = (stat.st_size, stat.st_mtime_ns)
    known = _CHECKED.get((path, md5))
    if known is None or known[0] != stamp:
        known = _CHECKED[(path, md5)] = (stamp, _md5(path) == md5)
    return known[1]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def official_model(depth: int = 50) -> LabModel:
    """ResNet-``depth`` with Paddle's official ImageNet weights from disk, checked key by key.

    Never touches the network: a missing file is ``WeightsError("missing")``, a file
    whose MD5 is not the published one ``WeightsError("damaged")`` (download again with
    ``download_official``).
    """
    path = official_file(depth)
    state = official_state(depth)
    if state == "missing":
        raise WeightsError("missing", f"{path.name} is not on this machine yet: download it first.",
                           file=path.name, depth=depth)
    if state == "damaged":
        raise WeightsError("damaged", f"{path.name} is damaged (its MD5 is not the published one): download it again.",
                           file=path.name, depth=depth)
    params = paddle.load(str(path))  # a pickle: only ever this MD5-verified official file
    model = load_state(resnet(depth), params, source=path.name)
    return LabModel(model, "official", OFFICIAL[depth][0], IMAGENET, imagenet_labels(), {})


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1,000 ImageNet class names by index (WordNet lemmas, ``assets/imagenet_labels.txt``)."""
    lines = (ASSETS / "imagenet_labels.txt").read_text(encoding="utf-8").splitlines()
    return tuple(line.split("\t", 1)[1] for line in lines)


# ---------------------------------------------------------------------------------
# safetensors: the lab's own files, the operator's, uploads
# ---------------------------------------------------------------------------------


def _source_name(source: bytes | str | os.PathLike) -> str:
    """How messages name a weights file: its file name, or "the uploaded file"."""
    return "the uploaded file" if isinstance(source, bytes) else Path(source).name


def read_safetensors(source: bytes | str | os.PathLike, max_bytes: int = MAX_WEIGHTS_BYTES) -> dict[str, np.ndarray]:
    """Tensors of a safetensors file (path or bytes): raw arrays, never unpickled."""
    name = _source_name(source)
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > max_bytes:
        raise WeightsError("too_many_bytes", f"{name} is {size / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB.",
                           source=name, size_mb=round(size / 2**20), limit_mb=round(max_bytes / 2**20))
    try:
        if isinstance(source, bytes):
            return safetensors.numpy.load(source)
        return safetensors.numpy.load_file(str(source))
    except Exception as exc:  # SafetensorError, a bad header, a dtype numpy lacks (bfloat16)
        raise WeightsError("unreadable", f"{name} is not a readable safetensors file: {exc}",
                           source=name, reason=str(exc)) from None


def _write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """``write(tmp)`` to ``path`` + ".part", then rename: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".part")
    write(str(tmp))
    os.replace(tmp, path)


def save_safetensors(model: ResNet, path: str | os.PathLike, dtype: Any = None) -> Path:
    """Write the model's state dict (BatchNorm statistics included) atomically.

    ``dtype`` (e.g. ``np.float16``, half the bytes) converts every tensor; loading
    converts back to float32 (``load_state``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: np.ascontiguousarray(v.numpy(), dtype=dtype) for k, v in model.state_dict().items()}
    _write_atomically(path, lambda tmp: safetensors.numpy.save_file(state, tmp))
    return path


def save_trained(model: ResNet, config_dict: Mapping[str, Any], path: str | os.PathLike, *, dtype: Any = None) -> Path:
    """Save a lab-trained model: ``path`` (.safetensors) plus ``path`` with .json.

    The sidecar holds ``{"format", "model": <ResNetConfig fields>, **config_dict}``.
    Keys of ``config_dict`` the page reads: ``"preprocess"`` (``Preprocess.to_dict()``:
    the training set's mean/std in 0…1 units, input size, channels) and ``"classes"``
    (names by index); anything else (the run's training config, metrics…) is kept as is.
    ``dtype`` stores the tensors converted, as ``save_safetensors``.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    if reserved := {"format", "model"} & set(config_dict):
        raise ValueError(f"config_dict may not set {sorted(reserved)}: save_trained writes them")
    sidecar = {"format": SIDECAR_FORMAT, "model": asdict(model.config), **config_dict}
    text = json.dumps(sidecar, indent=2, sort_keys=True)  # fails before any file is written if not JSON-able
    save_safetensors(model, path, dtype)
    _write_atomically(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON next to a safetensors file, or {} when there is none."""
    sidecar = Path(path).with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        return meta
    except ValueError as exc:
        raise WeightsError("bad_config", f"{sidecar.name} is not a valid weights description: {exc}",
                           source=sidecar.name, reason=str(exc)) from None


def _has_projections(state: Mapping[str, Any]) -> bool:
    return any(".downsample." in k for k in state)


def _config_from_meta(meta: Mapping[str, Any], state: Mapping[str, Any]) -> ResNetConfig:
    if "model" not in meta:
        return infer_config(state)
    known = {f.name for f in fields(ResNetConfig)}
    described = {k: v for k, v in meta["model"].items() if k in known}
    if "downsample" not in described and _has_projections(state):
        described["downsample"] = "conv"  # a sidecar from before option A was an option: its projections
    try:
        return ResNetConfig(**described)
    except (TypeError, AttributeError) as exc:
        raise WeightsError("bad_config", f"the sidecar's model description is invalid: {exc}",
                           source="sidecar", reason=str(exc)) from None


def model_from_safetensors(
    source: bytes | str | os.PathLike, *, depth: int | None = None, meta: Mapping[str, Any] | None = None
) -> LabModel:
    """A safetensors file or upload as a ready model.

    The architecture comes from ``meta`` (a sidecar) or is inferred from the tensors;
    ``depth`` overrides it (the page's depth selector), and then a file of another depth
    raises ``WeightsMismatch`` naming the keys.
    """
    meta = dict(meta or {})
    name = _source_name(source)
    state = read_safetensors(source)
    config = _config_from_meta(meta, state)
    if depth is not None and depth != config.depth:
        config = replace(config, depth=depth)
    ensure_dygraph()
    try:
        model = ResNet(config)  # validates the config
        spec = Preprocess.from_dict(meta["preprocess"]) if "preprocess" in meta else default_preprocess(config.in_channels)
    except (ValueError, TypeError) as exc:  # e.g. a CIFAR depth with an ImageNet stem, a bad mean
        raise WeightsError("bad_config", f"{name}: {exc}", source=name, reason=str(exc)) from None
    load_state(model, state, source=name)
    if "classes" in meta:
        classes = tuple(str(c) for c in meta["classes"])
    else:  # a 1000-way head without a description is taken to be ImageNet's
        classes = imagenet_labels() if config.num_classes == 1000 else None
    if classes is not None and len(classes) != config.num_classes:
        raise WeightsError("bad_config", f"{name}: {len(classes)} class names for {config.num_classes} outputs.",
                           source=name, reason=f"{len(classes)} class names for {config.num_classes} outputs")
    return LabModel(model, "trained", name, spec, classes, meta)  # the file's name: no data paths on screen


def load_trained(path: str | os.PathLike, *, depth: int | None = None) -> LabModel:
    """``run.safetensors`` (+ ``run.json`` if present) as saved by ``save_trained``."""
    return model_from_safetensors(path, depth=depth, meta=read_sidecar(path))


def weights_dir() -> Path | None:
    """The operator's folder of safetensors files (``$RESNET_LAB_WEIGHTS_DIR``), if set."""
    return operator_dir(ENV_WEIGHTS_DIR)


def safetensors_files(folder: Path | None) -> list[Path]:
    """Every ``*.safetensors`` file in ``folder``, by name; [] when it is None or missing."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.safetensors") if p.is_file())


def local_weights() -> list[Path]:
    """Every ``*.safetensors`` in the operator's folder, by name; [] when none is set."""
    return safetensors_files(weights_dir())


__all__ = [
    "ENV_WEIGHTS_DIR", "OFFICIAL", "MAX_WEIGHTS_BYTES", "Progress", "WeightsError", "WeightsMismatch", "LabModel",
    "check_state", "load_state", "infer_config", "model_label", "random_model", "official_file", "official_state",
    "download_official", "official_model", "imagenet_labels", "read_safetensors", "save_safetensors", "save_trained",
    "read_sidecar", "model_from_safetensors", "load_trained", "weights_dir", "local_weights", "safetensors_files",
]
