"""The inference service (``resnet.lab.service``): requests, progress, errors, bounds, its processes.

Each test uses its own pool of one process (spawn: a fresh interpreter, no Paddle here).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from resnet.lab.service import ServiceError, ServicePool, ServiceStopped
from resnet.model.preprocess import ImageError
from tests.helpers import poll

T = "tests.lab.service_targets:"


@pytest.fixture
def pool():
    service = ServicePool(limit=1)
    yield service
    service.stop()
    assert service.running() == 0


def test_a_request_gets_its_answer_with_arrays_both_ways_and_its_progress(pool):
    assert pool.call(T + "echo", a=1, b="x") == {"a": 1, "b": "x"}
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(pool.call(T + "doubled", array=array), 2 * array)
    seen = []
    served_by = pool.call(T + "steps", n=3, progress=lambda fraction, step: seen.append((fraction, step)))
    assert seen == [(1 / 3, "step 0"), (2 / 3, "step 1"), (1.0, "step 2")]
    assert pool.call(T + "pid") == served_by and pool.running() == 1  # one long-lived process serves them all


def test_the_callers_folders_go_with_every_request(pool, monkeypatch, tmp_path):
    assert pool.call(T + "env", name="RESNET_LAB_HOME") == str(tmp_path / "resnet_lab_home")  # conftest's isolated home
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "other"))
    assert pool.call(T + "env", name="RESNET_LAB_HOME") == str(tmp_path / "other")
    monkeypatch.delenv("RESNET_LAB_WEIGHTS_DIR", raising=False)
    assert pool.call(T + "env", name="RESNET_LAB_WEIGHTS_DIR") is None


def test_errors_come_back_as_the_page_expects_them(pool):
    with pytest.raises(ImageError) as refused:  # the core's refusal, with its code and values for the page's text
        pool.call(T + "refuse", path="/srv/secret/w.safetensors")
    assert refused.value.code == "damaged" and refused.value.values == {"name": "w.safetensors"}
    with pytest.raises(ServiceError, match=r"^OSError: cannot read w\.safetensors$"):  # a public message: no paths
        pool.call(T + "fail", path="/srv/secret/w.safetensors")
    with pytest.raises(ServiceError, match="could not be sent back"):
        pool.call(T + "unpicklable")
    first = pool.call(T + "pid")
    with pytest.raises(MemoryError, match="no room"):  # …and that process leaves, its memory back to the machine
        pool.call(T + "out_of_memory")
    assert pool.call(T + "pid") != first


def test_a_process_that_dies_or_runs_too_long_is_replaced(pool):
    first = pool.call(T + "pid")
    with pytest.raises(ServiceError, match=r"stopped \(exit code 3\)"):
        pool.call(T + "die")
    second = pool.call(T + "pid")
    assert second != first
    with pytest.raises(ServiceError, match="took too long"):
        pool.call(T + "sleep", seconds=60, timeout=3)
    assert pool.call(T + "pid") not in (first, second) and pool.running() == 1


def test_a_request_waits_for_a_busy_process_within_its_bound(pool):
    sleeping = threading.Thread(target=lambda: pool.call(T + "sleep", seconds=4))
    sleeping.start()
    try:
        with pytest.raises(ServiceError, match="busy"):  # the pool's one process is taken for longer than this request's bound
            pool.call(T + "pid", timeout=1)
        assert pool.call(T + "echo", a=1, timeout=60) == {"a": 1}  # waits its turn
    finally:
        sleeping.join(timeout=60)


def test_stopping_the_pool_ends_a_request_and_its_process():
    pool, errors = ServicePool(limit=1), []

    def long_request() -> None:
        try:
            pool.call(T + "sleep", seconds=60)
        except ServiceError as exc:
            errors.append(exc)

    caller = threading.Thread(target=long_request)
    caller.start()
    poll(lambda: pool.running() == 1, "the service process to start", timeout=60)
    pool.stop()
    caller.join(timeout=30)
    assert pool.running() == 0 and len(errors) == 1 and isinstance(errors[0], ServiceStopped)
