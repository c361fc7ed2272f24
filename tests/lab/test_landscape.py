"""Loss landscapes (resnet.lab.landscape; its analysis, resnet.lab.surfaces): directions, surface, interpolation, task targets, the shipped pair."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import paddle
import pytest

from resnet.lab import landscape as L
from resnet.lab import surfaces as S
from resnet.lab.config import TrainConfig
from resnet.lab.data import load_digits
from resnet.lab.presets import PRESETS
from resnet.lab.train import build_model, train
from resnet.model.weights import save_trained

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=2, eval_every=2, seed=3)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def subset(digits):
    return L.training_subset(digits, 32)


def with_statistics(model, seed: int):
    """``model`` with random BN running statistics (a trained net's are not 0 and 1): folding must use them."""
    rng = np.random.default_rng(seed)
    state = L.state_arrays(model)
    for name, value in state.items():
        if name.endswith("._mean"):
            state[name] = rng.normal(0, 0.3, value.shape).astype(np.float32)
        elif name.endswith("._variance"):
            state[name] = rng.uniform(0.5, 2.0, value.shape).astype(np.float32)
        elif name.endswith(".bias") or (name.endswith(".weight") and value.ndim == 1):
            state[name] = (value + rng.normal(0, 0.2, value.shape)).astype(np.float32)
    model.set_state_dict(state)
    return model


def dygraph_loss(model, state, subset) -> float:
    """The reference: Paddle's own eval-mode forward and cross-entropy."""
    model.set_state_dict(state)
    model.eval()
    with paddle.no_grad():
        logits = model(paddle.to_tensor(subset.x))
        return float(paddle.nn.functional.cross_entropy(logits, paddle.to_tensor(subset.y)))


def test_subset_is_fixed_and_from_the_training_set(digits):
    a, b = L.training_subset(digits, 64), L.training_subset(digits, 64)
    assert a.n == 64 and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    rows = {row.tobytes() for row in digits.x_train}
    assert all(img.tobytes() in rows for img in a.x)
    assert L.training_subset(digits, 10**6).n == len(digits.y_train)


def test_filter_normalisation_gives_every_filter_the_norm_of_thetas(digits):
    theta = L.state_arrays(build_model(TINY, digits))
    d1, d2 = L.filter_normalised_directions(theta, seed=0)
    for d in (d1, d2):
        for name, value in theta.items():
            if value.ndim == 4:  # conv [out, in, k, k]: one filter per output channel
                np.testing.assert_allclose(np.linalg.norm(d[name].reshape(len(value), -1), axis=1),
                                           np.linalg.norm(value.reshape(len(value), -1), axis=1), rtol=1e-5)
            elif value.ndim == 2:  # Paddle's Linear [in, out]: the weights into one output neuron
                np.testing.assert_allclose(np.linalg.norm(d[name], axis=0), np.linalg.norm(value, axis=0), rtol=1e-5)
            else:  # BN γ, β, running statistics, fc bias: left at θ (Li et al.'s ignore='biasbn')
                assert not d[name].any(), name
    assert not np.allclose(d1["layer1.0.conv1.weight"], d2["layer1.0.conv1.weight"])


def test_same_seed_same_directions_for_models_with_the_same_names(digits):
    residual = L.state_arrays(build_model(TINY, digits))
    plain = L.state_arrays(build_model(replace(TINY, shortcut="none", seed=7), digits))  # same names, other weights
    assert residual.keys() == plain.keys()

    def unit(d, theta, name):  # a direction's filters divided by θ's filter norms: the draw itself
        norms = np.linalg.norm(theta[name].reshape(len(theta[name]), -1), axis=1)
        return d[name].reshape(len(norms), -1) / norms[:, None]

    (r1, _), (p1, _) = L.filter_normalised_directions(residual, 5), L.filter_normalised_directions(plain, 5)
    name = "layer2.1.conv2.weight"
    np.testing.assert_allclose(unit(r1, residual, name), unit(p1, plain, name), rtol=1e-5)
    again, _ = L.filter_normalised_directions(residual, 5)
    assert all(np.array_equal(again[k], r1[k]) for k in r1)
    other, _ = L.filter_normalised_directions(residual, 6)
    assert not np.allclose(other[name], r1[name])


def test_loss_program_matches_dygraph_and_follows_every_change_of_weights(digits, subset):
    model = with_statistics(build_model(TINY, digits), 0)
    program = L.LossProgram(model, subset)
    first = L.state_arrays(model)
    second = {k: v * np.float32(1.2) if v.ndim > 1 else v for k, v in first.items()}
    for state in (first, second, first):  # a kernel that cached the first weights would repeat its loss
        assert program.loss(state) == pytest.approx(dygraph_loss(model, state, subset), rel=1e-4)


def test_surface_centre_is_the_models_loss(digits, subset):
    model = with_statistics(build_model(TINY, digits), 1)
    theta = L.state_arrays(model)
    fractions = []
    surface = L.loss_surface(model, subset, S.Grid(3), seed=0, progress=fractions.append)
    assert surface.shape == (3, 3)
    assert surface[1, 1] == pytest.approx(dygraph_loss(build_model(TINY, digits), theta, subset), rel=1e-4)
    assert surface[0, 0] != pytest.approx(surface[1, 1], rel=1e-3)  # the directions move the weights
    assert fractions[-1] == 1 and len(fractions) == 9


def test_surface_stops_when_asked(digits, subset):
    model = build_model(TINY, digits)
    calls = []
    assert L.loss_surface(model, subset, S.Grid(3), 0, should_stop=lambda: calls.append(1) or len(calls) > 2) is None
    assert len(calls) == 3


def test_interpolation_ends_are_the_two_models_losses(digits, subset):
    start = build_model(TINY, digits)
    final = with_statistics(build_model(replace(TINY, seed=11), digits), 2)
    losses = L.interpolate(start, final, subset, [0.0, 0.5, 1.0, 1.25])
    assert losses[0] == pytest.approx(dygraph_loss(build_model(TINY, digits), L.state_arrays(start), subset), rel=1e-4)
    assert losses[2] == pytest.approx(dygraph_loss(build_model(TINY, digits), L.state_arrays(final), subset), rel=1e-4)
    assert np.all(np.isfinite(losses))  # t = 1.25: running variances stay at the final ones, never negative


def test_task_targets_on_a_finished_runs_weights(tmp_path, digits):
    result = train(TINY, data=digits, save_weights=tmp_path / "run1.safetensors")  # as a lab worker saves them
    weights = result.weights
    payload = L.surface_task(lambda f: None, lambda: False, weights=weights, size=3, n=16)
    assert payload["kind"] == S.SURFACE and payload["subset"] == 16 and payload["coords"] == [-1.0, 0.0, 1.0]
    assert len(payload["loss"]) == 3 and payload["center"] == payload["loss"][1][1] and payload["label"] == TINY.label
    curve = L.interpolation_task(lambda f: None, lambda: False, weights=weights, steps=4, n=16)
    assert curve["t"][0] == S.T_RANGE[0] and curve["t"][-1] == S.T_RANGE[1] and len(curve["loss"]) == 4
    assert L.surface_task(lambda f: None, lambda: True, weights=weights, size=3, n=16) == {}  # cancelled


def test_task_targets_refuse_weights_that_do_not_say_how_they_were_trained(tmp_path, digits):
    path = save_trained(build_model(TINY, digits), {}, tmp_path / "bare.safetensors")
    with pytest.raises(ValueError, match="no train_config"):
        L.surface_task(lambda f: None, lambda: False, weights=str(path), size=3)


def test_payloads_are_json_and_compact():
    payload = L.surface_payload("x", np.array([[1.0, np.inf], [np.nan, 2.0]]), S.Grid(2), 0, 8)
    assert payload["loss"] == [[1.0, None], [None, 2.0]] and payload["center"] is None  # no centre point on an even grid
    assert S.rounded(2.302585) == 2.303 and S.rounded(123456.7) == 123500 and S.rounded(None) is None
    assert S.edge_mean([[1, 2, 3], [4, 100, 6], [7, 8, None]]) == pytest.approx((1 + 2 + 3 + 7 + 8 + 4 + 6) / 7)


def test_local_minima_counts_pits():
    a, b = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21))
    assert S.local_minima(a**2 + b**2) == 1  # a bowl
    egg_crate = np.cos(4 * np.pi * a) * np.cos(4 * np.pi * b) + 0.01 * a  # Li et al.'s "chaotic" in miniature
    assert S.local_minima(egg_crate) > 4
    assert S.local_minima([[1.0, None], [None, 2.0]]) == 1  # an overflowed point is never a pit


def test_shipped_pair_is_the_degradation_presets_deep_nets():
    shipped = S.shipped_landscapes()
    deep = [c for c in PRESETS["degradation"].configs if c.depth == 56]
    assert [e["label"] for e in shipped] == [c.label for c in S.SHIPPED_CONFIGS] and len(deep) == 2
    for config in deep:
        entry = S.shipped_for(asdict(config))
        assert entry is not None and entry["label"] == config.label
        surface = entry["surface"]
        assert surface["size"] == S.SHIPPED_SIZE and len(surface["loss"]) == S.SHIPPED_SIZE
        assert surface["subset"] == S.SUBSET_SIZE and surface["center"] == surface["loss"][10][10]
        assert len(entry["interpolation"]["t"]) == len(entry["interpolation"]["loss"]) == S.T_STEPS
    assert S.shipped_for(asdict(replace(deep[0], steps=121))) is None


def test_shipped_pair_shows_what_the_why_page_says():
    """The Why page's reading of the shipped numbers (assets/i18n/*/why.json, why.landscape_run): ResNet-56 in one
    basin; plain-56 at chance level (ln 10) on a plateau walled in far higher, its interpolation flat."""
    residual, plain = S.shipped_landscapes()
    assert S.local_minima(residual["surface"]["loss"]) == 1 and residual["surface"]["center"] < 0.2
    assert abs(plain["surface"]["center"] - np.log(10)) < 0.1 * np.log(10)
    assert S.edge_mean(plain["surface"]["loss"]) > 1000 * S.edge_mean(residual["surface"]["loss"])
    inside = [v for t, v in zip(plain["interpolation"]["t"], plain["interpolation"]["loss"]) if 0 <= t <= 1]
    assert max(inside) - min(inside) < 0.1  # flat from θ₀ to θ₁: it never left its start
