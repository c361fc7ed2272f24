"""One base for the core's refusals that a page translates: a stable ``code`` and its values."""

from __future__ import annotations

from typing import Any


class CodedError(ValueError):
    """A refusal with a stable ``code`` (the page's catalog key) and ``values`` for its text.

    ``str(error)`` is a plain English message for logs, the CLI and tests.
    """

    def __init__(self, code: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.code = code
        self.values = values
