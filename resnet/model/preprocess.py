"""Images into the network: any Pillow mode to 8-bit RGB, and the network's preprocessing.

``preprocess(image, spec)`` does what the network expects: resize the shorter side,
center-crop, scale to 0…1, normalise per channel, NCHW float32. It follows
``paddle.vision.transforms`` (Resize(256), CenterCrop(224), ToTensor, Normalize) to
the pixel, so Paddle's official ImageNet weights see what they were evaluated on.
Every step is recorded as a ``Step`` (an i18n key and its values) so the page can print
the exact pipeline next to the image. ``to_rgb`` is shared by uploads
(``resnet.inference.images``) and the lab's image-folder data sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
