"""The Training lab's live region: the queue, the curves and the analyses, redrawn from the store.

One fragment draws the whole region from one ``Snapshot`` of the store per tick. Nothing
above it on the page changes how many elements it draws (the page gives every conditional
notice a fixed slot), its parts are containers made unconditionally in a fixed order, and
each queue row is a container keyed by its run at a place it keeps while it is in the queue
(``queue_places``): Streamlit places elements by position, so a row never shows twice and a
Cancel button stays put under the pointer. The queue sits below the charts, so the rows that
come and go move nothing a reader is looking at, and it is drawn first: under load the next
tick often starts before a tick's last messages left the server, and Streamlit then drops
them, so what a tick draws first is what reaches the browser. The region never reruns the
page: what finishes (a run, a diagnostic, a landscape) is drawn by its next tick.

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

from pages.common import lab_analyses, roles
from pages.common.lab_context import (
    ANALYSED, ANALYSED_KEPT, LIVE_NOTICE, MAX_ANALYSED, SNAPSHOT, STALE, LabPage, analysed, live_notice, refresh_live,
)
from pages.common.ui import chart, classroom, md_escape
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
    groups: list[session.RunGroup]  # the runs by variant (``session.run_groups``)
    chosen_groups: list[session.RunGroup]  # the variants picked for the chart
    bands: list[session.RunGroup]  # the reference variants of chosen live runs, drawn under them though not picked
    analysed_groups: list[session.RunGroup]  # the chosen variants the analyses measure (``lab_context.analysed``)
    metrics: dict[int, dict[str, list]]  # every run of those groups → its curves
    positions: dict[int, int | None]  # queued run → its place in line
    diagnostics: session.BlockReport
    landscapes: lab_analyses.Landscapes
    stamp: tuple  # what it was read for: each run's progress, the picks, the landscape grid

    @property
    def analysed(self) -> list[RunInfo]:
        return landscape_runs(self.analysed_groups)

    @property
    def members(self) -> list[RunInfo]:
        """Every seed's run of the analysed variants: the diagnostics measure them all (their spread over seeds)."""
        return [run for g in self.analysed_groups for run in g.runs]

    @property
    def busy(self) -> bool:
        """Something it shows moves on by itself (a run trains or waits, an analysis computes)."""
        return any(r.status in ACTIVE for r in self.runs) or bool(self.diagnostics.pending) or self.landscapes.running


def landscape_runs(groups: list[session.RunGroup]) -> list[RunInfo]:
    """The run whose landscape stands for each variant: its first seed's newest run (the head, its oldest, may
    be a cancelled one trained again since)."""
    return [g.runs[0] for g in groups]


def read_snapshot(page: LabPage) -> Snapshot:
    """This tick's snapshot: the last one again while nothing moves, else read afresh (``StoreError`` goes up)."""
    if st.session_state.pop(JUST_READ, False) and (last := st.session_state.get(SNAPSHOT)) is not None:
        return last  # ``tick_s`` read it a moment ago, in this same page run
    runs = page.lab.runs()
    groups = session.run_groups(runs)
    chosen_groups = page.chosen(groups)
    bands = session.reference_bands(chosen_groups, groups)
    analysed_groups = analysed(chosen_groups)
    drawn = [run for g in (*bands, *chosen_groups) for run in g.runs]
    size = lab_analyses.grid_size()
    stamp = (tuple((r.id, r.status, r.steps_done, r.cancel_requested) for r in runs), tuple(g.id for g in chosen_groups),
             tuple(g.id for g in analysed_groups), size)
    last: Snapshot | None = st.session_state.get(SNAPSHOT)
    if last is not None and last.stamp == stamp and not last.busy and not st.session_state.get(STALE):
        return last
    seen = {r.id: (r.status, r.steps_done) for r in last.runs if r.id in last.metrics} if last is not None else {}
    metrics = {r.id: last.metrics[r.id] if seen.get(r.id) == (r.status, r.steps_done) else page.lab.store.metrics(r.id)
               for r in drawn}  # a run's curves are read again only when it has moved on
    positions = {r.id: page.lab.store.queue_position(r.id) for r in runs if r.status == "queued"}
    snapshot = Snapshot(runs, groups, chosen_groups, bands, analysed_groups, metrics, positions,
                        lab_analyses.read_diagnostics(page, [r for g in analysed_groups for r in g.runs]),
                        lab_analyses.read_landscapes(page, landscape_runs(analysed_groups), size), stamp)
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
        page.lab.cancel(run_id, owner=roles.cancel_owner())  # a student's: only their own (checked in the store)
    except session.NotYourRun:
        live_notice(page.t("roles.not_yours", id=run_id))
    except (StoreError, KeyError) as exc:
        live_notice(page.store_error(exc))


def keep_analysed() -> None:
    st.session_state[ANALYSED_KEPT] = list(st.session_state.get(ANALYSED) or [])
    refresh_live()


def live_region(page: LabPage, view: dict[str, Any]) -> None:
    """The fragment: the chosen runs' curves and table, the queue, the analysed runs' diagnostics and landscapes."""
    notice, charts_box, queue_box, pick_box, diagnostics_box, landscapes_box = (
        st.empty(), st.container(), st.container(), st.container(), st.container(), st.container())
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
    with queue_box:  # drawn first, though below the charts: a tick whose tail is dropped still updates the rows
        queue(page, snap)
    with charts_box:
        charts(page, snap, view)
    with pick_box:
        analyses_pick(page, snap)
    with diagnostics_box:
        lab_analyses.diagnostics_section(page, snap.diagnostics, snap.members, snap.runs)
    with landscapes_box:
        lab_analyses.landscape_section(page, snap.landscapes, snap.analysed, snap.runs)
    st.session_state[QUEUE_SETTLED] = st.session_state.get(QUEUE_PLACES, [])  # this tick drew the whole region


def analyses_pick(page: LabPage, snap: Snapshot) -> None:
    """Which of the chart's variants the diagnostics, Fig. 7 and the landscapes measure: up to MAX_ANALYSED,
    by default the newest live ones (after "Rerun live" or "Train": what was just trained)."""
    t = page.t
    if not snap.chosen_groups:
        return
    names = {g.id: curves.run_title(g.head, t) for g in snap.chosen_groups}
    st.session_state[ANALYSED] = [g.id for g in snap.analysed_groups]  # the default, or the pick still on the chart
    st.multiselect(t("lab.analysed", n=MAX_ANALYSED), list(names), key=ANALYSED, max_selections=MAX_ANALYSED,
                   format_func=lambda i: names.get(i, f"#{i}"), on_change=keep_analysed, help=t("lab.analysed_help", n=MAX_ANALYSED),
                   placeholder=t("lab.analysed_placeholder"), wrap=False)


QUEUE_PLACES = "_lab_queue_places"  # this tab's queue rows: each run's place, as its last tick drew them
QUEUE_SETTLED = "_lab_queue_settled"  # …as the last tick that drew the whole region drew them
MAX_HOLES = 16  # places of runs that left, kept empty; more, and the rows close up (they move once)


def queue_places(placed: list[int | None], settled: list[int | None], active: list[int]) -> list[int | None]:
    """Each queued or training run's row place. A run keeps the place it had, a new run takes one at the end,
    and a run that left leaves its place empty, so no row after it moves: Streamlit places a fragment's
    elements by position, so a row moving up lands on the next row's place (one run twice, the next one
    missing, a Cancel button moving under the pointer). An empty place at the end goes once a tick that
    finished drew it empty (``settled``): Streamlit removes what a tick no longer draws only when the tick
    finishes, and under load a tick's last messages are often dropped when the next one starts (Streamlit then
    tells the browser the tick ended early, and the browser removes nothing)."""
    places = [run_id if run_id in active else None for run_id in placed]
    places += [run_id for run_id in active if run_id not in places]
    if sum(run_id is None for run_id in places) > MAX_HOLES:
        places = [run_id for run_id in places if run_id is not None]
    while places and places[-1] is None and len(places) <= len(settled) and settled[len(places) - 1] is None:
        places.pop()
    return places


def queue(page: LabPage, snap: Snapshot) -> None:
    """The runs training now and waiting, each in its own row (keyed by the run) with its Cancel button, at a
    place of its own (``queue_places``); the heading and every place are drawn on every tick."""
    t = page.t
    active = {r.id: r for r in snap.runs if r.status in ACTIVE}
    if active:
        st.subheader(t("lab.queue", n=len(active)))
    else:
        st.empty()
    places = st.session_state[QUEUE_PLACES] = queue_places(
        st.session_state.get(QUEUE_PLACES, []), st.session_state.get(QUEUE_SETTLED, []), list(active))
    for run_id in places:
        if run_id is None:  # a run that left: its place stays, empty
            st.empty()
            continue
        run = active[run_id]
        with st.container(key=f"run-{run.id}"):  # drawn straight into its place: an empty drawn first would blink
            text_col, button_col = st.columns([6, 1], vertical_alignment="center")
            if run.status == "queued":
                text_col.progress(0.0, text=t("lab.queued", id=run.id, label=md_escape(run.label), pos=snap.positions.get(run.id) or "?"))
            else:
                text_col.progress(run.progress, text=t("lab.running", id=run.id, label=md_escape(run.label), step=run.steps_done,
                                                       steps=run.steps, eta=curves.duration(run.eta_s, t)))
            mine = roles.may_cancel(run)  # not a student's to cancel: disabled, and the tooltip says why
            button_col.button(t("lab.cancelling") if run.cancel_requested else t("lab.cancel"), key=f"cancel_{run.id}",
                              on_click=cancel, args=(page, run.id), disabled=run.cancel_requested or not page.lab.writable or not mine,
                              icon="⏹️", help=None if mine else t("roles.not_yours", id=run.id))


def charts(page: LabPage, snap: Snapshot, view: dict[str, Any]) -> None:
    """Training loss, test loss and accuracy of the chosen variants (several seeds: a median on a min–max band,
    a live variant over its reference band), and their table, one row per variant."""
    t, chosen = page.t, snap.chosen_groups
    if not chosen:
        st.info(t("lab.nothing_selected"))
        return
    members = [run for g in (*snap.bands, *chosen) for run in g.runs]
    levels = session.chance_levels(members)
    classes = {r.id: level.classes for level in levels for r in level.runs}
    # references under live runs: the bands of chosen live runs' variants, then every reference before a live run
    drawn = curves.group_curves(sorted([*snap.bands, *chosen], key=lambda g: not g.reference), snap.metrics, t,
                                everyone=snap.runs, classes=classes)
    x_axis, log_y = view["x_axis"], view["log_y"]
    fig = curves.train_loss_figure(drawn, t, x_axis=x_axis, smoothing=view["smoothing"], log_y=log_y,
                                   chance=curves.chance_lines(levels, t))
    chart(fig, md_escape(curves.train_summary(drawn, t)), key="chart_train_loss", config=curves.png_config("train_loss"))
    for col, metric in zip(st.columns(2), ("test_loss", "test_acc")):
        fig = curves.eval_figure(drawn, metric, t, x_axis=x_axis, log_y=log_y)
        with col:
            chart(fig, md_escape(curves.eval_summary(drawn, metric, t)), key=f"chart_{metric}", config=curves.png_config(metric))
    # classroom mode: the columns a room reads, all in view (the rest scrolled out of sight on a projector)
    shown = [t(f"lab.col.{c}") for c in ("run", "status", "steps", "train_loss", "test_acc_ci", "wall", "speed")] if classroom() else None
    st.dataframe(pd.DataFrame([curves.group_row(g, t) for g in chosen]), hide_index=True, width="stretch", column_order=shown,
                 column_config={t("lab.col.flags"): st.column_config.TextColumn(width="medium"),
                                t("lab.col.run"): st.column_config.TextColumn(width="medium")})
    st.caption(t("lab.table_note", n=", ".join(sorted({str(n) for g in chosen for r in g.runs
                                                        if (n := (r.result or {}).get("test_images"))})) or "–"))
