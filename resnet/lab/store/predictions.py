"""Predictions: a class's question (``resnet.lab.predictions``), its students' answers, counted, then revealed.

The teacher of a live class opens a question (one at a time: opening another closes the
one before), students answer while it is open (one answer per browser session: the
session's token hash, never a name; only the counts per choice are ever read back),
the teacher reveals the measured result (answers stop) and closes it. Every read a page
polls with is one transaction (``class_prediction``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .classes import LED_LIVE, led_live
from .db import Database, placeholders

PREDICTION_STATUSES = ("open", "revealed", "closed")
LIVE = ("open", "revealed")  # what a class shows: a question being answered, or its result


@dataclass(frozen=True)
class Prediction:
    """One question opened in a class."""

    id: int
    class_code: str
    question: str  # a question's id (``resnet.lab.predictions.QUESTIONS``)
    status: str  # PREDICTION_STATUSES
    opened_at: float
    revealed_at: float | None


@dataclass(frozen=True)
class PredictionState:
    """What a page draws of a class's current prediction: it, the answers per choice, and whether this session answered."""

    prediction: Prediction
    counts: dict[int, int]  # choice index -> answers
    answered: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Predictions(Database):
    """The predictions of a store's classes."""

    def open_prediction(self, code: str, teacher: str, question: str) -> int | None:
        """Open ``question`` in the live class ``code`` that the session ``teacher`` leads; the prediction's id.

        The class's open or revealed prediction, if any, is closed first (one at a time). None when ``code``
        is not a live class of this teacher.
        """
        now = self.clock()
        with self._tx(immediate=True) as con:  # close-then-insert must not interleave with another open
            live = con.execute(f"SELECT 1 FROM classes WHERE {LED_LIVE}", led_live(code, teacher, now)).fetchone()
            if live is None:
                return None
            con.execute("UPDATE predictions SET status = 'closed' WHERE class_code = ? AND status IN (?, ?)", (code, *LIVE))
            row = con.execute("INSERT INTO predictions (class_code, question, status, opened_at) VALUES (?, ?, 'open', ?) "
                              "RETURNING id", (code, question, now)).fetchone()
        return int(row["id"])

    def answer_prediction(self, prediction_id: int, session: str, choice: int, choices: int) -> bool:
        """The session's answer ``choice`` (0 … choices − 1) to an open prediction; True if it was counted.

        False when the session answered already (its first answer stays) or the prediction is not open.
        ``ValueError`` for a choice out of range.
        """
        if not 0 <= choice < choices:
            raise ValueError(f"choice {choice} is not one of the question's {choices}")
        with self._tx() as con:
            cursor = con.execute(
                "INSERT INTO answers (prediction_id, session, choice) SELECT ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM predictions WHERE id = ? AND status = 'open') "
                "ON CONFLICT (prediction_id, session) DO NOTHING",
                (prediction_id, session, choice, prediction_id),
            )
            return cursor.rowcount == 1

    def class_prediction(self, code: str, session: str | None = None) -> PredictionState | None:
        """The class's open or revealed prediction with its answers per choice, and whether ``session`` answered it;
        None when the class shows none."""
        with self._tx() as con:
            row = con.execute("SELECT * FROM predictions WHERE class_code = ? AND status IN (?, ?) ORDER BY id DESC LIMIT 1",
                              (code, *LIVE)).fetchone()
            if row is None:
                return None
            counts = {int(r["choice"]): int(r["n"]) for r in con.execute(
                "SELECT choice, COUNT(*) AS n FROM answers WHERE prediction_id = ? GROUP BY choice", (row["id"],))}
            answered = session is not None and con.execute(
                "SELECT 1 FROM answers WHERE prediction_id = ? AND session = ?", (row["id"], session)).fetchone() is not None
        prediction = Prediction(int(row["id"]), row["class_code"], row["question"], row["status"], float(row["opened_at"]),
                                None if row["revealed_at"] is None else float(row["revealed_at"]))
        return PredictionState(prediction, counts, answered)

    def reveal_prediction(self, prediction_id: int, code: str, teacher: str) -> bool:
        """The teacher shows the measured result: answering stops. True if the open prediction was revealed."""
        return self._set_status(prediction_id, code, teacher, "revealed", ("open",))

    def close_prediction(self, prediction_id: int, code: str, teacher: str) -> bool:
        """The teacher puts the question away (open or revealed). True if it was closed."""
        return self._set_status(prediction_id, code, teacher, "closed", LIVE)

    def _set_status(self, prediction_id: int, code: str, teacher: str, status: str, from_statuses: tuple[str, ...]) -> bool:
        """Move a prediction of the class ``code`` led by ``teacher`` to ``status`` from one of ``from_statuses``."""
        revealed_at = self.clock() if status == "revealed" else None
        with self._tx() as con:
            cursor = con.execute(
                "UPDATE predictions SET status = ?, revealed_at = COALESCE(?, revealed_at) "
                f"WHERE id = ? AND class_code = ? AND status IN ({placeholders(from_statuses)}) "
                "AND EXISTS (SELECT 1 FROM classes WHERE code = ? AND teacher = ?)",
                (status, revealed_at, prediction_id, code, *from_statuses, code, teacher),
            )
            return cursor.rowcount == 1
