"""Plotly figures of the Compute cost page: bars and shares."""

from __future__ import annotations

import plotly.graph_objects as go


def bars(categories: list[str], series: dict[str, list[float]], y_title: str, *, stacked: bool = True,
         log_y: bool = False, height: int = 360) -> go.Figure:
    """One bar trace per series over ``categories``: stacked (parts of a total) or grouped."""
    fig = go.Figure([go.Bar(x=categories, y=values, name=name) for name, values in series.items()])
    fig.update_layout(barmode="stack" if stacked else "group", height=height,
                      margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.18))
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    return fig


def share_donut(parts: dict[str, float], height: int = 300) -> go.Figure:
    """Shares of a whole (zero parts left out)."""
    kept = {k: v for k, v in parts.items() if v > 0}
    fig = go.Figure(go.Pie(labels=list(kept), values=list(kept.values()), hole=0.5, sort=False, textinfo="label+percent"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), showlegend=False)
    return fig
