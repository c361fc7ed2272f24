"""Tests for resnet/fastpath.py: the predictor path equals dygraph on every returned
tensor, the disk and memory caches hit and rebuild, failures fall back to dygraph, bad
input raises. Small models and images only; no timing assertions.
"""

from __future__ import annotations

import threading

import numpy as np
import paddle
import pytest

from resnet.inference import fastpath
from resnet.inference.fastpath import (
    ABLATION_NOTICE, FastModel, clear_memory_cache, cpu_threads, fast_forward_features, fast_model,
    max_relative_difference,
)
from resnet.model import resnet


@pytest.fixture(autouse=True)
def fresh_memory_cache():
    """Each test starts without loaded predictors (the conftest gives it a fresh data dir)."""
    clear_memory_cache()
    yield
    clear_memory_cache()


def trained_looking(model, seed: int):
    """Random BN statistics and affine terms, so folding BN into the convs is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            for tensor, (lo, hi) in [(layer.weight, (0.5, 1.5)), (layer._variance, (0.5, 1.5)),
                                     (layer.bias, (-0.2, 0.2)), (layer._mean, (-0.2, 0.2))]:
                tensor.set_value(rng.uniform(lo, hi, tensor.shape).astype("float32"))
    model.eval()
    return model


def build(depth: int, seed: int = 0, **kwargs):
    paddle.seed(seed)
    return trained_looking(resnet(depth, **kwargs), seed)


def reference(model, x):
    with paddle.no_grad():
        return model.forward_features(paddle.to_tensor(x))


def image(shape, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def programs(home):
    root = home / "programs"
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


# ---------------------------------------------------------------------------------
# The two paths agree
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "kwargs", "shape"),
    [
        (18, {"width": 16, "num_classes": 10}, (2, 3, 64, 64)),  # basic blocks, projections
        (50, {"width": 8, "num_classes": 10}, (1, 3, 64, 64)),  # bottlenecks
        (20, {"shortcut": "scaled", "scale": 2.0}, (2, 3, 32, 32)),  # CIFAR, λ = 2, option A
        (20, {}, (2, 3, 33, 33)),  # option A at λ = 1: the subsample + zero-pad is not x; odd size
        (20, {"downsample": "conv"}, (1, 3, 32, 32)),  # CIFAR with option B projections
        (20, {"shortcut": "none"}, (1, 3, 32, 32)),  # plain net: zero shortcuts
    ],
    ids=["resnet18", "resnet50", "cifar20-lambda2", "cifar20-pad", "cifar20-conv", "cifar20-plain"],
)
def test_fast_path_equals_dygraph_on_every_tensor(depth, kwargs, shape):
    model = build(depth, **kwargs)
    x = image(shape)
    fast = fast_forward_features(model, x)
    ref = reference(model, x)
    assert fast.backend == "predictor", fast.notice
    assert fast.notice is None
    assert [b.name for b in fast.blocks] == [b.name for b in ref.blocks]
    assert max_relative_difference(fast, ref) < fastpath.TOLERANCE
    for mine, theirs in zip(fast.blocks, ref.blocks):  # the shapes a page relies on
        for field in ("x", "residual", "shortcut", "out"):
            assert getattr(mine, field).shape == getattr(theirs, field).shape
        assert mine.mid == []


def test_one_program_serves_every_batch_and_size(isolated_home):
    model = build(18, width=8, num_classes=10)
    for shape in [(1, 3, 64, 64), (3, 3, 32, 48), (2, 3, 96, 64)]:
        x = image(shape)
        fast = fast_forward_features(model, x)
        assert fast.backend == "predictor"
        assert fast.logits.shape == [shape[0], 10]
        assert max_relative_difference(fast, reference(model, x)) < fastpath.TOLERANCE
    assert len(programs(isolated_home)) == 1


def test_results_are_owned_tensors_chained_like_dygraph():
    model = build(20)
    first = fast_forward_features(model, image((1, 3, 32, 32), seed=1))
    kept = [first.logits.numpy().copy(), first.blocks[-1].out.numpy().copy()]
    fast_forward_features(model, image((1, 3, 32, 32), seed=2))  # must not overwrite `first`
    np.testing.assert_array_equal(first.logits.numpy(), kept[0])
    np.testing.assert_array_equal(first.blocks[-1].out.numpy(), kept[1])
    assert isinstance(first.logits, paddle.Tensor)
    assert first.blocks[0].x is first.stem
    for before, after in zip(first.blocks, first.blocks[1:]):
        assert after.x is before.out


def test_train_mode_model_is_run_in_eval_mode_and_left_in_train_mode():
    model = build(20)
    model.train()
    x = image((2, 3, 32, 32))
    fast = fast_forward_features(model, x)
    assert model.training and all(layer.training for layer in model.sublayers())
    model.eval()
    assert max_relative_difference(fast, reference(model, x)) < fastpath.TOLERANCE


def test_export_leaves_the_dygraph_model_untouched():
    model = build(20)
    x = image((1, 3, 32, 32))
    before = reference(model, x).logits.numpy()
    fast_forward_features(model, x)
    assert not {"forward", "forward_features"} & set(vars(model))  # no static function left on it
    np.testing.assert_array_equal(reference(model, x).logits.numpy(), before)


def test_ablations_run_on_dygraph_with_a_notice():
    model = build(20)
    x = image((1, 3, 32, 32))
    fast = fast_forward_features(model, x, drop_blocks={"layer2.1"})
    assert fast.backend == "dygraph" and fast.notice == ABLATION_NOTICE
    with paddle.no_grad():
        ref = model.forward_features(paddle.to_tensor(x), drop_blocks={"layer2.1"})
    assert max_relative_difference(fast, ref) == 0.0
    off = fast_forward_features(model, x, shortcuts_off=True)
    assert off.backend == "dygraph"
    assert float(off.blocks[3].shortcut.abs().max()) == 0.0


def test_onednn_is_on_with_one_thread_per_core():
    fast = FastModel.from_model(build(20))
    assert fast.backend == "predictor"
    assert fast.onednn
    assert fast.threads == cpu_threads()


# ---------------------------------------------------------------------------------
# Caches
# ---------------------------------------------------------------------------------


def test_memory_then_disk_cache_hits(isolated_home):
    model = build(20)
    first = fast_model(model)
    assert fast_model(model) is first  # memory hit, no rehash
    assert FastModel.from_model(model) is first  # memory hit by weights digest
    [name] = programs(isolated_home)
    exported = (isolated_home / "programs" / name / "model.pdiparams").stat().st_mtime_ns

    clear_memory_cache()
    again = fast_model(model)  # disk hit: loads the program, does not export it again
    assert again is not first and again.backend == "predictor"
    assert again.digest == first.digest
    assert programs(isolated_home) == [name]
    assert (isolated_home / "programs" / name / "model.pdiparams").stat().st_mtime_ns == exported


def test_weight_change_rebuilds(isolated_home):
    model = build(20)
    x = image((1, 3, 32, 32))
    before = fast_model(model)
    fast_forward_features(model, x)
    state = {k: v * 1.5 for k, v in model.state_dict().items()}
    model.set_state_dict(state)  # in place, same tensors: only their values changed
    after = fast_model(model)
    assert after is not before and after.digest != before.digest
    fast = fast_forward_features(model, x)
    assert max_relative_difference(fast, reference(model, x)) < fastpath.TOLERANCE
    assert len(programs(isolated_home)) == 2


def test_same_architecture_different_config_gets_its_own_program(isolated_home):
    a = build(20, shortcut="scaled", scale=2.0)
    b = build(20, shortcut="scaled", scale=0.5)  # same seed, same weights, other λ
    assert fast_model(a).digest != fast_model(b).digest
    assert len(programs(isolated_home)) == 2


# ---------------------------------------------------------------------------------
# Fallbacks and bad input
# ---------------------------------------------------------------------------------


def test_unwritable_cache_dir_falls_back_to_dygraph(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache directory should be")
    model = build(20)
    x = image((1, 3, 32, 32))
    fast = fast_forward_features(model, x, cache_dir=blocker / "programs")
    assert fast.backend == "dygraph"
    assert "dygraph" in fast.notice
    assert max_relative_difference(fast, reference(model, x)) == 0.0


def test_unusable_data_home_falls_back_to_dygraph(tmp_path, monkeypatch):
    blocker = tmp_path / "home_is_a_file"
    blocker.write_text("")
    monkeypatch.setenv("RESNET_LAB_HOME", str(blocker))
    fast = FastModel.from_model(build(20))
    assert fast.backend == "dygraph" and fast.notice


def test_program_disagreeing_with_dygraph_is_not_used(monkeypatch):
    monkeypatch.setattr(fastpath, "TOLERANCE", -1.0)  # no program can pass the self-check
    fast = FastModel.from_model(build(20))
    assert fast.backend == "dygraph"
    assert "disagrees" in fast.notice
    assert fast.forward_features(image((1, 3, 32, 32))).backend == "dygraph"


@pytest.mark.parametrize(
    "shape",
    [(1, 3, 31, 32), (1, 3, 32, 513), (0, 3, 32, 32), (65, 3, 32, 32), (1, 1, 32, 32), (3, 32, 32)],
    ids=["too-small", "too-large", "empty-batch", "batch-65", "channels", "3d"],
)
def test_bad_input_raises_value_error_before_any_export(shape, isolated_home):
    with pytest.raises(ValueError):
        fast_forward_features(build(20), np.zeros(shape, dtype="float32"))
    assert programs(isolated_home) == []


def test_non_array_input_and_non_resnet_model_raise_type_error():
    with pytest.raises(TypeError):
        fast_forward_features(build(20), [[0.0]])
    with pytest.raises(TypeError):
        FastModel.from_model(paddle.nn.Linear(2, 2))


def test_concurrent_callers_from_fresh_threads():
    """Streamlit runs each script in its own thread; the predictor runs one call at a time."""
    model = build(20)
    x = image((1, 3, 32, 32))
    expected = reference(model, x)
    results, errors = [], []

    def work() -> None:
        try:
            results.append(fast_forward_features(model, x))
        except Exception as exc:  # surfaced below: pytest does not see thread exceptions
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 3
    for fast in results:
        assert fast.backend == "predictor"
        assert max_relative_difference(fast, expected) < fastpath.TOLERANCE
