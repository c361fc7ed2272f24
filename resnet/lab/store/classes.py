"""Classes: follow the teacher. A teacher's session leads a class; the students' sessions follow it.

A class holds the teacher's current view: the page (its script file) and the settings (the
query string a share link carries), with a version one higher on each change. Followers
read it (cheaply, and often) and go to the view whenever the version moves. The teacher's
session writes a sign of life (``seen_at``) while its tab is open; a class whose teacher has
been silent for ``CLASS_TIMEOUT_S``, or that the teacher ended, is over. It lives in the
store, so followers on another app replica sharing the PostgreSQL store follow too.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from .db import Database

CLASS_TIMEOUT_S = 30 * 60.0  # the teacher's tab silent this long: the class is over
CODE_BYTES = 12  # secrets.token_urlsafe(12): 96 random bits, 16 characters
_CODE = re.compile(r"[A-Za-z0-9_-]{16}")
# The class (code, teacher) as long as it is live: not ended, its teacher heard from within CLASS_TIMEOUT_S.
# Arguments: code, teacher, now - CLASS_TIMEOUT_S (``led_live``).
LED_LIVE = "code = ? AND teacher = ? AND ended_at IS NULL AND seen_at >= ?"


def led_live(code: str, teacher: str, now: float) -> tuple[str, str, float]:
    """``LED_LIVE``'s arguments."""
    return code, teacher, now - CLASS_TIMEOUT_S


def valid_code(code: object) -> bool:
    """Whether ``code`` could be a class code (length and characters), checked before any store query."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None


@dataclass(frozen=True)
class ClassView:
    """What a follower reads of a class: the teacher's view, its version, and whether the class is over."""

    code: str
    page: str  # the teacher's page, as its script file ("app.py", "pages/lab.py")
    query: str  # the teacher's settings, as a share link's query string
    version: int
    ended: bool  # ended by the teacher, or the teacher silent for CLASS_TIMEOUT_S


class Classes(Database):
    """The classes of a store: open, publish, keep alive, end, read."""

    def open_class(self, teacher: str, page: str, query: str) -> str:
        """A new class led by the session ``teacher`` (its token hash), on this view; its code.

        The teacher's earlier classes end: a session leads one class at a time.
        """
        code, now = secrets.token_urlsafe(CODE_BYTES), self.clock()
        with self._tx() as con:
            con.execute("UPDATE classes SET ended_at = ? WHERE teacher = ? AND ended_at IS NULL", (now, teacher))
            con.execute("INSERT INTO classes (code, teacher, page, query, version, created_at, seen_at, ended_at) "
                        "VALUES (?, ?, ?, ?, 1, ?, ?, NULL)", (code, teacher, page, query, now, now))
        return code

    def class_view(self, code: str) -> ClassView | None:
        """The class ``code`` as a follower sees it; None for a code the store does not know (or not a code)."""
        if not valid_code(code):
            return None
        with self._tx() as con:
            row = con.execute("SELECT page, query, version, seen_at, ended_at FROM classes WHERE code = ?", (code,)).fetchone()
        if row is None:
            return None
        ended = row["ended_at"] is not None or row["seen_at"] < self.clock() - CLASS_TIMEOUT_S
        return ClassView(code, row["page"], row["query"], int(row["version"]), ended)

    def publish_view(self, code: str, teacher: str, page: str, query: str) -> int | None:
        """The teacher's view now (the version one higher when page or settings changed); counts as a sign of life.

        The class's version after the call; None when ``code`` is not a live class this teacher leads.
        """
        now = self.clock()
        with self._tx() as con:
            con.execute(f"UPDATE classes SET page = ?, query = ?, version = version + 1 WHERE {LED_LIVE} AND (page <> ? OR query <> ?)",
                        (page, query, *led_live(code, teacher, now), page, query))
            return self._seen(con, code, teacher, now)

    def keep_class(self, code: str, teacher: str) -> int | None:
        """The teacher's sign of life (their tab is open); the class's version, None when it is over or not theirs."""
        with self._tx() as con:
            return self._seen(con, code, teacher, self.clock())

    def end_class(self, code: str, teacher: str) -> None:
        """The teacher ends the class: its followers stop following."""
        with self._tx() as con:
            con.execute("UPDATE classes SET ended_at = ? WHERE code = ? AND teacher = ? AND ended_at IS NULL",
                        (self.clock(), code, teacher))

    @staticmethod
    def _seen(con: Any, code: str, teacher: str, now: float) -> int | None:
        """``seen_at = now`` on the live class ``code`` of ``teacher``; its version, or None."""
        con.execute(f"UPDATE classes SET seen_at = ? WHERE {LED_LIVE}", (now, *led_live(code, teacher, now)))
        row = con.execute("SELECT version FROM classes WHERE code = ? AND teacher = ? AND ended_at IS NULL AND seen_at = ?",
                          (code, teacher, now)).fetchone()
        return int(row["version"]) if row else None
