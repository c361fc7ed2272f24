"""End to end: the lesson walked through the sidebar, forward and back; each page keeps its own settings.

Issue 9: the pages once shared session keys for ``?depth=``, ``?batch=``, ``?size=``,
``?width=`` and ``?lam=`` while each has its own ranges, so walking the sidebar carried
Architecture's ResNet into Feature maps, zeroed the lab's custom-run form (Train refused
"Batch size must be between 2 and 1024 (got 0)") and turned the home page's λ = 0.5
into the lab's. Every page now owns ``"<page>.<name>"`` keys (pages/common/ui.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

HEADINGS = {
    "Why residuals": "Why residuals?",
    "Architecture": "Architecture: ResNet built live",
    "Feature maps": "Feature maps: what every block adds",
    "Compute cost": "Compute cost: what ResNet-50 really costs",
    "Training lab": "Training lab: shortcut on, off, or ×λ",
}


def settled(page: Page) -> None:
    """The script run is over (Streamlit marks its root element)."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_be_attached()


def go(page: Page, menu: str) -> None:
    """Click the sidebar's menu link, as a learner does, and wait for the page to be drawn."""
    page.get_by_test_id("stSidebar").get_by_role("link", name=menu).click()
    expect(page.get_by_role("heading", name=HEADINGS[menu])).to_be_visible()
    settled(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def selectbox(page: Page, label: str):
    return page.get_by_role("combobox", name=label, exact=True)


def choose(page: Page, label: str, option: str) -> None:
    selectbox(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()


def number(page: Page, label: str):
    """A number input by its label (the first: Compute cost has a second "Batch size" to measure with)."""
    return page.get_by_label(label, exact=True).first


def type_number(page: Page, label: str, value: int) -> None:
    field = number(page, label)
    field.fill(str(value))
    field.press("Enter")


def expect_metric(page: Page, value: str) -> None:
    expect(page.get_by_test_id("stMetricValue").filter(has_text=re.compile(rf"^{re.escape(value)}$"))).to_be_visible()


def expect_why(page: Page, lam: str, power: str) -> None:
    """The λ slider and the λ^L it gives after 54 blocks (the default L)."""
    expect(page.get_by_role("slider", name="Shortcut scale λ")).to_have_value(lam)
    expect_metric(page, power)


def expect_architecture(page: Page, depth: int, batch: int, params: str, macs_batch: str) -> None:
    expect(selectbox(page, "Depth")).to_have_value(f"ResNet-{depth}")
    expect(number(page, "Batch size")).to_have_value(str(batch))
    expect(number(page, "Input size (pixels)")).to_have_value("224")
    expect_metric(page, params)
    expect_metric(page, macs_batch)


def expect_cost(page: Page, depth: int, batch: int, size: int, params: str, macs_image: str) -> None:
    expect(selectbox(page, "Depth")).to_have_value(f"ResNet-{depth}")
    expect(number(page, "Batch size")).to_have_value(str(batch))
    expect(number(page, "Input size (pixels)")).to_have_value(str(size))
    expect_metric(page, params)
    expect_metric(page, macs_image)


def expect_feature_maps_defaults(page: Page) -> None:
    expect(selectbox(page, "Weights")).to_have_value("Trained on digits")
    expect(selectbox(page, "File")).to_have_value("ResNet-56")  # not Architecture's depth
    expect(selectbox(page, "Image")).to_have_value("Handwritten digit 3 (test set)")
    expect(page.get_by_text("layer1.1: input x 16×16×16")).to_be_visible()  # its default block, of the digits ResNet-56


def test_walking_the_lesson_forward_and_back_keeps_each_pages_settings(server, page):
    page.goto(f"{server}/?lang=en")
    expect(page.get_by_role("heading", name=HEADINGS["Why residuals"])).to_be_visible()
    settled(page)
    expect_why(page, "2", "1.8e+16")  # 2^54
    thumb = page.get_by_role("slider", name="Shortcut scale λ")
    thumb.focus()
    for _ in range(30):  # 2.0 → 0.5 in steps of 0.05, by keyboard as a learner may
        thumb.press("ArrowLeft")
    expect_why(page, "0.5", "5.55e-17")  # 0.5^54
    settled(page)

    # -- forward, through the sidebar ------------------------------------------------------
    go(page, "Architecture")
    expect_architecture(page, 50, 10, "25,557,032", "40.9 G")  # its defaults, whatever λ is
    choose(page, "Depth", "ResNet-34")
    expect_metric(page, "21,797,672")
    settled(page)
    type_number(page, "Batch size", 4)
    expect_architecture(page, 34, 4, "21,797,672", "14.7 G")
    settled(page)

    go(page, "Feature maps")
    expect_feature_maps_defaults(page)  # not Architecture's ResNet-34

    go(page, "Compute cost")
    expect_cost(page, 50, 10, 224, "25,557,032", "4.09 G")  # not Architecture's ResNet-34, batch 4
    choose(page, "Depth", "ResNet-101")
    expect_metric(page, "44,549,160")
    settled(page)
    type_number(page, "Batch size", 2)
    expect(number(page, "Batch size")).to_have_value("2")
    settled(page)
    type_number(page, "Input size (pixels)", 160)
    expect_cost(page, 101, 2, 160, "44,549,160", "3.98 G")
    settled(page)

    go(page, "Training lab")
    page.locator("summary").filter(has_text="Your own run").click()
    expect(number(page, "Width")).to_have_value("16")  # the form's defaults, none of the other pages' values
    expect(number(page, "Batch size")).to_have_value("64")
    expect(number(page, "Image size (px)")).to_have_value("8")
    expect(number(page, "λ (shortcut scale)")).to_have_value("2")
    page.get_by_role("button", name=re.compile(r"^\W*Train$")).click()
    answer = page.get_by_text(re.compile(r"Queued as run #\d+|has exactly these settings already"))
    expect(answer).to_be_visible()
    expect(page.get_by_text("Nothing was queued")).to_have_count(0)
    settled(page)
    if queued := re.search(r"Queued as run #(\d+)", answer.inner_text()):  # 300 steps: not worth the CPU here
        cancel = page.locator(f".st-key-cancel_{queued.group(1)}")
        cancel.get_by_role("button").click()  # a learner's click: the button stays put while the queue redraws
        expect(cancel).to_have_count(0)
        settled(page)

    # -- and back, through the sidebar: each page as it was left ---------------------------
    go(page, "Compute cost")
    expect_cost(page, 101, 2, 160, "44,549,160", "3.98 G")
    go(page, "Feature maps")
    expect_feature_maps_defaults(page)
    go(page, "Architecture")
    expect_architecture(page, 34, 4, "21,797,672", "14.7 G")
    go(page, "Why residuals")
    expect_why(page, "0.5", "5.55e-17")
