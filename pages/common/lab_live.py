"""The Training lab's live region: the queue, the curves and the analyses, redrawn from the store.

One fragment draws the whole region from one ``Snapshot`` of the store per tick. Nothing
above it on the page changes how many elements it draws (the page gives every conditional
notice a fixed slot), its parts are containers made unconditionally in a fixed order, and
each queue row is a container keyed by its run: the elements keep their places, so a row
never shows twice and a Cancel button stays put under the pointer. The region never reruns
the page: what finishes (a run, a diagnostic, a landscape) is drawn by its next tick.

A fragment's tick that draws nothing clears what it drew, so every tick draws the region
again; a tick whose snapshot has not moved reuses it (only the run list is read) and its
figures come from ``resnet.plots.cache``, but sending them again still costs the server
CPU for every open tab. So the page picks the tick when it runs (``tick_s``): ``LIVE_S``
while something moves, ``IDLE_S`` on an idle page, which still notices runs started elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from pages.common import lab_analyses
from pages.common.lab_context import LIVE_NOTICE, SNAPSHOT, STALE, LabPage, live_notice, refresh_live
from pages.common.ui import chart, md_escape
from resnet.lab import session
from resnet.lab.store import ACTIVE, RunInfo, StoreError
from resnet.plots import curves

LIVE_S = 1.0  # the region's tick while a run trains or waits, or an analysis computes
JUST_READ = "_lab_snapshot_just_read"  # the page run's snapshot was read by ``tick_s``: its region reuses it
IDLE_S = 5.0  # …and on an idle page (a classroom of idle tabs draws the figures only this often)


@dataclass(frozen=True)
class Snapshot:
    """What the region draws in one tick, read from the store at once."""

    runs: list[RunInfo]  # every run, oldest first (they fix each run's colour)
    chosen: list[RunInfo]  # the runs picked for the chart
    metrics: dict[int, dict[str, list]]  # chosen run → its curves
    positions: dict[int, int | None]  # queued run → its place in line
    diagnostics: session.BlockReport
    landscapes: lab_analyses.Landscapes
    stamp: tuple  # what it was read for: each run's progress, the picks, the landscape grid

    @property
    def busy(self) -> bool:
        """Something it shows moves on by itself (a run trains or waits, an analysis computes)."""
        return any(r.status in ACTIVE for r in self.runs) or bool(self.diagnostics.pending) or self.landscapes.running


def read_snapshot(page: LabPage) -> Snapshot:
    """This tick's snapshot: the last one again while nothing moves, else read afresh (``StoreError`` goes up)."""
    if st.session_state.pop(JUST_READ, False) and (last := st.session_state.get(SNAPSHOT)) is not None:
        return last  # ``tick_s`` read it a moment ago, in this same page run
    runs = page.lab.runs()
    chosen = page.chosen(runs)
    size = lab_analyses.grid_size()
    stamp = (tuple((r.id, r.status, r.steps_done, r.cancel_requested) for r in runs), tuple(r.id for r in chosen), size)
    last: Snapshot | None = st.session_state.get(SNAPSHOT)
    if last is not None and last.stamp == stamp and not last.busy and not st.session_state.get(STALE):
        return last
    seen = {r.id: (r.status, r.steps_done) for r in last.chosen} if last is not None else {}
    metrics = {r.id: last.metrics[r.id] if seen.get(r.id) == (r.status, r.steps_done) else page.lab.store.metrics(r.id)
               for r in chosen}  # a run's curves are read again only when it has moved on
    positions = {r.id: page.lab.store.queue_position(r.id) for r in runs if r.status == "queued"}
    snapshot = Snapshot(runs, chosen, metrics, positions, lab_analyses.read_diagnostics(page, chosen),
                        lab_analyses.read_landscapes(page, chosen, size), stamp)
    st.session_state[SNAPSHOT] = snapshot
    st.session_state[STALE] = False
    return snapshot


def tick_s(page: LabPage) -> float:
    """How often the region redraws until the page runs again: ``LIVE_S`` while something moves, else ``IDLE_S``."""
    try:
        busy = read_snapshot(page).busy
    except StoreError:  # the region says so
        return IDLE_S
    st.session_state[JUST_READ] = True  # the region's first draw, right after, uses this snapshot
    return LIVE_S if busy else IDLE_S


def cancel(page: LabPage, run_id: int) -> None:
    refresh_live()
    try:
        page.lab.cancel(run_id)
    except (StoreError, KeyError) as exc:
        live_notice(page.store_error(exc))


def live_region(page: LabPage, view: dict[str, Any]) -> None:
    """The fragment: the queue, the chosen runs' curves and table, their diagnostics and landscapes."""
    notice, queue_box, charts_box, diagnostics_box, landscapes_box = (st.empty(), st.container(), st.container(),
                                                                      st.container(), st.container())
    try:
        snap = read_snapshot(page)
    except StoreError as exc:  # say so, and draw what was read last (the region and its widgets stay)
        notice.error(page.store_error(exc), icon="🛑")
        snap = st.session_state.get(SNAPSHOT)
        if snap is None:
            return
    else:
        if text := st.session_state.pop(LIVE_NOTICE, None):
            notice.error(text, icon="🛑")
    with queue_box:
        queue(page, snap)
    with charts_box:
        charts(page, snap, view)
    with diagnostics_box:
        lab_analyses.diagnostics_section(page, snap.diagnostics, snap.chosen, snap.runs)
    with landscapes_box:
        lab_analyses.landscape_section(page, snap.landscapes, snap.chosen, snap.runs)


def queue(page: LabPage, snap: Snapshot) -> None:
    """The runs training now and waiting, each in its own row (keyed by the run) with its Cancel button."""
    t = page.t
    active = [r for r in snap.runs if r.status in ACTIVE]
    if not active:
        return
    st.subheader(t("lab.queue", n=len(active)))
    for run in active:
        with st.container(key=f"run-{run.id}"):
            text_col, button_col = st.columns([6, 1], vertical_alignment="center")
            if run.status == "queued":
                text_col.progress(0.0, text=t("lab.queued", id=run.id, label=md_escape(run.label), pos=snap.positions.get(run.id) or "?"))
            else:
                text_col.progress(run.progress, text=t("lab.running", id=run.id, label=md_escape(run.label), step=run.steps_done,
                                                       steps=run.steps, eta=curves.duration(run.eta_s, t)))
            button_col.button(t("lab.cancelling") if run.cancel_requested else t("lab.cancel"), key=f"cancel_{run.id}",
                              on_click=cancel, args=(page, run.id), disabled=run.cancel_requested or not page.lab.writable, icon="⏹️")


def charts(page: LabPage, snap: Snapshot, view: dict[str, Any]) -> None:
    """Training loss, test loss and accuracy of the chosen runs, and their table."""
    t, chosen = page.t, snap.chosen
    if not chosen:
        st.info(t("lab.nothing_selected"))
        return
    levels = session.chance_levels(chosen)
    classes = {r.id: level.classes for level in levels for r in level.runs}
    drawn = curves.run_curves(chosen, snap.metrics, t, everyone=snap.runs, classes=classes)
    x_axis, log_y = view["x_axis"], view["log_y"]
    fig = curves.train_loss_figure(drawn, t, x_axis=x_axis, smoothing=view["smoothing"], log_y=log_y,
                                   chance=curves.chance_lines(levels, t))
    fig.update_layout(uirevision=f"{x_axis}-{log_y}")  # a redraw keeps the reader's zoom
    chart(fig, md_escape(curves.train_summary(drawn, t)), key="chart_train_loss", config=curves.png_config("train_loss"))
    for col, metric in zip(st.columns(2), ("test_loss", "test_acc")):
        fig = curves.eval_figure(drawn, metric, t, x_axis=x_axis, log_y=log_y)
        fig.update_layout(uirevision=f"{x_axis}-{log_y}")
        with col:
            chart(fig, md_escape(curves.eval_summary(drawn, metric, t)), key=f"chart_{metric}", config=curves.png_config(metric))
    st.dataframe(pd.DataFrame([curves.run_row(r, t) for r in chosen]), hide_index=True, width="stretch",
                 column_config={t("lab.col.flags"): st.column_config.TextColumn(width="medium"),
                                t("lab.col.run"): st.column_config.TextColumn(width="medium")})
