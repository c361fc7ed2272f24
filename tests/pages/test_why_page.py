"""The Why residuals page teaches what it measures: every number in its text is computed
by the core, and each paper claim is checked against its source here.

Sources: He et al. 2015, "Deep Residual Learning for Image Recognition" (Sec. 3.1–3.3,
4.1, Fig. 2 and 5); He et al. 2016b, "Identity Mappings in Deep Residual Networks"
(Sec. 3, Table 1); Veit, Wilber, Belongie 2016, "Residual Networks Behave Like Ensembles
of Relatively Shallow Networks" (Sec. 4, Fig. 3).
"""

from __future__ import annotations

import json
import math
import re

import pytest

from resnet import papers
from resnet.i18n import Translator, catalog
from resnet.lab import stored_lesions
from resnet.papers import CITATIONS, HE_2015
from resnet.inference import cost
from resnet.inference.diagnostics import measure_at_init
from resnet.lab import claims
from resnet.lab.presets import reference_path
from resnet.lab.config import chance_loss
from resnet.plots.lesson import plain_vs_residual
from tests.helpers import open_page, query_param

EN_WHY = catalog("en")


def text_of(at) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.fixture
def why_en():
    """The page in English (each test its own: the measured section starts a task in the test's own store)."""
    return open_page("app.py", lang="en")


def measured(at, line):
    """Compute the measurements the page started (here, in the test's line), then show them."""
    line.compute()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_q1_quotes_the_computed_cost_of_the_extra_multiply(why_en):
    """The course's "wastes a multiplication": one multiply per element of every block's
    output is ~0.1% of ResNet-50's MACs at 224×224 (cost.shortcut_costs)."""
    short = cost.shortcut_costs(cost.resnet_rows(50, 1, 224))
    share = short["scale_multiplies"] / short["macs"]
    assert 0.001 < share < 0.002
    text = text_of(why_en)
    assert "it barely helps and wastes a multiplication" in text  # the course's answer, stated first
    assert f"**{share:.2%}**" in text and f"{short['scale_multiplies']:,}" in text
    # the λ^L law: exact for the pre-activation analysis (He et al. 2016b, Sec. 3), approximate here
    assert "exact in the paper's analysis" in text and "only approximately" in text


def test_block_text_gives_the_projections_their_cost(why_en):
    """Only identity shortcuts are free: ResNet-50's four projections, computed from its rows."""
    short = cost.shortcut_costs(cost.resnet_rows(50, 1, 224))
    text = text_of(why_en)
    assert f"**{short['projection_params']:,}**" in text and "**2,776,576**" in text
    assert f"**{short['projection_macs'] / 1e9:.2f} G**" in text and "**0.36 G**" in text
    assert "layer1.0" in text and "64 → 256" in text  # a stage start that keeps its size
    assert "the first block of a stage halves the size" not in text  # not ResNet-50's layer1.0


def test_q1_paper_keeps_table_1s_rows_apart(why_en):
    """He et al. 2016b, Table 1 (ResNet-110, CIFAR-10; "fail" = error above 20%): identity
    6.61%; λ = 0.5 on the shortcut only fails; 0.5 on both shortcut and F: 12.35%."""
    paper = catalog("en")["why.q1_paper"]
    assert "**6.61%**" in paper
    only_shortcut, both = paper.split("y = F(x) + 0.5x")[1], paper.split("y = 0.5·F(x) + 0.5x")[1]
    assert only_shortcut.lstrip(", ").startswith("**fails**")
    assert both.lstrip(", ").startswith("reaches **12.35%**")
    assert paper in text_of(why_en)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_q1_says_what_lambda_2_did_over_the_shipped_seeds(lang, no_task_processes):
    """The app's own runs (ResNet-56, λ = 2, five seeds; tests/lab/test_claims.py recomputes the claim
    from the file): blown up at step 1, before any update; then at chance or diverged in every seed;
    only the training loss reaches chance."""
    runs = json.loads(reference_path("why_not_2x").read_text())
    lam2 = [r for r in runs["runs"] + runs["other_seeds"] if r["config"]["scale"] == 2.0]
    step1 = next(r for r in lam2 if r["config"]["seed"] == 0)["metrics"]["train_loss"][0]
    stuck = sum(r["stuck_at_chance"] for r in lam2)
    diverged = sum(r["status"] == "diverged" for r in lam2)
    assert stuck + diverged == len(lam2) == 5  # it trains in no seed: the phrasing below is the one that says so
    t = Translator(lang)
    values = claims.blow_up_values(t, claims.blow_up_claim())
    assert (values["step1"], values["stuck"], values["diverged"]) == (f"{step1:.0f}", str(stuck), str(diverged))
    text = text_of(open_page("app.py", lang=lang))
    assert t("why.q1_run", **values) in text
    assert f"**{step1:.0f}**" in text and t("claims.lambda2.never_trains", **values) in text
    assert f"ln 10 = {chance_loss(10):.2f}" in text


@pytest.mark.parametrize(("lam", "depth", "fate"), [
    ("2", "54", "yes"),  # 1.8e16
    ("3", "110", "overflows to inf"),  # 1.3e52 > 3.4e38
    ("0.1", "40", "subnormal"),  # 1e-40: below 1.18e-38, still stored
    ("0.1", "45", "subnormal"),  # 1e-45 rounds to the smallest subnormal, 1.4e-45
    ("0.1", "46", "underflows to 0"),  # 1e-46: below half of it
    ("0", "10", "yes"),  # 0 is exact
])
def test_float32_verdict_follows_ieee_754(lam, depth, fate):
    at = open_page("app.py", lang="en", lam=lam, L=depth)
    assert {m.label: m.value for m in at.metric}["Fits in float32?"] == fate


def test_measured_reading_quotes_this_measurement(no_task_processes):
    """ResNet-56, option A: the reading's numbers are the chart's (measure_at_init), and
    λ = 2 multiplies by ≈ λ per identity block within 10% (tests/inference/test_diagnostics.py)."""
    at = open_page("app.py", lang="en")
    at.radio(key="why.net").set_value(56).run()
    assert not at.exception
    measured(at, no_task_processes)
    text = text_of(at)
    two = measure_at_init(56, "scaled", 2.0)
    plain = measure_at_init(56, "none", 1.0)
    assert f"×2^{math.log2(two[-1].out_rms / two[0].out_rms):.1f} from the first block" in text and "×2^25.0" in text
    assert f"×{plain[0].grad_rms / plain[-1].grad_rms:,.0f} from the last block back" in text
    assert "ResNet-56's 27 blocks" in text
    deviations = [int(d) for d in re.findall(r"within (\d+)%", text.split("How to read it")[1])]
    assert len(deviations) == 2 and max(deviations) <= 10
    at.radio(key="why.downsample").set_value("conv").run()
    text = text_of(measured(at, no_task_processes))
    two = measure_at_init(56, "scaled", 2.0, downsample="conv")
    starts = [i for i, s in enumerate(two) if s.shortcut_kind == "projection"]
    assert starts == [9, 18]
    assert f"×2^{math.log2(two[-1].out_rms / two[18].out_rms):.1f} over the last one" in text and "×2^8.1" in text
    assert f"at most ×{max(two[i].out_rms / two[i - 1].out_rms for i in starts):.1g}" in text and "×0.004" in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_measured_section_starts_its_task_shows_progress_then_the_figures(lang, no_task_processes):
    """The nets are built and run in a task process, never in the server: progress and Cancel first, the figures after."""
    t = catalog(lang)
    at = open_page("app.py", lang=lang)
    (task,) = [x for x in no_task_processes.tasks if x.kind == "signals_at_init_why"]  # started because the section is shown
    assert (task.kind, task.run_id, task.target) == ("signals_at_init_why", 0, "resnet.lab.analyses.at_init:at_init_task")
    assert task.kwargs == {"depth": 20, "scale": 2.0, "downsample": "pad"}
    assert t["why.measuring"] in [p.proto.text for p in at.get("progress")]  # the gradient split's is beside it
    assert at.button(key="why_measure_cancel").label == t["why.measure_cancel"]
    assert t["why.forward"] not in text_of(at)
    measured(at, no_task_processes)
    assert not at.get("progress") and "why_measure_cancel" not in [b.key for b in at.button]
    assert t["why.forward"] in text_of(at) and len(at.get("plotly_chart")) >= 2
    two = measure_at_init(20, "scaled", 2.0)  # what the task computed, computed here again
    assert f"2^{math.log2(two[-1].out_rms / two[0].out_rms):.1f}" in text_of(at)
    # another visitor with the same settings gets the stored figures at once: nothing is started again
    again = open_page("app.py", lang=lang)
    assert not no_task_processes.tasks and not again.get("progress") and len(again.get("plotly_chart")) >= 2


def test_a_cancelled_measurement_says_so_and_can_be_measured_again(no_task_processes):
    at = open_page("app.py", lang="en")
    at.button(key="why_measure_cancel").click().run()
    measured(at, no_task_processes)  # the task process sees the cancel first thing
    assert EN_WHY["why.measure_cancelled"] in [w.value for w in at.warning]
    at.button(key="why_measure_again").click().run()
    assert [p.proto.text for p in at.get("progress")] == [EN_WHY["why.measuring"]]
    measured(at, no_task_processes)
    assert len(at.get("plotly_chart")) >= 2 and not at.warning


def test_network_choice_is_in_the_share_link_and_a_link_opens_on_it(no_task_processes):
    """Issue 15: the measured section's Network and shortcut choice travel in the link, both ways."""
    at = open_page("app.py", lang="en")
    assert (query_param(at, "net"), query_param(at, "downsample")) == ("20", "pad")
    at.radio(key="why.net").set_value(56).run()
    at.radio(key="why.downsample").set_value("conv").run()
    assert (query_param(at, "net"), query_param(at, "downsample")) == ("56", "conv")
    shared = open_page("app.py", lang="en", net="56", downsample="conv")
    assert (shared.radio(key="why.net").value, shared.radio(key="why.downsample").value) == (56, "conv")
    assert "ResNet-56's 27 blocks" in text_of(measured(shared, no_task_processes))
    bad = open_page("app.py", lang="en", net="34")
    assert bad.radio(key="why.net").value == 20 and "net=34" in bad.warning[0].value


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_degradation_step_draws_the_shipped_runs_with_a_summary_over_the_seeds(lang):
    """Step 1 shows the lab's shipped degradation runs inline (seed 0) and summarises all five seeds
    in text: each variant's final training loss (median [min–max]), how many seeds end at chance,
    and the paired comparisons, phrased by their outcome (recomputed from the file in
    tests/lab/test_claims.py); it keeps the link into the lab."""
    payload = json.loads(reference_path("degradation").read_text(encoding="utf-8"))
    every = payload["runs"] + payload["other_seeds"]
    plain56 = [r["result"]["final_train_loss"] for r in every if (r["config"]["shortcut"], r["config"]["depth"]) == ("none", 56)]
    at = open_page("app.py", lang=lang, classroom="1", step="1")
    assert len(at.get("plotly_chart")) == 2  # the shipped runs, then the paper's Tables 2 and 6
    summary = " ".join(c.value for c in at.caption)
    t = Translator(lang)
    claim = claims.degradation_claim()
    assert t("why.deg_summary", **claims.degradation_values(t, claim)) in summary
    assert f"plain-56 {sorted(plain56)[2]:.2g} [{min(plain56):.2g}–{max(plain56):.2g}]" in summary
    assert t("claims.k_of_n", label="plain-56", k=5, n=5) in summary
    assert t(f"claims.compare.{claim.plain.outcome}", **claim.plain.values()) in summary
    assert t(f"claims.compare.{claim.residual.outcome}", **claim.residual.values()) in summary
    assert "CIFAR-10" in summary  # what short runs cannot show: the paper's 64k iterations there
    assert any("preset=degradation" in str(link.proto) for link in at.get("page_link")) or "preset=degradation" in text_of(at)


def test_q2_says_deleting_a_downsampling_block_hurts(why_en):
    """Veit et al. 2016, Sec. 4 / Fig. 3: single blocks matter little, downsampling blocks excepted."""
    for lang in ("en", "zh"):
        body = catalog(lang)["why.q2_body"]
        assert "Veit" in body and ("downsampling" in body or "下采样" in body)


def test_q3_and_the_cost_page_quote_one_comparison_the_same_way(why_en):
    """69,632 vs 1,179,648 conv weights, 70,400 vs 1,180,672 with BN: one core function,
    one phrase on both pages."""
    bott, basic = cost.bottleneck_vs_basic(64, 56, 1)[:2]
    phrase = catalog("en")["count.weights_params"]
    counts = [phrase.format(weights=f"{b['weights']:,}", params=f"{b['params']:,}") for b in (bott, basic)]
    assert counts[0] == "69,632 conv weights (70,400 parameters with BatchNorm's scales and shifts)"
    assert "1,179,648 conv weights (1,180,672 parameters" in counts[1]
    cost_page = open_page("pages/cost.py", lang="en")
    for page in (why_en, cost_page):
        assert all(c in text_of(page) for c in counts)


def test_measured_section_says_how_the_weights_are_drawn():
    """measure_at_init draws the weights with init_parameters, seeded by parameter name."""
    for lang in ("en", "zh"):
        assert "init_parameters" in catalog(lang)["why.measured_body"]


def annotation_order(fig, x: float) -> list[str]:
    """The boxes of one column of the figure, top to bottom (the title left out)."""
    boxes = [a for a in fig.layout.annotations if a.x == x and a.bordercolor]
    return [a.text for a in sorted(boxes, key=lambda a: -a.y)]


def test_plain_vs_residual_draws_relu_after_the_addition():
    """He et al. 2015, Fig. 2 / Sec. 3.2: conv-BN-ReLU → conv-BN → ⊕ → ReLU. A ReLU before
    ⊕ would force F(x) ≥ 0; the plain block is the same stack without the shortcut."""
    texts = catalog("en")
    fig = plain_vs_residual(lambda key, **kw: texts[key].format(**kw))
    plain, residual = annotation_order(fig, 0.0), annotation_order(fig, 2.4)
    assert plain == ["x", "conv + BN + ReLU", "conv + BN", "ReLU", "H(x)"]
    assert residual == ["x", "conv + BN + ReLU", "conv + BN", "⊕", "ReLU", "ReLU(F(x) + x)"]
    assert residual.index("ReLU") == residual.index("⊕") + 1
    shortcut = [tr for tr in fig.data if tr.line.dash == "dot"][0]  # it joins the main path at ⊕
    assert shortcut.y[-1] == next(a.y for a in fig.layout.annotations if a.text == "⊕")


# --- issue 21: the papers' evidence, and intervals on every comparison --------------------------


def links_of(at) -> str:
    """The page's link labels, page links or (a page run on its own) markdown links."""
    return "\n".join([link.proto.label for link in at.get("page_link")] + [m.value for m in at.markdown])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_papers_evidence_is_on_the_page_with_its_sources(lang):
    """He et al. 2015: Sec. 4.1 (not vanishing gradients), Table 2 beside Table 6 and ResNet-1202 (Sec. 4.2), Table 3's
    shortcut options: each sentence cites its paper and place, and its figures are resnet/papers.py's, drawn too."""
    t = Translator(lang)
    at = open_page("app.py", lang=lang)
    text, captions = text_of(at), "\n".join(c.value for c in at.caption)
    cite = CITATIONS[HE_2015][lang]
    place = {"en": ("Sec. 4.1", "Table 2", "Table 3", "Sec. 4.2"), "zh": ("第 4.1 节", "表 2", "表 3", "第 4.2 节")}[lang]
    assert t("why.not_vanishing") in text and place[0] in t("why.not_vanishing") and cite in t("why.not_vanishing")
    for key, where in (("why.evidence_imagenet", place[1]), ("why.evidence_options", place[2]),
                       ("why.evidence_depth_limit", place[3])):
        sentence = t(key, **papers.quoted(key))
        assert sentence in text and cite in sentence and where in sentence, key
        for name in papers.QUOTED[key].values():
            assert f"**{papers.printed(name)}%**" in sentence or f"{papers.printed(name)} M" in sentence, (key, name)
    assert {"27.94", "28.54", "27.88", "25.03", "24.52", "24.19", "7.93", "6.43"} <= set(re.findall(r"\d+\.\d+", text))
    for key in ("why.ev_depth_summary", "why.ev_options_summary"):  # the bar charts' captions
        assert t(key, **papers.quoted(key)) in captions
    drawn = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    bars = {tuple(tr["text"]) for fig in drawn for tr in fig["data"] if tr["type"] == "bar"}
    assert {("27.94", "28.54"), ("27.88", "25.03"), ("8.75", "6.97", "6.43", "7.93"), ("28.54", "25.03", "24.52", "24.19")} <= bars


def test_beside_the_backward_chart_the_plain_nets_gradient_is_measured_not_vanishing(no_task_processes):
    """He et al. 2015, Sec. 4.1 says the plain nets' gradients keep healthy norms: the sentence under the backward
    chart quotes this measurement's plain-20 factor (last block back to the first), phrased by it."""
    at = measured(open_page("app.py", lang="en"), no_task_processes)
    plain = measure_at_init(20, "none", 1.0)
    factor = plain[0].grad_rms / plain[-1].grad_rms
    assert factor > 1  # it grows going back: the phrasing that says so
    shown = f"{factor:,.0f}" if factor >= 10 else f"{factor:.2g}"
    assert catalog("en")["why.not_vanishing_measured.grows"].format(depth=20, factor=shown) in text_of(at)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_deletion_links_carry_their_paired_intervals(lang):
    """The Why page's two links into Feature maps: the deletion the study finds within noise says so, with its ± x pp;
    the costliest shows its paired 95 % interval, which excludes 0 (exact McNemar on the same 359 images)."""
    t = Translator(lang)
    study = stored_lesions.stored_lesion_studies()["resnet56_digits16"]
    verdicts = {v.block.name: v for v in study.verdicts()}
    quiet, worst = verdicts[study.harmless().name].delta, verdicts[study.worst.name].delta
    assert not quiet.excludes_zero and worst.excludes_zero
    labels = links_of(open_page("app.py", lang=lang))
    within = t("why.link_ablation", block=study.harmless().name, label=study.label, delta=100 * quiet.value,
               half=100 * quiet.half_width)
    assert within in labels and ("within noise (±" in within or "在噪声范围内（±" in within)
    assert t("why.link_ablation_worst", block=study.worst.name, label=study.label, delta=100 * worst.value,
             low=100 * worst.low, high=100 * worst.high) in labels


def test_q3_weighs_the_courses_answer_against_the_papers_reason(why_en):
    """He et al. 2015, Sec. 4.1: the bottleneck is for cost, and a projection between its 256-channel ends would
    double time and size; counted on the block the section compares: 65,536 more weights on 69,632, ×1.94."""
    bott = cost.bottleneck_vs_basic(64, 56, 1)[0]
    projection = bott["channels"][0] * bott["channels"][2]
    assert (projection, bott["weights"]) == (65_536, 69_632)
    text = text_of(why_en)
    assert "compress sparse features" in text and "sparsity is not the paper's argument" in text
    assert f"holds {projection:,} weights beside the bottleneck's {bott['weights']:,}, ×1.94" in text
