"""Training lab: train variants side by side and watch the loss curves part ways.

Widgets in, one call to the lab session (``resnet.lab.session``), figures out
(``resnet.plots.curves``). Everything shown comes from the run store: the shipped
reference runs and the live runs the workers train. The page never trains, nor builds a
model, nor loads Paddle: the per-block diagnostics and the loss landscapes are computed in
task processes (``resnet.lab.tasks``).

Top to bottom: the presets and the custom run's form (``pages/common/lab_form.py``), the
run picker and chart settings, then one live region (``pages/common/lab_live.py``: the
queue, the curves, the analyses of ``pages/common/lab_analyses.py``) that redraws itself
from the store. Everything above the region that shows only sometimes (URL notices, the
store's problems, an error from the last button) has a slot made on every run, and what
grows with the runs (the picks, the queue) keeps its height or sits below the charts, so
the region never moves.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import streamlit as st

from pages.common.lab_context import MAX_COMPARE, LabPage, heads, refresh_live, show_flash
from pages.common.lab_form import PRESET_KEYS, custom_run, fmt, presets
from pages.common.classroom import publish as publish_class
from pages.common.lab_live import live_region, tick_s
from pages.common.ui import page_setup, safe_reason, setting_slider, show_url_notices, sync_url, url_choice, url_setting
from resnet.lab import session
from resnet.lab.config import field_problems, parse_field
from resnet.lab.store import StoreError
from resnet.plots import curves

SMOOTH_DEFAULT = 0.6  # TensorBoard's default: the gap between variants reads at a glance

t = page_setup("lab.title")
try:
    lab = session.open_lab()  # once per server process and store
except session.LabUnavailable as exc:  # no writable temp dir either: say so and stop
    st.title(t("lab.title"))
    st.error(t("lab.store_error", reason=safe_reason(exc.store_problem)))
    st.error(t("lab.store_view_failed", reason=safe_reason(exc.view_problem)))
    st.stop()
FOLDERS = session.data_folders()
DATASET_OPTIONS = session.datasets_offered(FOLDERS)


# --- Settings from the URL (checked by the core's rules; a bad value falls back with a notice) ---


def parse_bool(raw: str) -> bool | None:
    return {"1": True, "true": True, "0": False, "false": False}.get(raw.strip().lower())  # None: refused by the check


def form_valid(field: str) -> Callable[[Any], bool]:
    """A custom-run setting from the URL is fine when the config's own check finds nothing."""
    return lambda v: not field_problems(field, v) and (field != "dataset" or v in DATASET_OPTIONS)


def settings() -> dict[str, str]:
    """Every URL setting's widget key, all read before anything is drawn (so every notice shows)."""
    keys = {"preset": url_choice("preset", PRESET_KEYS, PRESET_KEYS[0])}
    groups = lab.groups()
    known = {run.id for g in groups for run in g.runs} | {g.id for g in groups}

    def picked(raw: str) -> list[int] | None:
        """The URL's run ids as their variants (a run of another seed stands for its group); None if one is unknown."""
        ids = [int(i) for i in raw.split(",") if i.strip()]
        return heads(groups, ids) if len(set(ids)) == len(ids) and all(i in known for i in ids) else None

    keys["runs"] = url_setting("runs", lab.preset_runs(st.session_state[keys["preset"]]), picked,
                               lambda ids: ids is not None and 0 < len(ids) <= MAX_COMPARE and all(i in known for i in ids))
    keys["smooth"] = url_setting("smooth", SMOOTH_DEFAULT, float, lambda v: 0.0 <= v <= 0.95)
    keys["x"] = url_choice("x", curves.X_AXES, "step")
    keys["logy"] = url_setting("logy", True, parse_bool, lambda v: isinstance(v, bool))
    keys["seeds"] = url_setting("seeds", 1, int, lambda v: 1 <= v <= session.MAX_SEEDS)
    for name, field in session.FORM_FIELDS.items():
        keys[name] = url_setting(name, getattr(session.FORM_START, field), partial(parse_field, field), form_valid(field))
    keys["folder"] = url_setting("folder", FOLDERS[0] if FOLDERS else "", str, lambda v: v in FOLDERS)
    return keys


def finish(keys: dict[str, str]) -> None:
    """Every setting that matters into the URL (the custom run's only where it differs)."""
    sync_url("preset", "smooth", "x", publish=False)
    if st.session_state.get(keys["seeds"], 1) == 1:
        st.query_params.pop("seeds", None)
    else:
        st.query_params["seeds"] = str(st.session_state[keys["seeds"]])
    st.query_params["runs"] = ",".join(str(i) for i in st.session_state.get(keys["runs"], []))
    st.query_params["logy"] = "1" if st.session_state.get(keys["logy"]) else "0"
    for name, field in session.FORM_FIELDS.items():
        value = st.session_state.get(keys[name])
        if value is None or value == getattr(session.FORM_START, field):
            st.query_params.pop(name, None)
        else:
            st.query_params[name] = fmt(value)
    if st.session_state.get(keys["dataset"]) != "digits" and st.session_state.get(keys["folder"]):
        st.query_params["folder"] = st.session_state[keys["folder"]]
    else:
        st.query_params.pop("folder", None)
    # a class led from here sees every setting above, the lab's own written after sync_url included. (sync_url was
    # moved first against an intermittent Cancel failure in the hold-still e2e test; it came back after the move,
    # so the order is not its cure: issue 20's note)
    publish_class()


# --- Sections ---


def header() -> None:
    st.title(t("lab.title"))
    st.markdown(t("lab.intro"))
    with st.container():  # a slot: its notices show or not, nothing below moves
        show_url_notices(t)
        if lab.store_problem:
            st.error(t("lab.store_error", reason=safe_reason(lab.store_problem)), icon="🛑")
        if lab.reference_problem:
            st.warning(t("lab.references_unreadable", reason=safe_reason(lab.reference_problem)), icon="⚠️")


def picker_name(group: session.RunGroup) -> str:
    """A variant in the picker: its head's title, where it comes from and, with several, its seeds."""
    source = t("lab.source." + group.head.source)
    if len(group.runs) > 1:
        source += ", " + t("lab.n_seeds", n=len(group.runs))
    return f"{curves.run_title(group.head, t)} ({source})"


def compare(page: LabPage) -> dict[str, Any]:
    """The run picker and the chart settings: what the live region draws with."""
    keys = page.keys
    problem = st.container()  # a slot for the store's error
    try:  # fresh: the form may just have queued a run
        groups = lab.groups()
    except StoreError as exc:
        problem.error(page.store_error(exc), icon="🛑")
        groups = []
    by_id: dict[int, session.RunGroup] = {g.id: g for g in groups}
    st.header(t("lab.compare"))
    st.multiselect(t("lab.runs", n=MAX_COMPARE), [g.id for g in reversed(groups)], key=keys["runs"], max_selections=MAX_COMPARE,
                   format_func=lambda i: picker_name(by_id[i]) if i in by_id else f"#{i}",
                   placeholder=t("lab.runs_placeholder"), help=t("lab.runs_help", n=MAX_COMPARE),
                   select_all=False,  # its "Select all" is English only, and all would overflow the chart
                   wrap=False)  # one row at a fixed height, however many are picked: the charts below hold still
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")  # room for "log y" in classroom type
    view = {"smoothing": setting_slider(c1, t("lab.smoothing"), "smooth", 0.0, 0.95, SMOOTH_DEFAULT, step=0.05),
            "x_axis": c2.radio(t("lab.x_axis"), curves.X_AXES, key=keys["x"], horizontal=True, format_func=lambda x: t(f"lab.x.{x}")),
            "log_y": c3.toggle(t("lab.log_y"), key=keys["logy"])}
    selected = [run.id for i in st.session_state[keys["runs"]] if i in by_id for run in by_id[i].runs]  # every seed's curve
    c4.download_button(t("lab.csv"), data=lambda: lab.store.metrics_csv(selected), file_name="resnet_lab_runs.csv",
                       mime="text/csv", icon="⬇️", disabled=not selected, on_click="ignore")
    st.caption(t("lab.chart_help"))
    return view


page = LabPage(t, lab, settings(), FOLDERS, DATASET_OPTIONS)
header()
presets(page)
custom_run(page)
with st.container():  # the flash slot: the answer to the last button, once
    show_flash()
view = compare(page)
refresh_live()  # a page run reads the store afresh; the region's ticks reuse what has not moved
st.fragment(run_every=tick_s(page))(live_region)(page, view)
finish(page.keys)
