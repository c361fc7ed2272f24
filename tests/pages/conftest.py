"""Fixtures of the page tests."""

from __future__ import annotations

import pytest

from resnet.lab import tasks


class TaskLine:
    """Stands in for the task dispatcher of a page test: it takes the tasks a page starts and
    starts no process for them (they stay pending; each would import Paddle in a new process)."""

    def __init__(self) -> None:
        self.tasks: list[object] = []

    def submit(self, task: object) -> None:
        self.tasks.append(task)

    def compute(self) -> None:
        """Compute the tasks in line here, in this process, as a task process would (their results go to the store)."""
        while self.tasks:
            tasks._compute(self.tasks.pop(0))


@pytest.fixture(autouse=True)
def no_task_processes(request, monkeypatch):
    """Pages start no task process unless the test is marked ``task_processes``: the line it gets."""
    if request.node.get_closest_marker("task_processes") is not None:
        yield None
        return
    line = TaskLine()
    monkeypatch.setattr(tasks, "_dispatcher", lambda: line)
    yield line
