"""Drop a fragment's tick that the browser sent for a page this session has already left.

A fragment with ``run_every`` makes the browser ask for a rerun of it at that interval, naming the page it
shows. When the server itself moves a session to another page (``st.switch_page`` from a fragment: a
follower going where its teacher went, pages/common/classroom.py), a tick the browser sent just before it
learnt of the move reaches the server while the new page runs. Streamlit 1.67 accepts it (the old page's
fragment stays registered until the new page's run completes) and runs it afterwards as the old page: the
browser is told it is on the old page again and its app unmounts, a white tab (seen in CI under load).
When the browser changes page itself, through a link, it stops its timers first (streamlit/streamlit#9617);
this does the same for a move the server makes. A fragment rerun naming another page than the one the
session runs now is dropped on arrival, as Streamlit already drops a rerun of a fragment that is gone (a
click inside a fragment of the page left goes with it: that page is no longer on the screen).
"""

from __future__ import annotations

import functools

from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.runtime.app_session import AppSession


def is_stale(client_state: ClientState | None, current_page: str) -> bool:
    """Whether this rerun request is a fragment's tick for a page other than ``current_page`` (the page the
    session's last run started on; empty before its first run)."""
    return (client_state is not None and bool(client_state.fragment_id) and bool(current_page)
            and bool(client_state.page_script_hash) and client_state.page_script_hash != current_page)


def install() -> None:
    """Make every session of this server process drop stale fragment ticks (once; later calls do nothing)."""
    original = AppSession.request_rerun
    if getattr(original, "drops_stale_ticks", False):
        return

    @functools.wraps(original)
    def request_rerun(self: AppSession, client_state: ClientState | None) -> None:
        if is_stale(client_state, self._pages_manager.current_page_script_hash):
            return
        original(self, client_state)

    request_rerun.drops_stale_ticks = True  # type: ignore[attr-defined]
    AppSession.request_rerun = request_rerun  # type: ignore[method-assign]
