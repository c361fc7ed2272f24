"""Preprocessing's memory bounds: elongated strips and huge resizes are refused before
anything is resized, a MemoryError on the way is a coded refusal, and a model may not
ask for a resize a hostile sidecar chose (issue 12)."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from PIL import Image, ImageFile

from resnet.inference import explore
from resnet.lab import shipped
from resnet.model.preprocess import (
    IMAGENET, MAX_ASPECT, MAX_RESIZE, MAX_RESIZED_PIXELS, ImageError, Preprocess, preprocess, resized_size,
)
from resnet.model.weights import WeightsError, load_trained


@pytest.fixture
def no_resize(monkeypatch):
    """Any resize (the allocation the bounds prevent) fails the test."""
    def resize(self, *args, **kwargs):
        raise AssertionError(f"resized a {self.size} image: the refusal came too late")
    monkeypatch.setattr(Image.Image, "resize", resize)


def strip_png(w: int, h: int) -> bytes:
    """A black 8-bit gray PNG of w×h, built in memory: 16×100000 is ~1.7 KB of file, 1.6 MB decoded."""
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("size", [(16, 100_000), (100_000, 16)])
def test_extreme_strips_are_refused_before_any_resize(size, no_resize):
    """16×100000 would be scaled to 256×1600000 (1.2 GB as RGB); both orientations."""
    with pytest.raises(ImageError) as info:
        preprocess(Image.new("L", size).convert("RGB"), IMAGENET)
    assert info.value.code == "too_elongated"
    assert (info.value.values["w"], info.value.values["h"], info.value.values["ratio"]) == (*size, MAX_ASPECT)


@pytest.mark.parametrize("size", [(16, 100_000), (100_000, 16)])
def test_extreme_strip_uploads_are_refused_from_the_header(size, monkeypatch):
    """As an upload the strip is refused before it is even decoded (and the page's cache
    keeps the refusal): ``explore.upload_once`` is what the Feature maps page calls."""
    data = strip_png(*size)
    assert len(data) < 10_000
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded a strip"))
    memo: dict = {}
    for _ in range(2):  # the second time from the session's memo
        with pytest.raises(ImageError) as info:
            explore.upload_once(memo, "slot", "file-1", lambda: data, IMAGENET)
        assert info.value.code == "too_elongated"


def test_the_resized_area_is_bounded_too(no_resize):
    """A model asking for a 512 px shorter side: a 17:1 image would be 512×8704 = 4.5 MP."""
    big = Preprocess(resize=MAX_RESIZE, crop=224)
    with pytest.raises(ImageError) as info:
        preprocess(Image.new("RGB", (100, 1700)), big)
    assert info.value.code == "too_large" and info.value.values["limit_mp"] == round(MAX_RESIZED_PIXELS / 1e6, 1)
    assert resized_size(100, 1600, big) == (512, 8192)  # 16:1 still fits (4.2 MP)


def test_what_fits_is_resized_as_paddle_does():
    """At the aspect limit (20:1) the image is still prepared, the longer side truncated."""
    assert resized_size(16, 320, IMAGENET) == (256, 5120)
    assert resized_size(300, 200, IMAGENET) == (384, 256)
    prepared = preprocess(Image.new("RGB", (16, 16 * MAX_ASPECT)), IMAGENET)
    assert prepared.array.shape == (1, 3, 224, 224)


def test_a_memory_error_while_preprocessing_is_a_coded_refusal(monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise MemoryError
    monkeypatch.setattr(Image.Image, "resize", out_of_memory)
    with pytest.raises(ImageError) as info:
        preprocess(Image.new("RGB", (640, 480)), IMAGENET)
    assert info.value.code == "memory"


def test_the_page_has_a_text_for_every_new_refusal():
    from resnet.i18n import LANGS, catalog

    for lang in LANGS:
        for code in ("too_elongated", "too_large", "memory"):
            assert f"fm.error.{code}" in catalog(lang)


def test_a_model_may_not_ask_for_a_huge_resize():
    """A sidecar's ``preprocess.resize = 30000`` cost 6 GB per image; now a clear ValueError."""
    with pytest.raises(ValueError, match=f"resize .* must be 1…{MAX_RESIZE} px, got 30000"):
        Preprocess.from_dict({"resize": 30000, "crop": 224})
    assert Preprocess.from_dict({"resize": MAX_RESIZE, "crop": 224}).resize == MAX_RESIZE


def test_a_sidecar_asking_for_a_huge_resize_is_refused_at_load(tmp_path):
    """The operator's weights folder: the same bound as an upload, as a coded WeightsError."""
    source = shipped.shipped_models()[0]
    target = tmp_path / "big.safetensors"
    shutil.copy(source, target)
    meta = json.loads(source.with_suffix(".json").read_text())
    meta["preprocess"]["resize"] = 30000
    target.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError) as info:
        load_trained(target)
    assert info.value.code == "bad_config" and "30000" in info.value.values["reason"]
    assert str(MAX_RESIZE) in info.value.values["reason"]
