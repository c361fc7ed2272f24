"""The gradient split of He et al. 2016 (Identity Mappings), Eqs. 4-5, measured with Paddle's autograd.

∂L/∂x = (∂s/∂x)ᵀ g₊ + (∂r/∂x)ᵀ g₊ per block (resnet/inference/gradient_record.py): the two terms
sum to the block's whole gradient, an identity shortcut of full pre-activation passes g on
unchanged, λ·x passes λ·g, a plain block passes nothing, and a block whose residual branch is
zeroed sends everything back through its shortcut.
"""

from __future__ import annotations

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from resnet.inference.gradient_split import measure_split, split_at_init, split_block
from resnet.model.init import init_parameters
from resnet.model.network import BlockTrace, resnet

SEED = 0


def batch(n: int = 8, size: int = 8, seed: int = SEED) -> tuple[paddle.Tensor, paddle.Tensor]:
    rng = np.random.default_rng(seed)
    return (paddle.to_tensor(rng.standard_normal((n, 1, size, size)).astype("float32")),
            paddle.to_tensor(rng.integers(0, 10, n)))


def net(**variant) -> object:
    model = resnet(20, num_classes=10, in_channels=1, **variant)
    init_parameters(model, SEED)
    model.train()
    return model


def zero_residual_branch(model, name: str) -> None:
    """Make F of block ``name`` a constant: its last conv's weights to 0, and the BN after it (if any) to γ = 0."""
    block = dict(model.named_blocks())[name]
    last = block.plan.convs[-1]
    conv = getattr(block, f"conv{last.index}")
    conv.weight.set_value(paddle.zeros_like(conv.weight))
    if "bn" in last.after:
        bn = getattr(block, f"bn{last.index}")
        bn.weight.set_value(paddle.zeros_like(bn.weight))


@pytest.mark.parametrize("unit", ["full_preact", "original"])
def test_a_block_whose_residual_branch_is_zeroed_sends_everything_through_the_shortcut(unit):
    model = net(unit=unit)
    zero_residual_branch(model, "layer2.1")
    splits = {s.name: s for s in measure_split(model, *batch())}
    zeroed = splits["layer2.1"]
    assert zeroed.residual_norm == 0.0 and zeroed.shortcut_norm > 0
    assert zeroed.identity_share == 1.0
    # the others keep a residual term of their own: the zeroing is what made the share 1
    assert all(0 < s.identity_share < 1 for name, s in splits.items() if name != "layer2.1")
    if unit == "full_preact":  # nothing after the addition: the shortcut passes g on unchanged (Eq. 5's 1)
        assert zeroed.shortcut_gain == pytest.approx(1.0, rel=1e-6)
        assert zeroed.total_norm == pytest.approx(zeroed.out_grad_norm, rel=1e-6)


def test_a_plain_net_sends_nothing_through_a_shortcut():
    splits = measure_split(net(shortcut="none"), *batch())
    assert len(splits) == 9
    assert all(s.shortcut_norm == 0.0 and s.identity_share == 0.0 and s.residual_norm > 0 for s in splits)


@pytest.mark.parametrize("variant", [
    dict(unit="full_preact"),
    dict(unit="original"),  # ReLU after the addition
    dict(unit="original", shortcut="none"),
    dict(unit="full_preact", shortcut="scaled", scale=2.0),
    dict(unit="full_preact", shortcut="exclusive_gate"),  # the gate's own gradient rides on both terms
], ids=lambda v: "-".join(str(x) for x in v.values()))
def test_the_two_terms_sum_to_the_whole_gradient_of_each_block(variant):
    """Against one ``paddle.grad`` of each whole block, option A's stage starts included."""
    model = net(**variant)
    x, labels = batch()
    features = model.forward_features(x)
    loss = F.cross_entropy(features.logits, labels)
    outs = paddle.grad(loss, [t.out for t in features.blocks], retain_graph=True)
    for trace, g in zip(features.blocks, outs):
        shortcut, residual = split_block(trace, g)
        (whole,) = paddle.grad(trace.out, trace.x, grad_outputs=g, retain_graph=True)
        np.testing.assert_allclose((shortcut + residual).numpy(), whole.numpy(), rtol=1e-4, atol=1e-7 * float(whole.abs().max()))


def test_the_split_goes_back_to_the_gradient_autograd_gives_at_the_first_block():
    """measure_split chains the blocks from the last: its first block's whole gradient is ∂L/∂(stem output)."""
    model = net(unit="original")
    x, labels = batch()
    splits = measure_split(model, x, labels)
    features = model.forward_features(x)  # train mode: the same batch statistics again
    (stem_grad,) = paddle.grad(F.cross_entropy(features.logits, labels), features.stem)
    assert splits[0].total_norm == pytest.approx(float(paddle.linalg.norm(stem_grad.flatten())), rel=1e-4)
    for before, after in zip(splits, splits[1:]):
        assert before.out_grad_norm == pytest.approx(after.total_norm, rel=1e-6)


@pytest.mark.parametrize("lam", [0.5, 2.0])
def test_a_scaled_shortcut_multiplies_the_shortcut_term_by_lambda(lam):
    """The same block (same weights, same x, same g) with λ and with the identity: the shortcut term is λ times."""
    x = paddle.to_tensor(np.random.default_rng(1).standard_normal((4, 16, 8, 8)).astype("float32"))
    g = paddle.to_tensor(np.random.default_rng(2).standard_normal((4, 16, 8, 8)).astype("float32"))
    terms = {}
    for scale in (1.0, lam):
        model = net(unit="full_preact", shortcut="scaled", scale=scale)
        block = dict(model.named_blocks())["layer1.1"]
        leaf = x.clone()
        leaf.stop_gradient = False
        out, residual, shortcut, mids = block.forward_trace(leaf)
        terms[scale] = split_block(BlockTrace("layer1.1", leaf, residual, shortcut, out, mids), g)
    np.testing.assert_allclose(terms[lam][0].numpy(), lam * terms[1.0][0].numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(terms[1.0][0].numpy(), g.numpy(), rtol=1e-6)  # the identity passes g on unchanged
    np.testing.assert_allclose(terms[lam][1].numpy(), terms[1.0][1].numpy(), rtol=1e-5, atol=1e-7)  # F is the same


def test_at_init_the_measured_gains_are_the_shortcuts_multipliers():
    """ResNet-20 at initialisation (split_at_init, as the Why page's task): every block that keeps its shape passes the
    gradient back ×1 (identity), ×0.5, ×2 through full pre-activation shortcuts, ×0 in a plain net."""
    for (shortcut, scale), gain in {("identity", 1.0): 1.0, ("scaled", 0.5): 0.5, ("scaled", 2.0): 2.0}.items():
        splits = split_at_init(unit="full_preact", shortcut=shortcut, scale=scale)
        kept = [s for s in splits if s.shortcut_kind == "identity"]
        assert len(kept) == 7 and all(s.shortcut_gain == pytest.approx(gain, rel=1e-5) for s in kept)
    assert all(s.shortcut_gain == 0.0 for s in split_at_init(unit="original", shortcut="none"))
