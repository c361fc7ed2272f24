"""Feature maps: one photo through every block, and what F(x) adds to what the shortcut carries."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from pages.common.ui import page_setup, setting_key, show_url_notices, sync_url, url_choice, url_int, url_setting

t = page_setup("fm.title")

from resnet.inference import features, images  # noqa: E402  (Paddle: after the sidebar)
from resnet.model import network, preprocess, weights  # noqa: E402
from resnet.plots import features as feature_plots, style  # noqa: E402
from resnet.inference.fastpath import IMAGE_SIZE_RANGE as FAST_SIZES, fast_forward_features  # noqa: E402
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
STEM = "stem"
UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "bmp", "gif")
URL_NAMES = ("image", "weights", "depth", "seed", "file", "block", "ch", "k", "scale", "ablate", "drop")
PLOTLY = {"displayModeBar": False}
# Size of the official .pdparams files in MB: float32 parameters and BatchNorm statistics.
OFFICIAL_MB = {18: 45, 34: 83, 50: 98, 101: 171, 152: 230}


def finish() -> None:
    """Every setting into the URL; called at the end of every script run.

    Settings that do not apply to the current view (the seed of a file's weights, the block
    to drop without that ablation…) leave the URL.
    """
    source, ablate = (st.session_state.get(setting_key(name), st.query_params.get(name)) for name in ("weights", "ablate"))
    unused = {
        "seed": source != "random", "file": source not in FILE_SOURCES, "depth": source in FILE_SOURCES,
        "drop": ablate != "drop",
    }
    for name in URL_NAMES:
        if unused.get(name):
            st.query_params.pop(name, None)
        elif setting_key(name) in st.session_state:
            sync_url(name)
        # else: the page stopped before this setting (at the upload box, at an error); the
        # link keeps it as it was, and it is validated when the page gets that far


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


# ---------------------------------------------------------------------------------
# Shared, read-only resources: one model per weights, the sample photos, the analyses
# ---------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=4)
def random_lab(depth: int, seed: int) -> weights.LabModel:
    return weights.random_model(depth, seed)


@st.cache_resource(show_spinner=False, max_entries=2)
def official_lab(depth: int) -> weights.LabModel:
    """Only called once the file is on disk (downloaded on request, see below)."""
    return weights.official_model(depth)


@st.cache_resource(show_spinner=False, max_entries=3)
def file_lab(path: str, stamp: tuple[int, int]) -> weights.LabModel:
    """A safetensors file (+ sidecar); ``stamp`` (mtime, size) reloads it when it changes."""
    return weights.load_trained(path)


@st.cache_resource(show_spinner=False)
def sample_image(name: str) -> images.LoadedImage:
    return images.load_sample(name)


def load_upload(data: bytes) -> tuple[str, images.LoadedImage]:
    """The page's work for one uploaded file: the checks and decoding of ``resnet.inference.images``
    (raises ``ImageError``) and a digest that names the image in the analysis cache."""
    return "upload:" + hashlib.sha256(data).hexdigest()[:20], images.load_image(data)


@dataclass
class Shown:
    """The image as the page shows and feeds it."""

    key: str  # names the image in the shared analysis cache
    picture: Image.Image  # for display (an upload: at most DISPLAY_SIDE px)
    size: tuple[int, int]  # the file's own width and height
    steps: list[preprocess.Step]  # loading steps; preprocessing steps are in ``prepared``
    prepared: preprocess.Prepared


DISPLAY_SIDE = 768


def session_upload(uploaded, spec: preprocess.Preprocess) -> Shown:
    """The upload, decoded and preprocessed once per (file, preprocessing) in this session.

    Only a thumbnail and the network's input are kept, not the decoded file (up to 40
    megapixels); a refusal is remembered too, so reruns do not decode the file again.
    """
    cached = st.session_state.get("_fm_upload")
    if cached is not None and cached[0] == uploaded.file_id:
        if isinstance(cached[2], images.ImageError):
            raise cached[2]
        if cached[1] == spec:
            return cached[2]
    try:
        image_key, loaded = load_upload(uploaded.getvalue())
    except images.ImageError as exc:
        st.session_state["_fm_upload"] = (uploaded.file_id, spec, exc)
        raise
    except Exception as exc:  # never a traceback for a file, whatever it holds
        _log.warning("upload %r failed", uploaded.name, exc_info=True)
        refusal = images.ImageError("damaged", str(exc))
        st.session_state["_fm_upload"] = (uploaded.file_id, spec, refusal)
        raise refusal from None
    picture = loaded.image.copy()
    picture.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
    shown = Shown(image_key, picture, loaded.size, loaded.steps, preprocess.preprocess(loaded.image, spec))
    st.session_state["_fm_upload"] = (uploaded.file_id, spec, shown)
    return shown


@st.cache_resource(show_spinner=False, max_entries=6)  # ResNet-50 at 224: ~65 MB of maps per entry
def analysis_for(
    model_key: str, image_key: str, drop: tuple[str, ...], shortcuts_off: bool, _lab: weights.LabModel, _array: np.ndarray,
) -> tuple[features.Analysis, float, str]:
    """Every block's maps for one (weights, image, ablation), shared by all sessions (read-only)."""
    network.ensure_dygraph()  # cached functions run in the calling script's thread
    start = time.perf_counter()
    settings = dict(labels=_lab.classes, drop_blocks=frozenset(drop), shortcuts_off=shortcuts_off)
    analysis = None
    if all(FAST_SIZES[0] <= side <= FAST_SIZES[1] for side in _array.shape[2:]):
        try:  # the fast path runs ablations on dygraph itself
            analysis = features.run(_lab.model, _array, forward=fast_forward_features, **settings)
        except Exception:  # the fast path is an optimisation: never a reason to fail the page
            _log.warning("fast path failed; using dygraph", exc_info=True)
    if analysis is None:
        analysis = features.run(_lab.model, _array, **settings)
    return analysis, time.perf_counter() - start, analysis.backend


def stem_view(analysis: features.Analysis) -> features.BlockView:
    """The stem's output as a view, so the channel grid can show it (it has no F(x) or shortcut)."""
    stem = analysis.stem
    zeros = np.broadcast_to(np.float32(0), stem.shape)
    return features.BlockView(
        name=STEM, stage=0, x=stem, residual=zeros, shortcut=zeros, out=stem, shortcut_kind="off", scale=0.0,
        x_how="same", x_source=None, residual_ratio=math.nan, out_ratio=1.0, channel_means=stem.mean(axis=(1, 2)),
        absmax=float(np.abs(stem).max()), dropped=False,
    )


def clickable_grid(fig: go.Figure, view: features.BlockView, channels: list[int], selected: int | None,
                   columns: int = 8) -> go.Figure:
    """An invisible marker over every tile of ``channel_grid_figure`` (same tiling), so a click
    selects a channel (Plotly cannot select points of a heatmap); the selected tile outlined."""
    h, w = view.out.shape[1:]
    cols = min(columns, len(channels))
    xs = [(i % cols) * (w + 1) + (w - 1) / 2 for i in range(len(channels))]
    ys = [(i // cols) * (h + 1) + (h - 1) / 2 for i in range(len(channels))]
    fig.add_trace(go.Scatter(
        x=xs, y=ys, customdata=channels, mode="markers", showlegend=False, marker=dict(size=40, opacity=0),
        hovertemplate=t("fm.grid_hover", c="%{customdata}") + "<extra></extra>",
    ))
    if selected in channels:
        i = channels.index(selected)
        x0, y0 = (i % cols) * (w + 1) - 0.5, (i // cols) * (h + 1) - 0.5
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x0 + w, y1=y0 + h, line=dict(color=style.HIGHLIGHT, width=3))
    fig.update_layout(clickmode="event+select", dragmode=False)
    return fig


def file_label(path: Path) -> str:
    """A file in the selector: its run's label from the sidecar, if it has one."""
    try:
        label = weights.read_sidecar(path).get("label")
    except weights.WeightsError:
        label = None
    return f"{label} · {path.name}" if isinstance(label, str) and label else path.name


def page() -> None:
    """The page, top to bottom; an early ``return`` where it cannot go on.

    (Not ``st.stop()``: after a stopped run Streamlit keeps the state of the widgets it did
    not draw, and when they come back the browser shows their defaults instead of the
    values set from the URL, then sends those back on the next interaction.)
    """
    # -----------------------------------------------------------------------------
    # Settings
    # -----------------------------------------------------------------------------

    st.title(t("fm.title"))
    st.markdown(t("fm.intro"))

    c_img, c_src, c_depth, c_extra = st.columns([2, 2, 1, 2])
    image_name = c_img.selectbox(
        t("fm.image"), IMAGES, key=url_choice("image", IMAGES, "cat"),
        format_func=lambda n: t("fm.upload_option") if n == UPLOAD else t(f"fm.sample.{n}"),
    )
    source = c_src.selectbox(t("fm.weights"), SOURCES, key=url_choice("weights", SOURCES, "random"),
                             format_func=lambda s: t(f"fm.source.{s}"), help=t("fm.weights_help"))
    if source in FILE_SOURCES:  # the file says which network it holds
        depth = None
        c_depth.markdown(t("fm.depth_from_file"))
    else:
        depth = c_depth.selectbox(t("fm.depth"), DEPTHS, key=url_choice("depth", DEPTHS, 50),
                                  format_func=lambda d: f"ResNet-{d}", help=t("fm.depth_help"))

    lab: weights.LabModel | None = None
    model_key = ""
    problem: str | None = None  # a weights problem: the page says so and stops
    if source == "random":
        seed = c_extra.number_input(t("fm.seed"), *SEED_RANGE, key=url_int("seed", *SEED_RANGE, 0), help=t("fm.seed_help"))
        with st.spinner(t("fm.building", depth=depth)):
            lab = random_lab(int(depth), int(seed))
        model_key = f"random:{depth}:{seed}"
    elif source in FILE_SOURCES:
        if source == "local":
            folder = weights.weights_dir()
            files = weights.local_weights()
            if folder is None:
                problem = t("fm.local_unset", env=weights.ENV_WEIGHTS_DIR)
            elif not files:
                problem = t("fm.local_empty", folder=str(folder))
        else:
            files = weights.safetensors_files(trained_dir(store_path()))
            if not files:
                problem = t("fm.trained_empty", folder=str(trained_dir(store_path())))
        names = [p.name for p in files]
        if names:
            file_key = url_setting("file", names[0], str, lambda v: v in names)
            if st.session_state[file_key] not in names:  # the other kind of file was selected
                st.session_state[file_key] = names[0]
            labels = {p.name: file_label(p) for p in files}
            name = c_extra.selectbox(t("fm.file"), names, key=file_key, format_func=labels.get)
            path = next(p for p in files if p.name == name)
            stat = path.stat()
            try:
                with st.spinner(t("fm.loading_file", name=name)):
                    lab = file_lab(str(path), (stat.st_mtime_ns, stat.st_size))
                model_key = f"file:{path}:{stat.st_mtime_ns}:{stat.st_size}"
            except weights.WeightsError as exc:
                problem = error_text(exc)
            except Exception as exc:  # an unreadable disk, a file removed meanwhile…
                _log.warning("loading %s failed", path, exc_info=True)
                problem = t("fm.error.other", reason=f"{name}: {exc}"[:500])
    else:  # official ImageNet weights, downloaded only when asked
        target = weights.official_file(int(depth))
        if not target.is_file():
            c_extra.markdown(t("fm.official_where", folder=str(target.parent)))
            st.info(t("fm.official_missing", depth=depth, mb=OFFICIAL_MB[int(depth)]))
            if st.button(t("fm.download", depth=depth), key="download", type="primary"):
                bar = st.progress(0.0, text=t("fm.download_start"))

                def progress(done: int, total: int | None) -> None:
                    fraction = min(done / total, 1.0) if total else 0.0
                    bar.progress(fraction, text=t("fm.downloading", done=done / 2**20, total=(total or 0) / 2**20))

                try:
                    weights.official_path(int(depth), progress)
                except weights.WeightsError as exc:
                    bar.empty()
                    problem = error_text(exc)
            if not target.is_file() and problem is None:
                show_url_notices(t)
                return
        if problem is None:
            try:
                with st.spinner(t("fm.loading_official", depth=depth)):
                    lab = official_lab(int(depth))
                model_key = f"official:{depth}"
            except weights.WeightsError as exc:
                problem = error_text(exc)
            except Exception as exc:
                _log.warning("loading official weights failed", exc_info=True)
                problem = t("fm.error.other", reason=str(exc)[:500])

    show_url_notices(t)
    if problem is not None or lab is None:
        st.error(problem or t("fm.error.other", reason="?"), icon="🚫")
        return
    network.ensure_dygraph()

    config = lab.model.config
    spec = lab.preprocess
    st.caption(t("fm.model_info", model=weights.model_label(config), classes=config.num_classes, source=lab.source,
                 size=spec.crop, channels=spec.channels))

    # ---------------------------------------------------------------------------------
    # Image in
    # ---------------------------------------------------------------------------------

    credit = None
    if image_name == UPLOAD:
        uploaded = st.file_uploader(t("fm.upload"), type=list(UPLOAD_TYPES), key="upload_file", help=t("fm.upload_help"))
        st.caption(t("fm.upload_not_in_url"))
        if uploaded is None:
            st.info(t("fm.upload_prompt"))
            return
        try:
            shown = session_upload(uploaded, spec)
        except images.ImageError as exc:
            st.error(t("fm.upload_refused", name=uploaded.name) + " " + error_text(exc), icon="🚫")
            return
    else:
        loaded = sample_image(image_name)
        shown = Shown(f"sample:{image_name}", loaded.image, loaded.size, loaded.steps, preprocess.preprocess(loaded.image, spec))
        info = images.sample(image_name)
        credit = t("fm.credit", by=info.credit, licence=info.licence)

    image_key, prepared = shown.key, shown.prepared
    c_orig, c_crop, c_steps = st.columns([2, 2, 3])
    c_orig.image(shown.picture, caption=t("fm.original", w=shown.size[0], h=shown.size[1]), width="stretch")
    if credit:
        c_orig.caption(credit)
    c_crop.image(prepared.display, caption=t("fm.network_sees", size=spec.crop), width="stretch")
    with c_steps:
        st.markdown(f"**{t('fm.preprocessing')}**")
        st.markdown("\n".join(f"{i}. {line}" for i, line in enumerate(preprocess.describe(shown.steps + prepared.steps, t), 1)))

    # ---------------------------------------------------------------------------------
    # One forward pass: every block's x, F(x), shortcut and output
    # ---------------------------------------------------------------------------------

    with st.spinner(t("fm.computing")):
        analysis, seconds, backend = analysis_for(model_key, image_key, (), False, lab, prepared.array)
    block_names = [v.name for v in analysis.blocks]
    choices = [STEM, *block_names]
    default_block = block_names[1] if len(block_names) > 1 else block_names[0]
    block_key = url_setting("block", default_block, str, lambda v: v in choices)
    if st.session_state[block_key] not in choices:  # depth or weights changed under a deeper block
        st.session_state[block_key] = default_block
    def reset_channel() -> None:
        """A new block opens on its strongest channel."""
        st.session_state[setting_key("ch")] = None

    def select_clicked_block() -> None:
        points = st.session_state[overview_key].selection.points
        if points and points[0].get("customdata") in choices:
            st.session_state[block_key] = points[0]["customdata"]
            reset_channel()

    st.caption(t("fm.computed", ms=seconds * 1000, backend=backend))
    st.header(t("fm.overview"))
    st.caption(t("fm.overview_help"))
    overview_key = f"fm_overview_{len(block_names)}"
    st.plotly_chart(feature_plots.overview_figure(analysis, st.session_state[block_key], t), key=overview_key,
                    on_select=select_clicked_block, selection_mode="points", config=PLOTLY)

    # -- the selected block -------------------------------------------------------------------
    b1, b2, b3, b4 = st.columns([2, 2, 2, 3])
    block = b1.selectbox(t("fm.block"), choices, key=block_key, on_change=reset_channel,
                         format_func=lambda n: t("fm.fig.stem") if n == STEM else n)
    view = stem_view(analysis) if block == STEM else analysis.block(block)
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
    grid_key = f"fm_grid_{block}"

    def select_clicked_channel() -> None:
        """A click on a tile of the grid opens that channel."""
        points = st.session_state[grid_key].selection.points
        if points and isinstance(points[0].get("customdata"), (int, float)) and points[0]["customdata"] >= 0:
            st.session_state[ch_key] = int(points[0]["customdata"])

    st.plotly_chart(clickable_grid(feature_plots.channel_grid_figure(analysis, view, channels, mode, t), view, channels, channel), key=grid_key,
                    on_select=select_clicked_channel, selection_mode="points", config=PLOTLY)

    if block != STEM:
        st.subheader(t("fm.panel", c=channel, name=block))
        panel = features.channel_panel(view, channel)
        st.plotly_chart(feature_plots.channel_panel_figure(analysis, view, panel, mode, t), key="fm_panel", config=PLOTLY)
        st.caption(t(f"fm.panel_how.{panel.x_how}", c=channel, xc=panel.x_channel, n=view.x.shape[0]))

    # -- ‖F(x)‖ / ‖x‖ per block -------------------------------------------------------------------
    st.header(t("fm.ratio"))
    st.markdown(t("fm.ratio_help"))
    st.plotly_chart(feature_plots.ratio_figure(analysis, t), key="fm_ratio", config=PLOTLY)
    dead = [v.name for v in analysis.blocks if not v.out.any()]
    if dead:  # e.g. a λ = 2 net that blew up in training: its ReLUs output nothing any more
        st.warning(t("fm.dead_blocks", n=len(dead), names=", ".join(dead[:6]) + (", …" if len(dead) > 6 else "")), icon="⚠️")

    # -- predictions ----------------------------------------------------------------------------
    st.header(t("fm.predictions"))
    if lab.classes is None:
        st.info(t("fm.no_classes"))
    else:
        p1, p2 = st.columns([3, 2])
        p1.plotly_chart(feature_plots.top5_figure(analysis, t), key="fm_top5", config=PLOTLY)
        p2.plotly_chart(feature_plots.cam_figure(analysis, prepared.display, t), key="fm_cam", config=PLOTLY)
        st.caption(t("fm.cam_help"))

    # ---------------------------------------------------------------------------------
    # Ablation at inference, on the same weights
    # ---------------------------------------------------------------------------------

    st.header(t("fm.ablation"))
    st.markdown(t("fm.ablation_body"))
    a1, a2 = st.columns([3, 2])
    ablate = a1.radio(t("fm.ablate"), ABLATIONS, key=url_choice("ablate", ABLATIONS, "none"), horizontal=True,
                      format_func=lambda a: t(f"fm.ablate.{a}"))
    drop: tuple[str, ...] = ()
    if ablate == "drop":
        drop_default = block if block in block_names else default_block
        drop_key = url_setting("drop", drop_default, str, lambda v: v in block_names)
        if st.session_state[drop_key] not in block_names:
            st.session_state[drop_key] = drop_default
        drop = (a2.selectbox(t("fm.drop_block"), block_names, key=drop_key),)
    show_url_notices(t)

    if ablate != "none":
        with st.spinner(t("fm.computing_ablation")):
            ablated, _, _ = analysis_for(model_key, image_key, drop, ablate == "shortcuts", lab, prepared.array)
        comparison = features.compare(analysis, ablated)
        what = t("fm.ablate.shortcuts") if ablate == "shortcuts" else t("fm.dropped_block", name=drop[0])
        m1, m2, m3 = st.columns(3)
        m1.metric(t("fm.first_changed"), comparison.first_changed or "—")
        m2.metric(t("fm.top1_same"), t("fm.yes") if comparison.top1_same else t("fm.no"))
        before, after = comparison.base_top_prob
        top_name = comparison.base[0].label.split(",")[0] if comparison.base[0].label else t("fm.class_n", i=comparison.base[0].index)
        m3.metric(t("fm.top_prob", label=top_name), f"{after:.1%}", delta=f"{(after - before) * 100:+.1f} pp",
                  help=t("fm.top_prob_help", before=before))
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


page()
finish()  # every setting into the URL, however far the page got
