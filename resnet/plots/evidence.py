"""The papers' evidence on the Why page, drawn from ``resnet.papers`` (Plotly only).

Every bar is a figure He et al. 2015 print, as ``resnet.papers.FIGURES`` holds it with its
source; nothing here is measured. Error rates: lower is better.

    depth_evidence(t)     # Table 2 (ImageNet, plain vs ResNet at 18 and 34 layers) beside Table 6 (CIFAR-10 ResNets)
    shortcut_options(t)   # Table 3: plain-34 and ResNet-34 with shortcut options A, B, C
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..papers import FIGURES, printed
from .cache import shared_figure
from .style import GREY, PLAIN, VERMILLION, Text, lambda_colour, legend_below

RESNET = lambda_colour(1.0)  # the identity shortcut's blue, as on the page's other charts
CIFAR_DEPTHS = (20, 56, 110, 1202)


def _bars(names: list[str], labels: list[str], colour: str | list[str], t: Text, horizontal: bool = False, **trace) -> go.Bar:
    """Bars of the figures ``names`` (percent), each labelled with its value as printed (the titles cite the table);
    ``horizontal`` puts the labels on the y axis, where long ones stay legible in a narrow column."""
    values = [FIGURES[n].value for n in names]
    return go.Bar(
        x=values if horizontal else labels, y=labels if horizontal else values, orientation="h" if horizontal else "v",
        text=[printed(n) for n in names], textposition="outside",
        marker=dict(color=colour, line=dict(color="#111", width=1)), cliponaxis=False,
        hovertext=[t("why.ev_hover", label=label, value=printed(n)) for n, label in zip(names, labels)],
        hoverinfo="text", **trace,
    )


@shared_figure(maxsize=4)  # one per language
def depth_evidence(t: Text) -> go.Figure:
    """Left, ImageNet top-1 error (Table 2): plain (black) and ResNet (blue) at 18 and 34 layers; right,
    CIFAR-10 test error of the ResNets (Table 6), ResNet-1202 in vermillion: deeper, and worse (overfitting)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.12,
                        subplot_titles=[t("why.ev_imagenet_title"), t("why.ev_cifar_title")])
    layers = [t("why.ev_layers", n=n) for n in (18, 34)]
    fig.add_trace(_bars(["he2015.top1.plain18", "he2015.top1.plain34"], layers, PLAIN, t, name=t("why.ev_plain")), row=1, col=1)
    fig.add_trace(_bars(["he2015.top1.resnet18", "he2015.top1.resnet34"], layers, RESNET, t, name=t("why.ev_resnet")),
                  row=1, col=1)
    fig.add_trace(_bars([f"he2015.cifar.error.resnet{d}" for d in CIFAR_DEPTHS], [f"ResNet-{d}" for d in CIFAR_DEPTHS],
                        [RESNET] * (len(CIFAR_DEPTHS) - 1) + [VERMILLION], t, showlegend=False), row=1, col=2)
    fig.update_yaxes(title=t("why.ev_top1_axis"), range=[0, 32], row=1, col=1)
    fig.update_yaxes(title=t("why.ev_cifar_axis"), range=[0, 10], row=1, col=2)
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=40, b=10), legend=legend_below())
    return fig


@shared_figure(maxsize=4)  # one per language
def shortcut_options(t: Text) -> go.Figure:
    """ImageNet top-1 error of plain-34 and of ResNet-34 with options A, B and C (Table 3), as horizontal bars
    (plain-34 on top) beside the text that reads them."""
    names = ["he2015.top1.plain34", "he2015.top1.resnet34_a", "he2015.top1.resnet34_b", "he2015.top1.resnet34_c"]
    labels = [t("why.ev_plain34")] + [t(f"why.ev_option.{o}") for o in "abc"]
    fig = go.Figure(_bars(names, labels, [PLAIN, RESNET, GREY, GREY], t, horizontal=True, showlegend=False))
    fig.update_xaxes(title=t("why.ev_top1_axis"), range=[0, 34])
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=260, margin=dict(l=10, r=50, t=10, b=10))  # r: room for the last bar's value, drawn past its end
    return fig


__all__ = ["depth_evidence", "shortcut_options"]
