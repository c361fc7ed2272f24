"""Predict, then see: the questions a teacher opens at the lesson's turning points, and what the app measured.

Each question has its choices (catalog keys ``predict.<id>.choice.<choice>``) and a function that
reads what the app already has (the shipped reference runs over their seeds, the stored lesion
studies, the shipped loss landscapes) and says which choice that measurement supports, with the
numbers behind it. Nothing here is typed in: a result is an outcome key (``predict.<id>.result.<outcome>``)
and the placeholders it is filled with, computed from the data by ``resnet.lab.claims`` where that
module already measures it. One seed is an anecdote (DESIGN.md, "Measured claims"): a result is
``decided`` only when the seeds' spread (or the paired interval) leaves no doubt; otherwise it
says so, and a choice that is merely ahead is not marked as the answer.

    QUESTIONS["degradation"].reveal(t)   # -> Reveal | None (None: the data it reads is missing)
    questions_for("pages/lab.py")        # the questions of a page, in lesson order

No Paddle, no Streamlit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import claims
from .presets import PRESETS, variant_runs
from .stored_lesions import MODELS_DIR, stored_lesion_studies
from .surfaces import edge_mean, local_minima, shipped_landscapes

Translate = Callable[..., str]


@dataclass(frozen=True)
class Reveal:
    """What the measurement says about a question.

    ``supported``: the index of the choice the data points to (None: it points to none);
    ``decided``: whether it does so beyond noise (every seed, or the paired interval), so the
    choice may be marked as the answer. ``key`` and ``values``: the result sentence.
    ``note``: the catalog key of what the measurement cannot tell (one trained net, one seed…),
    filled with the same values; "" when there is nothing to add.
    """

    supported: int | None
    decided: bool
    key: str
    values: dict[str, str]
    note: str = ""


@dataclass(frozen=True)
class Question:
    """One prediction: its id (the store keeps it), the pages it belongs to, its choices and its measurement."""

    id: str
    pages: tuple[str, ...]  # script files ("app.py", "pages/lab.py") where the teacher is likely to open it
    choices: tuple[str, ...]
    measure: Callable[[Translate], Reveal | None] = field(repr=False)

    def reveal(self, t: Translate) -> Reveal | None:
        """The measured result, or None when the data it reads is not there."""
        return self.measure(t)

    def choice_key(self, index: int) -> str:
        return f"predict.{self.id}.choice.{self.choices[index]}"

    @property
    def question_key(self) -> str:
        return f"predict.{self.id}.question"


def _range(values: tuple[float, float, float]) -> str:
    """"median [min–max]" of a (median, min, max) triple, two significant digits."""
    median, low, high = values
    return f"{median:.2g} [{claims.span(f'{low:.2g}', f'{high:.2g}')}]"


def _order(a: tuple[float, float, float], b: tuple[float, float, float]) -> str:
    """"below" when every seed of ``a`` (its min–max) is below every seed of ``b``, "above" the other way, else "overlap"."""
    return "below" if a[2] < b[1] else "above" if a[1] > b[2] else "overlap"


# -- plain-56 vs plain-20 ----------------------------------------------------------------------------
# He et al. 2015, Fig. 1 (and Fig. 6 left): on CIFAR-10 the 56-layer plain net has the higher *training*
# error than the 20-layer one (the caption: "The deeper network has higher training error, and thus test error").
DEGRADATION_CHOICES = ("deep_lower", "shallow_lower", "alike")


def degradation_reveal(t: Translate) -> Reveal | None:
    """Which plain net ends with the lower final training loss over the degradation preset's seeds: decided when
    the two nets' seed ranges do not overlap; the paired test-accuracy comparison of ``claims`` beside it."""
    claim = claims.degradation_claim()
    if claim is None:
        return None
    by_label = {s.label: s for s in claim.summaries}
    deep, shallow = by_label[claim.plain.deeper], by_label[claim.plain.shallower]
    if deep.final_train_loss is None or shallow.final_train_loss is None:
        return None
    order = _order(deep.final_train_loss, shallow.final_train_loss)
    supported = {"below": 0, "above": 1}.get(order)
    values = {"deep": deep.label, "shallow": shallow.label, "n": str(claim.n), "steps": str(claim.steps),
              "deep_loss": _range(deep.final_train_loss), "shallow_loss": _range(shallow.final_train_loss),
              "test": claims.comparison_sentence(t, claim.plain)}
    outcome = {"below": "deep_lower", "above": "shallow_lower"}.get(order, "overlap")
    return Reveal(supported, supported is not None, f"predict.degradation.result.{outcome}", values, "predict.note.short_runs")


# -- λ = 2 -------------------------------------------------------------------------------------------
# He et al. 2016 (Identity Mappings), Sec. 3, Eqs. 6-8 (resnet.papers.PLACES["he2016.scaling_analysis"]): a
# shortcut scaled by λ multiplies the shortcut path's signal and gradient by the product of the λs,
# exponentially large for λ > 1; Table 1 reports the constant scalings (0.5) beside the identity.
LAMBDA2_CHOICES = ("faster", "same", "slower", "blows_up")


def lambda2_reveal(t: Translate) -> Reveal | None:
    """What λ = 2 did to the training loss over the why_not_2x preset's seeds (``claims.blow_up_claim``):
    blew up in every seed (decided), in some (ahead, not decided), or trained in all, then set against
    λ = 1's final training loss by the seeds' ranges."""
    claim, sweep = claims.blow_up_claim(), claims.lambda_sweep()
    if claim is None or sweep is None:
        return None
    values = claims.blow_up_values(t, claim)
    failed = claim.n - claim.trained  # seeds that did not train: stuck at chance or diverged
    values["failed"] = str(failed)
    if failed:
        outcome = "blows_up" if claim.trained == 0 else "blows_up_some"
        return Reveal(3, claim.trained == 0, f"predict.lambda2.result.{outcome}", values, "predict.note.short_runs")
    by_scale = {s.scale: s for s in sweep}
    two, one = by_scale[2.0].final_loss, by_scale[1.0].final_loss
    if two is None or one is None:
        return None
    order = _order(two, one)
    values.update(two=_range(two), one=_range(one))
    supported = {"below": 0, "above": 2}.get(order)
    outcome = {"below": "faster", "above": "slower"}.get(order, "overlap")
    return Reveal(supported, supported is not None, f"predict.lambda2.result.{outcome}", values, "predict.note.short_runs")


# -- deleting a block --------------------------------------------------------------------------------
# Veit et al. 2016, Sec. 4.1 ("Deleting individual layers from neural networks at test time";
# resnet.papers.PLACES["veit2016.single_block"]): deleting one block of a trained ResNet barely changes its
# error (downsampling blocks excepted), deleting a layer of VGG, a net without shortcuts, is fatal.
LESION_CHOICES = ("both_keep", "resnet_keeps", "plain_keeps", "both_lose")


@dataclass(frozen=True)
class NetDeletions:
    """One trained net's single-block deletions, each against the intact net on the same test images."""

    label: str
    residual: bool
    blocks: int
    hurt: int  # deletions that cost accuracy beyond noise (paired 95 % interval below 0)
    median_pp: float  # the median change of accuracy over the deletions, in percentage points (negative: lost)
    baseline: float  # the intact net's test accuracy
    test_images: int

    @property
    def keeps(self) -> bool | None:
        """True when most single deletions are within noise (or help), False when most hurt, None on a tie."""
        rest = self.blocks - self.hurt
        return True if rest > self.hurt else False if self.hurt > rest else None


def lesion_nets(folder: Path = MODELS_DIR) -> list[NetDeletions]:
    """The stored lesion studies of the shipped nets (``stored_lesions``), each read as ``NetDeletions``; whether a
    net has shortcuts is read from its weights' metadata (``<key>.json``)."""
    out = []
    for key, study in stored_lesion_studies(folder).items():
        try:
            shortcut = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))["model"]["shortcut"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        verdicts = study.verdicts()
        out.append(NetDeletions(
            study.label, shortcut != "none", len(verdicts),
            sum(1 for v in verdicts if v.beyond_noise and v.delta.value < 0),
            float(np.median([100 * v.delta.value for v in verdicts])), study.baseline, study.test_images,
        ))
    return out


def lesion_reveal(t: Translate, folder: Path = MODELS_DIR) -> Reveal | None:
    """Whether a trained ResNet and a trained plain net keep their test accuracy when one block is deleted,
    read per net by the deletions' paired intervals: a net keeps it when most of its single deletions are within
    noise. One trained net of each kind (one seed): the note says so."""
    nets = lesion_nets(folder)
    residual = next((n for n in nets if n.residual), None)
    plain = next((n for n in nets if not n.residual), None)
    if residual is None or plain is None:
        return None
    values = {f"{name}_{what}": text for name, net in (("res", residual), ("plain", plain)) for what, text in (
        ("label", net.label), ("blocks", str(net.blocks)), ("hurt", str(net.hurt)), ("within", str(net.blocks - net.hurt)),
        ("median", f"{net.median_pp:+.1f}"), ("baseline", f"{net.baseline:.1%}"))}
    values["n"] = str(residual.test_images)
    values["body"] = t("predict.lesion.body", **values)
    if residual.keeps is None or plain.keeps is None:
        return Reveal(None, False, "predict.lesion.result.tie", values, "predict.note.one_net")
    supported = {(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[(residual.keeps, plain.keeps)]
    return Reveal(supported, True, f"predict.lesion.result.{LESION_CHOICES[supported]}", values, "predict.note.one_net")


# -- the loss landscape ------------------------------------------------------------------------------
# Li et al. 2018, Fig. 1 ("The loss surfaces of ResNet-56 with/without skip connections"): with shortcuts the
# landscape around the trained weights is smooth and nearly convex, without them chaotic.
LANDSCAPE_CHOICES = ("resnet", "plain", "alike")


def landscape_reveal(t: Translate) -> Reveal | None:
    """Which of the two shipped surfaces (the degradation preset's ResNet-56 and plain-56, one trained net and one
    pair of directions each) is smoother, by two readings of ``surfaces``: fewer local minima on the grid, and a
    smaller rise of the loss from the trained weights to the grid's edge (edge mean / centre). Decided when both
    readings agree; the surfaces carry no spread, so the note says it is one measurement."""
    entries = shipped_landscapes()
    residual = next((e for e in entries if e["config"]["shortcut"] != "none"), None)
    plain = next((e for e in entries if e["config"]["shortcut"] == "none"), None)
    if residual is None or plain is None:
        return None

    def reading(entry: dict) -> tuple[int, float]:
        surface = entry["surface"]
        centre = surface.get("center")
        rise = edge_mean(surface["loss"]) / centre if centre and math.isfinite(centre) else math.inf
        return local_minima(surface["loss"]), rise

    (res_minima, res_rise), (plain_minima, plain_rise) = reading(residual), reading(plain)
    minima = "resnet" if res_minima < plain_minima else "plain" if plain_minima < res_minima else "alike"
    rise = "resnet" if res_rise < plain_rise else "plain" if plain_rise < res_rise else "alike"
    values = {"res": residual["label"], "plain": plain["label"], "size": str(residual["surface"]["size"]),
              "res_minima": str(res_minima), "plain_minima": str(plain_minima),
              "res_rise": _factor(res_rise), "plain_rise": _factor(plain_rise)}
    values["body"] = t("predict.landscape.body", **values)
    if minima == rise or "alike" in (minima, rise):  # both readings agree, or one cannot tell and the other decides
        verdict = rise if minima == "alike" else minima
        supported = LANDSCAPE_CHOICES.index(verdict)
        return Reveal(supported, True, f"predict.landscape.result.{verdict}", values, "predict.note.one_surface")
    return Reveal(None, False, "predict.landscape.result.disagree", values, "predict.note.one_surface")


def _factor(ratio: float) -> str:
    """A ratio as "3,000" or "1.5" (whole numbers with separators from 10 on); "–" when there is none."""
    if not math.isfinite(ratio):
        return "–"
    return f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.2g}"


# -- Identity Mappings' shortcut variants ------------------------------------------------------------
# He et al. 2016 (Identity Mappings), Fig. 2 and Table 1 (ResNet-110, CIFAR-10): of the shortcuts tried, the
# identity has the lowest test error; scaling, gating, 1×1 conv and dropout on the shortcut all end higher.
SHORTCUT_PRESET = "shortcut_variants"
SHORTCUT_CHOICES = tuple(name.removeprefix("he2016.shortcut.") for name in PRESETS[SHORTCUT_PRESET].paper)


def shortcut_reveal(t: Translate) -> Reveal | None:
    """Which shortcut of the shortcut_variants preset ends with the lowest median test error over its seeds; decided
    only when that variant beats every other beyond noise in every seed (paired on the same test images,
    ``claims.compare``); otherwise the variant ahead is named with how far the seeds can tell it from each other."""
    rows, grouped = claims.paper_rows(SHORTCUT_PRESET), variant_runs(SHORTCUT_PRESET)
    if rows is None or grouped is None:
        return None

    def median_error(row: claims.PaperRow) -> float:
        errors = [1 - a.value for a in row.summary.accuracies if a is not None]
        return float(np.median(errors)) if errors else math.inf

    best = min(range(len(rows)), key=lambda i: median_error(rows[i]))
    leader = rows[best]
    rivals = [(row, claims.compare(grouped[leader.label], grouped[row.label])) for i, row in enumerate(rows) if i != best]
    decided = all(comparison.outcome == "worse" for _, comparison in rivals)
    errors = sorted(1 - a.value for a in leader.summary.accuracies if a is not None)

    def name(row: claims.PaperRow) -> str:
        return t(f"predict.shortcut.choice.{SHORTCUT_CHOICES[rows.index(row)]}")

    values = {"leader": name(leader), "n": str(len(leader.summary.seeds)), "depth": str(PRESETS[SHORTCUT_PRESET].configs[0].depth),
              "error": f"{100 * median_error(leader):.1f}", "low": f"{100 * errors[0]:.1f}", "high": f"{100 * errors[-1]:.1f}",
              "rivals": t("claims.list_sep").join(
                  t("predict.shortcut.rival", **{**comparison.values(), "label": name(row)}) for row, comparison in rivals)}
    return Reveal(best, decided, f"predict.shortcut.result.{'decided' if decided else 'ahead'}", values, "predict.note.short_runs")


QUESTIONS: dict[str, Question] = {
    q.id: q for q in (
        Question("degradation", ("app.py", "pages/lab.py"), DEGRADATION_CHOICES, degradation_reveal),
        Question("lambda2", ("app.py", "pages/lab.py"), LAMBDA2_CHOICES, lambda2_reveal),
        Question("lesion", ("app.py", "pages/feature_maps.py"), LESION_CHOICES, lesion_reveal),
        Question("landscape", ("app.py", "pages/lab.py"), LANDSCAPE_CHOICES, landscape_reveal),
        Question("shortcut", ("pages/lab.py", "pages/architecture.py"), SHORTCUT_CHOICES, shortcut_reveal),
    )
}


def questions_for(page: str | None) -> list[Question]:
    """The questions of ``page`` (a script file), in lesson order; every question for None."""
    return [q for q in QUESTIONS.values() if page is None or page in q.pages]


def question(question_id: str) -> Question | None:
    """The question with this id (as the store keeps it), None for an unknown one."""
    return QUESTIONS.get(question_id)


__all__ = ["QUESTIONS", "Question", "Reveal", "NetDeletions", "lesion_nets", "question", "questions_for"]

