"""Plotly figure builders for the network and block diagrams (no Streamlit here)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from .cache import shared_figure
from .style import FONT_SIZE, HIGHLIGHT, VERMILLION, Text, shape_text, short_name, stage_colour

if TYPE_CHECKING:  # anatomy imports Paddle; these figures draw its rows without it
    from ..inference.anatomy import LayerRow


ROW_MAX = 10  # blocks per line: a longer stage (ResNet-101's 23, ResNet-152's 36) wraps onto more lines
LINE_PX = 78  # height of one line of blocks (marker, its label above, a gap)
SHORTCUT_X = 1.0  # the block diagram's shortcut column; the main path is at 0, a third of the way across


def _giga(macs: int) -> str:
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
                    f"<br>{t('diagram.params')}: {b['params']:,}<br>{t('col.macs')}: {_giga(b['macs'])}"
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


@shared_figure(maxsize=64)
def block_diagram(block_rows: list[LayerRow], t: Text) -> go.Figure:
    """The selected block drawn top to bottom: its convs, the ⊕ and its shortcut.

    Each box holds one fact per line (role, kernel, weights, BN, output) so boxes stay
    narrow: the main path sits at a third of the width and the shortcut at two thirds,
    apart enough for classroom-size text and for a phone's width.
    """
    main = [r for r in block_rows if r.kind == "conv" and r.role != "projection"]
    bns = {r.name: r for r in block_rows if r.kind == "bn"}
    projection = next((r for r in block_rows if r.role == "projection"), None)
    boxes: list[tuple[float, float, str, str]] = []  # (x, y, label, colour)
    y = 0.0
    boxes.append((0, y, f"x<br>{shape_text(list(main[0].input_shape))}", "#e5ecf6"))
    for i, r in enumerate(main):
        y -= 1
        relu = "" if i == len(main) - 1 else " + ReLU"
        bn = bns.get(r.name.replace(".conv", ".bn"))
        label = (f"<b>{t('role.' + r.role)}</b><br>{r.kernel_shape[0]} · {t('diagram.stride', s=r.stride)}<br>"
                 f"{r.params:,} {t('diagram.weights')}<br>BN ({bn.params if bn else 0}){relu}<br>→ {shape_text(list(r.output_shape))}")
        boxes.append((0, y, label, "#dbeafe"))
    y -= 1
    add_y = y
    boxes.append((0, add_y, "⊕", "#fde68a"))
    boxes.append((0, add_y - 1, f"ReLU<br>→ {shape_text(list(main[-1].output_shape))}", "#e5ecf6"))
    if projection is not None:
        label = (f"<b>{t('diagram.projection')}</b><br>1×1 · {t('diagram.stride', s=projection.stride)}"
                 f"<br>{projection.params:,} {t('diagram.weights')}<br>+ BN<br>→ {shape_text(list(projection.output_shape))}")
        boxes.append((SHORTCUT_X, add_y / 2, label, "#fce7f3"))
    else:
        boxes.append((SHORTCUT_X, add_y / 2, f"<b>{t('diagram.identity')}</b><br>x", "#f3f4f6"))

    fig = go.Figure()
    # main path and shortcut path as lines behind the boxes
    fig.add_trace(go.Scatter(x=[0, 0], y=[0, add_y - 1], mode="lines", line=dict(color="#555", width=2), hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[0, SHORTCUT_X, SHORTCUT_X, 0], y=[0, 0, add_y, add_y], mode="lines",
                             line=dict(color=VERMILLION, width=2, dash="dot"), hoverinfo="skip", showlegend=False))
    for bx, by, label, colour in boxes:
        fig.add_annotation(x=bx, y=by, text=label, showarrow=False, bgcolor=colour, bordercolor="#444",
                           borderwidth=1, borderpad=5, font=dict(size=FONT_SIZE, color="#111"))
    fig.update_xaxes(visible=False, range=[-SHORTCUT_X / 2 - 0.05, SHORTCUT_X * 1.5 + 0.05])
    fig.update_yaxes(visible=False, range=[add_y - 1.6, 0.6])
    fig.update_layout(height=130 * (len(main) + 3), margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    return fig
