"""AppTest of the Architecture page with He et al. 2016 (Identity Mappings)'s variants, in both
languages: the unit and shortcut selects (URL-synced, checked), the counts they change, the block's
layers and where BN sits, the forward-pass check of the variant, the five units side by side."""

from __future__ import annotations

import pytest

from resnet.i18n import LANGS, MISSING, catalog
from resnet.plots import plan_table
from tests.helpers import open_page as run
from tests.helpers import paddle_modules_after, query_param

MISSING_MARK = MISSING.split("{")[0]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def rendered(at) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "subheader", "title", "error", "warning")
                    for e in getattr(at, kind))


@pytest.mark.parametrize("lang", LANGS)
def test_full_preact_with_exclusive_gates_is_counted_drawn_and_checked(lang):
    texts = catalog(lang)
    at = run("pages/architecture.py", lang=lang, unit="full_preact", shortcut="exclusive_gate", block="layer2.0")
    assert not at.warning and not at.error, [w.value for w in (*at.warning, *at.error)]
    assert at.selectbox(key="arch.unit").value == "full_preact"
    assert at.selectbox(key="arch.shortcut").value == "exclusive_gate"
    # one name for a variant everywhere (the lab's form, its run labels and the URL): the URL's value, glossed
    assert at.selectbox(key="arch.unit").format_func("full_preact") == f"full_preact · {texts['variant.unit.full_preact']}"
    assert at.selectbox(key="arch.shortcut").format_func("exclusive_gate") == f"exclusive_gate · {texts['variant.shortcut.exclusive_gate']}"
    rows, summary = plan_table.network_rows(50, 10, 224, unit="full_preact", shortcut="exclusive_gate")
    totals = plan_table.totals(rows)
    shown = metrics(at)
    assert shown[texts["arch.params"]] == f"{totals.params:,}" != "25,557,032"  # the gates' weights and biases
    assert shown[texts["arch.check"]] == "✓"  # the variant's own forward pass agrees, row by row
    assert shown[texts["arch.macs_image"]] == f"{totals.macs_per_image / 1e9:.2f} G"
    # the block's table: the gate and the projection with their counts, BN before the split
    block = at.dataframe[0].value
    names = list(block.iloc[:, 0])
    # BN → ReLU before each conv (bn1 before the split, for both paths), nothing after conv3
    assert names == ["bn1", "conv1", "bn2", "conv2", "bn3", "conv3", "gate", "downsample.0", "downsample.1"]
    position = dict(zip(names, block[texts["col.position"]]))
    assert position["bn1"] == texts["position.before_split"] and position["gate"] == texts["position.gate"]
    gate = next(r for r in rows if r.name == "layer2.0.gate")
    params = dict(zip(names, block[texts["col.params"]]))
    assert params["gate"] == gate.params == 256 * 512 + 512
    text = rendered(at)
    assert texts["variant.unit.full_preact"] in text  # the five units' caption names the chosen one
    assert texts["arch.variant.exclusive_gate"].format(params=f"{gate.params:,}", macs=f"{gate.macs / 1e9:.3f}") in text
    assert texts["arch.units"] in [s.value for s in at.subheader]
    assert MISSING_MARK not in text
    # the whole-network table holds final_bn and no stem BN; the CSV is named after the variant
    layers = at.dataframe[1].value
    assert "final_bn" in list(layers.iloc[:, 0]) and "bn1" not in list(layers.iloc[:, 0])
    assert len(layers) == len(rows)
    assert (query_param(at, "unit"), query_param(at, "shortcut")) == ("full_preact", "exclusive_gate")


def test_changing_the_unit_moves_bn_and_keeps_the_counts():
    at = run("pages/architecture.py", lang="en", depth="18")
    before = metrics(at)["Parameters (trainable)"]
    at.selectbox(key="arch.unit").set_value("bn_after_add").run()
    assert not at.exception
    assert metrics(at)["Parameters (trainable)"] == before  # same components, another order (Fig. 4)
    block = at.dataframe[0].value
    position = dict(zip(block.iloc[:, 0], block["where"]))
    assert position["bn2"] == catalog("en")["position.after_add"]
    assert query_param(at, "unit") == "bn_after_add"
    at.selectbox(key="arch.shortcut").set_value("conv1x1").run()
    rows, _ = plan_table.network_rows(18, 10, 224, unit="bn_after_add", shortcut="conv1x1")
    assert metrics(at)["Parameters (trainable)"] == f"{plan_table.totals(rows).params:,}" != before
    assert query_param(at, "shortcut") == "conv1x1"


@pytest.mark.parametrize("params", [{"unit": "preact"}, {"shortcut": "2x"}])
def test_out_of_range_variant_falls_back_with_a_notice(params):
    at = run("pages/architecture.py", lang="en", **params)
    name, value = next(iter(params.items()))
    assert any(f"{name}={value}" in w.value for w in at.warning), [w.value for w in at.warning]
    assert metrics(at)["Parameters (trainable)"] == "25,557,032"


@pytest.mark.parametrize("lang", LANGS)
def test_a_plain_net_with_a_unit_gets_the_translated_refusal(lang):
    at = run("pages/architecture.py", lang=lang, unit="full_preact", shortcut="none")
    texts = catalog(lang)
    assert [e.value for e in at.error] == [texts["variant.bad.plain_unit"].format(unit="full_preact", shortcut="none")]
    assert not at.metric  # nothing counted for a net the model refuses to build


def test_the_page_loads_no_paddle():
    """Its table, diagrams and counts come from the block plan, its forward-pass check and the
    course note from the inference service (spawned: a process of its own), so the server that
    shows it never imports Paddle until the lesson's map or the source code is opened."""
    checks = "assert {m.value for m in at.metric} >= {'✓'} and len(at.get('plotly_chart')) == 3\n"
    assert paddle_modules_after("pages/architecture.py", {"lang": "zh", "unit": "relu_preact", "shortcut": "shortcut_gate",
                                                          "depth": "18"}, checks, timeout=240) == []
