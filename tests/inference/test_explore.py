"""The Feature maps page's work without Streamlit (resnet.inference.explore)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from resnet.inference import explore, features, images
from resnet.model import resnet, weights
from resnet.model.preprocess import Preprocess

SPEC = Preprocess(resize=32, crop=32)


def png(width: int, height: int) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model():
    """A CIFAR ResNet-20 (3 stages of 3 blocks), small enough for 32 px inputs."""
    net = resnet(20, num_classes=10)
    net.eval()
    return net


@pytest.fixture(scope="module")
def array():
    return explore.sample_shown("cat", SPEC).prepared.array  # [1, 3, 32, 32]


def test_an_upload_is_named_by_its_content_and_shown_as_a_thumbnail():
    data = png(1000, 800)
    shown = explore.upload_shown(data, SPEC)
    assert shown.key == "upload:" + hashlib.sha256(data).hexdigest()[:20]
    assert shown.size == (1000, 800) and max(shown.picture.size) == explore.DISPLAY_SIDE
    assert shown.prepared.array.shape == (1, 3, 32, 32)
    small = explore.upload_shown(png(300, 200), SPEC)
    assert small.picture.size == (300, 200) and small.key != shown.key


def test_an_upload_that_crashes_a_decoder_is_refused_as_damaged(monkeypatch):
    with pytest.raises(images.ImageError) as refused:
        explore.upload_shown(b"name,score\nada,3\n" * 20, SPEC)
    assert refused.value.code == "not_image"

    def crash(data: bytes) -> images.LoadedImage:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(images, "load_image", crash)
    with pytest.raises(images.ImageError) as refused:
        explore.upload_shown(png(64, 64), SPEC)
    assert refused.value.code == "damaged"


def test_analyse_falls_back_to_dygraph_when_the_fast_path_fails(monkeypatch, model, array):
    reference = features.run(model, array)

    def broken(*args, **kwargs):
        raise RuntimeError("no predictor")

    monkeypatch.setattr(explore, "fast_forward_features", broken)
    analysis, seconds = explore.analyse(model, array)
    assert analysis.backend == "dygraph" and seconds >= 0
    np.testing.assert_array_equal(analysis.logits, reference.logits)


def test_analyse_skips_the_fast_path_for_sizes_it_does_not_take(monkeypatch, model):
    def never(*args, **kwargs):
        raise AssertionError("the fast path was asked for an input it does not take")

    monkeypatch.setattr(explore, "fast_forward_features", never)
    tiny = np.zeros([1, 3, explore.FAST_SIZES[0] // 2, explore.FAST_SIZES[0] // 2], dtype=np.float32)
    analysis, _ = explore.analyse(model, tiny, drop_blocks=["layer2.1"])
    assert analysis.backend == "dygraph" and analysis.drop_blocks == {"layer2.1"}


def test_the_stem_as_a_view_and_the_default_block(model, array):
    analysis = features.run(model, array)
    stem = explore.block_view(analysis, explore.STEM)
    assert stem.out is analysis.stem and stem.stage == 0 and not stem.residual.any()
    assert features.top_channels(stem, 1)[0] == int(np.argmax(analysis.stem.mean(axis=(1, 2))))
    assert explore.block_view(analysis, "layer2.0") is analysis.block("layer2.0")
    assert explore.default_block(analysis) == "layer1.1"


def test_weight_files_say_why_there_are_none(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.ENV_WEIGHTS_DIR, raising=False)
    with pytest.raises(weights.WeightsError) as none:
        explore.weight_files("local", tmp_path)
    assert none.value.code == "local_unset" and none.value.values == {"env": weights.ENV_WEIGHTS_DIR}
    monkeypatch.setenv(weights.ENV_WEIGHTS_DIR, str(tmp_path / "local"))
    (tmp_path / "local").mkdir()
    with pytest.raises(weights.WeightsError) as none:
        explore.weight_files("local", tmp_path)
    assert none.value.code == "local_empty"
    with pytest.raises(weights.WeightsError) as none:
        explore.weight_files("trained", tmp_path / "trained")
    assert none.value.code == "trained_empty" and none.value.values == {"folder": str(tmp_path / "trained")}
    (tmp_path / "trained").mkdir()
    for name in ("b.safetensors", "a.safetensors"):
        (tmp_path / "trained" / name).write_bytes(b"")
    assert [p.name for p in explore.weight_files("trained", tmp_path / "trained")] == ["a.safetensors", "b.safetensors"]
    assert explore.file_label(tmp_path / "trained" / "a.safetensors") == "a.safetensors"  # no sidecar, no label


def test_a_shipped_digit_is_read_as_any_image_and_preprocessed_for_its_model(tmp_path):
    path = tmp_path / "digit_7.png"
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), mode="L").save(path)
    spec = Preprocess(resize=16, crop=16, mean=(0.3,), std=(0.3,), channels=1)
    shown = explore.file_shown("sample:digit_7", path, spec)
    assert shown.key == "sample:digit_7" and shown.size == (16, 16)
    assert shown.prepared.array.shape == (1, 1, 16, 16)
    np.testing.assert_allclose(shown.prepared.array[0, 0], (np.arange(256).reshape(16, 16) / 255 - 0.3) / 0.3, atol=1e-5)


def test_small_label_sets_are_shown_whole_and_small_inputs_skip_the_fast_path():
    assert [explore.classes_shown(n) for n in (2, 10, 11, 1000)] == [2, 10, explore.TOP_K, explore.TOP_K]
    lo, hi = explore.FAST_SIZES
    takes = [explore.fast_path_takes(np.zeros([1, 1, side, side], np.float32)) for side in (16, lo - 1, lo, hi, hi + 1)]
    assert takes == [False, False, True, True, False]  # the digits' 16 px: dygraph by design


def test_an_upload_is_decoded_once_per_session_and_a_refusal_remembered():
    memo, calls = {}, []

    def data(payload: bytes):
        return lambda: calls.append(1) or payload

    first = explore.upload_once(memo, "slot", "file-1", data(png(64, 48)), SPEC)
    assert explore.upload_once(memo, "slot", "file-1", data(png(64, 48)), SPEC) is first and len(calls) == 1
    other = Preprocess(resize=40, crop=40)
    assert explore.upload_once(memo, "slot", "file-1", data(png(64, 48)), other).prepared.array.shape == (1, 3, 40, 40)
    for _ in range(2):  # the refusal is raised again without reading the file again
        with pytest.raises(images.ImageError) as refused:
            explore.upload_once(memo, "slot", "file-2", data(b"not an image" * 20), SPEC)
        assert refused.value.code == "not_image"
    assert len(calls) == 3


def test_refusals_are_told_in_the_pages_language():
    from resnet.i18n import Translator

    en, zh = Translator("en"), Translator("zh")
    too_small = images.ImageError("too_small", "tiny", w=1, h=1, min=16)
    assert explore.error_text(too_small, en) == "The image is 1×1 px; it needs at least 16×16 px."
    assert explore.error_text(too_small, zh) == zh("fm.error.too_small", w=1, h=1, min=16)
    assert explore.error_text(RuntimeError("disk on fire"), en) == en("fm.error.other", reason="disk on fire")
    missing = weights.WeightsError("shipped_missing", "gone", folder="/x")
    assert "/x" in explore.error_text(missing, en) and "python -m resnet.lab shipped" in explore.error_text(missing, en)


def test_a_file_stamp_changes_when_the_file_is_rewritten(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"1234")
    before = explore.file_stamp(path)
    path.write_bytes(b"123456")
    assert explore.file_stamp(path) != before and explore.file_stamp(path)[1] == 6


# --- what the page shows beside its figures (moved out of pages/feature_maps.py) ------------


@pytest.fixture(scope="module")
def analysis(model, array):
    return features.run(model, array)  # ResNet-20: blocks layer1.0 … layer3.2, 10 classes


def test_block_choices_start_with_the_stem_and_the_stem_is_never_dropped(analysis):
    choices = explore.block_choices(analysis)
    assert choices[0] == explore.STEM and choices[1:] == [v.name for v in analysis.blocks] and len(choices) == 10
    assert explore.drop_default(analysis, "layer3.2") == "layer3.2"  # the block on show
    assert explore.drop_default(analysis, explore.STEM) == explore.default_block(analysis) == "layer1.1"


def test_the_pages_texts_from_its_results(analysis):
    from dataclasses import replace

    from resnet.i18n import Translator

    en = Translator("en")
    assert explore.timing_caption(analysis, 0.0125, True, en) == en("fm.computed", ms=12.5, backend=analysis.backend)
    assert explore.timing_caption(analysis, 0.0125, False, en) == en("fm.computed_dygraph", ms=12.5, backend=analysis.backend)
    assert explore.download_progress(2**20, 4 * 2**20, en) == (0.25, en("fm.downloading", done=1.0, total=4.0))
    assert explore.download_progress(5 * 2**20, 4 * 2**20, en)[0] == 1.0  # a server that sends more than it said
    assert explore.download_progress(2**20, None, en) == (0.0, en("fm.downloading", done=1.0, total=0.0))
    assert explore.dead_blocks_warning(analysis, en) is None
    dead = replace(analysis, blocks=[replace(v, out=np.zeros_like(v.out)) for v in analysis.blocks])
    names = "layer1.0, layer1.1, layer1.2, layer2.0, layer2.1, layer2.2, …"  # the first six of nine
    assert explore.dead_blocks_warning(dead, en) == en("fm.dead_blocks", n=9, names=names)
    assert explore.image_label(explore.UPLOAD, en) == en("fm.upload_option")
    assert explore.image_label("cat", en) == en("fm.sample.cat")
    assert explore.image_label("digit_7", en) == en("fm.sample.digit", label="7")
    cat = images.sample("cat")
    assert explore.sample_credit("cat", en) == en("fm.credit", by=cat.credit, licence=cat.licence)
    assert explore.sample_credit("digit_3", en) == en("fm.digit_credit")
    steps = explore.preprocessing_steps(explore.sample_shown("cat", SPEC), en).split("\n")
    assert steps[0].startswith("1. Decoded a JPEG") and steps[-1].startswith(f"{len(steps)}. ")


def test_a_model_is_captioned_with_its_architecture_and_input():
    from resnet.i18n import Translator

    spec = explore.ModelSpec("random", depth=18, seed=0)
    en, info = Translator("en"), explore.ModelInfo.of(spec, weights.random_model(18, 0))
    assert explore.model_caption(info, en) == en("fm.model_info", model=weights.model_label(info.config), classes=1000,
                                                 source=info.source, size=224, channels=3)
    assert "ResNet-18" in explore.model_caption(info, en) and info.label == "ResNet-18"


def test_only_the_url_settings_that_apply_stay_in_the_url():
    used, unused = explore.url_settings("random", "none")
    assert unused == ["file", "drop"] and "seed" in used and "depth" in used
    used, unused = explore.url_settings("shipped", "drop")
    assert unused == ["seed", "depth"] and "file" in used and "drop" in used
    assert sorted(used + unused) == sorted(explore.URL_NAMES)
    assert explore.url_settings(None, None)[1] == ["seed", "file", "drop"]  # nothing chosen yet: no file, so depth stays


def test_block_and_panel_captions_and_the_ablation_metrics(analysis):
    from dataclasses import replace

    from resnet.i18n import Translator
    from resnet.plots import features as feature_plots

    en = Translator("en")
    stem = explore.block_view(analysis, explore.STEM)
    assert feature_plots.block_label(explore.STEM, en) == en("fm.fig.stem") and feature_plots.block_label("layer1.1", en) == "layer1.1"
    shape = "×".join(map(str, stem.out.shape))
    assert feature_plots.block_caption(stem, "small", en) == en("fm.stem_info.small", shape=shape)
    view = analysis.block("layer1.1")
    caption = feature_plots.block_caption(view, "small", en)
    assert caption == en("fm.block_info", name="layer1.1", shape_in="16×32×32", shape_out="16×32×32", ratio=view.residual_ratio,
                         out_ratio=view.out_ratio, shortcut=en(f"fm.shortcut_kind.{view.shortcut_kind}", scale=f"{view.scale:g}"))
    panel = features.channel_panel(view, 3)
    assert feature_plots.panel_caption(view, panel, en) == en("fm.panel_how.same", c=3, xc=3, n=16)
    plain = replace(view, shortcut_kind="off")  # no shortcut adds x: the panel says so
    assert feature_plots.panel_caption(plain, panel, en) == en("fm.panel_how.plain", c=3, xc=3, n=16)
    same, top = feature_plots.ablation_metrics(features.compare(analysis, analysis), en), int(np.argmax(analysis.probs))
    assert [m["value"] for m in same[:2]] == ["—", en("fm.yes")]
    assert same[2]["delta"] == "+0.0 pp" and same[2]["value"] == f"{float(analysis.probs[top]):.1%}"
    bars = feature_plots.predictions_figure(analysis, en)
    assert len(bars.data) == 1 and len(bars.data[0].y) == 10  # all ten classes of a small label set
    assert len(feature_plots.predictions_figure(analysis, en, analysis).data) == 2


def test_samples_offered_to_a_model_and_the_one_it_opens_on(tmp_path):
    from resnet.lab import shipped

    for label in (3, 1):
        Image.fromarray(np.full((16, 16), 40 * label, np.uint8), mode="L").save(tmp_path / f"digit_{label}.png")
    assert shipped.sample_names(1, tmp_path) == ["digit_1", "digit_3", *explore.PHOTOS]  # digits first, by label
    assert shipped.sample_names(3, tmp_path) == list(explore.PHOTOS)
    assert shipped.default_sample(shipped.sample_names(1, tmp_path)) == "digit_3"
    assert shipped.default_sample(shipped.sample_names(3, tmp_path)) == "cat"
    spec = Preprocess(resize=16, crop=16, mean=(0.5,), std=(0.5,), channels=1)
    digit = shipped.sample_shown("digit_3", spec, tmp_path)
    assert digit.key == "sample:digit_3" and digit.prepared.array.shape == (1, 1, 16, 16)
    assert shipped.sample_shown("cat", SPEC).key == "sample:cat"


def test_the_lesion_charts_come_with_their_readings():
    from resnet.i18n import Translator
    from resnet.lab import shipped
    from resnet.plots import ablation as ablation_plots

    en, studies = Translator("en"), list(shipped.stored_lesion_studies().values())
    assert studies  # the shipped models' stored studies
    charts = ablation_plots.lesion_charts(studies, en)
    assert [name for name, _, _ in charts] == ["single", "random"]
    assert [reading for _, _, reading in charts] == list(ablation_plots.readings(studies, en))
    assert charts[0][1] == ablation_plots.single_deletion_figure(studies, en)
    assert charts[1][1] == ablation_plots.random_deletion_figure(studies, en)


def test_the_service_loads_each_weights_once_and_names_them_by_their_key():
    # resnet.inference.served: the Feature maps page's model work, as the inference service runs it
    from resnet.inference import served

    spec = explore.ModelSpec("random", depth=18, seed=0)
    assert spec.key == "random:18:0" and explore.ModelSpec("official", depth=50, path="/h/w.pdparams").key == "official:50:/h/w.pdparams"
    info = served.model_info(spec)
    assert info.spec == spec and info.config.depth == 18 and info.classes is None
    assert served.lab_for(spec) is served.lab_for(explore.ModelSpec("random", depth=18, seed=0))  # kept: loaded once
    array = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    analysis, _ = served.maps(spec, array, drop=("layer2.1",))
    assert [v.name for v in analysis.blocks if v.dropped] == ["layer2.1"]
