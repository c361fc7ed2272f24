"""Weights sources: random, official (never downloaded here), safetensors, checks."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil

import httpx
import numpy as np
import paddle
import pytest
from paddle.utils import download as paddle_download

from resnet.model import weights
from resnet.model.preprocess import Preprocess
from resnet.model import resnet
from resnet.model.weights import WeightsError, WeightsMismatch


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to reach the network fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to use the network: {args[:2]}")

    for name in ("head", "get", "stream", "request"):
        monkeypatch.setattr(httpx, name, refuse)


def small(**kwargs) -> paddle.nn.Layer:
    """A CIFAR ResNet-20 (0.27 M parameters): fast to build, save and load."""
    paddle.seed(1)
    model = resnet(20, num_classes=kwargs.pop("num_classes", 10), **kwargs)
    model.eval()
    return model


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- safetensors -------------------------------------------------------------------


def test_safetensors_round_trip(tmp_path):
    model = small()
    path = weights.save_safetensors(model, tmp_path / "net.safetensors")
    lab = weights.load_trained(path)  # no sidecar: the architecture is read off the tensors
    assert same_weights(model, lab.model)
    assert lab.model.config == model.config and not lab.model.training
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype("float32"))
    with paddle.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), lab.model(x).numpy())


def test_trained_model_round_trip_with_its_sidecar(tmp_path):
    model = small(shortcut="scaled", scale=2.0, in_channels=1)
    spec = Preprocess(resize=8, crop=8, mean=(0.3,), std=(0.4,), channels=1)
    config = {"preprocess": spec.to_dict(), "classes": [str(i) for i in range(10)], "run": {"steps": 300, "lr": 0.1}}
    path = weights.save_trained(model, config, tmp_path / "runs" / "run-7")
    assert path.name == "run-7.safetensors" and path.with_suffix(".json").is_file()
    lab = weights.load_trained(path)
    assert lab.kind == "trained" and lab.model.config == model.config  # λ = 2 survives: it is not in the tensors
    assert lab.preprocess == spec and lab.classes == tuple(config["classes"])
    assert lab.meta["run"] == {"steps": 300, "lr": 0.1}
    assert same_weights(model, lab.model)
    with pytest.raises(ValueError, match="model"):
        weights.save_trained(model, {"model": {}}, tmp_path / "bad")


def test_sidecar_from_before_option_a_keeps_its_projections(tmp_path):
    model = small(downsample="conv")
    path = weights.save_trained(model, {}, tmp_path / "old")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    del sidecar["model"]["downsample"]  # written when every CIFAR net had 1×1 projections
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    lab = weights.load_trained(path)
    assert lab.model.config == model.config and same_weights(model, lab.model)


def test_wrong_shape_names_the_keys(tmp_path):
    path = weights.save_safetensors(small(num_classes=10), tmp_path / "ten.safetensors")
    with pytest.raises(WeightsMismatch) as info:
        weights.load_state(small(num_classes=100), weights.read_safetensors(path), source="ten.safetensors")
    error = info.value
    assert error.code == "mismatch"
    assert [k for k, _, _ in error.wrong_shape] == ["fc.weight", "fc.bias"]
    assert "fc.weight (file [64, 10], model [64, 100])" in str(error)
    assert not error.missing and not error.unexpected


def test_wrong_depth_names_the_keys(tmp_path):
    path = weights.save_safetensors(small(), tmp_path / "r20.safetensors")
    with pytest.raises(WeightsMismatch) as info:
        weights.load_trained(path, depth=32)
    error = info.value
    assert "layer1.3.conv1.weight" in error.missing and not error.unexpected
    message = str(error)
    assert "does not fit ResNet-32" in message and "the file holds a ResNet-20" in message
    assert "layer1.3.conv1.weight" in message
    assert error.values["file"] == "ResNet-20" and error.values["missing"] == len(error.missing) > 0


def test_uploads_are_never_unpickled(monkeypatch, tmp_path):
    pickled = tmp_path / "evil.pdparams"
    paddle.save(small().state_dict(), str(pickled))

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickled an upload")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    for upload in (pickled.read_bytes(), b"not weights at all"):
        with pytest.raises(WeightsError) as info:
            weights.model_from_safetensors(upload)
        assert info.value.code == "unreadable"


def test_oversized_weights_are_refused(tmp_path):
    path = weights.save_safetensors(small(), tmp_path / "w.safetensors")
    with pytest.raises(WeightsError) as info:
        weights.read_safetensors(path.read_bytes(), max_bytes=1000)
    assert info.value.code == "too_many_bytes"


def test_infer_config_reads_depth_width_and_plain_nets():
    config = weights.infer_config(small(width=8, in_channels=1).state_dict())
    assert (config.depth, config.width, config.in_channels, config.num_classes, config.stem) == (20, 8, 1, 10, "small")
    assert (config.shortcut, config.downsample) == ("identity", "pad")
    assert weights.infer_config(small(downsample="conv").state_dict()).downsample == "conv"
    # an option-A ResNet and its plain twin hold the same tensors: a CIFAR depth reads as the
    # paper's ResNet (the sidecar tells them apart); an ImageNet depth without projections is plain
    assert small(shortcut="none").state_dict().keys() == small().state_dict().keys()
    assert weights.infer_config(resnet(18, shortcut="none", width=8).state_dict()).shortcut == "none"
    with pytest.raises(WeightsError) as info:
        weights.infer_config({"fc.weight": np.zeros((2, 2))})
    assert info.value.code == "unknown_architecture"


def test_local_weights_folder(monkeypatch, tmp_path):
    assert weights.local_weights() == []  # not configured
    folder = tmp_path / "operator"
    folder.mkdir()
    for name in ("b.safetensors", "a.safetensors", "notes.txt"):
        (folder / name).write_bytes(b"x")
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(folder))
    assert [p.name for p in weights.local_weights()] == ["a.safetensors", "b.safetensors"]


# --- random ------------------------------------------------------------------------


def test_random_weights_are_seeded():
    a, b, c = weights.random_model(18, seed=3), weights.random_model(18, seed=3), weights.random_model(18, seed=4)
    assert same_weights(a.model, b.model) and not same_weights(a.model, c.model)
    assert a.kind == "random" and not a.model.training and a.classes is None


# --- official ImageNet weights (a local file in Paddle's format; nothing downloads) ---


@pytest.fixture
def official_file(tmp_path):
    """A state dict of Paddle's own resnet18, saved as the official .pdparams are."""
    paddle.seed(5)
    reference = paddle.vision.models.resnet18()
    reference.eval()
    path = tmp_path / "served" / "resnet18.pdparams"
    path.parent.mkdir()
    paddle.save(reference.state_dict(), str(path))
    return reference, path


def test_official_weights_load_from_the_cache_without_network(monkeypatch, official_file, isolated_home):
    reference, path = official_file
    url, _ = weights.OFFICIAL[18]
    monkeypatch.setitem(weights.OFFICIAL, 18, (url, md5(path)))
    cached = isolated_home / "weights" / "resnet18.pdparams"
    cached.parent.mkdir(parents=True)
    shutil.copy(path, cached)

    lab = weights.official_model(18)
    assert lab.kind == "official" and len(lab.classes) == 1000 and lab.classes[0].startswith("tench")
    x = paddle.to_tensor(np.random.default_rng(1).normal(size=(1, 3, 64, 64)).astype("float32"))
    with paddle.no_grad():  # Paddle's parameter names load unchanged and compute the same logits
        np.testing.assert_allclose(lab.model(x).numpy(), reference(x).numpy(), rtol=1e-5, atol=1e-5)


def fake_server(monkeypatch, path, chunk: int = 1 << 20):
    """Answer HEAD with the file's size and serve GETs by copying ``path`` the way Paddle writes."""

    class Head:
        status_code = 200
        headers = {"content-length": str(path.stat().st_size)}

    monkeypatch.setattr(httpx, "head", lambda url, **kwargs: Head())
    served = []

    def get(url, fullname):
        served.append(url)
        with open(path, "rb") as src, open(fullname + "_tmp", "wb") as dst:
            while block := src.read(chunk):
                dst.write(block)
        shutil.move(fullname + "_tmp", fullname)
        return fullname

    monkeypatch.setitem(paddle_download._download_methods, "get", get)
    return served


def test_official_weights_download_through_paddle_with_progress(monkeypatch, official_file, isolated_home):
    _, path = official_file
    url, _ = weights.OFFICIAL[18]
    monkeypatch.setitem(weights.OFFICIAL, 18, (url, md5(path)))
    served = fake_server(monkeypatch, path)
    seen = []
    result = weights.official_path(18, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert served == [url]
    assert result == isolated_home / "weights" / "resnet18.pdparams" and md5(result) == md5(path)
    assert seen and seen[-1] == (size, size)
    assert all(done <= size and total == size for done, total in seen)
    assert weights.official_path(18) == result and served == [url]  # second time: from the cache


def test_official_weights_offline_is_a_clear_error(monkeypatch, isolated_home):
    def unreachable(url, **kwargs):
        raise httpx.ConnectError("Name or service not known")

    monkeypatch.setattr(httpx, "head", unreachable)
    with pytest.raises(WeightsError) as info:
        weights.official_model(50)
    assert info.value.code == "offline" and info.value.values["host"] == "paddle-hapi.bj.bcebos.com"
    assert "offline" in str(info.value)
    assert not (isolated_home / "weights" / "resnet50.pdparams").exists()


def test_official_download_with_a_wrong_checksum_fails(monkeypatch, official_file):
    _, path = official_file
    fake_server(monkeypatch, path)  # serves a file whose MD5 is not the official one
    with pytest.raises(WeightsError) as info:
        weights.official_path(18)
    assert info.value.code == "download_failed"


def test_no_official_weights_for_cifar_depths():
    with pytest.raises(WeightsError) as info:
        weights.official_model(20)
    assert info.value.code == "no_official"


def test_imagenet_labels_are_in_class_index_order():
    lines = (weights.ASSETS / "imagenet_labels.txt").read_text(encoding="utf-8").splitlines()
    synsets = [line.split("\t")[0] for line in lines]
    assert len(synsets) == 1000 and synsets == sorted(set(synsets))
    labels = weights.imagenet_labels()
    assert labels[0] == "tench, Tinca tinca" and labels[281] == "tabby, tabby cat" and labels[999].startswith("toilet tissue")


def test_sidecar_must_be_a_json_object(tmp_path):
    path = weights.save_safetensors(small(), tmp_path / "w.safetensors")
    path.with_suffix(".json").write_text(json.dumps([1, 2]))
    with pytest.raises(WeightsError) as info:
        weights.load_trained(path)
    assert info.value.code == "bad_config"
