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

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

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


def _delta(path: list[int], fragment_id: str, chart_bytes: int = 0) -> ForwardMsg:
    """A fragment's new-element delta at ``path``: a plotly chart of about ``chart_bytes``, or a markdown line."""
    msg = ForwardMsg()
    msg.metadata.delta_path[:] = path
    msg.delta.fragment_id = fragment_id
    if chart_bytes:
        msg.delta.new_element.plotly_chart.spec = '{"data": [{"y": [%s]}]}' % ",".join(["0.5"] * (chart_bytes // 4))
    else:
        msg.delta.new_element.markdown.body = "caption"
    return msg


def test_the_shipped_config_caches_no_message_so_a_fragment_tick_leaves_no_bare_reference_behind():
    """Why the shipped config turns Streamlit's message cache off (``global.minCachedMessageSize``).

    With the cache on (Streamlit's 10 kB), a chart the browser has seen goes out as a bare reference.
    When the lab's live region (a fragment with ``run_every``) starts a tick before the last run's
    messages were sent, the queue's clear drops that run's deltas but keeps the reference (it carries
    no fragment id), which then lands past the end of a container the browser has emptied: "Bad delta
    path index 2 (should be between [0, 0])" and the tab's app unmounts (seen in CI, and recorded in 2 of
    20 rounds of a probe under load). If a Streamlit upgrade makes the first half fail, the setting can go.
    """
    from streamlit import config
    from streamlit.runtime.forward_msg_cache import create_reference_msg, populate_hash_if_needed
    from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["global"]["minCachedMessageSize"]
    default = config.get_option("global.minCachedMessageSize")
    try:
        # Streamlit's default: the 50 kB chart is cacheable, and the clear for the fragment's next tick keeps its reference
        config.set_option("global.minCachedMessageSize", 10e3)
        caption, chart = _delta([0, 16, 5, 5, 0], "live"), _delta([0, 16, 5, 5, 2], "live", chart_bytes=50_000)
        populate_hash_if_needed(chart)
        assert chart.metadata.cacheable
        queue = ForwardMsgQueue()
        queue.enqueue(caption)
        queue.enqueue(create_reference_msg(chart))
        queue.clear(retain_lifecycle_msgs=True, fragment_ids_this_run=["live"])
        assert [m.WhichOneof("type") for m in queue.flush()] == ["ref_hash"]  # the caption went, its reference stayed

        # the shipped value: no message Streamlit would send is cacheable, so none goes out as a reference
        config.set_option("global.minCachedMessageSize", shipped)
        assert shipped > config.get_option("server.maxMessageSize") * 1e6
        big = _delta([0, 16, 5, 5, 2], "live", chart_bytes=50_000)
        populate_hash_if_needed(big)
        assert big.hash and not big.metadata.cacheable
    finally:
        config.set_option("global.minCachedMessageSize", default)
