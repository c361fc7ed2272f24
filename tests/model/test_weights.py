"""Weights sources: random, official (never downloaded here), safetensors, checks."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import socket
from urllib.parse import urlparse

import httpx
import numpy as np
import paddle
import pytest

from resnet.model import weights
from resnet.model.preprocess import Preprocess
from resnet.model import resnet
from resnet.model.weights import WeightsError, WeightsMismatch
from tests.helpers import Served, file_server


@pytest.fixture(autouse=True)
def network(monkeypatch):
    """Every HTTP call is recorded; any host but this machine's loopback fails the test."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the local test server, never through a proxy

    def guarded(name, real):
        def call(*args, **kwargs):
            url = str(args[1] if name in ("stream", "request") else args[0])
            calls.append((name, url))
            if urlparse(url).hostname != "127.0.0.1":
                raise AssertionError(f"a test tried to use the network: {name} {url}")
            return real(*args, **kwargs)
        return call

    for name in ("head", "get", "stream", "request"):
        monkeypatch.setattr(httpx, name, guarded(name, getattr(httpx, name)))
    return calls


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


@pytest.fixture
def server():
    """The local test server (``tests.helpers.file_server``); yields (Served, base URL)."""
    served = Served()
    with file_server(served) as base:
        yield served, base


def serve_official(monkeypatch, server, data: bytes, md5_of: bytes | None = None) -> tuple[Served, str]:
    """Point ResNet-18's official URL at the test server, which serves ``data``; the MD5 is ``md5_of``'s."""
    served, base = server
    served.data = data
    url = f"{base}/models/resnet18.pdparams"
    monkeypatch.setitem(weights.OFFICIAL, 18, (url, hashlib.md5(data if md5_of is None else md5_of).hexdigest()))
    return served, url


def payload(n: int = 300_000) -> bytes:
    return np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()


def snapshot(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_download_resumes_after_a_cut_connection(monkeypatch, server, isolated_home):
    data = payload()
    served, _ = serve_official(monkeypatch, server, data)
    cut = served.cut_after = 2 * weights.DOWNLOAD_CHUNK  # whole chunks: what reaches the disk before the cut
    folder = isolated_home / "weights"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("the teacher's own file")
    seen = []
    path = weights.download_official(18, progress=lambda done, total: seen.append((done, total)))
    assert served.ranges == [None, f"bytes={cut}-"]  # the second request asked for the rest only
    assert path == weights.official_file(18) and path.read_bytes() == data
    assert seen[-1] == (len(data), len(data))
    assert snapshot(folder) == {"notes.txt": b"the teacher's own file", "resnet18.pdparams": data}  # no .part left
    assert weights.official_state(18) == "ready"
    assert weights.download_official(18) == path and len(served.ranges) == 2  # there and whole: no request


@pytest.mark.parametrize("honour_range", [True, False])
def test_download_resumes_a_part_left_by_an_earlier_run(monkeypatch, server, isolated_home, honour_range):
    data = payload()
    served, _ = serve_official(monkeypatch, server, data)
    served.honour_range = honour_range  # a server without Range support: start over, and still succeed
    part = isolated_home / "weights" / "resnet18.pdparams.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:50_000])
    assert weights.download_official(18).read_bytes() == data
    assert served.ranges == ["bytes=50000-"] and not part.exists()


def test_download_gives_up_after_repeated_cuts_and_keeps_what_arrived(monkeypatch, server, isolated_home):
    data = payload()
    served, _ = serve_official(monkeypatch, server, data)
    monkeypatch.setattr(weights, "DOWNLOAD_ATTEMPTS", 1)
    cut = served.cut_after = 2 * weights.DOWNLOAD_CHUNK
    with pytest.raises(WeightsError) as info:
        weights.download_official(18)
    assert info.value.code == "interrupted" and info.value.values["done_mb"] == 0.1
    part = isolated_home / "weights" / "resnet18.pdparams.part"
    assert part.read_bytes() == data[:cut] and weights.official_state(18) == "missing"
    weights.download_official(18)  # the next press of Download goes on from there
    assert served.ranges == [None, f"bytes={cut}-"] and weights.official_file(18).read_bytes() == data


def test_checksum_mismatch_is_a_clear_error_and_touches_nothing_else(monkeypatch, server, isolated_home):
    serve_official(monkeypatch, server, payload(), md5_of=b"the published file")
    folder = isolated_home / "weights"
    folder.mkdir(parents=True)
    (folder / "resnet18.pdparams").write_bytes(b"an older, damaged copy")
    (folder / "resnet50.pdparams").write_bytes(b"another depth")
    before = snapshot(folder)
    with pytest.raises(WeightsError) as info:
        weights.download_official(18)
    assert info.value.code == "checksum"
    assert "does not match its published MD5" in str(info.value) and "nothing else was changed" in str(info.value)
    assert info.value.values["expected"] == hashlib.md5(b"the published file").hexdigest()
    assert snapshot(folder) == before  # the damaged copy stays until a good one replaces it; no .part left


def test_unreachable_server_is_offline(monkeypatch, isolated_home):
    with socket.socket() as s:  # a port nothing listens on: the connection is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(weights.OFFICIAL, 50, (f"http://127.0.0.1:{port}/resnet50.pdparams", "0" * 32))
    with pytest.raises(WeightsError) as info:
        weights.download_official(50)
    assert info.value.code == "offline" and info.value.values["host"] == "127.0.0.1"
    assert "offline" in str(info.value)
    assert not list((isolated_home / "weights").glob("resnet50*"))


def test_damaged_official_file_never_touches_the_network(network, isolated_home):
    # issue 12: a corrupt .pdparams made every page run ask the server and say "offline"
    path = weights.official_file(18)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")
    with pytest.raises(WeightsError) as info:  # what the page's cached loader calls on every run
        weights.official_model(18)
    assert info.value.code == "damaged" and "download it again" in str(info.value)
    with pytest.raises(WeightsError) as info:
        weights.official_model(34)
    assert info.value.code == "missing"
    assert weights.official_state(18) == "damaged" and weights.official_state(34) == "missing"
    assert network == []  # not one request: only download_official goes out, when asked
    assert path.read_bytes() == b"half a file"


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
