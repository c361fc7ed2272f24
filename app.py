"""ResNet Lab, `streamlit run app.py`: the home page, where the lesson starts.

Why residuals: degradation, H(x) = F(x) + x, and the course's three questions. The
other pages live in pages/ (Streamlit's classic multipage layout); the sidebar's
translated navigation is drawn by ``page_setup`` on every page.
"""

from __future__ import annotations

import streamlit as st

from pages.common.ui import classroom, link, page_setup, setting_slider, show_url_notices, sync_url, url_int
from resnet.model.spec import DOWNSAMPLES
from resnet.plots import lesson as lesson_plots

t = page_setup("why.title")

LAMBDA_RANGE = (0.0, 3.0)
DEPTH_RANGE = (1, 110)
MEASURE_DEPTHS = (20, 56)
MEASURED_VARIANTS = (("identity", 1.0), ("none", 1.0), ("scaled", 0.5), ("scaled", 2.0))


@st.cache_data(show_spinner=False, max_entries=16)
def measured_signals(depth: int, scale: float, downsample: str) -> list[tuple[str, float, list]]:
    """(shortcut, λ, per-block forward RMS and ∂L/∂x) at initialisation, standard variants + λ."""
    from resnet.inference import diagnostics  # only when asked: the rest of this page needs no Paddle

    variants = dict.fromkeys([*MEASURED_VARIANTS, ("scaled", scale)])
    # the same data and the same weights (by parameter name) for every variant
    return [(shortcut, lam, diagnostics.measure_at_init(depth, shortcut, lam, downsample=downsample))
            for shortcut, lam in variants]


def degradation() -> None:
    st.header(t("why.degradation"))
    st.markdown(t("why.degradation_body"))
    link("pages/lab.py", t("why.link_degradation"), preset="degradation")


def residual_block() -> None:
    st.header(t("why.block"))
    left, right = st.columns([3, 2])
    with left:
        st.markdown(t("why.block_body"))
        link("pages/architecture.py", t("why.link_architecture"), depth=50, block="layer1.1")
    with right:
        st.plotly_chart(lesson_plots.plain_vs_residual(t), config={"displayModeBar": False}, key="plain_vs_residual")


def why_not_2x() -> list[str]:
    """Q1 with the λ^L calculator and the measured signal and gradient; returns its URL names."""
    st.header(t("why.q1"))
    st.markdown(t("why.q1_body"))
    c1, c2 = st.columns(2)
    scale = setting_slider(c1, t("why.lambda"), "lam", *LAMBDA_RANGE, 2.0, step=0.05)
    depth = setting_slider(c2, t("why.depth"), "L", *DEPTH_RANGE, 54, step=1)
    show_url_notices(t)
    power = scale ** depth
    fp32 = "why.overflow" if power > 3.4e38 else "why.underflow" if 0 < power < 1.2e-38 else "why.fits"
    m1, m2, m3 = st.columns(3)
    m1.metric(t("why.after_blocks", L=depth), f"{power:.3g}")
    m2.metric(t("why.signal_fp32"), t(fp32))
    m3.metric(t("why.identity"), "1")
    st.plotly_chart(lesson_plots.lambda_power(sorted({0.5, 1.0, 2.0, scale}), depth, t), key="lambda_power")
    st.markdown(t("why.q1_paper"))
    link("pages/lab.py", t("why.link_2x"), preset="why_not_2x")

    st.subheader(t("why.measured"))
    st.markdown(t("why.measured_body"))
    r1, r2 = st.columns([1, 2])
    measure_depth = r1.radio(t("why.measure_depth"), MEASURE_DEPTHS, horizontal=True, format_func=lambda d: f"ResNet-{d}", key="measure_depth")
    downsample = r2.radio(t("why.measure_downsample"), DOWNSAMPLES, horizontal=True,
                          format_func=lambda d: t(f"why.downsample.{d}"), key="measure_downsample")
    with st.spinner(t("why.measuring")):
        measured = measured_signals(measure_depth, round(scale, 2), downsample)
    runs = {t("why.variant_none") if shortcut == "none" else f"λ = {lam:g}": signals for shortcut, lam, signals in measured}
    from resnet.inference.diagnostics import predicted_growth  # Paddle is loaded by now

    forward, backward = predicted_growth(measured[-1][2])  # ∏λ for the chosen λ (the last variant)
    label = t("why.prediction", lam=f"{measured[-1][1]:g}")
    g1, g2 = st.columns(2)
    g1.markdown(f"**{t('why.forward')}**")
    g1.plotly_chart(lesson_plots.signal_chart(runs, "out_rms", t, (label, forward)), key="forward_chart")
    g2.markdown(f"**{t('why.backward')}**")
    g2.plotly_chart(lesson_plots.signal_chart(runs, "grad_rms", t, (label, backward)), key="backward_chart")
    st.caption(t(f"why.prediction_note.{downsample}"))
    st.markdown(t("why.measured_reading", stage_starts=t(f"why.stage_starts.{downsample}")))
    return ["lam", "L"]


def intuition() -> None:
    st.header(t("why.q2"))
    st.markdown(t("why.q2_body"))
    link("pages/feature_maps.py", t("why.link_ablation"), image="cat", ablate="drop", drop="layer3.2")


def bottleneck() -> None:
    st.header(t("why.q3"))
    wide, narrow = 256, 64  # a stage-1 block of ResNet-50: 256 channels in and out, 64 inside
    weights = wide * narrow + 9 * narrow * narrow + narrow * wide  # 1×1 reduce + 3×3 + 1×1 expand
    basic = 2 * 9 * wide * wide  # two 3×3 convs at full width
    st.markdown(t("why.q3_body", bottleneck=weights, basic=basic, ratio=basic / weights))
    link("pages/architecture.py", t("why.link_bottleneck"), depth=50, block="layer1.0")
    link("pages/cost.py", t("why.link_cost"), width=64)


SECTIONS = [degradation, residual_block, why_not_2x, intuition, bottleneck]

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
