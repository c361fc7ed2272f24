"""The server that ships is the one the benches and the browser tests measure.

Streamlit's default file watcher polls every file under the project (.venv included): the
shipped config turns it off, and ``bench.server`` (used by the benches and by the tests'
``server`` fixture) starts the app with the command of ``.ci/start-app``, the README's,
without overriding any setting but the port and the address.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

from bench.server import HOST, serve_command

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_turns_the_file_watcher_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["fileWatcherType"] == "none"


def test_the_bench_server_runs_the_start_app_command_with_only_port_and_address():
    exec_lines = [line for line in (ROOT / ".ci" / "start-app").read_text().splitlines() if line.startswith("exec ")]
    assert len(exec_lines) == 1
    expected = [
        {'${PORT:-8501}': "8765"}.get(word, word) for word in shlex.split(exec_lines[0])[1:] if word != "$@"
    ] + ["--server.address", HOST]  # "$@": start-app's extra arguments
    command = serve_command(8765)
    assert Path(command[0]) == ROOT / expected[0] and command[1:] == expected[1:]


def test_no_bench_or_test_overrides_the_file_watcher():
    # a flag (--server.fileWatcherType) or Streamlit's environment variable for it
    here = Path(__file__).resolve()
    sources = [p for folder in ("bench", "tests") for p in (ROOT / folder).rglob("*.py") if p.resolve() != here]
    assert sources
    overriding = [str(p.relative_to(ROOT)) for p in sources
                  if "fileWatcherType" in (text := p.read_text(encoding="utf-8")) or "FILE_WATCHER" in text]
    assert overriding == []
