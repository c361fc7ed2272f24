"""What every block does to one image: numbers and Plotly figures for the Feature maps page.

    prepared = preprocess(load_image(data).image, lab.preprocess)
    analysis = run(lab.model, prepared.array, labels=lab.classes)
    ablated = run(lab.model, prepared.array, labels=lab.classes, drop_blocks={"layer3.2"})
    comparison = compare(analysis, ablated)

``run`` does one forward pass (``model.forward_features``, or the fast path if given as
``forward``) and keeps batch item 0 of every block's x, F(x), shortcut term and output as
numpy ([C, H, W] float32), with the per-block numbers the page charts. It never changes
the model: a shared model must already be in eval mode.

Which x channel goes with output channel c? When x and the output have the same channel
count (identity shortcut), channel c of x is exactly what the shortcut adds to channel
c. Where the shape changes (the first block of a stage) output channel c is a 1×1
projection of *all* input channels, so the panel shows the input channel with the
largest |weight| in that projection (``x_how == "projection"``); a plain net has no
projection there, and the panel shows the mean over all input channels (``"mean"``).

Colour scales (as CNN Explainer): ``"channel"`` gives each map its own range, ``"block"``
one range for every map of the block (x, F(x), shortcut, output, all channels),
``"shared"`` one range for the whole network. x and the output are ≥ 0 (after ReLU) and
use a sequential scale from 0; F(x) and the shortcut are signed and use a diverging
scale centred on 0, with the same magnitude, so the panels compare directly.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
import paddle
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from .figures import HIGHLIGHT, STAGE_COLORS, Text, shape_text
from .model import Features, ResidualBlock, ResNet, ensure_dygraph

ForwardFeatures = Callable[..., Features]  # (model, x, *, drop_blocks, shortcuts_off) -> Features

SCALE_MODES = ("channel", "block", "shared")
MAPS = ("x", "residual", "shortcut", "out")
TOP_CAMS = 5  # class-activation maps are kept for this many top classes
CHANGE_TOL = 1e-4  # relative change below this is float32 noise (the fast path vs dygraph differ by ~1e-6)
DENSE_ROW = 8  # blocks per stage above which the overview drops the shapes under its markers
SEQUENTIAL, DIVERGING = "Viridis", "RdBu_r"


@dataclass
class BlockView:
    """One block's maps (batch item 0) and numbers."""

    name: str  # "layer2.0"
    stage: int  # 1-based
    x: np.ndarray  # [C_in, H, W], the previous block's output (the stem's for the first)
    residual: np.ndarray  # F(x)      [C_out, H', W']
    shortcut: np.ndarray  # λ·s(x)    [C_out, H', W'] (zeros when off)
    out: np.ndarray  # ReLU(F(x) + shortcut)
    shortcut_kind: str  # "identity" | "projection" | "off"
    scale: float  # λ
    x_how: str  # "same" | "projection" | "mean": which x channel goes with an output channel
    x_source: np.ndarray | None  # for "projection": the input channel shown for each output channel
    residual_ratio: float  # ‖F(x)‖ / ‖x‖ (Frobenius norms over all channels and pixels)
    out_ratio: float  # ‖out‖ / ‖x‖
    channel_means: np.ndarray  # [C_out] mean activation of each output channel
    absmax: float  # largest |value| over x, F(x), shortcut and output
    dropped: bool  # F(x) was zeroed (ablation)


@dataclass
class Prediction:
    index: int
    label: str | None
    prob: float


@dataclass
class Analysis:
    """Everything the page draws for one image, one set of weights, one ablation."""

    stem: np.ndarray  # [C, H, W] input of the first block
    blocks: list[BlockView]
    logits: np.ndarray  # [num_classes]
    probs: np.ndarray  # softmax of the logits
    labels: tuple[str, ...] | None
    cams: dict[int, np.ndarray]  # class index → raw class-activation map [h, w], top classes
    drop_blocks: frozenset[str]
    shortcuts_off: bool
    backend: str  # "dygraph", or the fast path's backend

    def block(self, name: str) -> BlockView:
        for view in self.blocks:
            if view.name == name:
                return view
        raise ValueError(f"no block {name!r}; blocks are {self.blocks[0].name} … {self.blocks[-1].name}")

    @cached_property
    def absmax(self) -> float:
        """The ``"shared"`` colour range: the largest |value| anywhere in the network."""
        return max([float(np.abs(self.stem).max())] + [v.absmax for v in self.blocks])


# ---------------------------------------------------------------------------------
# Running and reading the network
# ---------------------------------------------------------------------------------


def run(
    model: ResNet,
    array: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    drop_blocks: frozenset[str] | set[str] = frozenset(),
    shortcuts_off: bool = False,
    forward: ForwardFeatures | None = None,
) -> Analysis:
    """One forward pass of ``array`` ([1, C, H, W] float32, preprocessed) and its analysis.

    ``forward`` may be ``fastpath.fast_forward_features``; by default the model's own
    ``forward_features`` runs under ``no_grad``.
    """
    ensure_dygraph()
    drop = frozenset(drop_blocks)
    if forward is not None:
        features = forward(model, array, drop_blocks=drop, shortcuts_off=shortcuts_off)
    else:
        if model.training:  # a training-mode forward would update BatchNorm stats of a shared model
            raise ValueError("the model is in training mode: call model.eval() once when loading it")
        with paddle.no_grad():
            features = model.forward_features(paddle.to_tensor(array), drop_blocks=drop, shortcuts_off=shortcuts_off)
    return analyse(model, features, labels, drop_blocks=drop, shortcuts_off=shortcuts_off)


def analyse(
    model: ResNet,
    features: Features,
    labels: Sequence[str] | None = None,
    *,
    drop_blocks: frozenset[str] = frozenset(),
    shortcuts_off: bool = False,
) -> Analysis:
    """Numpy maps and numbers of batch item 0 of ``features`` (from ``model``)."""
    modules = dict(model.named_blocks())
    stem = features.stem[0].numpy()
    x = stem
    views = []
    for trace in features.blocks:
        # forward_features feeds each block the previous output, so x is shared, not copied
        residual, shortcut, out = (t[0].numpy() for t in (trace.residual, trace.shortcut, trace.out))
        views.append(_view(trace.name, modules[trace.name], x, residual, shortcut, out,
                           shortcuts_off, trace.name in drop_blocks))
        x = out
    logits = features.logits[0].numpy().astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    fc = model.fc.weight.numpy()  # [C_last, num_classes]
    top = np.argsort(-probs)[:TOP_CAMS]
    cams = np.einsum("chw,ck->khw", views[-1].out, fc[:, top])
    return Analysis(
        stem=stem, blocks=views, logits=logits, probs=probs,
        labels=tuple(labels) if labels is not None else None,
        cams={int(k): cams[i] for i, k in enumerate(top)},
        drop_blocks=frozenset(drop_blocks), shortcuts_off=shortcuts_off,
        backend=getattr(features, "backend", "dygraph"),
    )


def _view(name: str, module: ResidualBlock, x: np.ndarray, residual: np.ndarray, shortcut: np.ndarray, out: np.ndarray,
          shortcuts_off: bool, dropped: bool) -> BlockView:
    projection = getattr(module, "downsample", None)
    scale = float(module.scale)
    if shortcuts_off or scale == 0.0:
        kind = "off"
    else:
        kind = "identity" if projection is None else "projection"
    if x.shape[0] == out.shape[0] and projection is None:
        x_how, source = "same", None
    elif projection is not None:
        weight = projection[0].weight.numpy()[:, :, 0, 0]  # [C_out, C_in] of the 1×1 conv
        x_how, source = "projection", np.abs(weight).argmax(axis=1)
    else:
        x_how, source = "mean", None
    norm_x = float(np.linalg.norm(x))
    return BlockView(
        name=name, stage=int(name.split(".")[0].removeprefix("layer")),
        x=x, residual=residual, shortcut=shortcut, out=out,
        shortcut_kind=kind, scale=scale, x_how=x_how, x_source=source,
        residual_ratio=float(np.linalg.norm(residual)) / norm_x if norm_x else math.nan,
        out_ratio=float(np.linalg.norm(out)) / norm_x if norm_x else math.nan,
        channel_means=out.mean(axis=(1, 2)),
        absmax=max(float(np.abs(a).max()) for a in (x, residual, shortcut, out)),
        dropped=dropped,
    )


def top_channels(view: BlockView, k: int) -> list[int]:
    """The ``k`` output channels with the largest mean activation, strongest first."""
    return [int(c) for c in np.argsort(-view.channel_means, kind="stable")[:k]]


def top_k(analysis: Analysis, k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes, with names when the weights have them."""
    order = np.argsort(-analysis.probs, kind="stable")[:k]
    return [Prediction(int(i), analysis.labels[i] if analysis.labels else None, float(analysis.probs[i])) for i in order]


@dataclass
class ChannelPanel:
    """The four maps of one output channel of one block."""

    block: str
    channel: int
    x: np.ndarray  # [H, W]
    x_channel: int | None  # None when x is the mean over all input channels
    x_how: str  # "same" | "projection" | "mean"
    residual: np.ndarray  # [H', W']
    shortcut: np.ndarray
    out: np.ndarray


def channel_panel(view: BlockView, channel: int) -> ChannelPanel:
    """x, F(x), shortcut and output for output channel ``channel`` (see the module doc for x)."""
    if not 0 <= channel < view.out.shape[0]:
        raise ValueError(f"{view.name} has channels 0 … {view.out.shape[0] - 1}, got {channel}")
    if view.x_how == "same":
        x_channel = channel
    elif view.x_how == "projection":
        x_channel = int(view.x_source[channel])
    else:
        x_channel = None
    x = view.x[x_channel] if x_channel is not None else view.x.mean(axis=0)
    return ChannelPanel(view.name, channel, x, x_channel, view.x_how,
                        view.residual[channel], view.shortcut[channel], view.out[channel])


def color_limit(analysis: Analysis, view: BlockView, values: np.ndarray, mode: str) -> float:
    """The |value| a map's colour scale reaches in ``mode`` (``SCALE_MODES``)."""
    if mode == "channel":
        limit = float(np.abs(values).max())
    elif mode == "block":
        limit = view.absmax
    elif mode == "shared":
        limit = analysis.absmax
    else:
        raise ValueError(f"colour-scale mode must be one of {SCALE_MODES}, got {mode!r}")
    return limit or 1.0  # an all-zero map (a dropped F(x)) still needs a non-empty range


def class_activation_map(analysis: Analysis, size: int | None = None, cls: int | None = None) -> np.ndarray:
    """CAM (Zhou et al. 2016) of class ``cls`` (default: the top one), scaled to 0…1.

    Σ_c w[c, cls] · out_c over the last block's output channels; its spatial mean plus
    the fc bias is the class's logit. Min–max scaled; with ``size``, bilinearly upsampled
    to [size, size] to lie over the center crop, else at the last block's resolution.
    """
    cls = int(np.argmax(analysis.probs)) if cls is None else cls
    if cls not in analysis.cams:
        raise ValueError(f"class-activation maps are kept for the top {TOP_CAMS} classes {sorted(analysis.cams)}")
    cam = analysis.cams[cls]
    span = float(cam.max() - cam.min())
    cam = ((cam - cam.min()) / span if span > 0 else np.zeros_like(cam)).astype(np.float32)
    if size is None:
        return cam
    return np.asarray(Image.fromarray(cam, mode="F").resize((size, size), Image.BILINEAR))


@dataclass
class Comparison:
    """How an ablation changed the network's maps and answer."""

    names: list[str]
    change: np.ndarray  # per block ‖out − out₀‖ / ‖out₀‖ (0: untouched)
    first_changed: str | None  # the first block whose change exceeds CHANGE_TOL
    top1_same: bool
    base: list[Prediction]
    ablated: list[Prediction]
    base_top_prob: tuple[float, float]  # the original top class's probability: before, after


def compare(base: Analysis, ablated: Analysis, k: int = 5) -> Comparison:
    """Block by block, how far the ablated outputs moved from the original ones."""
    names = [v.name for v in base.blocks]
    change = np.array([
        float(np.linalg.norm(a.out - b.out)) / (float(np.linalg.norm(b.out)) or 1.0)
        for b, a in zip(base.blocks, ablated.blocks)
    ])
    changed = np.flatnonzero(change > CHANGE_TOL)
    top = int(np.argmax(base.probs))
    return Comparison(
        names=names, change=change,
        first_changed=names[changed[0]] if len(changed) else None,
        top1_same=top == int(np.argmax(ablated.probs)),
        base=top_k(base, k), ablated=top_k(ablated, k),
        base_top_prob=(float(base.probs[top]), float(ablated.probs[top])),
    )


# ---------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------


def _class_name(pred: Prediction, t: Text) -> str:
    return pred.label.split(",")[0] if pred.label else t("fm.class_n", i=pred.index)


def overview_figure(analysis: Analysis, selected: str | None, t: Text) -> go.Figure:
    """Stem and every block as one map (a row per stage), coloured by ‖F(x)‖/‖x‖.

    Each marker's customdata is "stem" or the block's name, so a click selects it.
    Diamonds have a projection shortcut; an × marks a dropped block. With more than
    ``DENSE_ROW`` blocks in a stage (ResNet-101/152) the shapes move from under the
    markers to the row labels, so the labels do not overlap.
    """
    stages = sorted({v.stage for v in analysis.blocks})
    per_stage = {s: sum(1 for v in analysis.blocks if v.stage == s) for s in stages}
    dense = max(per_stage.values()) > DENSE_ROW
    size, size_selected, font = (18, 26, 9) if dense else (26, 36, 10)
    xs, ys, texts, hovers, symbols = [], [], [], [], []
    column: dict[int, int] = {}
    stage_shape: dict[int, str] = {}
    for v in analysis.blocks:
        xs.append(column.get(v.stage, 0))
        column[v.stage] = xs[-1] + 1
        ys.append(v.stage)
        stage_shape[v.stage] = shape_text(v.out.shape)
        name = v.name.removeprefix("layer")
        texts.append(name if dense else f"{name}<br>{shape_text(v.out.shape)}")
        symbols.append("x" if v.dropped else ("diamond" if v.shortcut_kind == "projection" else "square"))
        hovers.append(t("fm.fig.hover_block", name=v.name, shape_in=shape_text(v.x.shape), shape_out=shape_text(v.out.shape),
                        ratio=f"{v.residual_ratio:.3f}", out_ratio=f"{v.out_ratio:.3f}")
                      + (f"<br>{t('fm.fig.projection')}" if v.shortcut_kind == "projection" else "")
                      + (f"<br>{t('fm.fig.dropped')}" if v.dropped else ""))
    names = [v.name for v in analysis.blocks]
    ratios = [v.residual_ratio for v in analysis.blocks]
    finite = [r for r in ratios if math.isfinite(r)]

    def outline(ns: list[str]) -> dict:
        return dict(color=[HIGHLIGHT if n == selected else "#333" for n in ns], width=[4 if n == selected else 1 for n in ns])

    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[0], y=[0], mode="markers+text",
        text=[t("fm.fig.stem") if dense else f"{t('fm.fig.stem')}<br>{shape_text(analysis.stem.shape)}"],
        textposition="bottom center", textfont=dict(size=font), customdata=["stem"], showlegend=False,
        hovertext=[t("fm.fig.hover_stem", shape=shape_text(analysis.stem.shape))], hoverinfo="text",
        marker=dict(size=size_selected if selected == "stem" else size, color="#bbbbbb", line=outline(["stem"])),
    ))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, textposition="bottom center", textfont=dict(size=font),
        customdata=names, hovertext=hovers, hoverinfo="text", showlegend=False,
        marker=dict(
            size=[size_selected if n == selected else size for n in names], symbol=symbols,
            color=[r if math.isfinite(r) else 0.0 for r in ratios], colorscale="Blues",
            cmin=0.0, cmax=max(finite, default=1.0), line=outline(names),
            colorbar=dict(title=dict(text=t("fm.fig.ratio_residual"), side="right"), thickness=12),
        ),
    ))
    ticks = [t("fm.fig.stem")] + [t("fm.fig.stage_row", i=s) for s in stages]
    if dense:
        ticks = [f"{tick} · {shape}" for tick, shape in zip(ticks, [shape_text(analysis.stem.shape)] + [stage_shape[s] for s in stages])]
    fig.update_yaxes(tickvals=[0] + stages, ticktext=ticks, autorange="reversed", showgrid=False, zeroline=False,
                     range=[max(stages) + 0.9, -0.5])  # room for the last row's labels
    fig.update_xaxes(visible=False, range=[-0.6, max(column.values()) - 0.4])
    fig.update_layout(height=120 + 95 * len(stages), margin=dict(l=10, r=10, t=10, b=10), dragmode=False,
                      clickmode="event+select")
    return fig


def channel_grid_figure(analysis: Analysis, view: BlockView, channels: Sequence[int], mode: str, t: Text,
                        columns: int = 8) -> go.Figure:
    """The block's output maps of ``channels`` as one tiled heatmap (light to draw)."""
    if not channels:
        raise ValueError("no channels to show")
    h, w = view.out.shape[1:]
    cols = min(columns, len(channels))
    rows = math.ceil(len(channels) / cols)
    mosaic = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, dtype=np.float32)
    ids = np.full(mosaic.shape, -1)
    annotations = []
    for i, c in enumerate(channels):
        r, q = divmod(i, cols)
        tile = view.out[c]
        if mode == "channel":  # each tile its own range: show it as a fraction of its max
            tile = tile / color_limit(analysis, view, tile, mode)
        mosaic[r * (h + 1): r * (h + 1) + h, q * (w + 1): q * (w + 1) + w] = tile
        ids[r * (h + 1): r * (h + 1) + h, q * (w + 1): q * (w + 1) + w] = c
        annotations.append(dict(x=q * (w + 1) - 0.5, y=r * (h + 1) - 0.5, text=str(c), showarrow=False,
                                xanchor="left", yanchor="top", font=dict(size=10, color="white"),
                                bgcolor="rgba(0,0,0,0.45)"))
    zmax = 1.0 if mode == "channel" else color_limit(analysis, view, view.out, mode)
    fig = go.Figure(go.Heatmap(
        z=mosaic, customdata=ids, zmin=0.0, zmax=zmax, colorscale=SEQUENTIAL, hoverongaps=False,
        colorbar=dict(title=dict(text=t("fm.fig.fraction_of_max") if mode == "channel" else t("fm.fig.activation"),
                                 side="right"), thickness=12),
        hovertemplate=t("fm.fig.channel", c="%{customdata}") + "<br>%{z:.3f}<extra></extra>",
    ))
    fig.update_layout(annotations=annotations, height=80 + 110 * rows, margin=dict(l=0, r=0, t=10, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def channel_panel_figure(analysis: Analysis, view: BlockView, panel: ChannelPanel, mode: str, t: Text) -> go.Figure:
    """x, F(x), shortcut term and output of one channel, side by side."""
    c = panel.channel
    if panel.x_how == "mean":
        x_title = t("fm.fig.x_mean", n=view.x.shape[0])
    else:
        x_title = t(f"fm.fig.x_{panel.x_how}", c=panel.x_channel)
    short_key = view.shortcut_kind + ("_scaled" if view.shortcut_kind != "off" and view.scale != 1.0 else "")
    titles = [x_title, t("fm.fig.residual", c=c), t(f"fm.fig.shortcut_{short_key}", c=c, scale=f"{view.scale:g}"),
              t("fm.fig.out", c=c)]
    maps = [panel.x, panel.residual, panel.shortcut, panel.out]
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.03)
    for i, (name, values) in enumerate(zip(MAPS, maps)):
        limit = color_limit(analysis, view, values, mode)
        signed = name in ("residual", "shortcut")
        fig.add_trace(go.Heatmap(
            z=values, zmin=-limit if signed else 0.0, zmax=limit, colorscale=DIVERGING if signed else SEQUENTIAL,
            colorbar=dict(orientation="h", x=0.125 + 0.25 * i, xanchor="center", y=-0.08, yanchor="top",
                          len=0.22, thickness=10, tickfont=dict(size=9)),
            hovertemplate="(%{x}, %{y})<br>%{z:.3f}<extra></extra>",
        ), row=1, col=i + 1)
        fig.update_xaxes(visible=False, row=1, col=i + 1)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(height=330, margin=dict(l=0, r=0, t=40, b=60))
    return fig


def ratio_figure(analysis: Analysis, t: Text, ablated: Analysis | None = None) -> go.Figure:
    """‖F(x)‖/‖x‖ per block (bars, by stage) and ‖out‖/‖x‖ (line); the ablated run dashed."""
    names = [v.name.removeprefix("layer") for v in analysis.blocks]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=names, y=[v.residual_ratio for v in analysis.blocks], name=t("fm.fig.ratio_residual"),
        marker_color=[STAGE_COLORS[(v.stage - 1) % len(STAGE_COLORS)] for v in analysis.blocks],
    ))
    fig.add_trace(go.Scatter(x=names, y=[v.out_ratio for v in analysis.blocks], mode="lines+markers",
                             name=t("fm.fig.ratio_out"), line=dict(color="#333")))
    if ablated is not None:
        fig.add_trace(go.Scatter(x=names, y=[v.residual_ratio for v in ablated.blocks], mode="lines+markers",
                                 name=t("fm.fig.ablated_series", name=t("fm.fig.ratio_residual")),
                                 line=dict(color="#d62728", dash="dash")))
    fig.add_hline(y=1.0, line=dict(color="#999", width=1, dash="dot"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=t("fm.fig.block_axis"),
                      legend=dict(orientation="h", y=1.08, x=0), bargap=0.25)
    fig.update_xaxes(type="category")  # names like "1.0", "1.1" would otherwise be placed as numbers
    return fig


def top5_figure(analysis: Analysis, t: Text, ablated: Analysis | None = None, k: int = 5) -> go.Figure:
    """The top-k classes as bars; with an ablation, its probabilities for the same classes."""
    preds = top_k(analysis, k)
    labels = [_class_name(p, t) for p in preds][::-1]  # most probable on top
    hover = [p.label or t("fm.class_n", i=p.index) for p in preds][::-1]
    fig = go.Figure(go.Bar(x=[p.prob for p in preds][::-1], y=labels, orientation="h", name=t("fm.fig.original"),
                           hovertext=hover, hovertemplate="%{hovertext}<br>%{x:.1%}<extra></extra>",
                           marker_color="#636efa"))
    if ablated is not None:
        fig.add_trace(go.Bar(x=[float(ablated.probs[p.index]) for p in preds][::-1], y=labels, orientation="h",
                             name=t("fm.fig.ablated"), hovertext=hover,
                             hovertemplate="%{hovertext}<br>%{x:.1%}<extra></extra>", marker_color="#d62728"))
    fig.update_layout(height=60 + 45 * k, margin=dict(l=10, r=10, t=10, b=10), barmode="group",
                      xaxis=dict(title=t("fm.fig.probability"), tickformat=".0%", range=[0, 1.02]),
                      yaxis=dict(automargin=True), showlegend=ablated is not None,
                      legend=dict(orientation="h", y=1.1, x=0))
    return fig


def cam_figure(analysis: Analysis, display: Image.Image, t: Text, cls: int | None = None,
               opacity: float = 0.45) -> go.Figure:
    """The class-activation map of ``cls`` (default: the top class) over the center crop."""
    cls = int(np.argmax(analysis.probs)) if cls is None else cls
    cam = class_activation_map(analysis, None, cls)
    cell = display.size[0] / cam.shape[1]  # the CAM's grid stretched over the crop; the browser interpolates
    pred = Prediction(cls, analysis.labels[cls] if analysis.labels else None, float(analysis.probs[cls]))
    buffer = io.BytesIO()
    display.convert("RGB").save(buffer, "PNG")  # a data URI is ~5× smaller than a pixel array in the JSON
    fig = go.Figure(go.Image(source="data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(),
                             hoverinfo="skip"))
    fig.add_trace(go.Heatmap(z=cam, x0=cell / 2 - 0.5, dx=cell, y0=cell / 2 - 0.5, dy=cell, zsmooth="best",
                             zmin=0.0, zmax=1.0, colorscale="Jet", opacity=opacity, showscale=False,
                             hovertemplate="%{z:.2f}<extra></extra>"))
    fig.update_layout(title=dict(text=t("fm.fig.cam_title", label=_class_name(pred, t), prob=f"{pred.prob:.1%}"),
                                 font=dict(size=13)),
                      height=380, margin=dict(l=0, r=0, t=40, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def ablation_figure(comparison: Comparison, t: Text) -> go.Figure:
    """How far each block's output moved under the ablation (0 before the first change)."""
    names = [n.removeprefix("layer") for n in comparison.names]
    fig = go.Figure(go.Bar(x=names, y=comparison.change, marker_color="#d62728",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title=t("fm.fig.block_axis"), yaxis_title=t("fm.fig.change_axis"))
    fig.update_xaxes(type="category")  # names like "1.0", "1.1" would otherwise be placed as numbers
    return fig


__all__ = [
    "SCALE_MODES", "BlockView", "Prediction", "Analysis", "ChannelPanel", "Comparison", "ForwardFeatures",
    "run", "analyse", "top_channels", "top_k", "channel_panel", "color_limit", "class_activation_map", "compare",
    "overview_figure", "channel_grid_figure", "channel_panel_figure", "ratio_figure", "top5_figure",
    "cam_figure", "ablation_figure",
]
