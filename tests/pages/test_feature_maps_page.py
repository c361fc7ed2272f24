"""AppTest of the Feature maps page: samples, uploads, weights sources, block/channel, ablation, URL.

Uploads: Streamlit 1.67's AppTest *does* drive ``st.file_uploader``
(``at.file_uploader(key=...).set_value((name, bytes, mime))`` registers the bytes with the
test's in-memory upload manager and the widget returns a real ``UploadedFile``), so the
upload tests below go through the page's own uploader, its ``type=`` filter, and the same
``resnet.inference.explore.upload_shown`` → ``images.load_image`` path as the browser.
What AppTest skips is the browser side (the file chooser and the HTTP upload);
``tests/e2e/test_e2e_feature_maps.py`` covers that in Chromium.

Nothing is downloaded: the "official weights" test routes HTTP(S) through a closed local
port, so the page's connectivity check fails at once, and Paddle's downloader is replaced
by a function that fails the test if it is ever called.
"""

from __future__ import annotations

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

from tests.helpers import open_page, query_param
from resnet.inference import images
from resnet.model import preprocess, weights
from resnet.i18n import MISSING, catalog
from resnet.model import resnet
from resnet.model.init import init_parameters

REPO = Path(__file__).resolve().parents[2]
EN, ZH = catalog("en"), catalog("zh")


def run(at: AppTest | None = None, **params: str) -> AppTest:
    """Open the page with these settings (English by default), or rerun ``at``."""
    if at is None:
        return open_page("pages/feature_maps.py", timeout=300, **{"lang": "en", **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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
             "inference/explore.py")
    source = {name: (REPO / "resnet" / name).read_text(encoding="utf-8") for name in files}
    keys = set()
    for text in source.values():
        keys |= set(re.findall(r"[\"'](fm\.[a-z_]+(?:\.[a-z_0-9]+)*)[\"']", text))
    keys |= {f"fm.error.{c}" for c in re.findall(r'ImageError\("([a-z_]+)"', source["inference/images.py"])}
    for name in ("model/weights.py", "inference/explore.py"):
        keys |= {f"fm.weights_error.{c}" for c in re.findall(r'WeightsError\("([a-z_]+)"', source[name])}
    keys |= {"fm.weights_error.mismatch"}  # WeightsMismatch's code
    keys |= {f"fm.fig.x_{how}" for how in ("same", "projection", "mean")}
    keys |= {f"fm.fig.shortcut_{kind}" for kind in ("identity", "identity_scaled", "projection", "projection_scaled", "off")}
    keys |= {f"fm.sample.{s.name}" for s in images.SAMPLES}
    assert len(keys) > 60
    assert not keys - set(EN), sorted(keys - set(EN))
    assert not keys - set(ZH), sorted(keys - set(ZH))


# --- samples, blocks, channels ---------------------------------------------------------


@pytest.mark.parametrize("sample", [s.name for s in images.SAMPLES])
def test_every_sample_shows_its_maps(sample):
    at = run(image=sample)
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
    at = run()
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


def test_deep_nets_keep_the_overview_legible():
    at = run(depth="101", block="layer3.22")
    overview = charts(at)[0]
    blocks = overview["data"][1]
    assert len(blocks["customdata"]) == 33 and blocks["customdata"][-1] == "layer4.2"
    assert all("<br>" not in text for text in blocks["text"])  # 23 blocks in a row: names only…
    assert "stage 3 · 1024×14×14" in overview["layout"]["yaxis"]["ticktext"]  # …and the shapes per row
    assert "**layer3.22:** input x 1024×14×14" in texts(at)


def test_the_stem_shows_its_channels_without_a_panel():
    at = run(block="stem")
    assert "**Stem:**" in texts(at) and "64×56×56" in texts(at)
    assert len(charts(at)) == 3  # overview, grid, ratio: the stem has no F(x) / shortcut
    assert not any(s.value.startswith("Channel ") for s in at.subheader)


def test_channel_out_of_range_for_the_new_block_falls_back_to_its_strongest():
    at = run(block="layer1.1", ch="200")
    assert query_param(at, "ch") == "200"
    at.selectbox(key="fm.block").set_value("stem")  # 64 channels: 200 does not exist there
    run(at)
    assert int(query_param(at, "ch")) < 64


# --- ablation ------------------------------------------------------------------------------


def test_shortcuts_off_changes_every_block():
    at = run(ablate="shortcuts")
    assert metrics(at)["First block that changes"] == "layer1.0"
    assert "every shortcut off" in texts(at)
    change = next(f for f in charts(at) if f["layout"].get("yaxis", {}).get("title", {}).get("text") == "‖out − out₀‖ / ‖out₀‖")
    assert change["data"][0]["x"][0] == "1.0"


def test_dropping_a_block_leaves_earlier_blocks_alone():
    at = run()
    at.radio(key="fm.ablate").set_value("drop")
    run(at)
    at.selectbox(key="fm.drop").set_value("layer3.2")
    run(at)
    assert metrics(at)["First block that changes"] == "layer3.2"
    assert query_param(at, "ablate") == "drop" and query_param(at, "drop") == "layer3.2"
    assert "Channel" in " ".join(s.value for s in at.subheader if "layer3.2 dropped" in s.value)
    at.radio(key="fm.ablate").set_value("none")
    run(at)
    assert "First block that changes" not in metrics(at) and query_param(at, "drop") is None


# --- the URL -------------------------------------------------------------------------------


def test_url_round_trip_opens_the_same_view():
    params = dict(image="coffee", weights="random", depth="18", seed="3", block="layer3.1", ch="7", k="8",
                  scale="block", ablate="drop", drop="layer4.0")
    at = run(lang="zh", **params)
    assert not at.warning, [w.value for w in at.warning]
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
    at = run(**params)
    name, value = next(iter(params.items()))
    assert any(f"{name}={value}" in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(charts(at)) >= 4  # the page still draws, on the defaults


# --- uploads -------------------------------------------------------------------------------


def test_upload_prompt_and_the_url_says_uploads_are_not_in_it():
    at = run(image="upload", block="layer2.0", k="8", ablate="drop", drop="layer3.1")
    assert EN["fm.upload_not_in_url"] in texts(at) and EN["fm.upload_prompt"] in texts(at)
    assert not charts(at)
    assert at.file_uploader(key="upload_file").allowed_type == [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"]
    # the settings the page did not get to yet stay in the link, and apply once a file is there
    assert [query_param(at, n) for n in ("block", "k", "ablate", "drop")] == ["layer2.0", "8", "drop", "layer3.1"]
    upload(at, "photo.png", encode(photo(), "PNG"))
    assert "**layer2.0:** input x 256×56×56" in texts(at) and len(charts(at)[1]["layout"]["annotations"]) == 8
    assert metrics(at)["First block that changes"] == "layer3.1"


def test_an_uploaded_rgba_png_is_converted_and_analysed():
    at = run(image="upload")
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
    at = upload(run(image="upload"), "anim.gif", data, "image/gif")
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
    at = upload(run(image="upload"), name, data)
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
    at = upload(run(image="upload", lang="zh"), "notes.png", b"not an image at all" * 10)
    assert at.error[0].value == ZH["fm.upload_refused"].format(name="notes.png") + " " + ZH["fm.error.not_image"]


# --- weights sources ------------------------------------------------------------------------


def test_official_weights_offline_says_so_without_downloading(monkeypatch, isolated_home):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")

    def no_download(*args, **kwargs):
        raise AssertionError("a test must never download")

    monkeypatch.setattr(weights.paddle_download, "get_path_from_url", no_download)
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
    assert str(isolated_home / "trained") in at.error[0].value
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
