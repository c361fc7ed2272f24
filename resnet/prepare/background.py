"""The server's warm-up: once per process, in a daemon thread, so that no page waits for it.

This module loads no Paddle: the pages that need none import it too (``page_setup``),
and Paddle is imported by the warm-up thread itself (``tasks``), while the first pages
are already being served.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

ENV_WARMUP = "RESNET_LAB_WARMUP"  # "0": no warm-up thread (the test suite; a server that never shows Feature maps)

_log = logging.getLogger(__name__)


def warm_up_enabled() -> bool:
    return os.environ.get(ENV_WARMUP, "1") != "0"


def start_warm_up() -> Future[list[Any]]:
    """Run ``tasks.warm_server`` in a daemon thread; its future (the fast models built, [] when disabled).

    A failure is logged and kept in the future: the pages then do the work themselves, as
    without a warm-up.
    """
    future: Future[list[Any]] = Future()
    if not warm_up_enabled():
        future.set_result([])
        return future

    def work() -> None:
        future.set_running_or_notify_cancel()
        start = time.perf_counter()
        try:
            from . import tasks  # Paddle loads here, in this thread: no page waits for its import

            built = tasks.warm_server()
            _log.info("the server's warm-up finished in %.1f s", time.perf_counter() - start)
            future.set_result(built)
        except BaseException as exc:  # noqa: BLE001  (kept in the future, never raised into a page)
            _log.warning("the server's warm-up failed; pages will do that work when asked", exc_info=True)
            future.set_exception(exc)

    threading.Thread(target=work, name="resnet-lab-warm-up", daemon=True).start()
    return future
