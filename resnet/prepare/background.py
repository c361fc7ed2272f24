"""The server's warm-up: once per process, in the inference service, so that no page waits for it.

This module loads no Paddle, and neither does the server for the warm-up: ``tasks.warm_server``
runs in the first inference service process (``resnet.lab.service``), where the Feature maps
page's requests then find its models and predictors ready (a request goes to the oldest idle
process unless another one served its model last). A server thread only waits for the
answer on a pipe: no thread of the server is inside Paddle when its interpreter exits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future

from ..lab import service

ENV_WARMUP = "RESNET_LAB_WARMUP"  # "0": no warm-up (the test suite; a server that never shows Feature maps)
WARM_TIMEOUT_S = 600.0  # exporting the fast path of two ResNet-50s on a busy 2-core machine

_log = logging.getLogger(__name__)


def warm_up_enabled() -> bool:
    return os.environ.get(ENV_WARMUP, "1") != "0"


def start_warm_up(**kwargs: object) -> Future[list[str]]:
    """Ask the inference service to run ``tasks.warm_server(**kwargs)``; its future (what each fast model
    runs on, [] when disabled).

    A failure is logged and kept in the future: the pages then have that work done when asked, as
    without a warm-up.
    """
    future: Future[list[str]] = Future()
    if not warm_up_enabled():
        future.set_result([])
        return future

    def wait() -> None:
        future.set_running_or_notify_cancel()
        start = time.perf_counter()
        try:
            built = service.call("resnet.prepare.tasks:warm_server", timeout=WARM_TIMEOUT_S, **kwargs)
            _log.info("the server's warm-up finished in %.1f s", time.perf_counter() - start)
            future.set_result(built)
        except service.ServiceStopped as exc:  # the server leaves: nothing failed
            future.set_exception(exc)
        except BaseException as exc:  # noqa: BLE001  (kept in the future, never raised into a page)
            _log.warning("the server's warm-up failed; pages will have that work done when asked", exc_info=True)
            future.set_exception(exc)

    threading.Thread(target=wait, name="resnet-lab-warm-up", daemon=True).start()
    return future
