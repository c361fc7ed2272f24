"""The benches' Streamlit server: the README's start command on loopback, on a temp data home.

``serve_command`` is what ``bash .ci/start-app`` runs after its set-up (not the script itself:
its set-up asks pip for upgrades), with only the port and the address given: every other
setting, the file watcher off included, comes from ``.streamlit/config.toml``, so a bench
measures the server a user starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only
CHROMIUM = "/usr/bin/chromium"  # Debian's, for the browser tests and benches (Playwright's own download is never used)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def serve_command(port: int) -> list[str]:
    """``.ci/start-app``'s ``exec`` line with ``PORT=port`` and ``--server.address HOST`` as its extra arguments."""
    return [str(REPO / ".venv" / "bin" / "streamlit"), "run", "app.py", "--server.port", str(port),
            "--server.address", HOST]


def start_server(port: int, home: Path, log_path: Path, wait_s: float = 180.0, repo: Path = REPO) -> subprocess.Popen:
    """``serve_command(port)`` in ``repo`` (this repository, or a copy of another version of it: same
    virtualenv), returned once its health endpoint answers (bounded)."""
    log = open(log_path, "w")
    proc = subprocess.Popen(serve_command(port), cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "RESNET_LAB_HOME": str(home)})
    log.close()  # the child holds its own copy
    deadline = time.monotonic() + wait_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            if time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"no answer on port {port} within {wait_s:.0f} s") from None
            time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
