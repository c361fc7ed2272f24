"""The Feature maps page's work without Streamlit (resnet.inference.explore)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from resnet.inference import explore, features, images
from resnet.model import resnet, weights
from resnet.model.preprocess import Preprocess

SPEC = Preprocess(resize=32, crop=32)


def png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model():
    """A CIFAR ResNet-20 (3 stages of 3 blocks), small enough for 32 px inputs."""
    net = resnet(20, num_classes=10)
    net.eval()
    return net


@pytest.fixture(scope="module")
def array():
    return explore.sample_shown("cat", SPEC).prepared.array  # [1, 3, 32, 32]


def test_an_upload_is_named_by_its_content_and_shown_as_a_thumbnail():
    data = png(1000, 800)
    shown = explore.upload_shown(data, SPEC)
    assert shown.key == "upload:" + hashlib.sha256(data).hexdigest()[:20]
    assert shown.size == (1000, 800) and max(shown.picture.size) == explore.DISPLAY_SIDE
    assert shown.prepared.array.shape == (1, 3, 32, 32)
    small = explore.upload_shown(png(300, 200), SPEC)
    assert small.picture.size == (300, 200) and small.key != shown.key


def test_an_upload_that_crashes_a_decoder_is_refused_as_damaged(monkeypatch):
    with pytest.raises(images.ImageError) as refused:
        explore.upload_shown(b"name,score\nada,3\n" * 20, SPEC)
    assert refused.value.code == "not_image"

    def crash(data: bytes) -> images.LoadedImage:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(images, "load_image", crash)
    with pytest.raises(images.ImageError) as refused:
        explore.upload_shown(png(64, 64), SPEC)
    assert refused.value.code == "damaged"


def test_analyse_falls_back_to_dygraph_when_the_fast_path_fails(monkeypatch, model, array):
    reference = features.run(model, array)

    def broken(*args, **kwargs):
        raise RuntimeError("no predictor")

    monkeypatch.setattr(explore, "fast_forward_features", broken)
    analysis, seconds = explore.analyse(model, array)
    assert analysis.backend == "dygraph" and seconds >= 0
    np.testing.assert_array_equal(analysis.logits, reference.logits)


def test_analyse_skips_the_fast_path_for_sizes_it_does_not_take(monkeypatch, model):
    def never(*args, **kwargs):
        raise AssertionError("the fast path was asked for an input it does not take")

    monkeypatch.setattr(explore, "fast_forward_features", never)
    tiny = np.zeros([1, 3, explore.FAST_SIZES[0] // 2, explore.FAST_SIZES[0] // 2], dtype=np.float32)
    analysis, _ = explore.analyse(model, tiny, drop_blocks=["layer2.1"])
    assert analysis.backend == "dygraph" and analysis.drop_blocks == {"layer2.1"}


def test_the_stem_as_a_view_and_the_default_block(model, array):
    analysis = features.run(model, array)
    stem = explore.block_view(analysis, explore.STEM)
    assert stem.out is analysis.stem and stem.stage == 0 and not stem.residual.any()
    assert features.top_channels(stem, 1)[0] == int(np.argmax(analysis.stem.mean(axis=(1, 2))))
    assert explore.block_view(analysis, "layer2.0") is analysis.block("layer2.0")
    assert explore.default_block(analysis) == "layer1.1"


def test_weight_files_say_why_there_are_none(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.ENV_WEIGHTS_DIR, raising=False)
    with pytest.raises(weights.WeightsError) as none:
        explore.weight_files("local", tmp_path)
    assert none.value.code == "local_unset" and none.value.values == {"env": weights.ENV_WEIGHTS_DIR}
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "local"))
    (tmp_path / "local").mkdir()
    with pytest.raises(weights.WeightsError) as none:
        explore.weight_files("local", tmp_path)
    assert none.value.code == "local_empty"
    with pytest.raises(weights.WeightsError) as none:
        explore.weight_files("trained", tmp_path / "trained")
    assert none.value.code == "trained_empty" and none.value.values == {"folder": str(tmp_path / "trained")}
    (tmp_path / "trained").mkdir()
    for name in ("b.safetensors", "a.safetensors"):
        (tmp_path / "trained" / name).write_bytes(b"")
    assert [p.name for p in explore.weight_files("trained", tmp_path / "trained")] == ["a.safetensors", "b.safetensors"]
    assert explore.file_label(tmp_path / "trained" / "a.safetensors") == "a.safetensors"  # no sidecar, no label


def test_a_shipped_digit_is_read_as_any_image_and_preprocessed_for_its_model(tmp_path):
    path = tmp_path / "digit_7.png"
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), mode="L").save(path)
    spec = Preprocess(resize=16, crop=16, mean=(0.3,), std=(0.3,), channels=1)
    shown = explore.file_shown("sample:digit_7", path, spec)
    assert shown.key == "sample:digit_7" and shown.size == (16, 16)
    assert shown.prepared.array.shape == (1, 1, 16, 16)
    np.testing.assert_allclose(shown.prepared.array[0, 0], (np.arange(256).reshape(16, 16) / 255 - 0.3) / 0.3, atol=1e-5)


def test_small_label_sets_are_shown_whole_and_small_inputs_skip_the_fast_path():
    assert [explore.classes_shown(n) for n in (2, 10, 11, 1000)] == [2, 10, explore.TOP_K, explore.TOP_K]
    lo, hi = explore.FAST_SIZES
    takes = [explore.fast_path_takes(np.zeros([1, 1, side, side], np.float32)) for side in (16, lo - 1, lo, hi, hi + 1)]
    assert takes == [False, False, True, True, False]  # the digits' 16 px: dygraph by design


def test_an_upload_is_decoded_once_per_session_and_a_refusal_remembered():
    memo, calls = {}, []

    def data(payload: bytes):
        return lambda: calls.append(1) or payload

    first = explore.upload_once(memo, "slot", "file-1", data(png(64, 48)), SPEC)
    assert explore.upload_once(memo, "slot", "file-1", data(png(64, 48)), SPEC) is first and len(calls) == 1
    other = Preprocess(resize=40, crop=40)
    assert explore.upload_once(memo, "slot", "file-1", data(png(64, 48)), other).prepared.array.shape == (1, 3, 40, 40)
    for _ in range(2):  # the refusal is raised again without reading the file again
        with pytest.raises(images.ImageError) as refused:
            explore.upload_once(memo, "slot", "file-2", data(b"not an image" * 20), SPEC)
        assert refused.value.code == "not_image"
    assert len(calls) == 3


def test_refusals_are_told_in_the_pages_language():
    from resnet.i18n import Translator

    en, zh = Translator("en"), Translator("zh")
    too_small = images.ImageError("too_small", "tiny", w=1, h=1, min=16)
    assert explore.error_text(too_small, en) == "The image is 1×1 px; it needs at least 16×16 px."
    assert explore.error_text(too_small, zh) == zh("fm.error.too_small", w=1, h=1, min=16)
    assert explore.error_text(RuntimeError("disk on fire"), en) == en("fm.error.other", reason="disk on fire")
    missing = weights.WeightsError("shipped_missing", "gone", folder="/x")
    assert "/x" in explore.error_text(missing, en) and "python -m resnet.lab shipped" in explore.error_text(missing, en)


def test_a_file_stamp_changes_when_the_file_is_rewritten(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"1234")
    before = explore.file_stamp(path)
    path.write_bytes(b"123456")
    assert explore.file_stamp(path) != before and explore.file_stamp(path)[1] == 6
