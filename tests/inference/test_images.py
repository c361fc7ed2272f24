"""Uploads: every bad input refused with its code, every odd mode converted; preprocessing."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from resnet.inference import images
from resnet.inference.images import ImageError, load_image


from resnet.model.preprocess import IMAGENET, Preprocess, preprocess, to_rgb


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def noise(size=(64, 48), mode="RGB", seed=0) -> Image.Image:
    channels = len(mode)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode=mode)


def refused(data: bytes, **kwargs) -> ImageError:
    with pytest.raises(ImageError) as info:
        load_image(data, **kwargs)
    assert str(info.value)  # a readable English message
    return info.value


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid 8-bit RGB PNG of black pixels, compressed row block by row block (little memory)."""
    zipper = zlib.compressobj(6)
    rows = b"\0" * (1 + 3 * width) * 100  # filter byte + pixels, 100 rows at a time
    idat = b"".join(zipper.compress(rows) for _ in range(height // 100)) + zipper.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


# --- refused -----------------------------------------------------------------------


def test_not_an_image_is_refused():
    assert refused(b"name,score\nada,3\n" * 20).code == "not_image"


def test_empty_file_is_refused():
    assert refused(b"").code == "empty"


def test_unsupported_format_is_never_parsed():
    # TIFF is an image, but not one of the formats uploads may use
    assert refused(encode(noise(), "TIFF")).code == "not_image"


def test_truncated_png_is_refused():
    data = encode(noise((128, 128)), "PNG")
    error = refused(data[: len(data) // 2])
    assert error.code == "damaged"


def test_one_pixel_image_is_refused():
    error = refused(encode(Image.new("RGB", (1, 1), "red"), "PNG"))
    assert error.code == "too_small"
    assert error.values == {"w": 1, "h": 1, "min": images.MIN_SIDE}


def test_sixty_megapixel_image_is_refused_before_decoding(monkeypatch):
    data = png_of_zeros(8000, 7500)  # a real, valid PNG: 175 kB that would decode to 180 MB
    assert len(data) < 1_000_000

    def no_decoding(self):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    error = refused(data)
    assert error.code == "too_many_pixels"
    assert error.values == {"mp": 60.0, "limit_mp": 40.0}


def test_pillows_own_bomb_guard_gives_the_same_refusal():
    # 200 MP is beyond Pillow's own limit, which fires while the header is read
    header = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b"")
    error = refused(data)
    assert error.code == "too_many_pixels"
    assert error.values["mp"] == 200.0


def test_oversized_file_is_refused():
    error = refused(b"\x89PNG" + b"\0" * images.MAX_BYTES)
    assert error.code == "too_many_bytes"
    assert error.values["limit_mb"] == 25.0


# --- converted ---------------------------------------------------------------------


def test_rgba_is_composited_on_white():
    img = Image.new("RGBA", (32, 32), (255, 0, 0, 128))
    img.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent
    loaded = load_image(encode(img, "PNG"))
    assert loaded.image.mode == "RGB" and loaded.mode == "RGBA"
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    r, g, b = loaded.image.getpixel((5, 5))
    assert r == 255 and abs(g - 127) <= 1 and abs(b - 127) <= 1
    assert "fm.step.alpha_on_white" in [s.key for s in loaded.steps]


def test_grayscale_becomes_three_equal_channels():
    gray = noise(mode="L")
    loaded = load_image(encode(gray, "PNG"))
    arr = np.asarray(loaded.image)
    assert arr.shape == (48, 64, 3)
    assert np.array_equal(arr[..., 0], np.asarray(gray)) and np.array_equal(arr[..., 1], arr[..., 2])


def test_gray_with_alpha_and_palette_with_transparency():
    la = Image.new("LA", (20, 20), (0, 0))  # transparent black → white
    assert load_image(encode(la, "PNG")).image.getpixel((3, 3)) == (255, 255, 255)
    p = Image.new("P", (20, 20), 1)
    p.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    p.info["transparency"] = 0
    p.putpixel((0, 0), 0)
    loaded = load_image(encode(p, "PNG", transparency=0))
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((5, 5)) == (10, 200, 30)


def test_sixteen_bit_png_is_scaled_not_clipped():
    arr = np.array([[0, 257 * 100, 65535, 32768]] * 16 * 4, dtype=np.uint16).reshape(16, 16)
    loaded = load_image(encode(Image.fromarray(arr), "PNG"))
    assert loaded.mode.startswith("I;16")
    out = np.asarray(loaded.image)[..., 0]
    assert out[0, :4].tolist() == [0, 100, 255, 128]  # Pillow's own convert("L") would give 255 for all but 0
    assert "fm.step.sixteen_bit" in [s.key for s in loaded.steps]


def test_wide_integer_and_float_modes():
    ints = Image.fromarray(np.full((16, 16), 200, dtype=np.int32))
    assert ints.mode == "I"
    assert to_rgb(ints)[0].getpixel((0, 0)) == (200, 200, 200)
    floats = Image.fromarray(np.full((16, 16), 0.5, dtype=np.float32))
    assert floats.mode == "F"
    assert to_rgb(floats)[0].getpixel((0, 0)) == (128, 128, 128)
    signed = Image.fromarray(np.array([[-1.0, 3.0]], dtype=np.float32))
    rgb, steps = to_rgb(signed)
    assert [rgb.getpixel((0, 0))[0], rgb.getpixel((1, 0))[0]] == [0, 255]
    assert steps[0].key == "fm.step.stretched"


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)
    loaded = load_image(data)
    assert loaded.mode == "CMYK" and loaded.image.mode == "RGB"
    r, g, b = loaded.image.getpixel((16, 16))
    assert r > 240 and g < 15 and b < 15


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (24, 24), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    loaded = load_image(data)
    assert loaded.image.getpixel((10, 10)) == (255, 0, 0)
    assert "fm.step.first_frame" in [s.key for s in loaded.steps]


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "JPEG"])
def test_other_supported_formats_load(fmt):
    img = Image.new("RGB", (40, 30), (30, 120, 220))
    loaded = load_image(encode(img, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert loaded.format == fmt and loaded.size == (40, 30)
    assert np.abs(np.asarray(loaded.image, dtype=int) - (30, 120, 220)).max() <= 3


def test_exif_orientation_is_applied():
    img = noise((60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    loaded = load_image(encode(img, "JPEG", exif=exif))
    assert loaded.image.size == (40, 60)
    assert "fm.step.exif_rotated" in [s.key for s in loaded.steps]


def test_big_jpeg_is_decoded_at_reduced_scale():
    loaded = load_image(encode(Image.new("RGB", (2400, 1600), (10, 20, 30)), "JPEG"))
    assert loaded.size == (2400, 1600)
    assert loaded.image.size == (1200, 800)  # DCT scale 1/2; 1/4 would go below 512
    assert min(loaded.image.size) >= images.DECODE_SIDE
    assert images.Step("fm.step.draft", {"n": 2, "w": 1200, "h": 800}) in loaded.steps


# --- preprocessing -----------------------------------------------------------------


def test_preprocessing_matches_paddle_vision_transforms():
    from paddle.vision import transforms as T

    img = noise((300, 200), seed=3)
    ours = preprocess(img, IMAGENET)
    reference = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET.mean, IMAGENET.std)])
    expected = reference(img).numpy()
    assert ours.array.shape == (1, 3, 224, 224) and ours.array.dtype == np.float32
    np.testing.assert_allclose(ours.array[0], expected, atol=1e-5)


def test_preprocessing_by_hand():
    img = noise((300, 200), seed=4)
    prepared = preprocess(img, IMAGENET)
    # shorter side 200 → 256, longer 300 → int(256 · 300 / 200) = 384; crop offsets (80, 16)
    resized = np.asarray(img.resize((384, 256), Image.BILINEAR), dtype=np.float64)
    y, x = 16 + 100, 80 + 50  # one pixel of the crop, at crop row 100, column 50
    expected = (resized[y, x] / 255.0 - np.array(IMAGENET.mean)) / np.array(IMAGENET.std)
    np.testing.assert_allclose(prepared.array[0, :, 100, 50], expected, atol=1e-5)
    assert np.array_equal(np.asarray(prepared.display), resized[16:240, 80:304].astype(np.uint8))
    keys = [s.key for s in prepared.steps]
    assert keys == ["fm.step.resize", "fm.step.crop", "fm.step.scale", "fm.step.normalize", "fm.step.layout"]
    assert prepared.steps[0].values == {"size": 256, "w": 300, "h": 200, "ow": 384, "oh": 256}
    assert prepared.steps[1].values == {"size": 224, "left": 80, "top": 16}


def test_preprocessing_for_a_small_gray_model():
    spec = Preprocess(resize=8, crop=8, mean=(0.5,), std=(0.25,), channels=1)
    img = Image.new("RGB", (16, 32), (255, 255, 255))
    prepared = preprocess(img, spec)
    assert prepared.array.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(prepared.array, 2.0)  # (1 − 0.5) / 0.25
    assert Preprocess.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("bad", [{"crop": 300}, {"channels": 2}, {"std": [0, 1, 1]}, {"colour": 1}])
def test_preprocessing_settings_are_validated(bad):
    with pytest.raises(ValueError):
        Preprocess.from_dict({**IMAGENET.to_dict(), **bad})


# --- samples -----------------------------------------------------------------------


def test_samples_load_and_are_credited():
    credits = (images.SAMPLES_DIR / "CREDITS.md").read_text(encoding="utf-8")
    for s in images.SAMPLES:
        loaded = images.load_sample(s.name)
        assert max(loaded.image.size) <= images.SAMPLE_MAX_SIDE
        assert s.file in credits and s.licence in credits


def test_samples_regenerate_from_scikit_image(tmp_path):
    written = images.write_samples(tmp_path)
    for path in written:
        shipped = np.asarray(Image.open(images.SAMPLES_DIR / path.name), dtype=int)
        fresh = np.asarray(Image.open(path), dtype=int)
        assert shipped.shape == fresh.shape
        assert np.abs(shipped - fresh).mean() < 1.0  # same photo (a JPEG encoder may differ by a level)
    assert (tmp_path / "CREDITS.md").read_text() == (images.SAMPLES_DIR / "CREDITS.md").read_text()


def test_running_out_of_memory_while_decoding_is_a_coded_refusal(monkeypatch):
    """Up to 40 MP are decoded and converted in the server: a MemoryError there is the
    ``memory`` refusal (translated on the page), not "damaged" and not a traceback."""
    def out_of_memory(img):
        raise MemoryError
    monkeypatch.setattr(images, "to_rgb", out_of_memory)
    assert refused(encode(noise(), "PNG")).code == "memory"


@pytest.mark.parametrize("size", [(16, 400), (400, 16)])
def test_a_strip_is_refused_from_its_header(size):
    """More elongated than MAX_ASPECT (20:1) in either orientation: refused before decoding."""
    error = refused(encode(noise(size, "L"), "PNG"))
    assert (error.code, error.values["w"], error.values["h"]) == ("too_elongated", *size)
