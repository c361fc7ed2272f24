"""Issue 20: a process that opened a page exits cleanly, however far the server's warm-up got.

The warm-up used to run in a thread of the server, inside Paddle; a short process (a test,
a server stopped early) then ended with ``terminate called without an active exception``
and SIGABRT (exit 134) about once in five. It now runs in the inference service, and the
server's thread only waits on a pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from resnet.prepare.background import ENV_WARMUP

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 20
AT_ONCE = 2  # the machine's cores

SHORT_PROCESS = """
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=120)
at.run()
assert not at.exception, [e.value for e in at.exception]
"""


@pytest.mark.slow  # 20 interpreters that each load Paddle: about a minute
def test_short_processes_that_open_the_home_page_with_the_warm_up_on_all_exit_0(tmp_path):
    def one(index: int) -> tuple[int, str]:
        home = tmp_path / f"home{index}"
        env = {**os.environ, ENV_WARMUP: "1", "RESNET_LAB_HOME": str(home)}
        done = subprocess.run([sys.executable, "-c", SHORT_PROCESS], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)
        return done.returncode, done.stderr[-1500:]

    with ThreadPoolExecutor(AT_ONCE) as runner:
        results = list(runner.map(one, range(PROCESSES)))
    failed = [(code, err) for code, err in results if code != 0]
    assert not failed, f"{len(failed)} of {PROCESSES} exited non-zero: {failed[:2]}"
    assert not any("terminate called" in err or "Aborted at" in err for _, err in results)
