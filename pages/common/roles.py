"""Who may do what on a shared server: the teacher, the students, or one person on their own.

A server started with a teacher key (``RESNET_LAB_TEACHER_KEY``, from the environment or
Streamlit's secrets) has a teacher, who unlocks once per browser session by typing the key
in the sidebar (``sidebar``, drawn by ``ui.page_setup``); everyone else is a student. Without
a key the app is one person's: they may do everything (role ``"solo"``), and nothing here shows.

A student cancels only the runs their own session queued (``cancel_owner``: the store checks
it in the cancel's own transaction), has at most ``STUDENT_QUEUE`` runs in the queue
(``queue_limit``), and starts none of the costliest analyses (``may_compute_landscape``,
``may_recompute_lesions``). Every action checks these when it runs, not only the drawing.

The key is compared in constant time and never shown, put in a URL or logged: the password
field has no URL setting and is emptied after each attempt. Wrong keys are rate-limited per
browser session and for the whole process (a new tab is a new session): past ``SESSION_FREE``
or ``PROCESS_FREE`` wrong keys within ``WINDOW_S`` every attempt waits, ``FIRST_WAIT_S``
doubled with each wrong key after them, up to ``MAX_WAIT_S`` for the session and
``PROCESS_MAX_WAIT_S`` for the process: a student typing wrong keys in many tabs slows
guessing to about one key a minute but locks the teacher out for a minute at most
(a key of 12 or more random characters is out of reach at that pace).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from resnet.i18n import Translator
from resnet.lab.session import QueueFull
from resnet.lab.store import RunInfo
from resnet.lab.surfaces import GRID_SIZES
from resnet.plots.curves import duration

ENV_KEY = "RESNET_LAB_TEACHER_KEY"
_TOKEN = "_session_token"  # this browser session's random token (never shown, never in a URL)
_UNLOCKED = "_teacher_unlocked"
KEY_INPUT = "_teacher_key_input"  # the sidebar's password field (no URL setting: its text never reaches a link)
_ATTEMPTS = "_teacher_key_attempts"  # this session's wrong keys (a Throttle)
_ANSWER = "_teacher_key_answer"  # the last attempt's answer, said once under the field

STUDENT_QUEUE = 1  # runs a student may have in the queue (waiting or training) at once
FINEST_GRID = max(GRID_SIZES)  # the costliest landscape grid (41×41): the teacher's
SESSION_FREE = 5  # wrong keys one browser session may type within WINDOW_S before it waits
PROCESS_FREE = 20  # …and all sessions of this server process together
WINDOW_S = 3600.0  # a wrong key counts this long
FIRST_WAIT_S = 30.0  # the wait after the free ones; doubled with each wrong key after them
MAX_WAIT_S = 900.0  # the longest wait of one session
PROCESS_MAX_WAIT_S = 60.0  # the longest wait all sessions share: what one student can do to the teacher
_clock = time.monotonic  # tests move it on instead of waiting


def session_token() -> str:
    """This browser session's random token, made on first use."""
    if _TOKEN not in st.session_state:
        st.session_state[_TOKEN] = secrets.token_urlsafe(16)
    return st.session_state[_TOKEN]


def session_hash() -> str:
    """What the store keeps of this session (a run's owner, a class's teacher, an answer): a hash of its token."""
    return hashlib.sha256(session_token().encode()).hexdigest()[:32]


def teacher_key() -> str | None:
    """The configured teacher key: the environment's, else Streamlit's secrets'; None when there is none."""
    key = os.environ.get(ENV_KEY)
    if not key:
        try:
            key = st.secrets.get(ENV_KEY)
        except FileNotFoundError:  # no secrets file
            key = None
    return str(key) if key else None


def role() -> str:
    """``"solo"`` (no key configured), ``"teacher"`` (this session unlocked) or ``"student"``."""
    if teacher_key() is None:
        return "solo"
    return "teacher" if st.session_state.get(_UNLOCKED) else "student"


def may_lead() -> bool:
    """Whether this session may lead a class and open predictions."""
    return role() != "student"


# --- What a student may not do ---


def cancel_owner() -> str | None:
    """The owner a run must have for this session to cancel it: its own (a student), or None (any run)."""
    return session_hash() if role() == "student" else None


def may_cancel(run: RunInfo) -> bool:
    """Whether this session may cancel ``run`` (what the Cancel button shows; the store checks it again)."""
    owner = cancel_owner()
    return owner is None or run.owner == owner


def queue_limit() -> int | None:
    """How many runs this session may have in the queue at once: ``STUDENT_QUEUE`` for a student, else no limit."""
    return STUDENT_QUEUE if role() == "student" else None


def may_compute_landscape(size: int) -> bool:
    """Whether this session may start (or cancel) the loss landscapes at a ``size``×``size`` grid: the finest is the teacher's."""
    return role() != "student" or size < FINEST_GRID


def may_recompute_lesions() -> bool:
    """Whether this session may start (or cancel) the shipped models' lesion study live: the teacher's."""
    return role() != "student"


def may_cancel_shared() -> bool:
    """Whether this session may cancel a measurement every visitor shares (the Why page's): not a student."""
    return role() != "student"


def queue_full_text(t: Translator, refused: QueueFull) -> str:
    """Why a student's submission queued nothing, in their language."""
    if refused.queued:
        return t("roles.queue_busy", ids=", ".join(f"#{i}" for i in refused.queued), limit=refused.limit)
    return t("roles.queue_too_many", asked=refused.asked, limit=refused.limit)


# --- Unlocking: the key, compared in constant time, wrong keys rate-limited ---


@dataclass
class Throttle:
    """Wrong keys within ``WINDOW_S``; past ``free`` of them, how long the next attempt waits."""

    free: int
    max_wait_s: float = MAX_WAIT_S
    failures: list[float] = field(default_factory=list)  # when each counted wrong key was typed (``_clock``)

    def wait_s(self, now: float) -> float:
        """Seconds until the next attempt may be tried (0: now); forgets wrong keys older than the window."""
        self.failures = [f for f in self.failures if f > now - WINDOW_S]
        over = len(self.failures) - self.free
        if over < 0:
            return 0.0
        return max(0.0, self.failures[-1] + min(self.max_wait_s, FIRST_WAIT_S * 2 ** over) - now)

    def failed(self, now: float) -> None:
        self.failures.append(now)


_PROCESS = Throttle(PROCESS_FREE, PROCESS_MAX_WAIT_S)  # every session of this server process: new tabs do not start afresh
_PROCESS_LOCK = threading.Lock()  # sessions run in threads


def unlock(typed: str) -> tuple[str, float]:
    """Try ``typed`` as the teacher key for this session: ("unlocked", 0), ("wrong", seconds the next try waits)
    or ("wait", seconds: refused untried, a wrong key was typed too often)."""
    key = teacher_key()
    if key is None:
        return "unlocked", 0.0  # no key: nothing to unlock
    now = _clock()
    mine: Throttle = st.session_state.setdefault(_ATTEMPTS, Throttle(SESSION_FREE))
    with _PROCESS_LOCK:  # the check and the count together: parallel tabs cannot slip between them
        wait = max(mine.wait_s(now), _PROCESS.wait_s(now))
        if wait > 0:
            return "wait", wait
        if hmac.compare_digest(typed.encode(), key.encode()):
            st.session_state[_UNLOCKED] = True
            return "unlocked", 0.0
        mine.failed(now)
        _PROCESS.failed(now)
        return "wrong", max(mine.wait_s(now), _PROCESS.wait_s(now))


def _try_key() -> None:
    """The password field's callback: try what was typed, then empty the field (the key stays nowhere)."""
    typed = st.session_state.get(KEY_INPUT) or ""
    st.session_state[KEY_INPUT] = ""
    if typed:
        outcome, wait = unlock(typed)
        st.session_state[_ANSWER] = (outcome, _clock() + wait)


def sidebar(t: Translator) -> None:
    """The session's role in the sidebar: nothing (solo), the teacher's badge, or the student's note and the key field."""
    current = role()
    if current == "solo":
        return
    answer = st.session_state.pop(_ANSWER, None)
    if current == "teacher":
        st.badge(t("roles.teacher"), icon="🎓", color="green")
        st.caption(t("roles.teacher_help"))
        return
    st.caption(t("roles.student", n=STUDENT_QUEUE))
    st.text_input(t("roles.key"), key=KEY_INPUT, type="password", autocomplete="off", on_change=_try_key,
                  help=t("roles.key_help"))
    if answer is not None:
        outcome, until = answer
        wait = duration(max(1.0, until - _clock()), t)
        if outcome == "wait":
            st.error(t("roles.wait", wait=wait), icon="⏳")
        elif until > _clock():
            st.error(t("roles.wrong_key") + " " + t("roles.wait", wait=wait), icon="🔒")
        else:
            st.error(t("roles.wrong_key"), icon="🔒")
