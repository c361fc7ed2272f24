"""How long each page takes to open in Chromium on a warm server, until it has settled: reached from
another page in an open tab, and opened in a browser that has not loaded the app yet.

    .venv/bin/python bench/page_open.py [--repeats 3] [--baseline DIR] [--views why,why_step6,lab]

Starts the app the README's way (``bench/server.py``) on a throw-away RESNET_LAB_HOME, warms
it (every view opened once, and again until nothing on it is computing: the home page's
measured section starts a task on its first view), then measures every view ``--repeats`` times
in two ways, in Debian's ``/usr/bin/chromium`` (headless, which draws WebGL in software: 3-D
charts cost CPU), English, 1280×720, and prints the median seconds of each:

- ``page_open_s[<view>]``: **in an open tab**, from the click on the view's link in the sidebar
  (a page; the tab shows the page before it in the sidebar's order) or on its step in the Why
  page's step bar (a Why step in classroom mode; the tab shows the step before) to settled.
  This is how a lesson moves from one view to the next: Streamlit's code and Plotly's are
  loaded and compiled in the tab already, so the time is the page's own work (its script run
  and drawing what it shows). Issue 22's goal, each page settled within 2 s, is this figure:
  ``page_open_max_s``, the worst median.
- ``page_first_open_s[<view>]``: **in a fresh browser context** (nothing cached, no tab open),
  from typing the view's URL to settled: what a student who opens a link to it first pays.
  On top of the page's own work, the browser loads and compiles Streamlit's code and, for a
  page with a Plotly chart, Plotly's 4.7 MB bundle, seconds of CPU that no page can avoid
  (only a page with no chart at all skips Plotly's share): a one-off cost of the app's first
  open, not of each page. Its worst median prints as ``page_first_open_max_s``.

Settled, measured in the page's own clock (``performance.now()``; 0 = the click, or the
navigation's start): the first moment from which, for ``HOLD_S`` without a break,
- a title is drawn, Streamlit's root says its script is not running (after a click: the view
  clicked has run since, its address changed) and its status widget ("Running…") is absent,
- no skeleton (an element still being drawn) lies in the viewport,
- every Plotly chart in the viewport has its SVG layers (``.main-svg``), and each 3-D scene
  of it its WebGL canvas,
- the browser draws frames: no two animation frames more than ``FRAME_GAP_S`` apart (a long
  task, such as a 3-D scene drawn in software after its canvas exists, or charts below the
  fold being laid out, holds the page still: it does not scroll or answer a click meanwhile).
A chart below the fold is not waited for, but the work of drawing it counts through the last
rule: what a room sees, and can use, on opening the page.

The views: the home page (Why residuals, every section), each of its six steps in classroom mode
(``?classroom=1&step=N``: one section per screen), Architecture, Feature maps, Compute cost,
Training lab, each on its default settings. Chromium shares the machine's cores with the
server and whatever else runs: the load average is printed next to every view's figure, and
``page_open_cpu_s[<view>]=…`` (``page_first_open_cpu_s``) gives the CPU seconds Chromium's
processes spent on the open (renderer, GPU process: WebGL in software), which other programs
barely change (the server's CPU seconds follow it).
``--baseline DIR`` serves a copy of another version of the repository (same virtualenv) at the
same time and alternates the opens between the two, so that both see the same load; its figures
print with the prefix ``baseline_``. Everything is bounded: a timeout per open, both servers
stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import CHROMIUM, CHROMIUM_ARGS, HOST, REPO, free_port, start_server, stop_server  # noqa: E402
from resnet.i18n import catalog  # noqa: E402

VIEWPORT = {"width": 1280, "height": 720}
HOLD_S = 0.5  # settled means it stays so this long (a rerun or a fragment's tick would undo it)
FRAME_GAP_S = 0.15  # a longer pause between two frames: the browser is still busy with the page
OPEN_TIMEOUT_S = 60.0  # one open of a warm page
WARM_TIMEOUT_S = 600.0  # the first view of a page: models load, the home page's measurement computes
EN = catalog("en")


@dataclass(frozen=True)
class View:
    """A view: its URL (path and query string; Streamlit's page name is the file name under pages/), the tab
    that reaches it by a click (``"lesson"``: the sidebar's pages; ``"classroom"``: the Why steps) and the
    name of what is clicked (a sidebar link, or a step of the step bar)."""

    label: str
    path: str
    tab: str
    link: str

    def target(self, page: Page) -> Locator:
        if self.tab == "classroom":
            return page.get_by_test_id("stMain").get_by_role("radio", name=self.link, exact=True)
        return page.get_by_test_id("stSidebar").get_by_role("link", name=self.link, exact=True)


VIEWS = (
    [View("why", "?lang=en", "lesson", EN["nav.why"])]
    + [View(f"why_step{step}", f"?lang=en&classroom=1&step={step}", "classroom", EN[f"why.step_{step}"]) for step in range(1, 7)]
    + [View(name, f"{name}?lang=en", "lesson", EN[f"nav.{name}"]) for name in ("architecture", "feature_maps", "cost", "lab")]
)

# Arms the measure of a click: when the click came (0 of its clock), and whether the view it asked for has run:
# its address (a page's path, a step's ``step=``) is written when its script runs; the script state, a moment
# later (a script state seen as over meanwhile does not hold for ``HOLD_S``).
ARM = """() => {
    window.__settledSince = window.__scriptOver = window.__lastFrame = window.__navStart = undefined;
    document.addEventListener('click', () => { window.__navStart = performance.now(); }, {capture: true, once: true});
    const left = location.href;
    window.__reached = () => window.__navStart !== undefined && location.href !== left; }"""

# Evaluated at every animation frame until it returns [settled, script over] (ms since navigation or the
# click): when the page settled, and when its script run was first seen over (the rest is the browser drawing).
SETTLED = """([holdMs, gapMs]) => {
    const now = performance.now();
    const gap = now - (window.__lastFrame === undefined ? now : window.__lastFrame);
    window.__lastFrame = now;
    const inView = e => { const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight; };
    const app = document.querySelector('[data-testid="stApp"]');
    const over = app && app.dataset.testScriptState === 'notRunning' && (!window.__reached || window.__reached())
        && !document.querySelector('[data-testid="stStatusWidget"]')
        && document.querySelector('[data-testid="stMainBlockContainer"] h1');
    if (over && window.__scriptOver === undefined) window.__scriptOver = now;
    const ok = over && ![...document.querySelectorAll('[data-testid="stSkeleton"]')].some(inView)
        && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(inView).every(c => {
            const plot = c.querySelector('.js-plotly-plot');
            if (!plot || !plot.querySelector('.main-svg')) return false;
            const scenes = Object.keys(plot._fullLayout || {}).filter(k => /^scene\\d*$/.test(k)).length;
            return plot.querySelectorAll('.gl-container canvas').length >= scenes; });
    if (!ok || gap > gapMs) { window.__settledSince = undefined; return false; }
    if (window.__settledSince === undefined) window.__settledSince = now;
    const start = window.__navStart || 0;
    return now - window.__settledSince >= holdMs ? [window.__settledSince - start, window.__scriptOver - start] : false; }"""
# What keeps a page from settling, for the message of an open that timed out.
UNSETTLED = """() => ({
    script: [...document.querySelectorAll('[data-test-script-state]')].map(e => e.dataset.testScriptState),
    reached: window.__reached ? window.__reached() : null,
    status: !!document.querySelector('[data-testid="stStatusWidget"]'),
    title: !!document.querySelector('[data-testid="stMainBlockContainer"] h1'),
    skeletons: document.querySelectorAll('[data-testid="stSkeleton"]').length,
    charts: document.querySelectorAll('[data-testid="stPlotlyChart"]').length,
    drawn: document.querySelectorAll('[data-testid="stPlotlyChart"] .main-svg').length })"""
COMPUTING = '[data-testid="stProgress"], [data-testid="stSpinner"]'


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(root: int, chromium_only: bool) -> dict[int, float]:
    """CPU seconds (user + system) used so far by ``root`` and the processes under it (from /proc), by process id;
    only Chromium's if ``chromium_only``. Unlike wall seconds, the other programs on the machine barely change it."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
            stats[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    used, todo = {}, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if pid in stats and (not chromium_only or stats[pid][1].startswith("chromium")):
            used[pid] = stats[pid][2]
    return used


def cpu_since(before: dict[int, float], root: int, chromium_only: bool) -> float:
    """CPU seconds the processes ``cpu_seconds`` finds now used since ``before`` (a process gone meanwhile, such as
    the previous context's renderer, is left out rather than subtracted)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in cpu_seconds(root, chromium_only).items())


@dataclass(frozen=True)
class Opened:
    """One open of a view: seconds from the navigation (or the click) to settled and to its script run seen
    over (while the browser is busy drawing it sees it late), CPU seconds Chromium and the server spent until
    then (the hold included), whether anything on it still computes (a progress bar or a spinner)."""

    settled_s: float
    script_s: float
    browser_cpu_s: float
    server_cpu_s: float
    computing: bool


def until_settled(page: Page, go, timeout_s: float, server: int) -> Opened:
    """Run ``go`` (a navigation or a click) on ``page``, served by process ``server``, and wait until the page has
    settled (bounded)."""
    cpu = cpu_seconds(os.getpid(), chromium_only=True), cpu_seconds(server, chromium_only=False)
    go()
    try:
        settled_ms, script_ms = page.wait_for_function(SETTLED, arg=[HOLD_S * 1000, FRAME_GAP_S * 1000], polling="raf",
                                                       timeout=timeout_s * 1000).json_value()
    except PlaywrightTimeoutError:
        raise RuntimeError(f"{page.url} not settled after {timeout_s:.0f} s: {page.evaluate(UNSETTLED)}") from None
    browser_cpu, server_cpu = cpu_since(cpu[0], os.getpid(), True), cpu_since(cpu[1], server, False)
    if page.get_by_test_id("stException").count():
        raise RuntimeError(f"{page.url} shows an exception")
    return Opened(settled_ms / 1000, script_ms / 1000, browser_cpu, server_cpu, page.locator(COMPUTING).count() > 0)


def first_open(browser: Browser, url: str, timeout_s: float, server: int) -> Opened:
    """Open ``url`` in a fresh context and wait until it has settled."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    try:
        page = context.new_page()
        return until_settled(page, lambda: page.goto(url, wait_until="commit", timeout=timeout_s * 1000), timeout_s, server)
    finally:
        context.close()


class Tab:
    """One open tab of the app, moved from view to view by clicks."""

    def __init__(self, browser: Browser, base: str, server: int, kind: str) -> None:
        self.context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        self.page, self.base, self.server = self.context.new_page(), base, server
        self.views = [v for v in VIEWS if v.tab == kind]  # in the sidebar's (the step bar's) order
        self.shown: View | None = None

    def click(self, view: View) -> Opened:
        """Reach ``view`` from the view before it (cyclic order): ``view``'s open, measured from the click."""
        before = self.views[self.views.index(view) - 1]
        if self.shown is None:
            until_settled(self.page, lambda: self.page.goto(f"{self.base}/{before.path}", wait_until="commit"), WARM_TIMEOUT_S,
                          self.server)
            self.shown = before
        elif self.shown != before:
            self.reach(before)
        return self.reach(view)

    def reach(self, view: View) -> Opened:
        self.page.evaluate(ARM)
        opened = until_settled(self.page, lambda: view.target(self.page).click(timeout=OPEN_TIMEOUT_S * 1000), OPEN_TIMEOUT_S,
                               self.server)
        self.shown = view
        return opened


def warm(browser: Browser, base: str, server: int, views: list[View]) -> None:
    """Every view once, again while it shows something computing (bounded)."""
    for view in views:
        deadline = time.monotonic() + WARM_TIMEOUT_S
        while first_open(browser, f"{base}/{view.path}", WARM_TIMEOUT_S, server).computing:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{view.label} still computes after {WARM_TIMEOUT_S:.0f} s")
            time.sleep(2)


def report(name: str, label: str, runs: list[Opened]) -> float:
    """Print a view's median of one measure, its runs and its CPU seconds; returns the median."""
    median = statistics.median(o.settled_s for o in runs)
    print(f"{name}_s[{label}]={median:.2f}  # runs {', '.join(f'{o.settled_s:.2f}' for o in runs)};"
          f" script over at {', '.join(f'{o.script_s:.2f}' for o in runs)}; loadavg {load_average()}", flush=True)
    print(f"{name}_cpu_s[{label}]={statistics.median(o.browser_cpu_s for o in runs):.2f}"
          f"  # Chromium's CPU seconds; the server's {statistics.median(o.server_cpu_s for o in runs):.2f}", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a copy of another version of the repository, opened alternately")
    parser.add_argument("--views", help="only these views, comma-separated (e.g. why,why_step6,lab)")
    args = parser.parse_args()
    views = [v for v in VIEWS if args.views is None or v.label in args.views.split(",")]
    trees = {"": REPO} | ({"baseline_": args.baseline.resolve()} if args.baseline else {})
    print(f"loadavg_start={load_average()}", flush=True)
    worst: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="page_open_") as tmp, sync_playwright() as p:
        servers, bases = {}, {}
        try:
            for prefix, tree in trees.items():
                home = Path(tmp) / f"{prefix}home"
                port = free_port()
                servers[prefix] = start_server(port, home, Path(tmp) / f"{prefix}server.log", repo=tree)
                bases[prefix] = f"http://{HOST}:{port}"
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for prefix, base in bases.items():
                warm(browser, base, servers[prefix].pid, views)
            print(f"loadavg_warm={load_average()}", flush=True)
            tabs = {(prefix, kind): Tab(browser, base, servers[prefix].pid, kind)
                    for prefix, base in bases.items() for kind in {v.tab for v in views}}
            for view in views:
                clicked: dict[str, list[Opened]] = {prefix: [] for prefix in bases}
                first: dict[str, list[Opened]] = {prefix: [] for prefix in bases}
                for _ in range(args.repeats):
                    for prefix, base in bases.items():  # alternated: both trees under the same load
                        clicked[prefix].append(tabs[prefix, view.tab].click(view))
                        first[prefix].append(first_open(browser, f"{base}/{view.path}", OPEN_TIMEOUT_S, servers[prefix].pid))
                for prefix in bases:
                    for name, runs in ((f"{prefix}page_open", clicked[prefix]), (f"{prefix}page_first_open", first[prefix])):
                        worst.setdefault(name, []).append(report(name, view.label, runs))
            browser.close()
        finally:
            for proc in servers.values():
                stop_server(proc)
    print(f"loadavg_end={load_average()}")
    for name, medians in worst.items():
        print(f"{name}_max_s={max(medians):.2f}")


if __name__ == "__main__":
    main()
