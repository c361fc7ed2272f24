"""Offline data sets: digits split, image folders, the iChallenge-PM layout, bad folders."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from resnet.lab.data import TEST_FRACTION, load_dataset, load_digits, load_ichallenge_pm, load_image_folder


def _png(path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 10, 3), value, dtype=np.uint8)).save(path)


def test_digits_fixed_stratified_split():
    a, b = load_digits(), load_digits()
    assert a.x_train.shape[1:] == (1, 8, 8) and a.x_train.dtype == np.float32
    assert len(a.y_train) + len(a.y_test) == 1797
    assert len(a.y_test) == pytest.approx(1797 * TEST_FRACTION, abs=10)
    assert set(a.y_test.tolist()) == set(range(10)) and a.num_classes == 10
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert abs(float(a.x_train.mean())) < 1e-4 and float(a.x_train.std()) == pytest.approx(1, abs=1e-3)


def test_digits_upscaled():
    data = load_digits(16)
    assert data.x_test.shape[1:] == (1, 16, 16) and data.image_size == 16


def test_image_folder_skips_and_reports_unreadable(tmp_path):
    for i in range(3):
        _png(tmp_path / "cats" / f"{i}.png", 40 * i)
        _png(tmp_path / "dogs" / f"{i}.png", 200 - 40 * i)
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "dogs" / ".DS_Store").write_bytes(b"hidden files are ignored")

    data = load_image_folder(tmp_path, image_size=8)
    assert data.classes == ("cats", "dogs") and data.in_channels == 3
    assert data.x_train.shape[1:] == (3, 8, 8)
    assert len(data.y_train) + len(data.y_test) == 6
    assert len(data.skipped) == 1 and "broken.jpg" in data.skipped[0] and "unreadable" in data.skipped[0]


def test_ichallenge_pm_labels_from_file_names(tmp_path):
    for name, value in (("N0001", 10), ("H0002", 30), ("N0003", 50), ("P0001", 200), ("P0002", 220), ("P0003", 240)):
        _png(tmp_path / "PALM-Training400" / f"{name}.png", value)
    _png(tmp_path / "PALM-Training400" / "V0001.png", 0)
    (tmp_path / "PALM-Training400" / "P0004.jpg").write_bytes(b"truncated")

    data = load_ichallenge_pm(tmp_path, image_size=16)
    labels = np.concatenate([data.y_train, data.y_test])
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert data.num_classes == 2
    skipped = "\n".join(data.skipped)
    assert "V0001.png: name does not start with N, H or P" in skipped and "P0004.jpg: unreadable" in skipped


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "does not exist"),
        ("file", "is not a directory"),
        ("empty", "has no class subfolders"),
        ("one_class", "at least two classes with readable images, found only 'cats'"),
        ("unreadable_class", "found only 'cats'; 2 file(s) skipped"),
    ],
)
def test_image_folder_bad_input(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout == "file":
        root.write_text("x")
    elif layout == "empty":
        (root / "cats").mkdir(parents=True)
    elif layout in ("one_class", "unreadable_class"):
        _png(root / "cats" / "a.png", 1)
        _png(root / "cats" / "b.png", 2)
        if layout == "unreadable_class":
            (root / "dogs").mkdir()
            (root / "dogs" / "a.png").write_bytes(b"")
            (root / "dogs" / "b.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_image_folder(root)


def test_ichallenge_pm_needs_both_labels(tmp_path):
    _png(tmp_path / "N0001.png", 1)
    _png(tmp_path / "H0001.png", 2)
    with pytest.raises(ValueError, match="needs both N/H and P images"):
        load_ichallenge_pm(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no files named N\*, H\* or P\*"):
        load_ichallenge_pm(tmp_path / "empty")


def test_load_dataset_dispatch_errors():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar10", image_size=32)
    with pytest.raises(ValueError, match="set data_dir"):
        load_dataset("folder", image_size=32)



@pytest.mark.parametrize("image, expected", [
    (Image.fromarray(np.full((12, 10), 32768, dtype=np.uint16)), 32768 / 65535),  # 16-bit grey: scaled, not clipped
    (Image.new("RGBA", (10, 12), (0, 0, 0, 0)), 1.0),  # transparent: on white, not black
])
def test_image_folder_converts_odd_modes_like_uploads(tmp_path, image, expected):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            image.save(tmp_path / label / f"{i}.png")
    data = load_image_folder(tmp_path, image_size=8)
    assert data.skipped == ()
    assert data.mean == pytest.approx((expected,) * 3, abs=0.01)
