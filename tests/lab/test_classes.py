"""The store's classes (follow the teacher): open, publish, keep alive, end, the 30-minute timeout, codes.

Run against SQLite and PostgreSQL (marked ``postgres``: a throwaway cluster, tests/lab/conftest.py).
"""

from __future__ import annotations

import pytest

from resnet.lab.store import RunStore
from resnet.lab.store.classes import CLASS_TIMEOUT_S, valid_code


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> RunStore:
    """An empty store of the back end under test, on a fake clock (``store.clock.now``)."""
    address = tmp_path / "runs.sqlite" if request.param == "sqlite" else request.getfixturevalue("postgres_database")()
    return RunStore(address, clock=Clock())


def test_a_new_class_shows_the_teachers_view_at_version_1(store):
    code = store.open_class("teacher", "pages/architecture.py", "lang=en&depth=50")
    assert valid_code(code) and len(code) == 16  # token_urlsafe(12): 96 bits
    view = store.class_view(code)
    assert (view.page, view.query, view.version, view.ended) == ("pages/architecture.py", "lang=en&depth=50", 1, False)


def test_publishing_counts_only_changes(store):
    code = store.open_class("teacher", "app.py", "lang=en")
    assert store.publish_view(code, "teacher", "app.py", "lang=en") == 1  # the same view: no new version
    assert store.publish_view(code, "teacher", "pages/cost.py", "lang=en") == 2
    assert store.publish_view(code, "teacher", "pages/cost.py", "lang=en&depth=18") == 3
    assert store.publish_view(code, "teacher", "pages/cost.py", "lang=en&depth=18") == 3
    view = store.class_view(code)
    assert (view.page, view.query, view.version) == ("pages/cost.py", "lang=en&depth=18", 3)


def test_only_the_leading_session_publishes(store):
    code = store.open_class("teacher", "app.py", "lang=en")
    assert store.publish_view(code, "student", "pages/lab.py", "lang=en") is None
    assert store.keep_class(code, "student") is None
    store.end_class(code, "student")
    view = store.class_view(code)
    assert (view.page, view.version, view.ended) == ("app.py", 1, False)


def test_ending_the_class_ends_following(store):
    code = store.open_class("teacher", "app.py", "lang=en")
    store.end_class(code, "teacher")
    assert store.class_view(code).ended
    assert store.publish_view(code, "teacher", "pages/lab.py", "lang=en") is None
    assert store.keep_class(code, "teacher") is None


def test_thirty_minutes_without_a_sign_of_life_end_the_class(store):
    code = store.open_class("teacher", "app.py", "lang=en")
    store.clock.now += CLASS_TIMEOUT_S - 1
    assert store.keep_class(code, "teacher") == 1  # the tab is open: alive for another 30 minutes
    store.clock.now += CLASS_TIMEOUT_S - 1
    assert not store.class_view(code).ended
    store.clock.now += 2
    assert store.class_view(code).ended
    assert store.keep_class(code, "teacher") is None  # too late: it stays over
    assert store.publish_view(code, "teacher", "pages/lab.py", "lang=en") is None


def test_a_new_class_ends_the_teachers_earlier_one(store):
    first = store.open_class("teacher", "app.py", "lang=en")
    second = store.open_class("teacher", "app.py", "lang=en")
    other = store.open_class("another teacher", "app.py", "lang=en")
    assert first != second and store.class_view(first).ended
    assert not store.class_view(second).ended and not store.class_view(other).ended


@pytest.mark.parametrize("code", ["", "short", "a" * 17, "a" * 15 + "!", "a" * 15 + "'", None, 12])
def test_what_is_no_code_is_refused_before_any_query(store, code):
    assert not valid_code(code)
    assert store.class_view(code) is None


def test_an_unknown_code_reads_as_none(store):
    assert store.class_view("A" * 16) is None
