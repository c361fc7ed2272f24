"""Training lab: train variants side by side and watch the loss curves part ways.

Everything shown comes from the run store (SQLite): the shipped reference runs, imported
on every load, and live runs that the worker processes of ``resnet.lab.jobs`` train and
stream into it. The page never trains in its own process; a fragment redraws the live
curves from the store while runs are queued or training.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import streamlit as st

from pages.common.ui import page_setup, setting_slider, show_url_notices, sync_url, url_choice, url_setting

t = page_setup("lab.title")

from resnet.inference import diagnostics  # noqa: E402  (imports Paddle: after the sidebar is up)
from resnet.plots import curves  # noqa: E402
from resnet.lab.data import load_dataset  # noqa: E402
from resnet.lab.jobs import get_pool  # noqa: E402
from resnet.model import CIFAR_DEPTHS, IMAGENET_DEPTHS, SHORTCUTS, ensure_dygraph  # noqa: E402
from resnet.paths import operator_dir  # noqa: E402
from resnet.lab.presets import BASE, PRESETS, import_reference_runs  # noqa: E402
from resnet.lab.store import ACTIVE, RunInfo, RunStore, StoreError  # noqa: E402
from resnet.lab.train import LIMITS, TrainConfig, build_model, chance_loss  # noqa: E402

ensure_dygraph()  # this run's thread (see ensure_dygraph)

DATA_ENV = "RESNET_LAB_DATA_DIR"  # the operator's folder of image data sets (one subfolder each)
LIVE_S = 1.0  # the curves redraw this often while a run is queued or training
IDLE_S = 5.0  # an idle page looks this often for runs started elsewhere (another tab, a classmate)
MAX_COMPARE = 12
MAX_DIAG = 6  # configurations measured per block
DIAG_BATCH = 64  # images fed to the diagnostics (the first of the run's training set)
PRESET_KEYS = tuple(PRESETS)
DEPTHS = (*CIFAR_DEPTHS, *IMAGENET_DEPTHS)
LAMBDA_PRESETS = (0.0, 0.5, 1.0, 2.0)
X_AXES = curves.X_AXES
PLOTLY = {"displaylogo": False, "displayModeBar": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def png_config(name: str) -> dict[str, Any]:
    """Mode bar with Plotly's own "download as PNG" (2× scale, a telling file name)."""
    return {**PLOTLY, "toImageButtonOptions": {"format": "png", "filename": f"resnet_lab_{name}", "scale": 2}}


# ---------------------------------------------------------------------------------
# The store (a private read-only view of the reference runs when it cannot be written)
# ---------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def view_only_store() -> RunStore:
    """The reference runs in a temporary store: the curves still show, nothing can train."""
    store = RunStore(Path(tempfile.mkdtemp(prefix="resnet_lab_view_")) / "runs.sqlite")
    import_reference_runs(store)
    return store


def load_references(store: RunStore) -> dict[str, list[int]]:
    """``import_reference_runs``; a damaged reference file costs its curves, not the page."""
    try:
        return import_reference_runs(store)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # StoreError (a RuntimeError) goes up
        st.session_state["_lab_reference_problem"] = str(exc)[:300]
        return {}


store_problem: str | None = None
try:
    store = RunStore()
    references = load_references(store)
    all_runs = store.list_runs()
except StoreError as exc:
    store_problem = str(exc)
    try:
        store = view_only_store()
        references = load_references(store)
        all_runs = store.list_runs()
    except (StoreError, OSError) as exc2:  # no writable temp dir either: say so and stop
        st.title(t("lab.title"))
        st.error(t("lab.store_error", reason=store_problem))
        st.error(t("lab.store_view_failed", reason=str(exc2)))
        st.stop()
writable = store_problem is None
by_id = {r.id: r for r in all_runs}

if writable and any(r.status in ACTIVE for r in all_runs):
    try:  # runs queued before a restart (or by the CLI) need workers; dead workers' runs get marked
        get_pool(store.path)
    except StoreError as exc:
        store_problem = str(exc)
        writable = False


def config_key(config: dict[str, Any] | TrainConfig) -> str:
    """A run's configuration as the store's dedup key (canonical JSON)."""
    return config.to_json() if isinstance(config, TrainConfig) else json.dumps(config, sort_keys=True)


def preset_run_ids(key: str) -> list[int]:
    """A preset's reference runs, then the newest live run of each of its configurations."""
    wanted = {config_key(c) for c in PRESETS[key].configs}
    live: dict[str, int] = {}
    for run in store.list_runs(source="live"):  # fresh: callbacks run with the previous run's globals
        if config_key(run.config) in wanted:
            live[config_key(run.config)] = run.id  # oldest first: the newest wins
    return [*references.get(key, []), *sorted(live.values())]


# ---------------------------------------------------------------------------------
# Settings from the URL (validated; a bad value falls back with a notice)
# ---------------------------------------------------------------------------------


def parse_ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip()]


def parse_bool(raw: str) -> bool:
    value = {"1": True, "true": True, "0": False, "false": False}.get(raw.strip().lower())
    if value is None:
        raise ValueError(raw)
    return value


def within(name: str) -> Callable[[float], bool]:
    low, high = LIMITS[name]
    return lambda v: low <= v <= high


def data_folders() -> list[str]:
    """Subfolders of the operator's data folder: the only places image data is read from."""
    root = operator_dir(DATA_ENV)
    if root is None or not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


FOLDERS = data_folders()
DATASET_OPTIONS = ("digits", "folder", "ichallenge_pm") if FOLDERS else ("digits",)

k_preset = url_choice("preset", PRESET_KEYS, PRESET_KEYS[0])
k_runs = url_setting(
    "runs", preset_run_ids(st.session_state[k_preset]), parse_ids,
    lambda ids: 0 < len(ids) <= MAX_COMPARE and len(set(ids)) == len(ids) and all(i in by_id for i in ids),
)
SMOOTH_DEFAULT = 0.6  # TensorBoard's default: the gap between variants reads at a glance
k_smooth = url_setting("smooth", SMOOTH_DEFAULT, float, lambda v: 0.0 <= v <= 0.95)  # before the notices
k_x = url_choice("x", X_AXES, "step")
k_logy = url_setting("logy", True, parse_bool, lambda v: isinstance(v, bool))

# The custom run: URL name → (TrainConfig field, default, parse, valid).
FORM: dict[str, tuple[str, Any, Callable[[str], Any], Callable[[Any], bool]]] = {
    "depth": ("depth", BASE.depth, int, lambda v: v in DEPTHS),
    "shortcut": ("shortcut", BASE.shortcut, str, lambda v: v in SHORTCUTS),
    "lam": ("scale", 2.0, float, math.isfinite),
    "width": ("width", BASE.width, int, within("width")),
    "lr": ("lr", BASE.lr, float, within("lr")),
    "mom": ("momentum", BASE.momentum, float, within("momentum")),
    "wd": ("weight_decay", BASE.weight_decay, float, within("weight_decay")),
    "warmup": ("warmup_steps", BASE.warmup_steps, int, lambda v: 0 <= v <= LIMITS["steps"][1]),
    "batch": ("batch_size", BASE.batch_size, int, within("batch_size")),
    "steps": ("steps", BASE.steps, int, within("steps")),
    "eval": ("eval_every", BASE.eval_every, int, lambda v: 1 <= v <= LIMITS["steps"][1]),
    "seed": ("seed", BASE.seed, int, within("seed")),
    "dataset": ("dataset", "digits", str, lambda v: v in DATASET_OPTIONS),
    "size": ("image_size", BASE.image_size, int, within("image_size")),
}
form_keys = {name: url_setting(name, default, parse, valid) for name, (_, default, parse, valid) in FORM.items()}
k_folder = url_setting("folder", FOLDERS[0] if FOLDERS else "", str, lambda v: v in FOLDERS)


def finish() -> None:
    """Every setting that matters into the URL (the custom run's only where it differs)."""
    sync_url("preset", "smooth", "x")
    st.query_params["runs"] = ",".join(str(i) for i in st.session_state.get(k_runs, []))
    st.query_params["logy"] = "1" if st.session_state.get(k_logy) else "0"
    for name, (_, default, _, _) in FORM.items():
        value = st.session_state.get(form_keys[name])
        if value is None or value == default:
            st.query_params.pop(name, None)
        else:
            st.query_params[name] = f"{value:g}" if isinstance(value, float) else str(value)
    if st.session_state.get(form_keys["dataset"]) != "digits" and st.session_state.get(k_folder):
        st.query_params["folder"] = st.session_state[k_folder]
    else:
        st.query_params.pop("folder", None)


# ---------------------------------------------------------------------------------
# Words and numbers
# ---------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = max(0, round(seconds))
    return t("lab.min_s", m=seconds // 60, s=seconds % 60) if seconds >= 60 else t("lab.s", s=seconds)


def status_text(run: RunInfo) -> str:
    return t(f"lab.status.{run.status}")


def flags_text(run: RunInfo) -> str:
    """The warnings a run deserves, for the run list and the legend."""
    flags = []
    if run.status == "diverged":
        step = (run.result or {}).get("diverged_step")
        flags.append(t("lab.flag_diverged_at", step=step if step is not None else "?"))
    if run.stuck_at_chance:
        flags.append(t("lab.flag_stuck"))
    if run.status == "failed" and run.error:
        flags.append(run.error[:200])
    if run.status == "interrupted":
        flags.append(t("lab.flag_interrupted"))
    return " · ".join(flags)


def run_name(run: RunInfo) -> str:
    """Legend text: reference runs say so, live runs carry their id."""
    name = f"{run.label} · {t('lab.ref')}" if run.source == "reference" else f"{run.label} · {t('lab.source.live')} #{run.id}"
    if run.status == "diverged":
        name += " ⚠ " + t("lab.flag_diverged")
    elif run.stuck_at_chance:
        name += " ⚠ " + t("lab.flag_stuck")
    return name


def option_name(run_id: int) -> str:
    run = by_id.get(run_id)
    if run is None:
        return f"#{run_id}"
    return f"#{run.id} {run.label} ({t('lab.source.' + run.source)})"


def colors_for(runs: list[RunInfo]) -> dict[int, str]:
    """Same configuration, same colour: a live rerun is drawn solid over its dashed reference."""
    by_config: dict[str, str] = {}
    for run in runs:
        by_config.setdefault(config_key(run.config), curves.COLORS[len(by_config) % len(curves.COLORS)])
    return {run.id: by_config[config_key(run.config)] for run in runs}


# ---------------------------------------------------------------------------------
# Actions (callbacks run before the script, so they may change the widgets' state)
# ---------------------------------------------------------------------------------


def flash(kind: str, text: str) -> None:
    st.session_state["_lab_flash"] = (kind, text)


def select(run_ids: list[int]) -> None:
    selected = list(st.session_state.get(k_runs, []))
    st.session_state[k_runs] = (selected + [i for i in run_ids if i not in selected])[-MAX_COMPARE:]


def on_preset() -> None:
    st.session_state[k_runs] = preset_run_ids(st.session_state[k_preset])


def live_ids() -> set[int]:
    """The live runs in the store right now: what a submit found, rather than created."""
    return {r.id for r in store.list_runs(source="live")}


def rerun_live() -> None:
    key = st.session_state[k_preset]
    try:
        known = live_ids()  # fresh: another tab may have queued the same runs a moment ago
        run_ids = get_pool(store.path).submit_many(PRESETS[key].configs)
    except StoreError as exc:
        flash("error", t("lab.store_error", reason=str(exc)))
        return
    select(run_ids)
    new = sorted(i for i in run_ids if i not in known)
    reused = ", ".join(f"#{i}" for i in sorted(set(run_ids) - set(new)))
    if new:
        text = t("lab.rerun_started", n=len(new), ids=", ".join(f"#{i}" for i in new))
        flash("success", text + (" " + t("lab.rerun_some_reused", ids=reused) if reused else ""))
    else:
        flash("success", t("lab.rerun_reused", ids=reused))


def cancel(run_id: int) -> None:
    try:
        store.request_cancel(run_id)
    except (StoreError, KeyError) as exc:
        flash("error", t("lab.store_error", reason=str(exc)))


def pick_lambda() -> None:
    value = st.session_state.get("lab_lam_pick")
    if value is not None:
        st.session_state[form_keys["lam"]] = float(value)


def on_dataset() -> None:
    """A new data set starts at its natural size: digits are 8×8, photos want more."""
    st.session_state[form_keys["size"]] = 8 if st.session_state[form_keys["dataset"]] == "digits" else 32


@st.cache_resource(show_spinner=False, max_entries=4)
def dataset_for(name: str, data_dir: str | None, size: int, stamp: float):
    """The data set a configuration trains on (``stamp``: the folder's mtime, to notice changes)."""
    return load_dataset(name, image_size=size, data_dir=data_dir)


def folder_stamp(data_dir: str | None) -> float:
    try:
        return Path(data_dir).stat().st_mtime if data_dir else 0.0
    except OSError:
        return 0.0


def form_problems(values: dict[str, Any]) -> list[str]:
    """Every out-of-range setting of the custom run, in the page's language."""
    problems = []
    for name in ("steps", "batch_size", "width", "image_size", "lr", "momentum", "weight_decay", "seed"):
        low, high = LIMITS[name]
        value = values[name]
        if value is None or not low <= value <= high:
            problems.append(t("lab.bad.range", field=t(f"lab.field.{name}"), low=fmt(low), high=fmt(high), value=fmt(value)))
    steps = values["steps"] or 0
    if values["eval_every"] is None or not 1 <= values["eval_every"] <= max(steps, 1):
        problems.append(t("lab.bad.eval", value=fmt(values["eval_every"]), steps=steps))
    if values["warmup_steps"] is None or not 0 <= values["warmup_steps"] <= max(steps, 0):
        problems.append(t("lab.bad.warmup", value=fmt(values["warmup_steps"]), steps=steps))
    if values["shortcut"] == "scaled" and (values["scale"] is None or not math.isfinite(values["scale"])):
        problems.append(t("lab.bad.lambda", value=fmt(values["scale"])))
    if values["dataset"] != "digits" and not values["data_dir"]:
        problems.append(t("lab.bad.no_folder", env=DATA_ENV))
    return problems


def submit_custom(values: dict[str, Any]) -> None:
    """Validate, check the data, queue; messages go into the flash slot below the button."""
    problems = form_problems(values)
    config = None
    if not problems:
        try:
            config = TrainConfig(**values).validate()
        except (TypeError, ValueError) as exc:
            problems.append(t("lab.bad.other", reason=str(exc)))
    skipped: tuple[str, ...] = ()
    if config is not None and config.dataset != "digits":
        try:
            with st.spinner(t("lab.checking_data")):
                data = dataset_for(config.dataset, config.data_dir, config.image_size, folder_stamp(config.data_dir))
            skipped = data.skipped
            if config.batch_size > len(data.y_train):
                problems.append(t("lab.bad.batch_vs_data", batch=config.batch_size, n=len(data.y_train)))
        except (ValueError, OSError) as exc:
            problems.append(t("lab.bad.data", reason=str(exc)))
    if problems:
        flash("error", t("lab.bad.title") + "\n\n" + "\n".join(f"- {p}" for p in problems))
        return
    try:
        known = live_ids()
        run_id = get_pool(store.path).submit(config)
    except StoreError as exc:
        flash("error", t("lab.store_error", reason=str(exc)))
        return
    except ValueError as exc:
        flash("error", t("lab.bad.other", reason=str(exc)))
        return
    select([run_id])
    text = t("lab.queued_as", id=run_id, label=config.label) if run_id not in known else t("lab.reused", id=run_id, label=config.label)
    if skipped:
        text += "\n\n" + t("lab.skipped", n=len(skipped), example=skipped[0][:200])
    flash("success" if run_id not in known else "info", text)


def show_flash() -> None:
    kind, text = st.session_state.pop("_lab_flash", (None, None))
    if kind:
        getattr(st, kind)(text)


# ---------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------

st.title(t("lab.title"))
st.markdown(t("lab.intro"))
show_url_notices(t)
if store_problem:
    st.error(t("lab.store_error", reason=store_problem), icon="🛑")
if reference_problem := st.session_state.pop("_lab_reference_problem", None):
    st.warning(t("lab.references_unreadable", reason=reference_problem), icon="⚠️")

# -- classroom presets ------------------------------------------------------------------
st.header(t("lab.presets"))
left, right = st.columns([3, 2], vertical_alignment="bottom")
preset = left.radio(t("lab.preset"), PRESET_KEYS, key=k_preset, horizontal=True, on_change=on_preset,
                    format_func=lambda k: t(f"lab.preset.{k}"))
right.button(t("lab.rerun_live", n=len(PRESETS[preset].configs)), key="rerun_live", on_click=rerun_live,
             type="primary", icon="▶️", disabled=not writable, help=t("lab.rerun_help"))
st.markdown(t(f"lab.preset.{preset}.question"))
st.caption(t("lab.reference_note"))

# -- a custom run ---------------------------------------------------------------------------
with st.expander(t("lab.custom"), expanded=any(name in st.query_params for name in FORM)):
    st.caption(t("lab.custom_help"))
    c1, c2, c3 = st.columns(3)
    depth = c1.selectbox(t("lab.field.depth"), DEPTHS, key=form_keys["depth"], help=t("lab.depth_help"),
                         format_func=lambda d: t("lab.depth_cifar", d=d) if d in CIFAR_DEPTHS else t("lab.depth_imagenet", d=d))
    shortcut = c2.radio(t("lab.field.shortcut"), SHORTCUTS, key=form_keys["shortcut"], horizontal=True,
                        format_func=lambda s: t(f"lab.shortcut.{s}"))
    scaled = shortcut == "scaled"
    lam_now = st.session_state[form_keys["lam"]]
    st.session_state["lab_lam_pick"] = lam_now if lam_now in LAMBDA_PRESETS else None
    c3.pills(t("lab.lambda_presets"), LAMBDA_PRESETS, key="lab_lam_pick", on_change=pick_lambda,
             format_func=lambda v: f"λ = {v:g}", disabled=not scaled)
    scale = c3.number_input(t("lab.field.scale"), key=form_keys["lam"], step=0.1, format="%g", disabled=not scaled,
                            help=t("lab.lambda_help"))
    c1, c2, c3, c4 = st.columns(4)
    width = c1.number_input(t("lab.field.width"), key=form_keys["width"], step=1, help=t("lab.width_help"))
    lr = c2.number_input(t("lab.field.lr"), key=form_keys["lr"], step=0.01, format="%g")
    momentum = c3.number_input(t("lab.field.momentum"), key=form_keys["mom"], step=0.05, format="%g")
    weight_decay = c4.number_input(t("lab.field.weight_decay"), key=form_keys["wd"], step=1e-4, format="%g")
    c1, c2, c3, c4 = st.columns(4)
    batch = c1.number_input(t("lab.field.batch_size"), key=form_keys["batch"], step=1)
    steps = c2.number_input(t("lab.field.steps"), key=form_keys["steps"], step=10)
    eval_every = c3.number_input(t("lab.field.eval_every"), key=form_keys["eval"], step=5)
    warmup = c4.number_input(t("lab.field.warmup_steps"), key=form_keys["warmup"], step=5, help=t("lab.warmup_help"))
    c1, c2, c3, c4 = st.columns(4)
    seed = c1.number_input(t("lab.field.seed"), key=form_keys["seed"], step=1, help=t("lab.seed_help"))
    dataset = c2.selectbox(t("lab.field.dataset"), DATASET_OPTIONS, key=form_keys["dataset"], on_change=on_dataset,
                           format_func=lambda d: t(f"lab.dataset.{d}"))
    folder = c3.selectbox(t("lab.field.folder"), FOLDERS or [""], key=k_folder, disabled=dataset == "digits" or not FOLDERS,
                          format_func=lambda f: f or "–", help=t("lab.folder_help", env=DATA_ENV))
    size = c4.number_input(t("lab.field.image_size"), key=form_keys["size"], step=8)
    root = operator_dir(DATA_ENV)
    if not FOLDERS:
        st.caption(t("lab.no_data_dir", env=DATA_ENV) if root is None else t("lab.empty_data_dir", folder=str(root)))
    values = dict(
        depth=depth, shortcut=shortcut, scale=scale, width=width, lr=lr, momentum=momentum, weight_decay=weight_decay,
        warmup_steps=warmup, batch_size=batch, steps=steps, eval_every=eval_every, seed=seed, dataset=dataset,
        data_dir=str(root / folder) if dataset != "digits" and folder and root else None,
        image_size=size, stem="small",
    )
    if st.button(t("lab.train"), key="train", type="primary", icon="🏋️", disabled=not writable):
        submit_custom(values)

show_flash()
try:  # the form may just have queued a run: the run list must know it
    all_runs = store.list_runs()
    by_id = {r.id: r for r in all_runs}
except StoreError as exc:
    st.error(t("lab.store_error", reason=str(exc)), icon="🛑")

# -- comparison ---------------------------------------------------------------------------
st.header(t("lab.compare"))
st.multiselect(t("lab.runs"), [r.id for r in reversed(all_runs)], key=k_runs, format_func=option_name,
               max_selections=MAX_COMPARE, placeholder=t("lab.runs_placeholder"))
c1, c2, c3, c4 = st.columns([3, 2, 1, 2], vertical_alignment="bottom")
smoothing = setting_slider(c1, t("lab.smoothing"), "smooth", 0.0, 0.95, SMOOTH_DEFAULT, step=0.05)
x_axis = c2.radio(t("lab.x_axis"), X_AXES, key=k_x, horizontal=True, format_func=lambda x: t(f"lab.x.{x}"))
log_y = c3.toggle(t("lab.log_y"), key=k_logy)
selected_ids = list(st.session_state[k_runs])
c4.download_button(t("lab.csv"), data=lambda: store.metrics_csv(selected_ids), file_name="resnet_lab_runs.csv",
                   mime="text/csv", icon="⬇️", disabled=not selected_ids, on_click="ignore")
st.caption(t("lab.chart_help"))

live_before = any(r.status in ACTIVE for r in all_runs)
st.session_state["_lab_live"] = live_before


@st.fragment(run_every=LIVE_S if live_before else None)
def live_view() -> None:
    """Queue, progress, curves and run list, straight from the store."""
    try:
        runs = {r.id: r for r in store.list_runs()}
        chosen = [runs[i] for i in st.session_state.get(k_runs, []) if i in runs]
        metrics = {r.id: store.metrics(r.id) for r in chosen}
    except StoreError as exc:
        st.error(t("lab.store_error", reason=str(exc)), icon="🛑")
        return
    active = [r for r in runs.values() if r.status in ACTIVE]

    # Two fixed slots: the queue's rows come and go without moving the charts (which
    # would redraw them from scratch and lose the reader's zoom).
    queue_box, charts_box = st.container(), st.container()
    with queue_box:
        if active:
            st.subheader(t("lab.queue", n=len(active)))
            for run in active:
                text_col, button_col = st.columns([6, 1], vertical_alignment="center")
                with text_col:
                    if run.status == "queued":
                        st.progress(0.0, text=t("lab.queued", id=run.id, label=run.label, pos=store.queue_position(run.id) or "?"))
                    else:
                        st.progress(run.progress, text=t("lab.running", id=run.id, label=run.label, step=run.steps_done,
                                                          steps=run.steps, eta=duration(run.eta_s)))
                button_col.button(t("lab.cancelling") if run.cancel_requested else t("lab.cancel"), key=f"cancel_{run.id}",
                                  on_click=cancel, args=(run.id,), disabled=run.cancel_requested or not writable, icon="⏹️")

    with charts_box:
        if not chosen:
            st.info(t("lab.nothing_selected"))
        else:
            colors = colors_for(chosen)
            drawn = [
                curves.Curve(run_id=r.id, name=run_name(r), color=colors[r.id], metrics=metrics[r.id], reference=r.source == "reference",
                        diverged_step=(r.result or {}).get("diverged_step") if r.status == "diverged" else None,
                        stuck=r.stuck_at_chance)
                for r in chosen
            ]
            digits_only = all(r.config.get("dataset") == "digits" for r in chosen)
            keep_zoom = f"{x_axis}-{log_y}"
            fig = curves.train_loss_figure(drawn, t, x_axis=x_axis, smoothing=smoothing, log_y=log_y,
                                      chance=chance_loss(10) if digits_only else None)
            fig.update_layout(uirevision=keep_zoom)
            st.plotly_chart(fig, key="chart_train_loss", config=png_config("train_loss"))
            g1, g2 = st.columns(2)
            for col, metric in ((g1, "test_loss"), (g2, "test_acc")):
                fig = curves.eval_figure(drawn, metric, t, x_axis=x_axis, log_y=log_y)
                fig.update_layout(uirevision=keep_zoom)
                col.plotly_chart(fig, key=f"chart_{metric}", config=png_config(metric))
            st.dataframe(pd.DataFrame([run_row(r) for r in chosen]), hide_index=True, width="stretch",
                         column_config={t("lab.col.flags"): st.column_config.TextColumn(width="medium"),
                                        t("lab.col.run"): st.column_config.TextColumn(width="medium")})

    if st.session_state.get("_lab_live") and not active:
        st.session_state["_lab_live"] = False
        st.rerun()  # the whole page: diagnostics for the finished runs, and stop polling


def run_row(run: RunInfo) -> dict[str, Any]:
    result = run.result or {}
    icon = {"done": "✅", "running": "⏳", "queued": "🕒", "diverged": "💥", "failed": "❌", "cancelled": "⏹️",
            "interrupted": "⚡"}.get(run.status, "")
    if run.stuck_at_chance:
        icon = "⚠️"
    loss = result.get("final_train_loss")
    acc = result.get("final_test_acc")
    return {
        t("lab.col.run"): f"#{run.id} {run.label}",
        t("lab.col.source"): t("lab.source." + run.source),
        t("lab.col.status"): f"{icon} {status_text(run)}",
        t("lab.col.flags"): flags_text(run),
        t("lab.col.steps"): f"{run.steps_done}/{run.steps}",
        t("lab.col.train_loss"): f"{loss:.4g}" if isinstance(loss, (int, float)) and math.isfinite(loss) else "–",
        t("lab.col.test_acc"): f"{acc:.1%}" if isinstance(acc, (int, float)) else "–",
        t("lab.col.wall"): duration(run.last_wall_s),
        t("lab.col.speed"): f"{result['images_per_s']:.0f}" if result.get("images_per_s") else "–",
    }


@st.fragment(run_every=None if live_before else IDLE_S)
def watch_for_new_runs() -> None:
    """An idle page notices runs started elsewhere (another tab, a classmate) and goes live."""
    try:
        busy = any(r.status in ACTIVE for r in store.list_runs())
    except StoreError:
        return
    if busy and not st.session_state.get("_lab_live"):
        st.rerun()


live_view()
watch_for_new_runs()

# -- diagnostics per block ---------------------------------------------------------------------


def diag_input(config: TrainConfig):
    """The first DIAG_BATCH training images of the run's data set, and their labels."""
    import paddle

    data = dataset_for(config.dataset, config.data_dir, config.image_size, folder_stamp(config.data_dir))
    return data, paddle.to_tensor(data.x_train[:DIAG_BATCH]), paddle.to_tensor(data.y_train[:DIAG_BATCH])


@st.cache_data(show_spinner=False, max_entries=32)
def signals_at_init(config_json: str) -> list[diagnostics.BlockSignal]:
    """Forward RMS and ∂L/∂x per block of a freshly built, seeded model of this configuration."""
    ensure_dygraph()  # cached functions run in the calling script's thread
    config = TrainConfig.from_dict(json.loads(config_json))
    data, x, labels = diag_input(config)
    model = build_model(config, data)  # the run's own seed: the very weights it started from
    model.train()
    return diagnostics.measure_signal(model, x, labels)


@st.cache_data(show_spinner=False, max_entries=32)
def signals_trained(path: str, stamp: float, config_json: str) -> tuple[list[diagnostics.BlockSignal], list[tuple[str, float]]]:
    """Per-block signal (train mode, as during training) and Fig. 7 response std (eval mode) after training."""
    from resnet.model.weights import load_trained

    ensure_dygraph()
    config = TrainConfig.from_dict(json.loads(config_json))
    _, x, labels = diag_input(config)
    model = load_trained(path).model  # private: measuring in train mode moves BatchNorm's statistics
    stds = diagnostics.response_std(model, x)
    model.train()
    return diagnostics.measure_signal(model, x, labels), stds


def trained_file(run: RunInfo) -> Path | None:
    path = (run.result or {}).get("weights")
    return Path(path) if path and Path(path).is_file() else None


st.header(t("lab.diag"))
st.markdown(t("lab.diag_intro"))
chosen_runs = [by_id[i] for i in selected_ids if i in by_id]
configs: dict[str, RunInfo] = {}
for run in chosen_runs:
    configs.setdefault(config_key(run.config), run)
shown = list(configs.items())[:MAX_DIAG]
if len(configs) > MAX_DIAG:
    st.caption(t("lab.diag_limit", n=MAX_DIAG))
if not shown:
    st.info(t("lab.nothing_selected"))
else:
    diag_colors = colors_for(chosen_runs)
    forward: list[curves.Series] = []
    backward: list[curves.Series] = []
    response: list[curves.Series] = []
    problems = []
    with st.spinner(t("lab.measuring")):
        for key, run in shown:
            try:
                signals = signals_at_init(key)
            except (ValueError, OSError) as exc:  # e.g. a data folder that went away
                problems.append(t("lab.diag_failed", label=run.label, reason=str(exc)))
                continue
            names = [s.name for s in signals]
            label = f"{run.label} · {t('lab.at_init')}"
            forward.append(curves.Series(label, diag_colors[run.id], names, [s.out_rms for s in signals], dash="dot"))
            backward.append(curves.Series(label, diag_colors[run.id], names, [s.grad_rms for s in signals], dash="dot"))
        for run in chosen_runs:
            path = trained_file(run)
            if path is None:
                continue
            try:
                signals, stds = signals_trained(str(path), path.stat().st_mtime, config_key(run.config))
            except Exception as exc:  # a weights file that does not load: say which, keep the page
                problems.append(t("lab.diag_failed", label=f"#{run.id} {run.label}", reason=str(exc)[:300]))
                continue
            names = [s.name for s in signals]
            label = f"{run.label} #{run.id} · {t('lab.trained')}"
            forward.append(curves.Series(label, diag_colors[run.id], names, [s.out_rms for s in signals]))
            backward.append(curves.Series(label, diag_colors[run.id], names, [s.grad_rms for s in signals]))
            response.append(curves.Series(f"{run.label} #{run.id}", diag_colors[run.id], [n for n, _ in stds], [v for _, v in stds]))
    for problem in problems:
        st.warning(problem)
    d1, d2 = st.columns(2)
    d1.markdown(f"**{t('lab.diag_forward')}**")
    d1.plotly_chart(curves.block_figure(forward, t("lab.diag_forward_y"), t("lab.diag_block_x"), log_y=None), key="diag_forward",
                    config=png_config("activation_rms"))
    d2.markdown(f"**{t('lab.diag_backward')}**")
    d2.plotly_chart(curves.block_figure(backward, t("lab.diag_backward_y"), t("lab.diag_block_x"), log_y=None), key="diag_backward",
                    config=png_config("gradient_rms"))
    st.caption(t("lab.diag_reading"))
    st.subheader(t("lab.fig7"))
    if response:
        st.markdown(t("lab.fig7_intro"))
        st.plotly_chart(curves.block_figure(response, t("lab.fig7_y"), t("lab.fig7_x"), log_y=None), key="fig7",
                        config=png_config("response_std"))
    else:
        st.info(t("lab.fig7_needs_weights"))

finish()
