"""Images in: the sample photos shipped in ``assets/samples`` and uploads.

An upload goes through ``load_image(data)``: size and format checks first, the pixel
count checked from the header *before* anything is decoded (decompression bombs), then
one decode of the first frame and a conversion of any mode to 8-bit RGB. Every
refusal is an ``ImageError`` with a stable ``code`` (the page translates
``fm.error.<code>`` with ``values``) and a plain English message.

``resnet.model.preprocess`` then turns the image into what the network expects. Every
step of loading is recorded as a ``Step`` too, so the page prints the whole pipeline.

Regenerate the samples from scikit-image (all bundled in its wheel, nothing fetched):
``python -m resnet.inference.images``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..model.preprocess import ImageError, Step, check_aspect, memory_refusal, to_rgb
from ..paths import ASSETS

FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # anything else (TIFF, EPS, PSD…) is never parsed
MAX_BYTES = 25 * 2**20  # a 40-megapixel JPEG is ~15 MB
MAX_PIXELS = 40_000_000  # decoded as RGBA that is 160 MB: the bound on what one upload may take
MIN_SIDE = 16  # below this a 224 crop is mostly interpolation
DECODE_SIDE = 512  # big JPEGs are decoded at a reduced DCT scale, shorter side still ≥ this

SAMPLES_DIR = ASSETS / "samples"
SAMPLE_MAX_SIDE = 512


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
    ``too_small``, ``too_elongated`` (``resnet.model.preprocess.MAX_ASPECT``), ``damaged``,
    ``memory`` (the server ran out of memory decoding it).
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
        raise _damaged() from None

    w, h = img.size
    if w * h > max_pixels:
        raise _too_many_pixels(w * h, max_pixels)
    if min(w, h) < min_side:
        raise ImageError("too_small", f"The image is {w}×{h} px; it needs at least {min_side}×{min_side} px.",
                         w=w, h=h, min=min_side)
    check_aspect(w, h)  # from the header: a strip preprocessing would refuse is never decoded

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
        if img.getexif().get(0x0112, 1) != 1:  # EXIF orientation: phone photos are often stored sideways
            img = ImageOps.exif_transpose(img)
            steps.append(Step("fm.step.exif_rotated"))
        rgb, convert_steps = to_rgb(img)
    except MemoryError:  # up to 40 MP, as RGBA and converted: other sessions may hold the rest
        raise memory_refusal() from None
    except Exception:  # truncated data, bad CRC, broken LZW…: all mean the same to the user
        raise _damaged() from None
    return LoadedImage(rgb, file_format, file_mode, (w, h), steps + convert_steps)


def _damaged() -> ImageError:
    return ImageError("damaged", "The image file is truncated or damaged and cannot be decoded.")


def _too_many_pixels(pixels: int, max_pixels: int) -> ImageError:
    mp, limit_mp = round(pixels / 1e6, 1), round(max_pixels / 1e6, 1)
    return ImageError("too_many_pixels",
                      f"The image has {mp} megapixels; the limit is {limit_mp} megapixels, to keep memory bounded.",
                      mp=mp, limit_mp=limit_mp)


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
        "Regenerate with `python -m resnet.inference.images`.",
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
