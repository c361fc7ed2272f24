"""The questions' measured results (resnet/lab/predictions.py) on the shipped data, against DESIGN.md's facts.

Each test reads what the app ships (reference runs over five seeds, the stored lesion studies, the
shipped landscapes) and checks that the choice the measurement supports is the one the papers report
and DESIGN.md lists, so a reference file regenerated into the opposite would fail here. The rules that
say "cannot decide" are checked on made-up numbers.
"""

from __future__ import annotations

import math
import re

import pytest

from resnet.i18n import LANGS, MISSING, Translator
from resnet.lab import claims, predictions
from resnet.lab.predictions import QUESTIONS, NetDeletions, lesion_nets, lesion_reveal, questions_for


def echo(key: str, **values: object) -> str:
    return key


def supported(question_id: str) -> str:
    reveal = QUESTIONS[question_id].reveal(echo)
    assert reveal is not None, f"{question_id}: its data is missing"
    assert reveal.supported is not None, f"{question_id}: the measurement points to no choice"
    return QUESTIONS[question_id].choices[reveal.supported]


def test_plain_20_ends_with_the_lower_training_loss_over_every_seed():
    """He et al. 2015, Fig. 1 / DESIGN.md: plain-56 trains worse than plain-20."""
    reveal = QUESTIONS["degradation"].reveal(echo)
    assert supported("degradation") == "shallow_lower" and reveal.decided
    claim = claims.degradation_claim()
    by_label = {s.label: s for s in claim.summaries}
    assert by_label["plain-20"].final_train_loss[2] < by_label["plain-56"].final_train_loss[1]  # the max below the min
    assert reveal.values["shallow"] == "plain-20" and reveal.values["n"] == str(claim.n) == "5"


def test_lambda_2_blows_up_in_every_seed():
    """DESIGN.md, Q1: λ > 1 explodes (∏λ over depth); the why_not_2x preset's λ = 2 never trains."""
    reveal = QUESTIONS["lambda2"].reveal(echo)
    claim = claims.blow_up_claim()
    assert supported("lambda2") == "blows_up" and reveal.decided
    assert claim.trained == 0 and reveal.values["failed"] == str(claim.n)
    assert float(reveal.values["step1"]) > 10 * math.log(10)  # at step 1 far above chance already


def test_deleting_a_block_hurts_the_plain_net_not_the_resnet():
    """Veit et al. 2016 / DESIGN.md: deleting one block of a trained ResNet hurts little, of a plain net fatally."""
    reveal = lesion_reveal(echo)
    assert supported("lesion") == "resnet_keeps" and reveal.decided and reveal.note == "predict.note.one_net"
    nets = {n.residual: n for n in lesion_nets()}
    assert nets[True].keeps and nets[False].keeps is False
    assert nets[False].hurt == nets[False].blocks  # every single deletion of plain-20 hurts beyond noise
    assert abs(nets[True].median_pp) < 1 < abs(nets[False].median_pp)


def test_resnet_56s_landscape_is_the_smoother():
    """Li et al. 2018, Fig. 1: with shortcuts the landscape is smooth, without them chaotic."""
    reveal = QUESTIONS["landscape"].reveal(echo)
    assert supported("landscape") == "resnet" and reveal.decided
    assert int(reveal.values["res_minima"]) <= int(reveal.values["plain_minima"])
    rise = lambda text: float(text.replace(",", ""))  # noqa: E731
    assert rise(reveal.values["res_rise"]) < rise(reveal.values["plain_rise"])


def test_the_identity_shortcut_ends_lowest_and_is_decided_only_when_every_seed_says_so():
    """He et al. 2016 (Identity Mappings), Table 1: the identity shortcut has the lowest test error of the
    variants. Our five seeds: whether they crown it is read independently from ``claims.paper_rows``."""
    reveal = QUESTIONS["shortcut"].reveal(echo)
    assert supported("shortcut") == "identity"
    rows = claims.paper_rows("shortcut_variants")
    assert rows[0].figure == "he2016.shortcut.identity"
    assert reveal.decided == all(row.versus.outcome == "worse" for row in rows[1:])
    assert reveal.key == f"predict.shortcut.result.{'decided' if reveal.decided else 'ahead'}"


def test_a_deletion_count_split_in_half_decides_nothing():
    net = NetDeletions("x", True, blocks=4, hurt=2, median_pp=-1.0, baseline=0.9, test_images=359)
    assert net.keeps is None
    assert NetDeletions("x", True, 5, 2, 0.0, 0.9, 359).keeps is True
    assert NetDeletions("x", True, 5, 3, -5.0, 0.9, 359).keeps is False


def test_overlapping_seed_ranges_decide_nothing():
    assert predictions._order((1.0, 0.5, 1.5), (2.0, 1.6, 3.0)) == "below"
    assert predictions._order((2.0, 1.6, 3.0), (1.0, 0.5, 1.5)) == "above"
    assert predictions._order((1.0, 0.5, 1.7), (2.0, 1.6, 3.0)) == "overlap"


def test_no_lesion_result_without_the_stored_studies(tmp_path):
    assert lesion_reveal(echo, tmp_path) is None


def test_every_page_question_is_known_and_pages_list_them_in_order():
    assert [q.id for q in questions_for(None)] == list(QUESTIONS)
    assert {q.id for q in questions_for("pages/lab.py")} >= {"degradation", "lambda2", "landscape", "shortcut"}
    assert [q.id for q in questions_for("pages/feature_maps.py")] == ["lesion"]
    assert predictions.question("nope") is None


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("question_id", list(QUESTIONS))
def test_every_result_renders_in_both_languages(question_id, lang):
    t = Translator(lang)
    q = QUESTIONS[question_id]
    reveal = q.reveal(t)
    texts = [t(q.question_key), *(t(q.choice_key(i)) for i in range(len(q.choices))), t(reveal.key, **reveal.values)]
    if reveal.note:
        texts.append(t(reveal.note, **reveal.values))
    for text in texts:
        assert MISSING.format("")[0] not in text and not re.search(r"\{\w+\}", text), text
    assert all(value in texts[-2] for name, value in reveal.values.items() if name in ("n",))
