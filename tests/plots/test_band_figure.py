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
