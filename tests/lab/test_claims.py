"""The measured claims (resnet.lab.claims) recomputed from the shipped reference files.

Each claim is computed here again straight from the JSON (no claims.py on that path): the
outcome it picks and the numbers it fills must be the file's. The phrasings of every
outcome exist in both languages and fill without a gap. No Paddle, no Streamlit.
"""

from __future__ import annotations

import json
import math
import re
import string
from statistics import median

import pytest

from resnet import stats
from resnet.i18n import LANGS, Translator, catalog
from resnet.lab import claims
from resnet.lab.config import unpack_correct
from resnet.lab.presets import reference_path

CHANCE = math.log(10)


def every_seed(key: str) -> dict[tuple, dict[int, dict]]:
    """(shortcut, depth, scale) → seed → run, read from the shipped file."""
    payload = json.loads(reference_path(key).read_text(encoding="utf-8"))
    grouped: dict[tuple, dict[int, dict]] = {}
    for run in payload["runs"] + payload["other_seeds"]:
        config = run["config"]
        grouped.setdefault((config["shortcut"], config["depth"], config["scale"]), {})[config["seed"]] = run
    return grouped


def right(run: dict) -> list[bool]:
    return unpack_correct(run["result"]["final_test_correct"], run["result"]["test_images"])


def paired(shallow: dict[int, dict], deep: dict[int, dict]) -> list[stats.Interval]:
    return [stats.paired_difference(right(shallow[s]), right(deep[s])) for s in sorted(shallow)]


def test_degradation_claim_is_the_files():
    runs = every_seed("degradation")
    claim = claims.degradation_claim()
    assert claim.n == 5 and claim.steps == 120
    for summary, (key, seeds) in zip(claim.summaries, runs.items()):
        finals = [r["result"]["final_train_loss"] for r in seeds.values()]
        assert summary.final_train_loss == pytest.approx((median(finals), min(finals), max(finals)))
        at_chance = sum(abs(sum(r["metrics"]["train_loss"][-20:]) / 20 - CHANCE) <= 0.1 * CHANCE for r in seeds.values())
        assert summary.at_chance.k == at_chance, key
    plain = paired(runs[("none", 20, 1.0)], runs[("none", 56, 1.0)])
    residual = paired(runs[("identity", 20, 1.0)], runs[("identity", 56, 1.0)])
    # what the files show today: plain-56 lower beyond noise in every seed; ResNet-56 lower in 4, within noise in 1
    assert all(d.excludes_zero and d.value < 0 for d in plain) and claim.plain.outcome == "worse"
    worse = [d.value for d in residual if d.excludes_zero and d.value < 0]
    assert len(worse) == 4 and not any(d.excludes_zero and d.value > 0 for d in residual)
    assert claim.residual.outcome == "worse_some" and sorted(claim.residual.worse) == sorted(worse)
    assert claim.residual.noise == [d.half_width for d in residual if not d.excludes_zero]


def test_blow_up_claim_is_the_files():
    runs = every_seed("why_not_2x")
    lam2 = runs[("scaled", 56, 2.0)]
    claim = claims.blow_up_claim()
    stuck = [r for r in lam2.values() if r["stuck_at_chance"]]
    assert (claim.n, claim.stuck, claim.diverged) == (5, len(stuck), sum(r["status"] == "diverged" for r in lam2.values()))
    assert claim.stuck + claim.diverged == claim.n and claim.outcome == "never_trains"  # λ = 2 trains in no seed
    step1 = [r["metrics"]["train_loss"][0] for r in lam2.values()]  # before any update
    assert claim.step1 == lam2[0]["metrics"]["train_loss"][0] and claim.step1_range == (min(step1), max(step1))
    assert min(step1) > 20 * CHANCE
    assert claim.stuck_loss == pytest.approx(median(r["result"]["final_train_loss"] for r in stuck), rel=1e-6)
    assert claim.stuck_loss == pytest.approx(CHANCE, rel=0.05)  # the training loss sits at chance…
    blown = [r["result"]["final_test_loss"] for r in stuck if r["result"]["final_test_loss"] > 10 * CHANCE]
    assert claim.test_blown == len(blown) >= 1 and claim.test_loss == pytest.approx(median(blown))  # …the test loss not always
    assert claim.test_outcome == ("all" if len(blown) == len(stuck) else "some")
    accs = [r["result"]["final_test_acc"] for r in stuck]
    assert claim.stuck_acc == (min(accs), max(accs))
    identity = [r["result"]["final_train_loss"] for r in runs[("identity", 56, 1.0)].values()]
    assert claim.identity_loss == pytest.approx(median(identity))


@pytest.mark.parametrize("lang", LANGS)
def test_the_sentences_say_the_recomputed_claims(lang):
    t = Translator(lang)
    deg = claims.degradation_claim()
    caption = t("why.deg_summary", **claims.degradation_values(t, deg))
    residual = deg.residual
    assert t(f"claims.compare.{residual.outcome}", **residual.values()) in caption
    worse = sorted(abs(v) for v in residual.worse)
    assert f"{100 * worse[0]:.1f}–{100 * worse[-1]:.1f}" in caption and f"{max(residual.noise) * 100:.1f}" in caption
    assert t("claims.k_of_n", label="plain-56", k=5, n=5) in caption  # plain-56 at chance in every seed
    blow = claims.blow_up_claim()
    q1 = t("why.q1_run", **claims.blow_up_values(t, blow))
    assert f"**{blow.step1:.0f}**" in q1 and "**58**" in q1  # seed 0's step-1 loss, as the file has it
    assert t("claims.lambda2.never_trains", **claims.blow_up_values(t, blow)).split("**")[0] in q1
    assert f"{blow.test_loss:.1f}" in q1 and "57.8" in q1 and "9.7%" in q1
    question = t("lab.preset.why_not_2x.question", **claims.question_values("why_not_2x", t))
    assert re.search(rf"\b{blow.step1:.0f}\b", question) and "{" not in question


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", LANGS)
def test_every_outcome_has_a_phrasing_that_fills(lang):
    texts = catalog(lang)
    filled = claims.Comparison("deep", "shallow", 5, [-0.1], [0.05], [0.02]).values()
    for outcome in ("worse", "worse_some", "alike", "better_some", "better", "mixed"):
        assert placeholders(texts[f"claims.compare.{outcome}"]) <= filled.keys(), outcome
    blow_up = claims.blow_up_values(Translator(lang), claims.blow_up_claim())
    for key in ("claims.lambda2.never_trains", "claims.lambda2.trains_some", "claims.lambda2_test.all",
                "claims.lambda2_test.some", "claims.lambda2_test.none", "why.q1_run", "lab.preset.why_not_2x.question"):
        assert placeholders(texts[key]) <= blow_up.keys(), key
    deg = claims.degradation_values(Translator(lang), claims.degradation_claim())
    for key in ("why.deg_summary", "lab.preset.degradation.question"):
        assert placeholders(texts[key]) <= deg.keys(), key


def test_the_comparison_outcome_follows_the_intervals():
    def outcome(worse, better, noise):
        return claims.Comparison("a", "b", len(worse) + len(better) + len(noise), worse, better, noise).outcome

    assert outcome([-0.1] * 5, [], []) == "worse" and outcome([-0.1], [], [0.02]) == "worse_some"
    assert outcome([], [], [0.02] * 5) == "alike" and outcome([], [0.1], [0.02]) == "better_some"
    assert outcome([], [0.1] * 5, []) == "better" and outcome([-0.1], [0.1], []) == "mixed"


@pytest.mark.parametrize("lang", LANGS)
def test_no_measured_figure_is_typed_into_these_sentences(lang):
    """The old hand-typed figures are gone: each measured number is a placeholder."""
    texts = catalog(lang)
    for key in ("why.deg_summary", "why.q1_run", "lab.preset.degradation.question", "lab.preset.why_not_2x.question",
                *(k for k in texts if k.startswith("claims."))):
        assert not re.search(r"\b(58|2\.30|57\.8|9\.7|~50|120)\b", texts[key]), key
