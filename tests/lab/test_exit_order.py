"""Issue 20: the server's children are stopped by our exit, before multiprocessing's, and none starts during it.

multiprocessing's own exit handler SIGTERMs every daemon child and then waits for each
without a bound; a Paddle process answers SIGTERM with a crash report first. A server
stopped by SIGTERM or Ctrl-C sometimes took longer than 10 s that way, and a child started
during the exit (a monitor replacing a worker Ctrl-C had hit) died at start-up with
"Fatal Python error: init_sys_streams". The interpreter's own finalization then took a
second or more, ten times that on a loaded machine (``gc.freeze`` spares it). Each check runs in a fresh interpreter, whose exit
is the thing tested.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _exit_of(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_our_stops_run_before_multiprocessings_exit_handler_and_no_child_starts_in_them():
    out = _exit_of("""
import atexit, gc
atexit.register(lambda: print("finalization spared the full collections:", gc.get_freeze_count() > 0))  # runs last
import multiprocessing as mp
from resnet.lab import procs

def stop():
    import multiprocessing.util as util
    print("multiprocessing exited first:", util._exiting)
    try:
        with procs.clean_spawn():
            print("a child could start")
    except procs.Exiting:
        print("refused")

procs.on_exit(stop)
mp.get_context("spawn").Process(target=print, daemon=True).start()  # registers what a started child registers
""")
    assert out.splitlines() == ["multiprocessing exited first: False", "refused",
                                "finalization spared the full collections: True"], out


def test_a_failing_stop_does_not_keep_the_others_from_running():
    out = _exit_of("""
from resnet.lab import procs

def broken():
    raise RuntimeError("boom")

procs.on_exit(broken)
procs.on_exit(lambda: print("second stop ran"))
""")
    assert out.strip() == "second stop ran"
