"""Training lab: train variants side by side and watch the loss curves part ways.

Widgets in, one call to the lab session (``resnet.lab.session``), figures out
(``resnet.plots.curves``). Everything shown comes from the run store: the shipped
reference runs and the live runs the workers train. The page never trains, nor builds a
model: the per-block diagnostics are measured in task processes (``resnet.lab.tasks``). A
fragment redraws the live curves from the store while runs are queued or training, and
the diagnostics while they are measured.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from typing import Any, Callable

import pandas as pd
import streamlit as st

from pages.common.ui import chart, md_escape, page_setup, safe_reason, setting_slider, show_url_notices, sync_url, url_choice, url_setting

t = page_setup("lab.title")

from resnet.lab import session  # noqa: E402  (imports Paddle: after the sidebar is up)
from resnet.lab.config import DEFAULT_IMAGE_SIZE, LIMITS, Problem, field_problems, parse_field  # noqa: E402
from resnet.lab.presets import PRESETS  # noqa: E402
from resnet.lab import surfaces  # noqa: E402
from resnet.lab.store import ACTIVE, RunInfo, StoreError  # noqa: E402
from resnet.model.spec import CIFAR_DEPTHS, DOWNSAMPLES, IMAGENET_DEPTHS, SHORTCUTS  # noqa: E402
from resnet.paths import ENV_DATA_DIR  # noqa: E402
from resnet.plots import curves  # noqa: E402
from resnet.plots import landscape as landscape_plots  # noqa: E402

LIVE_S = 1.0  # the curves redraw this often while a run is queued or training
IDLE_S = 5.0  # an idle page looks this often for runs started elsewhere (another tab, a classmate)
MAX_COMPARE = 12  # runs on the chart at once: more and the legend outgrows the chart
CUSTOM_OPEN = "lab_custom_open"  # the "Your own run" expander's state
SMOOTH_DEFAULT = 0.6  # TensorBoard's default: the gap between variants reads at a glance
PRESET_KEYS = tuple(PRESETS)
DEPTHS = (*CIFAR_DEPTHS, *IMAGENET_DEPTHS)
LAMBDA_PRESETS = (0.0, 0.5, 1.0, 2.0)
# (depth, stage-start shortcut) of the "why not 2x?" preset's λ = 2 run, which fails (its reference run)
BLOW_UP = next((c.depth, c.downsample_kind) for c in PRESETS["why_not_2x"].configs if c.shortcut_scale > 1)

try:
    lab = session.open_lab()
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
    known = {r.id for r in lab.runs()}
    keys["runs"] = url_setting(
        "runs", lab.preset_runs(st.session_state[keys["preset"]]), lambda raw: [int(i) for i in raw.split(",") if i.strip()],
        lambda ids: 0 < len(ids) <= MAX_COMPARE and len(set(ids)) == len(ids) and all(i in known for i in ids),
    )
    keys["smooth"] = url_setting("smooth", SMOOTH_DEFAULT, float, lambda v: 0.0 <= v <= 0.95)
    keys["x"] = url_choice("x", curves.X_AXES, "step")
    keys["logy"] = url_setting("logy", True, parse_bool, lambda v: isinstance(v, bool))
    for name, field in session.FORM_FIELDS.items():
        keys[name] = url_setting(name, getattr(session.FORM_START, field), partial(parse_field, field), form_valid(field))
    keys["folder"] = url_setting("folder", FOLDERS[0] if FOLDERS else "", str, lambda v: v in FOLDERS)
    return keys


def finish() -> None:
    """Every setting that matters into the URL (the custom run's only where it differs)."""
    sync_url("preset", "smooth", "x")
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


# --- Words and numbers ---


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def problem_text(problem: Problem) -> str:
    """A coded problem of the configuration in the page's language (its values may be a visitor's text)."""
    values = {name: safe_reason(fmt(value)) for name, value in problem.values.items()}
    return t(f"lab.bad.{problem.code}", field=t(f"lab.field.{problem.field}"), env=ENV_DATA_DIR, **values)


# --- Actions (callbacks run before the script, so they may change the widgets' state) ---


def flash(kind: str, text: str) -> None:
    st.session_state["_lab_flash"] = (kind, text)


def show_flash() -> None:
    kind, text = st.session_state.pop("_lab_flash", (None, None))
    if kind:
        getattr(st, kind)(text)


def select(run_ids: list[int]) -> str:
    """Put ``run_ids`` on the chart; past MAX_COMPARE runs the oldest picks leave it, and the returned
    note says which ("" when none did)."""
    selected = list(st.session_state.get(keys["runs"], []))
    wanted = selected + [i for i in run_ids if i not in selected]
    st.session_state[keys["runs"]] = wanted[-MAX_COMPARE:]
    dropped = wanted[:-MAX_COMPARE]
    return "\n\n" + t("lab.runs_dropped", n=MAX_COMPARE, ids=", ".join(f"#{i}" for i in dropped)) if dropped else ""


def on_preset() -> None:
    st.session_state[keys["runs"]] = lab.preset_runs(st.session_state[keys["preset"]])


def rerun_live() -> None:
    try:
        submitted = lab.rerun_preset(st.session_state[keys["preset"]])
    except StoreError as exc:
        flash("error", t("lab.store_error", reason=safe_reason(exc)))
        return
    dropped = select([s.run_id for s in submitted])
    new = ", ".join(f"#{s.run_id}" for s in sorted(submitted) if s.created)
    reused = ", ".join(f"#{s.run_id}" for s in sorted(submitted) if not s.created)
    if new:
        text = t("lab.rerun_started", n=sum(s.created for s in submitted), ids=new)
        flash("success", text + (" " + t("lab.rerun_some_reused", ids=reused) if reused else "") + dropped)
    else:
        flash("success", t("lab.rerun_reused", ids=reused) + dropped)


def cancel(run_id: int) -> None:
    try:
        lab.cancel(run_id)
    except (StoreError, KeyError) as exc:
        flash("error", t("lab.store_error", reason=safe_reason(exc)))


def pick_lambda() -> None:
    value = st.session_state.get("lab_lam_pick")
    if value is not None:
        st.session_state[keys["lam"]] = float(value)


def blow_up_setup() -> None:
    """The settings where λ > 1 fails in the reference runs: the "why not 2x?" preset's ResNet-56, option A."""
    st.session_state[keys["depth"]] = BLOW_UP[0]
    st.session_state[keys["down"]] = BLOW_UP[1]


def on_dataset() -> None:
    """A new data set starts at its own image size (digits are 8×8, photos want more)."""
    st.session_state[keys["size"]] = DEFAULT_IMAGE_SIZE[st.session_state[keys["dataset"]]]


def submit_custom() -> None:
    """Queue the form's run; the answer (or every problem) goes into the flash slot."""
    values = {field: st.session_state[keys[name]] for name, field in session.FORM_FIELDS.items()}
    checking = st.spinner(t("lab.checking_data")) if values["dataset"] != "digits" else nullcontext()
    try:
        with checking:
            done = lab.submit(values, folder=st.session_state[keys["folder"]])
    except StoreError as exc:
        flash("error", t("lab.store_error", reason=safe_reason(exc)))
        return
    if done.problems:
        flash("error", t("lab.bad.title") + "\n\n" + "\n".join(f"- {problem_text(p)}" for p in done.problems))
        return
    dropped = select([done.run_id])
    if done.created:  # this press queued it; otherwise someone (another tab, a classmate) had
        text = t("lab.queued_as", id=done.run_id, label=md_escape(done.label))
    else:
        text = t("lab.reused", id=done.run_id, label=md_escape(done.label), status=t(f"lab.status.{done.status}"))
    if done.skipped:
        text += "\n\n" + t("lab.skipped", n=len(done.skipped), example=safe_reason(done.skipped[0], 200))
    flash("success" if done.created else "info", text + dropped)


# --- Sections ---


def header() -> None:
    st.title(t("lab.title"))
    st.markdown(t("lab.intro"))
    show_url_notices(t)
    if lab.store_problem:
        st.error(t("lab.store_error", reason=safe_reason(lab.store_problem)), icon="🛑")
    if lab.reference_problem:
        st.warning(t("lab.references_unreadable", reason=safe_reason(lab.reference_problem)), icon="⚠️")


def presets() -> None:
    st.header(t("lab.presets"))
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    preset = left.radio(t("lab.preset"), PRESET_KEYS, key=keys["preset"], horizontal=True, on_change=on_preset,
                        format_func=lambda k: t(f"lab.preset.{k}"))
    right.button(t("lab.rerun_live", n=len(PRESETS[preset].configs)), key="rerun_live", on_click=rerun_live,
                 type="primary", icon="▶️", disabled=not lab.writable, help=t("lab.rerun_help"))
    st.markdown(t(f"lab.preset.{preset}.question"))
    st.caption(t("lab.reference_note"))


def lambda_note() -> None:
    """λ > 1: where it explodes and where it does not (measured), and one click to the failing setup.

    The figures (issue 15): ``python -m resnet.lab train --shortcut scaled --scale 2 --steps 120
    --eval-every 20 --warmup-steps 20`` with ``--depth 20 --downsample conv``: test accuracy 0.975;
    ``--depth 20 --downsample pad``: final loss 57, 0.100; ``--depth 56 --downsample conv``: 0.097;
    ResNet-56 A: assets/reference_runs/why_not_2x.json (loss 58 at step 1, then ln 10).
    """
    down = st.session_state[keys["down"]]
    st.info(t(f"lab.lambda_big.{down}"), icon="💥")
    if (st.session_state[keys["depth"]], down) != BLOW_UP:
        st.button(t("lab.lambda_blow_up", depth=BLOW_UP[0]), key="lab_blow_up", on_click=blow_up_setup, icon="💥")


def custom_run() -> None:
    """Any variant, any settings: the widgets only lay the form out, the config checks it."""
    # A keyed expander tracks its own state: it stays open while its widgets rerun the page (a new
    # data set, a new depth); it opens by itself when the link carries a custom run's settings.
    st.session_state.setdefault(CUSTOM_OPEN, any(name in st.query_params for name in session.FORM_FIELDS))
    with st.expander(t("lab.custom"), key=CUSTOM_OPEN, on_change="rerun"):
        st.caption(t("lab.custom_help"))
        c1, c2, c3 = st.columns(3)
        c1.selectbox(t("lab.field.depth"), DEPTHS, key=keys["depth"], help=t("lab.depth_help"),
                     format_func=lambda d: t("lab.depth_cifar", d=d) if d in CIFAR_DEPTHS else t("lab.depth_imagenet", d=d))
        shortcut = c2.radio(t("lab.field.shortcut"), SHORTCUTS, key=keys["shortcut"], horizontal=True,
                            format_func=lambda s: t(f"lab.shortcut.{s}"))
        lam_now = st.session_state[keys["lam"]]
        st.session_state["lab_lam_pick"] = lam_now if lam_now in LAMBDA_PRESETS else None
        c3.pills(t("lab.lambda_presets"), LAMBDA_PRESETS, key="lab_lam_pick", on_change=pick_lambda,
                 format_func=lambda v: f"λ = {v:g}", disabled=shortcut != "scaled")
        c3.number_input(t("lab.field.scale"), *LIMITS["scale"], key=keys["lam"], step=0.1, format="%g", disabled=shortcut != "scaled",
                        help=t("lab.lambda_range_help", lo=fmt(LIMITS["scale"][0]), hi=fmt(LIMITS["scale"][1])))
        c2.radio(t("lab.field.downsample"), DOWNSAMPLES, key=keys["down"], horizontal=True, disabled=shortcut == "none",
                 format_func=lambda d: t(f"lab.downsample.{d}"), help=t("lab.downsample_help"))
        if shortcut == "scaled" and st.session_state[keys["lam"]] > 1:
            lambda_note()
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input(t("lab.field.width"), key=keys["width"], step=1, help=t("lab.width_help"))
        c2.number_input(t("lab.field.lr"), key=keys["lr"], step=0.01, format="%g")
        c3.number_input(t("lab.field.momentum"), key=keys["mom"], step=0.05, format="%g")
        c4.number_input(t("lab.field.weight_decay"), key=keys["wd"], step=1e-4, format="%g")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input(t("lab.field.batch_size"), key=keys["batch"], step=1)
        c2.number_input(t("lab.field.steps"), key=keys["steps"], step=10)
        c3.number_input(t("lab.field.eval_every"), key=keys["eval"], step=5)
        c4.number_input(t("lab.field.warmup_steps"), key=keys["warmup"], step=5, help=t("lab.warmup_help"))
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input(t("lab.field.seed"), key=keys["seed"], step=1, help=t("lab.seed_help"))
        dataset = c2.selectbox(t("lab.field.dataset"), DATASET_OPTIONS, key=keys["dataset"], on_change=on_dataset,
                               format_func=lambda d: t(f"lab.dataset.{d}"))
        c3.selectbox(t("lab.field.data_dir"), FOLDERS or [""], key=keys["folder"], disabled=dataset == "digits" or not FOLDERS,
                     format_func=lambda f: f or "–", help=t("lab.folder_help", env=ENV_DATA_DIR))
        c4.number_input(t("lab.field.image_size"), key=keys["size"], step=8)
        if not FOLDERS:
            root = session.data_root()
            st.caption(t("lab.no_data_dir", env=ENV_DATA_DIR) if root is None else t("lab.empty_data_dir", folder=md_escape(root.name)))
        if st.button(t("lab.train"), key="train", type="primary", icon="🏋️", disabled=not lab.writable):
            submit_custom()


def compare() -> tuple[list[RunInfo], dict[str, Any]]:
    """The run picker and the chart settings: every run, and what the live view draws with."""
    try:  # fresh: the form may just have queued a run
        runs = lab.runs()
    except StoreError as exc:
        st.error(t("lab.store_error", reason=safe_reason(exc)), icon="🛑")
        runs = []
    by_id = {r.id: r for r in runs}
    st.header(t("lab.compare"))
    st.multiselect(t("lab.runs", n=MAX_COMPARE), [r.id for r in reversed(runs)], key=keys["runs"], max_selections=MAX_COMPARE,
                   format_func=lambda i: f"{curves.run_title(by_id[i], t)} ({t('lab.source.' + by_id[i].source)})" if i in by_id else f"#{i}",
                   placeholder=t("lab.runs_placeholder"), help=t("lab.runs_help", n=MAX_COMPARE),
                   select_all=False)  # its "Select all" is English only, and all would overflow the chart
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")  # room for "log y" in classroom type
    view = {"smoothing": setting_slider(c1, t("lab.smoothing"), "smooth", 0.0, 0.95, SMOOTH_DEFAULT, step=0.05),
            "x_axis": c2.radio(t("lab.x_axis"), curves.X_AXES, key=keys["x"], horizontal=True, format_func=lambda x: t(f"lab.x.{x}")),
            "log_y": c3.toggle(t("lab.log_y"), key=keys["logy"])}
    selected = list(st.session_state[keys["runs"]])
    c4.download_button(t("lab.csv"), data=lambda: lab.store.metrics_csv(selected), file_name="resnet_lab_runs.csv",
                       mime="text/csv", icon="⬇️", disabled=not selected, on_click="ignore")
    st.caption(t("lab.chart_help"))
    return runs, view


def chosen_runs(runs: list[RunInfo]) -> list[RunInfo]:
    """The runs picked for the chart, in the order they were picked."""
    by_id = {r.id: r for r in runs}
    return [by_id[i] for i in st.session_state.get(keys["runs"], []) if i in by_id]


def queue(runs: list[RunInfo]) -> None:
    """The runs training now and waiting, each with its cancel button."""
    active = [r for r in runs if r.status in ACTIVE]
    if not active:
        return
    st.subheader(t("lab.queue", n=len(active)))
    for run in active:
        text_col, button_col = st.columns([6, 1], vertical_alignment="center")
        with text_col:
            if run.status == "queued":
                st.progress(0.0, text=t("lab.queued", id=run.id, label=md_escape(run.label), pos=lab.store.queue_position(run.id) or "?"))
            else:
                st.progress(run.progress, text=t("lab.running", id=run.id, label=md_escape(run.label), step=run.steps_done,
                                                  steps=run.steps, eta=curves.duration(run.eta_s, t)))
        button_col.button(t("lab.cancelling") if run.cancel_requested else t("lab.cancel"), key=f"cancel_{run.id}",
                          on_click=cancel, args=(run.id,), disabled=run.cancel_requested or not lab.writable, icon="⏹️")


def charts(chosen: list[RunInfo], everyone: list[RunInfo], metrics: dict[int, dict[str, list]], view: dict[str, Any]) -> None:
    """Training loss, test loss and accuracy of the chosen runs, and their table (``everyone``: the
    store's runs, which fix each run's colour)."""
    if not chosen:
        st.info(t("lab.nothing_selected"))
        return
    levels = session.chance_levels(chosen)
    classes = {r.id: level.classes for level in levels for r in level.runs}
    drawn = curves.run_curves(chosen, metrics, t, everyone=everyone, classes=classes)
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


def live_view(view: dict[str, Any]) -> None:
    """Queue, curves and run list, straight from the store (a fragment: redrawn while runs train)."""
    try:
        runs = lab.runs()
        chosen = chosen_runs(runs)
        metrics = {r.id: lab.store.metrics(r.id) for r in chosen}
    except StoreError as exc:
        st.error(t("lab.store_error", reason=safe_reason(exc)), icon="🛑")
        return
    # Two fixed slots: the queue's rows come and go without moving the charts (which
    # would redraw them from scratch and lose the reader's zoom).
    queue_box, charts_box = st.container(), st.container()
    with queue_box:
        queue(runs)
    with charts_box:
        charts(chosen, runs, metrics, view)
    if st.session_state.get("_lab_live") and not any(r.status in ACTIVE for r in runs):
        st.session_state["_lab_live"] = False
        st.rerun()  # the whole page: diagnostics for the finished runs, and stop polling


def watch_for_new_runs() -> None:
    """An idle page notices runs started elsewhere (another tab, a classmate) and goes live."""
    try:
        busy = any(r.status in ACTIVE for r in lab.runs())
    except StoreError:
        return
    if busy and not st.session_state.get("_lab_live"):
        st.rerun()


def block_diagnostics(chosen: list[RunInfo], everyone: list[RunInfo]) -> None:
    """Activation and gradient size per block at initialisation and trained; Fig. 7 for trained runs
    (``everyone``: the store's runs, which fix each run's colour)."""
    st.header(t("lab.diag"))
    st.markdown(t("lab.diag_intro"))
    if not chosen:
        st.info(t("lab.nothing_selected"))
        return
    report = measured(chosen)  # starts what is missing in task processes: nothing is built here
    st.session_state["_diag_live"] = bool(report and report.pending)
    st.fragment(run_every=LIVE_S if st.session_state["_diag_live"] else None)(block_figures)(chosen, everyone)


def measured(chosen: list[RunInfo]) -> session.BlockReport | None:
    """The diagnostics as the store has them (None: the store failed, and the page says so)."""
    try:
        return session.block_signals(lab.store, chosen)
    except StoreError as exc:
        st.error(t("lab.store_error", reason=safe_reason(exc)), icon="🛑")
        return None


def block_figures(chosen: list[RunInfo], everyone: list[RunInfo]) -> None:
    """The diagnostics' figures; while task processes measure, their progress (redrawn every LIVE_S)."""
    report = measured(chosen)
    if report is None:
        return
    for pending in report.pending:
        label = curves.run_title(pending.run, t) if pending.trained else pending.run.label
        st.progress(pending.progress, text=t("lab.measuring", label=md_escape(label)))
    if st.session_state.get("_diag_live") and not report.pending:
        st.session_state["_diag_live"] = False
        st.rerun()  # the whole page once: every figure drawn, and no more polling
    if report.pending and not report.measured and not report.failures:
        return  # the figures come with the first measurement
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
        st.markdown(t("lab.fig7_intro"))
        chart(curves.block_figure(response, t("lab.fig7_y"), t("lab.fig7_x"), log_y=None),
              md_escape(curves.block_summary(response, t("lab.fig7"), t)), key="fig7", config=curves.png_config("response_std"))
        means = session.fig7_means(report.measured)
        st.caption(t("lab.fig7_means", runs=" · ".join(f"{md_escape(curves.run_title(run, t))} {value:.2f}" for run, value in means)))
    else:
        st.info(t("lab.fig7_needs_weights"))


# --- Loss landscapes (Li et al. 2018, Goodfellow et al. 2015): computed in task processes, cached in the store ---

MAX_LANDSCAPES = 4  # surfaces side by side stay legible up to this many


def landscape_runs(chosen: list[RunInfo]) -> tuple[dict[int, dict], dict[int, Any], list[RunInfo]]:
    """The chosen runs (the first MAX_LANDSCAPES) by what their landscape can be: shipped (a reference run of
    the shipped pair), computable (a finished run with saved weights: run id → weights file), or neither."""
    shipped, computable, neither = {}, {}, []
    for run in chosen[:MAX_LANDSCAPES]:
        entry = surfaces.shipped_for(run.config) if run.source == "reference" else None
        if entry is not None:
            shipped[run.id] = entry
        elif (path := session.trained_file(run)) is not None:
            computable[run.id] = path
        else:
            neither.append(run)
    return shipped, computable, neither


def start_landscapes(runs: list[RunInfo], weights: dict[int, Any], size: int) -> None:
    try:
        for run in runs:
            surfaces.start_surface(lab.store.path, run.id, weights[run.id], size)
            surfaces.start_interpolation(lab.store.path, run.id, weights[run.id])
    except StoreError as exc:
        flash("error", t("lab.store_error", reason=safe_reason(exc)))


def cancel_landscape(run_id: int, size: int) -> None:
    try:
        for kind in (surfaces.SURFACE, surfaces.INTERPOLATION):
            surfaces.cancel(lab.store.path, run_id, kind, size)
    except StoreError as exc:
        flash("error", t("lab.store_error", reason=safe_reason(exc)))


def landscape_artifacts(runs: list[RunInfo], size: int) -> dict[int, tuple[Any, Any]]:
    """Run id → (surface artifact, interpolation artifact) as the store holds them (None: not asked for yet)."""
    key = surfaces.surface_key(size, 0, surfaces.SUBSET_SIZE)
    curve_key = surfaces.interpolation_key(surfaces.T_STEPS, surfaces.SUBSET_SIZE)
    return {run.id: (lab.store.artifact(run.id, surfaces.SURFACE, key), lab.store.artifact(run.id, surfaces.INTERPOLATION, curve_key))
            for run in runs}


def loss_landscapes(chosen: list[RunInfo], everyone: list[RunInfo]) -> None:
    """Why shortcuts make training easier: the loss surface around each chosen run's weights, and the
    straight line from its initial weights (``everyone``: the store's runs, which fix each run's colour)."""
    st.header(t("lab.landscape.title"))
    st.markdown(t("lab.landscape.intro"))
    if not chosen:
        st.info(t("lab.nothing_selected"))
        return
    shipped, computable, neither = landscape_runs(chosen)
    c1, c2, c3 = st.columns([3, 1, 2], vertical_alignment="bottom")
    size = c1.segmented_control(t("lab.landscape.grid"), surfaces.GRID_SIZES, default=surfaces.SHIPPED_SIZE, key="lab_landscape_grid",
                                format_func=lambda n: t(f"lab.landscape.grid.{n}")) or surfaces.SHIPPED_SIZE
    log = c2.toggle(t("lab.landscape.log"), value=True, key="lab_landscape_log")
    wanted = [r for r in chosen if r.id in computable]
    c3.button(t("lab.landscape.compute", n=len(wanted)), key="lab_landscape_compute", icon="🏔️", on_click=start_landscapes,
              args=(wanted, computable, size), disabled=not wanted or not lab.writable, help=t("lab.landscape.compute_help"))
    if len(chosen) > MAX_LANDSCAPES:
        st.caption(t("lab.landscape.limit", n=MAX_LANDSCAPES))
    if neither:
        st.caption(t("lab.landscape.no_weights", runs=", ".join(md_escape(curves.run_title(r, t)) for r in neither)))
    try:
        pending = any(a is not None and a.status == "running" for pair in landscape_artifacts(wanted, size).values() for a in pair)
    except StoreError as exc:
        st.error(t("lab.store_error", reason=safe_reason(exc)), icon="🛑")
        return
    st.session_state["_landscape_live"] = pending
    st.fragment(run_every=LIVE_S if pending else None)(landscape_figures)(chosen, everyone, shipped, wanted, size, log)


def landscape_figures(chosen: list[RunInfo], everyone: list[RunInfo], shipped: dict[int, dict], wanted: list[RunInfo],
                      size: int, log: bool) -> None:
    """Progress and cancel for what task processes compute, then every ready surface and curve (redrawn every LIVE_S)."""
    try:
        artifacts = landscape_artifacts(wanted, size)
    except StoreError as exc:
        st.error(t("lab.store_error", reason=safe_reason(exc)), icon="🛑")
        return
    colours = curves.colors_for(chosen, everyone)
    drawn_surfaces, drawn_curves = [], []
    for run in chosen[:MAX_LANDSCAPES]:
        name = curves.run_title(run, t)
        if run.id in shipped:
            drawn_surfaces.append(landscape_plots.Drawn(name, colours[run.id], shipped[run.id]["surface"]))
            drawn_curves.append(landscape_plots.Drawn(name, colours[run.id], shipped[run.id]["interpolation"]))
            continue
        if run.id not in artifacts:
            continue
        surface, curve = artifacts[run.id]
        if any(a is not None and a.status == "running" for a in (surface, curve)):
            text_col, button_col = st.columns([6, 1], vertical_alignment="center")
            done = (surface.progress if surface else 0.0) * 0.9 + (curve.progress if curve else 0.0) * 0.1  # the surface is ~10× the curve's work
            text_col.progress(min(1.0, done), text=t("lab.landscape.computing", label=md_escape(name), size=size))
            button_col.button(t("lab.cancel"), key=f"cancel_landscape_{run.id}", on_click=cancel_landscape, args=(run.id, size),
                              icon="⏹️", disabled=not lab.writable)
        for artifact, into in ((surface, drawn_surfaces), (curve, drawn_curves)):
            if artifact is None:
                continue
            if artifact.status == "done" and artifact.payload:
                into.append(landscape_plots.Drawn(name, colours[run.id], artifact.payload))
            elif artifact.status in ("failed", "cancelled"):
                st.warning(t(f"lab.landscape.{artifact.status}", label=md_escape(name), reason=safe_reason(artifact.error or "")))
    if st.session_state.get("_landscape_live") and not any(a is not None and a.status == "running" for p in artifacts.values() for a in p):
        st.session_state["_landscape_live"] = False
        st.rerun()  # the whole page once: the finished figures, and no more polling
    if shipped:
        st.caption(t("lab.landscape.shipped_note"))
    if not drawn_surfaces:
        st.info(t("lab.landscape.none_yet"))
        return
    chart(landscape_plots.contour_figure(drawn_surfaces, t, log=log), landscape_plots.summary(drawn_surfaces, t),
          key="landscape_contour", config=curves.png_config("loss_landscape"))
    chart(landscape_plots.surface_figure(drawn_surfaces, t, log=log), t("lab.landscape.surface_caption"), key="landscape_3d",
          config={**curves.png_config("loss_landscape_3d"), "scrollZoom": False})  # the wheel scrolls the page, not the 3-D scene
    if drawn_curves:
        st.subheader(t("lab.landscape.interp_title"))
        chart(landscape_plots.interpolation_figure(drawn_curves, t, log=log), t("lab.landscape.interp_caption"),
              key="landscape_interp", config=curves.png_config("interpolation"))


keys = settings()
header()
presets()
custom_run()
show_flash()
all_runs, view = compare()
live_before = any(r.status in ACTIVE for r in all_runs)
st.session_state["_lab_live"] = live_before
st.fragment(run_every=LIVE_S if live_before else None)(live_view)(view)
st.fragment(run_every=None if live_before else IDLE_S)(watch_for_new_runs)()
block_diagnostics(chosen_runs(all_runs), all_runs)
loss_landscapes(chosen_runs(all_runs), all_runs)
finish()
