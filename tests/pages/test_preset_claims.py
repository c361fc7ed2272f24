"""The Training lab's preset questions say what the shipped runs measured (resnet.lab.claims,
recomputed from the files in tests/lab/test_claims.py): filled, in both languages."""

from __future__ import annotations

import pytest

from resnet.i18n import Translator
from resnet.lab import claims
from tests.helpers import open_page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_preset_questions_are_filled_from_the_shipped_runs(lang):
    t = Translator(lang)
    at = open_page("pages/lab.py", timeout=120, lang=lang, preset="degradation")
    text = "\n".join(m.value for m in at.markdown)
    deg = claims.degradation_claim()
    assert t("lab.preset.degradation.question", **claims.question_values("degradation", t)) in text
    assert t(f"claims.compare.{deg.residual.outcome}", **deg.residual.values()) in text
    at.radio(key="lab.preset").set_value("why_not_2x").run()
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    blow = claims.blow_up_claim()
    assert t("lab.preset.why_not_2x.question", **claims.question_values("why_not_2x", t)) in text
    assert f"{blow.step1:.0f}" in text and "{step1}" not in text and "{fate}" not in text
