"""The Training lab's analyses of the chosen runs, drawn inside the page's live region.

Per-block diagnostics (He et al. 2015 Fig. 7) and loss landscapes (Li et al. 2018;
Goodfellow et al. 2015) are computed in task processes and kept in the run store; here
they are read (``read_*``, once per tick of the live region, into its snapshot) and drawn
(``*_section``): progress while they compute, the figures once done, by the same region,
so a finished analysis appears without a rerun of the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from statistics import median
from pathlib import Path
from typing import Any, Sequence

import streamlit as st

from pages.common import roles
from pages.common.lab_context import MAX_ANALYSED, LabPage, live_notice, refresh_live
from pages.common.ui import chart, md_escape, safe_reason
from resnet.lab import claims, session, surfaces
from resnet.lab.config import config_key
from resnet.lab.seeds import variant_key
from resnet.lab.store import ACTIVE, Artifact, RunInfo, StoreError
from resnet.plots import curves
from resnet.plots import landscape as landscape_plots

GRID_KEY = "lab_landscape_grid"  # the grid picker
VIEW_KEY = "lab_landscape_view"  # contours or 3-D surfaces
VIEWS = ("contour", "3d")
GRID_KEPT = "_lab_landscape_size"  # the visitor's pick, kept apart from the picker's state (which a run may drop)


# --- Reading (the live region's snapshot) ---


@dataclass(frozen=True)
class Landscapes:
    """The analysed runs by what their landscape can be, and what the store holds."""

    size: int  # the grid asked for
    shipped: dict[int, dict]  # a reference run of the shipped pair → its shipped entry
    computable: dict[int, Path]  # a finished run with saved weights → the weights file
    training: list[RunInfo]  # live runs queued or training: computable once they finish
    neither: list[RunInfo]  # runs that keep no weights (reference runs, cancelled or failed ones)
    artifacts: dict[int, tuple[Artifact | None, Artifact | None]]  # computable run → (surface, curve); None: never asked for

    @property
    def running(self) -> bool:
        return any(a is not None and a.status == "running" for pair in self.artifacts.values() for a in pair)

    @property
    def wanted(self) -> list[int]:
        """The computable runs whose surface or curve at this grid is not there or computing: what the button starts."""
        return [run_id for run_id, pair in self.artifacts.items()
                if any(a is None or a.status not in ("done", "running") for a in pair)]


def grid_size() -> int:
    """The surface grid the visitor picked."""
    return st.session_state.get(GRID_KEPT, surfaces.SHIPPED_SIZE)


def keep_grid() -> None:
    st.session_state[GRID_KEPT] = st.session_state.get(GRID_KEY) or surfaces.SHIPPED_SIZE
    refresh_live()


@st.cache_resource(show_spinner=False, max_entries=64)
def shipped_entry(config: str) -> dict[str, Any] | None:
    """The shipped landscape of a configuration (``config_key``), read from the shipped file once per process."""
    return surfaces.shipped_for(json.loads(config))


def read_landscapes(page: LabPage, analysed: Sequence[RunInfo], size: int) -> Landscapes:
    shipped, computable, training, neither = {}, {}, [], []
    for run in analysed[:MAX_ANALYSED]:
        entry = shipped_entry(config_key(run.config)) if run.source == "reference" else None
        if entry is not None:
            shipped[run.id] = entry
        elif (path := session.trained_file(run)) is not None:
            computable[run.id] = path
        elif run.status in ACTIVE:
            training.append(run)
        else:
            neither.append(run)
    key = surfaces.surface_key(size, 0, surfaces.SUBSET_SIZE)
    curve_key = surfaces.interpolation_key(surfaces.T_STEPS, surfaces.SUBSET_SIZE)
    store = page.lab.store
    artifacts = {run_id: (store.artifact(run_id, surfaces.SURFACE, key), store.artifact(run_id, surfaces.INTERPOLATION, curve_key))
                 for run_id in computable}
    return Landscapes(size, shipped, computable, training, neither, artifacts)


def read_diagnostics(page: LabPage, chosen: Sequence[RunInfo]) -> session.BlockReport:
    """The diagnostics as the store has them; what is missing is started in task processes (nothing is built here)."""
    return session.block_signals(page.lab.store, chosen)


# --- Actions (buttons inside the live region: they rerun only the region) ---


def start_landscapes(page: LabPage, run_ids: list[int], weights: dict[int, Path], size: int) -> None:
    refresh_live()
    if not roles.may_compute_landscape(size):  # a student at the finest grid (the button says so too)
        live_notice(page.t("roles.landscape", size=size))
        return
    try:
        for run_id in run_ids:
            surfaces.start_surface(page.lab.store.address, run_id, weights[run_id], size)
            surfaces.start_interpolation(page.lab.store.address, run_id, weights[run_id])
    except StoreError as exc:
        live_notice(page.store_error(exc))


def cancel_landscape(page: LabPage, run_id: int, size: int) -> None:
    refresh_live()
    if not roles.may_compute_landscape(size):
        live_notice(page.t("roles.landscape", size=size))
        return
    try:
        for kind in (surfaces.SURFACE, surfaces.INTERPOLATION):
            surfaces.cancel(page.lab.store.address, run_id, kind, size)
    except StoreError as exc:
        live_notice(page.store_error(exc))


# --- Drawing ---


def diagnostics_section(page: LabPage, report: session.BlockReport, chosen: list[RunInfo], everyone: list[RunInfo]) -> None:
    """Activation and gradient size per block at initialisation and trained; Fig. 7 for trained runs
    (``everyone``: the store's runs, which fix each run's colour)."""
    t = page.t
    st.header(t("lab.diag"))
    st.markdown(t("lab.diag_intro"))
    progress, figures = st.container(), st.container()  # bars come and go above figures that stay put
    if not chosen:
        figures.info(t("lab.nothing_selected"))
        return
    with progress:  # one bar per variant and state: its seeds' measurements together
        waiting: dict[tuple, list[session.SignalsPending]] = {}
        for pending in report.pending:
            waiting.setdefault((pending.trained, pending.run.source, variant_key(pending.run.config)), []).append(pending)
        for pendings in waiting.values():
            first = pendings[0]
            label = curves.run_title(first.run, t) if first.trained else first.run.label
            if len(pendings) > 1:
                label += f" ({t('lab.n_seeds', n=len(pendings))})"
            st.progress(sum(p.progress for p in pendings) / len(pendings), text=t("lab.measuring", label=md_escape(label)))
    if report.pending and not report.measured and not report.failures:
        return  # the figures come with the first measurement
    with figures:
        block_figures(page, report, chosen, everyone)


def block_figures(page: LabPage, report: session.BlockReport, chosen: list[RunInfo], everyone: list[RunInfo]) -> None:
    t = page.t
    if report.configs_left_out:
        st.caption(t("lab.diag_limit", n=session.MAX_DIAG))
    forward, backward, response = curves.block_series(report.measured, curves.colors_for(chosen, everyone), t)
    for failure in report.failures:
        st.warning(t("lab.diag_failed", label=md_escape(curves.run_title(failure.run, t) if failure.trained else failure.run.label),
                     reason=safe_reason(failure.reason)))
    d1, d2 = st.columns(2)
    d1.markdown(f"**{t('lab.diag_forward')}**")
    with d1:
        chart(curves.block_figure(forward, t("lab.diag_forward_y"), t("lab.diag_block_x"), log_y=None),
              md_escape(curves.block_summary(forward, t("lab.diag_forward"), t)), key="diag_forward", config=curves.png_config("activation_rms"))
    d2.markdown(f"**{t('lab.diag_backward')}**")
    with d2:
        chart(curves.block_figure(backward, t("lab.diag_backward_y"), t("lab.diag_block_x"), log_y=None),
              md_escape(curves.block_summary(backward, t("lab.diag_backward"), t)), key="diag_backward", config=curves.png_config("gradient_rms"))
    st.caption(t("lab.diag_reading"))
    st.subheader(t("lab.fig7"))
    if response:
        means = [(md_escape(curves.run_title(run, t)), run.config, value) for run, value in session.fig7_means(report.measured)]
        st.markdown(t("lab.fig7_intro", **claims.fig7_values(t, means)))  # the measured reading chosen by these means
        chart(curves.block_figure(response, t("lab.fig7_y"), t("lab.fig7_x"), log_y=None),
              md_escape(curves.block_summary(response, t("lab.fig7"), t)), key="fig7", config=curves.png_config("response_std"))
        st.caption(t("lab.fig7_means", runs=" · ".join(f"{title} {value:.2f}" for title, _, value in means)))
        if spread := session.fig7_spread(report.measured):  # several seeds of a variant: how far they lie apart
            st.caption(t("lab.fig7_seeds", runs=" · ".join(
                t("lab.seeds_spread", label=md_escape(curves.run_title(run, t)), median=f"{median(values):.2f}",
                  low=f"{min(values):.2f}", high=f"{max(values):.2f}", n=len(values)) for run, values in spread)))
    else:
        st.info(t("lab.fig7_needs_weights"))


def landscape_section(page: LabPage, state: Landscapes, analysed: list[RunInfo], everyone: list[RunInfo]) -> None:
    """Why shortcuts make training easier: the loss surface around each analysed run's weights, and the
    straight line from its initial weights (``everyone``: the store's runs, which fix each run's colour)."""
    t = page.t
    st.header(t("lab.landscape.title"))
    st.markdown(t("lab.landscape.intro"))
    if not analysed:
        st.info(t("lab.nothing_selected"))
        return
    c1, c2, c3 = st.columns([3, 1, 2], vertical_alignment="bottom")
    c1.segmented_control(t("lab.landscape.grid"), surfaces.GRID_SIZES, default=state.size, key=GRID_KEY, on_change=keep_grid,
                         format_func=lambda n: t(f"lab.landscape.grid.{n}"))
    log = c2.toggle(t("lab.landscape.log"), value=True, key="lab_landscape_log")
    allowed = roles.may_compute_landscape(state.size)
    wanted = state.wanted if page.lab.writable and allowed else []
    c3.button(t("lab.landscape.compute", n=len(wanted)), key="lab_landscape_compute", icon="🏔️", on_click=start_landscapes,
              args=(page, wanted, state.computable, state.size), disabled=not wanted, help=t("lab.landscape.compute_help"))
    notes, progress, figures = st.container(), st.container(), st.container()
    reasons = landscape_notes(page, state, allowed)
    if wanted:  # the button works: the notes only say what it leaves out
        for reason in reasons:
            notes.caption(reason)
    else:  # a disabled button: why, and what to do
        notes.info("\n\n".join(reasons), icon="👉")
    colours = curves.colors_for(analysed, everyone)
    drawn_surfaces, drawn_curves = [], []
    for run in analysed:
        name = curves.run_title(run, t)
        surface, curve = state.artifacts.get(run.id, (None, None)) if run.id not in state.shipped else (None, None)
        if any(a is not None and a.status == "running" for a in (surface, curve)):
            with progress.container(key=f"landscape-{run.id}"):
                text_col, button_col = st.columns([6, 1], vertical_alignment="center")
                done = (surface.progress if surface else 0.0) * 0.9 + (curve.progress if curve else 0.0) * 0.1  # the surface is ~10× the curve's work
                text_col.progress(min(1.0, done), text=t("lab.landscape.computing", label=md_escape(name), size=state.size))
                button_col.button(t("lab.cancel"), key=f"cancel_landscape_{run.id}", on_click=cancel_landscape,
                                  args=(page, run.id, state.size), icon="⏹️", disabled=not page.lab.writable or not allowed,
                                  help=None if allowed else t("roles.landscape", size=state.size))
        else:  # its row's place, empty: every analysed run has one, so a row that ends moves no other row
            progress.empty()
        if run.id in state.shipped:
            drawn_surfaces.append(landscape_plots.Drawn(name, colours[run.id], state.shipped[run.id]["surface"]))
            drawn_curves.append(landscape_plots.Drawn(name, colours[run.id], state.shipped[run.id]["interpolation"]))
        for artifact, into in ((surface, drawn_surfaces), (curve, drawn_curves)):
            if artifact is None:
                continue
            if artifact.status == "done" and artifact.payload:
                into.append(landscape_plots.Drawn(name, colours[run.id], artifact.payload))
            elif artifact.status in ("failed", "cancelled"):
                notes.warning(t(f"lab.landscape.{artifact.status}", label=md_escape(name), reason=safe_reason(artifact.error or "")))
    with figures:
        landscape_figures(page, drawn_surfaces, drawn_curves, bool(state.shipped), log, press=bool(wanted))


def landscape_notes(page: LabPage, state: Landscapes, allowed: bool) -> list[str]:
    """What the compute button leaves out and why; when it can start nothing, at least one line that says
    why and what to do (``allowed``: this session may compute at this grid, ``roles.may_compute_landscape``)."""
    t = page.t
    if not page.lab.writable:
        return [t("lab.landscape.why_read_only")]
    notes = [] if allowed or not state.wanted else [t("roles.landscape", size=state.size)]
    if state.training:
        notes.append(t("lab.landscape.why_training", runs=", ".join(md_escape(curves.run_title(r, t)) for r in state.training)))
    if state.neither:
        notes.append(t("lab.landscape.no_weights", runs=", ".join(md_escape(curves.run_title(r, t)) for r in state.neither)))
    if state.computable and not state.wanted:
        notes.append(t("lab.landscape.why_done", size=state.size))
    if not notes:  # only runs whose surfaces ship
        notes.append(t("lab.landscape.why_shipped"))
    return notes


def landscape_figures(page: LabPage, drawn_surfaces: list, drawn_curves: list, shipped: bool, log: bool, press: bool) -> None:
    """The surfaces and curves drawn; none yet: where to press (``press``: the button can start them)."""
    t = page.t
    if shipped:
        st.caption(t("lab.landscape.shipped_note"))
    if not drawn_surfaces:
        if press:
            st.info(t("lab.landscape.none_yet"))
        return
    # contours first: the 3-D scenes are WebGL, drawn in software by a browser without a GPU (seconds, at every
    # open of the page), so only a click draws them; the Why page's words for the same choice
    view = st.radio(t("why.landscape_view"), VIEWS, horizontal=True, key=VIEW_KEY, format_func=lambda v: t(f"why.landscape_view.{v}"),
                    help=t("lab.landscape.view_help"))
    if view == "3d":
        chart(landscape_plots.surface_figure(drawn_surfaces, t, log=log), t("lab.landscape.surface_caption"), key="landscape_3d",
              config={**curves.png_config("loss_landscape_3d"), "scrollZoom": False})  # the wheel scrolls the page, not the scene
    else:
        chart(landscape_plots.contour_figure(drawn_surfaces, t, log=log), landscape_plots.summary(drawn_surfaces, t),
              key="landscape_contour", config=curves.png_config("loss_landscape"))
    if drawn_curves:
        st.subheader(t("lab.landscape.interp_title"))
        chart(landscape_plots.interpolation_figure(drawn_curves, t, log=log), t("lab.landscape.interp_caption"),
              key="landscape_interp", config=curves.png_config("interpolation"))
