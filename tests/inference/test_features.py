"""Feature-map analysis on a real ResNet-50 at 64×64: the numbers, ablations, figures."""

from __future__ import annotations

import numpy as np
import paddle
import plotly.graph_objects as go
import pytest

from resnet.inference import features
from resnet.plots import features as feature_plots
from resnet.inference.images import load_sample
from resnet.model.preprocess import Preprocess, preprocess
from resnet.model import resnet
from resnet.model.weights import imagenet_labels, random_model

SPEC = Preprocess(resize=64, crop=64)
# Every translator key the figure builders use (the page's catalogs must have them all).
FIGURE_KEYS = {
    "fm.fig.stem", "fm.fig.stage_row", "fm.fig.hover_stem", "fm.fig.hover_block", "fm.fig.projection",
    "fm.fig.dropped", "fm.fig.ratio_residual", "fm.fig.ratio_out", "fm.fig.ablated_series", "fm.fig.block_axis",
    "fm.fig.channel", "fm.fig.fraction_of_max", "fm.fig.activation", "fm.fig.x_same", "fm.fig.x_projection",
    "fm.fig.x_mean", "fm.fig.residual", "fm.fig.shortcut_identity", "fm.fig.shortcut_identity_scaled",
    "fm.fig.shortcut_projection", "fm.fig.shortcut_projection_scaled", "fm.fig.shortcut_off", "fm.fig.out", "fm.fig.probability", "fm.fig.original",
    "fm.fig.pad", "fm.fig.x_pad", "fm.fig.x_padded", "fm.fig.shortcut_pad", "fm.fig.shortcut_pad_scaled",
    "fm.fig.ablated", "fm.fig.cam_title", "fm.fig.change_axis", "fm.class_n", "fm.grid_hover",
    "fm.fig.panel_scale.block", "fm.fig.panel_scale.channel", "fm.fig.panel_scale.shared",
}


@pytest.fixture(scope="module")
def lab():
    return random_model(50, seed=0)


@pytest.fixture(scope="module")
def prepared():
    return preprocess(load_sample("cat").image, SPEC)


@pytest.fixture(scope="module")
def base(lab, prepared):
    return features.run(lab.model, prepared.array, labels=imagenet_labels())


def analysis_of(prepared, **kwargs) -> features.Analysis:
    model = resnet(50, **kwargs)
    model.eval()
    return features.run(model, prepared.array)


@pytest.fixture(scope="module")
def plain(prepared):
    return analysis_of(prepared, shortcut="none")


@pytest.fixture(scope="module")
def doubled(prepared):
    return analysis_of(prepared, shortcut="scaled", scale=2.0)


def option_a(prepared, scale: float) -> features.Analysis:
    """A CIFAR ResNet-20: option A (subsample + zero-pad) at layer2.0 and layer3.0."""
    paddle.seed(3)
    model = resnet(20, num_classes=10, shortcut="scaled", scale=scale)
    model.eval()
    return features.run(model, prepared.array)


@pytest.fixture(scope="module")
def option_a_doubled(prepared):
    return option_a(prepared, 2.0)


class Recorder:
    """A translator that remembers the keys asked for."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def __call__(self, key: str, **values) -> str:
        self.keys.add(key)
        return key + "".join(f" {k}={v}" for k, v in sorted(values.items()))


def test_blocks_shapes_and_shared_inputs(base):
    assert [v.name for v in base.blocks][:4] == ["layer1.0", "layer1.1", "layer1.2", "layer2.0"]
    assert len(base.blocks) == 16
    assert base.stem.shape == (64, 16, 16)
    assert [base.block(f"layer{i}.0").out.shape for i in range(1, 5)] == [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]
    assert base.blocks[0].x is base.stem
    assert all(b.x is a.out for a, b in zip(base.blocks, base.blocks[1:]))
    for v in base.blocks:  # out = ReLU(F(x) + shortcut), in the numpy copies too
        np.testing.assert_allclose(v.out, np.maximum(v.residual + v.shortcut, 0), atol=1e-4 * v.absmax)


def test_norm_ratios_match_a_hand_computation(lab, prepared, base):
    with paddle.no_grad():
        features = lab.model.forward_features(paddle.to_tensor(prepared.array))
    for view, trace in zip(base.blocks, features.blocks):
        norm_x = float(paddle.linalg.norm(trace.x))
        assert view.residual_ratio == pytest.approx(float(paddle.linalg.norm(trace.residual)) / norm_x, rel=1e-5)
        assert view.out_ratio == pytest.approx(float(paddle.linalg.norm(trace.out)) / norm_x, rel=1e-5)


def test_top_channels_are_the_largest_mean_activations(base):
    view = base.block("layer2.1")
    means = view.out.mean(axis=(1, 2))
    top = features.top_channels(view, 8)
    assert len(top) == 8 and len(set(top)) == 8
    assert np.all(np.diff(means[top]) <= 0)
    assert means[top[-1]] >= np.delete(means, top).max()


def test_channel_panel_for_identity_and_projection_blocks(lab, base):
    identity = features.channel_panel(base.block("layer1.1"), 7)
    assert identity.x_how == "same" and identity.x_channel == 7
    np.testing.assert_array_equal(identity.shortcut, identity.x)  # λ = 1: the shortcut *is* x

    view = base.block("layer2.0")  # 256 → 512 channels, stride 2: a 1×1 projection
    panel = features.channel_panel(view, 300)
    weight = dict(lab.model.named_blocks())["layer2.0"].downsample[0].weight.numpy()[300, :, 0, 0]
    assert panel.x_how == "projection" and panel.x_channel == int(np.abs(weight).argmax())
    assert panel.x.shape == (16, 16) and panel.out.shape == (8, 8)
    with pytest.raises(ValueError):
        features.channel_panel(view, 512)


def test_plain_net_and_scaled_shortcuts(plain, doubled):
    view = plain.block("layer2.0")  # no projection: 256 → 512 channels
    panel = features.channel_panel(view, 3)
    assert view.shortcut_kind == "off" and panel.x_how == "mean" and panel.x_channel is None
    np.testing.assert_allclose(panel.x, view.x.mean(axis=0))
    assert not view.shortcut.any()

    view = doubled.block("layer1.1")
    assert view.scale == 2.0
    np.testing.assert_allclose(view.shortcut, 2.0 * view.x)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_channel_panel_for_option_a_blocks(prepared, scale):
    analysis = option_a(prepared, scale)
    view = analysis.block("layer2.0")  # 16 → 32 channels, 64 → 32 pixels, no weights on the shortcut
    assert (view.shortcut_kind, view.x_how, view.x_source) == ("pad", "pad", None)
    assert [v.shortcut_kind for v in analysis.blocks].count("pad") == 2
    kept = features.channel_panel(view, 5)
    assert (kept.x_how, kept.x_channel) == ("pad", 5)
    np.testing.assert_array_equal(kept.x, view.x[5])
    np.testing.assert_allclose(kept.shortcut, scale * view.x[5][::2, ::2], rtol=1e-6)
    padded = features.channel_panel(view, 16)  # the first of the zero channels
    assert (padded.x_how, padded.x_channel) == ("padded", None)
    assert padded.x.shape == view.x.shape[1:] and not padded.x.any() and not padded.shortcut.any()
    np.testing.assert_allclose(padded.out, np.maximum(padded.residual, 0))  # F(x) alone makes it


def test_colour_scale_modes(base):
    view = base.block("layer3.2")
    one = view.residual[5]
    channel = features.color_limit(base, view, one, "channel")
    block = features.color_limit(base, view, one, "block")
    shared = features.color_limit(base, view, one, "shared")
    assert channel == pytest.approx(float(np.abs(one).max()))
    assert block == pytest.approx(max(float(np.abs(a).max()) for a in (view.x, view.residual, view.shortcut, view.out)))
    assert channel <= block <= shared == pytest.approx(base.absmax)
    with pytest.raises(ValueError):
        features.color_limit(base, view, one, "global")


def test_predictions_and_class_activation_map(lab, base):
    top = features.top_k(base, 5)
    assert [p.prob for p in top] == sorted((p.prob for p in top), reverse=True)
    assert base.probs.sum() == pytest.approx(1.0)
    assert top[0].label == imagenet_labels()[top[0].index]
    bias = lab.model.fc.bias.numpy()
    for p in top:  # global average pooling then fc: the CAM's mean plus the bias is the logit
        assert base.cams[p.index].mean() + bias[p.index] == pytest.approx(base.logits[p.index], rel=1e-4, abs=1e-3)
    cam = features.class_activation_map(base, 64)
    assert cam.shape == (64, 64) and cam.min() >= 0 and cam.max() == pytest.approx(1.0, abs=1e-6)


def test_dropping_a_block_changes_only_it_and_later_blocks(lab, prepared, base):
    ablated = features.run(lab.model, prepared.array, labels=imagenet_labels(), drop_blocks={"layer3.1"})
    comparison = features.compare(base, ablated)
    names = comparison.names
    at = names.index("layer3.1")
    assert np.all(comparison.change[:at] == 0.0)
    assert np.all(comparison.change[at:] > features.CHANGE_TOL)
    assert comparison.first_changed == "layer3.1"
    dropped = ablated.block("layer3.1")
    assert dropped.dropped and not dropped.residual.any() and dropped.residual_ratio == 0.0
    np.testing.assert_array_equal(ablated.block("layer2.3").out, base.block("layer2.3").out)
    assert not np.array_equal(ablated.probs, base.probs)
    assert comparison.base_top_prob[0] == pytest.approx(float(base.probs.max()))


def test_shortcuts_off_changes_every_block(lab, prepared, base):
    ablated = features.run(lab.model, prepared.array, shortcuts_off=True)
    comparison = features.compare(base, ablated)
    assert comparison.first_changed == "layer1.0" and np.all(comparison.change > features.CHANGE_TOL)
    assert all(v.shortcut_kind == "off" and not v.shortcut.any() for v in ablated.blocks)


def test_run_refuses_a_model_in_training_mode(prepared):
    model = resnet(18)  # a new model is in training mode
    with pytest.raises(ValueError, match="training mode"):
        features.run(model, prepared.array)


def test_run_uses_a_given_forward(lab, prepared, base):
    calls = []

    def forward(model, x, *, drop_blocks, shortcuts_off):
        calls.append((drop_blocks, shortcuts_off))
        with paddle.no_grad():
            return model.forward_features(paddle.to_tensor(x), drop_blocks=drop_blocks, shortcuts_off=shortcuts_off)

    again = features.run(lab.model, prepared.array, forward=forward)
    assert calls == [(frozenset(), False)]
    np.testing.assert_array_equal(again.logits, base.logits)


def test_channel_grid_places_labels_click_targets_and_highlight_on_the_same_tiles(base):
    """One tiling for the mosaic, the channel labels, the invisible click markers and the outline."""
    view = base.block("layer2.0")  # [512, 8, 8] at 64 px
    channels = features.top_channels(view, 11)  # 8 + 3: a partial last row
    fig = feature_plots.channel_grid_figure(base, view, channels, "shared", lambda key, **v: key, selected=channels[9])
    heatmap, markers = fig.data
    h, w = view.out.shape[1:]
    assert heatmap.z.shape == (2 * (h + 1) - 1, 8 * (w + 1) - 1)
    assert list(markers.customdata) == channels
    for x, y, c, label in zip(markers.x, markers.y, markers.customdata, fig.layout.annotations):
        row, col = int(y), int(x)  # a marker sits inside its own tile…
        assert heatmap.customdata[row][col] == c
        np.testing.assert_array_equal(heatmap.z[row - row % (h + 1)][col - col % (w + 1):][:w], view.out[c][0])
        assert (label.text, label.x + 0.5, label.y + 0.5) == (str(c), col - col % (w + 1), row - row % (h + 1))  # …labelled at its corner
    (outline,) = fig.layout.shapes
    corner = int(outline.y0 + 0.5), int(outline.x0 + 0.5)
    assert (outline.x1 - outline.x0, outline.y1 - outline.y0) == (w, h)
    assert heatmap.customdata[corner[0]][corner[1]] == channels[9] == heatmap.customdata[corner[0] + h - 1][corner[1] + w - 1]
    assert not feature_plots.channel_grid_figure(base, view, channels, "shared", lambda key, **v: key).layout.shapes


def test_figures_build_with_fm_keys(lab, prepared, base, plain, doubled, option_a_doubled):
    t = Recorder()
    ablated = features.run(lab.model, prepared.array, labels=imagenet_labels(), drop_blocks={"layer2.2"})
    view = base.block("layer1.0")
    channels = features.top_channels(view, 12)
    figures = [
        feature_plots.overview_figure(ablated, "layer2.2", t),
        feature_plots.channel_grid_figure(base, view, channels, "channel", t),
        feature_plots.channel_grid_figure(base, view, channels, "shared", t),
        feature_plots.channel_panel_figure(base, view, features.channel_panel(view, channels[0]), "block", t),
        feature_plots.channel_panel_figure(base, base.block("layer1.1"), features.channel_panel(base.block("layer1.1"), 0), "channel", t),
        feature_plots.ratio_figure(base, t, ablated),
        feature_plots.top5_figure(base, t, ablated),
        feature_plots.cam_figure(base, prepared.display, t),
        feature_plots.ablation_figure(features.compare(base, ablated), t),
    ]
    assert all(isinstance(f, go.Figure) for f in figures)
    overview = figures[0]
    assert list(overview.data[0].customdata) == ["stem"]
    assert list(overview.data[1].customdata) == [v.name for v in base.blocks]
    assert overview.data[1].marker.symbol[base.blocks.index(base.block("layer2.2"))] == "x"
    grid = figures[1].data[0]
    assert grid.z.shape == (2 * 17 - 1, 8 * 17 - 1) and np.nanmax(grid.z) == pytest.approx(1.0)
    assert {int(c) for c in np.unique(grid.customdata) if c >= 0} == set(channels)
    panel = figures[3]  # four maps on one colour axis, symmetric about 0
    assert len(panel.data) == 4 and all(d.coloraxis == "coloraxis" for d in panel.data)
    assert panel.layout.coloraxis.cmin == -panel.layout.coloraxis.cmax
    assert len(figures[6].data) == 2
    no_labels = features.run(lab.model, prepared.array)
    feature_plots.top5_figure(no_labels, t)  # class numbers instead of names
    feature_plots.channel_panel_figure(plain, plain.block("layer2.0"), features.channel_panel(plain.block("layer2.0"), 0), "shared", t)
    for name in ("layer1.0", "layer1.1"):
        feature_plots.channel_panel_figure(doubled, doubled.block(name), features.channel_panel(doubled.block(name), 0), "block", t)
    padded = option_a_doubled.block("layer3.0")
    overview = feature_plots.overview_figure(option_a_doubled, None, t)
    assert [s for s in overview.data[1].marker.symbol].count("triangle-down") == 2  # layer2.0, layer3.0
    for channel in (0, 63):  # a channel of x, subsampled; a zero channel
        feature_plots.channel_panel_figure(option_a_doubled, padded, features.channel_panel(padded, channel), "block", t)
    unscaled = option_a(prepared, 1.0)
    view = unscaled.block("layer2.0")
    feature_plots.channel_panel_figure(unscaled, view, features.channel_panel(view, 0), "block", t)
    assert t.keys == FIGURE_KEYS
