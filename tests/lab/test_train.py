"""The training loop: few-step runs, comparable starts, diagnostics, validation, CLI."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import paddle
import pytest

import resnet.lab.train as train_mod
from resnet.lab.config import CHOICES, ConfigError, TrainConfig, config_key
from resnet.lab.data import load_digits
from resnet.lab.store import RunStore
from resnet.lab.fast_step import StaticStep, runs_static
from resnet.lab.train import (
    ENGINES,
    EagerStep,
    batch_indices,
    blew_up_then_stuck,
    build_model,
    evaluate,
    evaluate_each,
    learning_rate,
    main,
    train,
)

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=3, eval_every=2, seed=3)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.mark.parametrize("shortcut, scale", [("identity", 1.0), ("none", 1.0), ("scaled", 0.5)])
def test_few_step_run_per_shortcut_mode(digits, shortcut, scale):
    rows = []
    result = train(replace(TINY, shortcut=shortcut, scale=scale), on_step=rows.append, data=digits)
    assert result.status == "done" and result.steps_done == 3 and result.images_per_s > 0
    assert [m.step for m in rows] == [1, 2, 3]
    assert [m.test_loss is not None for m in rows] == [False, True, True]  # every 2nd step and the last
    assert all(math.isfinite(m.train_loss) for m in rows)
    assert 0 <= result.final_test_acc <= 1 and result.final_train_loss == rows[-1].train_loss
    assert all(b.wall_s >= a.wall_s for a, b in zip(rows, rows[1:]))


def test_same_seed_same_result(digits):
    first = [m.train_loss for m in _losses(TINY, digits)]
    second = [m.train_loss for m in _losses(TINY, digits)]
    assert first == second


def _losses(config, data):
    rows = []
    train(config, on_step=rows.append, data=data)
    return rows


# The static step's convolutions run on oneDNN, the eager step's on Paddle's own kernels:
# the same sums in another order, ~1e-7 apart. How far that carries depends on the net.
# Measured (ResNet-20, width 8, batch 16, lr 0.02, 8 steps): with projection shortcuts (option
# B) every loss, both evaluations and the final weights agree within 5e-7 (relative) on an AMD
# Zen 5 and on an Intel Xeon (AVX-512). Option A agreed as closely on the Zen 5, but on the Xeon
# it parts at step 4 (1e-7, 1e-7, 1e-7, 9e-5, 1e-3, 2e-2): its zero-padded channels enter
# BatchNorm with a variance near 0, which amplifies the kernels' rounding (oneDNN picks other
# kernels per processor). Plain nets and λ = 0.5 agree within 2e-6 for 4 steps, then BatchNorm
# over channels that ReLU left nearly constant blows the difference up (plain: 5e-4 at step 7,
# 6e-3 at step 8), and at lr 0.1 the runs part as chaotic trajectories do (the Degradation
# preset's ResNet-20: 0.5 % at step 5, 6 % at step 10). So the whole curve is pinned where it is
# well-conditioned on every processor measured, the first steps everywhere.
MATCH = replace(TINY, width=8, lr=0.02, steps=8, eval_every=4)
RTOL = 1e-5


def _recorded(config, data, engine):
    """(per-step metrics, result, trained model) of one run with ``engine``."""
    rows, built = [], []

    def keep(cfg, dataset):
        built.append(build_model(cfg, dataset))
        return built[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_mod, "build_model", keep)
        result = train(config, on_step=rows.append, data=data, engine=engine)
    return rows, result, built[0]


@pytest.mark.parametrize("change, pinned_steps", [({}, 3), ({"downsample": "conv", "warmup_steps": 2}, 8),
                                                  ({"shortcut": "none"}, 4), ({"shortcut": "scaled", "scale": 0.5}, 4)])
def test_static_step_trains_as_the_eager_loop(digits, change, pinned_steps):
    """The fast loop (the default in one process) trains as the dygraph loop on a fixed seed."""
    config = replace(MATCH, **change)
    eager_rows, eager, eager_model = _recorded(config, digits, "eager")
    static_rows, static, static_model = _recorded(config, digits, None)
    assert static.status == eager.status == "done"
    assert [m.step for m in static_rows] == [m.step for m in eager_rows] == list(range(1, 9))
    assert static_rows[0].train_loss == pytest.approx(eager_rows[0].train_loss, rel=1e-6)  # the same initial weights
    assert [m.train_loss for m in static_rows[:pinned_steps]] == pytest.approx(
        [m.train_loss for m in eager_rows[:pinned_steps]], rel=RTOL)
    # the trained weights end up in the dygraph model: evaluate() there gives what the program reported
    assert evaluate(static_model, digits) == pytest.approx((static.final_test_loss, static.final_test_acc), rel=1e-5)
    if pinned_steps < config.steps:
        return
    evaluations = [x for m in static_rows if m.test_loss is not None for x in (m.test_loss, m.test_acc)]
    assert len(evaluations) == 4 and evaluations == pytest.approx(
        [x for m in eager_rows if m.test_loss is not None for x in (m.test_loss, m.test_acc)], rel=RTOL)
    eager_state, static_state = eager_model.state_dict(), static_model.state_dict()
    assert eager_state.keys() == static_state.keys()  # BatchNorm's running statistics included
    for name, tensor in eager_state.items():
        np.testing.assert_allclose(static_state[name].numpy(), tensor.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_static_step_starts_from_the_models_weights(digits):
    """The program takes every tensor of the dygraph model by name and gives it back unchanged."""
    model = build_model(TINY, digits)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    StaticStep(model, TINY, digits).write_back()
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, value in before.items():
        np.testing.assert_array_equal(after[name].numpy(), value, err_msg=name)


def test_static_evaluation_sees_the_current_weights(digits):
    """Every evaluation of the program is evaluate() on the weights of that step, not of an earlier one."""
    config = replace(MATCH, batch_size=32)
    model = build_model(config, digits)
    step = StaticStep(model, config, digits)
    batches = batch_indices(len(digits.y_train), config.batch_size, config.seed)
    seen = []
    for _ in range(3):
        for _ in range(5):
            idx = next(batches)
            step(digits.x_train[idx], digits.y_train[idx], config.lr)
        program = step.evaluate(digits)
        step.write_back()
        seen.append(program)
        assert program == pytest.approx(evaluate(model, digits), rel=1e-5)
    assert len(set(seen)) == 3  # the weights did move between evaluations


def test_unknown_engine_is_refused(digits):
    with pytest.raises(ValueError, match="engine must be one of"):
        train(TINY, data=digits, engine="jit")


@pytest.mark.parametrize("depth", [20, 18])  # CIFAR design (option A shortcuts), ImageNet topology (1×1 projections)
def test_identical_initial_weights_for_shared_parameters(digits, depth):
    variants = [
        replace(TINY, depth=depth, shortcut="none"),
        replace(TINY, depth=depth, shortcut="identity"),
        replace(TINY, depth=depth, shortcut="scaled", scale=2.0),
        replace(TINY, depth=32 if depth == 20 else 34, shortcut="none"),
    ]
    states = []
    for i, config in enumerate(variants):
        paddle.seed(100 + i)  # the global seed must not matter
        states.append({k: v.numpy() for k, v in build_model(config, digits).state_dict().items()})
    if depth == 18:  # projections only where there is a shortcut
        assert "layer2.0.downsample.0.weight" in states[1] and "layer2.0.downsample.0.weight" not in states[0]
    else:  # option A has no parameters: the residual net has exactly its plain twin's
        assert states[0].keys() == states[1].keys()
    for other in states[1:]:
        shared = states[0].keys() & other.keys()
        assert "layer1.0.conv1.weight" in shared and "fc.weight" in shared
        for name in shared:
            np.testing.assert_array_equal(states[0][name], other[name], err_msg=name)
    # A net and its λ = 2 twin share every parameter, projections included.
    assert states[1].keys() == states[2].keys()
    for name in states[1]:
        np.testing.assert_array_equal(states[1][name], states[2][name], err_msg=name)
    reseeded = build_model(replace(TINY, seed=TINY.seed + 1), digits).state_dict()["layer1.0.conv1.weight"].numpy()
    assert not np.array_equal(reseeded, states[1]["layer1.0.conv1.weight"])


def test_the_config_picks_the_stage_start_shortcut(digits):
    """``downsample`` reaches the network: option A (zero-pad, no parameters) or B (1×1 conv + BN)."""
    def kinds(config: TrainConfig) -> set[str]:
        return {block.shortcut_kind for _, block in build_model(config, digits).named_blocks()}

    assert kinds(TINY) == {"identity", "pad"}  # the CIFAR depths' default
    option_b = build_model(replace(TINY, downsample="conv"), digits)
    assert {b.shortcut_kind for _, b in option_b.named_blocks()} == {"identity", "projection"}
    assert "layer2.0.downsample.0.weight" in option_b.state_dict()
    assert kinds(replace(TINY, shortcut="none", downsample="conv")) == {"off"}


def test_identical_data_order_across_variants(digits, monkeypatch):
    seen: dict[str, list[list[int]]] = {}

    def recording(num_train, batch_size, seed):
        log = seen.setdefault(f"{len(seen)}", [])
        for batch in batch_indices(num_train, batch_size, seed):
            log.append(batch.tolist())
            yield batch

    monkeypatch.setattr(train_mod, "batch_indices", recording)
    train(replace(TINY, shortcut="none"), data=digits)
    train(replace(TINY, depth=32, shortcut="scaled", scale=0.5), data=digits)
    assert len(seen["0"]) == 3 and seen["0"] == seen["1"]


def test_batch_indices_cover_each_epoch_once():
    stream = batch_indices(10, 4, seed=0)
    first_epochs = np.concatenate([next(stream) for _ in range(5)])  # 20 indices = 2 epochs
    assert sorted(first_epochs[:10].tolist()) == list(range(10))
    assert sorted(first_epochs[10:].tolist()) == list(range(10))


def test_learning_rate_warmup():
    config = replace(TINY, lr=0.1, warmup_steps=4, steps=10)
    assert [round(learning_rate(config, s), 4) for s in (1, 2, 4, 5, 10)] == [0.02, 0.04, 0.08, 0.1, 0.1]


def test_diverged_run_stops_at_first_non_finite_loss(digits):
    # The largest λ a config takes (4) over 27 blocks and lr 10: step 1's loss is at Paddle's
    # cap (60), step 2's NaN (measured with both engines).
    rows = []
    config = replace(TINY, depth=56, shortcut="scaled", scale=4.0, lr=10.0, steps=5)
    result = train(config, on_step=rows.append, data=digits)
    assert result.status == "diverged" and result.steps_done == result.diverged_step == len(rows) < 5
    assert not math.isfinite(rows[-1].train_loss) and all(math.isfinite(m.train_loss) for m in rows[:-1])


def test_should_stop_cancels(digits):
    rows = []
    result = train(replace(TINY, steps=50), on_step=rows.append, should_stop=lambda: len(rows) >= 2, data=digits)
    assert result.status == "cancelled" and result.steps_done == 2


def test_paddle_caps_each_images_cross_entropy_at_64():
    """Why λ = 2's exploded loss reads 58 (the why_not_2x text): a wrong answer costs at most 64."""
    labels = paddle.to_tensor([1, 1])
    logits = paddle.to_tensor([[50.0, 0.0], [1e6, 0.0]])  # logit gaps 50 and 10⁶ against the true class
    per_image = paddle.nn.functional.cross_entropy(logits, labels, reduction="none").numpy().ravel()
    assert per_image.tolist() == pytest.approx([50.0, 64.0])


def test_blew_up_then_stuck_detection():
    chance = math.log(10)
    stuck = [2.3, 40.0, 56.0, 30.0, 5.0] + [chance + 0.01] * 100  # the λ = 2 run
    assert blew_up_then_stuck(stuck, 10)
    slow_plain = list(np.linspace(2.4, 1.9, 300))  # plain-56: never spiked, drifts below chance
    assert not blew_up_then_stuck(slow_plain, 10)
    assert not blew_up_then_stuck([chance] * 300, 10)  # flat at chance, but never blew up
    assert not blew_up_then_stuck([50.0] + [0.1] * 200, 10)  # spiked, then learned
    assert not blew_up_then_stuck(stuck[:60], 10)  # too short to tell


@pytest.mark.parametrize(
    "change, message",
    [
        ({"steps": 0}, "steps must be between 1 and 20000"),
        ({"steps": 10**6}, "steps must be between 1 and 20000"),
        ({"steps": 2.5}, "steps must be a whole number"),
        ({"steps": True}, "steps must be a whole number"),
        ({"batch_size": 1}, "batch_size must be between 2 and 1024"),
        ({"depth": 21}, "depth must be one of"),
        ({"depth": "56"}, "depth must be a whole number"),
        ({"width": 0}, "width must be between 1 and 128"),
        ({"scale": float("nan")}, "λ (scale) must be a finite number"),
        ({"scale": float("inf")}, "λ (scale) must be a finite number"),
        ({"lr": 0.0}, "lr must be between"),
        ({"lr": -0.1}, "lr must be between"),
        ({"lr": 50.0}, "lr must be between"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"shortcut": "double"}, "shortcut must be one of"),
        ({"stem": "imagenet"}, "CIFAR depths"),
        ({"eval_every": 5}, "eval_every must be between 1 and steps (3)"),
        ({"warmup_steps": 4}, "warmup_steps must be between 0 and steps (3)"),
        ({"dataset": "folder"}, "needs a data folder"),
        ({"dataset": "mnist"}, "dataset must be one of"),
    ],
)
def test_validation_errors(change, message):
    with pytest.raises(ValueError) as info:
        replace(TINY, **change)  # a config checks itself when it is built
    assert message in str(info.value)


def test_from_dict_converts_url_strings():
    config = TrainConfig.from_dict({"depth": "56", "shortcut": "scaled", "scale": "2", "steps": "100"})
    assert (config.depth, config.scale, config.steps) == (56, 2.0, 100)
    with pytest.raises(ValueError, match="depth must be a whole number, got 'deep'"):
        TrainConfig.from_dict({"depth": "deep"})
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"depth": 20, "gpu": 1})


def test_canonical_json_ignores_unused_scale():
    assert config_key(replace(TINY, scale=3.0)) == config_key(TINY)
    assert config_key(replace(TINY, shortcut="scaled", scale=3.0)) != config_key(replace(TINY, shortcut="scaled", scale=2.0))


def test_labels():
    assert TrainConfig(depth=56, shortcut="none").label == "plain-56"
    assert TrainConfig(depth=56, shortcut="scaled", scale=2.0).label == "ResNet-56 A λ=2"
    assert TrainConfig(depth=50, width=8).label == "ResNet-50 w8"


def test_cli_records_run_in_store(tmp_path, capsys):
    path = tmp_path / "cli.sqlite"
    code = main(["--depth", "20", "--width", "4", "--batch-size", "16", "--steps", "2", "--eval-every", "2", "--store", str(path)])
    assert code == 0
    (run,) = RunStore(path).list_runs()
    assert run.status == "done" and run.source == "cli" and run.steps_done == 2
    assert main(["--steps", "0"]) == 2
    assert "steps must be between" in capsys.readouterr().out


def test_finished_run_saves_final_weights_that_load_back(digits, tmp_path):
    from resnet.model.preprocess import preprocess
    from resnet.model.weights import load_trained
    from PIL import Image

    config = replace(TINY, shortcut="scaled", scale=0.5)
    result = train(config, data=digits, save_weights=tmp_path / "trained" / "run1")
    assert result.weights == str(tmp_path / "trained" / "run1.safetensors")
    lab = load_trained(result.weights)
    assert lab.model.config.depth == 20 and lab.model.config.width == 4 and lab.model.config.num_classes == 10
    assert lab.classes == tuple(str(c) for c in range(10)) and lab.meta["train_config"]["scale"] == 0.5
    # the sidecar's preprocessing is the training set's: a training image, fed as a picture, is what the net saw
    raw = np.clip(np.rint((digits.x_train[0, 0] * digits.std[0] + digits.mean[0]) * 255), 0, 255)  # back to 0…255
    assert lab.preprocess.crop == 8 and lab.preprocess.channels == 1 and len(lab.preprocess.mean) == 1
    fed = preprocess(Image.fromarray(raw.astype(np.uint8), mode="L"), lab.preprocess).array
    np.testing.assert_allclose(fed[0, 0], digits.x_train[0, 0], atol=0.02 / digits.std[0])
    # the saved weights are the trained ones, not the initial draw: same test loss as at the end of training
    logits = lab.model(paddle.to_tensor(digits.x_test))
    loss = float(paddle.nn.functional.cross_entropy(logits, paddle.to_tensor(digits.y_test)))
    assert loss == pytest.approx(result.final_test_loss, rel=1e-4)


def test_weights_saved_only_when_asked_and_done(digits, tmp_path):
    assert train(TINY, data=digits).weights is None
    cancelled = train(TINY, data=digits, should_stop=lambda: True, save_weights=tmp_path / "w")
    assert cancelled.status == "cancelled" and cancelled.weights is None and not list(tmp_path.iterdir())


@pytest.mark.parametrize("engine", ENGINES)
def test_final_evaluation_records_which_test_images_are_right(digits, engine):
    """The result's per-image outcomes are the final evaluation's: their count is final_test_acc × n exactly,
    and image by image they are what the trained model predicts."""
    from resnet.lab.config import unpack_correct

    config = replace(TINY, steps=4)
    built = []

    def keep(cfg, dataset):
        built.append(build_model(cfg, dataset))
        return built[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_mod, "build_model", keep)
        result = train(config, data=digits, engine=engine)
    n = len(digits.y_test)
    right = unpack_correct(result.final_test_correct, result.test_images)
    assert result.test_images == n and len(result.final_test_correct) == 2 * math.ceil(n / 8)
    assert sum(right) / n == result.final_test_acc and sum(right) == round(result.final_test_acc * n)
    loss, each = evaluate_each(built[0], digits)  # the trained weights end up in the model (write_back)
    assert loss == pytest.approx(result.final_test_loss, rel=1e-5)
    assert right == each.tolist() and 0 < sum(right) < n  # a mix, so a shifted or inverted bitstring fails


def test_outcomes_pack_to_hex_and_back():
    from resnet.lab.config import pack_correct, unpack_correct

    right = [True, False, False, False, False, False, False, True, True]  # 9 images: 2 bytes, bit 0 first
    assert pack_correct(right) == "8180" and pack_correct(right) == np.packbits(right).tobytes().hex()
    assert unpack_correct("8180", 9) == right
    with pytest.raises(ValueError):
        unpack_correct("8180", 17)


def test_a_run_stopped_before_any_evaluation_records_no_outcomes(digits):
    result = train(TINY, data=digits, should_stop=lambda: True)
    assert result.final_test_acc is None and result.final_test_correct is None and result.test_images is None


# ---------------------------------------------------------------------------------
# He et al. 2016 (Identity Mappings)' variants: every unit × shortcut the lab offers trains
# ---------------------------------------------------------------------------------


def _lab_variants() -> list[TrainConfig]:
    """Every unit × shortcut combination the config accepts (λ = 0.5 for "scaled"), tiny."""
    out = []
    for unit, shortcut in itertools.product(CHOICES["unit"], CHOICES["shortcut"]):
        try:
            out.append(TrainConfig(depth=20, width=2, batch_size=4, steps=1, eval_every=1, unit=unit, shortcut=shortcut,
                                   scale=0.5 if shortcut == "scaled" else 1.0))
        except ConfigError as exc:  # only the model's refusal of a unit for a plain net
            assert [p.code for p in exc.problems] == ["plain_unit"] and shortcut == "none"
    return out


@pytest.mark.parametrize("config", _lab_variants(), ids=lambda c: f"{c.unit}-{c.shortcut}")
def test_every_unit_and_shortcut_the_lab_offers_trains_one_step(digits, config):
    """One step and an evaluation, on the engine the loop picks: the static program, or the dygraph step for
    the shortcuts the program cannot build (``fast_step.runs_static``)."""
    result = train(config, data=digits)
    assert result.status == "done" and result.steps_done == 1 and math.isfinite(result.final_train_loss)
    assert result.test_images == len(digits.y_test) and 0 <= result.final_test_acc <= 1


def test_the_static_program_takes_every_variant_but_the_gates():
    static = {c.shortcut for c in _lab_variants() if runs_static(c)}
    assert static == set(CHOICES["shortcut"]) - {"exclusive_gate", "shortcut_gate"}


def test_a_gated_run_falls_back_to_the_dygraph_step_and_refuses_the_static_one(digits, monkeypatch):
    gated = TrainConfig(depth=20, width=2, batch_size=4, steps=1, eval_every=1, shortcut="shortcut_gate")
    with pytest.raises(ValueError, match="gated shortcuts"):
        train(gated, data=digits, engine="static")
    built = []
    monkeypatch.setattr(train_mod, "EagerStep", lambda *a: built.append(a) or EagerStep(*a))
    assert train(gated, data=digits).status == "done" and len(built) == 1


def test_a_variant_trains_the_same_on_both_engines(digits):
    """Full pre-activation with a 1×1 conv shortcut through the static program and the dygraph step: the
    same first steps (oneDNN's sums in another order, see MATCH)."""
    config = replace(MATCH, unit="full_preact", shortcut="conv1x1", steps=3, eval_every=3)
    static, eager = (_recorded(config, digits, engine)[0] for engine in ENGINES)
    assert np.allclose([m.train_loss for m in static], [m.train_loss for m in eager], rtol=RTOL)
