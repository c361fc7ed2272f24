"""AppTest on the app and on every page file on its own, in both languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import open_page as run, query_param
from resnet.i18n import LANGS, MISSING, catalog

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(str(p.relative_to(REPO)) for p in (REPO / "pages").glob("*.py"))  # what Streamlit lists as pages
MISSING_MARK = MISSING.format("")[0]
# each script's title key; app.py opens on the first page of the lesson
TITLE_KEYS = {
    "app.py": "why.title",
    "pages/architecture.py": "arch.title",
    "pages/feature_maps.py": "fm.title",
    "pages/cost.py": "cost.title",
    "pages/lab.py": "lab.title",
}


def rendered_text(at: AppTest) -> str:
    """Every proto the script sent (labels, markdown, metrics, tables' headers…) as text."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def test_page_list_is_what_the_app_navigates():
    app = (REPO / "pages" / "common" / "ui.py").read_text()
    assert PAGES, "no page files found"
    for page in PAGES:
        assert f'"{page}"' in app, f"{page} is not in the navigation (pages/common/ui.py PAGES)"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("script", ["app.py", *PAGES])
def test_every_page_renders_in_both_languages(script, lang):
    at = run(script, lang=lang)
    text = rendered_text(at)
    assert MISSING_MARK not in text, f"missing catalog key on {script} in {lang}"
    texts = catalog(lang)
    assert at.title[0].value == texts[TITLE_KEYS[script]]


def test_catalogs_have_identical_keys():
    en, zh = catalog("en"), catalog("zh")
    assert set(en) == set(zh)
    for lang in LANGS:  # file by file too, so a page's texts live in the same file in both
        files = {p.name: set(json.loads(p.read_text(encoding="utf-8"))) for p in (REPO / "assets" / "i18n" / lang).glob("*.json")}
        assert files == {p.name: set(json.loads(p.read_text(encoding="utf-8"))) for p in (REPO / "assets" / "i18n" / "en").glob("*.json")}
    assert all(isinstance(v, str) and v.strip() for v in (*en.values(), *zh.values()))


def test_architecture_shows_resnet50_course_numbers():
    at = run("pages/architecture.py", lang="en")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters (trainable)"] == "25,557,032"
    assert metrics["MACs per image"] == "4.09 G"
    assert metrics["MACs per batch of 10"] == "40.9 G"
    assert metrics["Residual blocks"] == "16"
    assert metrics["Forward-pass check"] == "✓"
    assert query_param(at, "depth") == "50"


@pytest.mark.parametrize("depth", ["18", "152"])
def test_the_course_note_speaks_of_resnet50_whatever_the_depth(depth):
    """The course's slips are about its ResNet-50 (16 blocks, 48 convs in blocks, its 1046亿
    = 104.6 G vs 40.9 G per batch of 10), computed by cost.course_estimate, not the shown net."""
    from resnet.inference import cost

    est = cost.course_estimate()
    at = run("pages/architecture.py", lang="en", depth=depth)
    note = next(m.value for m in at.markdown if m.value.startswith("- The course says 15"))
    assert f"ResNet-50 has **{est['residual_blocks']}** (3 + 4 + 6 + 3)" in note and "**16**" in note
    assert f"**{est['convs_in_blocks']}** conv layers" in note and "**48**" in note
    assert f"**{est['course_total_rounded'] / 1e9:.1f} G**" in note and "**104.6 G**" in note
    assert f"**{est['true_total'] / 1e9:.1f} G** MACs" in note and "**40.9 G**" in note
    assert f"gives {est['course_total'] / 1e9:.1f} G" in note and "104.8 G" in note
    assert "H(x) is the mapping" in note  # not "the deeper net" (He et al. 2015, Sec. 3.1)


def test_a_projection_block_shows_what_its_shortcut_costs():
    """He et al. 2015, Sec. 3.3 (option B): a 1×1 conv + BN, not free. layer2.0 of ResNet-50:
    256·512 weights + 2·512 BN, 256·512·28² MACs per image."""
    at = run("pages/architecture.py", lang="en", block="layer2.0")
    info = " ".join(m.value for m in at.markdown)
    assert f"**{256 * 512 + 2 * 512:,}** of this block's parameters" in info
    assert f"**{10 * 256 * 512 * 28 * 28 / 1e9:.3f} G** MACs for this batch" in info


def test_switching_depth_rebuilds_the_model():
    at = run("pages/architecture.py", lang="en")
    at.selectbox(key="arch.depth").set_value(152).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters (trainable)"] == "60,192,808"
    assert metrics["Residual blocks"] == "50"
    assert query_param(at, "depth") == "152"


def test_language_switch_changes_the_page():
    at = run("pages/architecture.py", lang="en")
    assert at.title[0].value.startswith("Architecture")
    at.radio(key="_lang_choice").set_value("zh").run()
    assert at.title[0].value.startswith("网络结构")
    assert MISSING_MARK not in rendered_text(at)
    assert "Parameters (trainable)" not in [m.label for m in at.metric]


def test_selecting_a_block_shows_its_convs_and_projection():
    at = run("pages/architecture.py", lang="en")
    at.selectbox(key="arch.block").set_value("layer2.0").run()
    info = " ".join(m.value for m in at.markdown)
    assert "layer2.0" in info and "[10, 256, 56, 56]" in info and "[10, 512, 28, 28]" in info
    assert "projection" in info
    table = at.dataframe[0].value
    kernels = list(table.iloc[:, 2])
    assert "[128, 128, 3, 3]" in kernels and "[512, 256, 1, 1]" in kernels
    assert query_param(at, "block") == "layer2.0"


@pytest.mark.parametrize("params", [
    {"depth": "7"}, {"depth": "abc"}, {"size": "99999"}, {"batch": "-3"}, {"block": "layer9.9"}, {"lang": "fr"},
])
def test_out_of_range_url_values_fall_back_with_a_notice(params):
    at = run("pages/architecture.py", **params)
    name, value = next(iter(params.items()))
    assert any(f"{name}={value}" in w.value for w in at.warning), [w.value for w in at.warning]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters (trainable)"] == "25,557,032"  # defaults: ResNet-50, English


def test_url_opens_the_shared_view():
    at = run("pages/architecture.py", lang="zh", depth="101", batch="4", size="128", block="layer3.20")
    assert not at.warning
    assert at.selectbox(key="arch.depth").value == 101
    assert at.selectbox(key="arch.block").value == "layer3.20"
    assert at.number_input(key="arch.batch").value == 4
    assert at.title[0].value.startswith("网络结构")


def test_table_filter_and_csv():
    at = run("pages/architecture.py", lang="en")
    full = len(at.dataframe[1].value)
    at.multiselect(key="filter_kind").set_value(["conv"]).run()
    convs = at.dataframe[1].value
    assert len(convs) == 53 < full  # 1 stem + 16·3 + 4 projections
    at.text_input(key="filter_name").input("downsample").run()
    assert len(at.dataframe[1].value) == 4


def test_classroom_mode_shows_one_idea_per_screen():
    at = run("app.py", lang="en", classroom="1", step="3", lam="0.5")
    assert [h.value for h in at.header] == [catalog("en")["why.q1"]]
    assert at.slider(key="why.lam").value == 0.5
    assert at.toggle(key="_classroom_choice").value is True
    assert query_param(at, "classroom") == "1" and query_param(at, "lam") == "0.5"
    at.toggle(key="_classroom_choice").set_value(False).run()
    assert len(at.header) == 6 and "classroom" not in at.query_params


def test_classroom_mode_hides_advanced_controls():
    normal = run("pages/architecture.py", lang="en")
    presenter = run("pages/architecture.py", lang="en", classroom="1")
    assert len(normal.dataframe) == 2 and len(presenter.dataframe) == 1  # the full layer table
    assert {m.label: m.value for m in presenter.metric} == {m.label: m.value for m in normal.metric}


def test_bad_classroom_or_step_value_gets_a_notice():
    at = run("app.py", lang="en", classroom="yes")
    assert any("classroom=yes" in w.value for w in at.warning)
    at = run("app.py", lang="en", classroom="1", step="9")
    assert any("step=9" in w.value for w in at.warning)
    assert [h.value for h in at.header] == [catalog("en")["why.degradation"]]


@pytest.mark.parametrize("script", ["app.py", *PAGES])
def test_share_box_holds_the_link_with_the_settings(script):
    at = run(script, lang="zh")
    assert not at.sidebar.code  # drawn once opened: a code box loads the browser's syntax highlighter
    at.session_state["_share_open"] = True  # the share box opened
    at.run()
    links = [c.value for c in at.sidebar.code]
    assert len(links) == 1 and "lang=zh" in links[0]
    if script == "pages/architecture.py":
        assert "depth=50" in links[0] and "block=layer1.0" in links[0]


def go(at: AppTest, script: str) -> AppTest:
    """Open another page as the sidebar's menu does: its link carries the language only.

    (AppTest's ``switch_page`` keeps the URL of the page before, which a browser does not.)
    """
    lang = query_param(at, "lang")
    at.query_params.clear()
    at.query_params["lang"] = lang
    at.switch_page(script).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_each_page_keeps_its_own_settings_through_the_menu():
    """Issue 9: one page's ?depth=, ?batch=, ?size=, ?lam= never reach another; each page
    finds its settings as it left them. (tests/e2e/test_e2e_lesson_order.py walks it in Chromium.)"""
    at = run("app.py", lang="en")
    at.slider(key="why.lam").set_value(0.5).run()
    go(at, "pages/architecture.py")
    assert (at.selectbox(key="arch.depth").value, at.number_input(key="arch.batch").value) == (50, 10)
    at.selectbox(key="arch.depth").set_value(34).run()
    at.number_input(key="arch.batch").set_value(4).run()
    go(at, "pages/cost.py")
    assert (at.selectbox(key="cost.depth").value, at.number_input(key="cost.batch").value) == (50, 10)
    assert {m.label: m.value for m in at.metric}["Parameters (trainable)"] == "25,557,032"
    at.number_input(key="cost.size").set_value(160).run()
    go(at, "pages/architecture.py")
    assert (at.selectbox(key="arch.depth").value, at.number_input(key="arch.batch").value) == (34, 4)
    assert at.number_input(key="arch.size").value == 224
    assert {m.label: m.value for m in at.metric}["Parameters (trainable)"] == "21,797,672"
    assert (query_param(at, "depth"), query_param(at, "batch")) == ("34", "4")  # and the link says so
    go(at, "pages/cost.py")
    assert at.number_input(key="cost.size").value == 160
    go(at, "app.py")
    assert at.slider(key="why.lam").value == 0.5 and query_param(at, "lam") == "0.5"


def test_a_link_with_settings_wins_over_the_kept_ones():
    at = go(run("app.py", lang="en"), "pages/architecture.py")
    at.selectbox(key="arch.depth").set_value(34).run()
    go(at, "app.py")
    at.query_params["depth"] = "101"  # as the home page's links to Architecture carry settings
    at.switch_page("pages/architecture.py").run()
    assert at.selectbox(key="arch.depth").value == 101

