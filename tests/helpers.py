"""Helpers shared by the test files (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import ast
import http.server
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from streamlit.testing.v1 import AppTest

from resnet.lab import pools

REPO = Path(__file__).resolve().parent.parent


def open_page(script: str, *, timeout: float = 180, **params: str) -> AppTest:
    """Run ``script`` (relative to the repo) under AppTest with these URL settings; no exception."""
    at = AppTest.from_file(str(REPO / script), default_timeout=timeout)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def paddle_modules_after(script: str, params: dict[str, str], checks: str = "", setup: str = "",
                         timeout: float = 300) -> list[str]:
    """Paddle's modules a fresh interpreter holds after AppTest ran ``script`` with these URL settings (its
    ``setup`` lines before, its ``checks`` lines on ``at`` after): [] for a page that never imports Paddle."""
    code = ("import sys\n"
            "from streamlit.testing.v1 import AppTest\n"
            f"{setup}"
            f"at = AppTest.from_file({script!r}, default_timeout={timeout})\n"
            f"at.query_params.update({params!r})\n"
            "at.run()\n"
            "assert not at.exception, [e.value for e in at.exception]\n"
            f"{checks}"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'paddle')[:3])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=2 * timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])  # the list the code above printed


def query_param(at: AppTest, name: str) -> str | None:
    """One URL setting after a run (AppTest keeps them as lists)."""
    value = at.query_params.get(name)
    return value[0] if isinstance(value, list) else value


def poll(condition: Callable[[], object], what: str, timeout: float = 60, interval: float = 0.05) -> object:
    """Wait, at most ``timeout`` seconds, until ``condition()`` is truthy; return it."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
    return value


def started_pools() -> set[str]:
    """The addresses of the stores whose pool ``pools.pool_for`` started in this test (tests/conftest.py
    gives every test its own registry)."""
    return set(pools._POOLS)


class Served:
    """What ``file_server`` serves and saw: one file at any path, Range requests, a cut on demand."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = data
        self.ranges: list[str | None] = []  # each GET's Range header
        self.cut_after: int | None = None  # the next GET sends only this many bytes, then hangs up
        self.honour_range = True


@contextmanager
def file_server(served: Served) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving ``served.data`` (with Range support); yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            wanted = self.headers.get("Range")
            served.ranges.append(wanted)
            start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and served.honour_range else 0
            if start and start >= len(served.data):
                self.send_response(416)
                self.end_headers()
                return
            body = served.data[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if served.cut_after is not None:  # promise the whole body, send part of it, hang up
                body, served.cut_after = body[:served.cut_after], None
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
