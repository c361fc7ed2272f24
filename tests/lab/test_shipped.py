"""The trained models that ship in assets/models, and the command that regenerates them.

The shipped files are checked for real: they load, and their accuracy on the fixed digits
test split, computed here, is the one their sidecar records (and the ≥ 95 % aimed for).
Then Veit, Wilber, Belongie (NeurIPS 2016, Sec. 4.1, Fig. 3a) on the shipped weights:
deleting one block of the trained ResNet-56 mostly costs little, deleting any block of
the plain net (the paper's VGG) is catastrophic; and the lesion studies stored with the
models (per-image outcomes included) are what the code measures now.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from resnet.inference.ablation import accuracy, delete_each_block, lesion_study, outcomes
from resnet.inference.lesion_record import unpack
from resnet.lab.config import TrainConfig
from resnet.lab.shipped import (
    DIGITS_DIR,
    LESION_FILE,
    MODELS_DIR,
    SHIPPED,
    LesionBoard,
    file_option,
    held_out_split,
    lab_label,
    main,
    make_shipped,
    measure_lesion,
    shipped_path,
    sample_digits,
    shipped_models,
    stored_lesion_studies,
    weight_files,
)
from resnet.lab.store import Artifact
from resnet.model.init import init_parameters
from resnet.model.network import resnet
from resnet.model.preprocess import preprocess
from resnet.model.weights import WeightsError, load_trained, read_safetensors, save_trained

TOY = TrainConfig(depth=20, width=4, image_size=8, batch_size=16, steps=3, eval_every=3, seed=0)
BUDGET_BYTES = 5 * 2**20
TARGET_ACC = 0.95


def _first_of_each_class(data) -> list[int]:
    return [int(np.flatnonzero(data.y_test == c)[0]) for c in range(data.num_classes)]


def _check_samples(paths: list[Path], lab, data) -> None:
    """Each PNG, through the model's own preprocessing, is its test image (up to 8-bit rounding)."""
    assert [p.name for p in paths] == [f"digit_{c}.png" for c in data.classes]
    for path, index in zip(paths, _first_of_each_class(data)):
        with Image.open(path) as img:
            assert img.mode == "L" and img.size == (data.image_size, data.image_size)
            array = preprocess(img, lab.preprocess).array  # [1, 1, H, W]
        np.testing.assert_allclose(array[0], data.x_test[index], atol=0.5 / 255 / data.std[0] + 1e-5)


def test_regeneration_on_a_toy_budget(tmp_path):
    (done,) = make_shipped({"toy": TOY}, tmp_path / "models", tmp_path / "digits")
    assert done.path == tmp_path / "models" / "toy.safetensors" and done.path.with_suffix(".json").is_file()
    assert {a.dtype for a in read_safetensors(done.path).values()} == {np.dtype(np.float16)}
    lab = load_trained(done.path)
    assert lab.meta["test_acc"] == done.test_acc and lab.meta["train_config"]["steps"] == 3
    assert lab.classes == tuple(str(c) for c in range(10)) and lab.preprocess.crop == 8
    data = held_out_split(lab)
    assert accuracy(lab.model, data) == done.test_acc  # recorded = measured on the stored float16 weights
    _check_samples(sample_digits(tmp_path / "digits"), lab, data)


@pytest.mark.slow
def test_lesion_studies_are_stored_checked_and_measured_again_on_request(tmp_path, monkeypatch):
    monkeypatch.setitem(SHIPPED, "toy", TOY)  # a shipped model, as far as the folder listing goes
    models = tmp_path / "models"
    make_shipped({"toy": TOY}, models, None)
    assert main(["--lesion-only", "--out", str(models)]) == 0  # the regeneration command, without retraining
    lab = load_trained(models / "toy.safetensors")
    live = measure_lesion(lab)
    assert live.label == lab_label(lab) == TOY.label and live.test_images == len(held_out_split(lab).y_test)
    assert stored_lesion_studies(models) == {"toy": live}  # stored = measured now, by the same code
    assert live == lesion_study(lab.model, held_out_split(lab), TOY.label)  # the dygraph definition's numbers
    board = LesionBoard(models)
    assert board.study(models / "toy.safetensors", None) == live
    # a lab model elsewhere has no stored study until it is measured live (tests/lab/test_lesion.py)
    other = save_trained(lab.model, {k: v for k, v in lab.meta.items() if k not in ("format", "model")},
                         tmp_path / "trained" / "run1")
    assert board.study(other, None) is None
    # weights rewritten after the study: the stored study no longer applies
    (models / "toy.safetensors").write_bytes((models / "toy.safetensors").read_bytes())
    assert stored_lesion_studies(models) == {"toy": live}  # same bytes, same study
    state = lab.model.state_dict()
    state["fc.bias"].set_value(state["fc.bias"].numpy() + 1)
    save_trained(lab.model, {k: v for k, v in lab.meta.items() if k not in ("format", "model")}, models / "toy",
                 dtype=np.float16)
    assert stored_lesion_studies(models) == {} and board.study(models / "toy.safetensors", None) is None
    (models / LESION_FILE).write_text("{not json")
    assert stored_lesion_studies(models) == {}


def test_a_live_study_from_before_per_image_outcomes_gives_way_to_the_stored_one():
    """A store may hold a study measured by an older version (accuracies only): the page shows the stored one."""
    path = shipped_path("resnet56_digits16")
    stored = stored_lesion_studies()["resnet56_digits16"]
    old = {k: v for k, v in stored.to_dict().items() if k != "baseline_right"}
    old["blocks"] = [{k: v for k, v in b.items() if k != "right"} for b in old["blocks"]]
    board = LesionBoard()
    assert board.study(path, Artifact(0, "lesion", "k", "done", 1.0, old, None, 0.0)) == stored
    live = {**stored.to_dict(), "label": "measured live"}  # a current one is shown as measured
    assert board.study(path, Artifact(0, "lesion", "k", "done", 1.0, live, None, 0.0)).label == "measured live"


def test_the_shipped_source_lists_its_models_and_says_when_there_are_none(tmp_path):
    assert weight_files("shipped", tmp_path) == shipped_models()
    assert [file_option(p) for p in shipped_models()] == ["ResNet-56", "plain-20"]  # short: the accuracy goes under the box
    with pytest.raises(WeightsError) as none:
        weight_files("shipped", tmp_path, folder=tmp_path / "empty")
    assert none.value.code == "shipped_missing" and none.value.values == {"folder": str(tmp_path / "empty")}
    with pytest.raises(WeightsError) as none:  # the other sources: explore.weight_files
        weight_files("trained", tmp_path / "trained")
    assert none.value.code == "trained_empty"


def test_float16_storage_loads_back_as_float32(tmp_path):
    model = resnet(20, num_classes=10, in_channels=1)
    init_parameters(model, seed=2)
    path = save_trained(model, {"classes": [str(c) for c in range(10)]}, tmp_path / "half", dtype=np.float16)
    assert {a.dtype for a in read_safetensors(path).values()} == {np.dtype(np.float16)}
    full = save_trained(model, {}, tmp_path / "full")
    assert path.stat().st_size < 0.55 * full.stat().st_size  # half the bytes, plus the same header
    loaded = load_trained(path).model.state_dict()
    for key, value in model.state_dict().items():
        assert loaded[key].dtype == value.dtype  # float32 again, as the model is built
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy().astype(np.float16).astype(np.float32))


def test_test_split_needs_a_recorded_run(tmp_path):
    model = resnet(20, num_classes=10, width=4, in_channels=1)
    path = save_trained(model, {}, tmp_path / "bare")
    with pytest.raises(ValueError, match="train_config"):
        held_out_split(load_trained(path))


# ---------------------------------------------------------------------------------
# The shipped files
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return {key: load_trained(shipped_path(key)) for key in SHIPPED}


def test_shipped_files_are_small_half_precision_and_listed():
    files = [p for folder in (MODELS_DIR, DIGITS_DIR) for p in folder.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= BUDGET_BYTES
    assert shipped_models() == [MODELS_DIR / f"{key}.safetensors" for key in SHIPPED]  # ResNet-56 first: the default
    for path in shipped_models():
        assert {a.dtype for a in read_safetensors(path).values()} == {np.dtype(np.float16)}


@pytest.mark.parametrize("key, label, blocks", [("resnet56_digits16", "ResNet-56", 27), ("plain20_digits16", "plain-20", 9)])
def test_shipped_model_reproduces_its_recorded_accuracy(shipped, key, label, blocks):
    lab = shipped[key]
    assert lab.meta["label"] == label and len(lab.model.named_blocks()) == blocks
    assert lab.meta["train_config"] == {**lab.meta["train_config"], **{"dataset": "digits", "image_size": 16, "seed": 0}}
    data = held_out_split(lab)
    assert len(data.y_test) == lab.meta["test_images"]
    measured = accuracy(lab.model, data)
    assert measured == lab.meta["test_acc"]
    assert measured >= TARGET_ACC


def test_sample_digits_are_test_images_of_the_shipped_models(shipped):
    lab = shipped["resnet56_digits16"]
    _check_samples(sample_digits(), lab, held_out_split(lab))


@pytest.mark.slow
def test_veit_single_deletions_on_the_shipped_models(shipped):
    """Veit et al. 2016 Fig. 3(a): a ResNet survives losing one block, a plain net does not."""
    resnet56, plain20 = shipped["resnet56_digits16"], shipped["plain20_digits16"]
    data = held_out_split(resnet56)
    res_base, plain_base = accuracy(resnet56.model, data), accuracy(plain20.model, data)
    deletions = delete_each_block(resnet56.model, data)
    res_drops = [res_base - d.accuracy for d in deletions]
    plain_drops = [plain_base - d.accuracy for d in delete_each_block(plain20.model, data)]
    # most ResNet-56 blocks cost at most a couple of points (the median block about nothing) …
    assert np.median(res_drops) <= 0.01 and np.mean(np.asarray(res_drops) <= 0.02) >= 0.8
    # … while every single block of plain-20 is needed: each deletion costs more than half the accuracy
    assert min(plain_drops) > 0.5
    # The ResNet's exceptions are the blocks that add the most, ‖F(x)‖ / ‖x‖ over the test split
    # (here the first blocks of stage 1): the three costliest deletions are the three largest ratios.
    with paddle.no_grad():
        traces = resnet56.model.forward_features(paddle.to_tensor(data.x_test)).blocks
    ratios = {b.name: float(paddle.linalg.norm(b.residual) / paddle.linalg.norm(b.x)) for b in traces}
    costliest = sorted(deletions, key=lambda d: d.accuracy)[:3]
    assert {d.name for d in costliest} == set(sorted(ratios, key=ratios.get, reverse=True)[:3])
    # layer1.0 adds more than its input and its deletion falls to chance (tests/plots/test_lesion_claims.py checks
    # what the sentences say about every deletion, from the stored study)
    assert ratios["layer1.0"] > 1 and min(deletions, key=lambda d: d.accuracy).name == "layer1.0"
    assert deletions[0].accuracy < 0.15
    # the stored studies (lesion_studies.json) are these measurements, per-image outcomes included
    stored = stored_lesion_studies()
    assert set(stored) == set(SHIPPED)
    assert stored["resnet56_digits16"].blocks == deletions and stored["resnet56_digits16"].baseline == res_base
    right = outcomes(resnet56.model, data, [()])[0]
    assert unpack(stored["resnet56_digits16"].baseline_right, len(right)) == right.tolist()
    assert stored["plain20_digits16"] == lesion_study(plain20.model, data, "plain-20")  # all of it, random sets too
