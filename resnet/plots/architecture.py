"""Plotly figure builder for the network diagram (no Streamlit here); a block's own diagram, for
every unit and shortcut, is ``resnet.plots.variants.block_diagram``."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from .cache import shared_figure
from .style import HIGHLIGHT, Text, shape_text, short_name, stage_colour

ROW_MAX = 10  # blocks per line: a longer stage (ResNet-101's 23, ResNet-152's 36) wraps onto more lines
LINE_PX = 78  # height of one line of blocks (marker, its label above, a gap)


def giga_text(macs: int) -> str:
    """MACs as "4.089 G", or "1.23 M" below 10 M."""
    return f"{macs / 1e9:.3f} G" if macs >= 1e7 else f"{macs / 1e6:.2f} M"


def _stage_number(stage: str) -> int:
    """"stem" → 0, "stage 3" → 3, "head" → 5: the index ``style.stage_colour`` takes."""
    return {"stem": 0, "head": 5}[stage] if stage in ("stem", "head") else int(stage.split()[-1])


@shared_figure(maxsize=32)
def network_diagram(summary: list[dict[str, Any]], selected: str | None, t: Text) -> go.Figure:
    """Stem, the blocks of each stage in lines of at most ``ROW_MAX``, head: click a block to select it.

    ``summary`` is ``anatomy.block_summary(rows)``. Each marker's customdata is the
    block's name so a click can be mapped back to it. Diamonds mark blocks whose
    shortcut is a 1×1 projection (the shape changes there). A deep stage wraps onto
    balanced lines (36 blocks → 4 × 9) so markers and labels keep the same spacing at
    every depth, and the figure grows by a line instead.
    """
    stages = list(dict.fromkeys(b["stage"] for b in summary))  # network order: stem, stage 1.., head
    members = {s: [b for b in summary if b["stage"] == s] for s in stages}
    lines = {s: math.ceil(len(members[s]) / ROW_MAX) for s in stages}
    width = max(math.ceil(len(members[s]) / lines[s]) for s in stages)
    xs, ys, texts, hovers, colors, symbols, names, sizes = [], [], [], [], [], [], [], []
    ticks, tick_y, y = [], [], 0
    fig = go.Figure()
    for stage in stages:
        blocks, per_line = members[stage], math.ceil(len(members[stage]) / lines[stage])
        label = ({"stem": t("diagram.stem"), "head": t("diagram.head")}.get(stage)
                 or t("diagram.stage_row", i=_stage_number(stage), shape=shape_text(blocks[0]["output_shape"][1:])))
        ticks.append(label)
        tick_y.append(y)
        for line in range(lines[stage]):
            row = blocks[line * per_line:(line + 1) * per_line]
            # the data path along this line (the next line continues where it ends)
            fig.add_trace(go.Scatter(x=[0, len(row) - 1], y=[y, y], mode="lines", line=dict(color="#c8c8c8", width=2),
                                     hoverinfo="skip", showlegend=False))
            for x, b in enumerate(row):
                xs.append(x)
                ys.append(y)
                texts.append({"stem": t("diagram.stem"), "head": t("diagram.head")}.get(b["block"], short_name(b["block"])))
                names.append(b["block"])
                colors.append(HIGHLIGHT if b["block"] == selected else stage_colour(_stage_number(stage)))
                symbols.append("diamond" if b["projection"] else "square")
                sizes.append(30 if b["block"] == selected else 22)
                hovers.append(
                    f"<b>{b['block']}</b><br>{shape_text(b['input_shape'])} → {shape_text(b['output_shape'])}"
                    f"<br>{t('diagram.params')}: {b['params']:,}<br>{t('col.macs')}: {giga_text(b['macs'])}"
                    + (f"<br>{t('diagram.projection')}" if b["projection"] else "")
                )
            y += 1
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, textposition="top center",
        marker=dict(size=sizes, color=colors, symbol=symbols, line=dict(color="#333", width=1)),
        customdata=names, hovertext=hovers, hoverinfo="text", showlegend=False,
    ))
    fig.update_yaxes(tickvals=tick_y, ticktext=ticks, autorange="reversed", showgrid=False, zeroline=False,
                     range=[y - 0.5, -0.7], automargin=True)
    fig.update_xaxes(visible=False, range=[-0.6, max(width, 4) - 0.4])
    fig.update_layout(height=40 + LINE_PX * y, margin=dict(l=10, r=10, t=10, b=10), dragmode=False, clickmode="event+select")
    return fig
