"""Veit et al. (2016) reproduced: test accuracy after deleting blocks, for several trained nets.

Drawn from ``resnet.inference.lesion_record.LesionStudy`` results (Plotly only). The paper's
finding, for the text beside the charts (``fm.veit.paper``): deleting one block of a
trained ResNet barely changes its test error except at the downsampling blocks, deleting
one layer of VGG is catastrophic, and the error grows smoothly with the number of blocks
deleted (Veit, Wilber, Belongie, NeurIPS 2016, Fig. 3).

Every sentence here about a measured study is rendered from it: a deletion "costs" accuracy
only when its paired 95 % interval (exact McNemar, ``LesionStudy.verdicts``) excludes 0,
and the phrasing for each outcome (every deletion hurts, some do, none does) is chosen by
those intervals; otherwise the text says "within noise (± x pp)".
"""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..inference.lesion_record import BlockDeletion, LesionStudy, Verdict, unpack
from ..stats import Interval, wilson
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
    """One row per model: a bar per block, the change of test accuracy when that block is deleted (pp),
    its whisker the paired 95 % interval of that change (exact McNemar on the same test images).

    Downsampling blocks are drawn in another colour and hatched (a legend entry of their own);
    0 (nothing deleted) is a dashed line and chance a dotted one in every row; each row's title
    gives the intact net's accuracy with its 95 % Wilson interval.
    """
    if not studies:
        raise ValueError("no lesion study to draw")
    titles = []
    for s in studies:
        intact = s.baseline_interval
        titles.append(t("fm.veit.subplot", label=s.label, acc=s.baseline, low=intact.low, high=intact.high))
    fig = make_subplots(rows=len(studies), cols=1, vertical_spacing=0.14 if len(studies) > 1 else 0.0, subplot_titles=titles)
    shown: set[str] = set()  # legend entries already drawn: each appears once for all rows

    def legend(key: str) -> dict:
        first = key not in shown
        shown.add(key)
        return dict(name=t(key), legendgroup=key, showlegend=first)

    for row, study in enumerate(studies, start=1):
        names = [b.name for b in study.blocks]
        verdicts = study.verdicts()
        for downsampling, key, color in ((False, "fm.veit.deleted", BLOCK_COLOR),
                                         (True, "fm.veit.deleted_downsampling", DOWNSAMPLING_COLOR)):
            bars = [v for v in verdicts if v.block.downsampling == downsampling]
            if not bars:
                continue
            fig.add_trace(go.Bar(
                x=[v.block.name for v in bars], y=[_pct(v.delta.value) for v in bars],
                error_y=dict(type="data", symmetric=False, array=[_pct(v.delta.high - v.delta.value) for v in bars],
                             arrayminus=[_pct(v.delta.value - v.delta.low) for v in bars], color="#111", thickness=1.2, width=3),
                marker=dict(color=color, pattern=dict(shape="/" if downsampling else "")),
                hovertext=[_hover(v, study.test_images, t) for v in bars], hoverinfo="text", **legend(key),
            ), row=row, col=1)
        for value, key, dash in ((0.0, "fm.veit.baseline", "dash"), (study.chance - study.baseline, "fm.veit.chance", "dot")):
            fig.add_trace(go.Scatter(
                x=names, y=[_pct(value)] * len(names), mode="lines", line=dict(color="#111", dash=dash, width=1.5),
                hoverinfo="skip", **legend(key),
            ), row=row, col=1)
        # categorical x in network order (the bars come in two traces), ticks tilted for 27 names
        fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-60, row=row, col=1)
        low = min([study.chance - study.baseline, *(v.delta.low for v in verdicts)])
        high = max([0.0, *(v.delta.high for v in verdicts)])
        fig.update_yaxes(title=t("fm.veit.delta_axis"), range=[_pct(low) - 4, _pct(high) + 4], row=row, col=1)
    fig.update_xaxes(title=t("fm.veit.block_axis"), row=len(studies), col=1)
    fig.update_layout(
        height=300 * len(studies) + 120, barmode="overlay", bargap=0.15, legend=LEGEND, font=FONT,
        # t: the figure's title on its own line above the first row's title, at classroom size too
        margin=dict(l=10, r=10, t=64, b=10), title=dict(text=t("fm.veit.single_title"), x=0, font=dict(size=15, **FONT)),
    )
    return fig


def accuracy_left(block: BlockDeletion, test_images: int) -> Interval:
    """The test accuracy with ``block`` deleted, with its 95 % Wilson interval."""
    return wilson(sum(unpack(block.right, test_images)), test_images)


def _hover(v: Verdict, test_images: int, t: Text) -> str:
    """One bar's hover: the accuracy left (95 % interval), the change with its interval, and whether that is beyond noise."""
    left = accuracy_left(v.block, test_images)
    return t("fm.veit.hover_block", name=v.block.name, acc=v.block.accuracy, alow=left.low, ahigh=left.high,
             drop=_pct(v.delta.value), low=_pct(v.delta.low), high=_pct(v.delta.high),
             verdict=t("fm.veit.beyond_noise" if v.beyond_noise else "fm.veit.within_noise", half=_pct(v.delta.half_width)))


def deletion_reading(study: LesionStudy, name: str, t: Text) -> str | None:
    """What deleting block ``name`` did on the study's whole test split, phrased by its paired interval
    (``fm.drop_test.hurts`` / ``.helps`` / ``.within_noise``); None if the study has no such block."""
    verdict = next((v for v in study.verdicts() if v.block.name == name), None)
    if verdict is None:
        return None
    left, intact, delta = accuracy_left(verdict.block, study.test_images), study.baseline_interval, verdict.delta
    outcome = "within_noise" if not verdict.beyond_noise else "hurts" if delta.value < 0 else "helps"
    return t(f"fm.drop_test.{outcome}", n=study.test_images, label=study.label, block=name, acc=left.value, alow=left.low,
             ahigh=left.high, base=intact.value, blow=intact.low, bhigh=intact.high, delta=_pct(delta.value),
             low=_pct(delta.low), high=_pct(delta.high), half=_pct(delta.half_width))


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
        intact = study.baseline_interval  # k = 0: the intact net, with its 95 % Wilson interval
        fig.add_trace(go.Scatter(
            x=[0], y=[_pct(intact.value)], mode="markers", marker=dict(color=color, size=9, symbol="diamond"),
            error_y=dict(type="data", symmetric=False, array=[_pct(intact.high - intact.value)],
                         arrayminus=[_pct(intact.value - intact.low)], color=color, thickness=1.5, width=6),
            name=t("fm.veit.intact", label=study.label),
            hovertemplate=t("fm.veit.hover_intact", acc=intact.value, low=intact.low, high=intact.high) + "<extra></extra>",
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
    """What each chart shows and says, model by model: its caption (every mark named), then a markdown list
    (one deleted block: ``study_reading``; k random ones: the largest k)."""
    n = " / ".join(sorted({str(s.test_images) for s in studies}))
    single = [study_reading(s, t) for s in studies]
    random = [t("fm.veit.reading_random", label=s.label, k=s.random[-1].k, mean=s.random[-1].mean, low=s.random[-1].min)
              for s in studies if s.random]
    return (t("fm.veit.single_caption", n=n) + "\n\n" + "\n".join(f"- {line}" for line in single),
            t("fm.veit.random_caption") + "\n\n" + "\n".join(f"- {line}" for line in random))


def _listed(verdicts: Sequence[Verdict], t: Text, key: str = "fm.veit.block_delta") -> str:
    """Blocks with their change of accuracy: "layer1.0 (−88.0 pp), layer1.1 (−10.3 pp)" (``fm.veit.block_interval``:
    with its 95 % interval)."""
    return t("fm.veit.list_sep").join(t(key, name=v.block.name, delta=_pct(v.delta.value), low=_pct(v.delta.low),
                                        high=_pct(v.delta.high)) for v in verdicts)


def _widest(verdicts: Sequence[Verdict]) -> float:
    """The "± x pp" that covers every one of these changes' intervals."""
    return _pct(max(v.delta.half_width for v in verdicts))


def study_reading(study: LesionStudy, t: Text) -> str:
    """One model's single deletions in a sentence: which cost accuracy beyond noise, which are within noise.

    The phrasing is chosen by the intervals (``fm.veit.reading.hurts_all`` / ``.hurts_some`` / ``.within_noise``); one that
    raises the accuracy beyond noise is said so apart (``fm.veit.reading_helps``).
    """
    verdicts = study.verdicts()
    hurt = [v for v in verdicts if v.beyond_noise and v.delta.value < 0]
    helped = [v for v in verdicts if v.beyond_noise and v.delta.value > 0]
    quiet = [v for v in verdicts if not v.beyond_noise]
    intact = study.baseline_interval
    values = dict(label=study.label, baseline=study.baseline, low=intact.low, high=intact.high, n=len(verdicts),
                  count=len(hurt), rest=len(quiet), blocks=_listed(hurt, t), half=_widest(quiet) if quiet else 0.0)
    if hurt and len(hurt) == len(verdicts):
        costs = [-_pct(v.delta.value) for v in hurt]
        text = t("fm.veit.reading.hurts_all", least=min(costs), most=max(costs), **values)
    else:
        text = t("fm.veit.reading.hurts_some" if hurt else "fm.veit.reading.within_noise", **values)
    return text + (t("fm.veit.reading_helps", blocks=_listed(helped, t)) if helped else "")


def why_some_hurt(study: LesionStudy, t: Text) -> str:
    """The explanation under the charts, for one residual net's study: the mechanism (text), then what this
    study measured at its costliest block and at its downsampling blocks, each phrased by the data."""
    verdicts = {v.block.name: v for v in study.verdicts()}
    worst = verdicts[study.worst.name]
    left = accuracy_left(worst.block, study.test_images)
    at_chance = left.low <= study.chance <= left.high
    parts = [t("fm.veit.why_some_hurt"),
             t("fm.veit.worst.chance" if at_chance else "fm.veit.worst.above_chance", label=study.label, block=worst.block.name,
               delta=_pct(worst.delta.value), dlow=_pct(worst.delta.low), dhigh=_pct(worst.delta.high),
               acc=worst.block.accuracy, low=left.low, high=left.high, chance=study.chance)]
    if worst.block == study.blocks[0]:
        parts.append(t("fm.veit.worst_first"))
    down = [v for v in verdicts.values() if v.block.downsampling]
    if down:
        hurt = [v for v in down if v.beyond_noise and v.delta.value < 0]
        quiet = [v for v in down if not v.beyond_noise]
        outcome = "within_noise" if len(quiet) == len(down) else "hurts" if len(hurt) == len(down) else "mixed"
        parts += [t("fm.veit.downsampling_paper"),
                  t(f"fm.veit.downsampling.{outcome}", label=study.label, n=study.test_images, half=_widest(quiet) if quiet else 0.0,
                    **{name: _listed(group, t, "fm.veit.block_interval")
                       for name, group in (("blocks", down), ("hurt", hurt), ("quiet", quiet))}),
                  t("fm.veit.downsampling_ours")]
    return "".join(parts)  # each sentence after the first brings its own space (none in Chinese)


__all__ = ["single_deletion_figure", "random_deletion_figure", "readings", "lesion_charts", "study_reading", "why_some_hurt",
           "accuracy_left", "deletion_reading"]
