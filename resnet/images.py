"""Images in: the sample photos shipped in ``assets/samples``, uploads, preprocessing.

An upload goes through ``load_image(data)``: size and format checks first, the pixel
count checked from the header *before* anything is decoded (decompression bombs), then
one decode of the first frame and a conversion of any mode to 8-bit RGB. Every
refusal is an ``ImageError`` with a stable ``code`` (the page translates
``fm.error.<code>`` with ``values``) and a plain English message.

``preprocess(image, spec)`` then does what the network expects: resize the shorter side,
center-crop, scale to 0…1, normalise per channel, NCHW float32. It follows
``paddle.vision.transforms`` (Resize(256), CenterCrop(224), ToTensor, Normalize) to
the pixel, so Paddle's official ImageNet weights see what they were evaluated on.
Every step, of loading and of preprocessing, is recorded as a ``Step`` (an i18n key and
its values) so the page can print the exact pipeline next to the image.

Regenerate the samples from scikit-image (all bundled in its wheel, nothing fetched):
``python -m resnet.images``.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .paths import ASSETS

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # anything else (TIFF, EPS, PSD…) is never parsed
MAX_BYTES = 25 * 2**20  # a 40-megapixel JPEG is ~15 MB
MAX_PIXELS = 40_000_000  # decoded as RGBA that is 160 MB: the bound on what one upload may take
MIN_SIDE = 16  # below this a 224 crop is mostly interpolation
DECODE_SIDE = 512  # big JPEGs are decoded at a reduced DCT scale, shorter side still ≥ this

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

SAMPLES_DIR = ASSETS / "samples"
SAMPLE_MAX_SIDE = 512


class ImageError(ValueError):
    """An image the lab refuses; ``code`` is stable, ``values`` fill the message."""

    def __init__(self, code: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


@dataclass(frozen=True)
class Step:
    """One thing done to the image: the page shows ``t(key, **values)``."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


def describe(steps: list[Step], t) -> list[str]:
    """The steps as text in the translator's language (``t(key, **values) -> str``)."""
    return [t(s.key, **s.values) for s in steps]


@dataclass
class LoadedImage:
    """A decoded image, already 8-bit RGB, and how it got there."""

    image: Image.Image  # mode "RGB"
    format: str  # "PNG", "JPEG", …
    mode: str  # the file's own mode: "RGBA", "I;16", "CMYK", …
    size: tuple[int, int]  # the file's (width, height)
    steps: list[Step]


# ---------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------


def load_image(
    data: bytes,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
) -> LoadedImage:
    """Decode an uploaded file (PNG, JPEG, WebP, BMP, GIF) or raise ``ImageError``.

    Codes: ``empty``, ``too_many_bytes``, ``not_image``, ``too_many_pixels``,
    ``too_small``, ``damaged``.
    """
    if not data:
        raise ImageError("empty", "The file is empty.")
    if len(data) > max_bytes:
        size_mb, limit_mb = round(len(data) / 2**20, 1), round(max_bytes / 2**20, 1)
        raise ImageError("too_many_bytes", f"The file is {size_mb} MB; the limit is {limit_mb} MB.",
                         size_mb=size_mb, limit_mb=limit_mb)
    try:
        # Image.open reads only the header; restricting formats keeps every other
        # parser (and Ghostscript for EPS) away from uploads.
        img = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (2 × Image.MAX_IMAGE_PIXELS) fired while reading the header.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_many_pixels(int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0), max_pixels) from None
    except UnidentifiedImageError:
        raise ImageError("not_image", "This file is not an image in a supported format (PNG, JPEG, WebP, BMP or GIF).") from None
    except Exception:  # a header parser can fail in many ways on hostile input
        raise ImageError("damaged", "The image file is truncated or damaged and cannot be decoded.") from None

    w, h = img.size
    if w * h > max_pixels:
        raise _too_many_pixels(w * h, max_pixels)
    if min(w, h) < min_side:
        raise ImageError("too_small", f"The image is {w}×{h} px; it needs at least {min_side}×{min_side} px.",
                         w=w, h=h, min=min_side)

    steps = [Step("fm.step.decoded", {"format": img.format, "w": w, "h": h, "mode": img.mode})]
    if getattr(img, "is_animated", False):
        steps.append(Step("fm.step.first_frame"))
    if img.format == "JPEG" and min(w, h) >= 2 * DECODE_SIDE:
        # DCT-domain downscaling: a 12 MP photo decodes at 1/4 scale, twice as fast, in 1/16 of the memory.
        scale = min(w, h) / DECODE_SIDE
        img.draft(img.mode, (int(w / scale), int(h / scale)))
        if img.size != (w, h):
            steps.append(Step("fm.step.draft", {"n": round(w / img.size[0]), "w": img.size[0], "h": img.size[1]}))
    file_format, file_mode = img.format, img.mode
    try:
        img.load()
    except Exception:  # truncated data, bad CRC, broken LZW…: all mean the same to the user
        raise ImageError("damaged", "The image file is truncated or damaged and cannot be decoded.") from None

    if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation: phone photos are often stored sideways
        img = ImageOps.exif_transpose(img)
        steps.append(Step("fm.step.exif_rotated"))
    rgb, convert_steps = to_rgb(img)
    return LoadedImage(rgb, file_format, file_mode, (w, h), steps + convert_steps)


def _too_many_pixels(pixels: int, max_pixels: int) -> ImageError:
    mp, limit_mp = round(pixels / 1e6, 1), round(max_pixels / 1e6, 1)
    return ImageError("too_many_pixels",
                      f"The image has {mp} megapixels; the limit is {limit_mp} megapixels, to keep memory bounded.",
                      mp=mp, limit_mp=limit_mp)


def to_rgb(img: Image.Image) -> tuple[Image.Image, list[Step]]:
    """Any Pillow mode → 8-bit RGB, transparency composited on white."""
    steps: list[Step] = []
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "PA":
        img = img.convert("RGBA")
    elif img.mode == "1":
        img = img.convert("L")
    elif img.mode == "CMYK":
        img = img.convert("RGB")  # Pillow undoes Adobe's inverted CMYK JPEGs itself
        steps.append(Step("fm.step.cmyk"))
    elif img.mode.startswith("I;16"):
        # 16-bit samples; Pillow's own convert("L") would clip everything above 255
        img = _gray_from_array(np.asarray(img, dtype=np.float64) / 257.0)
        steps.append(Step("fm.step.sixteen_bit"))
    elif img.mode in ("I", "F"):
        img, step = _gray_from_wide(np.asarray(img, dtype=np.float64), is_float=img.mode == "F")
        steps.append(step)

    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
        steps.append(Step("fm.step.alpha_on_white"))
    elif img.mode == "L":
        img = img.convert("RGB")
        steps.append(Step("fm.step.gray_to_rgb"))
    elif img.mode != "RGB":  # YCbCr, LAB, HSV, RGBX
        img = img.convert("RGB")
    return img, steps


def _gray_from_wide(arr: np.ndarray, is_float: bool) -> tuple[Image.Image, Step]:
    """32-bit integer or float samples → 8 bit, keeping the file's own scale if it has one."""
    arr = np.nan_to_num(arr)
    lo, hi = float(arr.min()), float(arr.max())
    if is_float and lo >= 0 and hi <= 1:
        return _gray_from_array(arr * 255.0), Step("fm.step.float_unit")
    if not is_float and lo >= 0 and hi <= 255:
        return _gray_from_array(arr), Step("fm.step.wide_8bit")
    if not is_float and lo >= 0 and hi <= 65535:
        return _gray_from_array(arr / 257.0), Step("fm.step.sixteen_bit")
    span = hi - lo if hi > lo else 1.0
    return _gray_from_array((arr - lo) * (255.0 / span)), Step("fm.step.stretched", {"lo": f"{lo:g}", "hi": f"{hi:g}"})


def _gray_from_array(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), mode="L")


# ---------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocess:
    """What the network expects; the ImageNet default is ``Preprocess()``.

    ``mean``/``std`` are per channel in 0…1 pixel units (a lab-trained model stores its
    training set's). ``channels`` = 1 converts to grayscale first.
    """

    resize: int = 256  # shorter side, bilinear (antialiased when shrinking)
    crop: int = 224  # center square
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        if not 1 <= self.crop <= self.resize:
            raise ValueError(f"need 1 ≤ crop ≤ resize, got crop={self.crop}, resize={self.resize}")
        if len(self.mean) != self.channels or len(self.std) != self.channels or min(self.std) <= 0:
            raise ValueError(f"mean and std need {self.channels} values each (std > 0), got {self.mean}, {self.std}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """From JSON (lists for tuples); raises ``ValueError`` for unknown or bad values."""
        known = set(cls.__dataclass_fields__)
        if unknown := set(data) - known:
            raise ValueError(f"unknown preprocessing setting(s): {sorted(unknown)}")
        values = {k: tuple(float(x) for x in v) if k in ("mean", "std") else int(v) for k, v in data.items()}
        return cls(**values)


IMAGENET = Preprocess()


def default_preprocess(channels: int) -> Preprocess:
    """ImageNet's pipeline for a model that says nothing else; gray uses the mean of the three."""
    if channels == 1:
        return Preprocess(mean=(0.449,), std=(0.226,), channels=1)
    return IMAGENET


@dataclass
class Prepared:
    """The network's input and the crop it sees."""

    array: np.ndarray  # [1, C, crop, crop] float32, normalised
    display: Image.Image  # the crop before scaling and normalisation (RGB or L)
    steps: list[Step]


def preprocess(image: Image.Image, spec: Preprocess = IMAGENET) -> Prepared:
    """Resize the shorter side, center-crop, scale to 0…1, normalise: as paddle.vision.transforms."""
    steps = []
    if spec.channels == 1:
        image = image.convert("L")
        steps.append(Step("fm.step.to_gray"))
    w, h = image.size
    if min(w, h) != spec.resize:
        # Paddle's rule: the longer side is truncated, not rounded
        ow, oh = (spec.resize, int(spec.resize * h / w)) if w < h else (int(spec.resize * w / h), spec.resize)
        image = image.resize((ow, oh), Image.BILINEAR)
        steps.append(Step("fm.step.resize", {"size": spec.resize, "w": w, "h": h, "ow": ow, "oh": oh}))
        w, h = ow, oh
    top, left = int(round((h - spec.crop) / 2.0)), int(round((w - spec.crop) / 2.0))
    display = image.crop((left, top, left + spec.crop, top + spec.crop))
    steps.append(Step("fm.step.crop", {"size": spec.crop, "left": left, "top": top}))

    pixels = np.asarray(display, dtype=np.float32).reshape(spec.crop, spec.crop, spec.channels) / 255.0
    steps.append(Step("fm.step.scale"))
    mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
    array = ((pixels - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    steps.append(Step("fm.step.normalize", {"mean": _fmt(spec.mean), "std": _fmt(spec.std)}))
    steps.append(Step("fm.step.layout", {"c": spec.channels, "h": spec.crop, "w": spec.crop}))
    return Prepared(np.ascontiguousarray(array), display, steps)


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


# ---------------------------------------------------------------------------------
# Sample photos
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A photo in assets/samples, regenerated from a ``skimage.data`` function."""

    name: str  # stable id; the page's title key is fm.sample.<name>
    file: str
    skimage: str  # skimage.data function
    description: str
    credit: str
    licence: str


SAMPLES = (
    Sample("cat", "chelsea.jpg", "chelsea", "Chelsea the cat", "Stefan van der Walt",
           "CC0 1.0 (dedicated by the photographer)"),
    Sample("astronaut", "astronaut.jpg", "astronaut", "The astronaut Eileen Collins", "NASA (NASA Great Images)",
           "Public domain (a NASA photograph, no known copyright restrictions)"),
    Sample("coffee", "coffee.jpg", "coffee", "A cup of coffee, courtesy of Pikolo Espresso Bar", "Rachel Michetti",
           "CC0 1.0 (dedicated by the photographer)"),
    Sample("rocket", "rocket.jpg", "rocket", "Launch of DSCOVR on a Falcon 9", "SpaceX",
           "Public domain (released by SpaceX)"),
    Sample("retina", "retina.jpg", "retina", "Fundus photograph of a normal left eye, as in the course's eye-disease task",
           "Mikael Häggström, via Wikimedia Commons", "CC0 1.0"),
)


def sample(name: str) -> Sample:
    for s in SAMPLES:
        if s.name == name:
            return s
    raise ValueError(f"no sample {name!r}; samples are {[s.name for s in SAMPLES]}")


def load_sample(name: str) -> LoadedImage:
    """A shipped sample, through the same checks as an upload."""
    return load_image((SAMPLES_DIR / sample(name).file).read_bytes())


def write_samples(folder: Path = SAMPLES_DIR) -> list[Path]:
    """Regenerate assets/samples and its CREDITS.md from scikit-image's bundled photos."""
    from skimage import data as skdata

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for s in SAMPLES:
        img = Image.fromarray(getattr(skdata, s.skimage)())
        img.thumbnail((SAMPLE_MAX_SIDE, SAMPLE_MAX_SIDE), Image.LANCZOS)  # keeps the repo small
        path = folder / s.file
        img.save(path, "JPEG", quality=90, optimize=True)
        written.append(path)
    lines = [
        "# Sample photos",
        "",
        "Shrunk to at most 512 px per side from the photos bundled in scikit-image's wheel",
        "(`skimage.data`, BSD-3-Clause package; the photos' own licences below).",
        "Regenerate with `python -m resnet.images`.",
        "",
        "| file | photo | by | licence | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {s.file} | {s.description} | {s.credit} | {s.licence} | `skimage.data.{s.skimage}()` |" for s in SAMPLES]
    (folder / "CREDITS.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


if __name__ == "__main__":
    for p in write_samples():
        print(p, p.stat().st_size, "bytes")
