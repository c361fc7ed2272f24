"""resnet/plots/cache.py: a figure is built once per input, every caller gets its own equal copy."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from resnet.i18n import Translator
from resnet.plots.cache import by_value, shared_figure


def counting_builder(**options):
    """A cached builder of a heatmap titled by the translator, and the list of inputs it was really built for."""
    built = []

    @shared_figure(**options)
    def figure(data, t, scale: float = 1.0) -> go.Figure:
        built.append(scale)
        values = data.values if isinstance(data, Points) else data["loss"] if isinstance(data, dict) else data
        z = np.atleast_2d(np.asarray(values, dtype=float)) * scale
        return go.Figure(go.Heatmap(z=z), layout=dict(title=t("why.title")))

    return figure, built


@dataclass
class Points:  # unhashable (a mutable dataclass holding an array): matched by identity
    values: np.ndarray


def test_same_input_is_built_once_and_each_caller_gets_an_independent_equal_figure():
    figure, built = counting_builder()
    points = Points(np.arange(6.0).reshape(2, 3))
    first = figure(points, Translator("en"))
    second = figure(points, Translator("en"), scale=1.0)  # another session's translator, the default spelled out
    assert built == [1.0]
    assert second.to_json() == first.to_json()
    assert second.data[0].z.shape == (2, 3)  # arrays stay arrays, as in a freshly built figure
    second.update_layout(height=123)  # a page may adjust its copy …
    second.data[0].z[0, 0] = 99.0
    third = figure(points, Translator("en"))
    assert third.layout.height is None and third.data[0].z[0, 0] == 0.0  # … without touching anyone else's
    assert built == [1.0]


def test_another_language_or_argument_is_another_figure():
    figure, built = counting_builder()
    points = Points(np.ones((2, 2)))
    en, zh, doubled = figure(points, Translator("en")), figure(points, Translator("zh")), figure(points, Translator("en"), scale=2.0)
    assert built == [1.0, 1.0, 2.0]
    assert en.layout.title.text != zh.layout.title.text
    assert float(doubled.data[0].z.max()) == 2.0


def test_an_input_matched_by_identity_is_forgotten_with_it():
    """An equal but new object is another input; a dead object's entry goes (its id may be reused)."""
    figure, built = counting_builder()
    t = Translator("en")
    figure(Points(np.zeros((2, 2))), t)  # dies at once
    gc.collect()
    for _ in range(3):  # each a new object, perhaps at a dead one's address: never served its figure
        figure(Points(np.full((2, 2), 7.0)), t)
    assert built == [1.0] * 4


def test_least_recently_used_entries_go_beyond_maxsize():
    figure, built = counting_builder(maxsize=2)
    t = Translator("en")
    data = [1.0, 2.0]  # a list: matched by value
    for scale in (1.0, 2.0, 1.0, 3.0, 2.0):  # 2.0 was the least recently used when 3.0 came
        figure(data, t, scale=scale)
    assert built == [1.0, 2.0, 3.0, 2.0]


def test_by_value_keys_inputs_made_anew_on_every_run():
    @dataclass
    class Curve:
        name: str
        metrics: dict[str, list]

    built = []

    @shared_figure(key=lambda curves, t: (by_value(curves), t))
    def chart(curves, t) -> go.Figure:
        built.append(len(curves))
        return go.Figure([go.Scatter(y=c.metrics["loss"], name=c.name) for c in curves])

    t = Translator("en")
    chart([Curve("a", {"loss": [3.0, 2.0]})], t)
    chart([Curve("a", {"loss": [3.0, 2.0]})], t)  # read again from the store: equal
    chart([Curve("a", {"loss": [3.0, 2.0, 1.5]})], t)  # a live run's new point
    assert built == [1, 1]


def test_none_and_other_plain_values_are_keys_by_value():
    figure, built = counting_builder()
    t = Translator("en")
    figure({"loss": [1.0, None], "name": None}, t)
    figure({"loss": [1.0, None], "name": None}, t)
    assert built == [1.0]


def _drawn_json(fig: go.Figure) -> dict:
    """What st.plotly_chart sends for ``fig``: its dict through Plotly's own check, as JSON (parsed)."""
    import json

    import plotly.io
    from plotly.tools import return_figure_from_figure_or_data

    return json.loads(plotly.io.to_json(return_figure_from_figure_or_data(fig, validate_figure=True), validate=False))


def test_a_chart_is_restyled_for_the_room_once_per_input_and_drawn_as_a_fresh_restyle_would_be():
    from resnet.plots.cache import Drawn
    from resnet.plots.style import for_room, restyle

    figure, built = counting_builder()
    t = Translator("en")
    data = [[1.0, 2.0], [3.0, 4.0]]
    for scale in (1.0, 1.5):
        expected = _drawn_json(restyle(go.Figure(figure(data, t)), scale))
        first, second = for_room(figure(data, t), scale), for_room(figure(data, t), scale)
        assert isinstance(second, Drawn) and second.to_dict() is first.to_dict()  # one dict: the chart's identity holds still
        assert _drawn_json(first) == _drawn_json(second) == expected
        assert expected["layout"]["font"]["size"] == 12 * scale
    assert built == [1.0]  # built once, restyled once per scale
    own = go.Figure(go.Bar(y=[1, 2]), layout=dict(height=200))  # a figure no cache handed out: known by its JSON
    assert _drawn_json(for_room(own, 1.5)) == _drawn_json(restyle(go.Figure(own), 1.5))
    own.update_layout(height=300)  # the page changed its own figure: drawn anew
    assert _drawn_json(for_room(own, 1.5))["layout"]["height"] == 450


def test_a_copy_drawn_for_the_room_is_not_made_and_one_read_is(monkeypatch):
    """Drawing a handed-out copy whose restyle exists reads nothing of it, so no copy is made (deep copies of
    every trace and the layout: ~9 % of the server's time while 30 followers moved); reading it makes it."""
    from plotly.basedatatypes import BaseFigure

    from resnet.plots.style import for_room

    figure, built = counting_builder()
    t = Translator("en")
    data = [[1.0, 2.0], [3.0, 4.0]]
    for_room(figure(data, t), 1.0)  # the first drawing restyles a copy: that one is made
    made = []
    original = BaseFigure.__init__

    def counted(self, *args, **kwargs):
        made.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(BaseFigure, "__init__", counted)
    drawn = for_room(figure(data, t), 1.0)
    assert made == [] and drawn.to_dict()["data"][0]["type"] == "heatmap"
    copy = figure(data, t)
    assert copy.layout.title.text == t("why.title") and copy.data[0].z.shape == (2, 2)
    assert made == ["_Handout"] and built == [1.0]
