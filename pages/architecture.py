"""Architecture: a ResNet layer by layer, for every unit and shortcut of He et al. 2016 (Identity
Mappings): its table and diagrams counted from the block plan (``resnet.plots.plan_table``), checked
against a real Paddle forward pass in the inference service, as the note on the course's slips is
computed there. The page itself loads Paddle only when the lesson's map or the block's source code
is opened (they read the network's own layers and code)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd
import streamlit as st

from pages.common.ui import (chart, classroom, count_columns, metric_columns, page_setup, safe_reason, select_on_click, shared_table,
                             show_url_notices, stage_name, sync_url, url_choice, url_int, variant_option)
from resnet.i18n import Translator
from resnet.lab import service
from resnet.model.plan import variant_problem
from resnet.model.spec import IMAGENET_DEPTHS, SHORTCUT_VARIANTS, UNITS
from resnet.plots import architecture as architecture_plots
from resnet.plots import plan_table
from resnet.plots import variants as variant_plots

if TYPE_CHECKING:  # the annotation only: the network loads Paddle, which this page loads only on request
    from resnet.model.network import ResNet

t = page_setup("arch.title")

DEPTHS = IMAGENET_DEPTHS
SIZE_RANGE = (32, 512)
BATCH_RANGE = (1, 256)
PLOTLY = {"displayModeBar": False}
CHECK_TIMEOUT_S = 120.0  # a fresh ResNet-152 at 512 px, built and run once, on a busy machine


@st.cache_resource(show_spinner=False, max_entries=5)  # keyed on ?depth=
def shared_model(depth: int) -> ResNet:
    """One read-only model per depth for every session: the real layers with their shapes, and no
    weights (``shapes_only``): the lesson's map reads its structure; nothing runs it here."""
    from resnet.model import network  # Paddle: only for the lesson's map, when it is opened
    from resnet.model.modes import ensure_dygraph, shapes_only

    ensure_dygraph()  # this run's thread reads Paddle layers' shapes (see ensure_dygraph)
    with shapes_only():
        return network.resnet(depth)


# keyed on URL values (?depth=&batch=&size=&unit=&shortcut=); shared, not copied per run (cache_data unpickles every
# hit): frozen rows in tuples, only read
@st.cache_resource(show_spinner=False, max_entries=32)
def table_rows(depth: int, batch: int, size: int, unit: str, shortcut: str) -> tuple[tuple[plan_table.PlanRow, ...], tuple[plan_table.BlockSummary, ...]]:
    rows, summary = plan_table.network_rows(depth, batch, size, unit=unit, shortcut=shortcut)
    return tuple(rows), tuple(summary)


@st.cache_data(show_spinner=False, max_entries=16)  # keyed on URL values
def forward_check(depth: int, size: int, unit: str, shortcut: str) -> list[str]:
    """Cross-check the table (batch 1) with a real forward pass of a fresh ResNet of this variant, in the inference service."""
    traced = service.call("resnet.inference.served:traced_table", timeout=CHECK_TIMEOUT_S, depth=depth, size=size,
                          unit=unit, shortcut=shortcut)
    return plan_table.check_rows(table_rows(depth, 1, size, unit, shortcut)[0], traced)


@st.cache_resource(show_spinner=False, max_entries=8)  # keyed on a block class's name
def block_source(block_class: str) -> str:
    """forward_trace's code and the block class's, read once: inspect.getsource parses the whole
    module for a class (ast.parse, which CPython 3.11 cannot run in two threads at once: "AST
    constructor recursion depth mismatch" with 60 sessions in bench/load.py)."""
    from resnet.model import network  # Paddle: only for the source view, when it is opened

    return inspect.getsource(network.ResidualBlock.forward_trace) + "\n\n" + inspect.getsource(getattr(network, block_class))


@st.cache_data(show_spinner=False)
def course_numbers() -> dict[str, Any]:
    """The course's ResNet-50 (batch 10, 224×224): its estimate, our count, its blocks and stem, and
    Paddle's pooling, measured in the inference service (``served.course_note``)."""
    return service.call("resnet.inference.served:course_note", timeout=CHECK_TIMEOUT_S)


def whole(value: float | None) -> str:
    """A padding or stride cell: "2", or empty where the layer has none (never "None", "2.0").

    One type per column (Arrow rejects integers mixed with ""), and the CSV, written from
    the shown table, says 2 where pandas would make an integer column with gaps say 2.0.
    """
    return "" if value is None or value != value else str(int(value))  # value != value: NaN


def settings() -> tuple[int, int, int, str, str]:
    """Depth, batch, input size, unit and shortcut."""
    st.title(t("arch.title"))
    st.markdown(t("arch.intro"))
    c1, c2, c3 = st.columns(3)
    depth = c1.selectbox(t("arch.depth"), DEPTHS, key=url_choice("depth", DEPTHS, 50), format_func=lambda d: f"ResNet-{d}")
    batch = c2.number_input(t("arch.batch"), *BATCH_RANGE, key=url_int("batch", *BATCH_RANGE, 10), help=t("arch.batch_help"))
    size = c3.number_input(t("arch.size"), *SIZE_RANGE, step=16, key=url_int("size", *SIZE_RANGE, 224), help=t("arch.size_help"))
    v1, v2 = st.columns(2)
    unit = v1.selectbox(t("arch.unit"), UNITS, key=url_choice("unit", UNITS, "original"), help=t("arch.unit_help"),
                        format_func=lambda u: variant_option(t, "unit", u))
    shortcut = v2.selectbox(t("arch.shortcut"), SHORTCUT_VARIANTS, key=url_choice("shortcut", SHORTCUT_VARIANTS, "identity"),
                            help=t("arch.shortcut_help"), format_func=lambda s: variant_option(t, "shortcut", s))
    show_url_notices(t)
    return int(depth), int(batch), int(size), unit, shortcut


def totals(rows: Sequence[plan_table.PlanRow], summary: Sequence[plan_table.BlockSummary], depth: int, size: int, unit: str, shortcut: str) -> None:
    """Parameters, MACs, blocks, and the forward pass that checks the table."""
    sums = plan_table.totals(rows)
    per_stage = [sum(1 for b in summary if b.stage == stage) for stage in dict.fromkeys(b.stage for b in summary if b.plan)]
    m1, m2, m3, m4, m5 = metric_columns(5)
    m1.metric(t("arch.params"), f"{sums.params:,}", help=t("arch.params_help", all=sums.with_bn_statistics))
    m2.metric(t("arch.macs_image"), f"{sums.macs_per_image / 1e9:.2f} G", help=t("arch.macs_help"))
    m3.metric(t("arch.macs_batch", n=sums.batch), f"{sums.macs_per_batch / 1e9:.1f} G")
    m4.metric(t("arch.blocks"), f"{sum(per_stage)}", help=" + ".join(str(n) for n in per_stage))
    try:
        with st.spinner(t("arch.checking")):
            problems = forward_check(depth, size, unit, shortcut)
    except MemoryError:  # a ResNet-152 at 512 px in the inference service
        st.error(t("error.memory"), icon="🛑")
        return
    except service.ServiceError as exc:  # a timeout, a service process that died: the table stands, unchecked
        st.error(t("arch.check_unavailable", reason=safe_reason(exc)), icon="🚫")
        return
    if problems:
        m5.metric(t("arch.check"), "✗")
        st.error(t("arch.check_failed") + "\n\n" + "\n".join(f"- {p}" for p in problems[:20]))
    else:
        m5.metric(t("arch.check"), "✓", help=t("arch.check_ok", n=len(rows)))


def diagram(summary: list[dict], depth: int) -> str:
    """The network as a diagram; a click selects a block. Returns the selected block's session key."""
    block_names = [b["block"] for b in summary if b["block"].startswith("layer")]
    block_key = url_choice("block", block_names, block_names[0])  # a shallower net resets a deeper block
    show_url_notices(t)
    st.subheader(t("arch.diagram"))
    st.caption(t("arch.diagram_help"))
    chart_key = f"diagram_{depth}"
    stages = [b["stage"] for b in summary if b["block"].startswith("layer")]
    per_stage = [stages.count(s) for s in dict.fromkeys(stages)]
    chart(
        architecture_plots.network_diagram(summary, st.session_state[block_key], t),
        t("arch.diagram_summary", depth=depth, blocks=len(block_names), stages=len(per_stage),
          per_stage=" + ".join(map(str, per_stage)), projections=sum(b["projection"] for b in summary), block=st.session_state[block_key]),
        key=chart_key, on_select=select_on_click(chart_key, block_key, block_names), selection_mode="points", config=PLOTLY,
    )
    return block_key


def layer_sum(rows: Sequence[plan_table.PlanRow], field: str) -> str:
    """Parameters ("12,345") or MACs for this batch ("0.103") of some rows, as the block texts print them."""
    total = sum(getattr(r, field) for r in rows)
    return f"{total:,}" if field == "params" else f"{total / 1e9:.3f}"


def shortcut_text(info: plan_table.BlockSummary, block_rows: list[plan_table.PlanRow], shortcut: str) -> str:
    """What this block's shortcut is and costs, then what the variant multiplies it by."""
    kind = info.plan.shortcut_kind
    layers = [r for r in block_rows if r.position == "shortcut" and r.kind != "dropout"]
    gate = [r for r in block_rows if r.role == "gate"]
    if kind == "identity":
        text = t("arch.shortcut_identity")
    else:  # projection | conv1x1 | pad | off
        text = t(f"arch.shortcut_{kind}", params=layer_sum(layers, "params"), macs=layer_sum(layers, "macs"))
    if shortcut in ("scaled", "dropout") or gate:
        text += " " + t(f"arch.variant.{shortcut}", params=layer_sum(gate, "params"), macs=layer_sum(gate, "macs"))
    return text


def selected_block(rows: Sequence[plan_table.PlanRow], summary: Sequence[plan_table.BlockSummary], block_key: str, unit: str, shortcut: str) -> None:
    """The block's shapes, shortcut, layers and diagram; its source code outside classroom mode."""
    left, right = st.columns([1, 2])
    with left:
        block = st.selectbox(t("arch.block"), [b.block for b in summary if b.plan], key=block_key)
        info = next(b for b in summary if b.block == block)
        st.markdown(t(
            "arch.block_info", name=block, params=f"{info.params:,}", macs=f"{info.macs / 1e9:.3f}",
            shape_in=list(info.input_shape), shape_out=list(info.output_shape),
        ))
    block_rows = [r for r in rows if r.block == block]
    with right:
        st.markdown(t(f"arch.unit_text.{unit}"))
        st.markdown(shortcut_text(info, block_rows, shortcut))
    # the page's width: with a gate it has three columns (gate, branch, shortcut), readable at classroom size
    convs = [r for r in block_rows if r.position == "branch" and r.kind == "conv"]
    after = " → ".join({"bn": "BN", "relu": "ReLU"}[op] for op in info.plan.after_add) or t("arch.nothing")
    chart(variant_plots.block_diagram(info, block_rows, shortcut, t), t(
        "arch.block_summary", block=block, convs=" → ".join(t("role." + r.role) for r in convs),
        shortcut=t(f"variant.shortcut.{shortcut}"), after=after, params=f"{info.params:,}",
    ), config=PLOTLY, key="block_diagram")
    # the page's width: eight columns (in a column of the page they scrolled sideways)
    st.dataframe(
        pd.DataFrame([{
            t("col.name"): r.name.removeprefix(block + "."), t("col.role"): t("role." + r.role),
            t("col.kernel_shape"): str(list(r.kernel_shape)) if r.kernel_shape else "",
            t("col.stride"): whole(r.stride), t("col.params"): r.params,
            t("col.output_shape"): str(list(r.output_shape)), t("col.macs"): r.macs,
            t("col.position"): t("position." + r.position),
        } for r in block_rows]),
        hide_index=True, width="stretch", column_config=count_columns(t("col.params"), t("col.macs")),
    )
    if not classroom():  # presenter mode hides the advanced views
        # drawn once opened: a code box loads the browser's syntax highlighter, a large part of the page's first open
        with st.expander(t("arch.source"), key="arch_source", on_change="rerun") as source:
            if source.open:
                block_class = "BottleneckBlock" if info.plan.kind == "bottleneck" else "BasicBlock"
                st.caption(t("arch.source_help", cls=block_class))
                st.code(block_source(block_class), language="python")


def five_units(unit: str) -> None:
    """He et al. 2016 (Identity Mappings), Fig. 4 (a)-(e) side by side, the chosen unit framed."""
    st.subheader(t("arch.units"))
    st.caption(t("arch.units_help"))
    chart(variant_plots.units_figure(unit, t), t("arch.units_summary", unit=t(f"variant.unit.{unit}")), config=PLOTLY,
          key="units_figure")


def lesson_code(depth: int) -> None:
    """The lesson's fluid code, name by name, next to this model's; its blocks next to ours."""
    with st.expander(t("arch.lesson"), key="arch_lesson", on_change="rerun") as lesson:
        if not lesson.open:  # its two tables are drawn once opened: Markdown in every cell, slow to lay out
            return
        from resnet.inference import lesson_map  # Paddle: read from the network's own layers

        net = shared_model(depth)  # the original unit's layers, as the lesson builds them
        st.caption(t("arch.lesson_help"))
        # st.table, not st.dataframe: its cells render Markdown (code spans here)
        st.table(pd.DataFrame([{
            t("arch.lesson_col_lesson"): f"`{row.lesson}`", t("arch.lesson_col_ours"): f"`{row.ours}`",
            t("arch.lesson_col_note"): t("arch.lesson." + row.key),
        } for row in lesson_map.ROWS]), hide_index=True)
        if depth not in lesson_map.LESSON_DEPTHS:
            st.caption(t("arch.lesson_no_blocks", depth=depth))
            return
        st.markdown(t("arch.lesson_blocks", depth=depth))
        st.table(pd.DataFrame([{
            t("arch.lesson_col_name"): f"`{p.lesson}`", t("arch.lesson_col_flag"): f"`shortcut={p.identity}`",
            t("arch.lesson_col_stride"): p.stride, t("arch.lesson_col_block"): f"`{p.ours}`",
            t("arch.lesson_col_kind"): f"`{p.kind}`", t("arch.lesson_col_agrees"): "✓" if p.agrees else "✗",
        } for p in lesson_map.block_pairs(net)]), hide_index=True, height=420)


@shared_table()  # keyed on URL values, the language and the filters
def layer_rows(depth: int, batch: int, size: int, unit: str, shortcut: str, lang: str, stages: tuple[str, ...],
               kinds: tuple[str, ...], needle: str) -> list[dict]:
    """The layer table's rows in the reader's language, filtered by stage, kind and name."""
    t = Translator(lang)
    shown = [r.as_dict() for r in table_rows(depth, batch, size, unit, shortcut)[0]
             if (not stages or r.stage in stages) and (not kinds or r.kind in kinds) and needle.casefold() in r.name.casefold()]
    for row in shown:
        row.update(stage=stage_name(t, row["stage"]), kind=t("kind." + row["kind"]), role=t("role." + row["role"]),
                   position=t("position." + row["position"]), kernel_shape=str(row["kernel_shape"]) if row["kernel_shape"] else "",
                   padding=whole(row["padding"]), stride=whole(row["stride"]),
                   input_shape=str(row["input_shape"]), output_shape=str(row["output_shape"]))
    return [{t("col." + column): value for column, value in row.items()} for row in shown]


def layer_table(rows: Sequence[plan_table.PlanRow], depth: int, batch: int, size: int, unit: str, shortcut: str) -> None:
    """Every layer, filtered by stage, kind and name, and as CSV."""
    st.subheader(t("arch.table"))
    f1, f2, f3 = st.columns([2, 2, 3])
    stages = f1.multiselect(t("arch.filter_stage"), list(dict.fromkeys(r.stage for r in rows)), format_func=lambda s: stage_name(t, s),
                            key="filter_stage", placeholder=t("arch.choose"))
    kinds = f2.multiselect(t("arch.filter_kind"), list(dict.fromkeys(r.kind for r in rows)), format_func=lambda k: t("kind." + k),
                           key="filter_kind", placeholder=t("arch.choose"))
    needle = f3.text_input(t("arch.filter_name"), key="filter_name", max_chars=60)
    shown = layer_rows(depth, batch, size, unit, shortcut, t.lang, tuple(stages), tuple(kinds), needle)
    st.caption(t("arch.table_help", shown=shown.num_rows, total=len(rows)))
    st.dataframe(shown, hide_index=True, width="stretch", height=420, column_config=count_columns(t("col.params"), t("col.macs")))
    st.download_button(
        t("arch.csv"), lambda: shown.to_pandas().to_csv(index=False).encode("utf-8"),  # made when pressed
        file_name=f"resnet{depth}_{unit}_{shortcut}_b{batch}_{size}px_layers.csv", mime="text/csv", on_click="ignore",
    )


def course_slips() -> None:
    """Where the course slipped, checked on ResNet-50 (the course's network) whatever depth is shown."""
    with st.expander(t("arch.course")):
        try:
            note = course_numbers()
        except service.ServiceError as exc:  # a timeout, a service process that died: said, not raised
            st.error(t("arch.course_unavailable", reason=safe_reason(exc)), icon="🚫")
            return
        est, pool = note["estimate"], note["pooling"]
        st.markdown(t(
            "arch.course_body", blocks=est["residual_blocks"], per_stage=" + ".join(str(s["blocks"]) for s in est["per_stage"]),
            convs=est["convs_in_blocks"], projections=sum(b["projection"] for b in est["per_block"]),
            stem_bias=est["stem_bias"], bn=est["stem_bn_channels"],
            pool_in=pool["input"], pool_floor=pool["paddle_default"], pool_ceil=pool["paddle_ceil_mode"],
            course_figure=f"{note['course_figure'] / 1e8:.0f}亿",
            course_rounding=f"{10 ** -note['decimals']:g} G", course_rounded=f"{est['course_total_rounded'] / 1e9:.1f} G", course_exact=f"{est['course_total'] / 1e9:.1f} G",
            truth=f"{est['true_total'] / 1e9:.1f} G", ratio=f"{est['overestimate']:.2f}",
        ))


depth, batch, size, unit, shortcut = settings()
if (refusal := variant_problem(unit, shortcut, 1.0, 1.0)) is not None:  # a plain net has no unit to choose
    st.error(t(f"variant.bad.{refusal.code}", **refusal.values), icon="🚫")
    sync_url("depth", "batch", "size", "unit", "shortcut", "block")
    st.stop()
rows, summary = table_rows(depth, batch, size, unit, shortcut)
totals(rows, summary, depth, size, unit, shortcut)
block_key = diagram([b.as_dict() for b in summary], depth)
selected_block(rows, summary, block_key, unit, shortcut)
five_units(unit)
lesson_code(depth)
if not classroom():  # presenter mode hides the advanced views
    layer_table(rows, depth, batch, size, unit, shortcut)
course_slips()
sync_url("depth", "batch", "size", "unit", "shortcut", "block")
