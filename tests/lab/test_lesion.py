"""The lesion study on compiled blocks (resnet.lab.lesion): the dygraph definition's numbers (resnet.inference.ablation).

Tiny random nets of every block and shortcut kind, on random images half labelled as the
net predicts them (so deleting a block moves the accuracy); the shipped models' equality
is checked in tests/lab/test_shipped.py (their stored studies are measured by this code).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import paddle
import pytest

from resnet.inference import ablation
from resnet.lab.lesion import LesionProgram, lesion_study
from resnet.model.init import init_parameters
from resnet.model.network import resnet

N_IMAGES, CLASSES = 24, 4
NETS = {  # name: (depth, resnet() settings, image size)
    "option A (pad)": (20, {}, 8),
    "option B (projection)": (20, {"downsample": "conv"}, 8),
    "plain": (20, {"shortcut": "none"}, 8),
    "λ = 0.5": (20, {"shortcut": "scaled", "scale": 0.5}, 8),
    "bottleneck": (50, {}, 32),
}


def _net(name: str):
    depth, settings, size = NETS[name]
    model = resnet(depth, num_classes=CLASSES, width=2, in_channels=1, **settings)
    init_parameters(model, seed=3)
    for layer in model.sublayers():  # running statistics away from (0, 1), so that folding BN is not trivial
        if isinstance(layer, paddle.nn.BatchNorm2D):
            rng = np.random.default_rng(len(layer._mean.shape) + int(layer._mean.shape[0]))
            layer._mean.set_value(rng.normal(0, 0.1, layer._mean.shape).astype("float32"))
            layer._variance.set_value(rng.uniform(0.5, 2.0, layer._variance.shape).astype("float32"))
    model.eval()
    x = np.random.default_rng(0).normal(size=(N_IMAGES, 1, size, size)).astype(np.float32)
    with paddle.no_grad():
        y = model(paddle.to_tensor(x)).numpy().argmax(axis=1)
    y[N_IMAGES // 2 :] = (y[N_IMAGES // 2 :] + 1) % CLASSES
    return model, SimpleNamespace(x_test=x, y_test=y)


@pytest.mark.parametrize("name", list(NETS))
def test_the_compiled_study_is_the_dygraph_study(name):
    model, data = _net(name)
    compiled = lesion_study(model, data, name, ks=range(1, 5), trials=3, seed=1)
    assert compiled == ablation.lesion_study(model, data, name, ks=range(1, 5), trials=3, seed=1)  # outcomes included
    moved = {b.accuracy for b in compiled.blocks} | {r.min for r in compiled.random}
    assert compiled.baseline == 0.5 and len(moved) > 1  # deletions do move it


@pytest.mark.parametrize("name", ["option A (pad)", "option B (projection)", "λ = 0.5", "bottleneck"])
def test_a_deleted_block_passes_on_its_shortcut_path_only(name):
    """Zeroing F's last conv and shift gives ReLU(0 + λ·s(x)) = ``ablation.deleted_output``; exactly
    where the shortcut has no weights (identity, option A's pad), to float precision through a projection."""
    model, data = _net(name)
    program = LesionProgram(model, data)
    with paddle.no_grad():
        h = program.stem(data.x_test)
    for position, b in enumerate(program.blocks):
        deleted = program._run(position, h, dropped=True)
        expected = ablation.deleted_output(b.block, paddle.to_tensor(h)).numpy()
        if b.block.shortcut_kind == "projection":
            np.testing.assert_allclose(deleted, expected, rtol=1e-4, atol=1e-5)
        else:
            assert np.array_equal(deleted, expected), b.name
        if b.block.shortcut_kind == "identity" and b.block.scale == 1.0:  # the walk passes x on without running it…
            assert np.array_equal(b.program.run(h, b.deleted), h)  # …because the zeroed block gives x itself
        h = program._run(position, h, dropped=False)


def test_each_distinct_computation_runs_once_with_progress_and_a_stop(monkeypatch):
    model, data = _net("option A (pad)")
    program = LesionProgram(model, data)
    assert program.chunk >= N_IMAGES  # tiny images: one walk
    ks, sets = ablation.study_sets(model, range(1, 5), 3, 1)
    fractions = []
    assert program.accuracies(sets, fractions.append) == ablation.accuracies(model, data, sets)
    blocks = len(program.blocks)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    # one run per block and distinct set of deletions before it: far fewer than one full pass per set
    assert len(fractions) < len(sets) * blocks / 2
    monkeypatch.setattr(program, "chunk", 5)  # a large test split is walked a few images at a time: the same numbers
    assert program.accuracies(sets) == ablation.accuracies(model, data, sets)
    # …and the same per-image outcomes (which the paired intervals of the deletions are computed from)
    assert np.array_equal(program.outcomes(sets), ablation.outcomes(model, data, sets))
    calls = []
    assert program.accuracies(sets, should_stop=lambda: calls.append(1) or len(calls) > 3) is None
    with pytest.raises(ValueError, match="layer9.9"):
        program.accuracies([{"layer9.9"}])
