"""The class's predictions as a bar chart: answers per choice, the measured choice marked once revealed (Plotly only).

One horizontal bar per choice, in the question's order from the top (choice texts are long:
they sit on the axis, not under it), the count at the end of each bar. Nothing is marked
while answers come in; after the reveal the choice the measurement supports is drawn in
green with "✓ measured", or, when it is only ahead within noise, in orange with its words:
the chart never shows more certainty than the result sentence beside it. The height depends
only on the number of choices, so the chart holds still while answers arrive.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Mapping, Sequence

import plotly.graph_objects as go

from .curves import FONT
from .style import GREEN, GREY, ORANGE, Text

BAR_HEIGHT = 56  # pixels per choice: room for a label of three lines at the classroom scale
FRAME = 90  # title and axis
LABEL_WIDTH = 34  # columns per line of a choice's label on the axis (a Chinese character takes two; longer labels wrap)
_WIDE = "\u2e80-\u9fff\uff00-\uffef"  # CJK characters and full-width forms: a line may break between any two
_PIECES = re.compile(rf"\s*(?:[{_WIDE}]|[^\s{_WIDE}]+)")  # a word or one wide character, with the spaces before it


def wrap(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` in lines of at most ``width`` display columns (a wide character counts two), joined by Plotly's
    "<br>": lines break between words, and between any two Chinese characters."""
    lines, line = [], ""
    for piece in _PIECES.findall(text):
        if line and _columns(line + piece) > width:
            lines.append(line)
            line, piece = "", piece.lstrip()
        line += piece
    return "<br>".join([*lines, line.strip()])


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def answers_figure(choices: Sequence[str], counts: Mapping[int, int], t: Text, *, marked: int | None = None,
                   decided: bool = False) -> go.Figure:
    """``counts`` (choice index → answers) of the ``choices`` (their texts); ``marked``: the index the revealed
    measurement points to (None: nothing marked), ``decided``: whether beyond noise."""
    n = [counts.get(i, 0) for i in range(len(choices))]
    colour = GREEN if decided else ORANGE
    mark = t("predict.chart.marked" if decided else "predict.chart.ahead")
    labels = [wrap(f"{text} · {mark}" if i == marked else text) for i, text in enumerate(choices)]
    fig = go.Figure(go.Bar(
        x=n, y=labels, orientation="h", text=[str(v) for v in n], textposition="outside", cliponaxis=False,
        marker={"color": [colour if i == marked else GREY for i in range(len(choices))]},
        hovertemplate="%{y}: %{x}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", automargin=True)  # the first choice on top, as the buttons list them
    fig.update_xaxes(title_text=t("predict.chart.axis"), rangemode="tozero", dtick=1 if max(n, default=0) < 10 else None)
    fig.update_layout(title={"text": t("predict.chart.title", n=sum(n))}, height=FRAME + BAR_HEIGHT * len(choices),
                      margin={"l": 10, "r": 30, "t": 50, "b": 10}, font=FONT, showlegend=False)
    return fig


def answers_summary(choices: Sequence[str], counts: Mapping[int, int], t: Text, *, marked: int | None = None,
                    decided: bool = False) -> str:
    """The chart in words: every choice's count, and which one is marked and how."""
    listed = t("claims.list_sep").join(t("predict.chart.count", choice=text, n=counts.get(i, 0)) for i, text in enumerate(choices))
    if marked is None:
        return t("predict.chart.summary", counts=listed)
    return t("predict.chart.summary_marked", counts=listed, choice=choices[marked],
             mark=t("predict.chart.marked" if decided else "predict.chart.ahead"))
