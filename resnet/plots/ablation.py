"""Veit et al. (2016) reproduced: test accuracy after deleting blocks, for several trained nets.

Drawn from ``resnet.inference.ablation.LesionStudy`` results (Plotly only). The paper's
finding, for the text beside the charts (``fm.veit.paper``): deleting one block of a
trained ResNet barely changes its test error except at the downsampling blocks, deleting
one layer of VGG is catastrophic, and the error grows smoothly with the number of blocks
deleted (Veit, Wilber, Belongie, NeurIPS 2016, Fig. 3).
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..inference.ablation import LesionStudy
from .cache import shared_figure
from .curves import COLORS, FONT
from .style import STAGE_COLORS, Text

BLOCK_COLOR, DOWNSAMPLING_COLOR = STAGE_COLORS[0], STAGE_COLORS[4]
# legend at the bottom, in the room it needs (as the lab's charts)
LEGEND = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0)


def _pct(value: float) -> float:
    return 100.0 * value


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@shared_figure(maxsize=8)
def single_deletion_figure(studies: Sequence[LesionStudy], t: Text) -> go.Figure:
    """One row per model: a bar per block, the test accuracy with that block deleted.

    Downsampling blocks are drawn in another colour and hatched (a legend entry of their
    own); the undeleted accuracy is a dashed line and chance a dotted one in every row.
    """
    if not studies:
        raise ValueError("no lesion study to draw")
    fig = make_subplots(
        rows=len(studies), cols=1, vertical_spacing=0.14 if len(studies) > 1 else 0.0,
        subplot_titles=[t("fm.veit.subplot", label=s.label, acc=s.baseline) for s in studies],
    )
    shown: set[str] = set()  # legend entries already drawn: each appears once for all rows

    def legend(key: str) -> dict:
        first = key not in shown
        shown.add(key)
        return dict(name=t(key), legendgroup=key, showlegend=first)

    for row, study in enumerate(studies, start=1):
        names = [b.name for b in study.blocks]
        for downsampling, key, color in ((False, "fm.veit.deleted", BLOCK_COLOR),
                                         (True, "fm.veit.deleted_downsampling", DOWNSAMPLING_COLOR)):
            bars = [b for b in study.blocks if b.downsampling == downsampling]
            if not bars:
                continue
            fig.add_trace(go.Bar(
                x=[b.name for b in bars], y=[_pct(b.accuracy) for b in bars],
                marker=dict(color=color, pattern=dict(shape="/" if downsampling else "")),
                hovertext=[t("fm.veit.hover_block", name=b.name, acc=b.accuracy,
                             drop=_pct(b.accuracy - study.baseline)) for b in bars],
                hoverinfo="text", **legend(key),
            ), row=row, col=1)
        for value, key, dash in ((study.baseline, "fm.veit.baseline", "dash"), (study.chance, "fm.veit.chance", "dot")):
            fig.add_trace(go.Scatter(
                x=names, y=[_pct(value)] * len(names), mode="lines", line=dict(color="#111", dash=dash, width=1.5),
                hoverinfo="skip", **legend(key),
            ), row=row, col=1)
        # categorical x in network order (the bars come in two traces), ticks tilted for 27 names
        fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-60, row=row, col=1)
        fig.update_yaxes(title=t("fm.veit.accuracy_axis"), range=[0, 101], row=row, col=1)
    fig.update_xaxes(title=t("fm.veit.block_axis"), row=len(studies), col=1)
    fig.update_layout(
        height=300 * len(studies) + 120, barmode="overlay", bargap=0.15, legend=LEGEND, font=FONT,
        margin=dict(l=10, r=10, t=36, b=10), title=dict(text=t("fm.veit.single_title"), x=0, font=dict(size=15, **FONT)),
    )
    return fig


@shared_figure(maxsize=8)
def random_deletion_figure(studies: Sequence[LesionStudy], t: Text) -> go.Figure:
    """Test accuracy against the number k of blocks deleted at random, one colour per model.

    The line is the mean over the random sets, the band their min–max; k = 0 is the
    undeleted net. Chance is a dotted line when every model has the same classes.
    """
    if not studies:
        raise ValueError("no lesion study to draw")
    fig = go.Figure()
    for study, color in zip(studies, COLORS * len(studies)):
        ks = [0] + [r.k for r in study.random]
        lows = [study.baseline] + [r.min for r in study.random]
        highs = [study.baseline] + [r.max for r in study.random]
        means = [study.baseline] + [r.mean for r in study.random]
        trials = study.random[0].trials if study.random else 0
        band = t("fm.veit.band", label=study.label)
        # the band: max line, then min line filled up to it
        fig.add_trace(go.Scatter(x=ks, y=[_pct(v) for v in highs], mode="lines", line=dict(width=0),
                                 legendgroup=band, showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=ks, y=[_pct(v) for v in lows], mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor=_rgba(color, 0.18), name=band, legendgroup=band, hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=ks, y=[_pct(v) for v in means], mode="lines+markers", line=dict(color=color, width=2.5),
            name=t("fm.veit.mean", label=study.label, trials=trials),
            customdata=[[_pct(lo), _pct(hi)] for lo, hi in zip(lows, highs)],
            hovertemplate="k = %{x}: %{y:.1f}% (%{customdata[0]:.1f}–%{customdata[1]:.1f}%)<extra></extra>",
        ))
    if len({s.chance for s in studies}) == 1:
        fig.add_hline(y=_pct(studies[0].chance), line=dict(color="#111", dash="dot", width=1.5),
                      annotation_text=t("fm.veit.chance"), annotation_position="bottom right")
    fig.update_xaxes(title=t("fm.veit.k_axis"), dtick=1)
    fig.update_yaxes(title=t("fm.veit.accuracy_axis"), range=[0, 101])
    fig.update_layout(
        height=440, legend=LEGEND, font=FONT, hovermode="x unified", margin=dict(l=10, r=10, t=36, b=10),
        title=dict(text=t("fm.veit.random_title"), x=0, font=dict(size=15, **FONT)),
    )
    return fig


def lesion_charts(studies: Sequence[LesionStudy], t: Text) -> list[tuple[str, go.Figure, str]]:
    """The lesion study's two charts in order, each as (name, figure, its ``readings`` text)."""
    single, random = readings(studies, t)
    return [("single", single_deletion_figure(studies, t), single), ("random", random_deletion_figure(studies, t), random)]


def readings(studies: Sequence[LesionStudy], t: Text) -> tuple[str, str]:
    """What each chart says, model by model, as two markdown lists: one deleted block, k random ones (the largest k)."""
    single = [t("fm.veit.reading", label=s.label, baseline=s.baseline, typical=_pct(s.typical_drop), worst=s.worst.name,
                worst_acc=s.worst.accuracy, downsampling=t("fm.veit.reading_downsampling") if s.worst.downsampling else "")
              for s in studies]
    random = [t("fm.veit.reading_random", label=s.label, k=s.random[-1].k, mean=s.random[-1].mean, low=s.random[-1].min)
              for s in studies if s.random]
    return "\n".join(f"- {line}" for line in single), "\n".join(f"- {line}" for line in random)


__all__ = ["single_deletion_figure", "random_deletion_figure", "readings", "lesion_charts"]
