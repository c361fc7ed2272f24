"""resnet.plots.curves.band_figure: a variant's median over seeds over its min–max band, live runs on top."""

from __future__ import annotations

import pytest

from resnet.i18n import LANGS, Translator
from resnet.lab.seeds import band
from resnet.plots.curves import Curve, VariantBand, band_figure


def _run(seed: int, losses: list[float], accs: list[float | None]) -> dict:
    steps = list(range(1, len(losses) + 1))
    return {"label": "plain-56", "config": {"seed": seed},
            "metrics": {"step": steps, "train_loss": losses, "test_acc": accs}}


RUNS = [
    _run(0, [2.3, 2.0, 1.0], [None, 0.2, 0.5]),
    _run(1, [2.4, 1.0, 0.5], [None, 0.4, 0.9]),
    _run(2, [2.2, 3.0, 2.0], [None, 0.1, 0.3]),
]


@pytest.mark.parametrize("lang", LANGS)
def test_band_is_filled_between_min_and_max_under_the_median(lang):
    t = Translator(lang)
    fig = band_figure([VariantBand("plain-56", "#0072b2", band(RUNS))], t)
    low, high, median = fig.data
    assert list(low.x) == list(high.x) == list(median.x) == [1, 2, 3]
    assert list(low.y) == [2.2, 1.0, 0.5] and list(high.y) == [2.4, 3.0, 2.0] and list(median.y) == [2.3, 2.0, 1.0]
    assert high.fill == "tonexty" and low.fill is None and high.fillcolor == "rgba(0,114,178,0.2)"
    # one legend entry per variant, named as a median over the seeds; the band's edges named in the hover
    assert [tr.showlegend for tr in fig.data] == [False, False, None]
    assert median.name == t("seeds.median", label="plain-56", n=3) and "plain-56" in median.name
    assert (low.name, high.name) == (t("seeds.low", n=3), t("seeds.high", n=3))
    assert low.legendgroup == high.legendgroup == median.legendgroup  # the legend hides the band with its line
    assert "⟦" not in median.name + low.name + high.name  # every text is in the catalog


def test_live_run_is_drawn_over_its_variants_band():
    t = Translator("en")
    live = Curve(run_id=7, name="plain-56 · digits · live #7", color="#d55e00",
                 metrics={"step": [1, 2], "train_loss": [2.5, 1.5], "test_acc": [None, 0.3]})
    fig = band_figure([VariantBand("plain-56", "#0072b2", band(RUNS))], t, live=[live])
    assert len(fig.data) == 4 and fig.data[-1].name == live.name  # drawn last: on top of the band
    assert list(fig.data[-1].y) == [2.5, 1.5] and fig.data[-1].line.color == "#d55e00"


def test_test_accuracy_band_keeps_the_evaluation_steps_only():
    t = Translator("en")
    fig = band_figure([VariantBand("plain-56", "#0072b2", band(RUNS, "test_acc"))], t, metric="test_acc")
    low, high, median = fig.data
    assert list(median.x) == [2, 3] and list(median.y) == [0.2, 0.5]
    assert list(low.y) == [0.1, 0.3] and list(high.y) == [0.4, 0.9]
    assert fig.layout.yaxis.tickformat == ".0%" and fig.layout.yaxis.title.text == t("lab.test_acc")


def test_two_variants_get_their_own_colours_and_legend_entries():
    t = Translator("en")
    other = [dict(r, label="ResNet-56 A") for r in RUNS]
    fig = band_figure([VariantBand("plain-56", "#0072b2", band(RUNS)),
                       VariantBand("ResNet-56 A", "#d55e00", band(other))], t)
    shown = [tr for tr in fig.data if tr.showlegend is not False]
    assert [tr.line.color for tr in shown] == ["#0072b2", "#d55e00"]
    assert len({tr.legendgroup for tr in fig.data}) == 2


# ---------------------------------------------------------------------------------
# The lab's charts: a variant at several seeds (session.RunGroup) is one band-drawn Curve
# ---------------------------------------------------------------------------------

from resnet.lab.session import reference_bands, run_groups  # noqa: E402
from resnet.lab.store import RunInfo  # noqa: E402
from resnet.plots.curves import eval_figure, group_curves, group_row, train_loss_figure, train_summary  # noqa: E402

CONFIG = {"dataset": "digits", "depth": 56, "shortcut": "none", "steps": 3}


def _info(run_id: int, seed: int, source: str = "reference", status: str = "done", stuck: bool = False) -> RunInfo:
    return RunInfo(run_id, {**CONFIG, "seed": seed}, "plain-56", source, status, stuck, False, None, 0.0, 0.0, 0.0,
                   {"final_train_loss": 1.0, "final_test_acc": 0.5}, None, 3, 0.3)


def _metrics(losses: list[float], accs: list[float | None], wall: float = 0.1) -> dict[str, list]:
    steps = list(range(1, len(losses) + 1))
    return {"step": steps, "wall_s": [wall * s for s in steps], "train_loss": losses, "test_loss": losses, "test_acc": accs}


def _store_like() -> tuple[list[RunInfo], dict[int, dict[str, list]]]:
    """Three reference seeds of plain-56 (ids 1–3) and one live run of the same variant at seed 7 (id 4)."""
    runs = [_info(i + 1, seed) for i, seed in enumerate((0, 1, 2))] + [_info(4, 7, source="live")]
    metrics = {i + 1: _metrics(r["metrics"]["train_loss"], r["metrics"]["test_acc"], wall=0.1 * (i + 1)) for i, r in enumerate(RUNS)}
    metrics[4] = _metrics([2.5, 1.5, 0.7], [None, 0.3, 0.6])
    return runs, metrics


@pytest.mark.parametrize("lang", LANGS)
def test_a_reference_variant_is_one_band_and_a_live_run_a_line_over_it(lang):
    t = Translator(lang)
    runs, metrics = _store_like()
    groups = run_groups(runs)
    assert [(g.id, g.seeds) for g in groups] == [(1, [0, 1, 2]), (4, [7])]
    live = groups[1]
    under = reference_bands([live], groups)
    assert under == [groups[0]]  # its variant's reference band, though not picked
    band_curve, live_curve = group_curves([*under, live], metrics, t, everyone=runs)
    assert band_curve.band and not live_curve.band and band_curve.color == live_curve.color  # one variant, one colour
    fig = train_loss_figure([band_curve, live_curve], t)
    low, high, median, line = fig.data
    assert list(low.y) == [2.2, 1.0, 0.5] and list(high.y) == [2.4, 3.0, 2.0] and list(median.y) == [2.3, 2.0, 1.0]
    assert high.fill == "tonexty" and median.line.dash == "dash" and line.line.dash == "solid"  # reference dashed, live solid
    assert median.name.endswith(t("lab.seeds_band", n=3)) and "⟦" not in median.name
    assert list(line.y) == [2.5, 1.5, 0.7]  # drawn last: on top of the band
    acc = eval_figure([band_curve, live_curve], "test_acc", t)
    assert list(acc.data[2].x) == [2, 3] and list(acc.data[2].y) == [0.2, 0.5] and acc.data[1].fill == "tonexty"
    # the summary reads the band's median, not one seed
    # seeds' last losses 0.5 (seed 0 here), 1.0, 2.0: the band's is their median, 1
    metrics[1], metrics[2] = metrics[2], metrics[1]
    band_curve, live_curve = group_curves([*under, live], metrics, t, everyone=runs)
    assert train_summary([band_curve, live_curve], t) == t("lab.sum.train", n=2, best=live_curve.name, low="0.7",
                                                           worst=band_curve.name, high="1")


def test_each_seed_is_smoothed_before_the_band_and_wall_time_is_the_seeds_median():
    t = Translator("en")
    runs, metrics = _store_like()
    (curve,) = group_curves(run_groups(runs[:3]), metrics, t)
    from resnet.lab.seeds import band as seed_band
    from resnet.plots.curves import ema

    smoothed = seed_band([{"metrics": {**m, "train_loss": ema(m["train_loss"], 0.5)}} for m in (metrics[1], metrics[2], metrics[3])])
    low, high, median = train_loss_figure([curve], t, smoothing=0.5).data
    assert list(median.y) == smoothed.median and list(low.y) == smoothed.low and list(high.y) == smoothed.high
    low, high, median = train_loss_figure([curve], t, x_axis="wall").data
    assert list(median.x) == pytest.approx([0.2, 0.4, 0.6])  # seeds' times: 0.1·k, 0.2·k, 0.3·k at step k


def test_a_band_is_flagged_by_its_seeds_and_marks_the_flagged_seeds_curve():
    t = Translator("en")
    runs = [_info(1, 0, stuck=True), _info(2, 1, status="diverged"), _info(3, 2)]
    runs[1] = RunInfo(**{**runs[1].__dict__, "result": {"diverged_step": 2, "final_train_loss": None, "final_test_acc": None}})
    metrics = {1: _metrics([60.0, 2.3, 2.3], [None, 0.1, 0.1]), 2: _metrics([60.0, None, None], [None, None, None]),
               3: _metrics([2.3, 1.0, 0.5], [None, 0.4, 0.8])}
    (curve,) = group_curves(run_groups(runs), metrics, t, classes={1: 10, 2: 10, 3: 10})
    assert curve.name.endswith("⚠ stuck at chance in 1 of 3 seeds ⚠ diverged in 1 of 3 seeds")
    assert curve.stuck and curve.metrics is metrics[1]  # the first flagged seed's curve carries the marks
    row = group_row(run_groups(runs)[0], t)
    assert row["seeds"] == "0, 1, 2" and "seed 1: diverged at step 2" in row["flags"]


def test_per_block_values_of_several_seeds_are_a_median_on_a_band_and_fig7_says_their_spread():
    from resnet.inference.signals import BlockSignal
    from resnet.lab.session import RunSignals, fig7_spread
    from resnet.plots.curves import block_figure, block_series

    t = Translator("en")

    def measured(run: RunInfo, rms: list[float], trained: bool) -> RunSignals:
        blocks = [BlockSignal(f"layer1.{i}", 1, "off", 0.0, float("nan"), 1.0, v, v, 0.0, 2 * v) for i, v in enumerate(rms)]
        return RunSignals(run, trained, blocks, [(b.name, v / 10) for b, v in zip(blocks, rms)] if trained else [])

    runs = [_info(1, 0), _info(2, 1), _info(3, 2), _info(4, 7, source="live")]
    signals = [measured(runs[0], [1.0, 2.0], True), measured(runs[1], [3.0, 1.0], True), measured(runs[2], [2.0, 5.0], True),
               measured(runs[3], [4.0, 4.0], True)]
    forward, backward, response = block_series(signals, {r.id: "#0072b2" for r in runs}, t)
    assert len(forward) == 2  # the three reference seeds are one series, the live run its own
    seeds, live = forward
    assert (seeds.values, seeds.low, seeds.high, seeds.seeds) == ([2.0, 2.0], [1.0, 1.0], [3.0, 5.0], 3)
    assert seeds.name.endswith(t("lab.seeds_band", n=3)) and live.low is None and live.values == [4.0, 4.0]
    assert backward[0].values == [4.0, 4.0] and response[0].values == pytest.approx([0.2, 0.2])
    fig = block_figure(forward, "RMS", "block")
    low, high, median, line = fig.data
    assert high.fill == "tonexty" and list(low.y) == [1.0, 1.0] and list(median.y) == [2.0, 2.0] and list(line.y) == [4.0, 4.0]
    (run, values), = fig7_spread(signals)  # each seed's mean std over its layers; the live run has one seed
    assert run.id == 1 and values == pytest.approx([0.15, 0.2, 0.35])
