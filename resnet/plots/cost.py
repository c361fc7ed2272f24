"""Plotly figures of the Compute cost page: bars and shares."""

from __future__ import annotations

import plotly.graph_objects as go

from .cache import shared_figure
from .style import BLUE, GREEN, ORANGE, PURPLE, SKY, VERMILLION, legend_below, log_labels

# One colour per series in order (kernel sizes 1×1, 3×3, 7×7, fc, BN; ours vs paper), the
# same in the bars and the donut: Okabe–Ito, colour-blind safe (see style.py).
SERIES_COLOURS = [BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY]


@shared_figure(maxsize=64)  # every visitor of the page draws the same counts
def bars(categories: list[str], series: dict[str, list[float]], y_title: str, *, stacked: bool = True,
         log_y: bool = False, height: int = 360, horizontal: bool = False) -> go.Figure:
    """One bar trace per series over ``categories``: stacked (parts of a total) or grouped.

    ``horizontal`` lays the bars along x with the categories down the left: long category
    names stay level and readable instead of tilting over each other in a narrow column.
    """
    fig = go.Figure([go.Bar(**({"y": categories, "x": values, "orientation": "h"} if horizontal else {"x": categories, "y": values}),
                            name=name, marker_color=SERIES_COLOURS[i % len(SERIES_COLOURS)])
                     for i, (name, values) in enumerate(series.items())])
    fig.update_layout(barmode="stack" if stacked else "group", height=height,
                      margin=dict(l=10, r=10, t=10, b=10), legend=legend_below(), showlegend=len(series) > 1)
    values_axis, categories_axis = (fig.update_xaxes, fig.update_yaxes) if horizontal else (fig.update_yaxes, fig.update_xaxes)
    values_axis(title=y_title, type="log" if log_y else "linear")
    if log_y:
        values_axis(**log_labels([v for values in series.values() for v in values]))
    categories_axis(automargin=True, autorange="reversed" if horizontal else True)  # horizontal: first category on top
    return fig


def share_labels(parts: dict[str, float]) -> dict[str, str]:
    """Each non-zero part's name with its share of the whole: "1×1 52%", "fc <1%"."""
    total = sum(parts.values())
    return {k: f"{k} {v / total:.0%}" if v / total >= 0.005 else f"{k} <1%" for k, v in parts.items() if v > 0}


@shared_figure(maxsize=16)
def share_donut(parts: dict[str, float], height: int = 300) -> go.Figure:
    """Shares of a whole (zero parts left out; each part keeps its colour from ``bars``).

    The shares are written in the legend under the ring, not on it: labels around a ring
    in a narrow column are cut off, and dark text on the blue part is unreadable.
    """
    colours = {name: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, name in enumerate(parts)}
    kept = {k: v for k, v in parts.items() if v > 0}
    fig = go.Figure(go.Pie(labels=list(share_labels(parts).values()), values=list(kept.values()), hole=0.5, sort=False, textinfo="none",
                           marker_colors=[colours[k] for k in kept]))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=legend_below())
    return fig
