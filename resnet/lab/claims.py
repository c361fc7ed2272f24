"""Measured claims: what the pages' sentences about the shipped reference runs say, chosen by the data.

A sentence about something the app measured is filled from the runs it describes (DESIGN.md,
"Measured claims"): the numbers are placeholders, and which phrasing a sentence takes
(lower, alike, stuck at chance) is an outcome key computed here from every seed's run. The
catalogs hold one phrasing per outcome; the ``*_sentence`` helpers pick it and fill it with a
page's translator ``t`` (``t(key, **values)``). No Paddle, no Streamlit:

    degradation_claim()   # the degradation preset over its seeds: deeper vs shallower, plain and with shortcuts
    blow_up_claim()       # the why_not_2x preset's λ = 2 over its seeds: loss at step 1, stuck or diverged
    lambda_sweep()        # every λ of that preset over its seeds: final loss, at chance, lowest in k of n
    question_values(key, t)  # the placeholders of a lab preset's question
    paper_rows(key)       # He et al. 2016 (Identity Mappings)' presets: each variant, the paper's error, ours, agreement
    fig7_values(t, means)    # He et al. 2015's Fig. 7 findings read on measured response stds
    prediction_values(t, signals)  # how far the Why page's ∏λ line is from one measurement
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from ..inference.signals import BlockSignal, predicted_growth
from ..model.spec import STAGES
from ..papers import ALIKE_IN_PAPER, FIGURES, printed
from .config import chance_loss
from .presets import PRESETS, variant_runs
from .seeds import NEAR_CHANCE, TAIL_STEPS, VariantSummary, diverged, final_accuracy, near_chance, seed_differences, stuck_at_chance, summarise

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
    stuck_acc_interval: tuple[float, float] | None  # the lowest and highest bound of their 95 % Wilson intervals
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
    intervals = [final_accuracy(r) for r in stuck]
    return BlowUpClaim(
        len(runs), len(stuck), sum(map(diverged, runs)),
        sum(1 for r in runs if not (stuck_at_chance(r) or diverged(r) or near_chance(r))),
        step1[0], (min(step1), max(step1)),
        float(np.median([r["result"]["final_train_loss"] for r in stuck])) if stuck else None,
        (min(accs), max(accs)) if accs else None,
        (min(i.low for i in intervals), max(i.high for i in intervals)) if accs else None, len(blown), float(np.median(blown)) if blown else None,
        float(np.median([r["result"]["final_train_loss"] for r in by_scale[1.0]])), runs[0]["config"]["batch_size"],
    )


def blow_up_values(t: Translate, claim: BlowUpClaim) -> dict[str, str]:
    """The placeholders of the λ = 2 sentences (Why page Q1, the lab preset's question)."""
    acc = claim.stuck_acc or (math.nan, math.nan)
    acc_interval = claim.stuck_acc_interval or (math.nan, math.nan)
    values = {
        "n": str(claim.n), "stuck": str(claim.stuck), "diverged": str(claim.diverged), "trained": str(claim.trained),
        "step1": f"{claim.step1:.0f}", "step1_range": span(*(f"{v:.0f}" for v in claim.step1_range)), "batch": str(claim.batch),
        "loss2": f"{claim.stuck_loss:.2f}" if claim.stuck_loss is not None else "",
        "chance": f"{chance_loss(NUM_CLASSES):.2f}", "chance_acc": f"{1 / NUM_CLASSES:.0%}",
        "acc": span(*(f"{a:.1%}" for a in acc)), "acc_ci": span(*(f"{a:.1%}" for a in acc_interval)),
        "blown": str(claim.test_blown),
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
    if key == "why_not_2x" and (claim := blow_up_claim()) is not None and (sweep := lambda_sweep()) is not None:
        return lambda_question_values(t, claim, sweep)
    if PRESETS[key].paper and (rows := paper_rows(key)) is not None:
        return paper_question_values(t, key, rows)
    return {}


# ---------------------------------------------------------------------------------
# He et al. 2016 (Identity Mappings)' ablations against the presets that train them
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperRow:
    """One variant of a preset with a paper figure per variant: the paper's test error beside ours."""

    label: str
    figure: str  # its FIGURES name
    summary: VariantSummary
    versus: Comparison | None  # against the preset's first variant (the paper's baseline), paired seed by seed
    # "worse" / "better" than the baseline in the paper ("fail" is worse), "alike" where its text says so;
    # "" for the baseline
    direction: str

    @property
    def agreement(self) -> str:
        """How our seeds read the paper's finding. Worse or better there: "agrees" (so beyond noise in every
        seed), "partly" (in some, the rest within noise), "noise" (within noise in every seed: our runs cannot
        show it), "opposite" (the other way in some seed). Alike there: "same" (within noise in every seed) or
        "differs" (beyond noise in some seed). "" for the baseline."""
        if self.versus is None or not self.direction:
            return ""
        outcome = self.versus.outcome
        if self.direction == "alike":
            return "same" if outcome == "alike" else "differs"
        if outcome == self.direction:
            return "agrees"
        if outcome == f"{self.direction}_some":
            return "partly"
        return "noise" if outcome == "alike" else "opposite"

    @property
    def failed(self) -> int:
        """Seeds whose final test error is above the paper's "fail" line (a test error above ``he2016.fail_above``)."""
        line = FIGURES["he2016.fail_above"].value / 100
        return sum(1 for a in self.summary.accuracies if a is None or 1 - a.value > line)


def paper_direction(figure: str, baseline: str) -> str:
    """The paper's finding for ``figure`` (a test error) against its ``baseline``'s: "worse" ("fail" is worse) or
    "better", or "alike" where the paper's text calls them so (``ALIKE_IN_PAPER``)."""
    value, base = FIGURES[figure].value, FIGURES[baseline].value
    if figure in ALIKE_IN_PAPER:
        return "alike"
    if value == "fail":
        return "worse"
    return "worse" if value > base else "better" if value < base else "alike"


@lru_cache(maxsize=None)
def paper_rows(key: str) -> tuple[PaperRow, ...] | None:
    """Each variant of preset ``key`` (one with ``paper`` figures) over its shipped seeds, beside the paper's
    test error for it; the first variant is the paper's baseline. None without the file."""
    grouped = variant_runs(key)
    if grouped is None:
        return None
    figures = PRESETS[key].paper_figures()
    summaries = {s.label: s for s in summarise(grouped)}
    baseline = next(iter(figures))
    return tuple(
        PaperRow(label, figure, summaries[label], None, "") if label == baseline else
        PaperRow(label, figure, summaries[label], compare(grouped[baseline], grouped[label]),
                 paper_direction(figure, figures[baseline]))
        for label, figure in figures.items()
    )


def paper_question_values(t: Translate, key: str, rows: Sequence[PaperRow]) -> dict[str, str]:
    """The placeholders of a paper preset's question: its net and recipe, and what our seeds say about the
    paper's findings, variant by variant grouped by agreement (each group's sentence only when it has members)."""
    config, sep = PRESETS[key].configs[0], t("claims.list_sep")
    groups: dict[str, list[PaperRow]] = {}
    for row in rows[1:]:
        groups.setdefault(row.agreement, []).append(row)
    verdict = " ".join(
        t(f"claims.paper.{agreement}", n=len(members), seeds=len(rows[0].summary.seeds), baseline=rows[0].label,
          labels=sep.join(r.label for r in members))
        for agreement in AGREEMENTS if (members := groups.get(agreement))
    )
    fail_rows = [r for r in rows if printed(r.figure) == "fail"]
    failed = [r for r in fail_rows if r.failed]
    fails = t(f"claims.paper_fail.{'some' if failed else 'none'}", n=len(failed), k=len(fail_rows),
              fail=printed("he2016.fail_above"), labels=sep.join(r.label for r in (failed or fail_rows))) if fail_rows else ""
    return {"depth": str(config.depth), "steps": str(config.steps), "n": str(len(rows[0].summary.seeds)),
            "baseline": rows[0].label, "fail": printed("he2016.fail_above"), "verdict": verdict, "fails": fails}


# The verdicts in the order a question lists them (``PaperRow.agreement``)
AGREEMENTS = ("agrees", "same", "partly", "noise", "differs", "opposite")


def paper_table_rows(t: Translate, key: str) -> list[dict[str, str]]:
    """The paper preset's table, one row per variant (column → text, the ``lab.paper_table.<column>`` headers):
    its name, the paper's test error, our median final test error [lowest, highest] over the seeds, how it
    compares with the first row seed by seed, and whether that reads as the paper ([] without the file, or
    for a preset without paper figures)."""
    rows = paper_rows(key) if PRESETS[key].paper else None
    if rows is None:
        return []
    out = []
    for row in rows:
        errors = sorted(1 - a.value for a in row.summary.accuracies if a is not None)
        ours = (f"{100 * float(np.median(errors)):.1f} [{span(f'{100 * errors[0]:.1f}', f'{100 * errors[-1]:.1f}')}]"
                if errors else "–")
        paper = printed(row.figure)
        versus = t(f"lab.paper_versus.{row.versus.outcome}", **row.versus.values()) if row.versus else t("lab.paper_versus.baseline")
        out.append({
            "variant": row.label, "paper": t("lab.paper_fail") if paper == "fail" else paper, "ours": ours,
            "versus": versus, "agreement": t(f"lab.paper_agreement.{row.agreement or 'baseline'}"),
        })
    return out


def superscript(number: int) -> str:
    """An exponent as it is printed: 25 → ²⁵."""
    return str(number).translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))


@dataclass(frozen=True)
class ScaleOutcome:
    """One λ of the why_not_2x preset over its seeds."""

    scale: float
    n: int
    final_loss: tuple[float, float, float] | None  # median, min, max final training loss (finite ones)
    at_chance: int  # seeds ending at chance (``near_chance``)
    lowest: int  # seeds in which this λ ends with the lowest final training loss of all the λs


@lru_cache(maxsize=1)
def lambda_sweep() -> list[ScaleOutcome] | None:
    """Every λ of the shipped why_not_2x file, in the preset's order (None without it)."""
    grouped = variant_runs("why_not_2x")
    if grouped is None:
        return None
    by_scale = {runs[0]["config"]["scale"]: runs for runs in grouped.values()}

    def final(run: dict) -> float:
        loss = run["result"]["final_train_loss"]
        return loss if loss is not None and math.isfinite(loss) else math.inf

    seeds = sorted({run["config"]["seed"] for runs in by_scale.values() for run in runs})
    finals = {scale: {run["config"]["seed"]: final(run) for run in runs} for scale, runs in by_scale.items()}
    winners = [min(finals, key=lambda scale: finals[scale].get(seed, math.inf)) for seed in seeds]
    out = []
    for scale, runs in by_scale.items():
        losses = [v for v in finals[scale].values() if math.isfinite(v)]
        out.append(ScaleOutcome(scale, len(runs), (float(np.median(losses)), min(losses), max(losses)) if losses else None,
                                sum(map(near_chance, runs)), winners.count(scale)))
    return out


STAGE_STARTS = 2  # a CIFAR ResNet's three stages start twice with a change of shape


def residual_blocks(depth: int) -> int:
    """Residual blocks of a ResNet-depth, from the stage table."""
    return sum(STAGES[depth][1])


def option_a_growth(depth: int, scale: float) -> float:
    """log2 of what option A's shortcuts alone multiply the forward RMS by, from the first block's
    output to the last's: λ at each later block, divided by √2 at a stage start (half of its
    output channels are padded zeros)."""
    return (residual_blocks(depth) - 1) * math.log2(scale) - STAGE_STARTS * 0.5


def lambda_question_values(t: Translate, blow_up: BlowUpClaim, sweep: list[ScaleOutcome]) -> dict[str, str]:
    """The why_not_2x question's placeholders: λ = 2's blow-up, and how the other λs ended over the seeds."""
    config = PRESETS["why_not_2x"].configs[-1]  # λ = 2, option A
    best = max(sweep, key=lambda s: s.lowest)
    rows = [t("claims.lambda_row", lam=f"{s.scale:g}", loss=f"{s.final_loss[0]:.2g}",
              range=span(f"{s.final_loss[1]:.2g}", f"{s.final_loss[2]:.2g}"), k=s.at_chance, n=s.n)
            for s in sweep if s.scale <= 1 and s.final_loss is not None]
    return {
        **blow_up_values(t, blow_up), "depth": str(config.depth), "blocks": str(residual_blocks(config.depth)),
        "growth": f"{config.scale:g}{superscript(round(option_a_growth(config.depth, config.scale)))}", "steps": str(config.steps),
        "sweep": t("claims.list_sep").join(rows),
        "best": t(f"claims.lambda_best.{'all' if best.lowest == best.n else 'some'}", lam=f"{best.scale:g}", k=best.lowest, n=best.n),
    }


def lambda_big_values(t: Translate) -> dict[str, str]:
    """``lab.lambda_big.pad``'s placeholders: what the shipped λ = 2 runs (option A) measured, or "" without them."""
    claim = blow_up_claim()
    return {"measured": t("claims.lambda_big_measured", **blow_up_values(t, claim)) if claim is not None else ""}


@dataclass(frozen=True)
class Fig7Reading:
    """Fig. 7's two findings read on the measured runs: (label, config, mean 3×3 response std) each."""

    plain: str  # residual nets against plain ones: below / above / overlap / none (one side missing)
    depth: str  # the deepest residual net against the shallowest: less / more / overlap / none
    values: dict[str, str]


def fig7_reading(means: Sequence[tuple[str, dict, float]], sep: str = ", ") -> Fig7Reading:
    """Where the measured runs stand on He et al. 2015's Fig. 7 findings (ResNets respond less than
    plain nets; the deeper ResNet less than the shallower). Several runs of one depth (seeds) count
    as a range: a finding holds only when the ranges do not overlap."""
    residual = [(label, config, v) for label, config, v in means if config["shortcut"] != "none"]
    plain = [(label, config, v) for label, config, v in means if config["shortcut"] == "none"]

    def order(low: list[float], high: list[float]) -> str:
        if not low or not high:
            return "none"
        return "below" if max(low) < min(high) else "above" if min(low) > max(high) else "overlap"

    def listed(rows: list[tuple[str, dict, float]]) -> str:
        return sep.join(f"{label} {v:.2f}" for label, _, v in rows)

    by_depth: dict[int, list[tuple[str, dict, float]]] = {}
    for row in residual:
        by_depth.setdefault(row[1]["depth"], []).append(row)
    depth = "none"
    values = {"residual": listed(residual), "plain": listed(plain), "deep": "", "shallow": ""}
    if len(by_depth) >= 2:
        deep, shallow = by_depth[max(by_depth)], by_depth[min(by_depth)]
        depth = {"below": "less", "above": "more", "overlap": "overlap"}[order([v for *_, v in deep], [v for *_, v in shallow])]
        values.update(deep=listed(deep), shallow=listed(shallow))
    return Fig7Reading(order([v for *_, v in residual], [v for *_, v in plain]), depth, values)


def fig7_values(t: Translate, means: Sequence[tuple[str, dict, float]]) -> dict[str, str]:
    """``lab.fig7_intro``'s placeholder: the measured reading of each finding the runs can speak to
    (the findings themselves: ``PLACES["he2015.fig7"]``)."""
    reading = fig7_reading(means, t("claims.list_sep"))
    plain = t(f"claims.fig7.plain.{reading.plain}", **reading.values) if reading.plain != "none" else ""
    depth = t(f"claims.fig7.depth.{reading.depth}", **reading.values) if reading.depth != "none" else ""
    return {"reading": t("claims.fig7.both", plain=plain, depth=depth) if plain and depth else plain or depth}


def prediction_values(t: Translate, signals: Sequence[BlockSignal]) -> dict[str, str]:
    """``why.prediction_note.pad``'s placeholder from one measurement (``BlockSignal``s of the chosen λ):
    how far the dashed ∏λ line is from the measured output and gradient, at most, and where; for
    λ ≤ 0 the shortcuts carry no positive multiple of x, and there is no such line to compare."""
    lam = signals[-1].scale
    if lam <= 0:
        return {"fit": t("claims.prediction.none", lam=f"{lam:g}")}
    forward, backward = predicted_growth(list(signals))

    def worst(measured: list[float], predicted: np.ndarray) -> tuple[str, str]:
        gaps = [abs(m / p - 1) for m, p in zip(measured, predicted)]
        i = int(np.argmax(gaps))
        return f"{gaps[i]:.0%}", signals[i].name

    fwd_dev, fwd_at = worst([s.out_rms for s in signals], forward)
    bwd_dev, bwd_at = worst([s.grad_rms for s in signals], backward)
    return {"fit": t("claims.prediction.fit", lam=f"{lam:g}", fwd_dev=fwd_dev, fwd_at=fwd_at, bwd_dev=bwd_dev, bwd_at=bwd_at)}
