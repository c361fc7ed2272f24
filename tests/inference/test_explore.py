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
