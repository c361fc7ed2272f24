"""AppTest on the two prediction panels (pages/common/predictions.py), each in a small script that calls it
with a class of a throwaway store: the teacher opens a question and sees the answers counted, then reveals;
a student answers once, and after the reveal sees the measured result beside the class's answers."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import predictions as panels
from resnet.i18n import LANGS, MISSING, Translator
from resnet.lab.predictions import QUESTIONS
from resnet.lab.store import RunStore
from tests.pages.test_pages import rendered_text

TEACHER = "f" * 32  # the class's teacher as the store knows it (a session hash)


def teacher_app(address: str, lang: str = "en", page: str | None = "app.py") -> None:
    import streamlit as st

    from pages.common import predictions, roles
    from resnet.i18n import Translator
    from resnet.lab.store import RunStore

    store = RunStore(address)
    if "code" not in st.session_state:  # this session leads the class, as classroom.py's "Lead the class" makes it
        st.session_state["code"] = store.open_class(roles.session_hash(), page or "app.py", "")
    predictions.teacher_panel(Translator(lang), store, st.session_state["code"], page)


def student_app(address: str, code: str, lang: str = "en") -> None:
    from pages.common import predictions
    from resnet.i18n import Translator
    from resnet.lab.store import RunStore

    predictions.student_panel(Translator(lang), RunStore(address), code)


@pytest.fixture
def store(tmp_path) -> RunStore:
    panels._STATES.clear()  # the followers' shared read: each test starts from the store
    return RunStore(tmp_path / "runs.sqlite")


def run(at: AppTest) -> AppTest:
    panels._STATES.clear()  # the store changed since the last run (another session answered, the teacher revealed)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return run(at)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_the_teacher_opens_a_question_sees_answers_arrive_and_reveals(store):
    t = Translator("en")
    at = run(AppTest.from_function(teacher_app, args=(store.address,), default_timeout=60))
    code = at.session_state["code"]
    assert t("predict.teacher.idle") in captions(at)
    assert at.selectbox(key="predict_question_page").options == [t(f"predict.{q}.title") for q in
                                                                 ("degradation", "lambda2", "lesion", "landscape")]
    at.selectbox(key="predict_question_page").set_value("degradation")
    click(at, "predict_open")
    state = store.class_prediction(code)
    assert state.prediction.question == "degradation" and state.prediction.status == "open"
    q = QUESTIONS["degradation"]
    assert t("predict.chart.count", choice=t(q.choice_key(1)), n=0) in captions(at)
    store.answer_prediction(state.prediction.id, "student-1", 1, 3)  # two students answer on their own screens
    store.answer_prediction(state.prediction.id, "student-2", 0, 3)
    run(at)
    assert t("predict.chart.count", choice=t(q.choice_key(1)), n=1) in captions(at)
    assert t("predict.chart.count", choice=t(q.choice_key(0)), n=1) in captions(at)
    click(at, "predict_reveal")
    assert store.class_prediction(code).prediction.status == "revealed"
    shown = "\n".join(m.value for m in at.markdown)
    reveal = panels.measured("degradation", "en")
    assert t("predict.result.supported", choice=t(q.choice_key(reveal.supported))) in shown
    assert t(reveal.key, **reveal.values) in shown
    assert t("predict.chart.marked") in captions(at)
    click(at, "predict_close")
    assert store.class_prediction(code) is None and t("predict.teacher.idle") in captions(at)


def test_the_teacher_may_pick_among_every_question():
    t = Translator("en")
    at = AppTest.from_function(teacher_app, args=(str(RunStore().address), "en", "pages/cost.py"), default_timeout=60)
    run(at)
    assert at.selectbox(key="predict_question_page").options == []  # no question belongs to the cost page
    assert t("predict.teacher.none_here") in captions(at) and at.button(key="predict_open").disabled
    at.radio(key="predict_scope").set_value("all")
    run(at)
    picker = at.selectbox(key="predict_question_all")
    assert picker.options == [t(f"predict.{q}.title") for q in QUESTIONS] and picker.value == "degradation"
    assert not at.button(key="predict_open").disabled


def test_a_student_answers_once_then_sees_the_measured_result(store):
    t = Translator("en")
    code = store.open_class(TEACHER, "pages/feature_maps.py", "")
    pid = store.open_prediction(code, TEACHER, "lesion")
    q = QUESTIONS["lesion"]
    at = run(AppTest.from_function(student_app, args=(store.address, code), default_timeout=60))
    assert t(q.question_key) in "\n".join(m.value for m in at.markdown)
    assert [b.label for b in at.button] == [t(q.choice_key(i)) for i in range(len(q.choices))]
    click(at, f"predict_choice_{pid}_1")
    assert store.class_prediction(code).counts == {1: 1}
    assert not at.button  # one answer per session: the choices are gone
    assert at.success[0].value == t("predict.student.answered", choice=t(q.choice_key(1)))
    run(at)
    assert not at.button and store.class_prediction(code).counts == {1: 1}
    store.answer_prediction(pid, "another-student", 3, 4)
    store.reveal_prediction(pid, code, TEACHER)
    run(at)
    shown = "\n".join(m.value for m in at.markdown)
    reveal = panels.measured("lesion", "en")
    assert t("predict.student.yours", choice=t(q.choice_key(1))) in shown
    assert t("predict.result.supported", choice=t(q.choice_key(reveal.supported))) in shown
    assert t("predict.chart.count", choice=t(q.choice_key(3)), n=1) in captions(at)


def test_an_answer_after_the_reveal_is_not_counted(store):
    t = Translator("en")
    code = store.open_class(TEACHER, "app.py", "")
    pid = store.open_prediction(code, TEACHER, "lambda2")
    at = run(AppTest.from_function(student_app, args=(store.address, code), default_timeout=60))
    store.reveal_prediction(pid, code, TEACHER)  # revealed while the student's screen still showed the choices
    at.button(key=f"predict_choice_{pid}_0").click()
    panels._STATES.clear()
    at.run()
    assert store.class_prediction(code).counts == {}
    assert t("predict.student.yours", choice=t(QUESTIONS["lambda2"].choice_key(0))) not in "\n".join(m.value for m in at.markdown)


def test_no_question_draws_nothing_for_the_student(store):
    code = store.open_class(TEACHER, "app.py", "")
    at = run(AppTest.from_function(student_app, args=(store.address, code), default_timeout=60))
    assert not at.markdown and not at.button


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("question_id", list(QUESTIONS))
def test_every_question_revealed_renders_in_both_languages(store, question_id, lang):
    code = store.open_class(TEACHER, "app.py", "")
    pid = store.open_prediction(code, TEACHER, question_id)
    store.answer_prediction(pid, "s", 0, len(QUESTIONS[question_id].choices))
    store.reveal_prediction(pid, code, TEACHER)
    at = run(AppTest.from_function(student_app, args=(store.address, code, lang), default_timeout=60))
    text = rendered_text(at)
    assert MISSING.format("")[0] not in text and Translator(lang)("predict.result.title") in text



def double_click_app(address: str, code: str, prediction_id: int) -> None:
    from pages.common import predictions
    from resnet.i18n import Translator
    from resnet.lab.store import RunStore

    store = RunStore(address)
    predictions._answer(store, prediction_id, 1, 3)  # the click…
    predictions._answer(store, prediction_id, 2, 3)  # …and another of the same session, handled after it
    predictions.student_panel(Translator("en"), store, code)


def test_a_second_click_of_the_same_session_keeps_the_first_answer(store):
    """Two clicks of one session (the second from buttons a tick drew before the first was handled) count once,
    and the session still shows its first answer, not "too late"."""
    t = Translator("en")
    code = store.open_class(TEACHER, "app.py", "")
    pid = store.open_prediction(code, TEACHER, "degradation")
    at = run(AppTest.from_function(double_click_app, args=(store.address, code, pid), default_timeout=60))
    assert store.class_prediction(code).counts == {1: 1}
    assert [s.value for s in at.success] == [t("predict.student.answered", choice=t(QUESTIONS["degradation"].choice_key(1)))]


def test_open_asks_the_question_picked_just_before_the_click(store):
    """A teacher who picks a question and clicks Open before the pick's own rerun is drawn opens that question,
    not the one the button was drawn with."""
    at = run(AppTest.from_function(teacher_app, args=(store.address,), default_timeout=60))
    at.selectbox(key="predict_question_page").set_value("lambda2")
    at.button(key="predict_open").click()  # in the same round trip as the pick
    run(at)
    assert store.class_prediction(at.session_state["code"]).prediction.question == "lambda2"
