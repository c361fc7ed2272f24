"""Plotly figures of the Feature maps page, drawn from ``resnet.inference.features`` results."""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from ..inference.explore import STEM, classes_shown
from ..inference.features import (
    Analysis, BlockView, ChannelPanel, Comparison, Prediction, class_activation_map, color_limit, top_k,
)
from .cache import shared_figure
from .style import BLUE, GREY, HIGHLIGHT, STAGE_COLORS, VERMILLION, Text, plain, shape_text, short_name

PALE = 0.1  # on the shared scale, a block whose largest |value| is below this fraction of it looks pale: say why
DENSE_ROW = 8  # blocks per stage above which the overview drops the shapes under its markers
SEQUENTIAL, DIVERGING = "Viridis", "RdBu_r"
SHAPE_CHANGE_SYMBOLS = {"projection": "diamond", "pad": "triangle-down"}  # the shortcuts that change the shape



def class_name(pred: Prediction, t: Text) -> str:
    """A class as charts and metrics name it: the first of its names, or "class i"."""
    return pred.label.split(",")[0] if pred.label else t("fm.class_n", i=pred.index)


def block_label(name: str, t: Text) -> str:
    """A block as selectors and titles name it: "the stem" (translated) or the block's own name."""
    return t("fm.fig.stem") if name == STEM else name


def block_caption(view: BlockView, stem: str, t: Text) -> str:
    """The text above a block's maps: its shapes, ‖F(x)‖ / ‖x‖ and its shortcut; for the stem, which
    stem it is (``stem``: ``ResNetConfig.stem``) and its output's shape."""
    if view.name == STEM:
        return t(f"fm.stem_info.{stem}", shape=shape_text(view.out.shape))
    shortcut = t(f"fm.shortcut_kind.{view.shortcut_kind}", scale=f"{view.scale:g}")
    return t("fm.block_info", name=view.name, shape_in=shape_text(view.x.shape), shape_out=shape_text(view.out.shape),
             ratio=view.residual_ratio, out_ratio=view.out_ratio, shortcut=shortcut)


def panel_caption(view: BlockView, panel: ChannelPanel, t: Text) -> str:
    """The text under a channel's x / F(x) / shortcut / output: which x the panel shows, and why."""
    how = "plain" if view.shortcut_kind == "off" and panel.x_how == "same" else panel.x_how  # no shortcut adds x
    return t(f"fm.panel_how.{how}", c=panel.channel, xc=panel.x_channel, n=view.x.shape[0])


def ablation_metrics(comparison: Comparison, t: Text) -> list[dict]:
    """The ablation's three numbers as ``st.metric`` arguments: the first block it changed, whether the
    top class stayed, and that class's probability after (with the change in percentage points)."""
    before, after = comparison.base_top_prob
    return [
        dict(label=t("fm.first_changed"), value=comparison.first_changed or "—"),
        dict(label=t("fm.top1_same"), value=t("fm.yes") if comparison.top1_same else t("fm.no")),
        dict(label=t("fm.top_prob", label=class_name(comparison.base[0], t)), value=f"{after:.1%}",
             delta=t("fm.delta_pp", delta=(after - before) * 100), help=t("fm.top_prob_help", before=before)),
    ]


@shared_figure(maxsize=16)
def overview_figure(analysis: Analysis, selected: str | None, t: Text) -> go.Figure:
    """Stem and every block as one map (a row per stage), coloured by ‖F(x)‖/‖x‖.

    Each marker's customdata is "stem" or the block's name, so a click selects it.
    Diamonds have a projection shortcut (option B), triangles a subsample + zero-pad one
    (option A); an × marks a deleted block (fm.overview_help names every mark). With more than
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
        name = short_name(v.name)
        texts.append(name if dense else f"{name}<br>{shape_text(v.out.shape)}")
        symbols.append("x" if v.dropped else SHAPE_CHANGE_SYMBOLS.get(v.shortcut_kind, "square"))
        hovers.append(t("fm.fig.hover_block", name=v.name, shape_in=shape_text(v.x.shape), shape_out=shape_text(v.out.shape),
                        ratio=f"{v.residual_ratio:.3f}", out_ratio=f"{v.out_ratio:.3f}")
                      + (f"<br>{t(f'fm.fig.{v.shortcut_kind}')}" if v.shortcut_kind in SHAPE_CHANGE_SYMBOLS else "")
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
        marker=dict(size=size_selected if selected == "stem" else size, color=GREY, line=outline(["stem"])),
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


@dataclass(frozen=True)
class Tiling:
    """``n`` maps of ``h``×``w`` laid out in rows of ``columns``, one empty pixel between tiles.

    The single place the grid's geometry lives: the mosaic, the channel labels, the click
    targets and the highlight all place tile ``i`` with it (heatmap pixel coordinates).
    """

    n: int
    h: int
    w: int
    columns: int = 8

    @property
    def cols(self) -> int:
        return min(self.columns, self.n)

    @property
    def rows(self) -> int:
        return math.ceil(self.n / self.cols)

    @property
    def shape(self) -> tuple[int, int]:
        """The mosaic's [rows·(h+1) − 1, cols·(w+1) − 1]."""
        return self.rows * (self.h + 1) - 1, self.cols * (self.w + 1) - 1

    def origin(self, i: int) -> tuple[int, int]:
        """(row, column) of tile ``i``'s top-left pixel in the mosaic."""
        r, q = divmod(i, self.cols)
        return r * (self.h + 1), q * (self.w + 1)

    def box(self, i: int) -> tuple[float, float, float, float]:
        """Tile ``i``'s outline (x0, y0, x1, y1) on the heatmap's axes (pixel centres are integers)."""
        y0, x0 = self.origin(i)
        return x0 - 0.5, y0 - 0.5, x0 + self.w - 0.5, y0 + self.h - 0.5


@shared_figure(maxsize=16)
def channel_grid_figure(analysis: Analysis, view: BlockView, channels: Sequence[int], mode: str, t: Text,
                        selected: int | None = None, columns: int = 8) -> go.Figure:
    """The block's output maps of ``channels`` as one tiled heatmap (light to draw), ``selected`` outlined.

    An invisible marker sits on every tile with the channel as customdata, so a click
    selects a channel (Plotly cannot select points of a heatmap).
    """
    if not channels:
        raise ValueError("no channels to show")
    tiling = Tiling(len(channels), *view.out.shape[1:], columns)
    mosaic = np.full(tiling.shape, np.nan, dtype=np.float32)
    ids = np.full(mosaic.shape, -1)
    boxes = [tiling.box(i) for i in range(len(channels))]
    annotations = []
    for i, c in enumerate(channels):
        y0, x0 = tiling.origin(i)
        tile = view.out[c]  # [h, w]
        if mode == "channel":  # each tile its own range: show it as a fraction of its max
            tile = tile / color_limit(analysis, view, tile, mode)
        mosaic[y0: y0 + tiling.h, x0: x0 + tiling.w] = tile
        ids[y0: y0 + tiling.h, x0: x0 + tiling.w] = c
        annotations.append(dict(x=boxes[i][0], y=boxes[i][1], text=str(c), showarrow=False,
                                xanchor="left", yanchor="top", font=dict(size=10, color="white"),
                                bgcolor="rgba(0,0,0,0.45)"))
    zmax = 1.0 if mode == "channel" else color_limit(analysis, view, view.out, mode)
    fig = go.Figure(go.Heatmap(
        z=mosaic, customdata=ids, zmin=0.0, zmax=zmax, colorscale=SEQUENTIAL, hoverongaps=False,
        colorbar=dict(title=dict(text=t("fm.fig.fraction_of_max") if mode == "channel" else t("fm.fig.activation"),
                                 side="right"), thickness=12),
        hovertemplate=t("fm.fig.channel", c="%{customdata}") + "<br>%{z:.3f}<extra></extra>",
    ))
    fig.add_trace(go.Scatter(
        x=[(x0 + x1) / 2 for x0, _, x1, _ in boxes], y=[(y0 + y1) / 2 for _, y0, _, y1 in boxes],
        customdata=list(channels), mode="markers", showlegend=False, marker=dict(size=40, opacity=0),
        hovertemplate=t("fm.grid_hover", c="%{customdata}") + "<extra></extra>",
    ))
    if selected in channels:
        x0, y0, x1, y1 = boxes[list(channels).index(selected)]
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=HIGHLIGHT, width=3))
    fig.update_layout(annotations=annotations, height=80 + 110 * tiling.rows, margin=dict(l=0, r=0, t=10, b=0),
                      clickmode="event+select", dragmode=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def panel_limit(analysis: Analysis, view: BlockView, panel: ChannelPanel, mode: str) -> float:
    """The one |value| all four maps of a channel's panel share in ``mode``: the largest of the four
    maps ("channel"), of the block ("block") or of the network ("shared")."""
    if mode == "channel":
        return max(color_limit(analysis, view, values, mode) for values in (panel.x, panel.residual, panel.shortcut, panel.out))
    return color_limit(analysis, view, panel.out, mode)


# the panel is made anew on every run from the block and its channel: those are the key
@shared_figure(maxsize=16, key=lambda analysis, view, panel, mode, t: (analysis, view, panel.channel, mode, t))
def channel_panel_figure(analysis: Analysis, view: BlockView, panel: ChannelPanel, mode: str, t: Text) -> go.Figure:
    """x, F(x), shortcut term and output of one channel, side by side, on one colour scale.

    One diverging map and one range (``panel_limit``) for all four: the shortcut's x is
    coloured exactly as x is, and F(x) + shortcut can be read off the colours.
    """
    c = panel.channel
    if panel.x_how == "mean":
        x_title = t("fm.fig.x_mean", n=view.x.shape[0])
    else:
        x_title = t(f"fm.fig.x_{panel.x_how}", c=panel.x_channel)
    short_key = view.shortcut_kind + ("_scaled" if view.shortcut_kind != "off" and view.scale != 1.0 else "")
    titles = [x_title, t("fm.fig.residual", c=c), t(f"fm.fig.shortcut_{short_key}", c=c, scale=f"{view.scale:g}"),
              t("fm.fig.out", c=c)]
    maps = [panel.x, panel.residual, panel.shortcut, panel.out]
    limit = panel_limit(analysis, view, panel, mode)
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.03)
    for i, values in enumerate(maps):
        fig.add_trace(go.Heatmap(z=values, coloraxis="coloraxis", hovertemplate="(%{x}, %{y})<br>%{z:.3f}<extra></extra>"),
                      row=1, col=i + 1)
        fig.update_xaxes(visible=False, row=1, col=i + 1)
        fig.update_yaxes(visible=False, autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(
        height=330, margin=dict(l=0, r=0, t=40, b=60),
        coloraxis=dict(colorscale=DIVERGING, cmin=-limit, cmax=limit, colorbar=dict(
            orientation="h", x=0.5, xanchor="center", y=-0.08, yanchor="top", len=0.5, thickness=10, tickfont=dict(size=10),
            title=dict(text=t(f"fm.fig.panel_scale.{mode}"), side="top", font=dict(size=11)))),
    )
    return fig


def panel_scale_caption(analysis: Analysis, view: BlockView, panel: ChannelPanel, mode: str, t: Text) -> str:
    """What the panel's one colour scale is, in numbers; on the shared scale, why a block may look pale."""
    limit = panel_limit(analysis, view, panel, mode)
    text = t(f"fm.panel_scale.{mode}", limit=f"{limit:.3g}")
    if mode == "shared" and view.absmax < PALE * limit:
        loudest = max(analysis.blocks, key=lambda v: v.absmax)
        text += " " + t("fm.panel_scale.pale", own=f"{view.absmax:.3g}", pct=f"{view.absmax / limit:.0%}", where=loudest.name)
    return text


@shared_figure(maxsize=16)
def ratio_figure(analysis: Analysis, t: Text, ablated: Analysis | None = None) -> go.Figure:
    """‖F(x)‖/‖x‖ per block (bars, by stage) and ‖out‖/‖x‖ (line); the ablated run dashed."""
    names = [short_name(v.name) for v in analysis.blocks]
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
                                 line=dict(color=VERMILLION, dash="dash")))
    fig.add_hline(y=1.0, line=dict(color="#999", width=1, dash="dot"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=t("fm.fig.block_axis"),
                      legend=dict(orientation="h", y=1.08, x=0), bargap=0.25)
    fig.update_xaxes(type="category")  # names like "1.0", "1.1" would otherwise be placed as numbers
    return fig


@shared_figure(maxsize=16)
def top5_figure(analysis: Analysis, t: Text, ablated: Analysis | None = None, k: int = 5) -> go.Figure:
    """The top-k classes as bars; with an ablation, its probabilities for the same classes.

    The class axis is categorical with a label on every bar: digit classes "0"…"9" would
    otherwise be read as numbers and thinned out.
    """
    preds = top_k(analysis, k)
    # Class names may come from a user's folders: shown as text, never as Plotly's HTML.
    labels = [plain(class_name(p, t)) for p in preds][::-1]  # most probable on top
    hover = [plain(p.label or t("fm.class_n", i=p.index)) for p in preds][::-1]
    fig = go.Figure(go.Bar(x=[p.prob for p in preds][::-1], y=labels, orientation="h", name=t("fm.fig.original"),
                           hovertext=hover, hovertemplate="%{hovertext}<br>%{x:.1%}<extra></extra>",
                           marker_color=BLUE))
    if ablated is not None:
        fig.add_trace(go.Bar(x=[float(ablated.probs[p.index]) for p in preds][::-1], y=labels, orientation="h",
                             name=t("fm.fig.ablated"), hovertext=hover,
                             hovertemplate="%{hovertext}<br>%{x:.1%}<extra></extra>", marker_color=VERMILLION))
    fig.update_layout(height=60 + 45 * k, margin=dict(l=10, r=10, t=10, b=10), barmode="group",
                      xaxis=dict(title=t("fm.fig.probability"), tickformat=".0%", range=[0, 1.02]),
                      yaxis=dict(automargin=True, type="category", dtick=1), showlegend=ablated is not None,
                      legend=dict(orientation="h", y=1.1, x=0))
    return fig


def predictions_figure(analysis: Analysis, t: Text, ablated: Analysis | None = None) -> go.Figure:
    """``top5_figure`` of the classes the page shows: all of a small label set, else the top few (``classes_shown``)."""
    return top5_figure(analysis, t, ablated, k=classes_shown(len(analysis.probs)))


@shared_figure(maxsize=16)
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
    fig.update_layout(title=dict(text=t("fm.fig.cam_title", label=plain(class_name(pred, t)), prob=f"{pred.prob:.1%}"),
                                 font=dict(size=13)),
                      height=380, margin=dict(l=0, r=0, t=40, b=0))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def ablation_figure(comparison: Comparison, t: Text) -> go.Figure:
    """How far each block's output moved under the ablation (0 before the first change)."""
    names = [short_name(n) for n in comparison.names]
    fig = go.Figure(go.Bar(x=names, y=comparison.change, marker_color=VERMILLION,
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis_title=t("fm.fig.block_axis"), yaxis_title=t("fm.fig.change_axis"))
    fig.update_xaxes(type="category")  # names like "1.0", "1.1" would otherwise be placed as numbers
    return fig


# -- one line per chart, for screen readers (what it shows, the key number) --------------


def overview_summary(analysis: Analysis, t: Text) -> str:
    """The overview: how many blocks, and the smallest and largest ‖F(x)‖ / ‖x‖ with their blocks."""
    ratios = [(v.residual_ratio, v.name) for v in analysis.blocks if math.isfinite(v.residual_ratio)]
    if not ratios:
        return t("fm.sum.overview_none", n=len(analysis.blocks))
    (low, low_at), (high, high_at) = min(ratios), max(ratios)
    return t("fm.sum.overview", n=len(analysis.blocks), low=f"{low:.3f}", low_at=low_at, high=f"{high:.3f}", high_at=high_at)


def grid_summary(view: BlockView, channels: Sequence[int], t: Text) -> str:
    """The channel grid: which channels of how many, and the strongest one's mean activation."""
    return t("fm.sum.grid", k=len(channels), n=view.out.shape[0], name=view.name, c=channels[0],
             mean=f"{float(view.channel_means[channels[0]]):.3g}")


def panel_summary(panel: ChannelPanel, t: Text) -> str:
    """A channel's panel: the range of each of its four maps."""
    def span(values: np.ndarray) -> str:
        return f"{float(values.min()):.3g} … {float(values.max()):.3g}"
    return t("fm.sum.panel", c=panel.channel, x=span(panel.x), residual=span(panel.residual), shortcut=span(panel.shortcut),
             out=span(panel.out))


def ratio_summary(analysis: Analysis, t: Text) -> str:
    """The ratio chart: the median ‖F(x)‖ / ‖x‖ and the block with the largest."""
    ratios = [(v.residual_ratio, v.name) for v in analysis.blocks if math.isfinite(v.residual_ratio)]
    if not ratios:
        return t("fm.sum.overview_none", n=len(analysis.blocks))
    high, at = max(ratios)
    return t("fm.sum.ratio", n=len(ratios), median=f"{float(np.median([r for r, _ in ratios])):.3f}", high=f"{high:.3f}", at=at)


def predictions_summary(analysis: Analysis, t: Text, ablated: Analysis | None = None) -> str:
    """The predictions chart: the top class and its probability (and the ablated net's for it)."""
    top = top_k(analysis, 2)
    text = t("fm.sum.predictions", label=class_name(top[0], t), prob=f"{top[0].prob:.1%}",
             second=class_name(top[1], t) if len(top) > 1 else "–", prob2=f"{top[1].prob:.1%}" if len(top) > 1 else "–")
    if ablated is not None:
        text += " " + t("fm.sum.predictions_ablated", prob=f"{float(ablated.probs[top[0].index]):.1%}")
    return text


def change_summary(comparison: Comparison, t: Text) -> str:
    """The ablation's change chart: the first block it changed and the largest change."""
    i = int(np.argmax(comparison.change))
    return t("fm.sum.change", first=comparison.first_changed or "—", high=f"{float(comparison.change[i]):.3f}", at=comparison.names[i])


def cam_summary(analysis: Analysis, t: Text) -> str:
    """The class-activation map: which class it is of (its figure's title, on one line, as text)."""
    top = top_k(analysis, 1)[0]
    return t("fm.fig.cam_title", label=class_name(top, t), prob=f"{top.prob:.1%}").replace("<br>", " ")
