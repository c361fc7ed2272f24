"""Many sessions at once, measured without a browser: Streamlit's own protocol over WebSocket.

    .venv/bin/python bench/load.py [--sessions 10,30,60] [--follow 30] [--port 8713]

Starts ``streamlit run app.py`` on 127.0.0.1 with a throw-away RESNET_LAB_HOME, keeps one
session open throughout (a teacher's tab), warms the caches (every page opened twice, in
turn, one session at a time), waits until the server's child processes are idle (its background warm-up done), then for each N opens N
sessions at once, each
the way the browser does it: a WebSocket to ``/_stcore/stream`` (subprotocol
``streamlit``), one ``rerun_script`` BackMsg naming the page and its query string, then
ForwardMsgs read until ``script_finished``. The pages are mixed in turn: home,
Architecture, Feature maps (a shipped model on a sample digit), Training lab (a preset).

Per N it prints the median and p95 time from opening the socket to the finished page,
the errors (a failed run, a timeout, or a page that shows an exception element), the
server's CPU seconds, its child processes' (the lab's workers) and its peak RSS during that
round (from /proc). The scripts of all
sessions share one interpreter, so they finish together: the wall times follow the
server's CPU seconds and whatever else the machine runs (the load average is printed
before and after; compare versions side by side). It prints ``sessions30_p95_s=<seconds>``
(with N = 30 among the rounds), then the follow round's figures.

The follow round (issue 24, ``--follow 30``): a teacher's session leads a class (its "Lead the class"
button pressed through the protocol), N sessions open the join link and follow it, each running
the follower's fragment as the browser does (the server's ``auto_rerun`` interval, one fragment
rerun per tick while no run is going). The teacher changes page or a setting a few times; per
follower, the time from the teacher's finished run (the change published) to the follower's
finished run showing the new view. Then nothing changes for ``IDLE_S`` while the N + 1 sessions
stay open: the server's CPU share then is the follow mechanism's idle cost. It prints
``follow<N>_p95_s=`` and ``follow_idle_cpu_pct=`` (percent of one core). Headless Chromium on the
same cores would measure the browser, not the server: this client costs little CPU.
Everything is bounded: connections on loopback only, a timeout per page, and the server
is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.server import HOST, start_server, stop_server  # noqa: E402

# (label, URL path (Streamlit's page name: the file name under pages/), query string)
PAGES = (
    ("home", "", "lang=en"),
    ("architecture", "architecture", "lang=en&depth=50"),
    ("feature_maps", "feature_maps", "lang=en&weights=shipped&file=resnet56_digits16.safetensors&image=digit_3"),
    ("lab", "lab", "lang=en&preset=degradation"),
)
IDLE_S = 10.0  # the follow round's quiet spell, for the idle CPU share
# The teacher's changes in the follow round: (page, its query, a number input to set on it or None, to what)
FOLLOW_CHANGES = (
    ("cost", "lang=en", None, None),
    ("cost", "lang=en", "Batch size", 4),
    ("architecture", "lang=en", None, None),
    ("architecture", "lang=en", "Batch size", 6),
    ("cost", "lang=en", None, None),
    ("architecture", "lang=en", None, None),
)
FAILED_RUN = {ForwardMsg.ScriptFinishedStatus.FINISHED_WITH_COMPILE_ERROR: "compile error"}


@dataclass(frozen=True)
class PageRun:
    """One session's page view: seconds to the finished run, what went wrong (None: nothing), its headings."""

    page: str
    seconds: float
    error: str | None
    headings: tuple[str, ...] = ()


def rerun_request(page_name: str, query: str, url: str, page_hash: str = "", widgets: tuple = (),
                  fragment_id: str = "") -> bytes:
    """The BackMsg a browser sends to run this page with this query string: the first of a new session (no
    ``page_hash`` yet: the server resolves the page from its name), or later with the widgets' states (a
    click), or one fragment's run (``fragment_id``, as its ``auto_rerun`` timer does)."""
    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query
    state.page_script_hash = page_hash
    state.page_name = page_name
    state.widget_states.widgets.extend(widgets)
    if fragment_id:
        state.fragment_id = fragment_id
        state.is_auto_rerun = True
    state.context_info.locale = "en-US"
    state.context_info.timezone = "UTC"
    state.context_info.url = url
    return msg.SerializeToString()


def new_element(msg: ForwardMsg) -> Element | None:
    """The element this ForwardMsg draws, if it draws one."""
    if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
        return msg.delta.new_element
    return None


def exception_in(msg: ForwardMsg) -> str | None:
    """The message of an exception element this ForwardMsg draws, if any."""
    element = new_element(msg)
    if element is not None and element.WhichOneof("type") == "exception":
        return f"{element.exception.type}: {element.exception.message}"[:200]
    return None


async def open_page(port: int, label: str, page_name: str, query: str, timeout: float = 300.0) -> PageRun:
    """Open one session on ``page_name?query`` and read it until its script run finishes."""
    base = f"http://{HOST}:{port}"
    start = time.perf_counter()
    error: str | None = None
    finished: float | None = None  # seconds to script_finished: closing the socket after it is not timed
    headings: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            async with connect(f"ws://{HOST}:{port}/_stcore/stream", subprotocols=["streamlit"],
                               origin=base, max_size=None, open_timeout=timeout,
                               ping_interval=None) as ws:  # as the browser: no pings (a busy server answers late)
                await ws.send(rerun_request(page_name, query, f"{base}/{page_name}?{query}"))
                async for data in ws:
                    msg = ForwardMsg()
                    msg.ParseFromString(data)
                    kind = msg.WhichOneof("type")
                    error = error or exception_in(msg)
                    if (element := new_element(msg)) is not None and element.WhichOneof("type") == "heading":
                        headings.append(element.heading.body)
                    if kind == "page_not_found":
                        error = f"page not found: {page_name!r}"
                        break
                    if kind == "script_finished":
                        status = msg.script_finished
                        if status in FAILED_RUN:
                            error = FAILED_RUN[status]
                        # a run cut short for a rerun (st.rerun, a query-param change) goes on
                        if status != ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN:
                            finished = time.perf_counter() - start
                            break
                else:
                    error = error or "connection closed before the run finished"
    except TimeoutError:  # no answer in time, or (after the run finished) a slow close
        if finished is None:
            error = f"no finished run within {timeout:.0f} s"
    except (OSError, ConnectionClosed) as exc:
        if finished is None:
            error = error or f"connection failed: {exc}"
    return PageRun(label, time.perf_counter() - start if finished is None else finished, error, tuple(headings))


async def crowd(port: int, n: int, timeout: float) -> list[PageRun]:
    """N sessions opened at once, the pages taken in turn."""
    return list(await asyncio.gather(*(open_page(port, *PAGES[i % len(PAGES)], timeout=timeout) for i in range(n))))


class Session:
    """One session kept open over the protocol, as a browser tab: it reads every ForwardMsg, runs its fragments'
    ``auto_rerun`` timers (one fragment rerun per tick while no run is going), and records each finished full run
    as (time, page hash, query string)."""

    def __init__(self, port: int) -> None:
        self.port, self.base = port, f"http://{HOST}:{port}"
        self.page_name, self.page_hash, self.query = "", "", ""
        self.pages: dict[str, str] = {}  # URL path → page hash, from new_session
        self.elements: list[Element] = []  # the current full run's elements
        self.runs: list[tuple[float, str, str]] = []  # finished full runs
        self.fragment_runs = 0
        self.errors: list[str] = []
        self.running = False
        self._ticks: dict[str, asyncio.Task] = {}
        self._finished = asyncio.Event()

    async def open(self, page_name: str, query: str) -> None:
        self.ws = await connect(f"ws://{HOST}:{self.port}/_stcore/stream", subprotocols=["streamlit"], origin=self.base,
                                max_size=None, max_queue=None, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        await self.run(page_name, query)

    async def send(self, widgets: tuple = (), fragment_id: str = "") -> None:
        self.running = True
        url = f"{self.base}/{self.page_name}?{self.query}"
        await self.ws.send(rerun_request(self.page_name, self.query, url, self.page_hash, widgets, fragment_id))

    async def run(self, page_name: str | None = None, query: str | None = None, widgets: tuple = (),
                  timeout: float = 300.0) -> None:
        """A full run (another page, a widget's new state) and its end."""
        if page_name is not None:
            self.page_name, self.page_hash = page_name, self.pages.get(page_name, "")
        if query is not None:
            self.query = query
        done = len(self.runs)
        await self.send(widgets)
        async with asyncio.timeout(timeout):
            while len(self.runs) == done:
                self._finished.clear()
                await self._finished.wait()

    def widget(self, kind: str, label: str) -> Any:
        """The current run's widget of this kind ("button", "number_input") and label."""
        return next(getattr(e, kind) for e in self.elements if e.WhichOneof("type") == kind and getattr(e, kind).label == label)

    def code_text(self, containing: str) -> str:
        return next(e.code.code_text for e in self.elements if e.WhichOneof("type") == "code" and containing in e.code.code_text)

    async def close(self) -> None:
        for tick in self._ticks.values():
            tick.cancel()
        await self.ws.close()
        self._reader.cancel()

    async def _tick(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not self.running:
                await self.send(fragment_id=fragment_id)

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except ConnectionClosed:
            pass

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "navigation":  # a full run starts (not a fragment's): its fragments register their timers again
            self.elements = []
            for tick in self._ticks.values():
                tick.cancel()
            self._ticks.clear()
            self.page_hash = msg.navigation.page_script_hash  # the page this run is of (new_session's: the main script's)
            self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            self.page_name = next((path for path, h in self.pages.items() if h == self.page_hash), self.page_name)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "auto_rerun":
            if (old := self._ticks.get(msg.auto_rerun.fragment_id)) is not None:
                old.cancel()
            self._ticks[msg.auto_rerun.fragment_id] = asyncio.create_task(
                self._tick(msg.auto_rerun.fragment_id, msg.auto_rerun.interval))
        elif (element := new_element(msg)) is not None:
            self.elements.append(element)
            if (error := exception_in(msg)) is not None:
                self.errors.append(error)
        elif kind == "script_finished" and msg.script_finished != ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN:
            self.running = False
            if msg.script_finished == ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragment_runs += 1
            else:
                self.runs.append((time.perf_counter(), self.page_hash, self.query))
            self._finished.set()


async def followed(followers: list[Session], since: float, page_hash: str, settings: tuple[str, ...],
                   timeout: float) -> list[float | None]:
    """Per follower, seconds from ``since`` to its first finished run on that page with those settings (None: not
    within ``timeout``)."""
    def first(f: Session) -> float | None:
        return next((t - since for t, page, query in f.runs
                     if t >= since and page == page_hash and set(settings) <= set(query.split("&"))), None)

    deadline = time.monotonic() + timeout
    while any(first(f) is None for f in followers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return [first(f) for f in followers]


async def follow_round(port: int, pid: int, n: int, timeout: float) -> tuple[list[float], float, list[str]]:
    """A teacher leads a class, ``n`` sessions follow it through ``FOLLOW_CHANGES``, then stay for ``IDLE_S``.

    Returns every follow time, the server's CPU share of one core (%) while nothing changed, and what went wrong.
    """
    teacher = Session(port)
    await teacher.open("architecture", "lang=en")
    lead = teacher.widget("button", "Lead the class")
    await teacher.run(widgets=(WidgetState(id=lead.id, trigger_value=True),))
    code = teacher.code_text("?class=").rsplit("class=", 1)[1]
    followers = [Session(port) for _ in range(n)]
    await asyncio.gather(*(f.open("", f"lang=en&class={code}") for f in followers))
    times: list[float] = []
    problems = [f"{sum(t is None for t in joined)} of {n} followers never reached the teacher's page"
                for joined in [await followed(followers, 0.0, teacher.page_hash, (), timeout)] if None in joined]
    for page, query, label, value in FOLLOW_CHANGES:
        cpu0 = cpu_seconds(pid)
        if label is None:
            await teacher.run(page, query)
            settings: tuple[str, ...] = ()
        else:
            widget = teacher.widget("number_input", label)
            await teacher.run(widgets=(WidgetState(id=widget.id, int_value=value),))
            settings = tuple(p for p in teacher.query.split("&") if p.endswith(f"={value}"))[:1]
        since = teacher.runs[-1][0]  # the teacher's run finished: the change is in the store
        took = await followed(followers, since, teacher.page_hash, settings, timeout)
        times += [t for t in took if t is not None]
        if None in took:
            problems.append(f"{sum(t is None for t in took)} of {n} followers missed {page} {label or ''}={value or ''}")
        arrived = [t for t in took if t is not None] or [math.nan]
        print(f"     follow {page:<13} {label or 'page':<11} median {statistics.median(arrived):5.2f} s  max {max(arrived):5.2f} s"
              f"  server CPU {cpu_seconds(pid) - cpu0:5.2f} s (the teacher's run and {n} followers')")
    await asyncio.sleep(2.0)  # the last follow's runs over
    ticks0, cpu0 = sum(f.fragment_runs for f in followers), cpu_seconds(pid)
    await asyncio.sleep(IDLE_S)
    idle_pct = 100.0 * (cpu_seconds(pid) - cpu0) / IDLE_S
    print(f"     idle {IDLE_S:.0f} s with {n} followers and the teacher: {sum(f.fragment_runs for f in followers) - ticks0}"
          f" follower fragment runs, server CPU {idle_pct:.1f} % of one core")
    problems += [f"follower: {e}" for f in followers for e in f.errors[:1]] + [f"teacher: {e}" for e in teacher.errors[:1]]
    await asyncio.gather(*(s.close() for s in [teacher, *followers]))
    return times, idle_pct, problems


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """A process's resident set (or ``VmHWM``, its peak so far) from /proc, in bytes; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakRSS:
    """Samples a process's RSS in a thread while in the ``with`` block; ``peak`` in bytes."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s, self.peak = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (of 10 values: the largest; of 30: the 29th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (field 3 on); [] once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc/<pid>/stat)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0  # utime, stime


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process's descendants (the lab's workers and tasks), live and finished."""
    parents = {int(p): int(fields[1]) for p in os.listdir("/proc") if p.isdigit() and (fields := _stat(int(p)))}
    live = [p for p in parents if p != pid and _descends(p, pid, parents)]
    fields = _stat(pid)
    done = (int(fields[13]) + int(fields[14])) if fields else 0  # cutime, cstime: children already waited for
    return (done + sum(int(f[11]) + int(f[12]) for p in live if (f := _stat(p)))) / os.sysconf("SC_CLK_TCK")


async def children_settle(pid: int, idle_cpu_s: float = 0.1, limit_s: float = 300.0) -> str:
    """Wait until the server's descendants are idle (under ``idle_cpu_s`` CPU-seconds in each of two seconds in a
    row; at most ``limit_s``): the server's background warm-up (reference runs imported, the fast path exported,
    the home page's measurements) runs in them after start, and a round measured meanwhile measures it too."""
    start, last, quiet = time.monotonic(), children_cpu_seconds(pid), 0
    while quiet < 2 and time.monotonic() - start < limit_s:
        await asyncio.sleep(1.0)
        now = children_cpu_seconds(pid)
        quiet = quiet + 1 if now - last < idle_cpu_s else 0
        last = now
    state = "idle" if quiet >= 2 else f"still busy after {limit_s:.0f} s"
    return f"background work in the server's child processes: {state} {time.monotonic() - start:.0f} s after the warm-up"


def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    for _ in range(64):  # bounded walk up the process tree
        pid = parents.get(pid, 0)
        if pid == ancestor:
            return True
        if pid <= 1:
            return False
    return False


def last_tracebacks(log: str, n: int = 2, lines: int = 40) -> str:
    """The last ``n`` Python tracebacks in a server log, at most ``lines`` lines each."""
    parts = log.split("Traceback (most recent call last):")[1:]
    return "\n".join("Traceback (most recent call last):" + "\n".join(p.splitlines()[:lines]) for p in parts[-n:]) or "(none)"


async def rounds(port: int, pid: int, counts: list[int], warm: int, timeout: float,
                 follow: int = 0) -> tuple[dict[int, float], bool, tuple[float, float] | None]:
    """Warm-up, one round per N, then the follow round with ``follow`` followers (0: none); prints the figures.
    Returns p95 by N, whether any page failed, and the follow round's p95 and idle CPU share (%)."""
    base = f"http://{HOST}:{port}"
    failed = False
    # One session stays open all along, as the teacher's tab does: when the last session
    # closes, Streamlit drops its compiled page scripts, and every round would compile them again.
    async with connect(f"ws://{HOST}:{port}/_stcore/stream", subprotocols=["streamlit"], origin=base,
                       max_size=None, max_queue=None, ping_interval=None) as anchor:  # never read: buffer all
        await anchor.send(rerun_request("", "lang=en", f"{base}/?lang=en"))
        for _ in range(warm):  # builds the models, fills the caches, imports everything
            for page in PAGES:
                run = await open_page(port, *page, timeout=timeout)
                failed = failed or run.error is not None
                print(f"warm-up {run.page:<13} {run.seconds:6.2f} s{'  ERROR ' + run.error if run.error else ''}")
        print(await children_settle(pid))
        print(f"{'N':>4} {'median_s':>9} {'p95_s':>7} {'max_s':>7} {'errors':>6} {'server_cpu_s':>12} {'workers_cpu_s':>13} {'peak_rss_mb':>11}")
        p95s: dict[int, float] = {}
        for n in counts:
            cpu0, workers0 = cpu_seconds(pid), children_cpu_seconds(pid)
            with PeakRSS(pid) as rss:
                runs = await crowd(port, n, timeout)
            times = [r.seconds for r in runs]
            errors = [r for r in runs if r.error]
            p95s[n] = p95(times)
            print(f"{n:>4} {statistics.median(times):>9.2f} {p95s[n]:>7.2f} {max(times):>7.2f} {len(errors):>6}"
                  f" {cpu_seconds(pid) - cpu0:>12.1f} {children_cpu_seconds(pid) - workers0:>13.1f} {rss.peak / 2**20:>11.0f}")
            for page, *_ in PAGES:
                mine = sorted(r.seconds for r in runs if r.page == page)
                if mine:
                    print(f"     {page:<13} median {statistics.median(mine):6.2f} s  max {mine[-1]:6.2f} s  ({len(mine)} sessions)")
            failed = failed or bool(errors)
            for r in errors[:5]:
                print(f"     error on {r.page}: {r.error}")
        figures = None
        if follow:
            print(f"follow round: a teacher and {follow} followers")
            times, idle_pct, problems = await follow_round(port, pid, follow, timeout)
            for problem in problems[:5]:
                print(f"     error: {problem}")
            failed = failed or bool(problems)
            figures = (p95(times), idle_pct) if times else None
    return p95s, failed, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="10,30,60", help="comma-separated N, one round each")
    parser.add_argument("--port", type=int, default=8713)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a page may take before it counts as an error")
    parser.add_argument("--warm", type=int, default=2, help="warm-up passes over the pages (one session at a time)")
    parser.add_argument("--follow", type=int, default=30, help="followers of the follow round (0: no follow round)")
    args = parser.parse_args()
    counts = [int(n) for n in args.sessions.split(",")]
    if not counts or min(counts) < 1 or args.follow < 0:
        parser.error("--sessions must list positive counts")

    with open("/proc/loadavg") as f:
        print(f"load average before: {' '.join(f.read().split()[:3])} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="resnet_lab_load_") as tmp:
        proc = start_server(args.port, Path(tmp) / "home", Path(tmp) / "server.log")
        failed, follow = True, None  # until the rounds say otherwise (the bench itself may fail)
        try:
            p95s, failed, follow = asyncio.run(rounds(args.port, proc.pid, counts, args.warm, args.timeout, args.follow))
            print(f"server peak RSS over the whole bench (VmHWM): {rss_bytes(proc.pid, 'VmHWM') / 2**20:.0f} MB")
        finally:
            stop_server(proc)
            if failed:  # the page shows a redacted message (client.showErrorDetails): the log has the traceback
                print("server log, last tracebacks:\n" + last_tracebacks((Path(tmp) / "server.log").read_text()))
    with open("/proc/loadavg") as f:
        print(f"load average after: {' '.join(f.read().split()[:3])}")
    if 30 in p95s:
        print(f"sessions30_p95_s={p95s[30]:.2f}")
    if follow is not None:
        print(f"follow{args.follow}_p95_s={follow[0]:.2f}")
        print(f"follow_idle_cpu_pct={follow[1]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
