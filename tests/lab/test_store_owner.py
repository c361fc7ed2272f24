"""Issue 24, roles: a run's owner (the browser session that queued it), the runs an owner has in the
queue, a cancel that names an owner, and the lab session's queue limit (``pages/common/roles.py`` uses them).

The store tests run on SQLite and, marked ``postgres``, on a throwaway PostgreSQL (``new_store``).
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from resnet.lab import session
from resnet.lab.presets import PRESETS
from resnet.lab.store.runs import NotYourRun
from tests.lab.test_session import TINY, lab  # noqa: F401  (the lab fixture: a real store, a pool that only queues)
from tests.lab.test_store import CONFIG, _result, new_store  # noqa: F401  (the fixture: SQLite, PostgreSQL)

ALICE, BOB = "a" * 32, "b" * 32  # two sessions' hashes


def test_enqueue_keeps_the_owner_and_a_reused_run_keeps_its_first(new_store):
    store = new_store()
    run_id, created = store.enqueue(CONFIG, ALICE)
    assert created and store.get_run(run_id).owner == ALICE
    again, created = store.enqueue(CONFIG, BOB)  # Bob's submit of the same settings gets Alice's run…
    assert (again, created) == (run_id, False)
    assert store.get_run(run_id).owner == ALICE  # …which stays hers
    assert store.get_run(store.create_run(replace(CONFIG, seed=1))).owner is None  # the CLI's: nobody's
    assert store.get_run(store.enqueue(replace(CONFIG, seed=2))[0]).owner is None


def test_queued_by_counts_an_owners_waiting_and_training_runs_only(new_store):
    store = new_store()
    first, _ = store.enqueue(CONFIG, ALICE)
    second, _ = store.enqueue(replace(CONFIG, seed=1), ALICE)
    store.enqueue(replace(CONFIG, seed=2), BOB)
    assert store.queued_by(ALICE) == [first, second]
    assert store.claim_next(os.getpid())[0] == first  # training counts too
    assert store.queued_by(ALICE) == [first, second]
    store.finish_run(first, _result())
    assert store.request_cancel(second) == "cancelled"
    assert store.queued_by(ALICE) == []  # done and cancelled runs have left the queue
    assert len(store.queued_by(BOB)) == 1 and store.queued_by("c" * 32) == []


def test_a_cancel_that_names_an_owner_cancels_only_that_owners_runs(new_store):
    store = new_store()
    running, _ = store.enqueue(CONFIG, ALICE)
    queued, _ = store.enqueue(replace(CONFIG, seed=1), ALICE)
    cli = store.create_run(replace(CONFIG, seed=2))  # running, nobody's
    store.claim_next(os.getpid())
    for run_id in (running, queued, cli):
        with pytest.raises(NotYourRun):
            store.request_cancel(run_id, owner=BOB)
    assert [(r.status, r.cancel_requested) for r in map(store.get_run, (running, queued, cli))] == [
        ("running", False), ("queued", False), ("running", False)]  # nothing changed
    assert store.request_cancel(queued, owner=ALICE) == "cancelled"
    assert store.request_cancel(running, owner=ALICE) == "running" and store.get_run(running).cancel_requested
    assert store.request_cancel(cli) == "running" and store.get_run(cli).cancel_requested  # no owner named: any run
    with pytest.raises(KeyError):
        store.request_cancel(999, owner=BOB)


def test_a_limited_owner_gets_one_run_in_the_queue_and_a_refusal_that_says_why(lab):  # noqa: F811
    first = lab.submit(TINY, owner=ALICE, queue_limit=1)
    assert first.created and lab.store.get_run(first.run_id).owner == ALICE
    with pytest.raises(session.QueueFull) as second:
        lab.submit({**TINY, "seed": 8}, owner=ALICE, queue_limit=1)
    assert (second.value.queued, second.value.asked, second.value.limit) == ((first.run_id,), 1, 1)
    with pytest.raises(session.QueueFull):  # a reused run counts too: the refusal does not look the run up
        lab.submit(TINY, owner=ALICE, queue_limit=1)
    assert len(lab.store.list_runs(source="live")) == 1
    assert lab.cancel(first.run_id, owner=ALICE) == "cancelled"
    assert lab.submit({**TINY, "seed": 8}, owner=ALICE, queue_limit=1).created  # the queue is free again


def test_seeds_and_presets_count_as_several_runs_and_nothing_is_queued_past_the_limit(lab):  # noqa: F811
    with pytest.raises(session.QueueFull) as seeds:
        lab.submit(TINY, seeds=2, owner=ALICE, queue_limit=1)
    assert (seeds.value.queued, seeds.value.asked) == ((), 2)
    with pytest.raises(session.QueueFull) as preset:
        lab.rerun_preset("degradation", owner=ALICE, queue_limit=1)
    assert preset.value.asked == len(PRESETS["degradation"].configs) > 1
    assert not lab.store.list_runs(source="live")
    unlimited = lab.submit(TINY, seeds=3, owner=BOB)  # no limit (the teacher, or no key): as before
    assert len(unlimited.runs) == 3 and lab.store.queued_by(BOB) == [s.run_id for s in unlimited.runs]
    rerun = lab.rerun_preset("degradation", owner=ALICE)
    assert {lab.store.get_run(s.run_id).owner for s in rerun} == {ALICE}


def test_the_lab_cancels_another_owners_run_only_without_an_owner(lab):  # noqa: F811
    run_id = lab.submit(TINY, owner=ALICE).run_id
    with pytest.raises(session.NotYourRun):
        lab.cancel(run_id, owner=BOB)
    assert lab.store.get_run(run_id).status == "queued"
    assert lab.cancel(run_id) == "cancelled"
