"""Compute cost: MACs and parameters per stage, ResNet vs VGG, the course's estimate."""

from __future__ import annotations

import streamlit as st

from pages.common.ui import (chart, classroom, count_columns, metric_columns, page_setup, safe_reason, shared_table, show_url_notices,
                             stage_name, sync_url, url_choice, url_int)
from resnet.i18n import Translator

t = page_setup("cost.title")

from resnet.inference import cost  # noqa: E402  (imports paddle: after the sidebar is up)
from resnet.lab import service  # noqa: E402
from resnet.model.modes import ensure_dygraph  # noqa: E402
from resnet.plots import cost as cost_plots  # noqa: E402

ensure_dygraph()  # this run's thread counts shapes on Paddle layers (see ensure_dygraph)

PAPER_50 = cost.PAPER_GMACS["ResNet-50"]
SIZE_RANGE = cost.IMAGE_SIZE_RANGE
BATCH_RANGE = cost.BATCH_RANGE
WIDTHS = (16, 32, 64, 128, 256, 512)  # the inner width of a stage: ResNet-50's are 64 … 512
MEASURE_TIMEOUT_S = 600.0  # a ResNet-152 at 512 px, batch 16, 21 repeats each way, with its fast path's export


def giga(macs: int) -> str:
    return f"{macs / 1e9:,.2f} G"


def listing(names: list[str], values: list[float], unit: str = "") -> str:
    """A chart's numbers for its text summary: "ResNet-50 4.09 G; VGG-16 15.5 G" (counts from 1,000 whole)."""
    return "; ".join(f"{n} {v:,.0f}{unit}" if abs(v) >= 1000 else f"{n} {v:.3g}{unit}" for n, v in zip(names, values))


def yi(count: float) -> str:
    """In 亿 (10⁸), the unit the course prints its totals in."""
    return f"{count / 1e8:.0f}亿"


@st.cache_data(show_spinner=False, max_entries=32)  # keyed on URL values (?depth=&batch=&size=)
def stage_table(depth: int, batch: int, size: int) -> tuple[list[dict], dict, int, int]:
    rows = cost.resnet_rows(depth, batch, size)
    total = sum(r.macs for r in rows)
    return cost.stage_costs(rows), cost.kernel_totals(rows), total, sum(r.params for r in rows)


@st.cache_data(show_spinner=False, max_entries=16)  # keyed on ?size=
def comparison(size: int) -> list[dict]:
    return cost.compare_architectures(1, size)


@st.cache_data(show_spinner=False, max_entries=16)  # keyed on ?size=
def vgg_fc_params(size: int) -> int:
    """VGG-16's parameters in its three fc layers (most of its 138 M)."""
    return sum(r.params for r in cost.vgg_rows(16, 1, size) if r.kind == "fc")


@st.cache_data(show_spinner=False)
def course_numbers() -> tuple[dict, dict]:
    """The course's estimate and its VGG comparison, at its own setting (batch 10, 224×224)."""
    return cost.course_estimate(), cost.course_vs_vgg()


@st.cache_data(show_spinner=False, max_entries=16)  # keyed on ?size=
def by_resolution(size: int) -> dict:
    return cost.cost_by_resolution(size)


@st.cache_data(show_spinner=False, max_entries=8)  # keyed on ?width=
def bottleneck_variants(width: int) -> list[dict]:
    return cost.bottleneck_vs_basic(width, 56, 1)


@shared_table()  # keyed on URL values and the language
def stage_rows(depth: int, batch: int, size: int, lang: str) -> list[dict]:
    """The stage table: blocks, parameters and MACs per stage."""
    t = Translator(lang)
    return [{
        t("col.stage"): stage_name(t, s["stage"]), t("cost.col_blocks"): s["blocks"], t("col.params"): s["params"],
        t("cost.col_gmacs"): round(s["macs"] / 1e9, 3),
        # text in every row (stem and head have no blocks): no "None" cell, one type per column
        t("cost.col_gmacs_block"): f"{s['macs_per_block'] / 1e9:.3f}" if s["macs_per_block"] else "–",
    } for s in stage_table(depth, batch, size)[0]]


@shared_table()  # keyed on ?size= and the language
def comparison_rows(size: int, lang: str) -> list[dict]:
    """ResNets and VGG side by side: parameters, our MACs and FLOPs, and the papers'."""
    t = Translator(lang)
    return [{
        t("cost.col_arch"): a["name"], t("col.params"): a["params"], t("cost.col_ours"): round(a["gmacs_per_image"], 2),
        t("cost.col_gflops"): round(a["gflops_per_image"], 2), t("cost.col_paper_layout"): round(a["gmacs_paper_layout"], 2),
        t("cost.col_paper"): a["paper_gmacs"],
    } for a in comparison(size)]


def settings() -> tuple[int, int, int]:
    """Depth, batch and input size."""
    st.title(t("cost.title"))
    st.markdown(t("cost.intro"))
    c1, c2, c3 = st.columns(3)
    depth = c1.selectbox(t("arch.depth"), cost.RESNET_DEPTHS, key=url_choice("depth", cost.RESNET_DEPTHS, 50), format_func=lambda d: f"ResNet-{d}")
    batch = int(c2.number_input(t("arch.batch"), *BATCH_RANGE, key=url_int("batch", *BATCH_RANGE, 10)))
    size = int(c3.number_input(t("arch.size"), *SIZE_RANGE, step=16, key=url_int("size", *SIZE_RANGE, 224), help=t("cost.size_help")))
    show_url_notices(t)
    return int(depth), batch, size


def by_stage(depth: int, batch: int, size: int) -> None:
    """Totals, then where the cost sits: MACs and parameters per stage and kernel size."""
    stages, by_kernel, total_macs, params = stage_table(depth, batch, size)
    m1, m2, m3, m4 = metric_columns(4)
    m1.metric(t("arch.params"), f"{params:,}")
    m2.metric(t("arch.macs_image"), giga(total_macs // batch))
    m3.metric(t("cost.flops_image"), giga(2 * total_macs // batch), help=t("cost.flops_help"))
    m4.metric(t("arch.macs_batch", n=batch), giga(total_macs))

    st.header(t("cost.by_stage"))
    names = [stage_name(t, s["stage"]) for s in stages]
    g1, g2, g3 = st.columns([5, 5, 3])
    with g1:
        st.markdown(f"**{t('cost.macs_by_stage')}**")
        chart(cost_plots.bars(names, {k: [s["macs_by_kernel"][k] / 1e9 for s in stages] for k in cost.KERNELS},
                              t("cost.gmacs_batch", n=batch)),
              t("cost.macs_by_stage_summary", n=batch, stages=listing(names, [s["macs"] / 1e9 for s in stages], " G")), key="macs_by_stage")
    with g2:
        st.markdown(f"**{t('cost.params_by_stage')}**")
        chart(cost_plots.bars(names, {k: [s["params_by_kernel"][k] / 1e6 for s in stages] for k in (*cost.KERNELS, "BN")},
                              t("cost.mparams")),
              t("cost.params_by_stage_summary", stages=listing(names, [s["params"] / 1e6 for s in stages], " M")), key="params_by_stage")
    with g3:
        st.markdown(f"**{t('cost.kernel_share')}**")
        chart(cost_plots.share_donut(by_kernel), t("cost.kernel_share_summary", shares="; ".join(cost_plots.share_labels(by_kernel).values())),
              key="kernel_share")
    st.markdown(t("cost.by_stage_reading", depth=depth, conv1=f"{by_kernel['1×1'] / total_macs:.0%}", conv3=f"{by_kernel['3×3'] / total_macs:.0%}"))
    if not classroom():  # presenter mode hides the advanced views
        with st.expander(t("cost.stage_table")):
            st.dataframe(stage_rows(depth, batch, size, t.lang), hide_index=True, width="stretch",
                         column_config=count_columns(t("col.params")))


def versus_vgg(size: int) -> None:
    """ResNet vs VGG at this input size, against the papers' numbers at 224."""
    st.header(t("cost.vs_vgg"))
    archs = comparison(size)
    arch_names = [a["name"] for a in archs]
    v1, v2 = st.columns(2)
    series = {t("cost.ours"): [a["gmacs_per_image"] for a in archs]}
    if size == 224:
        series[t("cost.paper")] = [a["paper_gmacs"] for a in archs]
    with v1:
        st.markdown(f"**{t('cost.gmacs_image_title')}**")
        chart(cost_plots.bars(arch_names, series, t("cost.gmacs_image"), stacked=False),
              t("cost.vs_macs_summary", size=size, archs=listing(arch_names, series[t("cost.ours")], " G")), key="vs_macs")
    with v2:
        st.markdown(f"**{t('cost.params_title')}**")
        millions = [a["params"] / 1e6 for a in archs]
        chart(cost_plots.bars(arch_names, {t("cost.ours"): millions}, t("cost.mparams"), stacked=False),
              t("cost.vs_params_summary", archs=listing(arch_names, millions, " M")), key="vs_params")
    st.dataframe(comparison_rows(size, t.lang), hide_index=True, width="stretch", column_config=count_columns(t("col.params")))
    by_name = {a["name"]: a for a in archs}
    resnet50, vgg16, resnet152 = by_name["ResNet-50"], by_name["VGG-16"], by_name["ResNet-152"]
    vgg_fc = vgg_fc_params(size)
    split = by_resolution(size)
    st.markdown(t("cost.vs_reading", ours=f"{resnet50['gmacs_per_image']:.2f}", layout=f"{resnet50['gmacs_paper_layout']:.2f}", paper=PAPER_50))
    st.markdown(t(
        "cost.vs_why", vgg_ratio=f"{vgg16['macs'] / resnet50['macs']:.2f}", vgg=giga(vgg16["macs"]), resnet=giga(resnet50["macs"]),
        side=split["side"], resnet_above=giga(split["ResNet-50"]["above"]), vgg_above=giga(split["VGG-16"]["above"]),
        vgg_below=giga(split["VGG-16"]["below"]), resnet_below=giga(split["ResNet-50"]["below"]),
        vgg_params=f"{vgg16['params'] / 1e6:.0f}", vgg_fc=f"{vgg_fc / 1e6:.0f}",
        r152=giga(resnet152["macs"]), r152_params=f"{resnet152['params'] / 1e6:.0f}",
    ))


def course_estimate() -> None:
    """The course's estimate (one block × 48) and its VGG comparison against the truth, at its setting."""
    st.header(t("cost.course"))
    est, vgg = course_numbers()
    k1, k2, k3 = metric_columns(3)
    k1.metric(t("cost.course_block", block=est["block"]), giga(est["block_macs"]))
    k2.metric(t("cost.course_total", n=est["multiplier"]), giga(est["course_total"]))
    k3.metric(t("cost.true_total"), giga(est["true_total"]), delta=f"{est['true_total'] / est['course_total'] - 1:+.0%}", delta_color="off")
    per_stage = est["per_stage"]
    labels = [f"{stage_name(t, s['stage'])} · {s['channels']} × {s['spatial']}" for s in per_stage]
    typical = [s["macs_per_block"] / 1e9 for s in per_stage]
    chart(cost_plots.bars(labels, {
        t("cost.typical_block"): typical,
        t("cost.first_block"): [s["first_block_macs"] / 1e9 for s in per_stage],
    }, t("cost.gmacs_batch", n=est["batch"]), stacked=False),
          t("cost.course_per_stage_summary", n=est["batch"], stages=listing([stage_name(t, s["stage"]) for s in per_stage], typical, " G")),
          key="course_per_stage")
    st.markdown(t(
        "cost.course_reading", block=est["block"], block_macs=giga(est["block_macs"]), n=est["multiplier"],
        course=giga(est["course_total"]), course_rounded=giga(est["course_total_rounded"]), blocks=est["residual_blocks"],
        course_yi=yi(cost.COURSE_FIGURES["resnet50_multiplications"]), rounding=f"{10 ** -cost.COURSE_DECIMALS:g} G",
        truth=giga(est["true_total"]), ratio=f"{est['overestimate']:.2f}",
        convs=", ".join(f"{c['kernel']} {giga(c['macs'])}" for c in est["block_convs"]),
    ))
    st.markdown(t(
        "cost.course_vgg", course_flops=giga(vgg["course_resnet_flops"]), course_vgg=giga(vgg["course_vgg_flops"]),
        course_flops_yi=yi(vgg["course_resnet_flops"]), course_vgg_yi=yi(vgg["course_vgg_flops"]),
        course_ratio=f"{vgg['course_ratio']:.2f}", vgg_conv=giga(vgg["vgg_conv_flops"]), vgg_conv_yi=yi(vgg["vgg_conv_flops"]),
        vgg_all=giga(vgg["vgg_flops"]), resnet_flops=giga(vgg["resnet_flops"]), resnet_yi=yi(vgg["resnet_flops"]),
        truth=giga(est["true_total"]), ratio=f"{vgg['ratio']:.2f}",
    ))


def bottleneck() -> None:
    """Q3: a bottleneck block against basic blocks of the same width."""
    st.header(t("cost.bottleneck"))
    width = st.select_slider(t("cost.width"), WIDTHS, key=url_choice("width", WIDTHS, 64))
    show_url_notices(t)
    variants = bottleneck_variants(width)
    variant_keys = {"bottleneck": "cost.variant.bottleneck", "basic, same in/out": "cost.variant.basic_wide",
                    "basic, inner width": "cost.variant.basic_narrow"}
    names = [t(variant_keys[v["block"]]) for v in variants]
    channels = [f"({'→'.join(map(str, v['channels']))})" for v in variants]
    labels = [f"{n} {c}" for n, c in zip(names, channels)]
    axis_labels = [f"{n}<br>{c}" for n, c in zip(names, channels)]  # two short lines, level on the left of horizontal bars
    b1, b2 = st.columns(2)
    with b1:
        chart(cost_plots.bars(axis_labels, {t("col.params"): [v["params"] for v in variants]}, t("col.params"), stacked=False, log_y=True,
                              height=280, horizontal=True),
              t("cost.bn_params_summary", variants=listing(labels, [v["params"] for v in variants])), key="bn_params")
    with b2:
        chart(cost_plots.bars(axis_labels, {t("col.macs"): [v["macs"] for v in variants]}, t("cost.macs_56"), stacked=False, log_y=True,
                              height=280, horizontal=True),
              t("cost.bn_macs_summary", variants=listing(labels, [v["macs"] for v in variants])), key="bn_macs")
    bott, wide_basic = variants[0], variants[1]
    # the same function and words as the Why page's Q3: conv weights, and parameters with BN
    st.markdown(t(
        "cost.bottleneck_reading", wide=4 * width, width=width,
        bott=t("count.weights_params", weights=f"{bott['weights']:,}", params=f"{bott['params']:,}"),
        basic=t("count.weights_params", weights=f"{wide_basic['weights']:,}", params=f"{wide_basic['params']:,}"),
        ratio=f"{wide_basic['weights'] / bott['weights']:.0f}", macs_ratio=f"{wide_basic['macs'] / bott['macs']:.0f}",
    ))


def measured(depth: int, size: int) -> None:
    """Latency measured on this machine: dygraph against the fast path."""
    st.header(t("cost.measured"))
    st.markdown(t("cost.measured_body"))
    measure_batch, repeats = 1, 7
    if not classroom():  # presenter mode measures with the defaults
        mb1, mb2 = st.columns(2)
        measure_batch = int(mb1.number_input(t("arch.batch"), 1, 16, measure_batch, key="measure_batch"))
        repeats = int(mb2.number_input(t("cost.repeats"), 3, 21, repeats, key="measure_repeats"))
    if st.button(t("cost.measure", depth=depth, size=size), type="primary"):
        bar = st.progress(0.0, text=t("cost.step.build"))
        try:
            # in the inference service, which keeps the fast path of these weights for the next measurement
            result = service.call("resnet.inference.served:latency", key=f"latency:{depth}", timeout=MEASURE_TIMEOUT_S,
                                  progress=lambda f, step: bar.progress(min(f, 1.0), text=t("cost.step." + step)),
                                  depth=depth, batch=measure_batch, size=size, repeats=repeats)
            st.session_state["latency"] = result
        except MemoryError:  # the model did not fit in the inference service's memory
            st.error(t("error.memory"), icon="🛑")
        except (ValueError, RuntimeError, OSError) as error:
            st.error(t("cost.measure_failed", error=safe_reason(error)))
        bar.empty()
    result = st.session_state.get("latency")
    if result:
        l1, l2, l3, l4 = metric_columns(4)
        l1.metric(t("cost.dygraph"), f"{result['dygraph_ms']:.0f} ms", help=t("cost.gflops", g=f"{result['dygraph_gflops']:.1f}"))
        l2.metric(t("cost.fast"), f"{result['fast_ms']:.0f} ms", help=t("cost.gflops", g=f"{result['fast_gflops']:.1f}"))
        l3.metric(t("cost.speedup"), f"{result['speedup']:.1f}×")
        l4.metric(t("cost.gflops_label"), f"{result['dygraph_gflops']:.1f} → {result['fast_gflops']:.1f}")
        st.caption(t("cost.measured_caption", depth=result["depth"], batch=result["batch"], size=result["image_size"],
                     backend=result["backend"], threads=result["threads"], n=len(result["fast_times"])))
        if result.get("notice"):
            st.warning(result["notice"])


depth, batch, size = settings()
by_stage(depth, batch, size)
versus_vgg(size)
course_estimate()
bottleneck()
measured(depth, size)
sync_url("depth", "batch", "size", "width")
