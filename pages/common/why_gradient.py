"""The Why page's Q1, measured on the gradient itself: which path it takes back through each block.

He et al. 2016 (Identity Mappings), Eqs. 4-5 (and Eq. 8 for a multiplied shortcut), measured by
``resnet.lab.analyses.gradient_split`` in a task process; this draws what the run store holds:
progress and Cancel while it computes, then the chart and the sentences computed from it.
No Paddle here.
"""

from __future__ import annotations

import math

import streamlit as st

from pages.common.ui import chart, md_escape, measurement_ready, safe_reason
from resnet.i18n import Translator
from resnet.inference.gradient_record import SAME_SHAPE, BlockSplit, typical
from resnet.lab.analyses import gradient_split as measurement
from resnet.lab.store import StoreError, store_address
from resnet.plots.gradient_split import family_colour, family_label, gradient_split_figure

LIVE_S = 1.0  # the section looks at its task this often while it computes


def gradient_split(t: Translator) -> None:
    """The section: the paper's argument, then the measurement (started here if the store does not hold it)."""
    st.subheader(t("why.grad_title"))
    st.markdown(t("why.grad_body", depth=measurement.DEPTH))
    try:  # one measurement, no settings: the first visitor starts it, every later one reads it
        artifact = measurement.start(store_address())
    except StoreError as exc:
        st.error(t("why.measure_store", reason=safe_reason(exc)), icon="🛑")
        return
    st.fragment(run_every=None if artifact.status == "done" else LIVE_S)(_measured)(t)


def _again() -> None:
    try:
        measurement.restart(store_address())
    except StoreError:  # the fragment says so at its next look
        pass


def _cancel() -> None:
    try:
        measurement.cancel(store_address())
    except StoreError:
        pass


def _measured(t: Translator) -> None:
    try:
        artifact = measurement.start(store_address())  # as stored: a failed or cancelled one is not started again
    except StoreError as exc:
        st.error(t("why.measure_store", reason=safe_reason(exc)), icon="🛑")
        return
    if not measurement_ready(artifact, t, measuring=t("why.grad_measuring"), key="why_grad", cancel=_cancel, again=_again):
        return
    families = measurement.families(artifact.payload)
    nets = measurement.trained(artifact.payload)
    at_init = [(family_label(f.unit, f.shortcut, f.scale), family_colour(f.name, f.scale), splits) for f, splits in families]
    trained = [(t("why.grad_trained_label", label=label), family_colour(f.name, f.scale), splits) for label, f, splits in nets]
    named = [f"{family_label(f.unit, f.shortcut, f.scale)} = {t(f'variant.unit.{f.unit}')} + {t(f'variant.shortcut.{f.shortcut}')}"
             for f, _ in families]
    shares = "; ".join(f"{label} {typical(splits, 'identity_share'):.2f}" for label, _, splits in at_init + trained)
    chart(gradient_split_figure(at_init, trained, t), t("why.grad_summary", families="; ".join(named), shares=shares),
          config={"displayModeBar": False}, key="gradient_split_chart")
    st.markdown(t("why.grad_reading", **reading_values(families)))
    for label, family, splits in nets:  # the trained nets with a shortcut: a plain net's share is 0 by construction
        if family.shortcut == "none":
            continue
        share = [s.identity_share for s in splits]
        median = typical(splits, "identity_share")
        st.markdown(t(f"why.grad_trained.{'most' if median > 0.5 else 'less'}", label=md_escape(label), blocks=len(splits),
                      unit=t(f"variant.unit.{family.unit}"), lo=f"{min(share):.2f}", hi=f"{max(share):.2f}", median=f"{median:.2f}"))


def reading_values(families: list[tuple[measurement.Family, list[BlockSplit]]]) -> dict[str, str]:
    """The figures the reading quotes, from this very measurement: per family the shortcut's gain
    (median over the blocks that keep their shape), the product of those blocks' gains, and the
    identity share's range at initialisation."""
    values: dict[str, str] = {}
    for family, splits in families:
        kept = [s for s in splits if s.shortcut_kind in SAME_SHAPE]
        values[f"{family.name}_gain"] = f"{typical(splits, 'shortcut_gain'):.2f}"
        values[f"{family.name}_product"] = f"{math.prod(s.shortcut_gain for s in kept):.3g}"
        values[f"{family.name}_lo"] = f"{min(s.identity_share for s in splits):.2f}"
        values[f"{family.name}_hi"] = f"{max(s.identity_share for s in splits):.2f}"
        if family.name == "full_preact":  # the blocks the products run over (a plain net's stage starts keep none)
            values["kept"] = str(len(kept))
    return values
