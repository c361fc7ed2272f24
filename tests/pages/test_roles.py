"""Issue 24, roles on a shared server (``pages/common/roles.py``), through the pages (AppTest).

Without a teacher key nothing changes: no field, anyone cancels any run. With one, a session is a
student until it types the key in the sidebar: a student cancels only the runs it queued (the
button is disabled with the reason, and a request made anyway is refused where it is carried
out), has one run in the queue at a time, and starts neither the finest landscape grid nor the
shipped models' live lesion study. Wrong keys are rate-limited per session and per process
(the clock is a fake one that the tests move on), and the key shows nowhere: not on any page,
in the URL, the share link or the log.
"""

from __future__ import annotations

import logging
import os

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import roles
from pages.common.lab_analyses import GRID_KEY
from resnet.i18n import Translator
from resnet.lab import pools, surfaces
from resnet.lab.config import TrainConfig
from resnet.lab.store import RunStore
from resnet.plots.curves import duration
from tests.helpers import REPO, open_page
from tests.pages.test_landscape_pages import finish_with_weights
from tests.pages.test_lab_page import TINY, QueueOnlyPool
from tests.pages.test_pages import PAGES, rendered_text

KEY = "s3cret-Teacher-Key-7Q"
OTHER = "f" * 32  # another browser session's hash
RUN = TrainConfig(depth=20, width=4, batch_size=16, steps=6, eval_every=3, warmup_steps=0, seed=5)


class Clock:
    """``roles._clock``, moved on by the test instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(roles, "_clock", fake)
    monkeypatch.setattr(roles, "_PROCESS", roles.Throttle(roles.PROCESS_FREE, roles.PROCESS_MAX_WAIT_S))  # this test's process-wide count
    return fake


@pytest.fixture
def teacher_key(monkeypatch, clock) -> str:
    monkeypatch.setenv(roles.ENV_KEY, KEY)
    return KEY


@pytest.fixture
def queue_only(monkeypatch):
    """Runs are queued in the real store and nobody trains them: a run stays where the test put it."""
    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)


def type_key(at: AppTest, text: str) -> AppTest:
    at.text_input(key=roles.KEY_INPUT).input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar_text(at: AppTest) -> str:
    return "\n".join(e.value for e in (*at.sidebar.markdown, *at.sidebar.caption, *at.sidebar.error))


def running_run_of_another_session() -> tuple[RunStore, int]:
    store = RunStore()
    run_id, _ = store.enqueue(RUN, OTHER)
    assert store.claim_next(os.getpid())[0] == run_id  # training (no worker: it stays so)
    return store, run_id


def force_click(at: AppTest, key: str) -> AppTest:
    """Press a disabled button as a hand-made request would (AppTest, like a browser, refuses to press it;
    Streamlit drops such a press before any callback)."""
    button = at.button(key=key)
    assert button.disabled
    button.proto.disabled = False
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def press_as_student(at: AppTest, key: str) -> AppTest:
    """Press a button the teacher's page drew (enabled) once the session is a student again: what the press
    does is checked when it runs, not only when the button is drawn."""
    assert not at.button(key=key).disabled
    at.session_state[roles._UNLOCKED] = False
    at.button(key=key).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- Without a key: as before ---


def test_without_a_key_there_is_no_role_and_anyone_cancels_any_run(queue_only, monkeypatch):
    monkeypatch.delenv(roles.ENV_KEY, raising=False)
    store, run_id = running_run_of_another_session()
    at = open_page("pages/lab.py", lang="en")
    t = Translator("en")
    assert roles.KEY_INPUT not in [w.key for w in at.text_input]
    assert t("roles.teacher_help") not in sidebar_text(at) and t("roles.student", n=roles.STUDENT_QUEUE) not in sidebar_text(at)
    button = at.button(key=f"cancel_{run_id}")
    assert not button.disabled and not button.help
    button.click().run()
    assert store.get_run(run_id).cancel_requested


# --- A student ---


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_student_cannot_cancel_another_sessions_run_even_by_a_request_made_anyway(teacher_key, queue_only, lang):
    store, run_id = running_run_of_another_session()
    t = Translator(lang)
    at = open_page("pages/lab.py", lang=lang)
    assert t("roles.student", n=roles.STUDENT_QUEUE) in sidebar_text(at)
    button = at.button(key=f"cancel_{run_id}")
    assert button.disabled and button.help == t("roles.not_yours", id=run_id)
    force_click(at, f"cancel_{run_id}")
    assert not store.get_run(run_id).cancel_requested
    type_key(at, KEY)
    press_as_student(at, f"cancel_{run_id}")
    run = store.get_run(run_id)
    assert (run.status, run.cancel_requested) == ("running", False)  # refused where the cancel is carried out
    assert t("roles.not_yours", id=run_id) in [e.value for e in at.error]  # …and said, in the student's language


def test_a_student_has_one_run_in_the_queue_and_cancels_it(teacher_key, queue_only):
    t = Translator("en")
    at = open_page("pages/lab.py", **{"lang": "en", **TINY})
    at.button(key="train").click().run()
    store = RunStore()
    (own,) = store.list_runs(source="live")
    assert any(f"Queued as run #{own.id}" in m.value for m in at.toast)
    at.number_input(key="lab.seed").set_value(12).run()
    at.button(key="train").click().run()
    assert t("roles.queue_busy", ids=f"#{own.id}", limit=1) in [e.value for e in at.error]
    assert [r.id for r in store.list_runs(source="live")] == [own.id]
    at.number_input(key="lab.seeds").set_value(2).run()
    assert not at.button(key=f"cancel_{own.id}").disabled  # its own run: the student may cancel it
    at.button(key=f"cancel_{own.id}").click().run()
    assert store.get_run(own.id).status == "cancelled"
    at.button(key="train").click().run()  # the queue is free, but two seeds are two runs
    assert t("roles.queue_too_many", asked=2, limit=1) in [e.value for e in at.error]
    assert len(store.list_runs(source="live")) == 1


def test_a_student_starts_no_landscape_at_the_finest_grid(teacher_key, queue_only, tmp_path, no_task_processes):
    t = Translator("en")
    store = RunStore()
    run_id, _ = store.enqueue(RUN)
    finish_with_weights(store, [run_id], tmp_path)
    at = open_page("pages/lab.py", lang="en", runs=str(run_id))
    assert not at.button(key="lab_landscape_compute").disabled  # the default grid is anyone's
    at.segmented_control(key=GRID_KEY).set_value(roles.FINEST_GRID).run()
    reason = t("roles.landscape", size=roles.FINEST_GRID)
    assert at.button(key="lab_landscape_compute").disabled and reason in " ".join(i.value for i in at.info)
    force_click(at, "lab_landscape_compute")
    type_key(at, KEY)
    press_as_student(at, "lab_landscape_compute")
    assert not [task for task in no_task_processes.tasks if task.kind in (surfaces.SURFACE, surfaces.INTERPOLATION)]
    assert reason in [e.value for e in at.error]
    type_key(at, KEY)  # the teacher may
    at.button(key="lab_landscape_compute").click().run()
    assert {task.kind for task in no_task_processes.tasks} >= {surfaces.SURFACE, surfaces.INTERPOLATION}


def test_a_student_cannot_start_or_cancel_the_live_lesion_study(teacher_key, no_task_processes):
    t = Translator("en")
    at = open_page("pages/feature_maps.py", timeout=300, lang="en")
    button = at.button(key="veit_recompute")
    assert button.disabled and button.help == t("roles.lesions") and t("roles.lesions") in [c.value for c in at.caption]
    force_click(at, "veit_recompute")
    type_key(at, KEY)
    press_as_student(at, "veit_recompute")
    assert not no_task_processes.tasks and t("roles.lesions") in [m.value for m in at.toast]
    type_key(at, KEY)
    at.button(key="veit_recompute").click().run()
    assert [task.kind for task in no_task_processes.tasks] == ["lesion", "lesion"]  # the teacher's press starts it


# --- The teacher ---


def test_the_teacher_unlocks_once_and_cancels_any_run(teacher_key, queue_only):
    store, run_id = running_run_of_another_session()
    t = Translator("en")
    at = open_page("pages/lab.py", lang="en")
    type_key(at, KEY)
    assert t("roles.teacher_help") in sidebar_text(at) and roles.KEY_INPUT not in [w.key for w in at.text_input]
    button = at.button(key=f"cancel_{run_id}")
    assert not button.disabled
    button.click().run()
    assert store.get_run(run_id).cancel_requested
    at.run()  # still the teacher on the next run of the page
    assert t("roles.teacher_help") in sidebar_text(at)


def test_the_key_can_come_from_streamlits_secrets(monkeypatch, clock):
    monkeypatch.delenv(roles.ENV_KEY, raising=False)
    at = AppTest.from_file(str(REPO / "pages" / "cost.py"), default_timeout=120)
    at.secrets[roles.ENV_KEY] = KEY
    at.query_params["lang"] = "en"
    at.run()
    assert roles.KEY_INPUT in [w.key for w in at.text_input]
    type_key(at, KEY)
    assert Translator("en")("roles.teacher_help") in sidebar_text(at)


# --- Wrong keys ---


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_wrong_keys_are_refused_then_rate_limited_with_a_growing_wait(teacher_key, clock, lang):
    t = Translator(lang)
    at = open_page("pages/cost.py", lang=lang)
    for _ in range(roles.SESSION_FREE - 1):
        type_key(at, "guess")
        assert [e.value for e in at.sidebar.error] == [t("roles.wrong_key")]
        assert at.text_input(key=roles.KEY_INPUT).value == ""  # emptied after each attempt
    type_key(at, "guess")  # the last free one: wrong, and the next waits
    first_wait = duration(roles.FIRST_WAIT_S, t)
    assert [e.value for e in at.sidebar.error] == [t("roles.wrong_key") + " " + t("roles.wait", wait=first_wait)]
    type_key(at, KEY)  # even the right key waits its turn
    assert [e.value for e in at.sidebar.error] == [t("roles.wait", wait=first_wait)]
    assert t("roles.teacher_help") not in sidebar_text(at)
    clock.now += roles.FIRST_WAIT_S
    type_key(at, "guess again")  # one more wrong key: the wait doubles
    assert [e.value for e in at.sidebar.error] == [t("roles.wrong_key") + " " + t("roles.wait", wait=duration(2 * roles.FIRST_WAIT_S, t))]
    clock.now += 2 * roles.FIRST_WAIT_S
    type_key(at, KEY)
    assert t("roles.teacher_help") in sidebar_text(at) and not at.sidebar.error


def test_a_new_session_does_not_start_with_fresh_tries(teacher_key, clock, monkeypatch):
    """New tabs are new sessions: the process counts their wrong keys together."""
    monkeypatch.setattr(roles, "_PROCESS", roles.Throttle(free=3))
    t = Translator("en")
    first = open_page("pages/cost.py", lang="en")
    for _ in range(3):
        type_key(first, "guess")
    second = open_page("pages/cost.py", lang="en")  # under the session's own limit, over the process's
    type_key(second, KEY)
    assert [e.value for e in second.sidebar.error] == [t("roles.wait", wait=duration(roles.FIRST_WAIT_S, t))]
    assert t("roles.teacher_help") not in sidebar_text(second)



def test_many_wrong_keys_from_many_tabs_lock_the_teacher_out_for_a_minute_at_most():
    """The process-wide wait is capped (one student must not keep the teacher out of the class);
    a session's own wait keeps doubling."""
    process, session = roles.Throttle(roles.PROCESS_FREE, roles.PROCESS_MAX_WAIT_S), roles.Throttle(roles.SESSION_FREE)
    for i in range(40):
        process.failed(float(i))
        session.failed(float(i))
    assert process.wait_s(40.0) == pytest.approx(roles.PROCESS_MAX_WAIT_S - 1)  # the last wrong key was at 39 s
    assert session.wait_s(40.0) == pytest.approx(roles.MAX_WAIT_S - 1)
    assert roles.PROCESS_MAX_WAIT_S < roles.MAX_WAIT_S


# --- The key shows nowhere ---


@pytest.mark.parametrize("script", ["app.py", *PAGES])
def test_the_key_appears_in_no_page_url_share_link_or_log(teacher_key, queue_only, script, caplog):
    caplog.set_level(logging.DEBUG)
    at = open_page(script, timeout=300, lang="en")
    type_key(at, KEY[:-1])  # a wrong key, one character short
    assert at.text_input(key=roles.KEY_INPUT).value == ""  # not kept in the field either
    type_key(at, KEY)
    at.session_state["_share_open"] = True  # the share box opened: its link is drawn
    at.run()
    assert Translator("en")("roles.teacher_help") in sidebar_text(at)  # unlocked, so everything was typed and handled
    assert [c.value for c in at.sidebar.code]  # the share link is there to look at
    for text in (rendered_text(at), repr(at.query_params), caplog.text):
        assert KEY not in text and KEY[:-1] not in text


def test_a_student_cannot_stop_the_why_pages_shared_measurement_the_teacher_can(teacher_key, no_task_processes):
    """Every visitor of the Why page watches one gradient-split measurement: a student's Cancel is disabled,
    and a press that reaches the server anyway changes nothing."""
    from resnet.lab.analyses import gradient_split as measurement
    from resnet.lab.store import store_address

    t = Translator("en")
    student = open_page("app.py", lang="en")
    button = student.button(key="why_grad_cancel")
    assert button.disabled and button.help == t("roles.shared_cancel")
    from pages.common import ui

    pressed = []
    ui._cancel_shared(pressed.append, "cancel")  # a press that reached the server anyway, from a session not unlocked
    assert pressed == [] and measurement.start(store_address()).status == "running"
    teacher = type_key(open_page("app.py", lang="en"), KEY)
    assert not teacher.button(key="why_grad_cancel").disabled
    teacher.button(key="why_grad_cancel").click().run()
    no_task_processes.compute()
    assert measurement.start(store_address()).status == "cancelled"
