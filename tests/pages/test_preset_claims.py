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


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lambda_note_quotes_the_shipped_runs(lang):
    """λ > 1 with option A on the custom form: the note is filled from the shipped λ = 2 runs."""
    t = Translator(lang)
    at = open_page("pages/lab.py", timeout=120, lang=lang, shortcut="scaled", lam="2", depth="56", down="pad")
    note = " ".join(i.value for i in at.info)
    blow = claims.blow_up_claim()
    assert t("lab.lambda_big.pad", **claims.lambda_big_values(t)) in note
    assert f"{blow.step1_range[0]:.0f}–{blow.step1_range[1]:.0f}" in note and "{" not in note


def test_fig7_intro_reads_the_measured_stds(monkeypatch):
    """The lab's Fig. 7 section: the paper's findings, then the reading chosen by the measured means
    (here the degradation preset with the issue's retrained means: the deeper ResNet responds more)."""
    from resnet.inference.signals import BlockSignal
    from resnet.lab import session
    from resnet.lab.store import RunStore

    means = {"ResNet-20 A": 0.96, "ResNet-56 A": 1.08, "plain-20": 1.15, "plain-56": 2.00}
    block = BlockSignal("layer1.0", 1, "identity", 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 1.0)

    def block_signals(store, runs):
        return session.BlockReport([session.RunSignals(run, True, [block], [("layer1.0.conv1", means[run.label])]) for run in runs], [], 0)

    monkeypatch.setattr(session, "block_signals", block_signals)
    open_page("pages/lab.py", timeout=120, lang="en")  # imports the reference runs
    ids = [r.id for r in RunStore().list_runs() if r.label in means][:4]
    at = open_page("pages/lab.py", timeout=120, lang="en", runs=",".join(map(str, ids)))
    first_sentence = Translator("en")("lab.fig7_intro").split(". ")[0]
    (intro,) = [m.value for m in at.markdown if m.value.startswith(first_sentence)]
    assert "{reading}" not in intro and "0.98" not in intro  # no typed reading left
    assert "responds less than every plain net" in intro  # claims.fig7.plain.below
    assert "responds more than the shallower" in intro and "ResNet-56 A · digits 1.08" in intro  # claims.fig7.depth.more
