"""Issue 20: no model is built or run in the server process, on any page.

The server's model builders and runners are replaced by failing ones, then every page is
opened and its model work asked for: Feature maps (the shipped model on a sample digit,
random weights with an ablation, the lesion study), the Architecture page's forward-pass
check, the Compute cost page's measured latency, the home page's measurements, the lab.
That work happens in the inference service, which these patches do not reach (its processes
are spawned: they import the code afresh), and in task processes: here the page tests' task
line (``tests/pages/conftest.py``) takes those tasks without computing them. A page that
still did any of it here would show an error or raise.

Shape counting is allowed: a ResNet built under ``paddle.LazyGuard`` (``modes.shapes_only``)
has its layers and shapes but no weights, and is never run. The Architecture and Compute
cost pages read their tables from such models in the server.
"""

from __future__ import annotations

import threading

import paddle
import pytest
from paddle.nn.initializer.lazy_init import lazy_init_helper

from resnet.inference import fastpath
from resnet.model import network
from tests.helpers import open_page

MARK = "a model was built or run in the server"


class BuiltInServer(RuntimeError):
    pass


@pytest.fixture
def failing_builders(monkeypatch):
    """Every way to build a ResNet with weights, run one, or export and load a fast path fails here; the attempts."""
    attempts: list[str] = []

    def failing(what: str, real=None, allow=lambda: False):
        def replacement(*args, **kwargs):
            if allow():
                return real(*args, **kwargs)
            attempts.append(f"{what} in thread {threading.current_thread().name}")
            raise BuiltInServer(f"{MARK}: {what}")
        return replacement

    shapes_only = lambda: bool(lazy_init_helper().state)  # noqa: E731  (under LazyGuard: shapes, no weights)
    monkeypatch.setattr(network.ResNet, "__init__", failing("ResNet built", network.ResNet.__init__, shapes_only))
    monkeypatch.setattr(network.ResNet, "forward", failing("ResNet.forward"))
    monkeypatch.setattr(network.ResNet, "forward_features", failing("ResNet.forward_features"))
    monkeypatch.setattr(fastpath, "_export", failing("fast path exported"))
    monkeypatch.setattr(fastpath, "_predictor", failing("fast path predictor created"))
    monkeypatch.setattr(paddle.jit, "save", failing("paddle.jit.save"))
    monkeypatch.setattr(paddle.inference, "create_predictor", failing("paddle.inference.create_predictor"))
    return attempts


def no_errors(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if MARK in e.value or "went wrong" in e.value]


def test_no_page_builds_or_runs_a_model_in_the_server(failing_builders, no_task_processes):
    at = open_page("app.py")  # the home page, its measurements included
    no_errors(at)

    at = open_page("pages/architecture.py", depth="18", size="64")
    no_errors(at)
    assert [m.value for m in at.metric if m.label == "Forward-pass check"] == ["✓"]  # checked, in the service

    at = open_page("pages/feature_maps.py")  # the shipped model on the default sample digit
    no_errors(at)
    assert any("computed in" in c.value for c in at.caption)
    at.button(key="veit_recompute").click().run()  # the lesion study of the shipped models, measured on request
    no_errors(at)

    at = open_page("pages/feature_maps.py", weights="random", depth="18", image="cat", ablate="shortcuts")
    no_errors(at)
    assert at.header and any("computed in" in c.value for c in at.caption)

    at = open_page("pages/cost.py", depth="18", size="64")
    next(b for b in at.button if b.label.startswith("Measure")).click().run()  # measured latency, in the service
    no_errors(at)
    assert any(m.label == "Speed-up" for m in at.metric)

    no_errors(open_page("pages/lab.py"))
    assert failing_builders == []
    asked = [task.kind for task in no_task_processes.tasks]  # the work the pages handed to task processes
    assert "signals_at_init_why" in asked and asked.count("lesion") == 2  # the home page's measurements; both shipped models
