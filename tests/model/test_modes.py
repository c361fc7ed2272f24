"""resnet.model.modes: Paddle's process-wide switches behind one lock, always put back.

A training step loop (fast_step's legacy-IR static program) runs in one thread while
another exports fast-path programs and counts shapes under LazyGuard: each gets what it
gets alone, and afterwards no flag, mode or binding is left switched. Each guard restores
everything when its block raises, in the main thread and in a thread started later
(where ``paddle.enable_static()`` does nothing).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import numpy as np
import paddle
import pytest
from paddle.base import framework
from paddle.nn.initializer.lazy_init import lazy_init_helper

from resnet.inference import cost, fastpath
from resnet.lab.config import TrainConfig
from resnet.lab.data import load_digits
from resnet.lab.fast_step import StaticStep
from resnet.lab.train import batch_indices, build_model
from resnet.model import modes

TINY = TrainConfig(depth=20, width=4, batch_size=16, steps=3, eval_every=3, seed=3)
MIN_STEPS, MAX_STEPS = 5, 200  # the loop trains until the other thread is done, within these
EXPORTS, COUNTS = 2, 3  # per round of the other thread
INPUT = np.random.default_rng(0).standard_normal((2, 1, 32, 32), dtype=np.float32)  # the fast path's smallest image
GUARDS = {"legacy_static": modes.legacy_static, "onednn_static": modes.onednn_static,
          "exporting": modes.exporting, "shapes_only": modes.shapes_only, "at_rest": modes.at_rest}


@pytest.fixture(scope="module")
def digits():
    return load_digits()  # 8×8


def _state() -> dict[str, Any]:
    """Everything a guard may switch, as this thread sees it while no other thread is inside a guard."""
    with modes.MODE_LOCK:  # another thread's guard may switch the process-wide ones meanwhile
        return {
            "flags": paddle.get_flags(list(modes.FLAGS)),
            "dygraph": paddle.in_dynamic_mode(),
            "tracer": framework.global_var._dygraph_tracer_,  # this thread's, by identity
            "pir_api": framework.global_var._use_pir_api_,
            "lazy": lazy_init_helper().state,
            # what OldIrGuard rebinds for the whole process
            "static.Program": paddle.static.Program,
            "static.program_guard": paddle.static.program_guard,
            "base.Program": paddle.base.Program,
            "float32": paddle.float32,
        }


def _in_thread(work: Callable[[], Any]) -> Any:
    """``work()`` in a new thread (joined before returning): its result, or its exception raised here."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = work()
        except BaseException as exc:  # re-raised in the caller
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["result"]


def _train(data, steps: int | None = None, until: threading.Event | None = None) -> dict[str, Any]:
    """A static training loop of ``steps`` steps, or until ``until`` is set (within MIN/MAX_STEPS)."""
    before = _state()
    step = StaticStep(build_model(TINY, data), TINY, data)
    batches = batch_indices(len(data.y_train), TINY.batch_size, TINY.seed)
    losses = []
    while len(losses) < (steps or MAX_STEPS):
        if until is not None and until.is_set() and len(losses) >= MIN_STEPS:
            break
        idx = next(batches)
        losses.append(step(data.x_train[idx], data.y_train[idx], TINY.lr))
    return {"losses": losses, "evaluation": step.evaluate(data), "state": (before, _state())}


def _export_and_count(data, tmp_path, round_: int) -> dict[str, Any]:
    """Fresh fast-path exports of a seeded model (new cache dirs) and shape counts, as results to compare."""
    before = _state()
    model = build_model(TINY, data)
    outputs, rows = [], []
    try:
        for i in range(EXPORTS):
            fast = fastpath.FastModel.from_model(model, tmp_path / f"round{round_}-{i}")
            assert (fast.backend, fast.notice) == ("predictor", None)  # exported and its self-check passed
            features = fast.forward_features(INPUT)
            outputs.append([features.logits.numpy(), *(b.out.numpy() for b in features.blocks)])
            for _ in range(COUNTS):
                rows.append(cost.resnet_rows(depth=18, batch=1, image_size=32))
    finally:
        fastpath.clear_memory_cache()
    return {"outputs": outputs, "rows": rows, "state": (before, _state())}


def test_training_beside_exports_and_shape_counts_gets_what_each_gets_alone(digits, tmp_path):
    before = _state()
    done, errors, results = threading.Event(), [], {}

    def other() -> None:
        try:
            results["other"] = _export_and_count(digits, tmp_path, 0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    exporter = threading.Thread(target=other)
    exporter.start()
    try:
        results["train"] = _in_thread(lambda: _train(digits, until=done))
    finally:
        exporter.join()
    if errors:
        raise errors[0]
    assert _state() == before

    together_train, together_other = results["train"], results["other"]
    alone_train = _train(digits, steps=len(together_train["losses"]))
    alone_other = _export_and_count(digits, tmp_path, 1)
    assert _state() == before

    assert len(together_train["losses"]) >= MIN_STEPS and np.all(np.isfinite(together_train["losses"]))
    np.testing.assert_allclose(together_train["losses"], alone_train["losses"], rtol=1e-6)
    np.testing.assert_allclose(together_train["evaluation"], alone_train["evaluation"], rtol=1e-6)
    for together, alone in zip(together_other["outputs"], alone_other["outputs"], strict=True):
        for a, b in zip(together, alone, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert together_other["rows"] == alone_other["rows"]
    assert len(together_other["rows"]) == EXPORTS * COUNTS and together_other["rows"][0]  # real tables
    for result in (together_train, together_other, alone_train, alone_other):
        assert result["state"][0] == result["state"][1]  # each thread left as it started


def _switched_as_expected(name: str) -> bool:
    """Whether what ``name``'s guard must switch is switched, seen from inside its block."""
    state = _state()
    expected = {
        "legacy_static": {"dygraph": False, "pir_api": False, "static.Program": paddle.base.framework.Program},
        "onednn_static": {"dygraph": False},
        "exporting": {"dygraph": True},
        "shapes_only": {"dygraph": True, "lazy": True},
        "at_rest": {},  # nothing switched: the lock only
    }[name]
    flags = {"legacy_static": {"FLAGS_new_executor_serial_run": True, "FLAGS_enable_pir_api": False},
             "onednn_static": {"FLAGS_use_mkldnn": True}}.get(name, {})
    return {k: state[k] for k in expected} | {k: state["flags"][k] for k in flags} == expected | flags


@pytest.mark.parametrize("where", ["main thread", "new thread"])
@pytest.mark.parametrize("name", list(GUARDS))
def test_each_guard_switches_then_restores_everything_after_an_error(name, where):
    def attempt() -> tuple[dict, bool, dict]:
        before, inside = _state(), []
        with pytest.raises(RuntimeError, match="inside the guard"), GUARDS[name]():
            inside.append(_switched_as_expected(name))
            raise RuntimeError("inside the guard")
        return before, inside[0], _state()

    before, switched, after = attempt() if where == "main thread" else _in_thread(attempt)
    assert switched
    assert after == before


def test_a_guard_nested_in_another_on_one_thread_switches_and_restores():
    def attempt() -> tuple[bool, bool]:
        with modes.onednn_static():
            with modes.exporting():  # nested on one thread: the lock is re-entrant
                inner = paddle.in_dynamic_mode()
            return inner, paddle.in_dynamic_mode()

    before = _state()
    assert _in_thread(attempt) == (True, False)
    assert _state() == before


def test_while_one_thread_is_in_a_guard_no_other_thread_gets_the_lock():
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with modes.legacy_static():
            inside.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(timeout=60)
        assert not modes.MODE_LOCK.acquire(blocking=False)
    finally:
        release.set()
        holder.join()
    assert modes.MODE_LOCK.acquire(blocking=False)
    modes.MODE_LOCK.release()
