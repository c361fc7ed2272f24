"""Plotly figures of the Why residuals page: degradation, plain vs residual block, λ^L, measured signal."""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go

from .cache import shared_figure
from .curves import ema
from .style import BLUE, PLAIN, PREDICTION, VERMILLION, Text, dash, lambda_colour, legend_below, log_labels, marker


@shared_figure(maxsize=4)  # one per language
def degradation(runs: Sequence[dict[str, Any]], t: Text) -> go.Figure:
    """Training loss per step of the shipped degradation runs (plain and residual, 20 and 56 layers), log y.

    ``runs`` are ``presets.reference_runs("degradation")``. Plain nets are black, nets with
    shortcuts blue (the λ = 1 colour on this page); depth 56 is dashed. The curves are
    lightly smoothed (EMA 0.6) as the lab draws them by default: single batches are noisy.
    """
    fig = go.Figure()
    for run in runs:
        config, metrics = run["config"], run["metrics"]
        plain = config["shortcut"] == "none"
        name = t("why.deg_plain" if plain else "why.deg_residual", depth=config["depth"])
        fig.add_trace(go.Scatter(
            x=metrics["step"], y=ema(metrics["train_loss"], 0.6), mode="lines", name=name,
            line=dict(color=PLAIN if plain else lambda_colour(1.0), width=2.5, dash="dash" if config["depth"] > 20 else "solid"),
        ))
    fig.update_yaxes(type="log", title=t("why.deg_y"))
    fig.update_xaxes(title=t("why.deg_x"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), legend=legend_below())
    return fig


@shared_figure(maxsize=4)  # one per language
def plain_vs_residual(t: Text) -> go.Figure:
    """Two blocks side by side, top to bottom: a plain block and a residual block.

    He et al. 2015, Fig. 2 and Sec. 3.2: conv-BN-ReLU → conv-BN, then the addition, then
    the ReLU. No ReLU before ⊕: it would force F(x) ≥ 0, so a block could only add. The
    plain block is the same stack without the shortcut: conv-BN-ReLU → conv-BN → ReLU.
    Each column's boxes are annotations at its x, in data-flow order.
    """
    fig = go.Figure()
    layer, layer_last = t("why.fig_layer"), t("why.fig_layer_last")
    columns = (
        (0.0, t("why.fig_plain"), ["x", layer, layer_last, "ReLU", "H(x)"], [0, -1, -2, -4, -5]),
        (2.4, t("why.fig_residual"), ["x", layer, layer_last, "⊕", "ReLU", "ReLU(F(x) + x)"], [0, -1, -2, -3, -4, -5]),
    )
    for x0, title, labels, ys in columns:
        fig.add_trace(go.Scatter(x=[x0, x0], y=[0, -5], mode="lines", line=dict(color="#555", width=2), hoverinfo="skip", showlegend=False))
        if "⊕" in labels:  # the shortcut joins at the addition, and F(x) is the two layers it skips
            fig.add_trace(go.Scatter(x=[x0, x0 + 0.9, x0 + 0.9, x0], y=[0, 0, -3, -3], mode="lines",
                                     line=dict(color=VERMILLION, width=3, dash="dot"), hoverinfo="skip", showlegend=False))
            fig.add_annotation(x=x0 + 0.9, y=-1.5, text=t("why.fig_shortcut"), showarrow=False, bgcolor="#fde2e2", font=dict(color="#9a3412"))
            fig.add_annotation(x=x0 - 0.95, y=-1.5, text="F(x)", showarrow=False, font=dict(size=14, color=BLUE))
        for y, label in zip(ys, labels):
            fig.add_annotation(x=x0, y=y, text=label, showarrow=False, bgcolor="#dbeafe" if label in (layer, layer_last) else "#f3f4f6",
                               bordercolor="#444", borderwidth=1, borderpad=6, font=dict(size=13, color="#111"))
        fig.add_annotation(x=x0, y=0.8, text=f"<b>{title}</b>", showarrow=False, font=dict(size=14))
    fig.update_xaxes(visible=False, range=[-1.2, 4.0])
    fig.update_yaxes(visible=False, range=[-5.6, 1.2])
    fig.update_layout(height=440, margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    return fig


@shared_figure(maxsize=64)
def lambda_power(scales: list[float], depth: int, t: Text) -> go.Figure:
    """λ^l for l = 0..depth, one line per λ (its colour on every chart, and its own dash), log y."""
    fig = go.Figure()
    ls = list(range(depth + 1))
    for i, lam in enumerate(scales):
        ys = [abs(lam) ** l if lam != 0 else (1.0 if l == 0 else None) for l in ls]
        fig.add_trace(go.Scatter(x=ls, y=ys, mode="lines", name=f"λ = {lam:g}", line=dict(color=lambda_colour(lam), width=2.5, dash=dash(i))))
    fig.update_yaxes(type="log", title=t("why.power_y"), exponentformat="power")
    fig.update_xaxes(title=t("why.power_x"))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), legend=legend_below())
    return fig


@shared_figure(maxsize=32)
def signal_chart(runs: dict[str, list[Any]], field: str, t: Text, colours: dict[str, str],
                 predicted: tuple[str, list[float]] | None = None) -> go.Figure:
    """Measured RMS per block (``field`` of resnet.inference.signals.BlockSignal) for several variants, log y.

    ``colours`` gives each variant's colour (``style.lambda_colour``; the plain net
    ``style.PLAIN``); each also has its own marker. ``predicted`` = (label, values) overlays
    the ∏λ prediction as a dashed grey line.
    """
    fig = go.Figure()
    for i, (label, signals) in enumerate(runs.items()):
        fig.add_trace(go.Scatter(
            x=[s.name for s in signals], y=[getattr(s, field) for s in signals], mode="lines+markers", name=label,
            line=dict(color=colours[label], width=2), marker=dict(symbol=marker(i), size=7),
        ))
    if predicted is not None:
        names = [s.name for s in next(iter(runs.values()))]
        fig.add_trace(go.Scatter(x=names, y=list(predicted[1]), mode="lines", name=predicted[0],
                                 line=dict(color=PREDICTION, dash="dash", width=2)))
    fig.update_yaxes(type="log", title=t(f"why.{field}"), exponentformat="power",
                     **log_labels([y for trace in fig.data for y in trace.y]))
    fig.update_xaxes(title=t("why.block_axis"), tickangle=-45)
    fig.update_layout(height=440, margin=dict(l=10, r=10, t=10, b=10), legend=legend_below())
    return fig
