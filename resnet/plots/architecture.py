"""Plotly figure builders for the network and block diagrams (no Streamlit here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from .style import HIGHLIGHT, STAGE_COLORS, Text, shape_text, short_name

if TYPE_CHECKING:  # anatomy imports Paddle; these figures draw its rows without it
    from ..inference.anatomy import LayerRow


def _giga(macs: int) -> str:
    return f"{macs / 1e9:.3f} G" if macs >= 1e7 else f"{macs / 1e6:.2f} M"


def network_diagram(summary: list[dict[str, Any]], selected: str | None, t: Text) -> go.Figure:
    """Stem, one row of blocks per stage, head: click a block to select it.

    ``summary`` is ``anatomy.block_summary(rows)``. Each marker's customdata is the
    block's name so a click can be mapped back to it. Diamonds mark blocks whose
    shortcut is a 1×1 projection (the shape changes there).
    """
    rows = ["stem"] + sorted({b["stage"] for b in summary if b["stage"].startswith("stage")}) + ["head"]
    xs, ys, texts, hovers, colors, symbols, names, sizes = [], [], [], [], [], [], [], []
    column: dict[str, int] = {}
    for b in summary:
        row = b["stage"]
        x = column.get(row, 0)
        column[row] = x + 1
        y = rows.index(row)
        label = {"stem": t("diagram.stem"), "head": t("diagram.head")}.get(b["block"], short_name(b["block"]))
        xs.append(x)
        ys.append(y)
        texts.append(label)
        names.append(b["block"])
        colors.append(HIGHLIGHT if b["block"] == selected else STAGE_COLORS[y % len(STAGE_COLORS)])
        symbols.append("diamond" if b["projection"] else "square")
        sizes.append(34 if b["block"] == selected else 26)
        hovers.append(
            f"<b>{b['block']}</b><br>{shape_text(b['input_shape'])} → {shape_text(b['output_shape'])}"
            f"<br>{t('diagram.params')}: {b['params']:,}<br>MACs: {_giga(b['macs'])}"
            + (f"<br>{t('diagram.projection')}" if b["projection"] else "")
        )
    fig = go.Figure()
    # the data path inside each row (the next row continues where this one ends)
    for y in sorted(set(ys)):
        row_x = [x for x, yy in zip(xs, ys) if yy == y]
        fig.add_trace(go.Scatter(x=[min(row_x), max(row_x)], y=[y, y], mode="lines", line=dict(color="#c8c8c8", width=2),
                                 hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, textposition="top center",
        marker=dict(size=sizes, color=colors, symbol=symbols, line=dict(color="#333", width=1)),
        customdata=names, hovertext=hovers, hoverinfo="text", showlegend=False,
    ))
    ticks = [t("diagram.stem")] + [
        t("diagram.stage_row", i=i, shape=shape_text(next(b["output_shape"][1:] for b in summary if b["stage"] == r)))
        for i, r in enumerate(rows[1:-1], start=1)
    ] + [t("diagram.head")]
    fig.update_yaxes(tickvals=list(range(len(rows))), ticktext=ticks, autorange="reversed", showgrid=False, zeroline=False)
    fig.update_xaxes(visible=False, range=[-0.8, max(column.values()) - 0.2])
    fig.update_layout(height=110 + 80 * len(rows), margin=dict(l=10, r=10, t=10, b=10), dragmode=False, clickmode="event+select")
    return fig


def block_diagram(block_rows: list[LayerRow], t: Text) -> go.Figure:
    """The selected block drawn top to bottom: its convs, the ⊕ and its shortcut."""
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
        label = (f"<b>{t('role.' + r.role)}</b> · {r.kernel_shape[0]} · {t('diagram.stride', s=r.stride)}<br>"
                 f"{list(r.kernel_shape)} = {r.params:,} {t('diagram.weights')}<br>BN ({bn.params if bn else 0}){relu} → {shape_text(list(r.output_shape))}")
        boxes.append((0, y, label, "#dbeafe"))
    y -= 1
    add_y = y
    boxes.append((0, add_y, "⊕", "#fde68a"))
    boxes.append((0, add_y - 1, f"ReLU → {shape_text(list(main[-1].output_shape))}", "#e5ecf6"))
    if projection is not None:
        label = (f"<b>{t('diagram.projection')}</b><br>{list(projection.kernel_shape)} {t('diagram.stride', s=projection.stride)}"
                 f"<br>{projection.params:,} + BN → {shape_text(list(projection.output_shape))}")
        boxes.append((1.15, (add_y) / 2, label, "#fce7f3"))
    else:
        boxes.append((1.15, (add_y) / 2, f"<b>{t('diagram.identity')}</b><br>x", "#f3f4f6"))

    fig = go.Figure()
    # main path and shortcut path as lines behind the boxes
    fig.add_trace(go.Scatter(x=[0, 0], y=[0, add_y - 1], mode="lines", line=dict(color="#555", width=2), hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=[0, 1.15, 1.15, 0], y=[0, 0, add_y, add_y], mode="lines",
                             line=dict(color="#d62728", width=2, dash="dot"), hoverinfo="skip", showlegend=False))
    for bx, by, label, colour in boxes:
        fig.add_annotation(x=bx, y=by, text=label, showarrow=False, bgcolor=colour, bordercolor="#444",
                           borderwidth=1, borderpad=6, font=dict(size=12, color="#111"))
    fig.update_xaxes(visible=False, range=[-0.9, 1.9])
    fig.update_yaxes(visible=False, range=[add_y - 1.6, 0.6])
    fig.update_layout(height=110 * (len(main) + 3), margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    return fig
