"""AppTest of the measured lesion sentences on the pages: the Feature maps lesion section and the Why page's Q2,
in English and Chinese, against the shipped studies (tests/plots/test_lesion_claims.py recomputes their claims
from the shipped file; here: the pages show those sentences, "within noise" where an interval holds 0, and the
Why page's links drop the blocks the data chose).
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from resnet.i18n import Translator
from resnet.lab import tasks
from resnet.lab.stored_lesions import stored_lesion_studies
from resnet.plots.ablation import study_reading, why_some_hurt
from tests.helpers import open_page

WITHIN_NOISE = {"en": "within noise", "zh": "在噪声范围内"}


def shown(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def drop_links(at) -> list[str]:
    """The ``drop=`` setting of every link to the Feature maps page, in page order."""
    links = [str(link.proto) for link in at.get("page_link")] + [m.value for m in at.markdown]
    return [m for text in links if "feature_maps" in text for m in re.findall(r"drop=([\w.]+)", text)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_feature_maps_lesion_section_says_what_each_interval_allows(lang):
    t, studies = Translator(lang), stored_lesion_studies()
    at = open_page("pages/feature_maps.py", timeout=300, lang=lang)
    text = shown(at)
    for study in studies.values():
        reading = study_reading(study, t)
        assert f"- {reading}" in text
        quiet = [v for v in study.verdicts() if not v.beyond_noise]
        assert (WITHIN_NOISE[lang] in reading) == bool(quiet)  # the ResNet's quiet deletions are said to be noise
    resnet = studies["resnet56_digits16"]
    assert why_some_hurt(resnet, t) in text
    assert t("fm.veit.downsampling.within_noise").split("{")[0] in text  # its downsampling blocks: within noise
    assert t("fm.veit.single_caption", n=359) in text  # every mark of the chart named
    single = next(f for f in map(json.loads, (c.proto.spec for c in at.get("plotly_chart")))
                  if f["layout"].get("title", {}).get("text") == t("fm.veit.single_title"))
    bars = [tr for tr in single["data"] if tr["type"] == "bar"]
    assert bars and all("arrayminus" in tr["error_y"] for tr in bars)  # each deletion's paired interval
    assert single["layout"]["yaxis"]["title"]["text"] == t("fm.veit.delta_axis")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_why_pages_q2_quotes_the_shipped_studies_and_drops_blocks_the_data_chose(lang):
    t, studies = Translator(lang), stored_lesion_studies()
    at = open_page("app.py", lang=lang)
    text = shown(at)
    assert t("why.q2_body") in text
    for study in studies.values():
        assert f"- {study_reading(study, t)}" in text
    resnet = studies["resnet56_digits16"]
    assert WITHIN_NOISE[lang] in study_reading(resnet, t)
    harmless, worst = resnet.harmless(), resnet.worst
    verdicts = {v.block.name: v for v in resnet.verdicts()}
    assert not verdicts[harmless.name].beyond_noise and verdicts[worst.name].beyond_noise
    assert drop_links(at) == [harmless.name, worst.name] == ["layer3.7", "layer1.0"]


def compute_as_stored(line) -> None:
    """What the task processes would do, with the stored studies standing in for minutes of model work."""
    for task in line.tasks:
        tasks._compute(dataclasses.replace(task, target="tests.lab.task_targets:stored_lesion"))
    line.tasks.clear()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lesion_control_shows_computing_then_done_with_measuring_again_secondary(lang, no_task_processes):
    """Issue 22: the control says what the live measurement is doing: a button, then progress and Cancel (no
    second start), then done, with "Measure again" as a secondary action, never "Recompute live" beside the
    "measured live" note."""
    t = Translator(lang)
    at = open_page("pages/feature_maps.py", timeout=300, lang=lang)
    start = at.button(key="veit_recompute")
    assert start.label == t("fm.veit.recompute") and not start.disabled
    start.click().run()
    assert not at.exception
    assert [p.proto.text for p in at.get("progress")] == [t("fm.veit.computing")]
    assert at.button(key="veit_cancel").label == t("fm.veit.cancel")
    assert "veit_recompute" not in [b.key for b in at.button]
    compute_as_stored(no_task_processes)
    at.run()
    assert not at.exception and not at.get("progress")
    texts = shown(at)
    assert t("fm.veit.done") in texts and t("fm.veit.live") in texts and t("fm.veit.stored") not in texts
    again = at.button(key="veit_recompute")
    assert again.label == t("fm.veit.measure_again") and again.proto.type == "tertiary"
    assert t("fm.veit.recompute") not in [b.label for b in at.button]
