"""Feature maps: one image through every block, what F(x) adds to what the shortcut carries,
and Veit et al.'s lesion study of the trained nets."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from pages.common import roles
from pages.common.ui import (
    chart, md_escape, page_setup, room_scale, safe_error, safe_reason, select_on_click, setting_key, show_url_notices, sync_url, url_choice,
    url_int,
)

t = page_setup("fm.title")

from resnet.inference import explore, features, images  # noqa: E402  (Paddle: after the sidebar)
from resnet.inference.explore import FILE_SOURCES, STEM, UPLOAD, UPLOAD_TYPES, ModelInfo, ModelSpec, Shown  # noqa: E402
from resnet.model import preprocess, weights  # noqa: E402
from resnet.model.spec import IMAGENET_DEPTHS  # noqa: E402
from resnet.plots import ablation as ablation_plots, features as feature_plots  # noqa: E402
from resnet.plots.style import for_room  # noqa: E402
from resnet.lab import service, shipped  # noqa: E402
from resnet.lab.analyses import lesion as live_lesion  # noqa: E402
from resnet.lab.store import Artifact, StoreError, store_address  # noqa: E402
from resnet.paths import trained_dir  # noqa: E402  (where the lab's workers save finished runs)

_log = logging.getLogger(__name__)

SOURCES = ("shipped", "random", "official", "local", "trained")
DEPTHS = IMAGENET_DEPTHS
SEED_RANGE = (0, 9999)
K_RANGE = (4, 64)
ABLATIONS = ("none", "shortcuts", "drop")
PLOTLY = {"displayModeBar": False}
SERVED = "resnet.inference.served:"  # the service's targets: models are built and run there, never here
LOAD_TIMEOUT_S = 180.0  # loading weights: an official ResNet-152 checked key by key on a busy machine
MAPS_TIMEOUT_S = 180.0  # every block's maps; the first of a model exports its fast path (ResNet-152: a minute)


# -- shared, read-only resources: the weights (in the inference service), the sample photos, the analyses --


@st.cache_resource(show_spinner=False, max_entries=8)
def model_info(key: str, _spec: ModelSpec) -> ModelInfo:
    """The weights ``_spec`` names (``key``), loaded in the inference service, which keeps them for the maps."""
    return service.call(SERVED + "model_info", key=key, timeout=LOAD_TIMEOUT_S, spec=_spec)


@st.cache_resource(show_spinner=False, max_entries=16)
def sample_shown(name: str, spec: preprocess.Preprocess) -> Shown:
    """A sample photo, or a sample digit (``digit_<label>``)."""
    return shipped.sample_shown(name, spec)


@st.cache_resource(show_spinner=False)
def lesion_board() -> shipped.LesionBoard:
    """The lesion studies stored with the shipped models (reread when a file changes), for every session."""
    return shipped.LesionBoard()


@st.cache_resource(show_spinner=False, max_entries=6)  # ResNet-50 at 224: ~65 MB of maps per entry
def analysis_for(
    model_key: str, image_key: str, drop: tuple[str, ...], shortcuts_off: bool, _spec: ModelSpec, _array: np.ndarray,
) -> tuple[features.Analysis, float]:
    """Every block's maps for one (weights, image, ablation), computed by the inference service and
    shared by all sessions (read-only)."""
    return service.call(SERVED + "maps", key=model_key, timeout=MAPS_TIMEOUT_S, spec=_spec, array=_array, drop=drop,
                        shortcuts_off=shortcuts_off)


# -- the page's sections, top to bottom ---------------------------------------------------


def settings() -> tuple[str, int | None, Any, Any]:
    """Weights and depth; returns them, the image's column and the column of the weights' own setting."""
    st.title(t("fm.title"))
    st.markdown(t("fm.intro"))
    c_img, c_src, c_depth, c_extra = st.columns([2, 2, 1, 2])
    source = c_src.selectbox(t("fm.weights"), SOURCES, key=url_choice("weights", SOURCES, "shipped"),
                             format_func=lambda s: t(f"fm.source.{s}"), help=t("fm.weights_help"))
    depth = None
    if source in FILE_SOURCES:  # the file says which network it holds
        c_depth.markdown(t("fm.depth_from_file"))
    else:
        depth = int(c_depth.selectbox(t("fm.depth"), DEPTHS, key=url_choice("depth", DEPTHS, 50),
                                      format_func=lambda d: f"ResNet-{d}", help=t("fm.depth_help")))
    return source, depth, c_img, c_extra


def image_choice(column: Any, spec: preprocess.Preprocess) -> str:
    """The image, among those that suit the model: the sample digits first for a one-channel model."""
    choices = [*shipped.sample_names(spec.channels), UPLOAD]
    name = column.selectbox(t("fm.image"), choices, key=url_choice("image", choices, shipped.default_sample(choices)),
                            format_func=lambda n: explore.image_label(n, t))
    show_url_notices(t)
    return name


def refuse(problem: str) -> None:
    """The page cannot go on: say why (after the URL notices)."""
    show_url_notices(t)
    st.error(problem, icon="🚫")


def loaded(spec: ModelSpec, what: str, spinning: str) -> tuple[ModelInfo, str, Path | None] | None:
    """The weights ``spec`` names, loaded under a ``spinning`` spinner, with their cache key and file; or None
    with the reason shown: weights that do not fit, a disk error, a service that could not answer…"""
    try:
        with st.spinner(spinning):
            return model_info(spec.key, spec), spec.key, None if spec.path is None or spec.kind != "file" else Path(spec.path)
    except weights.WeightsError as exc:
        refuse(explore.error_text(safe_error(exc), t))
    except MemoryError:  # the inference service ran out of memory building it
        refuse(t("error.memory"))
    except Exception as exc:  # a file removed meanwhile, a disk error: never a traceback
        _log.warning("loading %s failed", what, exc_info=True)
        refuse(t("fm.error.other", reason=safe_reason(f"{what}: {exc}", 500)))
    return None


def file_weights(source: str, column: Any) -> tuple[ModelInfo, str, Path | None] | None:
    """A shipped model, a file from the operator's folder or one of the lab's trained runs; its cache key and file."""
    try:
        files = shipped.weight_files(source, trained_dir())
    except weights.WeightsError as exc:
        return refuse(explore.error_text(safe_error(exc), t))
    names, labels = [p.name for p in files], {p.name: shipped.file_option(p) for p in files}
    name = column.selectbox(t("fm.file"), names, key=url_choice("file", names, names[0]), format_func=labels.get)
    path = next(p for p in files if p.name == name)
    spec = ModelSpec("file", path=str(path), stamp=explore.file_stamp(path))
    model = loaded(spec, name, t("fm.loading_file", name=md_escape(name)))
    # the recorded test accuracy under the box, with its interval (the options stay short: a projector cuts them)
    if model is not None and (acc := shipped.recorded_accuracy(model[0].meta)) is not None:
        column.caption(t("fm.file_accuracy", label=md_escape(model[0].label), acc=acc.value, low=acc.low, high=acc.high,
                         n=model[0].meta["test_images"]))
    return model


def official_weights(depth: int, column: Any) -> tuple[ModelInfo, str, Path | None] | None:
    """The official ImageNet weights, downloaded only when asked, and their cache key."""
    target = weights.official_file(depth)
    if (state := weights.official_state(depth)) != "ready":  # missing or damaged: no network until asked
        column.markdown(t("fm.official_where", folder=target.parent.name))  # the folder's name: no server paths on screen
        if state == "damaged":
            st.warning(t("fm.official_damaged", depth=depth, mb=explore.OFFICIAL_MB[depth]), icon="⚠️")
        else:
            st.info(t("fm.official_missing", depth=depth, mb=explore.OFFICIAL_MB[depth]))
        if not st.button(t("fm.download", depth=depth), key="download", type="primary"):
            show_url_notices(t)  # the page waits for the learner to ask
            return None
        bar = st.progress(0.0, text=t("fm.download_start"))
        try:
            weights.download_official(depth, lambda done, total: bar.progress(*explore.download_progress(done, total, t)))
        except weights.WeightsError as exc:
            bar.empty()
            return refuse(explore.error_text(safe_error(exc), t))
    return loaded(ModelSpec("official", depth=depth, path=str(target)), f"ResNet-{depth}", t("fm.loading_official", depth=depth))


def model_in(source: str, depth: int | None, column: Any) -> tuple[ModelInfo, str, Path | None] | None:
    """The chosen weights as a model, its cache key and its file; None (with the reason shown) if there are none."""
    if source == "random":
        seed = int(column.number_input(t("fm.seed"), *SEED_RANGE, key=url_int("seed", *SEED_RANGE, 0), help=t("fm.seed_help")))
        model = loaded(ModelSpec("random", depth=depth, seed=seed), f"ResNet-{depth}", t("fm.building", depth=depth))
    else:
        model = file_weights(source, column) if source in FILE_SOURCES else official_weights(depth, column)
    if model is None:
        return None
    show_url_notices(t)
    st.caption(explore.model_caption(replace(model[0], source=md_escape(model[0].source)), t))  # a file's name
    return model


def image_in(image_name: str, spec: preprocess.Preprocess) -> Shown | None:
    """The sample or the upload, and what preprocessing made of it; None until there is an image."""
    if spec.channels == 1:  # a model of the digits: say what it can read, and warn when this is not one
        (st.caption if explore.is_digit_sample(image_name) else st.warning)(t("fm.expects_digits", size=spec.crop))
    if image_name == UPLOAD:
        st.caption(t("fm.upload_widget_note", mb=images.MAX_BYTES // 2**20))  # the box's own texts are Streamlit's, in English
        limits = t("fm.upload_help", mb=images.MAX_BYTES // 2**20, mp=images.MAX_PIXELS // 10**6, mp_wan=images.MAX_PIXELS // 10**4)
        uploaded = st.file_uploader(t("fm.upload"), type=list(UPLOAD_TYPES), key="upload_file", help=limits,
                                    max_upload_size=images.MAX_BYTES // 2**20)
        st.caption(t("fm.upload_not_in_url"))
        if uploaded is None:
            st.info(t("fm.upload_prompt"))
            return None
        try:
            shown = explore.upload_once(st.session_state, "_fm_upload", uploaded.file_id, uploaded.getvalue, spec)
        except Exception as exc:  # an ImageError, or anything else on the way (MemoryError…): the same refusal, never a traceback
            if not isinstance(exc, images.ImageError):
                _log.warning("preparing an upload failed", exc_info=True)
            st.error(t("fm.upload_refused", name=md_escape(uploaded.name)) + " " + explore.error_text(safe_error(exc), t), icon="🚫")
            return None
    else:
        try:
            shown = sample_shown(image_name, spec)
        except images.ImageError as exc:  # a sample is within every bound: only "memory" (no memory free now)
            return refuse(explore.error_text(safe_error(exc), t))
    c_orig, c_crop, c_steps = st.columns([2, 2, 3])
    c_orig.image(shown.picture, caption=t("fm.original", w=shown.size[0], h=shown.size[1]), width="stretch")
    if image_name != UPLOAD:
        c_orig.caption(explore.sample_credit(image_name, t))
    c_crop.image(shown.prepared.display, caption=t("fm.network_sees", size=spec.crop), width="stretch")
    c_steps.markdown(f"**{t('fm.preprocessing')}**")
    c_steps.markdown(explore.preprocessing_steps(shown, t))
    return shown


def reset_channel() -> None:
    """A new block opens on its strongest channel."""
    st.session_state[setting_key("ch")] = None


def overview(analysis: features.Analysis, seconds: float, fast: bool) -> str:
    """Every block as a clickable map; returns the session key of the selected block."""
    choices = explore.block_choices(analysis)
    block_key = url_choice("block", choices, explore.default_block(analysis))
    overview_key = f"fm_overview_{len(analysis.blocks)}"
    st.caption(explore.timing_caption(analysis, seconds, fast, t))
    st.header(t("fm.overview"))
    st.caption(t("fm.overview_help"))
    chart(feature_plots.overview_figure(analysis, st.session_state[block_key], t), md_escape(feature_plots.overview_summary(analysis, t)),
          key=overview_key, on_select=select_on_click(overview_key, block_key, choices, then=reset_channel),
          selection_mode="points", config=PLOTLY)
    return block_key


def selected_block(analysis: features.Analysis, block_key: str, stem: str) -> tuple[str, int, str]:
    """The block's channel grid and one channel's x, F(x), shortcut and output; returns (block, channel, scale mode)."""
    b1, b2, b3, b4 = st.columns([2, 2, 2, 3])
    block = b1.selectbox(t("fm.block"), explore.block_choices(analysis), key=block_key, on_change=reset_channel,
                         format_func=lambda n: feature_plots.block_label(n, t))
    view = explore.block_view(analysis, block)
    n_channels = view.out.shape[0]
    strongest = features.top_channels(view, 1)[0]
    ch_key = url_int("ch", 0, n_channels - 1, strongest)
    if st.session_state[ch_key] is None or not 0 <= st.session_state[ch_key] < n_channels:
        st.session_state[ch_key] = strongest
    channel = int(b2.number_input(t("fm.channel"), 0, n_channels - 1, key=ch_key,
                                  help=t("fm.channel_help", n_max=n_channels - 1, top=strongest)))
    k = int(b3.slider(t("fm.k"), *K_RANGE, key=url_int("k", *K_RANGE, 16), help=t("fm.k_help")))
    mode = b4.radio(t("fm.scale"), features.SCALE_MODES, key=url_choice("scale", features.SCALE_MODES, "channel"), horizontal=True,
                    format_func=lambda m: t(f"fm.scale.{m}"), help=t("fm.scale_help"))
    show_url_notices(t)

    st.markdown(feature_plots.block_caption(view, stem, t))
    channels = features.top_channels(view, min(k, n_channels))
    st.subheader(t("fm.grid", k=len(channels), name=feature_plots.block_label(block, t)))
    grid_key = f"fm_grid_{block}"  # a click on a tile opens that channel
    chart(feature_plots.channel_grid_figure(analysis, view, channels, mode, t, selected=channel),
          md_escape(feature_plots.grid_summary(view, channels, t)), key=grid_key,
          on_select=select_on_click(grid_key, ch_key, channels), selection_mode="points", config=PLOTLY)
    if block != STEM:
        st.subheader(t("fm.panel", c=channel, name=block))
        panel = features.channel_panel(view, channel)
        chart(feature_plots.channel_panel_figure(analysis, view, panel, mode, t), md_escape(feature_plots.panel_summary(panel, t)),
              key="fm_panel", config=PLOTLY)
        st.caption(feature_plots.panel_caption(view, panel, t))
        st.caption(feature_plots.panel_scale_caption(analysis, view, panel, mode, t))
    return block, channel, mode


def ratios(analysis: features.Analysis) -> None:
    """‖F(x)‖ / ‖x‖ per block, and a warning for blocks that output only zeros."""
    st.header(t("fm.ratio"))
    st.markdown(t("fm.ratio_help"))
    chart(feature_plots.ratio_figure(analysis, t), md_escape(feature_plots.ratio_summary(analysis, t)), key="fm_ratio", config=PLOTLY)
    if dead := explore.dead_blocks_warning(analysis, t):  # e.g. a λ = 2 net that blew up in training: its ReLUs output nothing any more
        st.warning(dead, icon="⚠️")


def predictions(analysis: features.Analysis, lab: ModelInfo, shown: Shown, untrained: bool) -> None:
    """The top classes (all ten digits) and where the network looked (trained weights with class names only)."""
    st.header(t("fm.predictions"))
    if untrained:  # random weights: say that the net knows nothing yet, and what to pick instead
        st.warning(t("fm.veit.untrained"), icon="⚠️")
    elif lab.classes is None:
        st.info(t("fm.no_classes"))
    if untrained or lab.classes is None:
        return
    p1, p2 = st.columns([3, 2])
    with p1:
        chart(feature_plots.predictions_figure(analysis, t), md_escape(feature_plots.predictions_summary(analysis, t)),
              key="fm_top5", config=PLOTLY)
    with p2:
        chart(feature_plots.cam_figure(analysis, shown.prepared.display, t), md_escape(feature_plots.cam_summary(analysis, t)),
              key="fm_cam", config=PLOTLY)
    st.caption(t("fm.cam_help"))


def ablation(analysis: features.Analysis, lab: ModelInfo, model_key: str, shown: Shown,
             block: str, channel: int, mode: str, untrained: bool, file: Path | None) -> None:
    """Drop a block or every shortcut at inference, on the same weights, and see what changes; for a block of
    a net with a lesion study (``file``'s), what deleting it did on the whole test split."""
    st.header(t("fm.ablation"))
    if untrained:
        st.warning(t("fm.veit.untrained"), icon="⚠️")
    st.markdown(t("fm.ablation_body"))
    a1, a2 = st.columns([3, 2])
    ablate = a1.radio(t("fm.ablate"), ABLATIONS, key=url_choice("ablate", ABLATIONS, "none"), horizontal=True,
                      format_func=lambda a: t(f"fm.ablate.{a}"))
    drop: tuple[str, ...] = ()
    if ablate == "drop":
        names = [v.name for v in analysis.blocks]
        drop = (a2.selectbox(t("fm.drop_block"), names, key=url_choice("drop", names, explore.drop_default(analysis, block))),)
    show_url_notices(t)
    if ablate == "none":
        return
    try:
        with st.spinner(t("fm.computing_ablation")):
            ablated, _ = analysis_for(model_key, shown.key, drop, ablate == "shortcuts", lab.spec, shown.prepared.array)
    except MemoryError:  # a second set of every block's maps, in the inference service
        st.error(t("error.memory"), icon="🛑")
        return
    except service.ServiceError as exc:  # a timeout, a service process that died
        st.error(t("fm.error.other", reason=safe_reason(exc)), icon="🚫")
        return
    comparison = features.compare(analysis, ablated)
    what = t("fm.ablate.shortcuts") if ablate == "shortcuts" else t("fm.dropped_block", name=drop[0])
    for column, metric in zip(st.columns(3), feature_plots.ablation_metrics(comparison, t)):
        column.metric(**metric)
    st.markdown(t("fm.ablation_reading", what=what))
    if drop and file is not None and (study := lesion_board().study(file, None)) is not None:
        if (reading := ablation_plots.deletion_reading(study, drop[0], t)) is not None:
            st.markdown(reading)
    st.subheader(t("fm.change"))
    chart(feature_plots.ablation_figure(comparison, t), md_escape(feature_plots.change_summary(comparison, t)),
          key="fm_change", config=PLOTLY)
    r1, r2 = st.columns(2) if lab.classes is not None else (st.container(), None)
    r1.markdown(f"**{t('fm.ratio')}**")
    with r1:
        chart(feature_plots.ratio_figure(analysis, t, ablated), md_escape(feature_plots.ratio_summary(ablated, t)),
              key="fm_ratio_ablated", config=PLOTLY)
    if r2 is not None:
        r2.markdown(f"**{t('fm.predictions')}**")
        with r2:
            chart(feature_plots.predictions_figure(analysis, t, ablated), md_escape(feature_plots.predictions_summary(analysis, t, ablated)),
                  key="fm_top5_ablated", config=PLOTLY)
    if block != STEM:
        ablated_view = ablated.block(block)
        st.subheader(t("fm.panel_ablated", c=channel, name=block, what=what))
        ablated_panel = features.channel_panel(ablated_view, channel)
        chart(feature_plots.channel_panel_figure(ablated, ablated_view, ablated_panel, mode, t),
              md_escape(feature_plots.panel_summary(ablated_panel, t)),
              key="fm_panel_ablated", config=PLOTLY)


LESION_LIVE_S = 1.0  # the lesion section looks at its task processes this often while they measure


def start_lesions(files: list[Path], ours: bool) -> None:
    """Measure the files' lesion studies live, in task processes: anew, even those measured, failed or cancelled.
    ``ours``: the shipped models' study, the teacher's to start (``roles.may_recompute_lesions``)."""
    if ours and not roles.may_recompute_lesions():  # a student: the button says so too
        st.toast(t("roles.lesions"), icon="🔒")
        return
    try:
        address = store_address()
        for path in files:
            live_lesion.restart(address, path)
    except (StoreError, OSError):  # a store that cannot be written, a file gone: the section says so when it reads
        pass


def cancel_lesions(files: list[Path], ours: bool) -> None:
    if ours and not roles.may_recompute_lesions():
        st.toast(t("roles.lesions"), icon="🔒")
        return
    try:
        address = store_address()
        for path in files:
            live_lesion.cancel(address, path)
    except (StoreError, OSError):
        pass


def live_lesions(files: list[Path]) -> dict[Path, Artifact | None]:
    """Each file's live measurement as the run store holds it (None: never asked for). ``StoreError``, ``OSError``."""
    address = store_address()
    return {path: live_lesion.read(address, path) for path in files}


def veit(lab: ModelInfo, source: str, file: Path | None) -> None:
    """Veit et al. (2016) measured: delete blocks of the trained nets, test them again.

    The shipped models' studies are stored with them; "Recompute live" (and a lab model's own
    study) is measured in task processes. The control shows the measurement's state: a button,
    then progress and Cancel, then done (measuring again a secondary action). While something
    measures, the section's fragment ticks and draws the control itself, so it changes state
    without a rerun of the page; otherwise the control is drawn here, and its button reruns
    the page (which starts the ticks).
    """
    st.header(t("fm.veit.title"))
    st.markdown(t("fm.veit.paper"))
    board, ours = lesion_board(), shipped.shipped_models()
    own = file if source != "shipped" and file is not None else None
    measurable = own is not None and "train_config" in lab.meta  # a lab run's file: its test images are known
    try:
        live = live_lesions([*ours, *([own] if measurable else [])])
    except (StoreError, OSError) as exc:
        st.warning(t("fm.veit.store", reason=safe_reason(exc)), icon="⚠️")
        live = {}
    if own is not None and not measurable:  # not from the lab: no record of the data it was tested on
        st.caption(t("fm.veit.no_test_data", reason=t("fm.veit.no_run", label=md_escape(lab.label))))
    running = any(is_running(a) for a in live.values())
    if not running:
        lesion_controls(board, ours, own if measurable else None, lab.label, live)
    st.fragment(run_every=LESION_LIVE_S if running else None)(lesion_results)(board, ours, own if measurable else None, lab.label,
                                                                            ticking=running)


def is_running(artifact: Artifact | None) -> bool:
    return artifact is not None and artifact.status == "running"


def lesion_controls(board: shipped.LesionBoard, ours: list[Path], own: Path | None, own_label: str,
                    live: dict[Path, Artifact | None]) -> None:
    """One row per study to measure (the shipped models', a lab model's own) in the state the store holds:
    its button; progress and Cancel while it measures; done (the shipped models' with "Measure again" as a
    secondary action)."""
    rows = (("veit_recompute", "veit_cancel", ours, None), ("veit_measure", "veit_cancel_own", [own] if own is not None else [], own_label))
    for key, cancel_key, files, label in rows:
        if not files:
            continue
        ours = label is None
        locked = ours and not roles.may_recompute_lesions()  # a student: disabled, and the tooltip says why
        artifacts = [live.get(path) for path in files]
        text_col, button_col = st.columns([5, 2], vertical_alignment="center")
        if any(is_running(a) for a in artifacts):
            done = sum(a.progress if a is not None else 0.0 for a in artifacts) / len(artifacts)
            text = t("fm.veit.computing") if label is None else f"{md_escape(label)}: {t('fm.veit.computing')}"
            text_col.progress(min(1.0, done), text=text)
            button_col.button(t("fm.veit.cancel"), key=cancel_key, icon="⏹️", on_click=cancel_lesions,
                              args=(files, ours), disabled=locked, help=t("roles.lesions") if locked else None)
        elif all(a is not None and a.status == "done" for a in artifacts):
            if label is not None:  # a lab model's study is kept for every session: nothing to measure again
                text_col.markdown(t("fm.veit.own_done", label=md_escape(label)))
                continue
            text_col.markdown(t("fm.veit.done"))
            button_col.button(t("fm.veit.measure_again"), key=key, type="tertiary", on_click=start_lesions, args=(files, ours),
                              disabled=locked, help=t("roles.lesions" if locked else "fm.veit.recompute_help"))
        elif ours:
            if locked:
                text_col.caption(t("roles.lesions"))
            button_col.button(t("fm.veit.recompute" if board.stored() else "fm.veit.measure_shipped"), key=key, type="secondary",
                              on_click=start_lesions, args=(files, ours), disabled=locked,
                              help=t("roles.lesions" if locked else "fm.veit.recompute_help"))
        else:
            button_col.button(t("fm.veit.measure", label=md_escape(label)), key=key, on_click=start_lesions, args=(files, ours))


def lesion_results(board: shipped.LesionBoard, ours: list[Path], own: Path | None, own_label: str, ticking: bool) -> None:
    """The control while task processes measure (``ticking``: this fragment redraws every LESION_LIVE_S);
    then, or meanwhile the stored ones, the studies' charts."""
    try:
        live = live_lesions([*ours, *([own] if own is not None else [])])
    except (StoreError, OSError):
        live = {}  # said above the fragment
    if ticking:
        lesion_controls(board, ours, own, own_label, live)
    for path, artifact in live.items():
        if artifact is not None and artifact.status == "failed":
            st.warning(t("fm.veit.failed", label=md_escape(path.stem), reason=safe_reason(artifact.error or "")), icon="⚠️")
    if any(live.get(path) is not None and live[path].status == "cancelled" for path in live):
        st.caption(t("fm.veit.cancelled"))
    found = {path: s for path in [*ours, own] if path is not None and (s := board.study(path, live.get(path))) is not None}
    if not (studies := list(found.values())):
        st.info(t("fm.veit.not_measured"))
        return
    st.markdown(t("fm.veit.how", n=" / ".join(sorted({str(s.test_images) for s in studies}))))
    ours_done = bool(ours) and all(live.get(p) is not None and live[p].status == "done" for p in ours)
    st.caption(t("fm.veit.live" if ours_done else "fm.veit.stored"))
    for name, figure, reading in ablation_plots.lesion_charts(studies, t):
        st.plotly_chart(for_room(figure, room_scale()), key=f"fm_veit_{name}", config=PLOTLY)  # classroom-size text, as chart() draws
        st.markdown(reading)
    # the explanation is about a residual net: the default shipped ResNet's study, phrased by its intervals
    if (resnet_study := next((s for path, s in found.items() if path.stem == shipped.DEFAULT_KEY), None)) is not None:
        st.markdown(ablation_plots.why_some_hurt(resnet_study, t))


def finish() -> None:
    """Every setting into the URL, however far the page got; called at the end of every run.

    Settings that do not apply to the current view (the seed of a file's weights, the block
    to drop without that ablation…) leave the URL; the ones the page stopped before (at the
    upload box, at an error) stay as they came, and are validated when the page gets there.
    """
    used, unused = explore.url_settings(*(st.session_state.get(setting_key(name), st.query_params.get(name))
                                          for name in ("weights", "ablate")))
    sync_url(*used, unused=unused)


def page() -> None:
    """The sections in order; an early ``return`` where the page cannot go on.

    (Not ``st.stop()``: after a stopped run Streamlit keeps the state of the widgets it did
    not draw, and when they come back the browser shows their defaults instead of the
    values set from the URL, then sends those back on the next interaction.)
    """
    source, depth, image_column, extra_column = settings()
    if (model := model_in(source, depth, extra_column)) is None:
        return
    lab, model_key, file = model
    if (shown := image_in(image_choice(image_column, lab.preprocess), lab.preprocess)) is None:
        return
    try:
        with st.spinner(t("fm.computing")):
            analysis, seconds = analysis_for(model_key, shown.key, (), False, lab.spec, shown.prepared.array)
    except MemoryError:  # every block's maps of one image, in the inference service
        return refuse(t("error.memory"))
    except service.ServiceError as exc:  # a timeout, a service process that died
        return refuse(t("fm.error.other", reason=safe_reason(exc)))
    block_key = overview(analysis, seconds, explore.fast_path_takes(shown.prepared.array))
    block, channel, mode = selected_block(analysis, block_key, lab.config.stem)
    ratios(analysis)
    predictions(analysis, lab, shown, untrained=source == "random")
    ablation(analysis, lab, model_key, shown, block, channel, mode, untrained=source == "random", file=file)
    if source != "random":  # the lesion study is about trained nets
        veit(lab, source, file)


page()
finish()
