"""How long each page takes to open in Chromium on a warm server, until it has settled.

    .venv/bin/python bench/page_open.py [--repeats 3] [--baseline DIR] [--views why,why_step6,lab]

Starts the app the README's way (``bench/server.py``) on a throw-away RESNET_LAB_HOME, warms
it (every view opened once, and again until nothing on it is computing: the home page's
measured section starts a task on its first view), then opens each view ``--repeats`` times,
each in a fresh Chromium context (Debian's ``/usr/bin/chromium``, headless, which draws WebGL
in software: 3-D charts cost CPU), English, 1280×720, and prints the median seconds per view
as ``page_open_s[<view>]=…`` and the worst median as ``page_open_max_s=…``.

Settled, measured in the page's own clock (``performance.now()``, 0 = navigation start): the
first moment from which, for ``HOLD_S`` without a break,
- a title is drawn, Streamlit's root says its script is not running and its status widget
  ("Running…") is absent,
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
``page_open_cpu_s[<view>]=…`` gives the CPU seconds Chromium's processes spent on the open
(renderer, GPU process: WebGL in software), which other programs barely change (the
server's CPU seconds follow it).
``--baseline DIR`` serves a copy of another version of the repository (same virtualenv) at the
same time and alternates the opens between the two, so that both see the same load; its figures
print as ``baseline_page_open_s[<view>]=…``. Everything is bounded: a timeout per open, both
servers stopped at the end.
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

from playwright.sync_api import Browser, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import CHROMIUM, CHROMIUM_ARGS, HOST, REPO, free_port, start_server, stop_server  # noqa: E402

VIEWPORT = {"width": 1280, "height": 720}
HOLD_S = 0.5  # settled means it stays so this long (a rerun or a fragment's tick would undo it)
FRAME_GAP_S = 0.15  # a longer pause between two frames: the browser is still busy with the page
OPEN_TIMEOUT_S = 60.0  # one open of a warm page
WARM_TIMEOUT_S = 600.0  # the first view of a page: models load, the home page's measurement computes

# (label, path and query string): Streamlit's page name is the file name under pages/
VIEWS = (
    [("why", "?lang=en")]
    + [(f"why_step{step}", f"?lang=en&classroom=1&step={step}") for step in range(1, 7)]
    + [("architecture", "architecture?lang=en"), ("feature_maps", "feature_maps?lang=en"),
       ("cost", "cost?lang=en"), ("lab", "lab?lang=en")]
)

# Evaluated at every animation frame until it returns [settled, script over] (ms since navigation): when the
# page settled, and when its script run was first seen over (the rest is the browser drawing).
SETTLED = """([holdMs, gapMs]) => {
    const now = performance.now();
    const gap = now - (window.__lastFrame === undefined ? now : window.__lastFrame);
    window.__lastFrame = now;
    const inView = e => { const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight; };
    const app = document.querySelector('[data-testid="stApp"]');
    const over = app && app.dataset.testScriptState === 'notRunning'
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
    return now - window.__settledSince >= holdMs ? [window.__settledSince, window.__scriptOver] : false; }"""
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
    """One open of a view: seconds from navigation to settled and to its script run seen over (while the
    browser is busy drawing it sees it late), CPU seconds Chromium and the server spent until then
    (the hold included), whether anything on it still computes (a progress bar or a spinner)."""

    settled_s: float
    script_s: float
    browser_cpu_s: float
    server_cpu_s: float
    computing: bool


def open_view(browser: Browser, url: str, timeout_s: float, server: int) -> Opened:
    """Open ``url`` (served by process ``server``) in a fresh context and wait until it has settled (bounded)."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    try:
        page = context.new_page()
        cpu = cpu_seconds(os.getpid(), chromium_only=True), cpu_seconds(server, chromium_only=False)
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        settled_ms, script_ms = page.wait_for_function(SETTLED, arg=[HOLD_S * 1000, FRAME_GAP_S * 1000], polling="raf",
                                                       timeout=timeout_s * 1000).json_value()
        browser_cpu, server_cpu = cpu_since(cpu[0], os.getpid(), True), cpu_since(cpu[1], server, False)
        if page.get_by_test_id("stException").count():
            raise RuntimeError(f"{url} shows an exception")
        return Opened(settled_ms / 1000, script_ms / 1000, browser_cpu, server_cpu, page.locator(COMPUTING).count() > 0)
    finally:
        context.close()


def warm(browser: Browser, base: str, server: int, views: list[tuple[str, str]]) -> None:
    """Every view once, again while it shows something computing (bounded)."""
    for label, path in views:
        deadline = time.monotonic() + WARM_TIMEOUT_S
        while open_view(browser, f"{base}/{path}", WARM_TIMEOUT_S, server).computing:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{label} still computes after {WARM_TIMEOUT_S:.0f} s")
            time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a copy of another version of the repository, opened alternately")
    parser.add_argument("--views", help="only these views, comma-separated (e.g. why,why_step6,lab)")
    args = parser.parse_args()
    views = [v for v in VIEWS if args.views is None or v[0] in args.views.split(",")]
    trees = {"": REPO} | ({"baseline_": args.baseline.resolve()} if args.baseline else {})
    print(f"loadavg_start={load_average()}", flush=True)
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
            medians: dict[str, list[float]] = {prefix: [] for prefix in bases}
            for label, path in views:
                opens: dict[str, list[Opened]] = {prefix: [] for prefix in bases}
                for _ in range(args.repeats):
                    for prefix, base in bases.items():  # alternated: both trees under the same load
                        opens[prefix].append(open_view(browser, f"{base}/{path}", OPEN_TIMEOUT_S, servers[prefix].pid))
                for prefix, runs in opens.items():
                    median = statistics.median(o.settled_s for o in runs)
                    medians[prefix].append(median)
                    print(f"{prefix}page_open_s[{label}]={median:.2f}  # runs {', '.join(f'{o.settled_s:.2f}' for o in runs)};"
                          f" script over at {', '.join(f'{o.script_s:.2f}' for o in runs)}; loadavg {load_average()}", flush=True)
                    print(f"{prefix}page_open_cpu_s[{label}]={statistics.median(o.browser_cpu_s for o in runs):.2f}"
                          f"  # Chromium's CPU seconds; the server's {statistics.median(o.server_cpu_s for o in runs):.2f}", flush=True)
            browser.close()
        finally:
            for proc in servers.values():
                stop_server(proc)
    print(f"loadavg_end={load_average()}")
    for prefix, values in medians.items():
        print(f"{prefix}page_open_max_s={max(values):.2f}")


if __name__ == "__main__":
    main()
