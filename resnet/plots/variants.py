"""Figures of He et al. 2016 (Identity Mappings)'s variants (Plotly only, no Paddle): one block
drawn as its plan builds it (where BN and ReLU sit, the gate, the shortcut's layers, with their
parameters and MACs), and the five units of the paper's Fig. 4 side by side.

Both read the block plan (``resnet.model.plan``) and the rows counted from it
(``resnet.plots.plan_table``), so they follow every unit and shortcut the network builds.
"""

from __future__ import annotations

import re
import textwrap
from typing import Sequence

import plotly.graph_objects as go

from ..model.plan import UNIT_LAYOUTS, BlockPlan
from ..model.spec import UNITS, ShortcutVariant, Unit
from .architecture import giga_text
from .cache import shared_figure
from .plan_table import BlockSummary, PlanRow
from .style import BLUE, FONT_SIZE, GREEN, GREY, VERMILLION, Text, shape_text

SHORTCUT_X = 1.0  # the block diagram's shortcut column (the gate's at −SHORTCUT_X); the branch is at 0
ROW_PX = 118  # one step of the block diagram (a conv's box is five lines)
# Box colours, one per kind of thing, the same in both figures
FILL = {"io": "#e5ecf6", "conv": "#dbeafe", "norm": "#eef2ff", "add": "#fde68a", "shortcut": "#fce7f3",
        "gate": "#dcfce7", "relu": "#ffedd5", "bn": "#dbeafe"}
OP_COLOUR = {"bn": BLUE, "relu": VERMILLION}  # BN and ReLU in text: the two things the units move around


def _ops(ops: Sequence[str], bn_params: int | None = None) -> str:
    """("bn", "relu") → coloured "BN (256) → ReLU" (the BN's trainable parameters in brackets)."""
    words = []
    for op in ops:
        word = "BN" + (f" ({bn_params:,})" if bn_params else "") if op == "bn" else "ReLU"
        words.append(f"<span style='color:{OP_COLOUR[op]}'><b>{word}</b></span>")
    return " → ".join(words)


def _box(fig: go.Figure, x: float, y: float, text: str, fill: str, size: float = FONT_SIZE) -> None:
    fig.add_annotation(x=x, y=y, text=text, showarrow=False, bgcolor=fill, bordercolor="#444", borderwidth=1,
                       borderpad=5, font=dict(size=size, color="#111"))


def _counts(row: PlanRow, t: Text) -> str:
    """A layer's parameters and MACs, one per line (boxes stay narrow at classroom size)."""
    return f"{row.params:,} {t('diagram.params')}<br>{giga_text(row.macs)} {t('col.macs')}"


@shared_figure(maxsize=64)
def block_diagram(block: BlockSummary, rows: list[PlanRow], shortcut: ShortcutVariant, t: Text) -> go.Figure:
    """``block`` drawn top to bottom as its plan runs it: the pre-activation shared by both paths
    (a stage start of a pre-activation unit), each conv with the BN and ReLU before and after it,
    the ⊕ with the shortcut's layers and multiplier on the right, the gate g(x) (Fig. 2(c, d)) on
    the left, and what runs after the addition. Three columns: gate, branch, shortcut."""
    plan: BlockPlan = block.plan
    named = {r.name: r for r in rows}
    bn = {r.name: r.params for r in rows if r.kind == "bn"}
    gate = next((r for r in rows if r.role == "gate"), None)
    fig = go.Figure()
    # the main path, under everything (its end is set once the last box is placed)
    fig.add_trace(go.Scatter(x=[0, 0], y=[0, 0], mode="lines", line=dict(color="#555", width=2), hoverinfo="skip",
                             showlegend=False))
    y = 0.0
    _box(fig, 0, y, f"x<br>{shape_text(block.input_shape)}", FILL["io"])
    split_y = y
    if plan.shared_preact:  # He et al. 2016, appendix: both paths see the normalised x
        y -= 0.85
        _box(fig, 0, y, f"{_ops(plan.convs[0].before, bn.get(f'{plan.name}.bn1'))}<br>{t('variant_diagram.shared')}",
             FILL["norm"])
        split_y = y
    for step in plan.convs:
        row = named[f"{plan.name}.conv{step.index}"]
        y -= 1.15
        before = () if plan.shared_preact and step.index == 1 else step.before
        own_bn = bn.get(f"{plan.name}.bn{step.index}")
        lines = [_ops(before, own_bn if "bn" in before else None)] if before else []
        lines += [f"<b>{t('role.' + row.role)}</b> · {t('diagram.stride', s=row.stride)}", _counts(row, t)]
        if step.after:
            lines.append(_ops(step.after, own_bn if "bn" in step.after else None))
        lines.append(f"→ {shape_text(row.output_shape)}")
        _box(fig, 0, y, "<br>".join(lines), FILL["conv"])
    if shortcut == "exclusive_gate":  # g·F (Fig. 2(c))
        y -= 0.75
        _box(fig, 0, y, "<b>× g</b>", FILL["gate"])
    y -= 0.9
    add_y = y
    _box(fig, 0, add_y, "⊕", FILL["add"], FONT_SIZE * 1.4)
    y -= 0.85
    last_bn = bn.get(f"{plan.name}.bn{len(plan.convs)}") if "bn" in plan.after_add else None
    after = _ops(plan.after_add, last_bn) if plan.after_add else t("variant_diagram.nothing_after")
    _box(fig, 0, y, f"{after}<br>→ {shape_text(block.output_shape)}", FILL["io"])
    fig.data[0].y = [0, y]
    bottom = y

    span = split_y - add_y
    if gate is not None:  # g(x) from the same x, beside the branch
        gate_y = split_y - span * 0.4
        fig.add_trace(go.Scatter(x=[0, -SHORTCUT_X, -SHORTCUT_X], y=[split_y, split_y, gate_y], mode="lines",
                                 line=dict(color=GREEN, width=2, dash="dash"), hoverinfo="skip", showlegend=False))
        uses = "× g, × (1 − g)" if shortcut == "exclusive_gate" else "× (1 − g)"
        _box(fig, -SHORTCUT_X, gate_y, "<br>".join([
            f"<b>{t('role.gate')}</b> · {t('diagram.stride', s=gate.stride)}", t("variant_diagram.gate_formula"),
            _counts(gate, t), f"g → {uses}"]), FILL["gate"])
    if plan.shortcut_kind == "off":
        _box(fig, SHORTCUT_X, split_y - span / 2, t("variant_diagram.no_shortcut"), "#f3f4f6")
    else:
        fig.add_trace(go.Scatter(x=[0, SHORTCUT_X, SHORTCUT_X, 0], y=[split_y, split_y, add_y, add_y], mode="lines",
                                 line=dict(color=VERMILLION, width=2, dash="dot"), hoverinfo="skip", showlegend=False))
        _box(fig, SHORTCUT_X, split_y - span * 0.4, _shortcut_text(plan, rows, t), FILL["shortcut"])
        multiplier = {"scaled": "× λ", "exclusive_gate": "× (1 − g)", "shortcut_gate": "× (1 − g)",
                      "dropout": t("variant_diagram.dropout")}.get(shortcut)
        if multiplier:
            _box(fig, SHORTCUT_X, split_y - span * 0.82, f"<b>{multiplier}</b>",
                 FILL["gate"] if gate is not None else FILL["shortcut"])
    left = -SHORTCUT_X * 1.6 if gate is not None else -SHORTCUT_X * 0.75
    fig.update_xaxes(visible=False, range=[left, SHORTCUT_X * 1.6])
    fig.update_yaxes(visible=False, range=[bottom - 0.55, 0.5])
    fig.update_layout(height=int(ROW_PX * (0.5 - bottom + 0.55)), margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    return fig


def _shortcut_text(plan: BlockPlan, rows: list[PlanRow], t: Text) -> str:
    """s(x), before what multiplies it: x itself, option A's padding, or its layers with their counts."""
    if plan.shortcut_kind == "identity":
        return f"<b>{t('diagram.identity')}</b><br>x"
    if plan.shortcut_kind == "pad":
        return f"<b>{t('role.subsample_pad')}</b>"
    layer = next(r for r in rows if r.role in ("projection", "shortcut_conv"))
    lines = [f"<b>{t('role.' + layer.role)}</b> · {t('diagram.stride', s=layer.stride)}", _counts(layer, t)]
    bn = next((r.params for r in rows if r.name.endswith(".downsample.1")), 0)
    if bn:
        lines.append(_ops(("bn",), bn))
    lines.append(f"→ {shape_text(layer.output_shape)}")
    return "<br>".join(lines)


def _name_and_gloss(text: str) -> tuple[str, str]:
    """"full pre-activation (Fig. 4e)" → ("full pre-activation", "Fig. 4e"); zh's full-width brackets too."""
    match = re.fullmatch(r"(.*?)\s*[(（](.*)[)）]", text)
    return (match.group(1), match.group(2)) if match else (text, "")


def _wrapped(name: str, width: int = 14) -> str:
    """A column title on lines of about ``width`` characters, so five fit side by side at classroom size."""
    return "<br>".join(textwrap.wrap(name, width, break_on_hyphens=False)) or name


@shared_figure(maxsize=8)
def units_figure(selected: Unit, t: Text) -> go.Figure:
    """He et al. 2016 (Identity Mappings), Fig. 4 (a)-(e): the five units side by side, each a
    branch of two convs (the paper's "weight") with BN and ReLU where ``UNIT_LAYOUTS`` puts them,
    the identity shortcut beside it, and what follows the addition. The selected one is framed."""
    fig = go.Figure()
    tokens_at: list[list[tuple[str, str]]] = []
    for unit in UNITS:
        layout = UNIT_LAYOUTS[unit]
        tokens = [("x_in", "io")]
        for i in range(2):
            tokens += [(op, op) for op in layout.before]
            tokens.append(("conv", "conv"))
            tokens += [(op, op) for op in (layout.between if i == 0 else layout.after_last)]
        tokens.append(("add", "add"))
        tokens += [(op, op) for op in layout.after_add]
        tokens.append(("x_out", "io"))
        tokens_at.append(tokens)
    rows = max(len(tokens) for tokens in tokens_at)
    text = {"x_in": "x<sub>l</sub>", "x_out": "x<sub>l+1</sub>", "conv": t("variant_diagram.weight"), "bn": "BN",
            "relu": "ReLU", "add": "⊕"}
    for col, (unit, tokens) in enumerate(zip(UNITS, tokens_at)):
        if unit == selected:
            fig.add_shape(type="rect", x0=col - 0.46, x1=col + 0.46, y0=-rows + 0.35, y1=2.05, line=dict(color="#333", width=2),
                          fillcolor="rgba(240, 228, 66, 0.28)", layer="below")
        name, gloss = _name_and_gloss(t(f"variant.unit.{unit}"))
        fig.add_annotation(x=col, y=1.25, text=f"<b>{_wrapped(name)}</b><br>{gloss}", showarrow=False,
                           font=dict(size=FONT_SIZE), yanchor="middle")
        add_row = next(i for i, (token, _) in enumerate(tokens) if token == "add")
        # the shortcut: from x_l around the branch to the ⊕ (dotted, as the block diagram's)
        fig.add_trace(go.Scatter(x=[col, col + 0.3, col + 0.3, col], y=[0, 0, -add_row, -add_row], mode="lines",
                                 line=dict(color=VERMILLION, width=2, dash="dot"), hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=[col, col], y=[0, -(len(tokens) - 1)], mode="lines", line=dict(color=GREY, width=2),
                                 hoverinfo="skip", showlegend=False))
        for row, (token, kind) in enumerate(tokens):
            colour = OP_COLOUR.get(token, "#111")
            label = f"<span style='color:{colour}'><b>{text[token]}</b></span>" if token in OP_COLOUR else text[token]
            fig.add_annotation(x=col, y=-row, text=label, showarrow=False, bgcolor=FILL[kind], bordercolor="#444",
                               borderwidth=1, borderpad=4, font=dict(size=FONT_SIZE))
    fig.update_xaxes(visible=False, range=[-0.55, len(UNITS) - 0.45])
    fig.update_yaxes(visible=False, range=[-rows + 0.3, 2.1])
    fig.update_layout(height=44 * (rows + 2.6) + 20, margin=dict(l=0, r=0, t=0, b=0), dragmode=False)
    return fig
