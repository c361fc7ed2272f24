"""The Training lab's presets and its "Your own run" form, and what their buttons do.

Every answer (queued, reused, refused with every problem) goes into the page's flash slot
(``lab_context.flash``): the buttons here rerun the whole page, which draws it there.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pandas as pd
import streamlit as st

from pages.common import roles
from pages.common.lab_context import MAX_COMPARE, LabPage, flash, follow_new_runs, heads
from pages.common.ui import md_escape, safe_reason, variant_option
from resnet.lab import claims, session
from resnet.lab.config import CHOICES, DEFAULT_IMAGE_SIZE, LIMITS, Problem, TrainConfig
from resnet.lab.presets import PRESETS
from resnet.lab.store import StoreError
from resnet.model.spec import CIFAR_DEPTHS, DOWNSAMPLES, IMAGENET_DEPTHS
from resnet.papers import printed
from resnet.paths import ENV_DATA_DIR

CUSTOM_OPEN = "lab_custom_open"  # the "Your own run" expander's state
PRESET_KEYS = tuple(PRESETS)
DEPTHS = (*CIFAR_DEPTHS, *IMAGENET_DEPTHS)
LAMBDA_PRESETS = (0.0, 0.5, 1.0, 2.0)
# (depth, stage-start shortcut) of the "why not 2x?" preset's λ = 2 run, which fails (its reference run)
BLOW_UP = next((c.depth, c.downsample_kind) for c in PRESETS["why_not_2x"].configs if c.shortcut_scale > 1)


# --- Words and numbers ---


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def problem_text(page: LabPage, problem: Problem) -> str:
    """A coded problem of the configuration in the page's language (its values may be a visitor's text)."""
    values = {name: safe_reason(fmt(value)) for name, value in problem.values.items()}
    return page.t(f"lab.bad.{problem.code}", field=page.t(f"lab.field.{problem.field}"), env=ENV_DATA_DIR, **values)


# --- Actions (callbacks run before the script, so they may change the widgets' state) ---


def select(page: LabPage, run_ids: list[int]) -> str:
    """Put ``run_ids``' variants on the chart (the seeds of one are one pick); past MAX_COMPARE picks the
    oldest leave it, and the returned note says which ("" when none did)."""
    key = page.keys["runs"]
    selected = list(st.session_state.get(key, []))
    wanted = selected + [i for i in heads(page.lab.groups(), run_ids) if i not in selected]
    st.session_state[key] = wanted[-MAX_COMPARE:]
    dropped = wanted[:-MAX_COMPARE]
    return "\n\n" + page.t("lab.runs_dropped", n=MAX_COMPARE, ids=", ".join(f"#{i}" for i in dropped)) if dropped else ""


def on_preset(page: LabPage) -> None:
    st.session_state[page.keys["runs"]] = page.lab.preset_runs(st.session_state[page.keys["preset"]])


def rerun_live(page: LabPage) -> None:
    t = page.t
    try:
        submitted = page.lab.rerun_preset(st.session_state[page.keys["preset"]], owner=roles.session_hash(),
                                          queue_limit=roles.queue_limit())
    except StoreError as exc:
        flash("error", page.store_error(exc))
        return
    except session.QueueFull as refused:  # a student's: the reason, in their language
        flash("error", roles.queue_full_text(t, refused))
        return
    dropped = select(page, [s.run_id for s in submitted])
    follow_new_runs()
    new = ", ".join(f"#{s.run_id}" for s in sorted(submitted) if s.created)
    reused = ", ".join(f"#{s.run_id}" for s in sorted(submitted) if not s.created)
    if new:
        text = t("lab.rerun_started", n=sum(s.created for s in submitted), ids=new)
        flash("success", text + (" " + t("lab.rerun_some_reused", ids=reused) if reused else "") + dropped)
    else:
        flash("success", t("lab.rerun_reused", ids=reused) + dropped)


def pick_lambda(page: LabPage) -> None:
    value = st.session_state.get("lab_lam_pick")
    if value is not None:
        st.session_state[page.keys["lam"]] = float(value)


def blow_up_setup(page: LabPage) -> None:
    """The settings where λ > 1 fails in the reference runs: the "why not 2x?" preset's ResNet-56, option A."""
    st.session_state[page.keys["depth"]] = BLOW_UP[0]
    st.session_state[page.keys["down"]] = BLOW_UP[1]


def on_dataset(page: LabPage) -> None:
    """A new data set starts at its own image size (digits are 8×8, photos want more)."""
    st.session_state[page.keys["size"]] = DEFAULT_IMAGE_SIZE[st.session_state[page.keys["dataset"]]]


def submit_custom(page: LabPage) -> None:
    """Queue the form's run; the answer (or every problem) goes into the flash slot."""
    t, keys = page.t, page.keys
    values = {field: st.session_state[keys[name]] for name, field in session.FORM_FIELDS.items()}
    checking = st.spinner(t("lab.checking_data")) if values["dataset"] != "digits" else nullcontext()
    try:
        with checking:
            done = page.lab.submit(values, folder=st.session_state[keys["folder"]], seeds=st.session_state[keys["seeds"]],
                                   owner=roles.session_hash(), queue_limit=roles.queue_limit())
    except StoreError as exc:
        flash("error", page.store_error(exc))
        return
    except session.QueueFull as refused:  # a student's: the reason, in their language
        flash("error", roles.queue_full_text(t, refused))
        return
    if done.problems:
        flash("error", t("lab.bad.title") + "\n\n" + "\n".join(f"- {problem_text(page, p)}" for p in done.problems))
        return
    dropped = select(page, [s.run_id for s in done.runs])
    follow_new_runs()
    created = [s.run_id for s in done.runs if s.created]
    if len(done.runs) > 1:  # one line for the k seeds: which were queued, which were there already
        first = values["seed"]
        text = t("lab.queued_seeds", n=len(done.runs), label=md_escape(done.label), first=first, last=first + len(done.runs) - 1,
                 ids=", ".join(f"#{i}" for i in created) or "–")
        if reused := [s.run_id for s in done.runs if not s.created]:
            text += " " + t("lab.rerun_some_reused", ids=", ".join(f"#{i}" for i in reused))
    elif done.created:  # this press queued it; otherwise someone (another tab, a classmate) had
        text = t("lab.queued_as", id=done.run_id, label=md_escape(done.label))
    else:
        text = t("lab.reused", id=done.run_id, label=md_escape(done.label), status=t(f"lab.status.{done.status}"))
    if done.skipped:
        text += "\n\n" + t("lab.skipped", n=len(done.skipped), example=safe_reason(done.skipped[0], 200))
    flash("success" if created else "info", text + dropped)


# --- Sections ---


def presets(page: LabPage) -> None:
    t, lab = page.t, page.lab
    st.header(t("lab.presets"))
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    preset = left.radio(t("lab.preset"), PRESET_KEYS, key=page.keys["preset"], horizontal=True, on_change=on_preset,
                        args=(page,), format_func=lambda k: t(f"lab.preset.{k}"))
    right.button(t("lab.rerun_live", n=len(PRESETS[preset].configs)), key="rerun_live", on_click=rerun_live, args=(page,),
                 type="primary", icon="▶️", disabled=not lab.writable, help=t("lab.rerun_help"))
    st.markdown(t(f"lab.preset.{preset}.question", **claims.question_values(preset, t)))  # measured parts from the shipped runs
    if rows := claims.paper_table_rows(t, preset):
        paper_table(page, preset, rows)
    st.caption(t("lab.reference_note"))


def paper_table(page: LabPage, preset: str, rows: list[dict[str, str]]) -> None:
    """A paper preset's variants: the paper's test error beside ours, measured on the shipped runs."""
    t = page.t
    # st.table, not st.dataframe: a short table read whole, its long headers wrapped
    st.table(pd.DataFrame([{t(f"lab.paper_table.{column}"): value for column, value in row.items()} for row in rows]))
    st.caption(t(f"lab.preset.{preset}.paper_caption", fail=printed("he2016.fail_above")))


def lambda_note(page: LabPage) -> None:
    """λ > 1: why it explodes with option A and may not with option B; option A's note quotes the
    shipped λ = 2 runs (``claims.lambda_big_values``). One click sets up the failing case."""
    down = st.session_state[page.keys["down"]]
    st.info(page.t(f"lab.lambda_big.{down}", **claims.lambda_big_values(page.t)), icon="💥")
    if (st.session_state[page.keys["depth"]], down) != BLOW_UP:
        st.button(page.t("lab.lambda_blow_up", depth=BLOW_UP[0]), key="lab_blow_up", on_click=blow_up_setup, args=(page,), icon="💥")


def custom_run(page: LabPage) -> None:
    """Any variant, any settings: the widgets only lay the form out, the config checks it."""
    t, keys, folders = page.t, page.keys, page.folders
    # A keyed expander tracks its own state: it stays open while its widgets rerun the page (a new
    # data set, a new depth); it opens by itself when the link carries a custom run's settings.
    st.session_state.setdefault(CUSTOM_OPEN, any(name in st.query_params for name in session.FORM_FIELDS))
    with st.expander(t("lab.custom"), key=CUSTOM_OPEN, on_change="rerun"):
        defaults = TrainConfig()
        st.caption(t("lab.custom_help", momentum=f"{defaults.momentum:g}", weight_decay=f"{defaults.weight_decay:g}", lr=f"{defaults.lr:g}"))
        c1, c2, c3 = st.columns(3)
        c1.selectbox(t("lab.field.depth"), DEPTHS, key=keys["depth"], help=t("lab.depth_help"),
                     format_func=lambda d: t("lab.depth_cifar", d=d) if d in CIFAR_DEPTHS else t("lab.depth_imagenet", d=d))
        shortcut = c2.radio(t("lab.field.shortcut"), CHOICES["shortcut"], key=keys["shortcut"], horizontal=True,
                            help=t("lab.shortcut_help"), format_func=lambda s: variant_option(t, "shortcut", s))
        lam_now = st.session_state[keys["lam"]]
        st.session_state["lab_lam_pick"] = lam_now if lam_now in LAMBDA_PRESETS else None
        c3.pills(t("lab.lambda_presets"), LAMBDA_PRESETS, key="lab_lam_pick", on_change=pick_lambda, args=(page,),
                 format_func=lambda v: f"λ = {v:g}", disabled=shortcut != "scaled")
        c3.number_input(t("lab.field.scale"), *LIMITS["scale"], key=keys["lam"], step=0.1, format="%g", disabled=shortcut != "scaled",
                        help=t("lab.lambda_range_help", lo=fmt(LIMITS["scale"][0]), hi=fmt(LIMITS["scale"][1])))
        # a plain net has no shortcut, and Fig. 2(e)'s 1×1 conv is on every one, stage starts included
        c2.radio(t("lab.field.downsample"), DOWNSAMPLES, key=keys["down"], horizontal=True, disabled=shortcut in ("none", "conv1x1"),
                 format_func=lambda d: t(f"lab.downsample.{d}"), help=t("lab.downsample_help"))
        c3.selectbox(t("lab.field.unit"), CHOICES["unit"], key=keys["unit"], help=t("lab.unit_help"),
                     format_func=lambda u: variant_option(t, "unit", u))
        c3.number_input(t("lab.field.residual_scale"), *LIMITS["residual_scale"], key=keys["rho"], step=0.1, format="%g",
                        help=t("lab.residual_scale_help", lo=fmt(LIMITS["residual_scale"][0]), hi=fmt(LIMITS["residual_scale"][1])))
        if shortcut == "scaled" and st.session_state[keys["lam"]] > 1:
            lambda_note(page)
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
        c1, c1b, c2, c3, c4 = st.columns([1, 1, 2, 2, 2])
        c1.number_input(t("lab.field.seed"), key=keys["seed"], step=1, help=t("lab.seed_help"))
        c1b.number_input(t("lab.field.seeds"), 1, session.MAX_SEEDS, key=keys["seeds"], step=1,
                         help=t("lab.seeds_help", n=session.MAX_SEEDS))
        dataset = c2.selectbox(t("lab.field.dataset"), page.datasets, key=keys["dataset"], on_change=on_dataset, args=(page,),
                               format_func=lambda d: t(f"lab.dataset.{d}"))
        c3.selectbox(t("lab.field.data_dir"), folders or [""], key=keys["folder"], disabled=dataset == "digits" or not folders,
                     format_func=lambda f: f or "–", help=t("lab.folder_help", env=ENV_DATA_DIR))
        c4.number_input(t("lab.field.image_size"), key=keys["size"], step=8)
        if not folders:
            root = session.data_root()
            st.caption(t("lab.no_data_dir", env=ENV_DATA_DIR) if root is None else t("lab.empty_data_dir", folder=md_escape(root.name)))
        # a callback: it runs before the page does, so a rerun requested meanwhile (another widget's change, an
        # expander's) cannot cut the run short before the press is read, which lost it (Rerun live's is one too)
        st.button(t("lab.train"), key="train", type="primary", icon="🏋️", disabled=not page.lab.writable,
                  on_click=submit_custom, args=(page,))
