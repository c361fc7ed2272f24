"""Measured claims: what the pages' sentences about the shipped reference runs say, chosen by the data.

A sentence about something the app measured is filled from the runs it describes (DESIGN.md,
"Measured claims"): the numbers are placeholders, and which phrasing a sentence takes
(lower, alike, stuck at chance) is an outcome key computed here from every seed's run. The
catalogs hold one phrasing per outcome; the ``*_sentence`` helpers pick it and fill it with a
page's translator ``t`` (``t(key, **values)``). No Paddle, no Streamlit:

    degradation_claim()   # the degradation preset over its seeds: deeper vs shallower, plain and with shortcuts
    blow_up_claim()       # the why_not_2x preset's λ = 2 over its seeds: loss at step 1, stuck or diverged
    question_values(key, t)  # the placeholders of a lab preset's question
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from .config import chance_loss
from .presets import variant_runs
from .seeds import NEAR_CHANCE, TAIL_STEPS, VariantSummary, diverged, near_chance, seed_differences, stuck_at_chance, summarise

Translate = Callable[..., str]
NUM_CLASSES = 10  # the presets train on the digits
# The test pass "stayed blown up" when its final test loss is still this many times ln C
# (λ = 2's stuck seeds end at ≈ 57.8 there, or at ln C itself).
TEST_BLOWN = 2.0


def pp(fraction: float) -> str:
    """An accuracy difference in percentage points, one decimal (one of 359 test images is 0.28 pp)."""
    return f"{100 * abs(fraction):.1f}"


def span(low: str, high: str) -> str:
    """"low–high", or one value when both read the same."""
    return low if low == high else f"{low}–{high}"


@dataclass(frozen=True)
class Comparison:
    """A deeper net against a shallower one, seed by seed, on the same test images (paired, McNemar)."""

    deeper: str
    shallower: str
    n: int
    worse: list[float]  # accuracy differences (deeper − shallower) of the seeds where it is lower beyond noise
    better: list[float]  # … higher beyond noise
    noise: list[float]  # the half-widths of the seeds whose difference is within noise

    @property
    def outcome(self) -> str:
        """worse / better (every seed beyond noise), worse_some / better_some (the rest within noise), mixed, alike."""
        if self.worse and self.better:
            return "mixed"
        if self.worse:
            return "worse" if len(self.worse) == self.n else "worse_some"
        if self.better:
            return "better" if len(self.better) == self.n else "better_some"
        return "alike"

    def values(self) -> dict[str, str]:
        """The placeholders of the ``claims.compare.*`` phrasings (each uses the ones it needs)."""
        def size(diffs: list[float]) -> str:
            return span(pp(min(diffs, key=abs)), pp(max(diffs, key=abs))) if diffs else ""

        return {"deeper": self.deeper, "shallower": self.shallower, "n": str(self.n), "worse": str(len(self.worse)),
                "better": str(len(self.better)), "within": str(len(self.noise)), "worse_pp": size(self.worse),
                "better_pp": size(self.better), "noise_pp": pp(max(self.noise)) if self.noise else ""}


def compare(shallow_runs: Sequence[dict], deep_runs: Sequence[dict]) -> Comparison:
    """The deeper variant's final test accuracy against the shallower's, paired seed by seed."""
    diffs = seed_differences(shallow_runs, deep_runs).values()
    return Comparison(
        deep_runs[0]["label"], shallow_runs[0]["label"], len(diffs),
        [d.value for d in diffs if d.excludes_zero and d.value < 0], [d.value for d in diffs if d.excludes_zero and d.value > 0],
        [d.half_width for d in diffs if not d.excludes_zero],
    )


def comparison_sentence(t: Translate, comparison: Comparison) -> str:
    return t(f"claims.compare.{comparison.outcome}", **comparison.values())


@dataclass(frozen=True)
class DegradationClaim:
    """The degradation preset over its seeds: plain-56 vs plain-20, ResNet-56 vs ResNet-20."""

    steps: int
    summaries: list[VariantSummary]  # in the preset's order
    plain: Comparison
    residual: Comparison

    @property
    def n(self) -> int:
        return len(self.summaries[0].seeds)


@lru_cache(maxsize=1)
def degradation_claim() -> DegradationClaim | None:
    """From the shipped degradation file (None without it); the variants by their depth and shortcut."""
    grouped = variant_runs("degradation")
    if grouped is None:
        return None
    by = {(runs[0]["config"]["shortcut"], runs[0]["config"]["depth"]): runs for runs in grouped.values()}
    return DegradationClaim(
        next(iter(grouped.values()))[0]["config"]["steps"], summarise(grouped),
        compare(by[("none", 20)], by[("none", 56)]), compare(by[("identity", 20)], by[("identity", 56)]),
    )


def degradation_values(t: Translate, claim: DegradationClaim) -> dict[str, str]:
    """The placeholders of the degradation caption and the lab preset's question."""
    def loss(s: VariantSummary) -> str:
        median, low, high = s.final_train_loss
        return f"{s.label} {median:.2g} [{span(f'{low:.2g}', f'{high:.2g}')}]"

    sep = t("claims.list_sep")
    return {
        "steps": str(claim.steps), "n": str(claim.n), "chance": f"{chance_loss(NUM_CLASSES):.2f}",
        "tail": str(TAIL_STEPS), "tolerance": f"{NEAR_CHANCE:.0%}",
        "finals": sep.join(loss(s) for s in claim.summaries if s.final_train_loss is not None),
        "at_chance": sep.join(t("claims.k_of_n", label=s.label, k=s.at_chance.k, n=s.at_chance.n) for s in claim.summaries),
        "plain": comparison_sentence(t, claim.plain), "residual": comparison_sentence(t, claim.residual),
    }


@dataclass(frozen=True)
class BlowUpClaim:
    """λ = 2 (the why_not_2x preset) over its seeds, and λ = 1 beside it."""

    n: int
    stuck: int  # blew up, then the training loss sat at ln C (``stuck_at_chance``)
    diverged: int  # the loss left float32: the run stopped there
    trained: int  # neither, and not at chance at the end
    step1: float  # seed 0's training loss at step 1, before any update (the one the pages draw)
    step1_range: tuple[float, float]  # over the seeds
    stuck_loss: float | None  # median final training loss of the stuck seeds
    stuck_acc: tuple[float, float] | None  # min, max final test accuracy of the stuck seeds
    test_blown: int  # stuck seeds whose test loss stayed at ≥ TEST_BLOWN × ln C
    test_loss: float | None  # their median final test loss
    identity_loss: float  # λ = 1's median final training loss
    batch: int  # images per training step (Paddle caps each image's loss at 64: step 1's loss counts wrong images)

    @property
    def outcome(self) -> str:
        return "never_trains" if self.trained == 0 else "trains_some"

    @property
    def test_outcome(self) -> str:
        if self.test_blown == 0:
            return "none"
        return "all" if self.test_blown == self.stuck else "some"


@lru_cache(maxsize=1)
def blow_up_claim() -> BlowUpClaim | None:
    """From the shipped why_not_2x file (None without it)."""
    grouped = variant_runs("why_not_2x")
    if grouped is None:
        return None
    by_scale = {runs[0]["config"]["scale"]: runs for runs in grouped.values()}
    runs, chance = by_scale[2.0], chance_loss(NUM_CLASSES)
    stuck = [r for r in runs if stuck_at_chance(r)]
    blown = [r["result"]["final_test_loss"] for r in stuck if r["result"]["final_test_loss"] >= TEST_BLOWN * chance]
    step1 = [r["metrics"]["train_loss"][0] for r in runs]
    accs = [r["result"]["final_test_acc"] for r in stuck]
    return BlowUpClaim(
        len(runs), len(stuck), sum(map(diverged, runs)),
        sum(1 for r in runs if not (stuck_at_chance(r) or diverged(r) or near_chance(r))),
        step1[0], (min(step1), max(step1)),
        float(np.median([r["result"]["final_train_loss"] for r in stuck])) if stuck else None,
        (min(accs), max(accs)) if accs else None, len(blown), float(np.median(blown)) if blown else None,
        float(np.median([r["result"]["final_train_loss"] for r in by_scale[1.0]])), runs[0]["config"]["batch_size"],
    )


def blow_up_values(t: Translate, claim: BlowUpClaim) -> dict[str, str]:
    """The placeholders of the λ = 2 sentences (Why page Q1, the lab preset's question)."""
    acc = claim.stuck_acc or (math.nan, math.nan)
    values = {
        "n": str(claim.n), "stuck": str(claim.stuck), "diverged": str(claim.diverged), "trained": str(claim.trained),
        "step1": f"{claim.step1:.0f}", "step1_range": span(*(f"{v:.0f}" for v in claim.step1_range)), "batch": str(claim.batch),
        "loss2": f"{claim.stuck_loss:.2f}" if claim.stuck_loss is not None else "",
        "chance": f"{chance_loss(NUM_CLASSES):.2f}", "chance_acc": f"{1 / NUM_CLASSES:.0%}",
        "acc": span(*(f"{a:.1%}" for a in acc)), "blown": str(claim.test_blown),
        "test_loss": f"{claim.test_loss:.1f}" if claim.test_loss is not None else "",
        "loss1": f"{claim.identity_loss:.2f}",
    }
    values["fate"] = t(f"claims.lambda2.{claim.outcome}", **values)
    values["test"] = t(f"claims.lambda2_test.{claim.test_outcome}", **values) if claim.stuck else ""
    return values


def question_values(key: str, t: Translate) -> dict[str, str]:
    """The placeholders of the lab preset ``key``'s question (none for a preset without measured claims)."""
    if key == "degradation" and (claim := degradation_claim()) is not None:
        return degradation_values(t, claim)
    if key == "why_not_2x" and (claim := blow_up_claim()) is not None:
        return blow_up_values(t, claim)
    return {}
