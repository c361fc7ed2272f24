"""AppTest of the Compute cost page: course numbers, URL handling, measured latency."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.helpers import open_page


def run(**params: str) -> AppTest:
    return open_page("pages/cost.py", **params)


def test_resnet50_costs_and_the_course_estimate():
    at = run(lang="en")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters (trainable)"] == "25,557,032"
    assert metrics["MACs per image"] == "4.09 G"
    assert metrics["FLOPs per image"] == "8.18 G"
    assert metrics["One 56×56 block (layer1.1), batch 10"] == "2.18 G"
    assert metrics["The course: × 48"] == "104.82 G"
    assert metrics["The truth, summed layer by layer"] == "40.89 G"
    table = at.dataframe[1].value  # ResNet vs VGG
    vgg16 = table[table.iloc[:, 0] == "VGG-16"].iloc[0]
    assert vgg16.iloc[1] == 138_357_544
    assert abs(vgg16.iloc[2] - 15.47) < 0.01


def test_the_course_section_stays_at_the_courses_setting_and_compares_vgg_right():
    """The course's estimate is for ResNet-50, batch 10, 224×224, whatever the page's size;
    its 2092亿 vs 3069亿 (1.47×) against ours: 818亿 FLOPs, VGG-16 3.78× as costly."""
    from resnet.inference import cost

    vgg = cost.course_vs_vgg()
    at = run(lang="en", size="160")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["The course: × 48"] == "104.82 G" and metrics["The truth, summed layer by layer"] == "40.89 G"
    text = " ".join(m.value for m in at.markdown)
    assert f"only {vgg['course_ratio']:.2f}× as costly" in text and "1.47×" in text
    assert f"{vgg['resnet_flops'] / 1e9:,.2f} G FLOPs (818亿" in text
    assert f"**{vgg['ratio']:.2f}×**" in text and "**3.78×**" in text
    assert "The course prints 1046亿 = 104.64 G" in text and "2.56 times too large" in text


def test_vgg_reading_splits_the_cost_at_resnets_first_block():
    """ResNet's stem brings 224 to 56 before any block; VGG-16 spends 4.71 G above that."""
    from resnet.inference import cost

    split = cost.cost_by_resolution(224)
    text = " ".join(m.value for m in run(lang="en").markdown)
    assert f"down to {split['side']}×{split['side']} before its first block, for {split['ResNet-50']['above'] / 1e9:,.2f} G" in text
    assert f"VGG-16 spends {split['VGG-16']['above'] / 1e9:,.2f} G" in text and "4.71 G" in text
    assert f"costs {split['VGG-16']['total'] / split['ResNet-50']['total']:.2f}× as much as ResNet-50" in text


def test_out_of_range_settings_fall_back_with_a_notice():
    at = run(lang="en", size="4096", batch="0", width="7")
    warnings = " ".join(w.value for w in at.warning)
    assert "size=4096" in warnings and "batch=0" in warnings and "width=7" in warnings
    assert {m.label: m.value for m in at.metric}["MACs per image"] == "4.09 G"


def test_measuring_shows_both_paths():
    at = run(lang="zh", depth="18", size="64")
    at.number_input(key="measure_repeats").set_value(3).run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    labels = [m.label for m in at.metric]
    assert "动态图前向" in labels and "快速路径前向" in labels and "加速比" in labels
    speedup = next(m.value for m in at.metric if m.label == "加速比")
    assert speedup.endswith("×") and float(speedup[:-1]) > 0


def test_every_chart_has_a_text_summary_with_its_key_numbers():
    """Issue 15: a screen reader (or a student who cannot tell the colours apart) reads each
    chart's one-line summary; its numbers are the chart's own. The stage table has no
    "None" cell (stem and head have no blocks) and shows counts with thousands separators."""
    at = run(lang="en")
    charts, captions = at.get("plotly_chart"), [c.value for c in at.caption]
    assert len(charts) == 8
    summaries = [c for c in captions if c.endswith(".") and ("G" in c or "M" in c or "%" in c or "," in c)]
    assert len(summaries) >= len(charts), captions
    assert "Share of all MACs by kernel size: 1×1 52%; 3×3 45%; 7×7 3%; fc <1%." in captions
    assert any(c.startswith("Parameters: ") and "VGG-16 138 M" in c for c in captions)
    assert any("bottleneck (256→64→256) 70,400" in c for c in captions)  # the Q3 numbers, in full
    stages = at.dataframe[0].value
    assert "–" in set(stages.iloc[:, -1]) and stages.iloc[:, -1].map(type).eq(str).all()
    assert json.loads(at.dataframe[0].proto.columns)["parameters"]["type_config"]["format"] == "localized"
