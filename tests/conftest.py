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


SERVER_HOMES: list[Path] = []  # the session server's data home: its log is shown under a failed browser test


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The app as ``bash .ci/start-app`` serves it (``bench.server``) on a free loopback port; yields its base URL."""
    home = tmp_path_factory.mktemp("server_home")
    port = free_port()
    SERVER_HOMES.append(home)
    proc = start_server(port, home, home / "server.log", wait_s=120)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        stop_server(proc)


@pytest.fixture
def server_store(server):
    """The session server's run store, opened in the test (what its runs are, beside what a page shows of them)."""
    from resnet.lab.store import opened_store

    return opened_store(str(SERVER_HOMES[-1] / "runs.sqlite"))


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
    pg.browser_said = []  # shown under a failed test: what the page's console and React reported
    pg.on("console", lambda m: m.type in ("error", "warning") and pg.browser_said.append(f"{m.type}: {m.text[:500]}"))
    pg.on("pageerror", lambda e: pg.browser_said.append(f"pageerror: {str(e)[:1000]}"))
    pg.on("websocket", lambda ws: ws.on("close", lambda _: pg.browser_said.append("websocket closed")))
    yield pg
    context.close()
    # an uncaught error in the browser's app fails the test even if its checks passed: it is how the app
    # crashed before (a delta for a container the browser had emptied unmounted the whole page)
    errors = [said for said in pg.browser_said if said.startswith("pageerror")]
    assert not errors, f"the browser's app threw: {errors[:3]}"


PAGE_STATE_JS = """() => {
    const root = document.getElementById('root');
    const keyed = [...document.querySelectorAll('[class*="st-key-run-"], [class*="st-key-cancel_"]')].map(e => {
        const r = e.getBoundingClientRect(), s = getComputedStyle(e);
        return `${[...e.classList].find(c => c.startsWith('st-key-'))} box=${Math.round(r.x)},${Math.round(r.y)},`
            + `${Math.round(r.width)}x${Math.round(r.height)} display=${s.display} opacity=${s.opacity}`;
    });
    const texts = sel => [...document.querySelectorAll(sel)].map(e => e.innerText.slice(0, 300));
    return {root_children: root ? root.childElementCount : null, url: location.href,
            status: texts('[data-testid="stStatusWidget"]'), exceptions: texts('[data-testid="stException"]'),
            alerts: texts('[data-testid="stAlert"]'), keyed, headings: texts('h1, h2, h3')};
}"""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test says what its page showed then (the DOM's state, the console) and the server's log tail."""
    report = yield
    pg = getattr(item, "funcargs", {}).get("page")
    if report.failed and call.when == "call" and pg is not None:
        try:
            state = pg.evaluate(PAGE_STATE_JS)
        except Exception as exc:  # a closed or crashed page says so
            state = f"unreadable: {exc}"
        report.sections.append(("page state", f"{state}\nbrowser said: {pg.browser_said[-40:]}"))
        if SERVER_HOMES and (log := SERVER_HOMES[-1] / "server.log").exists():
            report.sections.append(("server log (tail)", log.read_text(errors="replace")[-6000:]))
    return report
