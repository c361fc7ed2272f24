"""Measured shortcut diagnostics against the ∏λ theory, at initialisation."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from resnet.inference.diagnostics import measure_signal, per_block_ratio, predicted_growth, response_std
from resnet.model import resnet


def signals(shortcut: str, scale: float = 1.0, depth: int = 20):
    paddle.seed(0)
    x = paddle.randn([16, 1, 8, 8])
    labels = paddle.randint(0, 10, [16])
    model = resnet(depth, num_classes=10, in_channels=1, shortcut=shortcut, scale=scale)
    model.train()
    return model, measure_signal(model, x, labels)


@pytest.mark.parametrize("scale", [2.0, 3.0])
def test_forward_and_backward_grow_by_lambda_per_identity_block(scale):
    """Theory: λ per block wherever the shortcut is the identity and λ^l·x dominates F(x).

    Stated tolerance: 10%. Forward: every step into an identity block of the same stage.
    Backward: every identity block but the very first (its input is the stem's output,
    still small next to F's own gradient path).
    """
    _, sig = signals("scaled", scale, depth=56)
    forward = per_block_ratio([s.out_rms for s in sig])  # out[i+1] / out[i]
    backward = [a.grad_rms / b.grad_rms for a, b in zip(sig, sig[1:])]  # back through block i
    same_stage = [i for i in range(len(sig) - 1) if sig[i + 1].stage == sig[i].stage]
    forward_steps = [i for i in same_stage if not sig[i + 1].projected]
    backward_steps = [i for i in same_stage if not sig[i].projected and i > 0]
    assert len(forward_steps) == 24 and len(backward_steps) == 21
    for i in forward_steps:
        assert forward[i] == pytest.approx(scale, rel=0.10), (sig[i + 1].name, forward[i])
    for i in backward_steps:
        assert backward[i] == pytest.approx(scale, rel=0.10), (sig[i].name, backward[i])


def test_identity_shortcut_keeps_sizes_of_order_one():
    _, sig = signals("identity")
    for i in [i for i in range(len(sig) - 1) if sig[i + 1].stage == sig[i].stage]:
        ratio = sig[i + 1].out_rms / sig[i].out_rms
        assert 0.8 < ratio < 1.6


def test_plain_net_has_no_shortcut_term_and_every_block_reports_a_gradient():
    model, sig = signals("none")
    assert all(s.shortcut_rms == 0 and s.scale == 0 for s in sig)
    assert all(s.grad_rms > 0 for s in sig)
    assert all(p.grad is None for p in model.parameters())  # gradients cleared afterwards


def test_prediction_is_the_product_of_scales():
    _, sig = signals("scaled", 2.0)
    forward, backward = predicted_growth(sig)
    scales = np.array([s.scale for s in sig])
    assert forward[0] == sig[0].out_rms
    assert forward[-1] == pytest.approx(sig[0].out_rms * np.prod(scales[1:]))
    assert backward[-1] == sig[-1].grad_rms
    assert backward[0] == pytest.approx(sig[-1].grad_rms * np.prod(scales[1:]))


def test_response_std_lists_every_3x3_conv_and_restores_mode():
    model = resnet(20, num_classes=10, in_channels=1)
    model.train()
    paddle.seed(1)
    stds = response_std(model, paddle.randn([8, 1, 8, 8]))
    assert len(stds) == 18  # 9 basic blocks × two 3×3 convs
    assert stds[0][0] == "layer1.0.conv1" and all(s > 0 for _, s in stds)
    assert model.training
    bottleneck = resnet(50, num_classes=10, in_channels=1, stem="small", width=8)
    assert [n for n, _ in response_std(bottleneck, paddle.randn([2, 1, 8, 8]))][:2] == ["layer1.0.conv2", "layer1.1.conv2"]
