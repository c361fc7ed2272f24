"""Shared fixtures: an isolated data dir for every test, and a real Streamlit server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.server import CHROMIUM, CHROMIUM_ARGS, HOST, free_port, start_server, stop_server
from resnet.lab import pools, tasks

# No background warm-up in the pages and servers the tests start (resnet.prepare.background):
# it would export models into whichever test's data dir is current. Its own tests turn it on.
os.environ.setdefault("RESNET_LAB_WARMUP", "0")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Nothing a test does lands in the user's ~/.resnet_lab."""
    home = tmp_path / "resnet_lab_home"
    monkeypatch.setenv("RESNET_LAB_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_stray_processes(monkeypatch):
    """No worker or task process outlives the test that started it: each test has its own
    registry of pools (``pools.pool_for``), shut down after it, and a task dispatcher the
    test started is shut down too (one a module's fixture set up is that fixture's)."""
    monkeypatch.setattr(pools, "_POOLS", {})
    dispatcher = tasks._DISPATCHER
    yield
    pools.shutdown_pools()
    if tasks._DISPATCHER is not dispatcher:
        tasks.shutdown_dispatcher()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app as ``bash .ci/start-app`` serves it (``bench.server``) on a free loopback port; yields its base URL."""
    home = tmp_path_factory.mktemp("server_home")
    port = free_port()
    proc = start_server(port, home, home / "server.log", wait_s=120)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/setup --test (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=90_000)  # the first page view builds the model
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2400}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    context.close()
