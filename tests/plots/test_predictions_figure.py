"""The class's answers chart (resnet/plots/predictions.py): counts per choice, the revealed choice marked, labels wrapped."""

from __future__ import annotations

from resnet.i18n import Translator
from resnet.plots.predictions import _columns, answers_figure, answers_summary, wrap
from resnet.plots.style import GREEN, GREY, ORANGE

T = Translator("en")
CHOICES = ["plain-56: more layers, more capacity", "plain-20", "About the same"]


def test_counts_per_choice_and_nothing_marked_while_answers_come_in():
    fig = answers_figure(CHOICES, {1: 2, 0: 1}, T)
    bar = fig.data[0]
    assert list(bar.x) == [1, 2, 0] and list(bar.marker.color) == [GREY] * 3
    assert fig.layout.title.text == T("predict.chart.title", n=3)
    assert answers_summary(CHOICES, {1: 2, 0: 1}, T) == T("predict.chart.summary", counts="; ".join(
        [T("predict.chart.count", choice=CHOICES[0], n=1), T("predict.chart.count", choice=CHOICES[1], n=2),
         T("predict.chart.count", choice=CHOICES[2], n=0)]))


def test_the_revealed_choice_is_marked_as_sure_as_the_measurement():
    decided = answers_figure(CHOICES, {}, T, marked=1, decided=True).data[0]
    assert list(decided.marker.color) == [GREY, GREEN, GREY] and T("predict.chart.marked") in decided.y[1]
    ahead = answers_figure(CHOICES, {}, T, marked=1, decided=False).data[0]
    assert list(ahead.marker.color) == [GREY, ORANGE, GREY] and T("predict.chart.ahead") in ahead.y[1]


def test_the_height_depends_only_on_the_number_of_choices():
    assert answers_figure(CHOICES, {}, T).layout.height == answers_figure(CHOICES, {0: 30, 1: 12}, T, marked=0).layout.height


def test_long_labels_wrap_by_display_width_without_losing_text():
    en = "constant scaling, λ = 0.5 on the shortcut and 0.5·F(x) (Fig. 2b)"
    zh = "常数缩放，捷径上 λ = 0.5，残差分支 0.5·F(x)（图 2b）"
    for text in (en, zh):
        lines = wrap(text, 20).split("<br>")
        assert len(lines) > 1 and all(_columns(line) <= 20 for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert wrap("plain-20") == "plain-20"
