"""End to end: the real server, driven in Debian's headless Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_deep_link_shows_the_translated_menu_and_navigates(server, page):
    """First test on the fresh server: a deep link must not get Streamlit's file-name menu."""
    page.goto(f"{server}/cost?lang=zh")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link", name="网络结构")).to_be_visible()
    expect(sidebar.get_by_role("link", name="ui")).to_have_count(0)
    expect(sidebar.get_by_role("link", name="app")).to_have_count(0)
    sidebar.get_by_role("link", name="网络结构").click()
    expect(page.get_by_role("heading", name="网络结构：现场搭建的 ResNet")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/architecture\?.*lang=zh"))


def test_architecture_page_builds_resnet50_with_diagram_and_table(server, page):
    page.goto(f"{server}/architecture?lang=en")
    expect(page.get_by_role("heading", name="Architecture: ResNet built live")).to_be_visible()
    expect(page.get_by_text("25,557,032")).to_be_visible()
    expect(page.get_by_text("4.09 G")).to_be_visible()
    # the network diagram: stem + 16 blocks + head as clickable markers
    diagram = page.locator(".js-plotly-plot").first
    expect(diagram.locator("path.point")).to_have_count(18)
    # the per-layer table and its CSV download
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(2)
    expect(page.get_by_test_id("stDownloadButton")).to_contain_text("Download as CSV")
    # the forward-pass cross-check passed
    check = page.get_by_test_id("stMetric").filter(has_text="Forward-pass check")
    expect(check.get_by_test_id("stMetricValue")).to_have_text("✓")


def test_clicking_a_block_in_the_diagram_selects_it(server, page):
    page.goto(f"{server}/architecture?lang=en")
    points = page.locator(".js-plotly-plot").first.locator("path.point")
    expect(points).to_have_count(18)
    points.nth(5).click(force=True)  # stem, 1.0, 1.1, 1.2, 2.0, → 2.1
    expect(page.get_by_text("layer2.1: input [10, 512, 28, 28]")).to_be_visible()
    expect(page).to_have_url(re.compile(r"block=layer2\.1"))


def test_language_switch_and_shared_link(server, page):
    page.goto(f"{server}/architecture?lang=en&depth=101&block=layer3.20")
    expect(page.get_by_text("44,549,160")).to_be_visible()
    expect(page.get_by_text("layer3.20: input")).to_be_visible()
    page.get_by_text("中文").click()
    expect(page.get_by_role("heading", name="网络结构：现场搭建的 ResNet")).to_be_visible()
    expect(page.get_by_text("Parameters (trainable)")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"(?=.*lang=zh)(?=.*depth=101)"))


def test_bad_url_value_shows_notice_not_traceback(server, page):
    page.goto(f"{server}/architecture?lang=en&depth=9999")
    expect(page.get_by_text("depth=9999 is out of range")).to_be_visible()
    expect(page.get_by_text("25,557,032")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_lesson_opens_on_why_residuals_and_links_into_architecture(server, page):
    page.goto(f"{server}/?lang=en&lam=2&L=54")
    expect(page.get_by_role("heading", name="Why residuals?")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").filter(has_text="1.8e+16")).to_be_visible()  # 2^54, from the URL's λ and L
    page.get_by_role("link", name="See a real bottleneck block of ResNet-50 (layer1.1)").click()
    expect(page.get_by_text("layer1.1: input [10, 256, 56, 56]")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/architecture\?.*block=layer1\.1"))


def test_link_copied_from_the_lab_opens_the_same_view_in_a_fresh_browser(server, page, browser):
    page.goto(f"{server}/lab?lang=en&preset=why_not_2x&smooth=0.3")
    expect(page.get_by_text("Why not y = F(x) + 2x?")).to_be_visible()
    page.get_by_test_id("stSidebar").get_by_text("Share this view").click()
    code = page.get_by_test_id("stSidebar").get_by_test_id("stCode")
    expect(code).to_contain_text("preset=why_not_2x")
    link = code.inner_text().strip()
    assert link.startswith(server) and "smooth=0.3" in link
    fresh = browser.new_context(locale="zh-CN")  # nothing shared with the first browser
    try:
        other = fresh.new_page()
        other.goto(link)
        expect(other.get_by_text("Why not y = F(x) + 2x?")).to_be_visible()  # lang=en from the link
        expect(other).to_have_url(re.compile(r"(?=.*preset=why_not_2x)(?=.*smooth=0\.3)"))
    finally:
        fresh.close()


def test_classroom_link_opens_the_presenter_view(server, page):
    page.goto(f"{server}/?lang=zh&classroom=1&step=3&lam=2&L=54")
    expect(page.get_by_role("heading", name="3 · 问题 1：为什么不用 y = F(x) + 2x？")).to_be_visible()
    expect(page.get_by_role("heading", name="1 · 退化问题：更深不一定更好")).to_have_count(0)
    expect(page.get_by_test_id("stMetricValue").filter(has_text="1.8e+16")).to_be_visible()
    page.get_by_text("5 · 瓶颈结构").click()
    expect(page.get_by_role("heading", name="5 · 问题 3：为什么用瓶颈结构？")).to_be_visible()
    expect(page).to_have_url(re.compile(r"step=5"))


def test_default_language_follows_the_browser(server, browser):
    context = browser.new_context(locale="zh-CN")
    try:
        pg = context.new_page()
        pg.goto(server)
        expect(pg.get_by_role("heading", name="为什么要残差？")).to_be_visible()
    finally:
        context.close()


# Text cut short: a metric or link ending in "…" (a clipping box narrower than its text), a
# figure's text outside the figure ("tage 1") or outside its own box; boxes running into each other.
CUT_TEXT = """() => [...document.querySelectorAll(
    '[data-testid=stMetricValue] *, [data-testid=stMetricLabel] *, [data-testid=stMain] [data-testid=stPageLink-NavLink] *')]
    .filter(e => getComputedStyle(e).overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
TEXT_OUT_OF_BOX = """() => [...document.querySelectorAll('.js-plotly-plot .annotation')].filter(a => {
    const bg = a.querySelector('rect.bg'), text = a.querySelector('text');
    if (!bg || !text || !bg.getBoundingClientRect().width) return false;
    const r = bg.getBoundingClientRect(), t = text.getBoundingClientRect();
    return t.left < r.left - 1 || t.right > r.right + 1 || t.top < r.top - 1 || t.bottom > r.bottom + 1; })
    .map(a => a.textContent)"""
OUTSIDE_FIGURE = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
    const box = plot.getBoundingClientRect();
    return [...plot.querySelectorAll('.ytick text, .xtick text, .legendtext, .annotation-text, .textpoint text')]
      .filter(t => { const r = t.getBoundingClientRect(); return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1); })
      .map(t => t.textContent); })"""
OVERLAPPING_BOXES = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
    const boxes = [...plot.querySelectorAll('.annotation rect.bg')].map(r => r.getBoundingClientRect()).filter(r => r.width > 0);
    return boxes.flatMap((a, i) => boxes.slice(i + 1).filter(b =>
      a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1).map(() => 1)); })"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_classroom_mode_at_projector_size_cuts_no_text(server, browser, lang):
    """Issue 15: at 1280×720 in classroom mode the Architecture page's metrics read in full
    ("25,557,032", not "25,55…"), stage labels are whole ("stage 1", not "tage 1"), every
    block-diagram text stays in its box and no two boxes collide, at ResNet-50 and ResNet-152."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    try:
        pg = context.new_page()
        for depth, params in ((50, "25,557,032"), (152, "60,192,808")):
            pg.goto(f"{server}/architecture?lang={lang}&classroom=1&depth={depth}&block=layer3.1")
            expect(pg.get_by_test_id("stMetricValue").filter(has_text=params)).to_be_visible()
            for i in range(2):  # Plotly draws a chart once it is scrolled into view
                pg.get_by_test_id("stPlotlyChart").nth(i).scroll_into_view_if_needed()
            # the block diagram's boxes (the five units side by side are drawn below it): x, 3 convs, ⊕, ReLU, shortcut
            expect(pg.locator(".st-key-block_diagram .js-plotly-plot .annotation rect.bg")).to_have_count(7)
            expect(pg.locator(".js-plotly-plot .ytick text").first).to_be_visible()
            assert pg.evaluate(CUT_TEXT) == []
            assert pg.evaluate(OUTSIDE_FIGURE) == []
            assert pg.evaluate(TEXT_OUT_OF_BOX) == []
            assert pg.evaluate(OVERLAPPING_BOXES) == []
    finally:
        context.close()
