"""AppTest of the Feature maps page: samples, uploads, weights sources, block/channel, ablation, URL,
and Veit et al.'s lesion study of the trained nets.

The page opens on the shipped, trained digits ResNet-56 (``resnet.lab.shipped``); the
tests of the ResNet-50 views ask for seeded random weights (``run_r50``).

Uploads: Streamlit 1.67's AppTest *does* drive ``st.file_uploader``
(``at.file_uploader(key=...).set_value((name, bytes, mime))`` registers the bytes with the
test's in-memory upload manager and the widget returns a real ``UploadedFile``), so the
upload tests below go through the page's own uploader, its ``type=`` filter, and the same
``resnet.inference.explore.upload_shown`` → ``images.load_image`` path as the browser.
What AppTest skips is the browser side (the file chooser and the HTTP upload);
``tests/e2e/test_e2e_feature_maps.py`` covers that in Chromium.

Nothing is downloaded: the "official weights" test routes HTTP(S) through a closed local
port, so the download's connection fails at once.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from pages.common.ui import md_escape
from tests.helpers import open_page, query_param
from resnet import stats
from resnet.inference import images
from resnet.lab import shipped, tasks
from resnet.model import preprocess, weights
from resnet.i18n import MISSING, catalog
from resnet.model import resnet
from resnet.model.init import init_parameters
from resnet.model.spec import STEMS
from resnet.plots import ablation as ablation_plots

REPO = Path(__file__).resolve().parents[2]
EN, ZH = catalog("en"), catalog("zh")
DIGITS = [f"digit_{c}" for c in range(10)]


def run(at: AppTest | None = None, **params: str) -> AppTest:
    """Open the page with these settings (English by default), or rerun ``at``."""
    if at is None:
        return open_page("pages/feature_maps.py", timeout=300, **{"lang": "en", **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_r50(**params: str) -> AppTest:
    """The page on a ResNet-50 with seeded random weights and ImageNet-sized input (224 px photos)."""
    return run(**{"weights": "random", **params})


def charts(at: AppTest) -> list[dict]:
    """The Plotly figures the page sent, as JSON."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_text(at: AppTest) -> str:
    return "\n".join(c.proto.spec for c in at.get("plotly_chart"))


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [h.value for h in at.subheader]
    parts += [e.value for e in (*at.error, *at.info, *at.warning)]
    return "\n".join(parts)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def photo(size=(300, 200), mode="RGB", seed=1) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    return Image.fromarray(arr.squeeze(-1) if len(mode) == 1 else arr, mode=mode)


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid PNG header and data of `width`×`height` black pixels, built without the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    zipper = zlib.compressobj(6)
    rows = b"\0" * (1 + 3 * width) * 100
    idat = b"".join(zipper.compress(rows) for _ in range(height // 100)) + zipper.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.file_uploader(key="upload_file").set_value((name, data, mime))
    return run(at)


# --- catalogs ------------------------------------------------------------------------------


def test_every_key_the_core_uses_is_in_both_catalogs():
    """Steps, refusals and figure texts come from resnet/; the page translates them all."""
    files = ("inference/images.py", "model/preprocess.py", "model/weights.py", "inference/features.py", "plots/features.py",
             "inference/explore.py", "lab/shipped.py", "plots/ablation.py")
    source = {name: (REPO / "resnet" / name).read_text(encoding="utf-8") for name in files}
    keys = set()
    for text in source.values():
        keys |= set(re.findall(r"[\"'](fm\.[a-z_]+(?:\.[a-z_0-9]+)*)[\"']", text))
    keys |= {f"fm.error.{c}" for c in re.findall(r'ImageError\("([a-z_]+)"', source["inference/images.py"])}
    for name in ("model/weights.py", "inference/explore.py", "lab/shipped.py"):
        keys |= {f"fm.weights_error.{c}" for c in re.findall(r'WeightsError\("([a-z_]+)"', source[name])}
    keys |= {"fm.weights_error.mismatch"}  # WeightsMismatch's code
    keys |= {f"fm.fig.x_{how}" for how in ("same", "projection", "mean")}
    keys |= {f"fm.fig.shortcut_{kind}" for kind in ("identity", "identity_scaled", "projection", "projection_scaled", "off")}
    keys |= {f"fm.sample.{s.name}" for s in images.SAMPLES}
    keys |= {f"fm.panel_how.{how}" for how in ("same", "pad", "padded", "projection", "mean", "plain")}
    keys |= {f"fm.stem_info.{stem}" for stem in STEMS}
    page = (REPO / "pages" / "feature_maps.py").read_text(encoding="utf-8")
    keys |= set(re.findall(r"[\"'](fm\.[a-z_]+(?:\.[a-z_0-9]+)+)[\"']", page))  # the page's own texts
    keys |= {f"fm.drop_test.{outcome}" for outcome in ("hurts", "helps", "within_noise")}  # ablation.deletion_reading
    assert {"fm.veit.untrained", "fm.veit.recompute", "fm.veit.worst.chance", "fm.weights_error.shipped_missing"} <= keys
    assert len(keys) > 60
    assert not keys - set(EN), sorted(keys - set(EN))
    assert not keys - set(ZH), sorted(keys - set(ZH))


# --- samples, blocks, channels ---------------------------------------------------------


@pytest.mark.parametrize("sample", [s.name for s in images.SAMPLES])
def test_every_sample_shows_its_maps(sample):
    at = run_r50(image=sample)
    loaded = images.load_sample(sample)
    shown = texts(at)
    assert f"Decoded a JPEG of {loaded.size[0]}×{loaded.size[1]} px" in shown
    assert "Center crop 224×224" in shown and "[1, 3, 224, 224]" in shown
    assert images.sample(sample).credit in shown
    # overview, top-k grid, the x / F(x) / shortcut / out panel, the ratio chart
    figures = charts(at)
    assert len(figures) == 4
    overview, grid, panel, ratio = figures
    assert overview["data"][1]["customdata"][:2] == ["layer1.0", "layer1.1"] and len(overview["data"][1]["customdata"]) == 16
    assert len(grid["layout"]["annotations"]) == 16  # k = 16 tiles, each labelled with its channel
    assert [a["text"] for a in panel["layout"]["annotations"]][:2] == [f"x (channel {query_param(at, 'ch')})", f"F(x) (channel {query_param(at, 'ch')})"]
    assert ratio["layout"]["xaxis"]["type"] == "category"  # block names like "1.0" are not numbers
    assert query_param(at, "image") == sample and query_param(at, "block") == "layer1.1"
    assert MISSING.format("")[0] not in chart_text(at) + texts(at)


def test_block_and_channel_selection_follow_the_widgets_and_the_url():
    at = run_r50()
    at.selectbox(key="fm.block").set_value("layer2.0")
    run(at)
    assert "**layer2.0:** input x 256×56×56 → output 512×28×28" in texts(at)
    assert "projection" in texts(at)
    grid = charts(at)[1]
    strongest = grid["layout"]["annotations"][0]["text"]  # the grid is ordered strongest first
    assert query_param(at, "block") == "layer2.0" and query_param(at, "ch") == strongest  # a new block opens on its strongest channel
    at.number_input(key="fm.ch").set_value(5)
    run(at)
    assert query_param(at, "ch") == "5"
    assert "Channel 5 of layer2.0: x, F(x), shortcut, output" in [s.value for s in at.subheader]
    panel = charts(at)[2]
    titles = [a["text"] for a in panel["layout"]["annotations"]]
    assert titles[1] == "F(x) (channel 5)" and titles[0].startswith("x (input channel ")  # the projection's input
    assert "shortcut: projection of x" in titles
    at.slider(key="fm.k").set_value(8)
    at.radio(key="fm.scale").set_value("shared")
    run(at)
    assert len(charts(at)[1]["layout"]["annotations"]) == 8
    assert query_param(at, "k") == "8" and query_param(at, "scale") == "shared"


@pytest.mark.slow
def test_deep_nets_keep_the_overview_legible():
    at = run_r50(depth="101", block="layer3.22")
    overview = charts(at)[0]
    blocks = overview["data"][1]
    assert len(blocks["customdata"]) == 33 and blocks["customdata"][-1] == "layer4.2"
    assert all("<br>" not in text for text in blocks["text"])  # 23 blocks in a row: names only…
    assert "stage 3 · 1024×14×14" in overview["layout"]["yaxis"]["ticktext"]  # …and the shapes per row
    assert "**layer3.22:** input x 1024×14×14" in texts(at)


def test_the_stem_shows_its_channels_without_a_panel():
    at = run_r50(block="stem")
    assert "**Stem:** 7×7 conv (stride 2)" in texts(at) and "64×56×56" in texts(at)
    assert len(charts(at)) == 3  # overview, grid, ratio: the stem has no F(x) / shortcut
    assert not any(s.value.startswith("Channel ") for s in at.subheader)
    at = run(block="stem")  # the digits ResNet-56: the CIFAR stem
    assert "**Stem:** 3×3 conv (stride 1) → BN → ReLU, no pooling" in texts(at) and "16×16×16" in texts(at)


def test_channel_out_of_range_for_the_new_block_falls_back_to_its_strongest():
    at = run_r50(block="layer1.1", ch="200")
    assert query_param(at, "ch") == "200"
    at.selectbox(key="fm.block").set_value("stem")  # 64 channels: 200 does not exist there
    run(at)
    assert int(query_param(at, "ch")) < 64


# --- ablation ------------------------------------------------------------------------------


def test_shortcuts_off_changes_every_block():
    at = run_r50(ablate="shortcuts")
    assert metrics(at)["First block that changes"] == "layer1.0"
    assert "every shortcut off" in texts(at)
    change = next(f for f in charts(at) if f["layout"].get("yaxis", {}).get("title", {}).get("text") == "‖out − out₀‖ / ‖out₀‖")
    assert change["data"][0]["x"][0] == "1.0"


def test_dropping_a_block_leaves_earlier_blocks_alone():
    at = run_r50()
    at.radio(key="fm.ablate").set_value("drop")
    run(at)
    at.selectbox(key="fm.drop").set_value("layer3.2")
    run(at)
    assert metrics(at)["First block that changes"] == "layer3.2"
    assert query_param(at, "ablate") == "drop" and query_param(at, "drop") == "layer3.2"
    assert "Channel" in " ".join(s.value for s in at.subheader if "layer3.2 deleted" in s.value)
    at.radio(key="fm.ablate").set_value("none")
    run(at)
    assert "First block that changes" not in metrics(at) and query_param(at, "drop") is None


# --- the URL -------------------------------------------------------------------------------


def test_url_round_trip_opens_the_same_view():
    params = dict(image="coffee", weights="random", depth="18", seed="3", block="layer3.1", ch="7", k="8",
                  scale="block", ablate="drop", drop="layer4.0")
    at = run(lang="zh", **params)
    assert [w.value for w in at.warning] == [ZH["fm.veit.untrained"]] * 2  # no URL notice, only "untrained weights"
    assert at.title[0].value == ZH["fm.title"]
    assert {name: query_param(at, name) for name in params} == params
    assert at.selectbox(key="fm.block").value == "layer3.1" and at.number_input(key="fm.ch").value == 7
    assert metrics(at)[ZH["fm.first_changed"]] == "layer4.0"
    assert "256×14×14" in texts(at)  # ResNet-18's basic blocks: stage 3 has 256 channels


@pytest.mark.parametrize("params", [
    {"image": "dog"}, {"weights": "magic"}, {"depth": "7"}, {"seed": "-1"}, {"block": "layer9.9"}, {"ch": "99999"},
    {"k": "1000"}, {"scale": "global"}, {"ablate": "everything"}, {"drop": "layer9.9", "ablate": "drop"},
])
def test_out_of_range_url_values_fall_back_with_a_notice(params):
    at = run_r50(**params)
    name, value = next(iter(params.items()))
    assert any(f"{name}={value}" in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(charts(at)) >= 4  # the page still draws, on the defaults


# --- uploads -------------------------------------------------------------------------------


def test_upload_prompt_and_the_url_says_uploads_are_not_in_it():
    at = run_r50(image="upload", block="layer2.0", k="8", ablate="drop", drop="layer3.1")
    assert EN["fm.upload_not_in_url"] in texts(at) and EN["fm.upload_prompt"] in texts(at)
    assert not charts(at)
    assert at.file_uploader(key="upload_file").allowed_type == [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"]
    # the settings the page did not get to yet stay in the link, and apply once a file is there
    assert [query_param(at, n) for n in ("block", "k", "ablate", "drop")] == ["layer2.0", "8", "drop", "layer3.1"]
    upload(at, "photo.png", encode(photo(), "PNG"))
    assert "**layer2.0:** input x 256×56×56" in texts(at) and len(charts(at)[1]["layout"]["annotations"]) == 8
    assert metrics(at)["First block that changes"] == "layer3.1"


def test_an_uploaded_rgba_png_is_converted_and_analysed():
    at = run_r50(image="upload")
    img = photo((300, 200), "RGBA")
    upload(at, "photo.png", encode(img, "PNG"))
    shown = texts(at)
    assert "Decoded a PNG of 300×200 px (mode RGBA)." in shown
    assert EN["fm.step.alpha_on_white"] in shown
    assert "451×300" not in shown  # not the default sample
    assert len(charts(at)) == 4
    assert query_param(at, "image") == "upload" and all("photo" not in str(v) for v in at.query_params.values())
    # another file: its own analysis (the shared cache is keyed by the file's content)
    before = chart_text(at)
    upload(at, "other.jpg", encode(photo((240, 320), "RGB", seed=7), "JPEG"), "image/jpeg")
    assert "Decoded a JPEG of 240×320 px (mode RGB)." in texts(at)
    assert chart_text(at) != before


def test_an_animated_gif_uses_its_first_frame():
    frames = [photo((64, 64), "RGB", seed=s).convert("P") for s in range(3)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    at = upload(run_r50(image="upload"), "anim.gif", data, "image/gif")
    assert EN["fm.step.first_frame"] in texts(at)
    assert len(charts(at)) == 4


@pytest.mark.parametrize("name, data, code", [
    ("notes.png", b"name,score\nada,3\n" * 20, "not_image"),
    ("cut.png", encode(photo((128, 128)), "PNG")[:3000], "damaged"),
    ("dot.png", encode(Image.new("RGB", (1, 1), "red"), "PNG"), "too_small"),
    ("huge.png", png_of_zeros(8000, 7500), "too_many_pixels"),
    ("empty.png", b"", "empty"),
])
def test_bad_uploads_get_their_message_and_the_page_keeps_working(name, data, code):
    at = upload(run_r50(image="upload"), name, data)
    assert len(at.error) == 1
    message = at.error[0].value
    assert message.startswith(f"{name} cannot be used:")
    expected = EN[f"fm.error.{code}"].split("{")[0]  # the text up to its first value
    assert expected in message
    assert not charts(at)
    # the same session recovers: pick a sample and the maps are back
    at.selectbox(key="fm.image").set_value("cat")
    run(at)
    assert not at.error and len(charts(at)) == 4


def test_bad_upload_message_is_translated():
    at = upload(run_r50(image="upload", lang="zh"), "notes.png", b"not an image at all" * 10)
    assert at.error[0].value == ZH["fm.upload_refused"].format(name="notes.png") + " " + ZH["fm.error.not_image"]


# --- weights sources ------------------------------------------------------------------------


def test_official_weights_offline_says_so_without_downloading(monkeypatch, isolated_home):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")

    at = run(weights="official")
    assert any("not on this machine yet" in i.value for i in at.info)
    assert not charts(at)
    at.button(key="download").click()
    run(at)
    assert len(at.error) == 1
    assert "this machine seems to be offline" in at.error[0].value and "paddle-hapi.bj.bcebos.com" in at.error[0].value
    assert not (isolated_home / weights.WEIGHTS_SUBDIR / "resnet50.pdparams").exists()
    at.selectbox(key="fm.weights").set_value("random")  # and the page goes on
    run(at)
    assert len(charts(at)) == 4


def test_no_trained_model_yet_says_so(isolated_home):
    at = run(weights="trained")
    assert len(at.error) == 1 and "Nothing has been trained in the lab yet" in at.error[0].value
    assert "`trained`" in at.error[0].value and str(isolated_home) not in at.error[0].value  # no server paths (issue 12)
    assert not charts(at)


def save_digits_model(folder: Path, name: str, shortcut: str = "identity", label: str | None = None,
                      dead_stage: int | None = None) -> Path:
    """A model as the Training lab saves one (resnet.model.weights.save_trained: tensors + sidecar).

    ``dead_stage``: every block of that stage gets a hugely negative BN shift before its ReLU
    (as after a blow-up in training), so its outputs are all 0.
    """
    model = resnet(20, num_classes=10, in_channels=1, shortcut=shortcut)
    init_parameters(model, 0)
    if dead_stage is not None:
        for name_, param in model.named_parameters():
            if name_.startswith(f"layer{dead_stage}.") and name_.endswith(("bn2.bias", "downsample.1.bias")):
                param.set_value(np.full(param.shape, -1e4, dtype=np.float32))
    model.eval()
    spec = preprocess.Preprocess(resize=8, crop=8, mean=(0.3,), std=(0.35,), channels=1)
    meta = {"preprocess": spec.to_dict(), "classes": [f"digit {i}" for i in range(10)]}
    if label:
        meta["label"] = label
    return weights.save_trained(model, meta, folder / name)


def test_a_model_trained_in_the_lab_is_listed_and_its_input_respected(isolated_home):
    save_digits_model(isolated_home / "trained", "run1_ResNet-20", label="ResNet-20 digits")
    save_digits_model(isolated_home / "trained", "run2_plain-20", shortcut="none")
    at = run(weights="trained", block="layer2.0")
    assert at.selectbox(key="fm.file").options == ["ResNet-20 digits · run1_ResNet-20.safetensors",
                                                    "run2_plain-20.safetensors"]
    shown = texts(at)
    assert "ResNet-20, 10 classes" in shown and "input 1×8×8" in shown
    assert EN["fm.step.to_gray"] in shown and "[1, 1, 8, 8]" in shown
    top5 = next(f for f in charts(at) if f["data"][0].get("orientation") == "h")
    assert all(label.startswith("digit ") for label in top5["data"][0]["y"])
    at.selectbox(key="fm.file").set_value("run2_plain-20.safetensors")
    run(at)
    assert "plain net-20" in texts(at) and "x (mean of 16 channels)" in chart_text(at)
    assert query_param(at, "file") == "run2_plain-20.safetensors" and query_param(at, "depth") is None


def test_blocks_that_output_only_zeros_are_flagged(isolated_home):
    save_digits_model(isolated_home / "trained", "run3_blown_up", dead_stage=3)
    at = run(weights="trained")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("3 block(s) output nothing but zeros")
    assert "layer3.0, layer3.1, layer3.2" in warnings[0]
    save_digits_model(isolated_home / "trained", "run3_blown_up")  # the same file, healthy now
    at = run(weights="trained")
    assert not at.warning


def test_local_weights_folder_unset_empty_and_imagenet_shaped(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.ENV_WEIGHTS_DIR, raising=False)
    at = run(weights="local")
    assert weights.ENV_WEIGHTS_DIR in at.error[0].value
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path))
    at = run(weights="local")
    assert "holds no `.safetensors` file" in at.error[0].value
    model = resnet(18)
    model.eval()
    weights.save_safetensors(model, tmp_path / "r18.safetensors")  # no sidecar: ResNet-18, 1000 ImageNet classes
    at = run(weights="local")
    assert not at.error and "ResNet-18, 1000 classes" in texts(at)
    top5, cam = [f for f in charts(at) if f["data"][0].get("orientation") == "h" or f["data"][0]["type"] == "image"]
    assert set(top5["data"][0]["hovertext"]) <= set(weights.imagenet_labels())  # ImageNet names
    assert "Where the network looked for" in cam["layout"]["title"]["text"]


def test_bad_local_weights_files_get_their_message(monkeypatch, tmp_path):
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path))
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    at = run(weights="local", file="broken.safetensors")
    assert at.error[0].value.startswith("broken.safetensors is not a readable weights file")
    # tensors of a ResNet-18 with a description claiming ResNet-34: the message names the keys
    model = resnet(18)
    model.eval()
    path = weights.save_safetensors(model, tmp_path / "claims34.safetensors")
    path.with_suffix(".json").write_text(json.dumps({"model": {"depth": 34}}))
    at = run(weights="local", file="claims34.safetensors")
    message = at.error[0].value
    assert "does not fit ResNet-34" in message and "the file holds: ResNet-18" in message
    assert "layer1.2." in message  # a missing key, by name
    at.selectbox(key="fm.weights").set_value("random")
    run(at)
    assert not at.error and len(charts(at)) == 4


# --- the default: trained digits models, and Veit et al.'s lesion study --------------------


def top_k_chart(at: AppTest) -> dict:
    return next(f for f in charts(at) if f["data"][0].get("orientation") == "h")


def titled(at: AppTest, title: str) -> dict:
    """The figure with this title."""
    return next(f for f in charts(at) if f["layout"].get("title", {}).get("text") == title)


def test_the_page_opens_on_the_trained_resnet56_and_a_test_digit():
    at = run()
    assert query_param(at, "weights") == "shipped" and query_param(at, "file") == "resnet56_digits16.safetensors"
    assert at.selectbox(key="fm.file").options == ["ResNet-56", "plain-20"]  # short: a projector cuts long options
    image = at.selectbox(key="fm.image")
    assert image.value == "digit_3" and image.options[:10] == [f"Handwritten digit {c} (test set)" for c in range(10)]
    assert "Chelsea the cat" in image.options  # the photos stay available
    shown = texts(at)
    assert "ResNet-56, 10 classes" in shown and "input 1×16×16" in shown and EN["fm.digit_credit"] in shown
    assert "Every block's maps for this image computed in" in shown and "dygraph: Paddle's eager mode" in shown
    assert not at.warning, [w.value for w in at.warning]  # trained weights: no "untrained" warning
    # every digit class is on the predictions' axis, as a category, and the net reads the 3 as a 3
    top = top_k_chart(at)
    assert sorted(top["data"][0]["y"]) == [str(c) for c in range(10)] and top["data"][0]["y"][-1] == "3"
    assert top["layout"]["yaxis"]["type"] == "category" and top["layout"]["yaxis"]["dtick"] == 1
    assert top["data"][0]["x"][-1] > 0.9
    # the overview: 27 blocks in three stages of nine
    assert len(charts(at)[0]["data"][1]["customdata"]) == 27


def test_the_lesion_study_of_the_shipped_models_is_shown_at_once():
    at = run()
    assert EN["fm.veit.title"] in [h.value for h in at.header]
    single = titled(at, EN["fm.veit.single_title"])
    titles = [a["text"] for a in single["layout"]["annotations"]]
    assert titles == ["ResNet-56: 98.1% with nothing deleted (95 % interval 96.0%–99.1%)",
                      "plain-20: 97.8% with nothing deleted (95 % interval 95.7%–98.9%)"]
    hatched = {x for tr in single["data"] if tr["type"] == "bar" and tr["marker"]["pattern"]["shape"] == "/" for x in tr["x"]}
    assert hatched == {"layer2.0", "layer3.0"}  # the downsampling blocks, in both nets
    random = titled(at, EN["fm.veit.random_title"])
    assert [tr["x"] for tr in random["data"] if tr["mode"] == "lines+markers"] == [list(range(11)), list(range(10))]
    shown = texts(at)
    assert EN["fm.veit.stored"] in shown and EN["fm.veit.why_some_hurt"] in shown
    assert EN["fm.veit.how"].format(n=359) in shown
    assert "**ResNet-56** (98.1% with every block, 95 % interval 96.0%–99.1%)" in shown and "layer1.0 (-88.0 pp)" in shown
    assert at.button(key="veit_recompute").label == EN["fm.veit.recompute"]


def test_recompute_live_shows_progress_cancel_then_measured_live(no_task_processes):
    """The shipped models' study measured again in task processes: progress and Cancel, then "measured live"."""
    def compute_stubs():  # the stored studies stand in for seconds of model work per model
        for task in no_task_processes.tasks:
            tasks._compute(dataclasses.replace(task, target="tests.lab.task_targets:stored_lesion"))
        no_task_processes.tasks.clear()

    at = run()
    assert at.button(key="veit_recompute").label == EN["fm.veit.recompute"]
    at.button(key="veit_recompute").click()
    run(at)
    assert [task.kind for task in no_task_processes.tasks] == ["lesion", "lesion"]  # one per shipped model
    assert [p.proto.text for p in at.get("progress")] == [EN["fm.veit.computing"]]
    assert "veit_recompute" not in [b.key for b in at.button]  # computing: no second start
    assert EN["fm.veit.stored"] in texts(at)  # the stored charts stay meanwhile
    at.button(key="veit_cancel").click()
    run(at)
    compute_stubs()  # the task processes see the cancel at their next check
    run(at)
    assert not at.get("progress") and EN["fm.veit.cancelled"] in texts(at)
    assert at.button(key="veit_recompute").label == EN["fm.veit.recompute"]
    at.button(key="veit_recompute").click()
    run(at)
    compute_stubs()
    run(at)
    assert not at.get("progress") and EN["fm.veit.live"] in texts(at) and EN["fm.veit.stored"] not in texts(at)
    again = at.button(key="veit_recompute")
    assert again.label == EN["fm.veit.measure_again"] and again.proto.type == "tertiary"  # now a secondary action
    assert len(titled(at, EN["fm.veit.single_title"])["layout"]["annotations"]) == 2


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_accuracies_carry_their_intervals_and_a_deletion_within_noise_says_so(lang):
    """Under the File box, the shipped net's test accuracy with its 95 % Wilson interval (n = its test images);
    deleting a block the lesion study finds within noise says "within noise (± x pp)" on the whole test split,
    the costliest deletion its paired interval and a loss beyond noise (exact McNemar)."""
    t = catalog(lang)
    meta = weights.read_sidecar(shipped.shipped_path(shipped.DEFAULT_KEY))
    n = meta["test_images"]
    right = round(meta["test_acc"] * n)
    accuracy = stats.wilson(right, n)
    assert (right, n) == (352, 359) and accuracy.low < accuracy.value < accuracy.high  # 98.1 % of 359 digits
    study = shipped.stored_lesion_studies()[shipped.DEFAULT_KEY]
    verdicts = {v.block.name: v for v in study.verdicts()}
    quiet, worst = verdicts[study.harmless().name], verdicts[study.worst.name]
    assert not quiet.beyond_noise and worst.beyond_noise and worst.delta.value < 0

    at = run(lang=lang, ablate="drop", drop=quiet.block.name)
    shown = texts(at)
    assert t["fm.file_accuracy"].format(label="ResNet-56", acc=accuracy.value, low=accuracy.low, high=accuracy.high,
                                        n=n) in [c.value for c in at.caption]
    intact = study.baseline_interval
    assert (intact.value, intact.low, intact.high) == accuracy  # the study's intact net is the file's accuracy
    left = ablation_plots.accuracy_left(quiet.block, n)
    within = t["fm.drop_test.within_noise"].format(
        n=n, label="ResNet-56", block=quiet.block.name, acc=left.value, alow=left.low, ahigh=left.high, base=intact.value,
        blow=intact.low, bhigh=intact.high, delta=100 * quiet.delta.value, half=100 * quiet.delta.half_width)
    assert within in shown and ("within noise (±" in within or "在噪声范围内（±" in within)
    at = run(lang=lang, ablate="drop", drop=worst.block.name)
    sentence = next(m.value for m in at.markdown if worst.block.name in m.value and str(n) in m.value)
    assert sentence.startswith(t["fm.drop_test.hurts"].split("{")[0])
    assert f"{100 * worst.delta.low:+.1f}" in sentence and f"{100 * worst.delta.high:+.1f}" in sentence
    assert worst.delta.high < 0  # the interval excludes 0: only then may the text say it costs accuracy


def test_random_weights_say_they_are_untrained_and_what_to_pick():
    at = run(weights="random")
    warnings = [w.value for w in at.warning]
    assert warnings == [EN["fm.veit.untrained"]] * 2  # above Predictions and above Ablation
    headers = [h.value for h in at.header]
    assert headers.index(EN["fm.predictions"]) < headers.index(EN["fm.ablation"])
    assert EN["fm.veit.title"] not in headers and not any(f["data"][0].get("orientation") == "h" for f in charts(at))
    assert EN["fm.source.shipped"].split(" (")[0] in EN["fm.veit.untrained"]  # it names the choice to make


def test_the_why_pages_ablation_links_drop_the_blocks_the_data_chose():
    """The Why page's links: a deletion the shipped study finds within noise, and the costliest one."""
    why = open_page("app.py", lang="en")
    links = [str(link.proto) for link in why.get("page_link")] + [m.value for m in why.markdown]
    queries = [dict(re.findall(r"(\w+)=([\w.]+)", q)) for text in links if "feature_maps" in text and "drop=" in text
               for q in re.findall(r'(?:\?|query_string: ")([^)\s"]+)', text)]  # a page link's query, or a markdown link's
    study = shipped.stored_lesion_studies()["resnet56_digits16"]
    assert [q["drop"] for q in queries] == [study.harmless().name, study.worst.name]
    harmless, worst = queries
    assert {**harmless, "drop": ""} == {**worst, "drop": ""} and harmless["weights"] == "shipped"
    at = run(**harmless)
    assert metrics(at)["First block that changes"] == harmless["drop"] and metrics(at)["Top-1 class unchanged?"] == "yes"
    assert float(metrics(at)['Probability of “3”'].rstrip("%")) > 99
    verdicts = {v.block.name: v for v in study.verdicts()}
    assert not verdicts[harmless["drop"]].beyond_noise  # on the whole test split too: within noise
    assert verdicts[worst["drop"]].beyond_noise and verdicts[worst["drop"]].delta.value < -0.5  # unlike the first block


def save_lab_run(folder: Path, name: str) -> Path:
    """A model as the Training lab saves one, with the run it came from (digits at 8×8)."""
    model = resnet(20, num_classes=10, in_channels=1, width=4)
    init_parameters(model, 0)
    spec = preprocess.Preprocess(resize=8, crop=8, mean=(0.3,), std=(0.35,), channels=1)
    meta = {"preprocess": spec.to_dict(), "classes": [str(i) for i in range(10)], "label": "ResNet-20 (lab)",
            "train_config": {"dataset": "digits", "image_size": 8, "depth": 20}}
    return weights.save_trained(model, meta, folder / name)


def test_a_model_trained_in_the_lab_is_measured_on_request(isolated_home, no_task_processes):
    save_lab_run(isolated_home / "trained", "run1_ResNet-20")
    at = run(weights="trained")
    assert "digit_3" == at.selectbox(key="fm.image").value  # a one-channel model is offered the digits
    single = titled(at, EN["fm.veit.single_title"])
    assert len(single["layout"]["annotations"]) == 2  # the shipped models only, until asked
    at.button(key="veit_measure").click()
    run(at)  # started in a task process (here: waiting in the test's line): progress and Cancel meanwhile
    assert [task.kind for task in no_task_processes.tasks] == ["lesion"]
    assert [p.proto.text for p in at.get("progress")] == [md_escape("ResNet-20 (lab)") + ": " + EN["fm.veit.computing"]]
    assert at.button(key="veit_cancel_own").label == EN["fm.veit.cancel"]
    assert len(titled(at, EN["fm.veit.single_title"])["layout"]["annotations"]) == 2
    no_task_processes.compute()  # what the task process does
    run(at)
    single = titled(at, EN["fm.veit.single_title"])
    titles = [a["text"] for a in single["layout"]["annotations"]]
    assert len(titles) == 3 and titles[2].startswith("ResNet-20 (lab): ")
    assert "**ResNet-20 (lab)**" in texts(at)
    run(at)
    assert [b.key for b in at.main.button] == ["veit_recompute"]  # measured: kept for every session, no button any more
    assert len(titled(at, EN["fm.veit.single_title"])["layout"]["annotations"]) == 3
    # a file with no record of its training run cannot be measured, and the page says why
    save_digits_model(isolated_home / "trained", "run2_plain-20", shortcut="none")
    run(at)  # the selector lists the new file
    at.selectbox(key="fm.file").set_value("run2_plain-20.safetensors")
    run(at)
    assert EN["fm.veit.no_run"].format(label="plain net-20") in texts(at)


def heatmap_values(trace: dict) -> np.ndarray:
    """A heatmap's z as an array (Plotly sends numpy arrays base64-encoded)."""
    z = trace["z"]
    if isinstance(z, dict):
        shape = [int(s) for s in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=np.dtype(z["dtype"])).reshape(shape).astype(float)
    return np.array(z, dtype=float)


def test_the_four_maps_of_a_channel_share_one_colour_scale():
    at = run()
    panel = next(f for f in charts(at) if sum(d["type"] == "heatmap" for d in f["data"]) == 4)
    x, residual, shortcut, out = (heatmap_values(d) for d in panel["data"])
    assert all(d["coloraxis"] == "coloraxis" for d in panel["data"])  # one colour map, one colour bar
    limit = max(float(np.abs(m).max()) for m in (x, residual, shortcut, out))
    assert panel["layout"]["coloraxis"]["cmax"] == pytest.approx(limit) and panel["layout"]["coloraxis"]["cmin"] == pytest.approx(-limit)
    assert np.array_equal(x, shortcut)  # layer1.1, identity shortcut with λ = 1: the shortcut is x, drawn the same
    assert EN["fm.panel_scale.channel"].format(limit=f"{limit:.3g}") in texts(at)


def test_the_shared_scale_says_why_a_block_looks_pale():
    """Random ResNet-50: the signal grows block by block, so layer1.1 reaches ~1 % of the network's largest value."""
    at = run_r50(scale="shared")
    note = next(c.value for c in at.caption if c.value.startswith("Colours: one scale for all four maps"))
    assert "anywhere in the network" in note and "so its maps look pale: the largest values are in layer4." in note
    at = run_r50(scale="block")
    assert not any("look pale" in c.value for c in at.caption)


def test_a_digits_model_says_what_it_reads_and_warns_for_a_photo():
    expects = EN["fm.expects_digits"].format(size=16)
    assert expects in [c.value for c in run().caption]  # on a sample digit: said, not a warning
    assert expects in [w.value for w in run(image="cat").warning]  # a photo squeezed to 16×16 grey
    assert not any(expects == w.value for w in run(weights="random", image="cat").warning)  # an RGB ImageNet net reads photos
