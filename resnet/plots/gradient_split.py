"""The gradient split per block (``resnet.inference.gradient_record``), for the Why page's Q1 (Plotly only)."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..inference.gradient_record import BlockSplit
from .cache import shared_figure
from .style import BLUE, GREEN, ORANGE, PLAIN, PURPLE, SKY, Text, dash, lambda_colour, legend_below, marker, short_name

# Each measured family's colour; λ keeps the colour it has on every chart (``style.lambda_colour``).
FAMILY_COLOURS = {"full_preact": BLUE, "original": SKY, "plain": PLAIN, "exclusive_gate": ORANGE, "shortcut_gate": PURPLE}


def family_label(unit: str, shortcut: str, scale: float) -> str:
    """A family as the legend names it: its unit and shortcut by their one name (the URL's), λ when it scales."""
    return f"{unit} · {shortcut}" + (f" λ = {scale:g}" if shortcut == "scaled" else "")


def family_colour(name: str, scale: float) -> str:
    return lambda_colour(scale) if name.startswith("scaled") else FAMILY_COLOURS.get(name, GREEN)


@shared_figure(maxsize=8)  # one measurement, read by every visitor of the Why page
def gradient_split_figure(
    at_init: Sequence[tuple[str, str, list[BlockSplit]]], trained: Sequence[tuple[str, str, list[BlockSplit]]], t: Text,
) -> go.Figure:
    """Three panels: the identity share per block at initialisation, what the shortcut multiplies the gradient
    by per block at initialisation, and the identity share per block of trained nets.

    ``at_init`` and ``trained``: (legend label, colour, per-block splits) per net.
    """
    share, init = t("why.grad_panel_share"), t("why.grad_panel_init")
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(  # two lines: three fit side by side
        f"{share}<br>{init}", f"{t('why.grad_panel_gain')}<br>{init}", f"{share}<br>{t('why.grad_panel_trained')}"))
    for i, (label, colour, splits) in enumerate(at_init):
        names = [short_name(s.name) for s in splits]
        style = dict(mode="lines+markers", line=dict(color=colour, width=2, dash=dash(i)), marker=dict(symbol=marker(i), size=7),
                     legendgroup=label)
        fig.add_trace(go.Scatter(x=names, y=[s.identity_share for s in splits], name=label, **style), row=1, col=1)
        fig.add_trace(go.Scatter(x=names, y=[s.shortcut_gain for s in splits], name=label, showlegend=False, **style), row=1, col=2)
    for i, (label, colour, splits) in enumerate(trained, start=len(at_init)):
        fig.add_trace(go.Scatter(
            x=[short_name(s.name) for s in splits], y=[s.identity_share for s in splits], name=label, mode="lines+markers",
            line=dict(color=colour, width=2, dash=dash(i)), marker=dict(symbol=marker(i), size=6)), row=1, col=3)
    for col in (1, 3):
        fig.update_yaxes(range=[-0.03, 1.03], row=1, col=col)
    fig.update_yaxes(title=t("why.grad_share_axis"), row=1, col=1)
    fig.update_yaxes(title=t("why.grad_gain_axis"), rangemode="tozero", row=1, col=2)
    fig.update_xaxes(title=t("why.block_axis"), tickangle=-45, type="category")  # "1.0" is a block's name, not a number
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=60, b=10), legend=legend_below())
    return fig


__all__ = ["FAMILY_COLOURS", "family_label", "family_colour", "gradient_split_figure"]
