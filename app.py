"""ResNet Lab, `streamlit run app.py`: the home page, where the lesson starts.

Why residuals: degradation, H(x) = F(x) + x, and the course's three questions. The
other pages live in pages/ (Streamlit's classic multipage layout); the sidebar's
translated navigation is drawn by ``page_setup`` on every page.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from pages.common.ui import (
    chart, classroom, link, measurement_ready, page_setup, safe_reason, setting_slider, show_url_notices, sync_url, url_choice, url_int,
)
from pages.common.why_gradient import gradient_split
from resnet import papers
from resnet.inference.signals import predicted_growth
from resnet.lab import claims, surfaces
from resnet.inference.lesion_record import LesionStudy
from resnet.lab.analyses import at_init
from resnet.lab import stored_lesions
from resnet.lab.store import Artifact, StoreError, store_address
from resnet.model.spec import DOWNSAMPLES, LAMBDA_RANGE
from resnet.plots import ablation as ablation_plots
from resnet.plots import evidence as evidence_plots
from resnet.plots import lesson as lesson_plots
from resnet.plots import landscape as landscape_plots
from resnet.plots.style import PLAIN, lambda_colour

t = page_setup("why.title")

DEPTH_RANGE = (1, 110)
MEASURE_DEPTHS = at_init.DEPTHS
LIVE_S = 1.0  # the measured section looks at its task this often while it computes
LANDSCAPE_VIEWS = ("contour", "3d")
FP32 = np.finfo(np.float32)


@st.cache_data(show_spinner=False)
def lesson_numbers() -> dict:
    """What the lesson's text quotes about ResNet-50 (224×224) and its bottleneck, from its layers."""
    from resnet.inference import cost  # only when asked: the degradation step needs no Paddle

    rows = cost.resnet_rows(50, 1, 224)  # shapes only, no weights
    return {"shortcuts": cost.shortcut_costs(rows), "bottleneck": cost.bottleneck_vs_basic(64, 56, 1)}


@st.cache_data(show_spinner=False)
def shipped_runs(preset: str) -> list[dict]:
    """A preset's shipped reference runs (config, result, metrics), none if the file is missing."""
    from resnet.lab.presets import reference_runs

    return reference_runs(preset) or []


def float32_fate(value: float) -> str:
    """What storing ``value`` ≥ 0 in float32 gives: "fits", "subnormal" (precision lost), "underflow" (0) or "overflow" (inf)."""
    with np.errstate(over="ignore", under="ignore"):
        stored = np.float32(value)
    if np.isinf(stored):
        return "overflow"
    if value > 0 and stored == 0:  # below half the smallest subnormal, 1.4e-45
        return "underflow"
    return "subnormal" if 0 < stored < FP32.smallest_normal else "fits"


def reading_values(measured: list[tuple[str, float, list]]) -> dict[str, str]:
    """The numbers the reading under the measured charts quotes, from this very measurement.

    Growth ratios of RMS sizes: forward out[last] / out[first], backward ∂L/∂x at the
    first block over the last. The per-block deviations from λ = 2 skip the blocks the
    ∏λ rule does not cover: the first (fed by the stem) and the stage starts (other gains).
    """
    by = {(shortcut, lam): signals for shortcut, lam, signals in measured}
    two, half = by[("scaled", 2.0)], by[("scaled", 0.5)]
    identity = [i for i, s in enumerate(two) if s.shortcut_kind == "identity"][1:]
    starts = [i for i, s in enumerate(two) if s.shortcut_kind != "identity"]  # [stage 2's, stage 3's] first blocks
    forward = [two[i].out_rms / two[i - 1].out_rms for i in identity]
    backward = [two[i].grad_rms / two[i + 1].grad_rms for i in identity if i + 1 < len(two)]

    def back(signals: list) -> float:
        return signals[0].grad_rms / signals[-1].grad_rms

    return {
        "fwd_dev": f"{max(abs(r / 2 - 1) for r in forward):.0%}", "bwd_dev": f"{max(abs(r / 2 - 1) for r in backward):.0%}",
        "blocks": str(len(two)), "half_per_block": f"{back(half) ** (1 / (len(half) - 1)):.2f}",
        "plain_total": f"{back(by[('none', 1.0)]):,.0f}", "identity_total": f"{back(by[('identity', 1.0)]):,.0f}",
        "total_exp": f"{math.log2(two[-1].out_rms / two[0].out_rms):.1f}",
        "last_stage_exp": f"{math.log2(two[-1].out_rms / two[starts[-1]].out_rms):.1f}",
        "reset": f"{max(two[i].out_rms / two[i - 1].out_rms for i in starts):.1g}",
    }


def quote(key: str) -> str:
    """Catalog sentence ``key`` with the papers' figures it quotes (``resnet.papers.QUOTED``) filled in."""
    return t(key, **papers.quoted(key))


def degradation() -> None:
    st.header(t("why.degradation"))
    st.markdown(t("why.degradation_body"))
    if (runs := shipped_runs("degradation")) and (claim := claims.degradation_claim()) is not None:
        # the lab's degradation preset, as shipped (no training here): seed 0 drawn, every seed summarised
        st.markdown(f"**{t('why.deg_title', steps=claim.steps)}**")
        chart(lesson_plots.degradation(runs, t), t("why.deg_summary", **claims.degradation_values(t, claim)),
              config={"displayModeBar": False}, key="degradation_chart")
    link("pages/lab.py", t("why.link_degradation"), preset="degradation")
    st.markdown(t("why.not_vanishing"))
    # the paper's own evidence beside ours: ImageNet (Table 2) and CIFAR-10 (Table 6), and where depth still hurts
    st.markdown(quote("why.evidence_imagenet"))
    chart(evidence_plots.depth_evidence(t), quote("why.ev_depth_summary"), config={"displayModeBar": False},
          key="depth_evidence")
    st.markdown(quote("why.evidence_depth_limit"))


def residual_block() -> None:
    st.header(t("why.block"))
    left, right = st.columns([3, 2])
    with left:
        short = lesson_numbers()["shortcuts"]
        st.markdown(t(
            "why.block_body", proj_params=f"{short['projection_params']:,}", proj_param_share=f"{short['projection_params'] / short['params']:.0%}",
            proj_gmacs=f"{short['projection_macs'] / 1e9:.2f}", proj_mac_share=f"{short['projection_macs'] / short['macs']:.0%}",
        ))
        link("pages/architecture.py", t("why.link_architecture"), depth=50, block="layer1.1")
    with right:
        chart(lesson_plots.plain_vs_residual(t), t("why.fig_summary"), config={"displayModeBar": False}, key="plain_vs_residual")
    left, right = st.columns([3, 2])  # which shortcut where the shape changes: the paper's Table 3
    left.markdown(quote("why.evidence_options"))
    with right:
        chart(evidence_plots.shortcut_options(t), quote("why.ev_options_summary"), config={"displayModeBar": False},
              key="shortcut_options")


def why_not_2x() -> list[str]:
    """Q1 with the λ^L calculator and the measured signal and gradient; returns its URL names."""
    st.header(t("why.q1"))
    short = lesson_numbers()["shortcuts"]
    st.markdown(t("why.q1_body", share=f"{short['scale_multiplies'] / short['macs']:.2%}",
                  mults=f"{short['scale_multiplies']:,}", gmacs=f"{short['macs'] / 1e9:.2f}"))
    c1, c2 = st.columns(2)
    scale = setting_slider(c1, t("why.lambda"), "lam", *LAMBDA_RANGE, 2.0, step=0.05,
                           help=t("why.lambda_help", lo=f"{LAMBDA_RANGE[0]:g}", hi=f"{LAMBDA_RANGE[1]:g}"))
    depth = setting_slider(c2, t("why.depth"), "L", *DEPTH_RANGE, 54, step=1)
    show_url_notices(t)
    power = scale ** depth
    m1, m2, m3 = st.columns(3)
    m1.metric(t("why.after_blocks", L=depth), f"{power:.3g}")
    m2.metric(t("why.signal_fp32"), t(f"why.fp32.{float32_fate(abs(power))}"), help=t(
        "why.fp32_help", max=f"{float(FP32.max):.2g}", normal=f"{float(FP32.smallest_normal):.2g}",
        subnormal=f"{float(FP32.smallest_subnormal):.2g}"))
    m3.metric(t("why.identity"), "1")
    lams = sorted({0.5, 1.0, 2.0, scale})
    chart(lesson_plots.lambda_power(lams, depth, t), t("why.power_summary", L=depth, lams=", ".join(f"{lam:g}" for lam in lams),
                                                        values="; ".join(f"{lam:g}^{depth} = {lam ** depth:.3g}" for lam in lams)),
          key="lambda_power")
    st.markdown(t("why.q1_paper"))
    if (blow_up := claims.blow_up_claim()) is not None:
        st.markdown(t("why.q1_run", **claims.blow_up_values(t, blow_up)))
    link("pages/lab.py", t("why.link_2x"), preset="why_not_2x")

    st.subheader(t("why.measured"))
    st.markdown(t("why.measured_body"))
    r1, r2 = st.columns([1, 2])
    measure_depth = r1.radio(t("why.measure_depth"), MEASURE_DEPTHS, horizontal=True, format_func=lambda d: f"ResNet-{d}",
                             key=url_choice("net", MEASURE_DEPTHS, MEASURE_DEPTHS[0]))
    downsample = r2.radio(t("why.measure_downsample"), DOWNSAMPLES, horizontal=True,
                          format_func=lambda d: t(f"why.downsample.{d}"), key=url_choice("downsample", DOWNSAMPLES, DOWNSAMPLES[0]))
    show_url_notices(t)
    chosen = {"depth": measure_depth, "scale": round(scale, 2), "downsample": downsample}
    try:  # started when the section is shown: a class sees the figures without a click, and one
        # measurement (cached in the run store) serves every visitor with these settings
        artifact = begin_measurement(chosen)
    except StoreError as exc:
        st.error(t("why.measure_store", reason=safe_reason(exc)), icon="🛑")
        return ["lam", "L", "net", "downsample"]
    # polls while it computes (or may be asked again); a finished measurement is drawn once
    st.fragment(run_every=None if artifact.status == "done" else LIVE_S)(measured_figures)(chosen)
    gradient_split(t)  # the same question on the gradient itself, split by path (He et al. 2016 (Identity Mappings), Eqs. 4-5)
    return ["lam", "L", "net", "downsample"]


def begin_measurement(chosen: dict) -> Artifact:
    """The measurement of these settings, started in a task process if it is not stored; this session's
    previous one, if it still computes, is cancelled (a λ slider let go five times queues one task, not five)."""
    address = store_address()
    previous = st.session_state.get("_why_measuring")
    if previous is not None and previous != chosen:
        at_init.cancel(address, **previous)
    st.session_state["_why_measuring"] = chosen
    return at_init.start(address, **chosen)


def measure_again(chosen: dict) -> None:
    try:
        at_init.restart(store_address(), **chosen)
    except StoreError:  # the fragment says so at its next look
        pass


def cancel_measurement(chosen: dict) -> None:
    try:
        at_init.cancel(store_address(), **chosen)
    except StoreError:
        pass


def measured_figures(chosen: dict) -> None:
    """The measured signal and gradient per block; while a task process measures them, its progress and Cancel."""
    try:
        artifact = at_init.start(store_address(), **chosen)  # as stored: a failed or cancelled one is not started again
    except StoreError as exc:
        st.error(t("why.measure_store", reason=safe_reason(exc)), icon="🛑")
        return
    if not measurement_ready(artifact, t, measuring=t("why.measuring"), key="why_measure", cancel=cancel_measurement,
                             again=measure_again, args=(chosen,)):
        return
    measure_depth, downsample = chosen["depth"], chosen["downsample"]
    measured = at_init.measured(artifact.payload)
    runs = {t("why.variant_none") if shortcut == "none" else f"λ = {lam:g}": signals for shortcut, lam, signals in measured}
    colours = {t("why.variant_none") if shortcut == "none" else f"λ = {lam:g}": PLAIN if shortcut == "none" else lambda_colour(lam)
               for shortcut, lam, _ in measured}
    forward, backward = predicted_growth(measured[-1][2])  # ∏λ for the chosen λ (the last variant)
    label = t("why.prediction", lam=f"{measured[-1][1]:g}")
    g1, g2 = st.columns(2)
    # growth over the net: the output's RMS from the first block to the last, the gradient's from the last back to the first
    forward_growth = "; ".join(f"{name} ×{s[-1].out_rms / s[0].out_rms:.3g}" for name, s in runs.items())
    backward_growth = "; ".join(f"{name} ×{s[0].grad_rms / s[-1].grad_rms:.3g}" for name, s in runs.items())
    with g1:
        st.markdown(f"**{t('why.forward')}**")
        chart(lesson_plots.signal_chart(runs, "out_rms", t, colours, (label, forward)),
              t("why.forward_summary", depth=measure_depth, growth=forward_growth), key="forward_chart")
    with g2:
        st.markdown(f"**{t('why.backward')}**")
        chart(lesson_plots.signal_chart(runs, "grad_rms", t, colours, (label, backward)),
              t("why.backward_summary", depth=measure_depth, growth=backward_growth), key="backward_chart")
        # He et al. 2015, Sec. 4.1: degradation is not vanishing gradients; what the plain net's gradient did here
        plain = next(signals for shortcut, _, signals in measured if shortcut == "none")
        factor = plain[0].grad_rms / plain[-1].grad_rms
        st.markdown(t(f"why.not_vanishing_measured.{'grows' if factor >= 1 else 'shrinks'}", depth=measure_depth,
                      factor=f"{factor:,.0f}" if factor >= 10 else f"{factor:.2g}"))
    st.caption(t(f"why.prediction_note.{downsample}", **claims.prediction_values(t, measured[-1][2])))
    values = reading_values(measured)
    st.markdown(t("why.measured_reading", stage_starts=t(f"why.stage_starts.{downsample}", **values), depth=measure_depth, **values))


@st.cache_data(show_spinner=False)
def shipped_lesion_studies() -> dict[str, LesionStudy]:
    """The lesion studies stored with the shipped digits nets (``python -m resnet.lab shipped --lesion-only``)."""
    return stored_lesions.stored_lesion_studies()


def intuition() -> None:
    """The course's intuition, Veit et al.'s finding, and what the shipped lesion studies measured (phrased by their intervals)."""
    st.header(t("why.q2"))
    st.markdown(t("why.q2_body"))
    if not (studies := shipped_lesion_studies()):
        return
    lines = "\n".join(f"- {ablation_plots.study_reading(s, t)}" for s in studies.values())
    st.markdown(t("why.q2_measured", n=" / ".join(sorted({str(s.test_images) for s in studies.values()}))) + "\n\n" + lines)
    # two deletions from the first study (the Feature maps page's default ResNet), chosen by the data, on the digit
    # that page opens on: the one the study is surest changes nothing, and the costliest
    key, study = next(iter(studies.items()))
    verdicts = {v.block.name: v for v in study.verdicts()}  # each change of accuracy with its paired 95 % interval
    drops = []
    if (harmless := study.harmless()) is not None:
        quiet = verdicts[harmless.name].delta
        drops.append((harmless.name, t("why.link_ablation", block=harmless.name, label=study.label, delta=100 * quiet.value,
                                       half=100 * quiet.half_width)))
    worst = verdicts[study.worst.name]
    delta = worst.delta
    text = t("why.link_ablation_worst" if worst.beyond_noise else "why.link_ablation_worst_noise", block=worst.block.name,
             label=study.label, delta=100 * delta.value, low=100 * delta.low, high=100 * delta.high, half=100 * delta.half_width)
    drops.append((worst.block.name, text))
    for block, text in drops:
        link("pages/feature_maps.py", text, weights="shipped", file=f"{key}.safetensors", image="digit_3", ablate="drop",
             drop=block)


def bottleneck() -> None:
    st.header(t("why.q3"))
    # a stage-1 block of ResNet-50 (256 channels in and out, 64 inside) against two 3×3 convs at 256;
    # the Compute cost page quotes the same function with the same words
    bott, basic = lesson_numbers()["bottleneck"][:2]
    st.markdown(t("why.q3_body", bottleneck=t("count.weights_params", weights=f"{bott['weights']:,}", params=f"{bott['params']:,}"),
                  basic=t("count.weights_params", weights=f"{basic['weights']:,}", params=f"{basic['params']:,}"),
                  ratio=f"{basic['weights'] / bott['weights']:.0f}"))
    # what the paper says a bottleneck is for, against the course's answer; and what a 1×1 projection between
    # its two wide ends would add to this very block (He et al. 2015, Sec. 4.1: "doubled")
    wide = bott["channels"][0]
    projection = wide * wide  # a 1×1 conv from wide to wide channels
    st.markdown(t("why.evidence_bottleneck", wide=wide, proj=f"{projection:,}", bott=f"{bott['weights']:,}",
                  factor=f"{(bott['weights'] + projection) / bott['weights']:.2f}"))
    link("pages/architecture.py", t("why.link_bottleneck"), depth=50, block="layer1.0")
    link("pages/cost.py", t("why.link_cost"), width=64)


@st.cache_data(show_spinner=False)
def shipped_landscapes() -> list[dict]:
    """The Degradation preset's ResNet-56 and plain-56 landscapes as shipped (``python -m resnet.lab landscape``)."""
    return surfaces.shipped_landscapes()


def landscapes() -> list[str]:
    """Why shortcuts make training easier: the two shipped loss surfaces at once (Li et al. 2018, Fig. 5), as
    contours or in 3-D; returns its URL names."""
    st.header(t("why.landscape"))
    st.markdown(t("why.landscape_paper"))
    shipped = shipped_landscapes()
    if len(shipped) == 2:
        residual, plain = (entry["surface"] for entry in shipped)
        numbers = {f"{name}_{what}": text for name, s in (("res", residual), ("plain", plain)) for what, text in (
            ("centre", landscape_plots.loss_text(s["center"])), ("edge", landscape_plots.loss_text(surfaces.edge_mean(s["loss"]))),
            ("minima", str(surfaces.local_minima(s["loss"]))))}
        st.markdown(t("why.landscape_run", steps=shipped[0]["config"]["steps"], n=residual["subset"], size=residual["size"],
                      chance=f"{math.log(10):.2f}", **numbers))  # digits: 10 classes, chance level ln 10
        drawn = [landscape_plots.Drawn(shipped[0]["label"], lambda_colour(1.0), residual),
                 landscape_plots.Drawn(shipped[1]["label"], PLAIN, plain)]
        # contours first: the 3-D scenes are WebGL, drawn in software by a browser without a GPU (seconds), so
        # only a click draws them
        view = st.radio(t("why.landscape_view"), LANDSCAPE_VIEWS, horizontal=True, format_func=lambda v: t(f"why.landscape_view.{v}"),
                        key=url_choice("landscape", LANDSCAPE_VIEWS, LANDSCAPE_VIEWS[0]), help=t("why.landscape_view_help"))
        show_url_notices(t)
        figure = landscape_plots.surface_figure if view == "3d" else landscape_plots.contour_figure
        chart(figure(drawn, t, log=True), landscape_plots.summary(drawn, t),
              config={"displayModeBar": False, "scrollZoom": False}, key=f"landscape_why_{view}")  # the wheel scrolls the page
    link("pages/lab.py", t("why.link_landscape"), preset="degradation")
    return ["landscape"] if len(shipped) == 2 else []


SECTIONS = [degradation, residual_block, why_not_2x, intuition, bottleneck, landscapes]

st.title(t("why.title"))
if classroom():  # one idea per screen, the step in the URL so the class can follow a link
    step_key = url_int("step", 1, len(SECTIONS), 1)
    st.segmented_control(t("why.step"), list(range(1, len(SECTIONS) + 1)), key=step_key,
                         format_func=lambda i: t(f"why.step_{i}"), selection_mode="single")
    step = st.session_state[step_key] or 1
    shown = [SECTIONS[step - 1]]
    url_names = ["step"]
else:
    st.markdown(t("why.intro"))
    shown = SECTIONS
    url_names = []
show_url_notices(t)
for section in shown:
    url_names += section() or []
sync_url(*url_names)
