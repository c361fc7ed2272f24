"""bench/load.py's protocol client against the real server: what it measures is a page that really finished."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.load import PAGES, exception_in, open_page, p95
from resnet.i18n import catalog

pytestmark = pytest.mark.e2e


def test_two_sessions_at_once_finish_home_and_architecture_without_an_exception(server):
    """The client opens sessions as the browser does (WebSocket, rerun_script with page name and query) and
    reads until script_finished: both pages run to the end, draw their title, and show no exception element."""
    port = int(server.rsplit(":", 1)[1])
    pages = {label: (label, name, query) for label, name, query in PAGES}

    async def both() -> list:
        return await asyncio.gather(open_page(port, *pages["home"], timeout=240), open_page(port, *pages["architecture"], timeout=240))

    # In a thread of its own: the browser tests' Playwright keeps an event loop on this one.
    with ThreadPoolExecutor(1) as thread:
        home, architecture = thread.submit(asyncio.run, both()).result()
    texts = catalog("en")
    assert home.error is None and architecture.error is None, (home.error, architecture.error)
    assert texts["why.title"] in home.headings
    assert texts["arch.title"] in architecture.headings
    assert texts["why.title"] not in architecture.headings  # each session got its own page


def test_an_exception_element_counts_as_an_error():
    """What the bench counts: an exception element (a page that crashed), not any other element."""
    crashed = ForwardMsg()
    crashed.delta.new_element.exception.type = "ZeroDivisionError"
    crashed.delta.new_element.exception.message = "division by zero"
    fine = ForwardMsg()
    fine.delta.new_element.markdown.body = "ZeroDivisionError"
    assert exception_in(crashed) == "ZeroDivisionError: division by zero"
    assert exception_in(fine) is None


def test_p95_is_the_nearest_rank():
    assert p95([float(i) for i in range(1, 11)]) == 10.0  # of 10: the largest
    assert p95([float(i) for i in range(30, 0, -1)]) == 29.0  # of 30: the 29th, whatever the order
