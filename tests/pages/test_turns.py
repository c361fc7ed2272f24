"""pages/common/turns.py: a class's followers run their pages one at a time; a turn not ended lapses."""

from __future__ import annotations

import threading

from pages.common.turns import Turns


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def taking(turns: Turns, who: str) -> threading.Event:
    """``who`` takes the turn in a thread of its own (a session's script thread); the event says it has it."""
    taken = threading.Event()
    threading.Thread(target=lambda: (turns.take(who), taken.set()), daemon=True).start()
    return taken


def test_a_follower_waits_for_the_turn_until_the_holder_ends_it():
    turns = Turns(lease_s=60.0, wait_s=60.0)
    turns.take("a")
    b = taking(turns, "b")
    assert not b.wait(timeout=0.3) and turns.holder == "a"  # still a's
    turns.end("b")  # not b's to end: nothing changes
    assert turns.holder == "a"
    turns.end("a")
    assert b.wait(timeout=10) and turns.holder == "b"
    turns.end("b")
    assert turns.holder is None


def test_a_turn_never_ended_lapses_and_its_holder_takes_it_again_at_once():
    clock = Clock()
    turns = Turns(clock=clock, lease_s=0.5, wait_s=60.0)
    turns.take("a")  # a's run stops before its end (an error, a rerun): no end
    turns.take("a")  # a's next run: at once
    clock.now = 0.6  # past the lease
    turns.take("b")
    assert turns.holder == "b"


def test_nobody_waits_longer_than_wait_s():
    turns = Turns(lease_s=60.0, wait_s=0.2)
    turns.take("a")  # a's run takes long (a loaded server): b runs alongside after its wait
    b = taking(turns, "b")
    assert b.wait(timeout=10) and turns.holder == "b"
