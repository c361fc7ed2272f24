"""The plots' common vocabulary: the translator type, colours, dashes, sizes, shape text (Plotly only).

Colours are Okabe & Ito's colour-blind-safe set ("Color Universal Design", 2008,
https://jfly.uni-koeln.de/color/), and each thing keeps its colour on every page: a λ
value, a stage and a run always get the same one, whatever else is drawn beside it. Curves
also differ by dash (``dash``), so they stay apart on a washed-out projector or in grey.
"""

from __future__ import annotations

import html
import math
from typing import Any, Callable, Sequence

import plotly.graph_objects as go
import plotly.io

from .cache import is_shared, memoised, shared_figure

# Okabe–Ito: black, orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple
PALETTE = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
BLACK, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE = PALETTE
GREY = "#999999"  # Okabe–Ito's grey: the stem, and anything that is not one of the compared things
HIGHLIGHT = YELLOW  # the selected block; never a stage colour, always with a dark outline
# Lines on white: yellow (1.2:1) is too faint for a curve, so the run cycle leaves it out
_RUN_CYCLE = [BLUE, VERMILLION, GREEN, PURPLE, ORANGE, SKY, BLACK]
_DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
_MARKERS = ["circle", "square", "diamond", "triangle-up", "x", "star", "triangle-down"]

# The λ values the lessons compare (presets why_not_2x / Why page): 1 = identity, 2 explodes,
# 0.5 vanishes, 0 = no shortcut at all. Any other λ (the Why page's slider) gets sky blue
# below 1 and reddish purple above, so "shrinks" and "grows" keep their side.
_LAMBDA = {0.0: ORANGE, 0.5: GREEN, 1.0: BLUE, 2.0: VERMILLION}
PLAIN = BLACK  # the plain network (no shortcut) beside λ curves
PREDICTION = "#555555"  # the ∏λ prediction: dashed grey over the measured curves

# Stages in network order: stem 0, stage 1..4 (ResNet-50's layer1..layer4; CIFAR nets use
# 1..3), the head 5. The same colour on the Architecture overview and Feature maps.
_STAGES = [GREY, BLUE, ORANGE, GREEN, VERMILLION, PURPLE]
STAGE_COLORS = _STAGES[1:]  # stage s (1-based) is STAGE_COLORS[s - 1]

# Classroom mode's one scale: figure text, markers and diagram heights here (``for_room``),
# and the page's text, metrics and headings in pages/common/ui.py's CSS, all grow by it.
CLASSROOM_SCALE = 1.3
FONT_SIZE = 12  # Plotly's default figure text size, the base ``for_room`` scales
# Figure text: Streamlit's chart theme draws it grey (#808495, 3.5:1 on white, below WCAG
# AA's 4.5:1); the app's theme is light only (.streamlit/config.toml), so dark text is safe.
TEXT = "#31333F"

Text = Callable[..., str]  # a translator: t(key, **values) -> str


def legend_below() -> dict[str, Any]:
    """A horizontal legend under the plot, placed in the figure's own box (``yref="container"``):
    the plot shrinks to make room for however many rows it needs, so the legend never covers
    an axis title or the data, whatever the width or text size."""
    return dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")


def log_labels(values: Sequence[float | None]) -> dict[str, Any]:
    """A log axis's label settings for ``values``: Plotly labels every digit between powers of
    ten when it thinks there is room, and at classroom size on a narrow or short axis those
    piled on each other ("9" on "100k"). Over more than two decades only the powers of ten
    are labelled; over fewer, 1, 2 and 5 of each decade (``dtick="D2"``), written in full ("200M", "500M", "1B")."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    decades = math.log10(max(positive) / min(positive)) if positive else 0.0
    return {"minorloglabels": "none"} if decades > 2 else {"dtick": "D2", "minorloglabels": "complete"}


def _times(size: Any, scale: float) -> Any:
    """A Plotly size (number, list of numbers, or None) times ``scale``."""
    if size is None:
        return None
    if isinstance(size, (int, float)):
        return size * scale
    return [s * scale for s in size]


def for_room(fig: go.Figure, scale: float) -> go.Figure:
    """The figure to draw for ``fig`` at the room's ``scale`` (``restyle``).

    Every chart of every page view passes here (pages/common/ui.chart), and restyling costs
    as much as building: it is done once per figure and scale (``cache.memoised``). A copy
    from ``cache.shared_figure`` is known by its input; any other figure by its JSON, so a
    page's own changes count.
    """
    if not is_shared(fig):
        fig = _known_by_json(fig)
    return memoised(fig, scale, lambda f: restyle(f, scale))


@shared_figure(maxsize=64, key=lambda fig: plotly.io.to_json(fig))
def _known_by_json(fig: go.Figure) -> go.Figure:
    return fig


def restyle(fig: go.Figure, scale: float) -> go.Figure:
    """The figure to draw for ``fig``: text in ``TEXT`` colour, and text, markers and height
    ``scale`` times larger (classroom mode). ``fig`` itself may be changed (no copy: copying
    validates the whole figure again), so pass one made for this drawing, as the builders
    and ``cache.shared_figure`` return; draw the figure returned.

    Plotly lays the figure out for the sizes it is given: text enlarged afterwards (by CSS)
    spills out of its boxes and under the legend, so the classroom size is set here, before
    Plotly measures anything. Annotation boxes grow with their text; figures keep their
    boxes apart in data units, and the taller figure keeps those gaps in proportion. Axis
    and legend text get explicit sizes: Streamlit's chart theme sets smaller ones.
    """
    size = (fig.layout.font.size or FONT_SIZE) * scale
    fig.update_layout(font=dict(size=size, color=fig.layout.font.color or TEXT), legend_font_size=size)
    if fig.layout.title.text:  # Streamlit's chart theme gives titles a fixed size of their own
        fig.update_layout(title_font_size=size * 1.25)
    axis_text = dict(tickfont_size=size, tickfont_color=TEXT, title_font_size=size, title_font_color=TEXT)
    fig.for_each_xaxis(lambda axis: axis.update(**axis_text))
    fig.for_each_yaxis(lambda axis: axis.update(**axis_text))
    bar_text = dict(tickfont=dict(size=size, color=TEXT), title_font=dict(size=size, color=TEXT))
    for trace in fig.data:  # colour bars (heatmaps) have their own text, on the trace or on a shared colour axis
        if getattr(trace, "showscale", None) is not False and hasattr(trace, "colorbar"):
            trace.colorbar.update(**bar_text)
    if fig.layout.coloraxis.colorscale is not None:
        fig.layout.coloraxis.colorbar.update(**bar_text)
    if scale == 1:
        return fig
    for annotation in fig.layout.annotations:
        if annotation.font.size:
            annotation.font.size *= scale
    for trace in fig.data:
        if getattr(trace, "marker", None) is not None and hasattr(trace.marker, "size"):
            trace.marker.size = _times(trace.marker.size, scale)
        if getattr(trace, "textfont", None) is not None:
            trace.textfont.size = _times(trace.textfont.size, scale)
    if fig.layout.height:
        fig.update_layout(height=fig.layout.height * scale)
    return fig


def lambda_colour(lam: float) -> str:
    """λ's colour on every chart: 1 blue, 2 vermillion, 0.5 green, 0 orange; others sky / purple."""
    lam = round(float(lam), 4)  # 0.5 from a slider step is 0.5000000001 at times
    return _LAMBDA.get(lam, SKY if lam < 1 else PURPLE)


def stage_colour(stage: int) -> str:
    """Stage ``stage``'s colour: 0 = stem, 1..4 = the residual stages, 5 = head."""
    return _STAGES[min(max(stage, 0), len(_STAGES) - 1)]


def run_colour(run_id: int) -> str:
    """A lab run's colour, from its id: the same whichever other runs are on the chart.

    Ids 7 apart share a colour; ``dash(run_id // 7)`` tells those apart.
    """
    return _RUN_CYCLE[run_id % len(_RUN_CYCLE)]


def dash(i: int) -> str:
    """The i-th line dash (Plotly ``line.dash``), so curves differ by more than colour."""
    return _DASHES[i % len(_DASHES)]


def marker(i: int) -> str:
    """The i-th marker symbol (Plotly ``marker.symbol``), for curves drawn with markers."""
    return _MARKERS[i % len(_MARKERS)]


def plain(text: str) -> str:
    """``text`` shown as itself in a Plotly label: Plotly reads a subset of HTML there
    (``<a href>``, ``<b>``, ``<br>``), so names users choose (folders, classes) are escaped."""
    return html.escape(text, quote=False)


def short_name(block: str) -> str:
    """A block's label on a crowded axis: "layer3.4" → "3.4" (other names as they are)."""
    return block.removeprefix("layer")


def shape_text(shape: Sequence[int]) -> str:
    """[10, 64, 56, 56] → "10×64×56×56"."""
    return "×".join(str(d) for d in shape)
