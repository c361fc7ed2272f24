"""Images into the network: any Pillow mode to 8-bit RGB, and the network's preprocessing.

``preprocess(image, spec)`` does what the network expects: resize the shorter side,
center-crop, scale to 0…1, normalise per channel, NCHW float32. It follows
``paddle.vision.transforms`` (Resize(256), CenterCrop(224), ToTensor, Normalize) to
the pixel, so Paddle's official ImageNet weights see what they were evaluated on.
Every step is recorded as a ``Step`` (an i18n key and its values) so the page can print
the exact pipeline next to the image. ``to_rgb`` is shared by uploads
(``resnet.inference.images``) and the lab's image-folder data sets.

Memory is bounded before anything is resized: an image more elongated than
``MAX_ASPECT`` or whose resized copy would exceed ``MAX_RESIZED_PIXELS`` is an
``ImageError`` (a 1.7 KB PNG of 16×100000 px would otherwise be scaled to
256×1600000, ~1.2 GB), and a model may not ask for a shorter side above ``MAX_RESIZE``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..errors import CodedError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The largest shorter side a model may ask images to be scaled to: ImageNet's is 256 and
# the lab's models use at most 256; 512 (the Architecture page's largest input) leaves room.
# A sidecar's 30000 cost ~6 GB per image, and its crop would feed the network 30000² pixels.
MAX_RESIZE = 512
# Longer side / shorter side. Beyond this the centre crop sees under 5 % of the picture,
# and the longer side grows with it when the shorter one is scaled up (16×100000 → 256×1600000).
MAX_ASPECT = 20
# The resized image before the crop: 4.2 MP, 12.6 MB as 8-bit RGB (Pillow's two-pass
# resize holds about as much again). ImageNet's 256 × 20·256 is 1.3 MP; at 512 a side
# the bound is 16:1.
MAX_RESIZED_PIXELS = 2**22


class ImageError(CodedError):
    """An image the lab refuses; ``code`` is stable (page key ``fm.error.<code>``)."""


@dataclass(frozen=True)
class Step:
    """One thing done to the image: the page shows ``t(key, **values)``."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)


def describe(steps: list[Step], t) -> list[str]:
    """The steps as text in the translator's language (``t(key, **values) -> str``)."""
    return [t(s.key, **s.values) for s in steps]



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
        if not 1 <= self.resize <= MAX_RESIZE:
            raise ValueError(f"resize (the shorter side images are scaled to) must be 1…{MAX_RESIZE} px, "
                             f"got {self.resize}")
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


def check_aspect(w: int, h: int) -> None:
    """``ImageError`` (code ``too_elongated``) for a strip more elongated than ``MAX_ASPECT``."""
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError("too_elongated",
                         f"The image is {w}×{h} px; its longer side may be at most {MAX_ASPECT} times its shorter side.",
                         w=w, h=h, ratio=MAX_ASPECT)


def resized_size(w: int, h: int, spec: Preprocess) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to ``spec.resize``, or ``ImageError``
    (``too_elongated``, ``too_large``) when that copy would not fit the memory bounds."""
    check_aspect(w, h)
    # Paddle's rule: the longer side is truncated, not rounded
    ow, oh = (spec.resize, int(spec.resize * h / w)) if w < h else (int(spec.resize * w / h), spec.resize)
    if ow * oh > MAX_RESIZED_PIXELS:
        mp, limit_mp = round(ow * oh / 1e6, 1), round(MAX_RESIZED_PIXELS / 1e6, 1)
        raise ImageError("too_large", f"Scaled for the network the image would have {mp} megapixels; "
                         f"the limit is {limit_mp} megapixels.", mp=mp, limit_mp=limit_mp)
    return ow, oh


def preprocess(image: Image.Image, spec: Preprocess = IMAGENET) -> Prepared:
    """Resize the shorter side, center-crop, scale to 0…1, normalise: as paddle.vision.transforms.

    ``ImageError`` for an image outside the memory bounds (checked before anything is
    allocated) and for a ``MemoryError`` on the way (code ``memory``).
    """
    ow, oh = resized_size(*image.size, spec)
    try:
        return _preprocess(image, spec, ow, oh)
    except MemoryError:
        raise memory_refusal() from None


def memory_refusal() -> ImageError:
    """What a ``MemoryError`` while loading or preprocessing an image is said as (code ``memory``)."""
    return ImageError("memory", "The server has not enough memory free for this image now; try again or a smaller one.")


def _preprocess(image: Image.Image, spec: Preprocess, ow: int, oh: int) -> Prepared:
    steps = []
    if spec.channels == 1:
        image = image.convert("L")
        steps.append(Step("fm.step.to_gray"))
    w, h = image.size
    if min(w, h) != spec.resize:
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
