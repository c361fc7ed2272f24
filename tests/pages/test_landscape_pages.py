"""Loss landscapes on the pages: the Why page's shipped pair, the lab's section (shipped, cached, started, cancelled).

Sources: Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets" (§4, Fig. 5);
Goodfellow, Vinyals & Saxe 2015, "Qualitatively characterizing neural network optimization problems".
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from pages.common.lab_context import ANALYSED
from pages.common.ui import md_escape
from resnet.i18n import Translator, catalog
from resnet.lab import pools, surfaces, tasks
from resnet.lab.config import TrainConfig
from resnet.lab.data import load_digits
from resnet.lab.landscape import interpolation_payload, surface_payload
from resnet.lab.queued import Submitted
from resnet.lab.store import Artifact, RunStore
from resnet.lab.train import train
from resnet.paths import trained_weights_path
from resnet.plots import curves
from resnet.plots.landscape import loss_text
from tests.helpers import open_page, query_param

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=2, eval_every=2, seed=3)


def charts(at) -> list[tuple[str, dict]]:
    """(the subplot titles they show, or their title text; Plotly spec) of every chart."""
    found = []
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        titles = [a["text"] for a in spec["layout"].get("annotations", [])]
        found.append((" | ".join(titles) or spec["layout"].get("title", {}).get("text", ""), spec))
    return found


def text_of(at) -> str:
    return "\n".join(e.value for group in (at.markdown, at.caption, at.info, at.warning) for e in group)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_why_page_shows_the_shipped_pair_and_what_it_shows(lang):
    at = open_page("app.py", lang=lang)
    shipped = surfaces.shipped_landscapes()
    texts = catalog(lang)
    text = text_of(at)
    assert texts["why.landscape"] in [h.value for h in at.header]

    def pair() -> dict:
        return next(spec for title, spec in charts(at) if shipped[0]["label"] in title and shipped[1]["label"] in title)

    # contours on opening; the 3-D surfaces (WebGL, slow to draw without a GPU) once chosen, in the share link too
    contours = [d for d in pair()["data"] if d["type"] == "contour"]
    assert len(contours) == 2 and contours[0]["zmin"] == contours[1]["zmin"]  # one shared colour scale
    assert not any(d["type"] == "surface" for _, spec in charts(at) for d in spec["data"])
    at.radio(key="why.landscape").set_value("3d").run()
    surfaces_drawn = [d for d in pair()["data"] if d["type"] == "surface"]
    assert len(surfaces_drawn) == 2 and surfaces_drawn[0]["cmin"] == surfaces_drawn[1]["cmin"]
    assert query_param(at, "landscape") == "3d"
    # the numbers the text quotes are the shipped file's (python -m resnet.lab landscape)
    for entry in shipped:
        surface = entry["surface"]
        assert loss_text(surface["center"]) in text and loss_text(surfaces.edge_mean(surface["loss"])) in text
        assert f"{surfaces.local_minima(surface['loss'])}" in text
    assert "512" in text and "⟦" not in text


def test_lab_shows_the_shipped_surfaces_of_the_reference_pair():
    at = open_page("pages/lab.py", lang="en", preset="degradation")
    text = text_of(at)
    assert "Loss landscape: why do shortcuts make training easier?" in [h.value for h in at.header]
    specs = charts(at)
    contour = next(spec for title, spec in specs if "ResNet-56" in title and "plain-56" in title
                   and any(d["type"] == "contour" for d in spec["data"]))
    assert contour["layout"]["title"]["text"].startswith("Mean cross-entropy on 512 fixed training images")
    assert any(any(d["type"] == "scatter" and d["x"][0] == 0.0 for d in spec["data"]) for spec in [contour])  # θ marked
    # contours on opening, as on the Why page; the 3-D surfaces (WebGL, seconds to draw without a GPU) once chosen
    assert not any(d["type"] == "surface" for _, spec in specs for d in spec["data"])
    at.radio(key="lab_landscape_view").set_value("3d").run()
    pair = [spec for title, spec in charts(at) if "ResNet-56" in title and "plain-56" in title]
    assert len(pair) == 1 and [d["type"] for d in pair[0]["data"]].count("surface") == 2
    assert "plain-20" in text and "No landscape for" in text  # the shallow pair ships curves only
    button = next(b for b in at.button if b.key == "lab_landscape_compute")
    assert button.disabled  # nothing the lab could compute: no run finished here


def finished_run(digits) -> tuple[RunStore, int]:
    """A run trained and finished in the default store, its weights where a worker saves them."""
    store = RunStore()
    run_id = store.create_run(TINY)
    store.finish_run(run_id, train(TINY, data=digits, save_weights=trained_weights_path(store.address, run_id, TINY.label)))
    return store, run_id


def test_lab_computes_in_task_processes_shows_progress_and_cancels(monkeypatch):
    store, run_id = finished_run(load_digits())
    started, cancelled = [], []

    def start_task(store_path, run_id_, kind, key, target, kwargs, **options):
        if kind in (surfaces.SURFACE, surfaces.INTERPOLATION):  # the diagnostics start theirs too
            started.append((kind, key, target, kwargs.get("size")))
        return Artifact(run_id_, kind, key, "running", 0.0, None, None, 0.0)

    monkeypatch.setattr(tasks, "start_task", start_task)
    monkeypatch.setattr(tasks, "cancel_task", lambda path, rid, kind, key: cancelled.append((rid, kind, key)))
    at = open_page("pages/lab.py", lang="en", runs=str(run_id))
    assert "No surface of these runs at this grid yet" in text_of(at)
    next(b for b in at.button if b.key == "lab_landscape_compute").click().run()
    assert started == [("landscape", "21x21-seed0-n512", "resnet.lab.landscape:surface_task", 21),
                       ("interpolation", "t31-n512", "resnet.lab.landscape:interpolation_task", None)]
    for kind, key, _, _ in started:  # what a task process does first (resnet.lab.tasks.start_task)
        store.begin_artifact(run_id, kind, key, 1)
    store.artifact_progress(run_id, "landscape", "21x21-seed0-n512", 0.5)
    at.run()
    bar = next(p.proto for p in at.get("progress") if "Computing the 21×21 surface" in p.proto.text)
    assert bar.value == 45  # 0.9 × half the surface
    next(b for b in at.button if b.key == f"cancel_landscape_{run_id}").click().run()
    assert cancelled == [(run_id, "landscape", "21x21-seed0-n512"), (run_id, "interpolation", "t31-n512")]


def test_lab_draws_a_cached_surface_and_curve_in_chinese():
    store, run_id = finished_run(load_digits())
    grid = surfaces.Grid(21)
    a, b = np.meshgrid(grid.coords(), grid.coords())
    store.begin_artifact(run_id, "landscape", "21x21-seed0-n512", 1)
    store.finish_artifact(run_id, "landscape", "21x21-seed0-n512",
                          surface_payload(TINY.label, 0.2 + a**2 + 2 * b**2, grid, 0, 512))
    ts = np.linspace(-0.25, 1.25, 31)
    store.begin_artifact(run_id, "interpolation", "t31-n512", 1)
    store.finish_artifact(run_id, "interpolation", "t31-n512", interpolation_payload(TINY.label, ts, 2.3 - ts + ts**2, 512))
    at = open_page("pages/lab.py", lang="zh", runs=str(run_id))
    text = text_of(at)
    assert "⟦" not in text and catalog("zh")["lab.landscape.title"] in [h.value for h in at.header]
    specs = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    contour = next(s for s in specs if any(d["type"] == "contour" for d in s["data"]))
    assert contour["data"][0]["z"]["shape"] == "21, 21" and "512" in contour["layout"]["title"]["text"]
    curve = next(s for s in specs if s["layout"].get("xaxis", {}).get("title", {}).get("text", "").startswith("θ(t)"))
    assert len(curve["data"][0]["x"]) == 31
    assert "0.2" in text  # the summary quotes the loss at the run's own weights


class QueueOnlyPool:
    """Stands in for ``resnet.lab.pools.pool_for``: queues in the real store, trains nothing."""

    def __init__(self, path=None) -> None:
        self.store = RunStore(path)

    def submit_many(self, configs, owner=None) -> list[Submitted]:
        return [Submitted(*self.store.enqueue(c, owner)) for c in configs]


def finish_with_weights(store: RunStore, run_ids: list[int], folder) -> None:
    """Mark the runs done as a worker would, each with a saved weights file (never loaded: the task line is stubbed)."""
    with sqlite3.connect(store.address) as con:
        for run_id in run_ids:
            weights = folder / f"run{run_id}.pdparams"
            weights.write_bytes(b"stub")
            con.execute("UPDATE runs SET status = 'done', result = ? WHERE id = ?", (json.dumps({"weights": str(weights)}), run_id))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_after_rerun_live_the_analyses_measure_the_new_runs_and_one_click_computes_their_landscapes(lang, monkeypatch, tmp_path,
                                                                                                     no_task_processes):
    """Issue 22: after "Rerun live" of the Degradation preset the analyses pick its four live runs (not the
    references listed before them); while they train the disabled button says why, and once they finish one
    click starts their landscapes. A pick of the visitor's own is kept until the next "Rerun live"."""
    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)
    t = Translator(lang)
    at = open_page("pages/lab.py", lang=lang, preset="degradation")
    references = at.multiselect(key="lab.runs").value
    assert at.multiselect(key=ANALYSED).value == references  # nothing live yet: the references' analyses
    at.button(key="rerun_live").click().run()
    store = RunStore()
    live = [r.id for r in store.list_runs(source="live")]
    assert len(live) == 4 and at.multiselect(key="lab.runs").value == references + live  # the live runs are 5th–8th on the chart
    pick = at.multiselect(key=ANALYSED)
    assert pick.value == live and pick.label == t("lab.analysed", n=4)
    button = at.button(key="lab_landscape_compute")
    assert button.disabled and button.label == t("lab.landscape.compute", n=0)
    titles = [md_escape(curves.run_title(r, t)) for r in store.list_runs(source="live")]
    assert t("lab.landscape.why_training", runs=", ".join(titles)) in [i.value for i in at.info]  # why, and what then

    finish_with_weights(store, live, tmp_path)
    at.run()
    button = at.button(key="lab_landscape_compute")
    assert not button.disabled and button.label == t("lab.landscape.compute", n=4)
    button.click().run()
    started = sorted((task.run_id, task.kind) for task in no_task_processes.tasks if task.kind in (surfaces.SURFACE, surfaces.INTERPOLATION))
    assert started == sorted((i, kind) for i in live for kind in (surfaces.SURFACE, surfaces.INTERPOLATION))
    bars = [p.proto.text for p in at.get("progress")]
    assert all(t("lab.landscape.computing", label=title, size=21) in bars for title in titles)
    done = at.button(key="lab_landscape_compute")  # all four computing: nothing left to start, and it says so
    assert done.disabled and t("lab.landscape.why_done", size=21) in " ".join(i.value for i in at.info)

    at.multiselect(key=ANALYSED).set_value([live[0]]).run()  # the visitor's own pick
    assert at.multiselect(key=ANALYSED).value == [live[0]]
    at.radio(key="lab.preset").set_value("degradation").run()
    assert at.multiselect(key=ANALYSED).value == [live[0]]  # kept across page runs
    assert not at.exception
