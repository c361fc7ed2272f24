"""A class's followers run their pages one at a time (no Streamlit here: threads and a clock).

Every follower looks at its class on a timer (``classroom.FOLLOW_TICK_S``), and its browser starts that
timer when the page run draws the look (at the page's top). After a move all followers start their
page runs at once; the runs share one interpreter, so they interleave, and every browser restarts its
timer at the same moment: the followers stay in step, the next change is seen by all of them at once,
and the last one waits for all 31 page runs. With changes coming as the followers arrive, that made a
follow take two timer periods (bench/load.py's follow round with 30 followers: p95 1.95 s, 2.3 s before
the pages' CPU savings of 2026-12-08).

Taken in turns, a follower's page run starts when the previous one ends: the first arrive sooner, and
their timers start spread over the whole move, so each later change is seen by a few followers at a
time (same bench, same 1 s timer: p95 1.0 s; the looks out of step cost 2 points more of a core idle).
A turn is held from the page's start (``ui.page_setup``) to its end (``ui.sync_url``); a run that stops
before its end (an error, a rerun) leaves its turn held, and it lapses after ``LEASE_S``.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

LEASE_S = 0.5  # a follower's page run costs ~40 ms of CPU; one holding its turn this long has ended without saying so
WAIT_S = 3.0  # nobody waits longer than this for a turn (then it runs alongside): 30 followers' runs take ~1.5 s


class Turns:
    """One holder at a time, by name (a session); a turn not ended lapses after ``lease_s``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, lease_s: float = LEASE_S, wait_s: float = WAIT_S) -> None:
        self._clock, self._lease_s, self._wait_s = clock, lease_s, wait_s
        self._changed = threading.Condition()
        self._holder: str | None = None
        self._since = 0.0

    @property
    def holder(self) -> str | None:
        return self._holder

    def take(self, who: str) -> None:
        """Wait for the turn (at most ``wait_s``), then hold it. ``who`` holding it already (its last run
        stopped before its end) takes it again at once."""
        with self._changed:
            deadline = self._clock() + self._wait_s
            while True:
                now = self._clock()
                lapses = self._since + self._lease_s
                if self._holder in (None, who) or now >= lapses or now >= deadline:
                    self._holder, self._since = who, now
                    return
                self._changed.wait(timeout=min(lapses, deadline) - now)

    def end(self, who: str) -> None:
        """End ``who``'s turn (nothing if it holds none: it lapsed, or was never taken)."""
        with self._changed:
            if self._holder == who:
                self._holder = None
                self._changed.notify()


FOLLOWERS = Turns()  # the server's followers: one page run at a time
