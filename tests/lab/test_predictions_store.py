"""The store's predictions (resnet/lab/store/predictions.py): open one at a time per class, answer once per
session, counts only, reveal, close; on SQLite and (marker ``postgres``) PostgreSQL, the same SQL."""

from __future__ import annotations

import pytest

from resnet.lab.store import RunStore
from resnet.lab.store.classes import CLASS_TIMEOUT_S
from tests.lab.test_store import Clock

TEACHER, OTHER = "t" * 32, "o" * 32


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> RunStore:
    clock = Clock()
    if request.param == "sqlite":
        made = RunStore(tmp_path / "runs.sqlite", clock=clock)
    else:
        made = RunStore(request.getfixturevalue("postgres_database")(), clock=clock)
    made.test_clock = clock  # the tests move time
    return made


def test_a_question_is_answered_once_per_session_and_counted_per_choice(store):
    code = store.open_class(TEACHER, "app.py", "lang=en")
    pid = store.open_prediction(code, TEACHER, "degradation")
    assert pid is not None
    assert store.answer_prediction(pid, "s1", 1, 3)
    assert store.answer_prediction(pid, "s2", 1, 3)
    assert store.answer_prediction(pid, "s3", 0, 3)
    assert not store.answer_prediction(pid, "s1", 2, 3)  # a second answer of s1: refused, the first one stays
    state = store.class_prediction(code, "s1")
    assert state.prediction.question == "degradation" and state.prediction.status == "open"
    assert state.counts == {0: 1, 1: 2} and state.total == 3 and state.answered
    assert not store.class_prediction(code, "s4").answered and not store.class_prediction(code).answered


def test_answers_are_anonymous_only_counts_come_back(store):
    code = store.open_class(TEACHER, "app.py", "")
    pid = store.open_prediction(code, TEACHER, "lesion")
    store.answer_prediction(pid, "secret-session-hash", 2, 4)
    state = store.class_prediction(code)
    assert "secret-session-hash" not in repr(state)
    with pytest.raises(ValueError):
        store.answer_prediction(pid, "s", 4, 4)  # no such choice
    with pytest.raises(ValueError):
        store.answer_prediction(pid, "s", -1, 4)


def test_one_open_question_per_class(store):
    code = store.open_class(TEACHER, "app.py", "")
    first = store.open_prediction(code, TEACHER, "degradation")
    store.answer_prediction(first, "s1", 0, 3)
    second = store.open_prediction(code, TEACHER, "lambda2")
    assert second != first
    state = store.class_prediction(code, "s1")
    assert state.prediction.id == second and state.counts == {} and not state.answered
    assert not store.answer_prediction(first, "s2", 0, 3)  # the first was closed by the second
    other_class = store.open_class(OTHER, "app.py", "")  # another teacher's class has its own
    assert store.class_prediction(other_class) is None


def test_reveal_stops_answers_and_close_puts_the_question_away(store):
    code = store.open_class(TEACHER, "app.py", "")
    pid = store.open_prediction(code, TEACHER, "landscape")
    store.answer_prediction(pid, "s1", 0, 3)
    assert not store.reveal_prediction(pid, code, OTHER)  # not this class's teacher
    store.test_clock.now += 5
    assert store.reveal_prediction(pid, code, TEACHER)
    state = store.class_prediction(code, "s1")
    assert state.prediction.status == "revealed" and state.prediction.revealed_at == store.test_clock.now
    assert state.counts == {0: 1}
    assert not store.answer_prediction(pid, "s2", 1, 3)  # revealed: no more answers
    assert not store.reveal_prediction(pid, code, TEACHER)  # once
    assert not store.close_prediction(pid, code, OTHER)
    assert store.close_prediction(pid, code, TEACHER)
    assert store.class_prediction(code) is None
    assert not store.close_prediction(pid, code, TEACHER)


def test_only_the_teacher_of_a_live_class_opens_a_question(store):
    code = store.open_class(TEACHER, "app.py", "")
    assert store.open_prediction(code, OTHER, "degradation") is None
    assert store.open_prediction("no-such-class-00", TEACHER, "degradation") is None
    store.test_clock.now += CLASS_TIMEOUT_S + 1  # the teacher left: the class is over
    assert store.open_prediction(code, TEACHER, "degradation") is None
    live = store.open_class(TEACHER, "app.py", "")
    store.end_class(live, TEACHER)
    assert store.open_prediction(live, TEACHER, "degradation") is None


def test_two_stores_on_one_database_see_the_same_answers(store):
    """Two app replicas (two RunStore objects on one address) count into the same prediction."""
    other = RunStore(store.address, clock=store.test_clock)
    code = store.open_class(TEACHER, "app.py", "")
    pid = store.open_prediction(code, TEACHER, "shortcut")
    assert other.answer_prediction(pid, "s1", 3, 7)
    assert not store.answer_prediction(pid, "s1", 4, 7)
    assert store.class_prediction(code).counts == {3: 1}
