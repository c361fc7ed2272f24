"""The Why page's gradient split (Q1, He et al. 2016 (Identity Mappings), Eqs. 4-5): measured in a task process,
drawn from the run store, every figure in its sentences computed from the measurement."""

from __future__ import annotations

import json
import math

import pytest

from resnet.i18n import Translator
from resnet.inference.gradient_record import typical
from resnet.inference.gradient_split import split_at_init, split_of_weights
from resnet.lab.shipped import held_out_split, shipped_path
from resnet.model.weights import load_trained
from resnet.lab.analyses import gradient_split as measurement
from tests.helpers import open_page, paddle_modules_after

TARGET = "resnet.lab.analyses.gradient_split:gradient_split_task"


def text_of(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def splits_task(line):
    (task,) = [task for task in line.tasks if task.kind == measurement.GRADIENT_SPLIT.kind]
    return task


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_section_starts_its_task_then_shows_measured_values(lang, no_task_processes):
    t = Translator(lang)
    at = open_page("app.py", lang=lang)
    task = splits_task(no_task_processes)  # started because the section is shown, in a task process
    assert (task.run_id, task.target, task.kwargs) == (0, TARGET, {})
    assert t("why.grad_measuring") in [p.proto.text for p in at.get("progress")]
    assert at.button(key="why_grad_cancel").label == t("why.measure_cancel")
    assert t("why.grad_title") in [h.value for h in at.subheader]
    no_task_processes.compute()
    at.run()
    assert not at.exception and "why_grad_cancel" not in [b.key for b in at.button]
    drawn = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    split_chart = next(fig for fig in drawn if any(tr.get("legendgroup") == "full_preact · identity" for tr in fig["data"]))
    names = {tr["name"] for tr in split_chart["data"]}
    assert {"full_preact · identity", "original · identity", "original · none", "full_preact · scaled λ = 0.5",
            "full_preact · scaled λ = 2", "full_preact · exclusive_gate", "full_preact · shortcut_gate"} <= names
    assert t("why.grad_trained_label", label="ResNet-56") in names  # the shipped trained net, on the right
    # the reading, recomputed here from the same measurement as the task made it
    text = text_of(at)
    gains = {}
    for family in measurement.FAMILIES:
        splits = split_at_init(measurement.DEPTH, unit=family.unit, shortcut=family.shortcut, scale=family.scale)
        kept = [s.shortcut_gain for s in splits if s.shortcut_kind in ("identity", "off")]
        gains[family.name] = (sorted(kept)[len(kept) // 2], math.prod(kept), [s.identity_share for s in splits])
    assert [round(gains[n][0], 2) for n in ("full_preact", "scaled_half", "scaled_two", "plain")] == [1.0, 0.5, 2.0, 0.0]
    for name in ("full_preact", "scaled_half", "scaled_two", "exclusive_gate", "shortcut_gate", "original"):
        assert f"×{gains[name][0]:.2f}" in text, name
    for name in ("full_preact", "scaled_half", "scaled_two"):
        assert f"×{gains[name][1]:.3g}" in text, name
    assert f"×{gains['scaled_two'][1]:.3g}" == "×128" and f"×{gains['scaled_half'][1]:.3g}" == "×0.00781"
    shares = gains["full_preact"][2]
    assert f"{min(shares):.2f}–{max(shares):.2f}" in text
    # the shipped trained ResNet-56 (original unit), measured here again: its sentence is phrased by its median share
    lab = load_trained(shipped_path("resnet56_digits16"))
    data = held_out_split(lab)
    trained = split_of_weights(lab.model, data.x_train[:measurement.TRAINED_BATCH], data.y_train[:measurement.TRAINED_BATCH])
    share = [s.identity_share for s in trained]
    median = typical(trained, "identity_share")
    assert median > 0.5  # most of it through the shortcuts: the phrasing below is the one that says so
    assert t("why.grad_trained.most", label="ResNet-56", blocks=27, unit=t("variant.unit.original"), lo=f"{min(share):.2f}",
             hi=f"{max(share):.2f}", median=f"{median:.2f}") in text


def test_a_cancelled_split_says_so_and_can_be_measured_again(no_task_processes):
    t = Translator("en")
    at = open_page("app.py", lang="en")
    at.button(key="why_grad_cancel").click().run()
    no_task_processes.compute()  # the task sees the cancel first thing
    at.run()
    assert t("why.measure_cancelled") in [w.value for w in at.warning]
    at.button(key="why_grad_again").click().run()
    assert t("why.grad_measuring") in [p.proto.text for p in at.get("progress")]
    no_task_processes.compute()
    at.run()
    assert "why_grad_again" not in [b.key for b in at.button] and not at.warning
    assert f"×{1.0:.2f}" in text_of(at)


def test_the_section_adds_no_paddle_to_the_page():
    """app.py imports the section at its top, and its degradation step needs no Paddle: it still loads none (the
    section's client, record and figure are Paddle-free, tests/test_layers.py; its task loads Paddle in a process
    of its own)."""
    setup = ("from resnet.lab import tasks\n"
             "class Line:\n"
             "    def submit(self, task): pass\n"
             "tasks._dispatcher = lambda: Line()\n")
    checks = "assert 'pages.common.why_gradient' in sys.modules\n"
    assert paddle_modules_after("app.py", {"lang": "en", "classroom": "1", "step": "1"}, checks, setup) == []
