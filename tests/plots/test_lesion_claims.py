"""Every measured sentence about the shipped lesion studies, recomputed from the shipped file.

The test reads ``assets/models/lesion_studies.json`` as plain JSON, unpacks the per-image
outcomes with the lab's own ``unpack_correct``, checks that every stored accuracy is its
outcomes' count, recomputes each deletion's paired interval (``resnet.stats``) and so which
blocks cost accuracy beyond noise; then it parses the rendered sentences (en and zh) back into
their placeholders and checks that they say exactly that. No Paddle.
"""

from __future__ import annotations

import json
import re
import string

import pytest

from resnet.i18n import Translator
from resnet.inference.lesion_record import LesionStudy
from resnet.lab.config import unpack_correct
from resnet.lab.stored_lesions import LESION_FILE, MODELS_DIR, stored_lesion_studies
from resnet.plots.ablation import study_reading, why_some_hurt
from resnet.stats import paired_difference, wilson

BLOCK = re.compile(r"layer\d+\.\d+")


def parse(template: str, text: str, *, whole: bool = True) -> dict[str, str] | None:
    """The values a catalog ``template`` was filled with to give ``text`` (or a part of it); None if it was not."""
    pattern, names = "", []
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal)
        if name is not None:
            pattern += f"(?P<{name}>.+?)"
            names.append(name)
    match = (re.fullmatch if whole else re.search)(pattern, text, re.S)  # the templates end in text: lazy values are whole
    return None if match is None else match.groupdict()


def recomputed() -> dict[str, dict]:
    """Per shipped model: its raw study, the intact outcomes, and each block's (name, downsampling, interval)."""
    document = json.loads((MODELS_DIR / LESION_FILE).read_text(encoding="utf-8"))
    out = {}
    for key, entry in document["studies"].items():
        raw = entry["study"]
        n = raw["test_images"]
        intact = unpack_correct(raw["baseline_right"], n)
        assert sum(intact) / n == raw["baseline"]  # the per-image outcomes are the accuracy, exactly
        blocks = []
        for b in raw["blocks"]:
            right = unpack_correct(b["right"], n)
            assert sum(right) / n == b["accuracy"]
            blocks.append((b["name"], b["downsampling"], paired_difference(intact, right), sum(right)))
        out[key] = {"raw": raw, "n": n, "blocks": blocks}
    return out


def test_the_shipped_studies_hold_outcomes_that_are_their_accuracies():
    shipped = recomputed()
    assert list(shipped) == ["resnet56_digits16", "plain20_digits16"]
    assert list(stored_lesion_studies()) == list(shipped)  # their weights files are the ones measured
    for key, found in shipped.items():
        sidecar = json.loads((MODELS_DIR / f"{key}.json").read_text(encoding="utf-8"))
        assert found["raw"]["baseline"] == sidecar["test_acc"]  # the intact net's outcomes: the recorded accuracy
        assert found["n"] == sidecar["test_images"] == 359


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_models_reading_names_exactly_the_deletions_beyond_noise(lang):
    t = Translator(lang)
    for key, found in recomputed().items():
        study = LesionStudy.from_dict(found["raw"])
        reading = study_reading(study, t)
        beyond = [name for name, _, delta, _ in found["blocks"] if delta.excludes_zero]
        assert all(delta.value < 0 for _, _, delta, _ in found["blocks"] if delta.excludes_zero)  # none helps
        quiet = [delta for _, _, delta, _ in found["blocks"] if not delta.excludes_zero]
        intact = wilson(round(found["raw"]["baseline"] * found["n"]), found["n"])
        if not quiet:
            values = parse(t("fm.veit.reading.hurts_all"), reading)
            costs = [-100 * delta.value for _, _, delta, _ in found["blocks"]]
            assert values is not None and (values["least"], values["most"]) == (f"{min(costs):.1f}", f"{max(costs):.1f}")
        elif beyond:
            values = parse(t("fm.veit.reading.hurts_some"), reading)
            assert values is not None and BLOCK.findall(values["blocks"]) == beyond
            assert (int(values["count"]), int(values["rest"])) == (len(beyond), len(quiet))
            assert values["half"] == f"{100 * max(d.half_width for d in quiet):.2f}"
        else:
            values = parse(t("fm.veit.reading.within_noise"), reading)
            assert values is not None
        assert values["n"] == str(len(found["blocks"])) and values["label"] == found["raw"]["label"]
        assert (values["low"], values["high"]) == (f"{intact.low:.1%}", f"{intact.high:.1%}")
    # what this checks, on the shipped files: the ResNet's first four blocks hurt, the other 23 (downsampling
    # blocks included) are within noise; every block of the plain net hurts
    resnet = recomputed()["resnet56_digits16"]["blocks"]
    assert [name for name, _, delta, _ in resnet if delta.excludes_zero] == ["layer1.0", "layer1.1", "layer1.2", "layer1.3"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_why_some_hurt_says_what_the_shipped_resnet_measured(lang):
    t = Translator(lang)
    found = recomputed()["resnet56_digits16"]
    study, n = LesionStudy.from_dict(found["raw"]), found["n"]
    text = why_some_hurt(study, t)
    # the costliest deletion, and whether what is left is chance: chance inside the 95 % interval of its accuracy
    name, _, delta, right = min(found["blocks"], key=lambda b: b[3])
    left = wilson(right, n)
    key = "fm.veit.worst.chance" if left.low <= study.chance <= left.high else "fm.veit.worst.above_chance"
    values = parse(t(key), text, whole=False)
    assert values is not None and values["block"] == name == "layer1.0" and values["delta"] == f"{100 * delta.value:+.1f}"
    assert key == "fm.veit.worst.chance"  # the shipped ResNet-56 without layer1.0: chance
    # the downsampling blocks: within noise here (their intervals hold 0), not "costlier than their neighbours"
    down = [(name, delta) for name, is_down, delta, _ in found["blocks"] if is_down]
    outcome = ("within_noise" if not any(d.excludes_zero for _, d in down)
               else "hurts" if all(d.excludes_zero for _, d in down) else "mixed")
    assert outcome == "within_noise"
    values = parse(t(f"fm.veit.downsampling.{outcome}"), text, whole=False)
    assert values is not None and BLOCK.findall(values["blocks"]) == [name for name, _ in down] == ["layer2.0", "layer3.0"]
    for name, d in down:
        assert t("fm.veit.block_interval", name=name, delta=100 * d.value, low=100 * d.low, high=100 * d.high) in values["blocks"]
    for other in {"within_noise", "hurts", "mixed"} - {outcome}:
        assert parse(t(f"fm.veit.downsampling.{other}"), text, whole=False) is None
    # the paper's finding and this app's own reading are told apart
    assert t("fm.veit.downsampling_paper") in text and t("fm.veit.downsampling_ours") in text
