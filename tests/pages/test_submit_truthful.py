"""Ten sessions pressing Train on the same settings at once: one run, and only the session
that created it says "Queued as run #N" (issue 12: three of ten said so).

Workers are not started (``JobPool.start`` is a no-op here): only the queue is under test.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from resnet.lab import session
from resnet.lab.pools import JobPool
from resnet.lab.store import RunStore
from tests.helpers import open_page

SETTINGS = dict(depth=20, width=4, batch_size=16, steps=6, eval_every=3, warmup_steps=0, seed=11)
URL = dict(depth="20", width="4", batch="16", steps="6", eval="3", warmup="0", seed="11")
SESSIONS = 10


@pytest.fixture(autouse=True)
def queue_only(monkeypatch):
    monkeypatch.setattr(JobPool, "start", lambda self: self)  # tests/conftest.py shuts the pools down after each test


def test_concurrent_submits_create_one_run_and_say_so_once():
    """``Lab.submit`` (what the page calls) from ten threads released together."""
    lab = session.open_lab()
    barrier = threading.Barrier(SESSIONS)

    def press(_: int) -> session.Submission:
        barrier.wait()
        return lab.submit({**SETTINGS, "shortcut": "identity", "dataset": "digits"})

    with ThreadPoolExecutor(SESSIONS) as pool:
        answers = list(pool.map(press, range(SESSIONS)))
    assert len({a.run_id for a in answers}) == 1
    assert [a.created for a in answers].count(True) == 1
    assert all(a.status == "queued" and not a.problems for a in answers)
    assert len(RunStore().list_runs(source="live")) == 1


def test_the_page_says_queued_only_when_its_press_created_the_run():
    """Another session queued these settings first: this page shows that run, truthfully."""
    other = session.open_lab().submit({**SETTINGS, "shortcut": "identity", "dataset": "digits"})
    assert other.created
    at = open_page("pages/lab.py", timeout=240, lang="en", **URL)
    at.button(key="train").click().run()
    assert not at.exception
    # the answer is a toast (it moves nothing on the page; ``lab_context.show_flash``)
    assert not any("Queued as run" in s.value for s in at.toast)
    assert any(f"Run #{other.run_id}" in i.value and "already (queued)" in i.value for i in at.toast)
    assert [r.id for r in RunStore().list_runs(source="live")] == [other.run_id]
