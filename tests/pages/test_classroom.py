"""AppTest on the class mode (pages/common/classroom.py): the teacher's class panel, publishing, the follower's banner.

Teacher and students are separate AppTest sessions of one process on one store (the test's data folder).
"""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image
from streamlit.testing.v1 import AppTest

from pages.common import classroom, roles, turns
from resnet.i18n import catalog
from resnet.lab.store import RunStore
from tests.helpers import REPO, query_param

EN = catalog("en")


@pytest.fixture(autouse=True)
def fresh_reads(monkeypatch):
    """Every look at a class reads the store (no 0.5 s cache between the sessions' steps)."""
    monkeypatch.setattr(classroom, "READ_EVERY_S", 0.0)


def session(script: str = "app.py", **params: str) -> AppTest:
    at = AppTest.from_file(str(REPO / script), default_timeout=180)
    at.query_params.update({"lang": "en", **params})
    return at


def ran(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, key: str):
    return next(b for b in [*at.button, *at.sidebar.button] if b.key == key)


def press(at: AppTest, key: str) -> AppTest:
    button(at, key).click()
    return ran(at)


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def lead(script: str = "app.py", **params: str) -> tuple[AppTest, str]:
    """A teacher's session on ``script`` that pressed "Lead the class"; with its code."""
    teacher = ran(session(script, **params))
    press(teacher, "_class_lead_button")
    return teacher, teacher.session_state["_class_lead"]


def test_a_page_without_a_class_draws_no_class_text():
    at = ran(session())
    texts = [*infos(at), *(w.value for w in at.warning), *(m.value for m in at.markdown)]
    class_texts = [EN[key].split("{")[0] for key in EN if key.startswith("class.")]
    assert not [text for text in texts if any(text.startswith(start) for start in class_texts)]
    assert query_param(at, "class") is None


def test_lead_the_class_shows_the_code_the_join_link_and_its_qr_code():
    teacher, code = lead("pages/cost.py", depth="18")
    assert EN["class.leading"].format(code=code) in [m.value for m in teacher.markdown]
    assert [c.value for c in teacher.code][-1].endswith(f"/?class={code}")
    assert len(teacher.get("image")) == 1  # the QR code
    view = RunStore().class_view(code)
    assert (view.page, view.version, view.ended) == ("pages/cost.py", 1, False)
    assert "depth=18" in view.query.split("&") and "class=" not in view.query


def test_the_qr_code_is_the_join_links_modules_at_projector_scale():
    link = "http://192.168.1.20:8501/?class=AAAAAAAAAAAAAAAA"
    image = Image.open(io.BytesIO(classroom.qr_png(link))).convert("L")
    modules = segno.make(link, error="m").matrix
    size = len(modules) + 8  # a quiet zone of 4 modules each side
    assert image.size == (size * classroom.QR_SCALE,) * 2 and image.size[0] >= 250
    read = [[image.getpixel(((x + 4.5) * classroom.QR_SCALE, (y + 4.5) * classroom.QR_SCALE)) < 128 for x in range(len(modules))]
            for y in range(len(modules))]
    assert read == [[bool(m) for m in row] for row in modules]


def test_publishing_counts_a_change_once():
    teacher, code = lead("pages/architecture.py")
    ran(teacher)  # the same view again: nothing to publish
    assert RunStore().class_view(code).version == 1
    teacher.number_input(key="arch.batch").set_value(7)
    ran(teacher)
    view = RunStore().class_view(code)
    assert view.version == 2 and "batch=7" in view.query.split("&")


def test_a_student_following_the_join_link_sees_the_teachers_page_and_settings():
    teacher, code = lead("pages/architecture.py", depth="18")
    student = ran(session("pages/architecture.py", depth="101"))  # their own view first: kept for the page
    student.query_params.clear()
    student.query_params.update({"lang": "en", "class": code})
    ran(student)
    assert EN["class.following"] in infos(student)
    assert student.session_state["arch.depth"] == 18 and query_param(student, "class") == code


def test_the_follower_goes_where_the_teacher_goes_then_explores_and_comes_back():
    teacher, code = lead()
    student = ran(session(**{"class": code}))
    ran(teacher.switch_page("pages/cost.py"))
    ran(student)  # the follow fragment's tick, as a run
    assert student.title[0].value == EN["cost.title"]
    press(student, "_class_explore")
    assert EN["class.exploring"] in infos(student) and query_param(student, "class") is None
    teacher.number_input(key="cost.batch").set_value(3)
    ran(teacher)
    ran(student)
    assert student.session_state["cost.batch"] != 3  # on their own: the teacher's change does not reach them
    press(student, "_class_back")
    assert EN["class.following"] in infos(student) and student.session_state["cost.batch"] == 3


def test_a_followers_page_run_takes_its_turn_and_ends_it_once_drawn_and_others_take_none(monkeypatch):
    """Followers' page runs go one at a time (pages/common/turns.py), from page_setup to sync_url."""
    said = []

    class Recorded(turns.Turns):
        def take(self, who: str) -> None:
            said.append(("take", who))
            super().take(who)

        def end(self, who: str) -> None:
            if self.holder == who:
                said.append(("end", who))
            super().end(who)

    monkeypatch.setattr(turns, "FOLLOWERS", Recorded())
    teacher, code = lead()
    student = ran(session(**{"class": code}))  # joins (this run began before it followed)
    token = student.session_state[roles._TOKEN]
    ran(teacher.switch_page("pages/cost.py"))
    ran(student)  # the look that sees the move, and the move's page run
    assert student.title[0].value == EN["cost.title"]
    assert said[-2:] == [("take", token), ("end", token)] and turns.FOLLOWERS.holder is None
    assert all(who == token for _, who in said)  # the teacher's runs take no turn
    press(student, "_class_explore")
    before = len(said)
    ran(student)
    assert len(said) == before  # exploring on their own: no turn


def test_ending_the_class_tells_the_followers_and_stops_following():
    teacher, code = lead()
    student = ran(session(**{"class": code}))
    press(teacher, "_class_end")
    assert EN["class.ended_by_you"] in infos(teacher) and "_class_lead" not in teacher.session_state
    assert RunStore().class_view(code).ended
    ran(student)
    assert EN["class.ended"] in [w.value for w in student.warning]
    ran(student)
    assert not infos(student) and not student.warning  # said once; the page is the student's own again


@pytest.mark.parametrize("code", ["AAAAAAAAAAAAAAAA", "x", "a b", "A" * 200])
def test_an_unknown_or_malformed_code_says_so_and_does_nothing_else(code, monkeypatch):
    looked: list[str] = []
    real = RunStore.class_view
    monkeypatch.setattr(RunStore, "class_view", lambda self, c: looked.append(c) or real(self, c))
    student = ran(session(**{"class": code}))
    assert [w.value for w in student.warning] == [EN["class.unknown"]]
    assert "_class_follow" not in student.session_state and not infos(student)
    assert looked == ([code] if len(code) == 16 else [])  # a malformed code never reaches the store


def test_a_student_on_a_server_with_a_teacher_key_cannot_lead(monkeypatch):
    monkeypatch.setenv(roles.ENV_KEY, "correct horse")
    at = ran(session())
    assert "_class_lead_button" not in [b.key for b in at.sidebar.button]


def test_a_session_of_a_timed_out_class_leads_no_more(monkeypatch):
    teacher, code = lead()
    with RunStore()._tx() as con:
        con.execute("UPDATE classes SET seen_at = seen_at - 31 * 60")
    ran(teacher.switch_page("pages/cost.py"))  # its sign of life comes too late
    assert "_class_lead" not in teacher.session_state and "_class_lead_button" in [b.key for b in teacher.sidebar.button]
    assert EN["class.timed_out"] in [w.value for w in teacher.warning]
    assert RunStore().class_view(code).ended


def test_a_move_undone_by_a_stale_tick_is_made_again():
    """A tick the browser sent before it learnt of a move folds into the move's rerun with the old page and query:
    the page run after the move finds itself elsewhere and moves again."""
    teacher, code = lead("pages/cost.py", batch="3")
    student = ran(session(**{"class": code}))
    assert student.title[0].value == EN["cost.title"] and student.session_state["cost.batch"] == 3
    target = student.session_state["_class_seen"]
    student.session_state["_class_arriving"] = ("pages/cost.py", {"lang": "en", "batch": "3", "class": code}, 1)
    ran(student.switch_page("pages/architecture.py"))  # the stale request: the page before the move
    assert student.title[0].value == EN["cost.title"] and student.session_state["cost.batch"] == 3
    assert student.session_state["_class_seen"] == target


def _sidebar_callbacks_after_their_widgets_went() -> None:
    import streamlit as st

    from pages.common import ui

    ui._set_lang()
    ui._set_classroom()
    st.session_state["_lang_choice"] = 0  # a forged value (the radio's state is its option's name)
    ui._set_lang()


def test_the_sidebars_callbacks_keep_the_settings_when_their_widgets_value_is_gone_or_forged():
    """The sidebar's callbacks, called (as Streamlit may, on a follower's move that folded in the browser's stale
    widget states) when their widget's value is gone: no error (it stopped the new page before it drew), and the
    session's language and classroom mode stay as they were."""
    at = AppTest.from_function(_sidebar_callbacks_after_their_widgets_went, default_timeout=60)
    at.session_state["lang"] = "zh"
    at.session_state["classroom"] = True
    ran(at)
    assert at.session_state["lang"] == "zh" and at.session_state["classroom"] is True


@pytest.mark.parametrize(("fragment", "tick_page", "current", "stale"), [
    ("f1", "old", "new", True),  # a tick for the page the server moved the session from
    ("f1", "new", "new", False),  # a tick of the page it shows
    ("", "old", "new", False),  # a full run (a link, a widget): the browser's own choice of page
    ("f1", "old", "", False),  # before the session's first run
    ("f1", "", "new", False),  # a request that names no page
])
def test_only_a_fragments_tick_naming_another_page_than_the_sessions_is_stale(fragment, tick_page, current, stale):
    from streamlit.proto.ClientState_pb2 import ClientState

    from pages.common.stale_ticks import is_stale

    assert is_stale(ClientState(fragment_id=fragment, page_script_hash=tick_page), current) is stale
    assert not is_stale(None, current)
