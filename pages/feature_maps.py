"""Feature maps: one photo through every block, and what F(x) adds to what the shortcut carries."""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
import streamlit as st

from pages.common.ui import page_setup, select_on_click, setting_key, show_url_notices, sync_url, url_choice, url_int

t = page_setup("fm.title")

from resnet.inference import explore, features, images  # noqa: E402  (Paddle: after the sidebar)
from resnet.inference.explore import STEM, Shown  # noqa: E402
from resnet.model import network, preprocess, weights  # noqa: E402
from resnet.plots import features as feature_plots, style  # noqa: E402
from resnet.lab.jobs import trained_dir  # noqa: E402  (where the lab's workers save finished runs)
from resnet.lab.store import store_path  # noqa: E402

network.ensure_dygraph()  # this run's thread (see ensure_dygraph)

_log = logging.getLogger(__name__)

UPLOAD = "upload"
IMAGES = (*(s.name for s in images.SAMPLES), UPLOAD)
SOURCES = ("random", "official", "local", "trained")
FILE_SOURCES = ("local", "trained")
DEPTHS = network.IMAGENET_DEPTHS
SEED_RANGE = (0, 9999)
K_RANGE = (4, 64)
ABLATIONS = ("none", "shortcuts", "drop")
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "gif")
URL_NAMES = ("image", "weights", "depth", "seed", "file", "block", "ch", "k", "scale", "ablate", "drop")
PLOTLY = {"displayModeBar": False}


# -- shared, read-only resources: one model per weights, the sample photos, the analyses --


@st.cache_resource(show_spinner=False, max_entries=4)
def random_lab(depth: int, seed: int) -> weights.LabModel:
    return weights.random_model(depth, seed)


@st.cache_resource(show_spinner=False, max_entries=2)
def official_lab(depth: int) -> weights.LabModel:
    """Only called once the file is on disk (downloaded on request, see ``official_weights``)."""
    return weights.official_model(depth)


@st.cache_resource(show_spinner=False, max_entries=3)
def file_lab(path: str, stamp: tuple[int, int]) -> weights.LabModel:
    """A safetensors file (+ sidecar); ``stamp`` (mtime, size) reloads it when it changes."""
    return weights.load_trained(path)


@st.cache_resource(show_spinner=False, max_entries=16)
def sample_shown(name: str, spec: preprocess.Preprocess) -> Shown:
    return explore.sample_shown(name, spec)


@st.cache_resource(show_spinner=False, max_entries=6)  # ResNet-50 at 224: ~65 MB of maps per entry
def analysis_for(
    model_key: str, image_key: str, drop: tuple[str, ...], shortcuts_off: bool, _lab: weights.LabModel, _array: np.ndarray,
) -> tuple[features.Analysis, float]:
    """Every block's maps for one (weights, image, ablation), shared by all sessions (read-only)."""
    network.ensure_dygraph()  # cached functions run in the calling script's thread
    return explore.analyse(_lab.model, _array, labels=_lab.classes, drop_blocks=drop, shortcuts_off=shortcuts_off)


def session_upload(uploaded: Any, spec: preprocess.Preprocess) -> Shown:
    """The upload, decoded and preprocessed once per (file, preprocessing) in this session.

    A refusal is remembered too, so reruns do not decode the file again.
    """
    cached = st.session_state.get("_fm_upload")
    if cached is not None and cached[0] == uploaded.file_id:
        if isinstance(cached[2], images.ImageError):
            raise cached[2]
        if cached[1] == spec:
            return cached[2]
    try:
        shown = explore.upload_shown(uploaded.getvalue(), spec)
    except images.ImageError as exc:
        st.session_state["_fm_upload"] = (uploaded.file_id, spec, exc)
        raise
    st.session_state["_fm_upload"] = (uploaded.file_id, spec, shown)
    return shown


def error_text(exc: Exception) -> str:
    """A refusal from resnet.inference.images / resnet.model.weights in the page's language (by its ``code``)."""
    prefix = "fm.error." if isinstance(exc, images.ImageError) else "fm.weights_error."
    key = prefix + getattr(exc, "code", "")
    if key in t.texts:
        try:
            return t(key, **getattr(exc, "values", {}))
        except (KeyError, IndexError, ValueError):  # a value the text expects is missing: say it in English
            pass
    return t("fm.error.other", reason=str(exc)[:500])


# -- the page's sections, top to bottom ---------------------------------------------------


def settings() -> tuple[str, str, int | None, Any]:
    """Image, weights and depth; returns them and the column the weights' own setting goes in."""
    st.title(t("fm.title"))
    st.markdown(t("fm.intro"))
    c_img, c_src, c_depth, c_extra = st.columns([2, 2, 1, 2])
    image_name = c_img.selectbox(
        t("fm.image"), IMAGES, key=url_choice("image", IMAGES, "cat"),
        format_func=lambda n: t("fm.upload_option") if n == UPLOAD else t(f"fm.sample.{n}"),
    )
    source = c_src.selectbox(t("fm.weights"), SOURCES, key=url_choice("weights", SOURCES, "random"),
                             format_func=lambda s: t(f"fm.source.{s}"), help=t("fm.weights_help"))
    depth = None
    if source in FILE_SOURCES:  # the file says which network it holds
        c_depth.markdown(t("fm.depth_from_file"))
    else:
        depth = int(c_depth.selectbox(t("fm.depth"), DEPTHS, key=url_choice("depth", DEPTHS, 50),
                                      format_func=lambda d: f"ResNet-{d}", help=t("fm.depth_help")))
    return image_name, source, depth, c_extra


def refuse(problem: str) -> None:
    """The page cannot go on: say why (after the URL notices)."""
    show_url_notices(t)
    st.error(problem, icon="🚫")


def loaded(load: Callable[[], weights.LabModel], what: str) -> weights.LabModel | None:
    """``load()``, or None with the reason shown: weights that do not fit, an unreadable disk…"""
    try:
        return load()
    except weights.WeightsError as exc:
        refuse(error_text(exc))
    except Exception as exc:  # a file removed meanwhile, a disk error: never a traceback
        _log.warning("loading %s failed", what, exc_info=True)
        refuse(t("fm.error.other", reason=f"{what}: {exc}"[:500]))
    return None


def file_weights(source: str, column: Any) -> tuple[weights.LabModel, str] | None:
    """A weights file from the operator's folder or the lab's trained runs, and its cache key."""
    try:
        files = explore.weight_files(source, trained_dir(store_path()))
    except weights.WeightsError as exc:
        return refuse(error_text(exc))
    names = [p.name for p in files]
    labels = {p.name: explore.file_label(p) for p in files}
    name = column.selectbox(t("fm.file"), names, key=url_choice("file", names, names[0]), format_func=labels.get)
    path = next(p for p in files if p.name == name)
    stamp = path.stat().st_mtime_ns, path.stat().st_size
    with st.spinner(t("fm.loading_file", name=name)):
        lab = loaded(lambda: file_lab(str(path), stamp), name)
    return None if lab is None else (lab, f"file:{path}:{stamp[0]}:{stamp[1]}")


def official_weights(depth: int, column: Any) -> tuple[weights.LabModel, str] | None:
    """The official ImageNet weights, downloaded only when asked, and their cache key."""
    target = weights.official_file(depth)
    if not target.is_file():
        column.markdown(t("fm.official_where", folder=str(target.parent)))
        st.info(t("fm.official_missing", depth=depth, mb=explore.OFFICIAL_MB[depth]))
        if not st.button(t("fm.download", depth=depth), key="download", type="primary"):
            show_url_notices(t)  # the page waits for the learner to ask
            return None
        bar = st.progress(0.0, text=t("fm.download_start"))

        def progress(done: int, total: int | None) -> None:
            fraction = min(done / total, 1.0) if total else 0.0
            bar.progress(fraction, text=t("fm.downloading", done=done / 2**20, total=(total or 0) / 2**20))

        try:
            weights.official_path(depth, progress)
        except weights.WeightsError as exc:
            bar.empty()
            return refuse(error_text(exc))
    with st.spinner(t("fm.loading_official", depth=depth)):
        lab = loaded(lambda: official_lab(depth), f"ResNet-{depth}")
    return None if lab is None else (lab, f"official:{depth}")


def model_in(source: str, depth: int | None, column: Any) -> tuple[weights.LabModel, str] | None:
    """The chosen weights as a model and its cache key; None (with the reason shown) if there are none."""
    if source == "random":
        seed = int(column.number_input(t("fm.seed"), *SEED_RANGE, key=url_int("seed", *SEED_RANGE, 0), help=t("fm.seed_help")))
        with st.spinner(t("fm.building", depth=depth)):
            model = random_lab(depth, seed), f"random:{depth}:{seed}"
    else:
        model = file_weights(source, column) if source in FILE_SOURCES else official_weights(depth, column)
    if model is None:
        return None
    show_url_notices(t)
    network.ensure_dygraph()
    config, spec = model[0].model.config, model[0].preprocess
    st.caption(t("fm.model_info", model=weights.model_label(config), classes=config.num_classes, source=model[0].source,
                 size=spec.crop, channels=spec.channels))
    return model


def image_in(image_name: str, spec: preprocess.Preprocess) -> Shown | None:
    """The sample or the upload, and what preprocessing made of it; None until there is an image."""
    credit = None
    if image_name == UPLOAD:
        uploaded = st.file_uploader(t("fm.upload"), type=list(UPLOAD_TYPES), key="upload_file", help=t("fm.upload_help"))
        st.caption(t("fm.upload_not_in_url"))
        if uploaded is None:
            st.info(t("fm.upload_prompt"))
            return None
        try:
            shown = session_upload(uploaded, spec)
        except images.ImageError as exc:
            st.error(t("fm.upload_refused", name=uploaded.name) + " " + error_text(exc), icon="🚫")
            return None
    else:
        shown = sample_shown(image_name, spec)
        info = images.sample(image_name)
        credit = t("fm.credit", by=info.credit, licence=info.licence)
    c_orig, c_crop, c_steps = st.columns([2, 2, 3])
    c_orig.image(shown.picture, caption=t("fm.original", w=shown.size[0], h=shown.size[1]), width="stretch")
    if credit:
        c_orig.caption(credit)
    c_crop.image(shown.prepared.display, caption=t("fm.network_sees", size=spec.crop), width="stretch")
    with c_steps:
        st.markdown(f"**{t('fm.preprocessing')}**")
        steps = preprocess.describe(shown.steps + shown.prepared.steps, t)
        st.markdown("\n".join(f"{i}. {line}" for i, line in enumerate(steps, 1)))
    return shown


def reset_channel() -> None:
    """A new block opens on its strongest channel."""
    st.session_state[setting_key("ch")] = None


def overview(analysis: features.Analysis, seconds: float) -> str:
    """Every block as a clickable map; returns the session key of the selected block."""
    block_names = [v.name for v in analysis.blocks]
    choices = [STEM, *block_names]
    block_key = url_choice("block", choices, explore.default_block(analysis))
    overview_key = f"fm_overview_{len(block_names)}"
    st.caption(t("fm.computed", ms=seconds * 1000, backend=analysis.backend))
    st.header(t("fm.overview"))
    st.caption(t("fm.overview_help"))
    st.plotly_chart(feature_plots.overview_figure(analysis, st.session_state[block_key], t), key=overview_key,
                    on_select=select_on_click(overview_key, block_key, choices, then=reset_channel),
                    selection_mode="points", config=PLOTLY)
    return block_key


def selected_block(analysis: features.Analysis, block_key: str) -> tuple[str, int, str]:
    """The block's channel grid and one channel's x, F(x), shortcut and output; returns (block, channel, scale mode)."""
    b1, b2, b3, b4 = st.columns([2, 2, 2, 3])
    choices = [STEM, *(v.name for v in analysis.blocks)]
    block = b1.selectbox(t("fm.block"), choices, key=block_key, on_change=reset_channel,
                         format_func=lambda n: t("fm.fig.stem") if n == STEM else n)
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

    if block == STEM:
        st.markdown(t("fm.stem_info", shape=style.shape_text(view.out.shape)))
    else:
        st.markdown(t(
            "fm.block_info", name=block, shape_in=style.shape_text(view.x.shape),
            shape_out=style.shape_text(view.out.shape), ratio=view.residual_ratio, out_ratio=view.out_ratio,
            shortcut=t(f"fm.shortcut_kind.{view.shortcut_kind}", scale=f"{view.scale:g}"),
        ))
    channels = features.top_channels(view, min(k, n_channels))
    st.subheader(t("fm.grid", k=len(channels), name=t("fm.fig.stem") if block == STEM else block))
    grid_key = f"fm_grid_{block}"  # a click on a tile opens that channel
    st.plotly_chart(feature_plots.channel_grid_figure(analysis, view, channels, mode, t, selected=channel), key=grid_key,
                    on_select=select_on_click(grid_key, ch_key, channels), selection_mode="points", config=PLOTLY)
    if block != STEM:
        st.subheader(t("fm.panel", c=channel, name=block))
        panel = features.channel_panel(view, channel)
        st.plotly_chart(feature_plots.channel_panel_figure(analysis, view, panel, mode, t), key="fm_panel", config=PLOTLY)
        st.caption(t(f"fm.panel_how.{panel.x_how}", c=channel, xc=panel.x_channel, n=view.x.shape[0]))
    return block, channel, mode


def ratios(analysis: features.Analysis) -> None:
    """‖F(x)‖ / ‖x‖ per block, and a warning for blocks that output only zeros."""
    st.header(t("fm.ratio"))
    st.markdown(t("fm.ratio_help"))
    st.plotly_chart(feature_plots.ratio_figure(analysis, t), key="fm_ratio", config=PLOTLY)
    dead = [v.name for v in analysis.blocks if not v.out.any()]
    if dead:  # e.g. a λ = 2 net that blew up in training: its ReLUs output nothing any more
        st.warning(t("fm.dead_blocks", n=len(dead), names=", ".join(dead[:6]) + (", …" if len(dead) > 6 else "")), icon="⚠️")


def predictions(analysis: features.Analysis, lab: weights.LabModel, shown: Shown) -> None:
    """Top-5 classes and where the network looked (weights with class names only)."""
    st.header(t("fm.predictions"))
    if lab.classes is None:
        st.info(t("fm.no_classes"))
        return
    p1, p2 = st.columns([3, 2])
    p1.plotly_chart(feature_plots.top5_figure(analysis, t), key="fm_top5", config=PLOTLY)
    p2.plotly_chart(feature_plots.cam_figure(analysis, shown.prepared.display, t), key="fm_cam", config=PLOTLY)
    st.caption(t("fm.cam_help"))


def ablation(analysis: features.Analysis, lab: weights.LabModel, model_key: str, shown: Shown,
             block: str, channel: int, mode: str) -> None:
    """Drop a block or every shortcut at inference, on the same weights, and see what changes."""
    st.header(t("fm.ablation"))
    st.markdown(t("fm.ablation_body"))
    a1, a2 = st.columns([3, 2])
    ablate = a1.radio(t("fm.ablate"), ABLATIONS, key=url_choice("ablate", ABLATIONS, "none"), horizontal=True,
                      format_func=lambda a: t(f"fm.ablate.{a}"))
    block_names = [v.name for v in analysis.blocks]
    drop: tuple[str, ...] = ()
    if ablate == "drop":
        drop_default = block if block in block_names else explore.default_block(analysis)
        drop = (a2.selectbox(t("fm.drop_block"), block_names, key=url_choice("drop", block_names, drop_default)),)
    show_url_notices(t)
    if ablate == "none":
        return
    with st.spinner(t("fm.computing_ablation")):
        ablated, _ = analysis_for(model_key, shown.key, drop, ablate == "shortcuts", lab, shown.prepared.array)
    comparison = features.compare(analysis, ablated)
    what = t("fm.ablate.shortcuts") if ablate == "shortcuts" else t("fm.dropped_block", name=drop[0])
    m1, m2, m3 = st.columns(3)
    m1.metric(t("fm.first_changed"), comparison.first_changed or "—")
    m2.metric(t("fm.top1_same"), t("fm.yes") if comparison.top1_same else t("fm.no"))
    before, after = comparison.base_top_prob
    m3.metric(t("fm.top_prob", label=feature_plots.class_name(comparison.base[0], t)), f"{after:.1%}",
              delta=f"{(after - before) * 100:+.1f} pp", help=t("fm.top_prob_help", before=before))
    st.markdown(t("fm.ablation_reading", what=what))
    st.subheader(t("fm.change"))
    st.plotly_chart(feature_plots.ablation_figure(comparison, t), key="fm_change", config=PLOTLY)
    r1, r2 = st.columns(2) if lab.classes is not None else (st.container(), None)
    r1.markdown(f"**{t('fm.ratio')}**")
    r1.plotly_chart(feature_plots.ratio_figure(analysis, t, ablated), key="fm_ratio_ablated", config=PLOTLY)
    if r2 is not None:
        r2.markdown(f"**{t('fm.predictions')}**")
        r2.plotly_chart(feature_plots.top5_figure(analysis, t, ablated), key="fm_top5_ablated", config=PLOTLY)
    if block != STEM:
        ablated_view = ablated.block(block)
        st.subheader(t("fm.panel_ablated", c=channel, name=block, what=what))
        st.plotly_chart(feature_plots.channel_panel_figure(ablated, ablated_view, features.channel_panel(ablated_view, channel), mode, t),
                        key="fm_panel_ablated", config=PLOTLY)


def finish() -> None:
    """Every setting into the URL, however far the page got; called at the end of every run.

    Settings that do not apply to the current view (the seed of a file's weights, the block
    to drop without that ablation…) leave the URL; the ones the page stopped before (at the
    upload box, at an error) stay as they came, and are validated when the page gets there.
    """
    source, ablate = (st.session_state.get(setting_key(name), st.query_params.get(name)) for name in ("weights", "ablate"))
    unused = {"seed": source != "random", "file": source not in FILE_SOURCES, "depth": source in FILE_SOURCES,
              "drop": ablate != "drop"}
    sync_url(*(name for name in URL_NAMES if not unused.get(name)), unused=[name for name, off in unused.items() if off])


def page() -> None:
    """The sections in order; an early ``return`` where the page cannot go on.

    (Not ``st.stop()``: after a stopped run Streamlit keeps the state of the widgets it did
    not draw, and when they come back the browser shows their defaults instead of the
    values set from the URL, then sends those back on the next interaction.)
    """
    image_name, source, depth, extra_column = settings()
    if (model := model_in(source, depth, extra_column)) is None:
        return
    lab, model_key = model
    if (shown := image_in(image_name, lab.preprocess)) is None:
        return
    with st.spinner(t("fm.computing")):
        analysis, seconds = analysis_for(model_key, shown.key, (), False, lab, shown.prepared.array)
    block_key = overview(analysis, seconds)
    block, channel, mode = selected_block(analysis, block_key)
    ratios(analysis)
    predictions(analysis, lab, shown)
    ablation(analysis, lab, model_key, shown, block, channel, mode)


page()
finish()
