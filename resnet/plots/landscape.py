"""Loss landscapes (``resnet.lab.surfaces`` payloads): contours and 3-D surfaces side by side, interpolation curves.

Plain Plotly, no Paddle. Every surface of a comparison shares one colour scale (and one z
range), so a steep basin looks steep beside a flat one. The loss is drawn either on a
log scale (log₁₀, the colour bar labelled in loss units) or linearly, clipped at
``LINEAR_CAP`` = 10 as the authors' own contour plots are (Li et al. 2018's code,
plot_2D.py: ``vmax=10``), so one exploded point does not flatten the rest. The run's own
weights, the centre (α, β) = (0, 0), carry a marker in the run's colour. Every chart says
how many training images the loss was measured on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..lab.surfaces import edge_mean
from .cache import by_value, shared_figure
from .curves import FONT
from .style import GREY, Text, log_labels

LINEAR_CAP = 10.0
COLOURSCALE = "Viridis"  # sequential and colour-blind safe: low loss dark, high loss yellow
LOG_FLOOR = 1e-4  # a loss of exactly 0 still gets a place on the log scale


@dataclass(frozen=True)
class Drawn:
    """One run's landscape payload as the charts draw it."""

    name: str  # the subplot's title, the legend entry
    colour: str
    payload: dict[str, Any]


def _values(loss: Sequence[Sequence[float | None]] | Sequence[float | None], log: bool) -> np.ndarray:
    """Losses as plotted: log₁₀ (floored) or clipped at LINEAR_CAP; an overflowed point (None) stays at the top."""
    z = np.array([[math.inf if v is None else v for v in row] for row in loss] if loss and isinstance(loss[0], list)
                 else [math.inf if v is None else v for v in loss], dtype=np.float64)
    if log:
        top = np.nanmax(z[np.isfinite(z)]) if np.isfinite(z).any() else 1.0
        return np.log10(np.clip(np.where(np.isfinite(z), z, top), LOG_FLOOR, None))
    return np.minimum(np.where(np.isfinite(z), z, LINEAR_CAP), LINEAR_CAP)


def _colour_bar(zmin: float, zmax: float, log: bool, t: Text) -> dict[str, Any]:
    """The colour bar; on the log scale its ticks are labelled in loss units (0.01, 0.1, 1, 10…)."""
    bar: dict[str, Any] = {"title": {"text": t("lab.landscape.loss_log" if log else "lab.landscape.loss_linear", cap=f"{LINEAR_CAP:g}")},
                           "thickness": 12}
    if log:
        ticks = list(range(math.floor(zmin), math.ceil(zmax) + 1))
        bar |= {"tickvals": ticks, "ticktext": [_power_text(k) for k in ticks]}
    return bar


def _power_text(k: int) -> str:
    """10^k short enough for a 3-D axis's side: 0.01 … 100 as they are, then "10³", "10⁻³"…"""
    return f"{10.0**k:g}" if -2 <= k <= 2 else "10" + str(k).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _range(drawn: Sequence[Drawn], log: bool) -> tuple[float, float]:
    values = np.concatenate([_values(d.payload["loss"], log).ravel() for d in drawn])
    return float(values.min()), float(values.max())


def _subset_sizes(drawn: Sequence[Drawn]) -> str:
    """How many fixed training images each surface was measured on: "512", or "256 / 512"."""
    return " / ".join(str(n) for n in sorted({int(d.payload["subset"]) for d in drawn}))


def subset_note(drawn: Sequence[Drawn], t: Text) -> str:
    """What the loss was measured on, e.g. "mean cross-entropy on 512 fixed training images …"."""
    return t("lab.landscape.subset", n=_subset_sizes(drawn))


def _title(drawn: Sequence[Drawn], t: Text) -> dict[str, Any]:
    """The figures' title: ``subset_note`` without its BatchNorm detail, which the captions give,
    so that it fits a projector's width."""
    return {"text": t("lab.landscape.measured_on", n=_subset_sizes(drawn)), "font": {"size": 12, "color": "#555555"}}


def loss_text(value: float | None) -> str:
    """A loss in words: 3 significant digits, whole numbers with separators from 1,000 on (a plain net's edge
    reaches millions); "–" for none."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def summary(drawn: Sequence[Drawn], t: Text) -> str:
    """The charts in words: each run's loss at its own weights and on average at the grid's edge."""
    runs = "; ".join(t("lab.landscape.sum_run", name=d.name, centre=loss_text(d.payload.get("center")),
                       edge=loss_text(edge_mean(d.payload["loss"]))) for d in drawn)
    return t("lab.landscape.sum", runs=runs, note=subset_note(drawn, t))


@shared_figure(maxsize=16, key=lambda drawn, *args, **kwargs: (by_value(drawn), args, kwargs))
def contour_figure(drawn: Sequence[Drawn], t: Text, *, log: bool = True) -> go.Figure:
    """One contour plot per run, side by side, one colour scale; the run's weights marked at the centre."""
    zmin, zmax = _range(drawn, log)
    fig = make_subplots(rows=1, cols=len(drawn), subplot_titles=[d.name for d in drawn], horizontal_spacing=0.06)
    for i, d in enumerate(drawn, start=1):
        coords = d.payload["coords"]
        fig.add_trace(go.Contour(
            x=coords, y=coords, z=_values(d.payload["loss"], log), zmin=zmin, zmax=zmax, colorscale=COLOURSCALE,
            ncontours=24, showscale=i == len(drawn), colorbar=_colour_bar(zmin, zmax, log, t),
            contours={"coloring": "heatmap", "showlines": True}, line={"width": 0.5, "color": "rgba(255,255,255,0.5)"},
            hovertemplate="α %{x:.2f}, β %{y:.2f}<extra>" + d.name + "</extra>", name=d.name,
        ), row=1, col=i)
        fig.add_trace(go.Scatter(
            x=[0], y=[0], mode="markers", name=t("lab.landscape.own_point"), showlegend=False,
            marker={"symbol": "star", "size": 16, "color": d.colour, "line": {"color": "white", "width": 1.5}},
            hovertemplate=t("lab.landscape.own_point") + f" · {d.payload.get('center') or float('nan'):.4g}<extra>{d.name}</extra>",
        ), row=1, col=i)
        fig.update_xaxes(title_text=t("lab.landscape.alpha"), row=1, col=i)
        fig.update_yaxes(title_text=t("lab.landscape.beta") if i == 1 else None, scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 60, "b": 10}, font=FONT,
                      title=_title(drawn, t))
    return fig


@shared_figure(maxsize=16, key=lambda drawn, *args, **kwargs: (by_value(drawn), args, kwargs))
def surface_figure(drawn: Sequence[Drawn], t: Text, *, log: bool = True) -> go.Figure:
    """The same landscapes as 3-D surfaces side by side, one colour scale and one z range."""
    zmin, zmax = _range(drawn, log)
    fig = make_subplots(rows=1, cols=len(drawn), specs=[[{"type": "scene"}] * len(drawn)],
                        subplot_titles=[d.name for d in drawn], horizontal_spacing=0.02)
    for i, d in enumerate(drawn, start=1):
        coords, z = d.payload["coords"], _values(d.payload["loss"], log)
        fig.add_trace(go.Surface(
            x=coords, y=coords, z=z, cmin=zmin, cmax=zmax, colorscale=COLOURSCALE, showscale=i == len(drawn),
            colorbar=_colour_bar(zmin, zmax, log, t), name=d.name,
            hovertemplate="α %{x:.2f}, β %{y:.2f}<extra>" + d.name + "</extra>",
        ), row=1, col=i)
        centre = z[len(coords) // 2, len(coords) // 2] if len(coords) % 2 else None
        if centre is not None:
            fig.add_trace(go.Scatter3d(x=[0], y=[0], z=[centre], mode="markers", showlegend=False, name=t("lab.landscape.own_point"),
                                       marker={"size": 5, "color": d.colour, "line": {"color": "white", "width": 1}}), row=1, col=i)
        scene = "scene" if i == 1 else f"scene{i}"
        # no z title: drawn beside the cube it falls out of the scene; the colour bar's title names the loss and its scale
        z_axis = {"title": {"text": ""}, "range": [zmin, zmax]}
        if log:  # the z axis in loss units too, as the colour bar
            z_axis |= {key: _colour_bar(zmin, zmax, log, t)[key] for key in ("tickvals", "ticktext")}
        # the eye far enough that the cube's tick labels and axis titles, drawn around it, stay in its scene
        fig.layout[scene].update(xaxis_title="α", yaxis_title="β", zaxis=z_axis,
                                 camera={"eye": {"x": 2.1, "y": 2.1, "z": 1.4}}, aspectmode="cube")
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 60, "b": 10}, font=FONT,
                      title=_title(drawn, t))
    return fig


@shared_figure(maxsize=16, key=lambda drawn, *args, **kwargs: (by_value(drawn), args, kwargs))
def interpolation_figure(drawn: Sequence[Drawn], t: Text, *, log: bool = True) -> go.Figure:
    """Loss along θ(t) = (1 − t)·θ₀ + t·θ₁ for each run (Goodfellow et al. 2015); θ₀ and θ₁ marked."""
    fig = go.Figure()
    for d in drawn:
        fig.add_trace(go.Scatter(x=d.payload["t"], y=d.payload["loss"], mode="lines+markers", name=d.name,
                                 line={"color": d.colour, "width": 2}, marker={"size": 4}, connectgaps=False,
                                 hovertemplate="t = %{x:.2f}: %{y:.4g}<extra>" + d.name + "</extra>"))
    for x, key in ((0.0, "lab.landscape.init"), (1.0, "lab.landscape.final")):
        fig.add_vline(x=x, line={"color": GREY, "dash": "dot", "width": 1}, annotation_text=t(key), annotation_position="top")
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 60, "b": 10}, font=FONT, hovermode="x unified",
                      title=_title(drawn, t),
                      xaxis_title=t("lab.landscape.interp_x"), yaxis_title=t("lab.landscape.loss_axis"),
                      legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0})
    if log:  # a diverging net's curve spans dozens of decades: powers of ten, one notation ("1T" beside "10²⁰" before)
        fig.update_yaxes(type="log", exponentformat="power",
                         **log_labels([v for d in drawn for v in d.payload["loss"] if isinstance(v, (int, float))]))
    return fig

