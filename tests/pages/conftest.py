"""Fixtures of the page tests."""

from __future__ import annotations

import pytest

from resnet.lab import jobs


@pytest.fixture(autouse=True)
def no_stray_workers():
    """Shut down every pool a test started (the lab page starts one on its first submit)."""
    before = set(jobs.started_pools())
    yield
    for path in set(jobs.started_pools()) - before:
        jobs.close_pool(path)
