"""Paddle's process-wide switches, in one place behind one lock.

Paddle keeps much of its state per process, not per thread: the flags (``FLAGS_*``), the IR
the ``paddle.static`` names and dtypes are bound to (``OldIrGuard`` rebinds them),
``paddle.LazyGuard`` (every layer built meanwhile gets parameters without memory), and the
dygraph/static switch last made by any thread, which a thread started afterwards inherits.
So every change of these goes through a guard here:

    with legacy_static(): ...      # fast_step's training program: static, legacy IR, serial executor
    with onednn_static(): ...      # landscape's loss program: static, oneDNN kernels
    with exporting(): paddle.jit.save(paddle.jit.to_static(...), path)   # fastpath, landscape
    with shapes_only(): model = resnet(50)                               # cost: shapes, no weights
    with at_rest(): inference.create_predictor(config)                   # fastpath: reads the flags

Each guard holds ``MODE_LOCK`` for its whole block and, on the way out, error or not, puts
back the flags it may touch (``FLAGS``) and this thread's dygraph/static mode as it found
them. ``ResNet.__init__`` holds the lock too, so no model is built inside another thread's
``shapes_only``. The lock is re-entrant: a guard (or a model build) inside another guard on
the same thread goes straight through; another thread waits until the block ends, e.g. for
one whole training step, which is the point: two threads' switches never interleave.
Code outside every guard does not wait, so what reads the switches holds one (``at_rest``).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Iterator

import paddle
from paddle import nn
from paddle.base import framework
from paddle.nn.initializer.lazy_init import lazy_init_helper
from paddle.pir_utils import OldIrGuard

MODE_LOCK = threading.RLock()

# Every flag a guard here sets, directly or through OldIrGuard; each guard restores them all.
FLAGS = ("FLAGS_enable_pir_api", "FLAGS_enable_pir_in_executor", "FLAGS_new_executor_serial_run", "FLAGS_use_mkldnn")


def ensure_dygraph() -> None:
    """Switch this thread to Paddle's eager (dygraph) mode.

    Paddle keeps the mode per thread, and a thread started after ``import paddle`` in
    another thread can come up in static mode: Streamlit runs every script in its own
    thread, so pages call this before touching a model.
    """
    if not paddle.in_dynamic_mode():
        with MODE_LOCK:
            paddle.disable_static()


@contextmanager
def eval_mode(model: nn.Layer) -> Iterator[nn.Layer]:
    """``model`` in eval mode (BatchNorm on its running statistics) inside the block.

    Afterwards every sublayer is back in the mode it had, even if the block raised.
    """
    modes = [(layer, layer.training) for layer in model.sublayers(include_self=True)]
    model.eval()
    try:
        yield model
    finally:
        model.train(modes[0][1])  # Paddle's train() also sets this thread's tracer mode
        for layer, training in modes:  # a sublayer frozen in eval (say a BN) stays frozen
            layer.training = training


def _mode(dygraph: bool | None) -> AbstractContextManager[None]:
    """This thread in dygraph (or static, or as it is: None) mode inside the block.

    Not ``paddle.enable_static()``: in a thread that inherited dygraph mode it does nothing
    (it only leaves a dygraph guard that thread never entered). Static mode is "no tracer".
    """
    if dygraph is None or paddle.in_dynamic_mode() == dygraph:
        return nullcontext()
    return paddle.base.dygraph.guard() if dygraph else framework._dygraph_guard(None)


@contextmanager
def _switched(flags: dict[str, bool], *, dygraph: bool | None) -> Iterator[None]:
    """Under the lock: ``flags`` set and this thread in the given mode; then both as before."""
    with MODE_LOCK:
        saved = paddle.get_flags(list(FLAGS))
        try:
            # entered with this thread's own tracer: whatever the block switches, it comes back
            with framework._dygraph_guard(framework.global_var._dygraph_tracer_):
                paddle.set_flags(flags)
                with _mode(dygraph):
                    yield
        finally:
            paddle.set_flags(saved)


@contextmanager
def legacy_static() -> Iterator[None]:
    """Static mode on the legacy IR, the executor running ops one after another on this thread.

    Paddle's executor otherwise spreads independent ops over a pool of host threads: a
    worker is meant to use one core (``resnet.lab.worker``), and the pool bought nothing
    measurable on one.
    """
    with _switched({"FLAGS_new_executor_serial_run": True}, dygraph=False), OldIrGuard():
        yield


@contextmanager
def onednn_static() -> Iterator[None]:
    """Static mode with oneDNN kernels: landscape's compiled programs (bench/landscape.py measures the gain)."""
    with _switched({"FLAGS_use_mkldnn": True}, dygraph=False):
        yield


@contextmanager
def exporting() -> Iterator[None]:
    """Dygraph mode for ``paddle.jit.to_static`` + ``paddle.jit.save``; the mode they leave is undone.

    ``to_static`` creates parameters, which another thread's ``shapes_only`` would leave
    without memory.
    """
    with _switched({}, dygraph=True):
        yield


@contextmanager
def at_rest() -> Iterator[None]:
    """Paddle's switches as they are between guards, for code that reads them.

    Creating an inference predictor sets its executor up from the flags: created while a
    training step in another thread had ``FLAGS_new_executor_serial_run`` on, it failed
    ("Workqueue of index 0 is not initialized").
    """
    with _switched({}, dygraph=None):
        yield


@contextmanager
def shapes_only() -> Iterator[None]:
    """Layers built in the block have their true shapes but no weights (``paddle.LazyGuard``).

    LazyGuard needs dygraph mode, and acts on every thread: no other thread builds a
    ``ResNet`` until the block ends.
    """
    with _switched({}, dygraph=True), (nullcontext() if lazy_init_helper().state else paddle.LazyGuard()):
        yield


__all__ = [
    "MODE_LOCK", "FLAGS", "ensure_dygraph", "eval_mode", "legacy_static", "onednn_static", "exporting", "at_rest",
    "shapes_only",
]
