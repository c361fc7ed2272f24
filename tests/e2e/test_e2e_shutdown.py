"""End to end: a server told to stop (SIGTERM, or Ctrl-C's SIGINT) while a run trains and a task computes.

It exits within EXIT_S, leaves none of its processes behind (training workers, task
processes, anything it started), the run ends "interrupted" with its curve kept, and the
artifacts its task processes were computing are left to the next request (no lease to
wait out). Each test starts its own server on its own data home; a Chromium page opens
the pages that start the work, as a visitor would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page

from bench.server import HOST, free_port, start_server, stop_server
from resnet.lab.config import TrainConfig
from resnet.lab.store import RunStore
from tests.helpers import poll

pytestmark = pytest.mark.e2e

EXIT_S = 10  # the server's whole exit: workers stopped, runs recorded, task processes ended
LONG = TrainConfig(depth=20, width=4, batch_size=16, steps=20_000, eval_every=1000, seed=3)  # trains until stopped


def _alive(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie has ended, only its exit status waits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _computing(store: RunStore, server_pid: int) -> list[tuple[int, str, str, int]]:
    """The artifacts a task process is computing: (run id, kind, key, its PID). The server
    begins an artifact under its own PID; the task process then writes its own."""
    with sqlite3.connect(store.address) as con:
        return con.execute("SELECT run_id, kind, key, worker_pid FROM artifacts WHERE status = 'running' "
                           "AND worker_pid != ?", (server_pid,)).fetchall()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc (children, their children…)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError):
                continue  # ended meanwhile
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.update(children)
        todo += children
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stopped_server_leaves_no_process_and_an_interrupted_run(tmp_path, page: Page, signum):
    """SIGTERM goes to the server alone (a service manager); Ctrl-C's SIGINT to every process of the terminal's group."""
    home = tmp_path / "server_home"
    store = RunStore(home / "runs.sqlite")
    run_id, _ = store.enqueue(replace(LONG, seed=int(signum)))  # queued before the server starts: it resumes it
    port = free_port()
    server = start_server(port, home, tmp_path / "server.log", wait_s=120)
    try:
        url = f"http://{HOST}:{port}"
        page.goto(f"{url}/?lang=en")  # the first page view starts workers for the runs waiting
        run = poll(lambda: (r := store.get_run(run_id)).status == "running" and r.steps_done >= 1 and r,
                   "the queued run to train", timeout=180)
        page.goto(f"{url}/lab?lang=en")  # the preset's diagnostics are measured in task processes
        computing = poll(lambda: _computing(store, server.pid), "a task process to compute", timeout=180)
        processes = _descendants(server.pid) | {run.worker_pid} | {pid for *_, pid in computing}
        started = time.monotonic()
        os.kill(server.pid, signum)
        for pid in processes if signum == signal.SIGINT else ():
            with contextlib.suppress(ProcessLookupError):  # e.g. one that had just finished
                os.kill(pid, signum)
        try:
            code = server.wait(timeout=EXIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server was still running {EXIT_S} s after {signal.Signals(signum).name}:\n"
                        + (tmp_path / "server.log").read_text()[-3000:])
        took = time.monotonic() - started
    finally:
        stop_server(server)
    assert code == 0, (tmp_path / "server.log").read_text()[-3000:]
    poll(lambda: not [pid for pid in processes if _alive(pid)], f"the server's processes to end (it exited after {took:.1f} s)",
         timeout=5)  # e.g. multiprocessing's resource tracker leaves when its pipe closes
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.error == "the app stopped while it trained"
    assert run.steps_done >= 1 and store.metrics(run_id)["step"] == list(range(1, run.steps_done + 1))  # curve kept
    for ident in (tuple(row[:3]) for row in computing):  # finished in time, or left to whoever asks next, at once
        artifact = store.artifact(*ident)
        assert artifact.status == "done" or store.begin_artifact(*ident, worker_pid=1), artifact
