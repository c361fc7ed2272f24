"""Architecture: a real Paddle ResNet built live, layer by layer."""

from __future__ import annotations

import inspect

import pandas as pd
import streamlit as st

from pages.common.ui import classroom, page_setup, stage_name, show_url_notices, sync_url, url_choice, url_int, url_setting

t = page_setup("arch.title")

from resnet.inference import anatomy  # noqa: E402  (imports paddle: after the sidebar is up)
from resnet.model import network  # noqa: E402
from resnet.plots import architecture as architecture_plots  # noqa: E402

network.ensure_dygraph()  # this run's thread (see ensure_dygraph)

DEPTHS = network.IMAGENET_DEPTHS
SIZE_RANGE = (32, 512)
BATCH_RANGE = (1, 256)


@st.cache_resource(show_spinner=False)
def shared_model(depth: int) -> network.ResNet:
    """One read-only model per depth for every session."""
    net = network.resnet(depth)
    net.eval()
    return net


@st.cache_data(show_spinner=False)
def table_rows(depth: int, batch: int, size: int) -> list[anatomy.LayerRow]:
    return anatomy.model_rows(shared_model(depth), batch, size)


@st.cache_data(show_spinner=False)
def forward_check(depth: int, size: int) -> list[str]:
    """Cross-check the table with a real forward pass (batch 1) on a private model."""
    net = network.resnet(depth)  # private: the check hooks layers, the shared model stays clean
    return anatomy.cross_check(net, anatomy.model_rows(net, 1, size))


st.title(t("arch.title"))
st.markdown(t("arch.intro"))

c1, c2, c3 = st.columns(3)
depth = c1.selectbox(t("arch.depth"), DEPTHS, key=url_choice("depth", DEPTHS, 50), format_func=lambda d: f"ResNet-{d}")
batch = c2.number_input(t("arch.batch"), *BATCH_RANGE, key=url_int("batch", *BATCH_RANGE, 10), help=t("arch.batch_help"))
size = c3.number_input(t("arch.size"), *SIZE_RANGE, step=16, key=url_int("size", *SIZE_RANGE, 224), help=t("arch.size_help"))

show_url_notices(t)

with st.spinner(t("arch.building", depth=depth)):
    net = shared_model(depth)
    rows = table_rows(depth, int(batch), int(size))
summary = anatomy.block_summary(rows)
totals = anatomy.totals(rows)
block_names = [b["block"] for b in summary if b["block"].startswith("layer")]

# -- totals -----------------------------------------------------------------------
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric(t("arch.params"), f"{totals.params:,}", help=t("arch.params_help", all=network.count_parameters(net, trainable_only=False)))
m2.metric(t("arch.macs_image"), f"{totals.macs_per_image / 1e9:.2f} G", help=t("arch.macs_help"))
m3.metric(t("arch.macs_batch", n=totals.batch), f"{totals.macs_per_batch / 1e9:.1f} G")
m4.metric(t("arch.blocks"), f"{len(block_names)}", help=" + ".join(str(n) for n in net.config.blocks_per_stage))
with st.spinner(t("arch.checking")):
    problems = forward_check(depth, int(size))
if problems:
    m5.metric(t("arch.check"), "✗")
    st.error(t("arch.check_failed") + "\n\n" + "\n".join(f"- {p}" for p in problems[:20]))
else:
    m5.metric(t("arch.check"), "✓", help=t("arch.check_ok", n=len(rows)))

# -- the network diagram; a click selects a block -----------------------------------
block_key = url_setting("block", block_names[0], str, lambda v: v in block_names)
if st.session_state[block_key] not in block_names:  # depth changed under a deeper block
    st.session_state[block_key] = block_names[0]
show_url_notices(t)

st.subheader(t("arch.diagram"))
st.caption(t("arch.diagram_help"))


def select_clicked_block() -> None:
    """A click on a diagram marker selects that block (runs before the rerun)."""
    points = st.session_state[f"diagram_{depth}"].selection.points
    if points and points[0].get("customdata") in block_names:
        st.session_state[block_key] = points[0]["customdata"]


st.plotly_chart(
    architecture_plots.network_diagram(summary, st.session_state[block_key], t),
    key=f"diagram_{depth}", on_select=select_clicked_block, selection_mode="points",
    config={"displayModeBar": False},
)

# -- the selected block ---------------------------------------------------------------
left, right = st.columns([2, 3])
with left:
    block = st.selectbox(t("arch.block"), block_names, key=block_key)
    info = next(b for b in summary if b["block"] == block)
    st.markdown(t(
        "arch.block_info", name=block, params=f"{info['params']:,}", macs=f"{info['macs'] / 1e9:.3f}",
        shape_in=info["input_shape"], shape_out=info["output_shape"],
    ))
    st.markdown(t("arch.shortcut_projection") if info["projection"] else t("arch.shortcut_identity"))
    block_rows = [r for r in rows if r.block == block]
    st.dataframe(
        pd.DataFrame([{
            t("col.name"): r.name.removeprefix(block + "."), t("col.role"): t("role." + r.role),
            t("col.kernel_shape"): str(list(r.kernel_shape)) if r.kernel_shape else "",
            t("col.stride"): r.stride if r.stride is not None else "", t("col.params"): r.params,
            t("col.output_shape"): str(list(r.output_shape)), t("col.macs"): r.macs,
        } for r in block_rows]),
        hide_index=True, width="stretch",
    )
with right:
    st.plotly_chart(architecture_plots.block_diagram(block_rows, t), config={"displayModeBar": False}, key="block_diagram")

if not classroom():  # presenter mode hides the advanced views
    with st.expander(t("arch.source")):
        block_obj = dict(net.named_blocks())[block]
        st.caption(t("arch.source_help", cls=type(block_obj).__name__))
        st.code(inspect.getsource(network.ResidualBlock.forward_trace) + "\n\n" + inspect.getsource(type(block_obj)), language="python")

    # -- the full table -----------------------------------------------------------------
    st.subheader(t("arch.table"))
    frame = pd.DataFrame([r.as_dict() for r in rows])


    f1, f2, f3 = st.columns([2, 2, 3])
    stages = f1.multiselect(t("arch.filter_stage"), list(dict.fromkeys(frame["stage"])), format_func=lambda s: stage_name(t, s), key="filter_stage")
    kinds = f2.multiselect(t("arch.filter_kind"), list(dict.fromkeys(frame["kind"])), format_func=lambda k: t("kind." + k), key="filter_kind")
    needle = f3.text_input(t("arch.filter_name"), key="filter_name", max_chars=60)
    shown = frame
    if stages:
        shown = shown[shown["stage"].isin(stages)]
    if kinds:
        shown = shown[shown["kind"].isin(kinds)]
    if needle:
        shown = shown[shown["name"].str.contains(needle, regex=False, case=False)]
    display = shown.assign(
        stage=shown["stage"].map(lambda s: stage_name(t, s)),
        kind=shown["kind"].map(lambda k: t("kind." + k)),
        role=shown["role"].map(lambda r: t("role." + r)),
        kernel_shape=shown["kernel_shape"].map(lambda k: str(k) if k else ""),
        input_shape=shown["input_shape"].map(str),
        output_shape=shown["output_shape"].map(str),
    ).rename(columns=lambda c: t("col." + c))
    st.caption(t("arch.table_help", shown=len(shown), total=len(frame)))
    st.dataframe(display, hide_index=True, width="stretch", height=420)
    st.download_button(
        t("arch.csv"), display.to_csv(index=False).encode("utf-8"),
        file_name=f"resnet{depth}_b{batch}_{size}px_layers.csv", mime="text/csv",
    )

# -- where the course slipped, computed from this model ---------------------------------
with st.expander(t("arch.course")):
    pool = anatomy.pooling_rounding()
    convs_in_blocks = sum(1 for r in rows if r.kind == "conv" and r.block.startswith("layer") and r.role != "projection")
    st.markdown(t(
        "arch.course_body", blocks=len(block_names), convs=convs_in_blocks,
        stem_bias="None" if net.conv1.bias is None else "present", bn=int(net.bn1.weight.shape[0]),
        pool_in=pool["input"], pool_floor=pool["paddle_default"], pool_ceil=pool["paddle_ceil_mode"],
    ))

sync_url("depth", "batch", "size", "block")
