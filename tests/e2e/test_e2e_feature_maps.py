"""End to end: the Feature maps page on the real server, in Debian's headless Chromium.

It opens on the shipped digits ResNet-56; the ResNet-50 views ask for ``weights=random``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from resnet.lab.stored_lesions import stored_lesion_studies

pytestmark = pytest.mark.e2e

HEADING = "Feature maps: what every block adds"


def plots(page):
    return page.locator(".js-plotly-plot")


def expect_maps(page, plots_drawn: int = 4, blocks: int = 16) -> None:
    """Overview, channel grid, x / F(x) / shortcut / out panel and ratio chart (and more), all drawn."""
    expect(plots(page)).to_have_count(plots_drawn)
    expect(plots(page).nth(0).locator("path.point")).to_have_count(blocks + 1)  # the stem too
    for i in (1, 2):  # the grid and the 4-panel figure are heatmaps, drawn as images
        expect(plots(page).nth(i).locator(".hm image").first).to_be_attached()
    expect(plots(page).nth(2).locator(".hm image")).to_have_count(4)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)  # the script run is over


def choose(page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_choosing_the_cat_shows_its_maps(server, page):
    page.goto(f"{server}/feature_maps?lang=en&weights=random&image=coffee")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    expect(page.get_by_text("Photo: Rachel Michetti.")).to_be_visible()
    expect_maps(page)
    choose(page, "Image", "Chelsea the cat")
    expect(page.get_by_text("Photo: Stefan van der Walt.")).to_be_visible()
    expect(page.get_by_text("Decoded a JPEG of 451×300 px (mode RGB).")).to_be_visible()
    expect(page).to_have_url(re.compile(r"image=cat"))
    expect_maps(page)


def test_clicking_a_block_and_a_channel_tile_selects_them(server, page):
    page.goto(f"{server}/feature_maps?lang=en&weights=random&image=cat")
    expect_maps(page)
    plots(page).nth(0).locator("path.point").nth(4).click(force=True)  # stem, 1.0, 1.1, 1.2 → 2.0
    expect(page.get_by_text("layer2.0: input x 256×56×56 → output 512×28×28")).to_be_visible()
    expect(page).to_have_url(re.compile(r"block=layer2\.0"))
    expect_maps(page)
    tiles = plots(page).nth(1)
    third = tiles.locator(".annotation-text").nth(2).text_content()  # tiles are labelled strongest first
    tiles.locator("path.point").nth(2).click(force=True)
    expect(page.get_by_role("heading", name=f"Channel {third} of layer2.0: x, F(x), shortcut, output")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"ch={third}(&|$)"))


def test_upload_a_png_then_a_non_image_then_recover(server, page, tmp_path):
    rng = np.random.default_rng(3)
    picture = tmp_path / "my photo.png"
    Image.fromarray(rng.integers(0, 256, (200, 300, 4), dtype=np.uint8), "RGBA").save(picture)
    notes = tmp_path / "notes.png"
    notes.write_text("this is not an image\n" * 20)

    page.goto(f"{server}/feature_maps?lang=en&weights=random&image=upload&block=layer2.0&k=8")  # settings besides the image
    expect(page.get_by_text("cannot be part of the page's link")).to_be_visible()
    dropzone = page.get_by_test_id("stFileUploaderDropzoneInput")
    dropzone.set_input_files(str(picture))
    expect(page.get_by_text("Decoded a PNG of 300×200 px (mode RGBA).")).to_be_visible()
    expect(page.get_by_text("Transparency composited on white.")).to_be_visible()
    expect_maps(page)

    dropzone.set_input_files(str(notes))
    expect(page.get_by_text("notes.png cannot be used: This file is not an image in a supported format")).to_be_visible()
    expect(plots(page)).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)

    # the server still serves: the same session uploads a photo again, then picks a sample
    dropzone.set_input_files(str(picture))
    expect(page.get_by_text("Decoded a PNG of 300×200 px (mode RGBA).")).to_be_visible()
    expect_maps(page)
    choose(page, "Image", "Retina (fundus photo)")
    expect(page.get_by_text("Mikael Häggström")).to_be_visible()
    expect_maps(page)
    # the link's settings survived the runs that ended at the upload box and at the refusal
    expect(page).to_have_url(re.compile(r"(?=.*block=layer2\.0)(?=.*k=8)"))
    expect(plots(page).nth(1).locator(".annotation-text")).to_have_count(8)
    # once the rerun is over: while it runs, the last run's copy of the line may still show
    block_info = page.get_by_text("layer2.0: input x 256×56×56")
    expect(block_info).to_have_count(1)
    expect(block_info).to_be_visible()


def test_chinese_page_and_an_ablation_from_the_link(server, page):
    page.goto(f"{server}/feature_maps?lang=zh&weights=random&image=cat&ablate=drop&drop=layer3.2")
    expect(page.get_by_role("heading", name="特征图：每个残差块加了什么")).to_be_visible()
    expect(page.get_by_text("第一个发生变化的块")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").filter(has_text="layer3.2")).to_be_visible()
    expect(plots(page)).to_have_count(7)  # + change per block, ratio with the ablation, the ablated panel
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_the_page_opens_on_the_trained_digits_net_with_the_lesion_study(server, page):
    page.goto(f"{server}/feature_maps?lang=en")
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    expect(page.get_by_text("Model: ResNet-56, 10 classes")).to_be_visible()
    expect(page.get_by_role("combobox", name="Image", exact=True)).to_have_value("Handwritten digit 3 (test set)")
    # + the ten digit classes and where the net looked, and the two charts of the lesion study
    expect_maps(page, plots_drawn=8, blocks=27)
    expect(page.get_by_role("heading", name="Veit et al. reproduced: delete blocks from a trained net")).to_be_visible()
    single = plots(page).nth(6)
    expect(single.locator(".gtitle")).to_have_text("Test accuracy after deleting one block")
    expect(single.locator("g.point")).to_have_count(27 + 9)  # a bar per block of ResNet-56 and of plain-20
    expect(plots(page).nth(4).locator(".ytick")).to_have_count(10)  # every digit class labelled
    expect(page.get_by_role("button", name="Recompute live")).to_be_visible()
    expect(page.get_by_text("untrained")).to_have_count(0)


def test_the_why_pages_link_drops_a_block_the_trained_net_does_not_miss(server, page):
    block = stored_lesion_studies()["resnet56_digits16"].harmless().name  # the Why page's choice (within noise)
    page.goto(f"{server}/?lang=en")
    expect(page.get_by_role("heading", name="Why residuals?")).to_be_visible()
    link = page.get_by_role("link", name=re.compile(rf"Delete {block} from .*within noise \(±"))
    expect(link).to_be_visible(timeout=240_000)  # below the sections that measure a net at initialisation
    link.click()
    expect(page.get_by_role("heading", name=HEADING)).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").filter(has_text=block)).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Top-1 class unchanged?")).to_contain_text("yes")
    expect(page).to_have_url(re.compile(rf"(?=.*weights=shipped)(?=.*drop={re.escape(block)})"))
    expect(page.get_by_test_id("stException")).to_have_count(0)
