"""The training lab's figures: loss/accuracy curves of several runs, and per-block diagnostics.

Plain Plotly (no Streamlit). Runs from the store (``RunInfo``) become ``Curve`` objects,
legend names and run-list rows here, in the language of the page's translator ``t``.
Flags are drawn on the chart itself: a run that diverged (loss became NaN/inf) ends in a
red ✕ with a note; a run stuck at chance level (the λ = 2 pattern) gets a red ▲ where it
blew up and a red ○ with a note where it settled at chance. Each data set's chance level
ln C is a dotted line (digits ln 10, a two-class folder ln 2), named after its data sets.

A run keeps its colour and marker whatever else is on the chart: both come from its
variant's oldest run in the store (``colour_ids``: the configuration but for the seed), so a
live rerun is drawn solid in its dashed reference's colour.

Seeds: a variant run at several seeds (``resnet.lab.session.RunGroup``: every reference
variant, and live runs of one configuration at several seeds) is one ``Curve`` drawn as the
median over its seeds on a filled band from the lowest to the highest seed at each step
(``resnet.lab.seeds.band``); a single run is drawn as its line, over its variant's band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import plotly.graph_objects as go

from pathlib import Path

from ..lab import seeds as seed_stats
from ..lab.config import chance_loss
from ..lab.store import RunInfo
from .cache import by_value, shared_figure
from .style import Text, plain, run_colour

if TYPE_CHECKING:  # for the annotation only: the session module loads Paddle, these figures need none
    from ..lab.seeds import Band
    from ..lab.session import ChanceLevel, RunGroup, RunSignals


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]
X_AXES = ("step", "wall")
DIVERGED_COLOR = "#b91c1c"
CHANCE_COLOR = "#555555"
# A marker shape per run as well as a colour (colour-blind readers, grey print-outs):
# ``run_colour`` repeats every 7 ids, these every 6, so a pair repeats only every 42.
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "star"]
MARKERS_PER_CURVE = 8  # a long loss curve shows its run's marker this many times, not at every step
# A font every browser has: Plotly's PNG export draws the chart as an image in which the
# page's web font is missing, and text measured in one font but drawn in another overlaps.
FONT = dict(family="Arial, 'Liberation Sans', Helvetica, sans-serif")
LAYOUT = dict(margin=dict(l=10, r=10, t=36, b=10), hovermode="x unified", font=FONT)
MODE_BAR = {"displaylogo": False, "displayModeBar": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def png_config(name: str) -> dict[str, Any]:
    """The charts' mode bar with Plotly's own "download as PNG" (2× scale, a telling file name)."""
    return {**MODE_BAR, "toImageButtonOptions": {"format": "png", "filename": f"resnet_lab_{name}", "scale": 2}}


def _legend() -> dict[str, Any]:
    """A horizontal legend at the bottom of the figure: the plot shrinks to make room for
    however many rows it needs, so it never covers the x-axis title."""
    return dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0)


@dataclass
class Curve:
    """One run's metrics as the charts draw them, or a variant's over its seeds (``seeds``)."""

    run_id: int  # the run's id, or its group's (the head's)
    name: str  # legend text
    color: str
    metrics: dict[str, list]  # resnet.lab.store.METRIC_COLUMNS; of a band: its flagged seed's (else its first)
    symbol: str = "circle"
    reference: bool = False  # shipped reference run: dashed
    diverged_step: int | None = None
    stuck: bool = False
    chance: float | None = None  # ln C of its data set, where a stuck run settles
    seeds: tuple[dict[str, list], ...] = ()  # with two or more: every seed's metrics, drawn as a median on a band

    @property
    def band(self) -> bool:
        return len(self.seeds) > 1


def ema(values: Sequence[float | None], smoothing: float) -> list[float | None]:
    """Exponential moving average, debiased (as TensorBoard's smoothing slider).

    ``smoothing`` in [0, 1): 0 returns the values unchanged. ``None`` and non-finite
    values stay gaps and do not enter the average.
    """
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    out: list[float | None] = []
    acc = weight = 0.0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
            continue
        acc = smoothing * acc + (1 - smoothing) * v
        weight = smoothing * weight + (1 - smoothing)
        out.append(acc / weight)
    return out


def log_ticks(values: Sequence[float | None]) -> list[float]:
    """Tick values for a log axis over ``values``: 1-2-5 steps for a short span, else decades.

    Plotly labels the minor ticks of a log axis with their leading digit only ("2", "5"),
    which reads as nonsense next to "0.1"; explicit ticks get full labels.
    """
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not positive:
        return []
    low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    if high - low <= 3:
        steps = (1, 2, 5) if high - low <= 1 else (1, 3)
        return [v for e in range(low, high + 1) for m in steps if min(positive) / 3 <= (v := float(f"{m}e{e}")) <= max(positive) * 3]
    stride = max(1, math.ceil((high - low) / 8))
    return [float(f"1e{e}") for e in range(low, high + 1, stride)]


def _log_y(fig: go.Figure) -> None:
    """A log y-axis with fully labelled ticks; zero and negative values become gaps."""
    values: list[float] = []
    for trace in fig.data:
        ys = list(trace.y) if trace.y is not None else []
        if trace.type == "scatter":
            trace.y = [v if v is not None and math.isfinite(v) and v > 0 else None for v in ys]
        values += [v for v in trace.y or [] if v is not None]
    ticks = log_ticks(values)
    fig.update_yaxes(type="log", tickvals=ticks or None, ticktext=[f"{v:g}" for v in ticks] or None)
    for note in fig.layout.annotations:  # Plotly places annotations on a log axis by log10(y)
        if note.yref in (None, "y") and isinstance(note.y, (int, float)) and note.y > 0:
            note.y = math.log10(note.y)


def _xs(metrics: dict[str, list], x_axis: str) -> list:
    return metrics["wall_s"] if x_axis == "wall" else metrics["step"]


def _x_title(x_axis: str, t: Text) -> str:
    return t("lab.axis_wall") if x_axis == "wall" else t("lab.axis_step")


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


# the curves are read from the store anew on every run: matched by value (a live run's new points miss)
@shared_figure(maxsize=32, key=lambda curves, *args, **kwargs: (by_value(curves), args, kwargs))
def train_loss_figure(
    curves: Sequence[Curve], t: Text, *, x_axis: str = "step", smoothing: float = 0.0, log_y: bool = False,
    chance: Sequence[tuple[float, str]] = (), height: int | None = None,
) -> go.Figure:
    """Training loss per step; raw values faint under the smoothed line when smoothing.

    ``chance``: (ln C, its label) per data set on the chart (``chance_lines``), each a dotted line.
    """
    fig = go.Figure()
    for c in curves:
        xs, ys = _xs(c.metrics, x_axis), c.metrics["train_loss"]
        dash = "dash" if c.reference else "solid"
        group = f"run{c.run_id}"
        if c.band:  # each seed smoothed, then the median and the band of the smoothed curves
            smoothed = [{**m, "train_loss": ema(m["train_loss"], smoothing)} for m in c.seeds]
            _band_traces(fig, c, smoothed, "train_loss", x_axis, t, hover="%{y:.3g}")
            _flag(fig, c, xs, ys, t)
            continue
        if smoothing > 0:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=c.color, width=1, dash=dash), opacity=0.25,
                                     name=c.name, legendgroup=group, showlegend=False, hoverinfo="skip", meta=c.run_id))
        fig.add_trace(go.Scatter(x=xs, y=ema(ys, smoothing), mode="lines+markers", line=dict(color=c.color, width=2, dash=dash),
                                 marker=dict(symbol=c.symbol, size=7, maxdisplayed=MARKERS_PER_CURVE), name=c.name,
                                 legendgroup=group, meta=c.run_id, connectgaps=False))
        _flag(fig, c, xs, ys, t)
    for value, label in chance:
        fig.add_hline(y=value, line=dict(color=CHANCE_COLOR, width=1, dash="dot"),
                      annotation=dict(text=label, font=dict(color=CHANCE_COLOR), bgcolor="rgba(255,255,255,0.85)"),
                      annotation_position="bottom right")
    fig.update_yaxes(title=t("lab.train_loss"))
    if log_y:
        _log_y(fig)
    fig.update_xaxes(title=_x_title(x_axis, t))
    height = height or 400 + 22 * math.ceil(len(curves) / 2)  # room for the legend's rows
    fig.update_layout(height=height, title=dict(text=t("lab.train_loss"), x=0, font=FONT), legend=_legend(),
                      uirevision=f"{x_axis}-{log_y}", **LAYOUT)  # a redraw keeps the reader's zoom until the axes change
    return fig


def _flag(fig: go.Figure, c: Curve, xs: list, ys: list, t: Text) -> None:
    """Diverged: a red ✕ where the loss left the numbers. Stuck: a red ▲ at the blow-up, a red ○ and a
    note where the loss settled at chance."""
    finite = [i for i, v in enumerate(ys) if _finite(v)]
    marker = dict(size=14, color=DIVERGED_COLOR, line=dict(width=2, color=DIVERGED_COLOR))
    if c.diverged_step is not None:
        last = finite[-1] if finite else None
        x = xs[-1] if xs else 0
        y = ys[last] if last is not None else 0
        fig.add_trace(go.Scatter(
            x=[x], y=[y], mode="markers+text", marker=dict(symbol="x", **marker),
            text=[t("lab.flag_diverged_at", step=c.diverged_step)], textposition="top center",
            textfont=dict(color=DIVERGED_COLOR), name=t("lab.flag_diverged_at", step=c.diverged_step),
            showlegend=False, legendgroup=f"run{c.run_id}", meta=c.run_id,
        ))
    elif c.stuck and finite:
        peak = max(finite, key=lambda i: ys[i])
        settled = stuck_from([ys[i] for i in finite], c.chance)
        i = finite[settled] if settled is not None else finite[int(0.85 * (len(finite) - 1))]
        blew = t("lab.flag_blew_up", peak=f"{ys[peak]:.3g}", step=c.metrics["step"][peak])
        at_chance = t("lab.flag_stuck_from", step=c.metrics["step"][i])
        fig.add_trace(go.Scatter(
            x=[xs[peak], xs[i]], y=[ys[peak], ys[i]], mode="markers", hovertext=[blew, at_chance], hoverinfo="text",
            marker=dict(symbol=["triangle-up", "circle-open"], **marker), showlegend=False,
            legendgroup=f"run{c.run_id}", meta=c.run_id, name=t("lab.flag_stuck"),
        ))
        fig.add_annotation(x=xs[i], y=ys[i], text=f"{blew},<br>{at_chance}", showarrow=True, arrowhead=2, ax=40, ay=-50,
                           xanchor="left", font=dict(color=DIVERGED_COLOR), bgcolor="#fff7ed", bordercolor=DIVERGED_COLOR)


def stuck_from(losses: Sequence[float], chance: float | None) -> int | None:
    """Index of the first loss after the blow-up of a run stuck at chance: after the last loss of at
    least 3·ln C (the spike ``resnet.lab.train.blew_up_then_stuck`` looks for). None without one."""
    if chance is None:
        return None
    spikes = [i for i, v in enumerate(losses) if v >= 3 * chance]
    return spikes[-1] + 1 if spikes and spikes[-1] + 1 < len(losses) else None


@shared_figure(maxsize=32, key=lambda curves, *args, **kwargs: (by_value(curves), args, kwargs))
def eval_figure(
    curves: Sequence[Curve], metric: str, t: Text, *, x_axis: str = "step", log_y: bool = False, height: int | None = None,
) -> go.Figure:
    """Test loss or test accuracy at the evaluation steps (``metric``: test_loss | test_acc)."""
    fig = go.Figure()
    for c in curves:
        if c.band:
            _band_traces(fig, c, c.seeds, metric, x_axis, t, hover="%{y:.1%}" if metric == "test_acc" else "%{y:.3g}")
            continue
        xs = _xs(c.metrics, x_axis)
        points = [(x, v) for x, v in zip(xs, c.metrics[metric]) if v is not None]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=c.name, meta=c.run_id,
            line=dict(color=c.color, width=2, dash="dash" if c.reference else "solid"), marker=dict(size=7, symbol=c.symbol),
            legendgroup=f"run{c.run_id}",
        ))
    fig.update_yaxes(title=t(f"lab.{metric}"), range=[0, 1.02] if metric == "test_acc" else None,
                     tickformat=".0%" if metric == "test_acc" else None)
    if log_y and metric == "test_loss":
        _log_y(fig)
    fig.update_xaxes(title=_x_title(x_axis, t))
    height = height or 300 + 24 * len(curves)  # a half-width chart: about one legend row per run
    fig.update_layout(height=height, title=dict(text=t(f"lab.{metric}"), x=0, font=FONT), legend=_legend(),
                      uirevision=f"{x_axis}-{log_y}", **LAYOUT)  # as train_loss_figure's
    return fig


@dataclass(frozen=True)
class VariantBand:
    """One variant over its seeds as the charts draw it: its legend name (the variant's label),
    colour and ``resnet.lab.seeds.band`` of the metric drawn."""

    name: str
    color: str
    band: Band


def _translucent(color: str, alpha: float) -> str:
    """A "#rrggbb" colour as rgba with ``alpha``: a band under its median line."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _edges_and_median(fig: go.Figure, b: Band, xs: list, color: str, group: str, t: Text, hover: str,
                      median: dict[str, Any]) -> None:
    """A band's three traces: its lower edge, its upper edge filled down to it, and its median line
    (``median``: the line trace's own settings: name, dash, markers…), one legend group."""
    n = max(b.runs, default=0)
    edge = dict(color=color, width=0)
    fig.add_trace(go.Scatter(x=xs, y=b.low, mode="lines", line=edge, legendgroup=group, showlegend=False,
                             name=t("seeds.low", n=n), hovertemplate=hover))
    fig.add_trace(go.Scatter(x=xs, y=b.high, mode="lines", line=edge, fill="tonexty", fillcolor=_translucent(color, 0.2),
                             legendgroup=group, showlegend=False, name=t("seeds.high", n=n), hovertemplate=hover))
    fig.add_trace(go.Scatter(x=xs, y=b.median, legendgroup=group, hovertemplate=hover, **median))


def _band_traces(fig: go.Figure, c: Curve, seeds: Sequence[dict[str, list]], metric: str, x_axis: str, t: Text, hover: str) -> None:
    """``c``'s seeds as a median line (dashed for reference runs, the curve's marker) over their min–max band.
    On a wall-clock axis a step sits at the seeds' median time to reach it."""
    b = seed_stats.band([{"metrics": m} for m in seeds], metric)
    xs: list = b.steps
    if x_axis == "wall":
        wall = seed_stats.band([{"metrics": m} for m in seeds], "wall_s")
        at = dict(zip(wall.steps, wall.median))
        xs = [at.get(step) for step in b.steps]
    _edges_and_median(fig, b, xs, c.color, f"run{c.run_id}", t, hover, dict(
        mode="lines+markers", name=c.name, meta=c.run_id, connectgaps=False,
        line=dict(color=c.color, width=2, dash="dash" if c.reference else "solid"),
        marker=dict(symbol=c.symbol, size=7, maxdisplayed=MARKERS_PER_CURVE)))


@shared_figure(maxsize=32, key=lambda variants, *args, **kwargs: (by_value(variants), args, by_value(kwargs)))
def band_figure(
    variants: Sequence[VariantBand], t: Text, *, metric: str = "train_loss", live: Sequence[Curve] = (),
    log_y: bool = False, height: int | None = None,
) -> go.Figure:
    """Each variant's median over its seeds, a line over the filled band from the lowest to the
    highest seed at every step, one legend entry per variant (clicking it hides the band too);
    ``live`` runs (``Curve``) drawn solid on top, each over its variant's band.

    ``metric``: train_loss | test_loss | test_acc, as the variants' bands hold it.
    """
    accuracy = metric == "test_acc"
    hover = "%{y:.1%}" if accuracy else "%{y:.3g}"
    fig = go.Figure()
    for v in variants:
        n = max(v.band.runs, default=0)
        _edges_and_median(fig, v.band, v.band.steps, v.color, f"band:{v.name}", t, hover, dict(
            mode="lines", line=dict(color=v.color, width=2), name=t("seeds.median", label=plain(v.name), n=n)))
    for c in live:
        points = [(x, y) for x, y in zip(c.metrics["step"], c.metrics[metric]) if y is not None]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=c.name, meta=c.run_id,
            line=dict(color=c.color, width=2), marker=dict(symbol=c.symbol, size=7, maxdisplayed=MARKERS_PER_CURVE),
            legendgroup=f"run{c.run_id}", connectgaps=False,
        ))
        if metric == "train_loss":
            _flag(fig, c, c.metrics["step"], c.metrics["train_loss"], t)
    fig.update_yaxes(title=t(f"lab.{metric}"), range=[0, 1.02] if accuracy else None, tickformat=".0%" if accuracy else None)
    if log_y and not accuracy:
        _log_y(fig)
    fig.update_xaxes(title=_x_title("step", t))
    height = height or 400 + 22 * math.ceil((len(variants) + len(live)) / 2)  # room for the legend's rows
    fig.update_layout(height=height, title=dict(text=t(f"lab.{metric}"), x=0, font=FONT), legend=_legend(), **LAYOUT)
    return fig


def _last(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if _finite(v)]
    return finite[-1] if finite else None


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _final(c: Curve, metric: str) -> float | None:
    """A curve's last value of ``metric``: a band's is the median over its seeds' last values."""
    if not c.band:
        return _last(c.metrics[metric])
    ends = [v for m in c.seeds if (v := _last(m[metric])) is not None]
    return _median(ends) if ends else None


def _run_name(c: Curve) -> str:
    return c.name.split(" ⚠ ")[0]


def train_summary(curves: Sequence[Curve], t: Text) -> str:
    """The training-loss chart in one line (for screen readers): the runs, the lowest and highest last loss, the flags."""
    ends = [(v, c) for c in curves if (v := _final(c, "train_loss")) is not None]
    if not ends:
        return t("lab.sum.empty", n=len(curves))
    (low, best), (high, worst) = min(ends, key=lambda e: e[0]), max(ends, key=lambda e: e[0])
    text = t("lab.sum.train", n=len(curves), best=_run_name(best), low=f"{low:.3g}", worst=_run_name(worst), high=f"{high:.3g}")
    flagged = [_run_name(c) for c in curves if c.stuck or c.diverged_step is not None]
    return text + (" " + t("lab.sum.flagged", runs="; ".join(flagged)) if flagged else "")


def eval_summary(curves: Sequence[Curve], metric: str, t: Text) -> str:
    """A test-loss or test-accuracy chart in one line: the best and worst value at each run's last evaluation."""
    ends = [(v, c) for c in curves if (v := _final(c, metric)) is not None]
    if not ends:
        return t("lab.sum.empty", n=len(curves))
    good, bad = (max, min) if metric == "test_acc" else (min, max)
    (v1, c1), (v2, c2) = good(ends, key=lambda e: e[0]), bad(ends, key=lambda e: e[0])
    show = (lambda v: f"{v:.1%}") if metric == "test_acc" else (lambda v: f"{v:.3g}")
    return t(f"lab.sum.{metric}", n=len(curves), best=_run_name(c1), good=show(v1), worst=_run_name(c2), bad=show(v2))


def block_summary(series: Sequence[Series], title: str, t: Text) -> str:
    """A per-block chart in one line: its lines, and where the largest value is."""
    points = [(v, s.name, s.names[i]) for s in series for i, v in enumerate(s.values) if _finite(v)]
    if not points:
        return t("lab.sum.block_empty", title=title)
    value, name, block = max(points)
    return t("lab.sum.block", title=title, n=len(series), value=f"{value:.3g}", run=name, block=block)


@dataclass
class Series:
    """One line of a per-block chart: values by block (or layer) index; over several seeds the
    median, with the lowest and highest seed's values as a band (``low``, ``high``)."""

    name: str
    color: str
    names: list[str]  # block or layer names, for the hover
    values: list[float]
    dash: str = "solid"
    low: list[float] | None = None
    high: list[float] | None = None
    seeds: int = 1


def _over_seeds(name: str, color: str, names: list[str], rows: Sequence[Sequence[float]], dash: str, t: Text) -> Series:
    """One variant's per-block values at one or several seeds: the values, or their median on a min–max band."""
    if len(rows) == 1:
        return Series(name, color, names, list(rows[0]), dash=dash)
    columns = list(zip(*rows))  # block by block (the seeds of a variant have the same blocks)
    return Series(f"{name} · {t('lab.seeds_band', n=len(rows))}", color, names, [_median(c) for c in columns], dash=dash,
                  low=[min(c) for c in columns], high=[max(c) for c in columns], seeds=len(rows))


def block_series(measured: Sequence[RunSignals], colors: dict[int, str], t: Text) -> tuple[list[Series], list[Series], list[Series]]:
    """Per-block lines of the measured runs: forward RMS, backward RMS (dotted at init), Fig. 7 response std (trained).

    The seeds of one variant (same source kind, same state) are one series: their median on a min–max band.
    """
    groups: dict[tuple, list[RunSignals]] = {}
    for m in measured:
        groups.setdefault((m.trained, m.run.source == "reference", seed_stats.variant_key(m.run.config)), []).append(m)
    forward, backward, response = [], [], []
    for (trained, _, _), ms in groups.items():
        first = ms[0]
        names, color, dash = [s.name for s in first.signals], colors[first.run.id], "solid" if trained else "dot"
        data = data_set_name(first.run.config, t)
        ids = f" #{first.run.id}"  # a group's: its first run's
        label = f"{first.run.label} · {data}{ids} · {t('lab.trained')}" if trained else f"{first.run.label} · {data} · {t('lab.at_init')}"
        forward.append(_over_seeds(label, color, names, [[s.out_rms for s in m.signals] for m in ms], dash, t))
        backward.append(_over_seeds(label, color, names, [[s.grad_rms for s in m.signals] for m in ms], dash, t))
        stds = [m for m in ms if m.response_std]
        if trained and stds:
            response.append(_over_seeds(f"{first.run.label} · {data}{ids}", color, [n for n, _ in stds[0].response_std],
                                        [[v for _, v in m.response_std] for m in stds], "solid", t))
    return forward, backward, response


@shared_figure(maxsize=32, key=lambda series, *args, **kwargs: (by_value(series), args, kwargs))
def block_figure(series: Sequence[Series], y_title: str, x_title: str, *, log_y: bool | None = True, height: int | None = None) -> go.Figure:
    """Per-block (or per-layer) values vs. depth, one line per series; x = index from 1.

    ``log_y=None``: log when the positive values span more than a factor of 100.
    """
    fig = go.Figure()
    for i, s in enumerate(series):
        xs = list(range(1, len(s.values) + 1))
        if s.low is not None and s.high is not None:  # the seeds' band under their median
            edge = dict(color=s.color, width=0)
            fig.add_trace(go.Scatter(x=xs, y=s.low, mode="lines", line=edge, legendgroup=f"series{i}", showlegend=False,
                                     hoverinfo="skip", name=s.name))
            fig.add_trace(go.Scatter(x=xs, y=s.high, mode="lines", line=edge, fill="tonexty", fillcolor=_translucent(s.color, 0.2),
                                     legendgroup=f"series{i}", showlegend=False, hoverinfo="skip", name=s.name))
        fig.add_trace(go.Scatter(
            x=xs, y=s.values, customdata=s.names, mode="lines+markers", name=s.name, legendgroup=f"series{i}",
            line=dict(color=s.color, width=2, dash=s.dash), marker=dict(size=4),
            hovertemplate="%{customdata}: %{y:.3g}<extra>%{fullData.name}</extra>",
        ))
    fig.update_yaxes(title=y_title)
    if log_y is None:
        positive = [v for s in series for v in [*s.values, *(s.low or []), *(s.high or [])] if math.isfinite(v) and v > 0]
        log_y = bool(positive) and max(positive) > 100 * min(positive)
    if log_y:
        _log_y(fig)
    fig.update_xaxes(title=x_title)
    height = height or 300 + 22 * len(series)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), legend=_legend(), showlegend=True, font=FONT)
    return fig


# ---------------------------------------------------------------------------------
# Runs as the lab names and lists them
# ---------------------------------------------------------------------------------

STATUS_ICONS = {"done": "✅", "running": "⏳", "queued": "🕒", "diverged": "💥", "failed": "❌", "cancelled": "⏹️",
                "interrupted": "⚡"}


def data_set_name(config: dict[str, Any], t: Text) -> str:
    """A run's data set in labels: "digits", "iChallenge-PM", or an image folder's own name ("cats_dogs")."""
    name, folder = config.get("dataset", "digits"), config.get("data_dir")
    if name == "folder" and folder:
        return Path(folder).name
    return t(f"lab.data_short.{name}")


def run_title(run: RunInfo, t: Text) -> str:
    """One run in lists and messages: "#21 ResNet-56 A λ=2 · digits"."""
    return f"#{run.id} {run.label} · {data_set_name(run.config, t)}"


def legend_name(run: RunInfo, t: Text, flags: bool = True) -> str:
    """Legend text: the data set, reference runs say so, live runs carry their id, warnings follow (``flags``)."""
    name = f"{run.label} · {plain(data_set_name(run.config, t))}"  # a folder's name is the user's
    name += f" · {t('lab.ref')}" if run.source == "reference" else f" · {t('lab.source.live')} #{run.id}"
    if not flags:
        return name
    if run.status == "diverged":
        name += " ⚠ " + t("lab.flag_diverged")
    elif run.stuck_at_chance:
        name += " ⚠ " + t("lab.flag_stuck")
    return name


def colour_ids(runs: Sequence[RunInfo]) -> dict[str, int]:
    """Each variant's colour id (its configuration but for the seed: ``seeds.variant_key``): the id of
    its oldest run among ``runs`` (pass the whole store)."""
    ids: dict[str, int] = {}
    for run in sorted(runs, key=lambda r: r.id):
        ids.setdefault(seed_stats.variant_key(run.config), run.id)
    return ids


def style_of(run: RunInfo, ids: dict[str, int]) -> tuple[str, str]:
    """A run's (colour, marker symbol): its variant's (``colour_ids``), or its own id's if not listed."""
    key = ids.get(seed_stats.variant_key(run.config), run.id)
    return run_colour(key), SYMBOLS[key % len(SYMBOLS)]


def colors_for(runs: Sequence[RunInfo], everyone: Sequence[RunInfo] = ()) -> dict[int, str]:
    """Run id → colour; same configuration, same colour (``everyone``: the store's runs, default ``runs``)."""
    ids = colour_ids([*everyone, *runs])
    return {run.id: style_of(run, ids)[0] for run in runs}


def run_curves(runs: Sequence[RunInfo], metrics: dict[int, dict[str, list]], t: Text,
               everyone: Sequence[RunInfo] = (), classes: dict[int, int | None] | None = None) -> list[Curve]:
    """The runs' curves (``metrics``: run id → the store's columns), styled by configuration (``colors_for``);
    ``classes``: run id → its data set's class count, for where a stuck run settles."""
    ids = colour_ids([*everyone, *runs])
    curves = []
    for r in runs:
        color, symbol = style_of(r, ids)
        n = (classes or {}).get(r.id)
        curves.append(Curve(
            run_id=r.id, name=legend_name(r, t), color=color, symbol=symbol, metrics=metrics[r.id], reference=r.source == "reference",
            diverged_step=(r.result or {}).get("diverged_step") if r.status == "diverged" else None, stuck=r.stuck_at_chance,
            chance=chance_loss(n) if n else None,
        ))
    return curves


def group_curves(groups: Sequence[RunGroup], metrics: dict[int, dict[str, list]], t: Text,
                 everyone: Sequence[RunInfo] = (), classes: dict[int, int | None] | None = None) -> list[Curve]:
    """One curve per group (``metrics``: run id → the store's columns, for every member): a single
    run as ``run_curves`` draws it, several seeds as a band named after its seeds and flagged by the
    first seed that diverged or got stuck ("stuck at chance in 3 of 5 seeds")."""
    out = []
    for group in groups:
        head = run_curves([group.runs[0]], metrics, t, everyone, classes)[0]
        if len(group.runs) < 2:
            out.append(head)
            continue
        flagged = next((r for r in group.runs if r.status == "diverged" or r.stuck_at_chance), None)
        shown = run_curves([flagged], metrics, t, everyone, classes)[0] if flagged is not None else head
        n = len(group.runs)
        name = legend_name(group.head, t, flags=False) + " · " + t("lab.seeds_band", n=n)
        if stuck := sum(r.stuck_at_chance for r in group.runs):
            name += " ⚠ " + t("lab.flag_stuck_seeds", k=stuck, n=n)
        if broke := sum(r.status == "diverged" for r in group.runs):
            name += " ⚠ " + t("lab.flag_diverged_seeds", k=broke, n=n)
        out.append(Curve(
            run_id=group.id, name=name, color=head.color, symbol=head.symbol, metrics=shown.metrics, reference=group.reference,
            diverged_step=shown.diverged_step, stuck=shown.stuck, chance=shown.chance,
            seeds=tuple(metrics[r.id] for r in group.runs),
        ))
    return out


def chance_lines(levels: Sequence[ChanceLevel], t: Text) -> list[tuple[float, str]]:
    """(ln C, label) per chance level: "chance level ln 10 = 2.30 (digits)", "… ln 2 = 0.69 (cats_dogs, iChallenge-PM)"."""
    lines = []
    for level in levels:
        names = ", ".join(dict.fromkeys(data_set_name(r.config, t) for r in level.runs))
        lines.append((level.loss, t("lab.chance", classes=level.classes, value=f"{level.loss:.2f}", data=names)))
    return lines


def duration(seconds: float | None, t: Text) -> str:
    """"42 s", "3 min 5 s"; "–" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0, round(seconds))
    return t("lab.min_s", m=seconds // 60, s=seconds % 60) if seconds >= 60 else t("lab.s", s=seconds)


def flags_text(run: RunInfo, t: Text) -> str:
    """The warnings a run deserves, for the run list."""
    flags = []
    if run.status == "diverged":
        step = (run.result or {}).get("diverged_step")
        flags.append(t("lab.flag_diverged_at", step=step if step is not None else "?"))
    if run.stuck_at_chance:
        flags.append(t("lab.flag_stuck"))
    if run.status == "failed" and run.error:
        flags.append(run.error[:200])
    if run.status == "interrupted":
        flags.append(t("lab.flag_interrupted"))
    return " · ".join(flags)


def _percent(value: float) -> str:
    return f"{value:.1%}"


def accuracy_text(run: RunInfo) -> str:
    """A run's final test accuracy with its 95 % Wilson interval over its test images ("95.5 % [93.0, 97.1]"),
    the bare accuracy when the run did not record which images it got right, "–" without one."""
    result = run.result or {}
    acc = result.get("final_test_acc")
    if not isinstance(acc, (int, float)):
        return "–"
    interval = seed_stats.final_accuracy({"result": result})
    if interval is None:
        return _percent(acc)
    return f"{_percent(interval.value)} [{interval.low * 100:.1f}, {interval.high * 100:.1f}]"


def median_run(runs: Sequence[RunInfo]) -> RunInfo:
    """The run whose final test accuracy is the median (the lower middle of an even count), so the
    accuracy a row shows is one run's, with that run's interval; the first run when none has one."""
    scored = sorted((r for r in runs if isinstance((r.result or {}).get("final_test_acc"), (int, float))),
                    key=lambda r: r.result["final_test_acc"])
    return scored[(len(scored) - 1) // 2] if scored else runs[0]


def _spread(values: Sequence[float], show: Any) -> str:
    """"median (lowest–highest)" of several seeds' values."""
    return f"{show(_median(values))} ({show(min(values))}–{show(max(values))})"


def group_row(group: RunGroup, t: Text) -> dict[str, str]:
    """One row of the run list under the charts for a variant at one or several seeds (by translated
    column name): a single run's values, or its seeds' medians with the lowest and highest seed; the
    test accuracy is the median seed's, with its 95 % Wilson interval."""
    runs = group.runs
    if len(runs) == 1:
        return run_row(runs[0], t)
    middle = median_run(runs)
    statuses: dict[str, int] = {}
    for run in runs:
        status = "stuck" if run.stuck_at_chance else run.status
        statuses[status] = statuses.get(status, 0) + 1
    status_text = " · ".join(
        f"{'⚠️' if s == 'stuck' else STATUS_ICONS.get(s, '')} {t('lab.flag_stuck') if s == 'stuck' else t('lab.status.' + s)} ×{k}"
        for s, k in statuses.items())
    flags = [f"{t('lab.seed_of', seed=run.config['seed'])}: {text}" for run in runs if (text := flags_text(run, t))]
    losses = [v for r in runs if isinstance(v := (r.result or {}).get("final_train_loss"), (int, float)) and math.isfinite(v)]
    accs = [v for r in runs if isinstance(v := (r.result or {}).get("final_test_acc"), (int, float))]
    return {
        t("lab.col.run"): run_title(group.head, t),
        t("lab.col.source"): t("lab.source." + group.head.source),
        t("lab.col.seeds"): ", ".join(str(s) for s in group.seeds),
        t("lab.col.status"): status_text,
        t("lab.col.flags"): " · ".join(flags),
        t("lab.col.steps"): f"{min(r.steps_done for r in runs)}/{group.head.steps}",
        t("lab.col.train_loss"): _spread(losses, lambda v: f"{v:.3g}") if losses else "–",
        t("lab.col.test_acc_ci"): accuracy_text(middle),
        t("lab.col.test_acc_seeds"): _spread(accs, _percent) if len(accs) > 1 else "–",
        t("lab.col.wall"): duration(middle.last_wall_s, t),
        t("lab.col.speed"): f"{middle.result['images_per_s']:.0f}" if (middle.result or {}).get("images_per_s") else "–",
    }


def run_row(run: RunInfo, t: Text) -> dict[str, str]:
    """One row of the run list under the charts, by translated column name (``group_row``'s columns)."""
    result = run.result or {}
    icon = "⚠️" if run.stuck_at_chance else STATUS_ICONS.get(run.status, "")
    loss = result.get("final_train_loss")
    return {
        t("lab.col.run"): run_title(run, t),
        t("lab.col.source"): t("lab.source." + run.source),
        t("lab.col.seeds"): str(run.config["seed"]),
        t("lab.col.status"): f"{icon} {t('lab.status.' + run.status)}",
        t("lab.col.flags"): flags_text(run, t),
        t("lab.col.steps"): f"{run.steps_done}/{run.steps}",
        t("lab.col.train_loss"): f"{loss:.4g}" if isinstance(loss, (int, float)) and math.isfinite(loss) else "–",
        t("lab.col.test_acc_ci"): accuracy_text(run),
        t("lab.col.test_acc_seeds"): "–",
        t("lab.col.wall"): duration(run.last_wall_s, t),
        t("lab.col.speed"): f"{result['images_per_s']:.0f}" if result.get("images_per_s") else "–",
    }
