"""The Architecture page's counts (resnet/plots/plan_table.py, from the block plan, without Paddle)
against the built Paddle network: parameters per layer and in total, and MACs and output shapes
against anatomy's counters (its analytic rows for the original net, its forward-pass hooks for
every variant); and the variants' shared names against the paper's figure letters.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import paddle
import pytest

from resnet.i18n import LANGS, catalog
from resnet.inference import anatomy
from resnet.model import count_parameters, resnet
from resnet.model.modes import shapes_only
from resnet.model.plan import variant_problem
from resnet.model.spec import IMAGENET_DEPTHS, SHORTCUT_VARIANTS, UNITS
from resnet.papers import FIGURE_LETTERS
from resnet.plots import plan_table

LEGAL = [(u, s) for u in UNITS for s in SHORTCUT_VARIANTS if variant_problem(u, s, 0.5, 1.0) is None]
# Small nets of each kind: CIFAR basic blocks with option A (pad), ImageNet stem with option B
# projections, and He et al. 2016's bottleneck CIFAR net (projections, ×4 outputs).
NETS = {
    "resnet20_pad": dict(depth=20, width=4, num_classes=5),
    "resnet18_imagenet": dict(depth=18, width=4, num_classes=5),
    "resnet164_bottleneck": dict(depth=164, width=2, num_classes=5),
}


def per_layer(model: paddle.nn.Layer) -> dict[str, int]:
    """Trainable scalars by layer name (a parameter "layer1.0.gate.bias" counts for "layer1.0.gate")."""
    counts: dict[str, int] = defaultdict(int)
    for name, p in model.named_parameters():
        if not p.stop_gradient:
            counts[name.rsplit(".", 1)[0]] += int(p.size)
    return dict(counts)


def planned(net: dict, unit: str, shortcut: str, batch: int = 1, size: int = 32):
    return plan_table.network_rows(net["depth"], batch, size, unit=unit, shortcut=shortcut, scale=0.5,
                                   width=net["width"], num_classes=net["num_classes"])


@pytest.mark.parametrize("net", NETS, ids=list(NETS))
@pytest.mark.parametrize("unit, shortcut", LEGAL)
def test_plan_rows_count_every_parameter_of_the_built_network(net, unit, shortcut):
    spec = NETS[net]
    with shapes_only():  # parameters have their shapes, no values: a count needs no more
        model = resnet(spec["depth"], unit=unit, shortcut=shortcut, scale=0.5, width=spec["width"],
                       num_classes=spec["num_classes"])
    rows, summaries = planned(spec, unit, shortcut)
    table = {r.name: r.params for r in rows if r.params}
    assert table == per_layer(model)  # layer by layer, every trainable layer named as in the network
    totals = plan_table.totals(rows)
    assert totals.params == count_parameters(model) == sum(s.params for s in summaries)
    assert totals.with_bn_statistics == count_parameters(model, trainable_only=False)


@pytest.mark.parametrize("net", ["resnet20_pad", "resnet164_bottleneck"])
@pytest.mark.parametrize("unit, shortcut", LEGAL)
def test_plan_rows_match_a_forward_pass_shape_and_macs(net, unit, shortcut):
    """Each row's output shape and MACs against anatomy's hook counter on a real forward pass."""
    spec = NETS[net]
    paddle.seed(0)
    model = resnet(spec["depth"], unit=unit, shortcut=shortcut, scale=0.5, width=spec["width"],
                   num_classes=spec["num_classes"])
    model.eval()
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype("float32"))
    traced = {name: (list(shape), macs) for name, (shape, macs) in anatomy.traced_layers(model, x).items()}
    rows, _ = planned(spec, unit, shortcut, size=16)
    assert plan_table.check_rows(rows, traced) == []
    assert any(r.role == "gate" for r in rows) == (shortcut in ("exclusive_gate", "shortcut_gate"))


def test_check_rows_reports_a_wrong_row():
    rows, _ = planned(NETS["resnet20_pad"], "full_preact", "conv1x1", size=16)
    traced = {r.name: (list(r.output_shape), r.macs) for r in rows if r.kind not in ("shortcut", "dropout")}
    assert plan_table.check_rows(rows, traced) == []
    shortcut = next(r for r in rows if r.name == "layer2.0.shortcut_conv")
    traced[shortcut.name] = (list(shortcut.output_shape), 1)
    del traced["fc"]
    traced["layer9.9.conv1"] = ([1], 0)
    problems = plan_table.check_rows(rows, traced)
    assert f"layer2.0.shortcut_conv: table says {shortcut.macs} MACs, forward gave 1" in problems
    assert "fc: not reached by the forward pass" in problems
    assert "layer9.9.conv1: ran in the forward pass but missing from the table" in problems


@pytest.mark.parametrize("depth", IMAGENET_DEPTHS)
def test_original_rows_are_anatomys_rows(depth):
    """The default net (the page's until now, read from Paddle layers): the same rows, field by field."""
    with shapes_only():
        model = resnet(depth)
    theirs = [r.as_dict() for r in anatomy.model_rows(model, 10, 224)]
    rows, _ = plan_table.network_rows(depth, 10, 224)
    ours = [{k: v for k, v in r.as_dict().items() if k != "position"} for r in rows]
    assert ours == theirs


def test_resnet50_totals_are_the_papers_and_paddles():
    rows, summaries = plan_table.network_rows(50, 10, 224)
    totals = plan_table.totals(rows)
    assert (totals.params, totals.with_bn_statistics) == (25_557_032, 25_610_152)
    assert totals.macs_per_image == 4_089_184_256  # 4.09 G (He et al. 2015, Table 1: 3.8 G, counted differently)
    assert [s.block for s in summaries][:2] == ["stem", "layer1.0"] and summaries[-1].block == "head"
    assert sum(s.projection for s in summaries) == 4


def test_where_bn_and_relu_sit_moves_rows_not_counts():
    """Fig. 4: the same components in another order. A stage-start block of a full pre-activation
    net normalises x before the split; BN after addition is the last conv's BN, on the sum."""
    spec = NETS["resnet164_bottleneck"]
    by_unit = {u: planned(spec, u, "identity")[0] for u in UNITS}
    assert len({plan_table.totals(rows).params for u, rows in by_unit.items() if u != "full_preact"}) == 1
    position = {u: {r.name: r.position for r in rows} for u, rows in by_unit.items()}
    assert position["full_preact"]["layer2.0.bn1"] == "before_split"
    assert position["full_preact"]["layer2.1.bn1"] == "branch"
    assert position["bn_after_add"]["layer2.1.bn3"] == "after_add"
    assert "bn1" not in position["full_preact"] and position["full_preact"]["final_bn"] == "head"
    for lang in LANGS:  # every position the page's "where" column can show is named in both languages
        assert all(f"position.{p}" in catalog(lang) for p in plan_table.POSITIONS)
    assert {p for places in position.values() for p in places.values()} <= set(plan_table.POSITIONS)


@pytest.mark.parametrize("lang", LANGS)
def test_variant_names_carry_the_papers_figure_letter(lang):
    """One name per variant for every page and the lab: common.json's variant.<kind>.<name>, each
    glossed with its figure in He et al. 2016 (Identity Mappings), as resnet.papers records it."""
    texts = catalog(lang)
    fig = {"en": "Fig. {}{}", "zh": "图 {}{}"}[lang]
    for kind, letters in FIGURE_LETTERS.items():
        names = UNITS if kind == "unit" else SHORTCUT_VARIANTS
        assert set(letters) == set(names)
        for name, (number, letter) in letters.items():
            text = texts[f"variant.{kind}.{name}"]
            assert re.search(re.escape(fig.format(number, letter)) + r"\b", text), text
    shown = [texts[f"variant.{k}.{n}"] for k in FIGURE_LETTERS for n in FIGURE_LETTERS[k]]
    assert len(set(shown)) == len(shown)
