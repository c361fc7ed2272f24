"""Predict, then see: the teacher asks a class a question, the students answer, then the measurement is revealed.

The questions and what the app measured for each are ``resnet.lab.predictions``; the store keeps a class's
current question and its anonymous answers (``resnet.lab.store.predictions``). Two panels, drawn by
``pages/common/classroom.py``:

- ``teacher_panel`` (the leading session, under the join link): pick a question (of this page, or all),
  Open it; a fragment polling every ``POLL_S`` draws the answers as they arrive (a bar per choice),
  with Reveal and Close. Once revealed, the measured result stands beside the class's answers.
- ``student_panel`` (inside the follower's own ticking fragment): while a question is open, the question
  and one button per choice (one answer per session); after the reveal, the measured result beside the
  class's answers, the supported choice marked. Every follower of a server shares one store read per
  ``READ_EVERY_S`` and class (``shared_reads``), however many are looking.

A result is only marked as the answer when the measurement decides it beyond noise (``Reveal.decided``);
a choice merely ahead is marked as such, and "cannot decide" is said as it is.
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from pages.common import roles
from pages.common.shared_reads import SharedReads
from pages.common.ui import chart, safe_reason
from resnet.i18n import Translator
from resnet.lab.predictions import Question, Reveal, question, questions_for
from resnet.lab.store import RunStore, StoreError
from resnet.lab.store.predictions import PredictionState
from resnet.plots.predictions import answers_figure, answers_summary

POLL_S = 1.0  # the teacher's answers are redrawn this often while the panel is shown
READ_EVERY_S = 0.5  # the followers' shared read of a class's prediction is at most this old
SCOPES = ("page", "all")
_ANSWERS = "_predict_answers"  # prediction id -> this session's choice (or TOO_LATE): never read back from the store
_NOTE = "_predict_note"  # a catalog key (and reason) to say once in the teacher's panel
TOO_LATE = -1  # the answer arrived after the question was revealed or closed


@st.cache_resource(show_spinner=False, max_entries=64)  # frozen: every session reads the one object, no copy
def measured(question_id: str, lang: str) -> Reveal | None:
    """The question's measured result in ``lang`` (the same for every session: computed once per server)."""
    found = question(question_id)
    return found.reveal(Translator(lang)) if found is not None else None


_STATES: SharedReads[PredictionState | None] = SharedReads(READ_EVERY_S)  # (store, class code) → its prediction


def _shared_state(store: RunStore, code: str) -> PredictionState | None:
    """The class's current prediction and its counts, read once per ``READ_EVERY_S`` for all the followers of a server."""
    return _STATES.get((store.address, code), lambda: store.class_prediction(code))


def _choice_texts(t: Translator, q: Question) -> list[str]:
    return [t(q.choice_key(i)) for i in range(len(q.choices))]


def _answers_and_result(t: Translator, q: Question, state: PredictionState, key: str) -> None:
    """The class's answers as a bar chart; once revealed, the measured result right under it (the chart keeps its
    place when the result appears), the supported choice marked in both."""
    reveal = measured(q.id, t.lang) if state.prediction.status == "revealed" else None
    marked = reveal.supported if reveal is not None else None
    decided = reveal is not None and reveal.decided
    choices = _choice_texts(t, q)
    chart(answers_figure(choices, state.counts, t, marked=marked, decided=decided),
          answers_summary(choices, state.counts, t, marked=marked, decided=decided),
          config={"displayModeBar": False}, key=f"{key}_{state.prediction.id}")
    if state.prediction.status != "revealed":
        return
    with st.container(border=True):
        st.markdown(f"**{t('predict.result.title')}**")
        if reveal is None:
            st.info(t("predict.result.missing"), icon="ℹ️")
            return
        if reveal.supported is None:
            st.markdown(t("predict.result.undecided"))
        else:
            st.markdown(t("predict.result.supported" if reveal.decided else "predict.result.ahead", choice=choices[reveal.supported]))
        st.markdown(t(reveal.key, **reveal.values))
        if reveal.note:
            st.caption(t(reveal.note, **reveal.values))


# --- The teacher ---


def _open(store: RunStore, code: str, picker: str) -> None:
    """Open the question the select ``picker`` holds now: read here, not bound when the button was drawn, so a pick
    changed just before the click (its own rerun not drawn yet) is the one opened."""
    question_id = st.session_state.get(picker)
    if question_id is not None and _guarded(store.open_prediction, code, roles.session_hash(), question_id) is None:
        st.session_state.setdefault(_NOTE, ("predict.teacher.not_opened", ""))


def _guarded(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` on the store from a button; a StoreError is said once in the teacher's panel (None then)."""
    try:
        return call(*args)
    except StoreError as exc:
        st.session_state[_NOTE] = ("predict.store_error", safe_reason(exc))
        return None


def _live_answers(t: Translator, store: RunStore, code: str) -> None:
    """The class's current question as the teacher sees it (this fragment polls every ``POLL_S``): its answers
    arriving, Reveal and Close; after the reveal, the measured result under them."""
    if (note := st.session_state.pop(_NOTE, None)) is not None:
        st.warning(t(note[0], reason=note[1]), icon="⚠️")
    try:
        state = store.class_prediction(code)
    except StoreError as exc:
        st.warning(t("predict.store_error", reason=safe_reason(exc)), icon="⚠️")
        return
    q = question(state.prediction.question) if state is not None else None
    if state is None or q is None:
        st.caption(t("predict.teacher.idle"))
        return
    revealed = state.prediction.status == "revealed"
    st.markdown(t("predict.teacher.revealed_now" if revealed else "predict.teacher.open_now", question=t(q.question_key)))
    reveal_button, close_button = st.columns(2)
    reveal_button.button(t("predict.teacher.reveal"), key="predict_reveal", icon="🔎", disabled=revealed,
                         on_click=_guarded, args=(store.reveal_prediction, state.prediction.id, code, roles.session_hash()),
                         help=t("predict.teacher.reveal_help"))
    close_button.button(t("predict.teacher.close"), key="predict_close", icon="⏹️", on_click=_guarded,
                        args=(store.close_prediction, state.prediction.id, code, roles.session_hash()))
    _answers_and_result(t, q, state, "predict_teacher_chart")


def teacher_panel(t: Translator, store: RunStore, code: str, page: str | None = None) -> None:
    """The leading session's predictions for its class ``code``: pick a question (those of ``page``, the teacher's
    script file, or all), Open it, and watch the answers arrive (a polling fragment)."""
    # closed until the teacher opens it: at the top of every page, an open panel would push the page below a
    # projector's fold (the browser keeps it open across the page's reruns once opened)
    with st.expander(t("predict.teacher.title"), icon="❓"):
        scope = st.radio(t("predict.teacher.scope"), SCOPES, horizontal=True, key="predict_scope",
                         format_func=lambda s: t(f"predict.teacher.scope.{s}"))
        options = [q.id for q in questions_for(page if scope == "page" else None)]
        if not options:
            st.caption(t("predict.teacher.none_here"))
        # one select per scope: a pick kept from a list that no longer holds it would leave the select empty
        picker = f"predict_question_{scope}"
        picked = st.selectbox(t("predict.teacher.pick"), options, key=picker, format_func=lambda q: t(f"predict.{q}.title"))
        st.button(t("predict.teacher.open"), key="predict_open", icon="❓", disabled=picked is None, on_click=_open,
                  args=(store, code, picker), help=t("predict.teacher.open_help"))
        st.fragment(run_every=POLL_S)(_live_answers)(t, store, code)


# --- The students ---


def _answer(store: RunStore, prediction_id: int, choice: int, choices: int) -> None:
    """This session's one answer: kept here (to show it back) and counted in the store, anonymously. The first
    answer stays, here as in the store: a second click that arrives anyway (a tick redrew the buttons meanwhile)
    changes nothing."""
    answers = st.session_state.setdefault(_ANSWERS, {})
    if prediction_id in answers:
        return
    try:
        counted = store.answer_prediction(prediction_id, roles.session_hash(), choice, choices)
    except StoreError:
        counted = False
    answers[prediction_id] = choice if counted else TOO_LATE


def student_panel(t: Translator, store: RunStore, code: str) -> None:
    """The followed class's current question in a student's view (drawn at each tick of the follower's fragment):
    the choices to answer once, then, revealed, the measured result beside the class's answers. Nothing when the
    class shows no question; a store out of reach is the follower's banner's to say."""
    try:
        state = _shared_state(store, code)
    except StoreError:
        return
    q = question(state.prediction.question) if state is not None else None
    if state is None or q is None:
        return
    pid = state.prediction.id
    mine = st.session_state.get(_ANSWERS, {}).get(pid)
    with st.container(border=True, key="predict_student"):
        st.markdown(f"**{t('predict.student.title')}**")
        st.markdown(t(q.question_key))
        if state.prediction.status == "open":
            if mine is None:
                for i, text in enumerate(_choice_texts(t, q)):
                    st.button(text, key=f"predict_choice_{pid}_{i}", on_click=_answer, args=(store, pid, i, len(q.choices)),
                              width="stretch")
            elif mine == TOO_LATE:
                st.info(t("predict.student.too_late"), icon="⌛")
            else:
                st.success(t("predict.student.answered", choice=t(q.choice_key(mine))), icon="✅")
            return
        st.caption(t("predict.student.revealed"))
        if mine is not None and mine != TOO_LATE:
            st.markdown(t("predict.student.yours", choice=t(q.choice_key(mine))))
        _answers_and_result(t, q, state, "predict_student_chart")
