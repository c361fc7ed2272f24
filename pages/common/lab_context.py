"""What the Training lab page's parts share: the translator, the lab, the widget keys, the run picks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st

from pages.common.ui import safe_reason
from resnet.i18n import Translator
from resnet.lab import session

MAX_COMPARE = 12  # runs on the chart at once: more and the legend outgrows the chart
MAX_ANALYSED = 4  # variants the analyses measure at once: landscapes side by side stay legible up to this many
ANALYSED = "lab_analysed"  # the analyses' run picker
ANALYSED_KEPT = "_lab_analysed_kept"  # the visitor's pick there (None: the default), kept apart from the picker's state
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

    def chosen(self, groups: Sequence[session.RunGroup]) -> list[session.RunGroup]:
        """The variants picked for the chart (each by its group's head), in the order they were picked."""
        by_id = {g.id: g for g in groups}
        return [by_id[i] for i in st.session_state.get(self.keys["runs"], []) if i in by_id]


def analysed(chosen: Sequence[session.RunGroup]) -> list[session.RunGroup]:
    """The chosen variants the analyses measure (at most MAX_ANALYSED, in the chart's order): the visitor's
    pick, else the newest live ones (what was just trained), else the first chosen."""
    kept = set(st.session_state.get(ANALYSED_KEPT) or ())
    picked = [g for g in chosen if g.id in kept][:MAX_ANALYSED]
    if not picked:
        newest = sorted((g for g in chosen if not g.reference), key=lambda g: max(r.id for r in g.runs), reverse=True)
        picked = {g.id for g in newest[:MAX_ANALYSED]} or {g.id for g in chosen[:MAX_ANALYSED]}
        picked = [g for g in chosen if g.id in picked]
    return picked


def follow_new_runs() -> None:
    """The analyses go back to their default, the newest live runs: a button just queued some."""
    st.session_state.pop(ANALYSED_KEPT, None)


def heads(groups: Sequence[session.RunGroup], run_ids: Sequence[int]) -> list[int]:
    """``run_ids`` as the picker lists them: each run's group's head, once, in the order first met
    (a run of another seed stands for its variant, as in an older link)."""
    head_of = {run.id: g.id for g in groups for run in g.runs}
    head_of.update((g.head.id, g.id) for g in groups)
    return list(dict.fromkeys(head_of[i] for i in run_ids if i in head_of))


def flash(kind: str, text: str) -> None:
    """Say ``text`` (st.success, st.info, st.error…) once, in the flash slot of the next page run."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    """An error stays in the slot (it must be read); any other answer is a toast, which moves nothing below
    it: the charts hold still while the runs a button queued appear."""
    kind, text = st.session_state.pop(FLASH, (None, None))
    if kind == "error":
        st.error(text)
    elif kind:
        st.toast(text, icon="✅" if kind == "success" else "ℹ️", duration="long")


def refresh_live() -> None:
    """The live region's next tick reads the store afresh (an action changed what it holds)."""
    st.session_state[STALE] = True


def live_notice(text: str) -> None:
    """Say ``text`` (an error) once, at the top of the live region."""
    st.session_state[LIVE_NOTICE] = text
