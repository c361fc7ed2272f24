"""What the Training lab page's parts share: the translator, the lab, the widget keys, the run picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st

from pages.common.ui import safe_reason
from resnet.i18n import Translator
from resnet.lab import session
from resnet.lab.store import RunInfo

MAX_COMPARE = 12  # runs on the chart at once: more and the legend outgrows the chart
FLASH = "_lab_flash"  # the answer to the last action taken outside the live region (shown once)
LIVE_NOTICE = "_lab_live_notice"  # …and to one taken inside it (its buttons rerun only the region)
SNAPSHOT = "_lab_snapshot"  # what the live region read from the store at its last tick
STALE = "_lab_snapshot_stale"  # True: its next tick reads the store afresh


@dataclass(frozen=True)
class LabPage:
    """One run of the page: its language, the lab it shows, the session-state key of each URL setting."""

    t: Translator
    lab: session.Lab
    keys: dict[str, str]  # URL name → widget key ("runs" → "lab.runs")
    folders: list[str]  # the operator's data folders
    datasets: tuple[str, ...]  # the data sets a visitor may pick

    def store_error(self, exc: object) -> str:
        return self.t("lab.store_error", reason=safe_reason(exc))

    def chosen(self, runs: Sequence[RunInfo]) -> list[RunInfo]:
        """The runs picked for the chart, in the order they were picked."""
        by_id = {r.id: r for r in runs}
        return [by_id[i] for i in st.session_state.get(self.keys["runs"], []) if i in by_id]


def flash(kind: str, text: str) -> None:
    """Say ``text`` (st.success, st.info, st.error…) once, in the flash slot of the next page run."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    kind, text = st.session_state.pop(FLASH, (None, None))
    if kind:
        getattr(st, kind)(text)


def refresh_live() -> None:
    """The live region's next tick reads the store afresh (an action changed what it holds)."""
    st.session_state[STALE] = True


def live_notice(text: str) -> None:
    """Say ``text`` (an error) once, at the top of the live region."""
    st.session_state[LIVE_NOTICE] = text
