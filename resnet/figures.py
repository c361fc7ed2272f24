"""Plotly figure builders for the network and block diagrams (no Streamlit here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import plotly.graph_objects as go

if TYPE_CHECKING:  # anatomy imports Paddle; the Why page draws these figures without it
    from .anatomy import LayerRow

STAGE_COLORS = ["#636efa", "#00cc96", "#ef553b", "#ab63fa", "#ffa15a"]
HIGHLIGHT = "#ffd400"

Text = Callable[..., str]  # a translator: t(key, **values) -> str


def shape_text(shape: Sequence[int]) -> str:
    """[10, 64, 56, 56] → "10×64×56×56"."""
    return "×".join(str(d) for d in shape)


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
        label = {"stem": t("diagram.stem"), "head": t("diagram.head")}.get(b["block"], b["block"].removeprefix("layer"))
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


def plain_vs_residual(t: Text) -> go.Figure:
    """Two blocks side by side: a plain stack H(x), and F(x) + x with its shortcut."""
    fig = go.Figure()
    for x0, title, residual in ((0.0, t("why.fig_plain"), False), (2.2, t("why.fig_residual"), True)):
        ys = [0, -1, -2, -3.2, -4.2]
        labels = ["x", t("why.fig_layer"), t("why.fig_layer"), "⊕" if residual else "", "ReLU → " + ("F(x) + x" if residual else "H(x)")]
        fig.add_trace(go.Scatter(x=[x0, x0], y=[0, -4.2], mode="lines", line=dict(color="#555", width=2), hoverinfo="skip", showlegend=False))
        if residual:
            fig.add_trace(go.Scatter(x=[x0, x0 + 0.9, x0 + 0.9, x0], y=[0, 0, -3.2, -3.2], mode="lines",
                                     line=dict(color="#d62728", width=3, dash="dot"), hoverinfo="skip", showlegend=False))
            fig.add_annotation(x=x0 + 0.9, y=-1.6, text=t("why.fig_shortcut"), showarrow=False, bgcolor="#fde2e2", font=dict(color="#b91c1c"))
        for y, label in zip(ys, labels):
            if label:
                fig.add_annotation(x=x0, y=y, text=label, showarrow=False, bgcolor="#dbeafe" if label == t("why.fig_layer") else "#f3f4f6",
                                   bordercolor="#444", borderwidth=1, borderpad=6, font=dict(size=13, color="#111"))
        fig.add_annotation(x=x0, y=0.8, text=f"<b>{title}</b>", showarrow=False, font=dict(size=14))
    fig.update_xaxes(visible=False, range=[-0.9, 3.9])
    fig.update_yaxes(visible=False, range=[-4.8, 1.2])
    fig.update_layout(height=380, margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    return fig


def lambda_power(scales: list[float], depth: int, t: Text) -> go.Figure:
    """λ^l for l = 0..depth, one line per λ, log y: the ∏λ argument at a glance."""
    fig = go.Figure()
    ls = list(range(depth + 1))
    for lam in scales:
        ys = [abs(lam) ** l if lam != 0 else (1.0 if l == 0 else None) for l in ls]
        fig.add_trace(go.Scatter(x=ls, y=ys, mode="lines", name=f"λ = {lam:g}"))
    fig.update_yaxes(type="log", title=t("why.power_y"), exponentformat="power")
    fig.update_xaxes(title=t("why.power_x"))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h"))
    return fig


def signal_chart(runs: dict[str, list[Any]], field: str, t: Text,
                 predicted: tuple[str, list[float]] | None = None) -> go.Figure:
    """Measured RMS per block (``field`` of diagnostics.BlockSignal) for several variants, log y.

    ``predicted`` = (label, values) overlays the ∏λ prediction as a dashed line.
    """
    fig = go.Figure()
    for label, signals in runs.items():
        fig.add_trace(go.Scatter(
            x=[s.name for s in signals], y=[getattr(s, field) for s in signals], mode="lines+markers", name=label,
        ))
    if predicted is not None:
        names = [s.name for s in next(iter(runs.values()))]
        fig.add_trace(go.Scatter(x=names, y=list(predicted[1]), mode="lines", name=predicted[0],
                                 line=dict(color="#111", dash="dash", width=1.5)))
    fig.update_yaxes(type="log", title=t(f"why.{field}"), exponentformat="power")
    fig.update_xaxes(title=t("why.block_axis"), tickangle=-45)
    fig.update_layout(height=440, margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h", y=-0.45))
    return fig


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
