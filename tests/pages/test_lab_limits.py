"""The limits a visitor meets on the pages (issue 12): a run over the memory budget is refused
with the budget in its message, and λ has one range (resnet.model.spec.LAMBDA_RANGE) on
the lab's form, in its URL and on the Why page's slider."""

from __future__ import annotations

import pytest

from resnet.lab.config import MEMORY_BUDGET_MB
from resnet.lab.store import RunStore
from resnet.model.spec import LAMBDA_RANGE
from tests.helpers import open_page, started_pools

HUGE = dict(depth="152", width="128", batch="1024", size="256", steps="20000")


@pytest.mark.parametrize(("lang", "words"), [("en", f"one run may use at most {MEMORY_BUDGET_MB} MB"),
                                             ("zh", f"每次训练最多可用 {MEMORY_BUDGET_MB} MB")])
def test_a_run_over_the_memory_budget_is_refused_before_it_is_queued(lang, words):
    """lab?depth=152&width=128&batch=1024&size=256&steps=20000, then Train: the worker used to
    fail allocating 32 GB. Every setting is in range on its own, so no URL notice either."""
    at = open_page("pages/lab.py", timeout=240, lang=lang, **HUGE)
    assert not at.warning, [w.value for w in at.warning]
    at.button(key="train").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert words in message, message
    assert not RunStore().list_runs(source="live")
    assert all(RunStore(p).list_runs(source="live") == [] for p in started_pools())


@pytest.mark.parametrize("lam", ["1e308", "-5", "4.5"])
def test_lambda_outside_its_range_falls_back_with_a_notice(lam):
    at = open_page("pages/lab.py", timeout=240, lang="en", shortcut="scaled", lam=lam)
    assert any(f"lam={lam}" in w.value for w in at.warning)
    assert at.number_input(key="lab.lam").value == 2.0  # the form's start


def test_lambda_range_and_its_meaning_on_the_form_and_the_slider():
    at = open_page("pages/lab.py", timeout=240, lang="en", shortcut="scaled", lam="-1")
    field = at.number_input(key="lab.lam")
    assert field.value == -1.0 and not at.warning
    assert (field.min, field.max) == LAMBDA_RANGE
    assert "From -1 to 4" in field.help and "λ = 1 is the identity" in field.help and "Sec. 3" in field.help
    why = open_page("app.py", lang="en", lam="4")
    slider = why.slider(key="why.lam")
    assert (slider.min, slider.max, slider.value) == (*LAMBDA_RANGE, 4.0) and "λ = 0 the plain net" in slider.help
    assert any("lam=-5" in w.value for w in open_page("app.py", lang="en", lam="-5").warning)


def out_of_memory(*args, **kwargs):
    raise MemoryError


def test_a_memory_error_measuring_on_the_why_page_is_a_message(monkeypatch, no_task_processes):
    """The Why page's nets are built and measured in a task process: out of memory there, the page says so."""
    from resnet.inference import diagnostics

    monkeypatch.setattr(diagnostics, "measure_at_init", out_of_memory)
    at = open_page("app.py", lang="en", lam="3.95")
    assert no_task_processes.tasks  # the page started the measurement, and built nothing itself
    no_task_processes.compute()  # as the task process would
    at.run()
    assert any("The measurement failed: out of memory" in w.value for w in at.warning)
    assert not at.exception


def test_a_memory_error_building_a_model_on_feature_maps_is_a_message(monkeypatch):
    """The model is built in the inference service: a MemoryError there reaches the page as itself (test_service)."""
    from resnet.lab import service

    monkeypatch.setattr(service, "call", out_of_memory)
    at = open_page("pages/feature_maps.py", lang="zh", weights="random", seed="9871")  # an uncached seed
    assert any("没有足够的空闲内存" in e.value for e in at.error)
