"""Deleting blocks at test time (Veit, Wilber, Belongie, NeurIPS 2016, Sec. 4 / Fig. 3), on tiny nets.

The paper deletes a block's residual module and keeps its shortcut; a plain block has no
shortcut, so deleting it hands its input on (option A's subsample + zero-pad where the
shape changes). These tests pin that down, and that the prefix-sharing evaluation gives
the numbers of a plain forward pass.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import paddle
import pytest

import resnet.inference.ablation as ablation
from resnet.i18n import MISSING, Translator
from resnet.inference.ablation import (
    accuracies,
    accuracy,
    delete_each_block,
    delete_random_blocks,
    deleted_output,
    is_downsampling,
    lesion_study,
)
from resnet.inference.ablation import LesionStudy, outcomes
from resnet.inference.lesion_record import RandomDeletions, pack, study_record, unpack
from resnet.lab.config import pack_correct, unpack_correct
from resnet.model.init import init_parameters
from resnet.model.network import resnet, subsample_pad
from resnet.plots.ablation import random_deletion_figure, readings, single_deletion_figure, study_reading, why_some_hurt
from resnet.stats import paired_difference, wilson

N_IMAGES, CLASSES = 10, 3
DOWNSAMPLING = {"layer2.0", "layer3.0"}


def _tiny(**kwargs):
    model = resnet(20, num_classes=CLASSES, width=2, in_channels=1, **kwargs)
    init_parameters(model, seed=1)
    model.eval()
    return model


def _logits(model, x: np.ndarray, drop_blocks=frozenset()) -> np.ndarray:
    with paddle.no_grad():
        return model.forward_features(paddle.to_tensor(x), drop_blocks=drop_blocks).logits.numpy()


@pytest.fixture(scope="module")
def residual():
    return _tiny()  # the CIFAR default: option A shortcuts


@pytest.fixture(scope="module")
def data(residual):
    """10 images; the first 6 labelled as the residual net predicts them, the rest wrongly: accuracy 0.6."""
    x = np.random.default_rng(0).normal(size=(N_IMAGES, 1, 8, 8)).astype(np.float32)
    y = _logits(residual, x).argmax(axis=1)
    y[6:] = (y[6:] + 1) % CLASSES
    return SimpleNamespace(x_test=x, y_test=y)


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())


def test_deleting_nothing_is_the_plain_accuracy(residual, data):
    assert accuracy(residual, data) == 0.6
    with paddle.no_grad():
        plain_forward = residual(paddle.to_tensor(data.x_test)).numpy()
    assert accuracies(residual, data, [()]) == [_accuracy(plain_forward, data.y_test)]


def test_residual_deletion_keeps_the_shortcut_as_forward_features_does(residual, data):
    # Veit et al.: delete the residual module, keep the skip (forward_features' drop_blocks)
    names = [name for name, _ in residual.named_blocks()]
    expected = [_accuracy(_logits(residual, data.x_test, {n}), data.y_test) for n in names]
    assert accuracies(residual, data, [{n} for n in names]) == expected
    pair = {"layer1.1", "layer3.2"}
    assert accuracies(residual, data, [pair]) == [_accuracy(_logits(residual, data.x_test, pair), data.y_test)]


@pytest.mark.parametrize("downsample", ["pad", "conv"])
def test_what_a_deleted_residual_block_passes_on(downsample):
    model = _tiny(downsample=downsample)
    x = paddle.to_tensor(np.abs(np.random.default_rng(1).normal(size=(2, 2, 8, 8))).astype(np.float32))  # a ReLU output
    blocks = dict(model.named_blocks())
    with paddle.no_grad():
        assert np.array_equal(deleted_output(blocks["layer1.1"], x).numpy(), x.numpy())  # identity: ReLU(x) = x
        out = deleted_output(blocks["layer2.0"], x).numpy()  # [2, 4, 4, 4]
        if downsample == "pad":  # option A: x[:, :, ::2, ::2], zero channels appended
            expected = subsample_pad(x, 2, 4).numpy()
            assert np.array_equal(out[:, :2], x.numpy()[:, :, ::2, ::2]) and not out[:, 2:].any()
        else:  # option B: the learned projection is kept, ReLU(BN(conv1×1/2(x)))
            expected = np.maximum(blocks["layer2.0"].downsample(x).numpy(), 0)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


def test_a_block_whose_residual_is_zero_can_be_deleted_for_free(data):
    model = _tiny()
    block = dict(model.named_blocks())["layer2.1"]
    block.bn2.weight.set_value(np.zeros(block.bn2.weight.shape, np.float32))  # F(x) = BN(…) = 0
    block.bn2.bias.set_value(np.zeros(block.bn2.bias.shape, np.float32))
    before = _logits(model, data.x_test)
    np.testing.assert_array_equal(_logits(model, data.x_test, {"layer2.1"}), before)
    assert accuracies(model, data, [{"layer2.1"}]) == accuracies(model, data, [()])


def test_plain_deletion_removes_the_whole_block(data):
    plain = _tiny(shortcut="none")
    blocks = dict(plain.named_blocks())
    x = paddle.to_tensor(np.random.default_rng(2).normal(size=(2, 2, 8, 8)).astype(np.float32))
    with paddle.no_grad():
        assert np.array_equal(deleted_output(blocks["layer1.2"], x).numpy(), x.numpy())  # its input, unchanged
        out = deleted_output(blocks["layer2.0"], x).numpy()
    assert out.shape == (2, 4, 4, 4)  # what layer2.1 expects
    assert np.array_equal(out[:, :2], x.numpy()[:, :, ::2, ::2]) and not out[:, 2:].any()
    # zeroing F as for a residual block would instead silence the net from there on
    with paddle.no_grad():
        zeroed = blocks["layer1.2"].forward_trace(x, drop_residual=True)[0].numpy()
    assert not zeroed.any()


def test_prefix_sharing_matches_a_full_forward_pass(data, monkeypatch):
    plain = _tiny(shortcut="none")
    sets = [(), {"layer1.0"}, {"layer2.0", "layer2.2"}, {"layer3.2"}, {n for n, _ in plain.named_blocks()}]

    def full_pass(deleted) -> float:  # every block from the stem on, no sharing
        with paddle.no_grad():
            h = plain.forward_stem(paddle.to_tensor(data.x_test))
            for name, block in plain.named_blocks():
                h = deleted_output(block, h) if name in deleted else block(h)
            return _accuracy(plain.forward_head(h)[0].numpy(), data.y_test)

    expected = [full_pass(set(s)) for s in sets]
    assert accuracies(plain, data, sets) == expected
    monkeypatch.setattr(ablation, "EVAL_BATCH", 3)  # several batches, each with its own shared prefix
    assert accuracies(plain, data, sets) == expected


def test_each_block_in_network_order_with_downsampling_marked(residual, data):
    result = delete_each_block(residual, data)
    assert [r.name for r in result] == [name for name, _ in residual.named_blocks()]
    assert {r.name for r in result if r.downsampling} == DOWNSAMPLING
    assert all(is_downsampling(b) == (n in DOWNSAMPLING) for n, b in residual.named_blocks())
    name, downsampling, acc, right = result[4]  # (name, is_downsampling, accuracy, per-image outcomes packed)
    assert (name, downsampling) == ("layer2.1", False) and 0 <= acc <= 1 and sum(unpack(right, N_IMAGES)) == acc * N_IMAGES


def test_random_deletions_are_deterministic_and_bounded(residual, data):
    first = delete_random_blocks(residual, data, ks=range(1, 4), trials=3, seed=5)
    assert first == delete_random_blocks(residual, data, ks=range(1, 4), trials=3, seed=5)
    assert [r.k for r in first] == [1, 2, 3] and all(r.trials == 3 for r in first)
    assert all(r.min <= r.mean <= r.max for r in first)
    # plain-20 has 9 blocks: k = 10 is left out, and k = 9 deletes them all, every time
    plain = _tiny(shortcut="none")
    result = delete_random_blocks(plain, data, ks=range(1, 11), trials=2, seed=0)
    assert [r.k for r in result] == list(range(1, 10))
    everything = accuracies(plain, data, [{n for n, _ in plain.named_blocks()}])[0]
    assert result[-1].min == result[-1].max == everything


def test_random_sets_are_nested_uniform_draws(residual):
    """Trial j deletes the first k blocks of its own random order: its set only grows with k."""
    names = [n for n, _ in residual.named_blocks()]
    ks, sets = ablation.random_sets(names, range(1, 10), trials=4, seed=7)
    assert ks == list(range(1, 10)) and len(sets) == 9 * 4
    by_k = [sets[i * 4 : (i + 1) * 4] for i in range(len(ks))]  # k by k, then trial by trial
    for k, trials in zip(ks, by_k):
        assert all(len(set(s)) == len(s) == k and set(s) <= set(names) for s in trials)
    for smaller, larger in zip(by_k, by_k[1:]):
        assert all(set(a) < set(b) for a, b in zip(smaller, larger))
    assert by_k[-1][0] != by_k[-1][1] or by_k[0] != by_k[1]  # the trials' orders differ
    # every block is equally likely to come first (uniform draws): over many seeds, each about 1/9 of the time
    firsts = [ablation.random_sets(names, [1], 1, seed)[1][0][0] for seed in range(900)]
    assert all(60 <= firsts.count(n) <= 140 for n in names)


def test_a_study_survives_json(residual, data):
    study = lesion_study(residual, data, "tiny", ks=range(1, 4), trials=2)
    assert study.test_images == N_IMAGES
    assert LesionStudy.from_dict(json.loads(json.dumps(study.to_dict()))) == study
    with pytest.raises(KeyError):
        LesionStudy.from_dict({k: v for k, v in study.to_dict().items() if k != "blocks"})
    with pytest.raises(KeyError):  # a record from before per-image outcomes were kept
        LesionStudy.from_dict({k: v for k, v in study.to_dict().items() if k != "baseline_right"})
    edited = study.to_dict()
    edited["blocks"][0]["accuracy"] += 1 / N_IMAGES  # an accuracy that is not its outcomes' count
    with pytest.raises(ValueError, match="outcomes"):
        LesionStudy.from_dict(edited)


def test_outcomes_are_packed_as_the_lab_packs_them():
    rng = np.random.default_rng(4)
    for n in (1, 7, 8, 9, 359):
        right = rng.random(n) < 0.7
        assert pack(right) == pack_correct(right.tolist())
        assert unpack(pack(right), n) == unpack_correct(pack(right), n) == right.tolist()
    with pytest.raises(ValueError):
        unpack(pack([True] * 9), 17)


def test_each_accuracy_is_its_outcomes_count_and_each_deletion_has_its_paired_interval(residual, data):
    study = lesion_study(residual, data, "tiny", ks=range(1, 3), trials=2)
    names = [n for n, _ in residual.named_blocks()]
    right = outcomes(residual, data, [()] + [{n} for n in names])
    assert right.shape == (1 + len(names), N_IMAGES) and right.dtype == bool
    assert unpack(study.baseline_right, N_IMAGES) == right[0].tolist()
    assert sum(unpack(study.baseline_right, N_IMAGES)) == round(study.baseline * N_IMAGES)
    assert study.baseline_interval == wilson(int(right[0].sum()), N_IMAGES)
    for block, row, verdict in zip(study.blocks, right[1:], study.verdicts()):
        assert unpack(block.right, N_IMAGES) == row.tolist() and block.accuracy == row.sum() / N_IMAGES
        assert verdict.block == block and verdict.delta == paired_difference(right[0].tolist(), row.tolist())
        assert verdict.delta.value == pytest.approx(block.accuracy - study.baseline)


def test_lesion_study_is_the_three_measurements_in_one_pass(residual, data):
    study = lesion_study(residual, data, "tiny", ks=range(1, 4), trials=2, seed=3)
    assert study.baseline == accuracy(residual, data) and study.chance == 1 / CLASSES
    assert study.blocks == delete_each_block(residual, data)
    assert study.random == delete_random_blocks(residual, data, ks=range(1, 4), trials=2, seed=3)
    assert study.worst.accuracy == min(b.accuracy for b in study.blocks)


def test_bad_requests_and_the_models_mode(data):
    model = _tiny()
    with pytest.raises(ValueError, match="layer9.9"):
        accuracies(model, data, [{"layer9.9"}])
    with pytest.raises(ValueError, match="trials"):
        delete_random_blocks(model, data, trials=0)
    with pytest.raises(ValueError, match="empty"):
        accuracy(model, SimpleNamespace(x_test=data.x_test[:0], y_test=data.y_test[:0]))
    model.train()  # a model being trained stays in training mode afterwards
    assert accuracy(model, data) == accuracy(_tiny(), data)
    assert model.training and all(layer.training for layer in model.sublayers())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_figures_draw_both_models_with_translated_text(residual, data, lang):
    t = Translator(lang)
    studies = [lesion_study(residual, data, "ResNet-20", ks=range(1, 4), trials=2),
               lesion_study(_tiny(shortcut="none"), data, "plain-20", ks=range(1, 4), trials=2)]
    single = single_deletion_figure(studies, t)
    text = json.dumps(single.to_plotly_json(), ensure_ascii=False)
    assert MISSING.format("")[:1] not in text
    bars = [tr for tr in single.data if tr.type == "bar"]
    hatched = [tr for tr in bars if tr.marker.pattern.shape == "/"]
    assert {x for tr in hatched for x in tr.x} == DOWNSAMPLING  # downsampling blocks: their own colour and legend entry
    assert [tr.name for tr in single.data if tr.showlegend is not False].count(t("fm.veit.deleted_downsampling")) == 1
    # each bar: the change of accuracy (pp), its whisker the paired 95 % interval of that change
    verdicts = {(row, v.block.name): v for row, s in enumerate(studies) for v in s.verdicts()}
    for tr in bars:
        row = 0 if tr.xaxis in ("x", "x1") else 1
        for name, y, up, down in zip(tr.x, tr.y, tr.error_y.array, tr.error_y.arrayminus):
            delta = verdicts[row, name].delta
            assert (y, y + up, y - down) == pytest.approx((100 * delta.value, 100 * delta.high, 100 * delta.low))
    zeros = [tr for tr in single.data if tr.name == t("fm.veit.baseline")]
    assert [tr.y[0] for tr in zeros] == [0, 0]
    intact = [s.baseline_interval for s in studies]
    assert [a.text for a in single.layout.annotations] == [
        t("fm.veit.subplot", label=s.label, acc=s.baseline, low=iv.low, high=iv.high) for s, iv in zip(studies, intact)]
    assert single.layout.yaxis.title.text == t("fm.veit.delta_axis")

    curve = random_deletion_figure(studies, t)
    text = json.dumps(curve.to_plotly_json(), ensure_ascii=False)
    assert MISSING.format("")[:1] not in text
    means = [tr for tr in curve.data if tr.mode == "lines+markers"]
    assert [list(tr.x) for tr in means] == [[0, 1, 2, 3]] * 2  # k = 0 is the undeleted net
    assert means[0].y[0] == 100 * studies[0].baseline and means[0].y[2] == 100 * studies[0].random[1].mean
    assert sum(1 for tr in curve.data if tr.fill == "tonexty") == 2  # a min–max band per model
    marks = [tr for tr in curve.data if tr.mode == "markers"]  # the intact net with its Wilson interval, named
    assert [tr.name for tr in marks] == [t("fm.veit.intact", label=s.label) for s in studies]
    for tr, iv in zip(marks, intact):
        assert (tr.y[0] + tr.error_y.array[0], tr.y[0] - tr.error_y.arrayminus[0]) == pytest.approx((100 * iv.high, 100 * iv.low))

    single_text, random_text = readings(studies, t)
    assert single_text.startswith(t("fm.veit.single_caption", n=N_IMAGES) + "\n\n")
    assert random_text.startswith(t("fm.veit.random_caption") + "\n\n")
    assert single_text.endswith("\n".join(f"- {study_reading(s, t)}" for s in studies))
    assert t("fm.veit.reading_random", label="plain-20", k=3, mean=studies[1].random[-1].mean,
             low=studies[1].random[-1].min) in random_text
    assert MISSING.format("")[:1] not in single_text + random_text + why_some_hurt(studies[0], t)


def _made_up(changes: dict[str, tuple[int, int]], n: int = 359, downsampling=("layer2.0",)) -> LesionStudy:
    """A study of 350 right of ``n`` whose deletions lose and gain these many images: {block: (lost, gained)}."""
    intact = np.arange(n) < 350
    rows = [intact]
    for name, (lost, gained) in changes.items():
        row = intact.copy()
        row[:lost] = False
        row[350 : 350 + gained] = True
        rows.append(row)
    return study_record("made-up", 0.1, [(name, name in downsampling) for name in changes], np.array(rows),
                        [RandomDeletions(1, 0.5, 0.4, 0.6, 2)])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sentences_are_chosen_by_the_intervals(lang):
    """One image of 359 is noise; 10 of 10 discordant images lost is not (McNemar p = 0.002)."""
    t = Translator(lang)

    def intact(study):
        return dict(label="made-up", baseline=350 / 359, low=study.baseline_interval.low, high=study.baseline_interval.high)

    def widest(verdicts):
        return 100 * max(v.delta.half_width for v in verdicts)

    quiet = _made_up({"layer1.0": (1, 0), "layer2.0": (2, 1), "layer2.1": (0, 0)})
    assert not any(v.beyond_noise for v in quiet.verdicts())
    assert study_reading(quiet, t) == t("fm.veit.reading.within_noise", **intact(quiet), n=3, half=widest(quiet.verdicts()))
    some = _made_up({"layer1.0": (10, 0), "layer2.0": (1, 0), "layer2.1": (0, 0)})
    verdicts = some.verdicts()
    assert [v.beyond_noise for v in verdicts] == [True, False, False]
    assert study_reading(some, t) == t(
        "fm.veit.reading.hurts_some", **intact(some), n=3, count=1, rest=2, half=widest(verdicts[1:]),
        blocks=t("fm.veit.block_delta", name="layer1.0", delta=-100 * 10 / 359))
    assert some.harmless().name == "layer2.1"  # no image changes: the surest harmless deletion
    everything = _made_up({"layer1.0": (314, 0), "layer2.0": (200, 0)})
    assert study_reading(everything, t) == t("fm.veit.reading.hurts_all", **intact(everything), n=2,
                                             least=100 * 200 / 359, most=100 * 314 / 359)
    assert everything.harmless() is None
    # the costliest deletion: at chance (36 of 359 right: chance, 10 %, is inside its interval), or above it
    def worst(study, right):  # the accuracy left with its Wilson interval, the change with its paired one
        left, delta = wilson(right, 359), study.verdicts()[0].delta
        return dict(label="made-up", block="layer1.0", chance=0.1, acc=right / 359, low=left.low, high=left.high,
                    delta=100 * delta.value, dlow=100 * delta.low, dhigh=100 * delta.high)

    assert t("fm.veit.worst.chance", **worst(everything, 36)) in why_some_hurt(everything, t)
    assert t("fm.veit.worst.above_chance", **worst(some, 340)) in why_some_hurt(some, t)
    # the downsampling block: within noise, or beyond it, by its interval
    layer20 = {v.block.name: v for v in verdicts}["layer2.0"]
    interval = t("fm.veit.block_interval", name="layer2.0", delta=100 * layer20.delta.value, low=100 * layer20.delta.low,
                 high=100 * layer20.delta.high)
    assert t("fm.veit.downsampling.within_noise", label="made-up", n=359, blocks=interval) in why_some_hurt(some, t)
    layer20 = everything.verdicts()[1]
    interval = t("fm.veit.block_interval", name="layer2.0", delta=100 * layer20.delta.value, low=100 * layer20.delta.low,
                 high=100 * layer20.delta.high)
    assert t("fm.veit.downsampling.hurts", label="made-up", blocks=interval) in why_some_hurt(everything, t)
