"""AppTest of the Training lab page, and the figure helpers it draws with (resnet.plots.curves).

Every test gets its own empty store (conftest's ``RESNET_LAB_HOME``). Only
``test_tiny_live_run…`` starts worker processes; every wait there is a poll on the store
with a deadline, and the pool is shut down afterwards.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from pages.common.ui import safe_reason
from tests.helpers import open_page, paddle_modules_after, poll, query_param, started_pools
from resnet import stats
from resnet.i18n import Translator
from resnet.lab import claims, pools, session, tasks
from resnet.lab.config import StepMetrics, config_key, unpack_correct
from resnet.plots import curves
from resnet.lab.presets import PRESETS
from resnet.lab.queued import Submitted
from resnet.lab.store import Artifact, RunStore
from resnet.papers import printed

TINY = dict(depth="20", width="4", batch="16", steps="6", eval="3", warmup="0", seed="11")
DEADLINE_S = 90


def open_lab(**params: str) -> AppTest:
    return open_page("pages/lab.py", timeout=120, **{"lang": "en", **params})


def figure(at: AppTest, title: str) -> dict:
    """The Plotly spec of the chart with this title."""
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if spec["layout"].get("title", {}).get("text") == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def progress_bars(at: AppTest, *, measuring: bool) -> list[str]:
    """The page's progress bars: the diagnostics' (task processes measuring) or else the runs'."""
    return [p.proto.text for p in at.get("progress") if p.proto.text.startswith("Measuring every block") == measuring]


def measured(at: AppTest) -> AppTest:
    """Run the page again once the task processes have stored every diagnostic it started."""
    def computing() -> int:
        with sqlite3.connect(RunStore().address) as con:
            return con.execute("SELECT COUNT(*) FROM artifacts WHERE status = 'running'").fetchone()[0]

    poll(lambda: not computing(), "the diagnostics to be measured", timeout=300)
    at.run()
    assert not at.exception and not progress_bars(at, measuring=True)
    return at


def legend(spec: dict) -> dict[str, int]:
    """Legend name → number of points, for the traces that show in the legend."""
    return {d["name"]: len(d["x"]) for d in spec["data"] if d.get("showlegend", True) and "name" in d}


# ---------------------------------------------------------------------------------
# Presets and reference curves
# ---------------------------------------------------------------------------------


def test_presets_show_reference_curves_at_once():
    at = open_lab()
    store = RunStore()
    refs = store.list_runs(source="reference")
    # every seed, imported on the first load; a configuration two presets share (ResNet-20 A) once
    assert len(refs) == len({config_key(c) for p in PRESETS.values() for c in p.reference_configs})
    degradation = legend(figure(at, "Training loss"))
    assert degradation == {f"{label} · digits · reference · median of 5 seeds": 120
                           for label in ("plain-20", "plain-56", "ResNet-20 A", "ResNet-56 A")}
    assert legend(figure(at, "Test accuracy"))["plain-56 · digits · reference · median of 5 seeds"] == 6  # evaluated every 20 steps
    # one pick per variant (its seed-0 run stands for its five seeds), drawn as a median on a min–max band
    shown = {config_key(c) for c in PRESETS["degradation"].configs}
    assert at.multiselect(key="lab.runs").value == [r.id for r in refs if config_key(r.config) in shown]
    assert len(at.multiselect(key="lab.runs").options) == len({config_key(c) for p in PRESETS.values() for c in p.configs})

    at.radio(key="lab.preset").set_value("why_not_2x").run()
    spec = figure(at, "Training loss")
    names = legend(spec)
    lam2 = [r for r in refs if r.label == "ResNet-56 A λ=2"]
    stuck, diverged = sum(r.stuck_at_chance for r in lam2), sum(r.status == "diverged" for r in lam2)
    assert stuck and diverged and stuck + diverged == 5
    assert (f"ResNet-56 A λ=2 · digits · reference · median of 5 seeds ⚠ stuck at chance in {stuck} of 5 seeds"
            f" ⚠ diverged in {diverged} of 5 seeds") in names
    assert "ResNet-56 A λ=0.5 · digits · reference · median of 5 seeds" in names
    assert all(n == 200 for n in names.values())
    notes = [a["text"] for a in spec["layout"]["annotations"]]
    # the λ = 2 failure at a glance: where it blew up (loss 58–64, capped: see presets.LAMBDA_BASE) and where it settled
    # (the numbers are the first stuck seed's run: its peak, and the step after its last loss ≥ 3·ln 10)
    exploded = next(r for r in sorted(lam2, key=lambda r: r.config["seed"]) if r.stuck_at_chance)
    losses = store.metrics(exploded.id)["train_loss"]
    peak = max(losses)
    settled = curves.stuck_from(losses, math.log(10)) + 1
    assert peak > 20 * math.log(10) and 10 < settled < 150
    assert (f"▲ blew up to loss {peak:.0f} (step {losses.index(peak) + 1}),<br>"
            f"○ back at chance level from step {settled}, and stuck there") in notes
    assert notes.count("chance level ln 10 = 2.30 (digits)") == 1
    marks = [d for d in spec["data"] if d.get("mode") == "markers" and d.get("marker", {}).get("color") == curves.DIVERGED_COLOR]
    assert len(marks) == 1 and marks[0]["marker"]["symbol"] == ["triangle-up", "circle-open"]
    assert spec["layout"]["yaxis"]["type"] == "log"  # the preset opens on a log loss axis: 64 and 0.009 both show
    table = at.dataframe[0].value
    assert len(table) == 4  # one row per variant
    flagged = table[table["flags"].str.contains("stuck at chance")]
    assert list(flagged["run"].str.replace(r"^#\d+ ", "", regex=True)) == ["ResNet-56 A λ=2 · digits"]
    assert query_param(at, "preset") == "why_not_2x" and query_param(at, "runs") == ",".join(str(i) for i in at.multiselect(key="lab.runs").value)
    assert not RunStore().list_runs(source="live")  # looking trains nothing


def test_reference_curves_in_chinese():
    at = open_lab(lang="zh", preset="resnet50_shortcut")
    spec = figure(at, "训练损失")
    assert legend(spec) == {"ResNet-50 w8 · 手写数字 · 参考 · 5 种子中位数": 200, "plain-50 w8 · 手写数字 · 参考 · 5 种子中位数": 200}
    assert [d["name"] for d in spec["data"] if d.get("fill") == "tonexty"] == [Translator("zh")("seeds.high", n=5)] * 2  # one band each
    assert at.title[0].value.startswith("训练实验室")
    table = at.dataframe[0].value
    assert list(table["随机种子"]) == ["0, 1, 2, 3, 4"] * 2
    assert all(re.fullmatch(r"\d+\.\d% \[\d+\.\d, \d+\.\d\]", v) for v in table["测试准确率 [95% 区间]"])
    assert any("Wilson" in c.value and "n = 359" in c.value for c in at.caption)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("key", ["shortcut_variants", "activation_order"])
def test_a_paper_preset_is_drawn_with_the_papers_numbers_beside_ours(key, lang):
    """He et al. 2016 (Identity Mappings)' Table 1 or 2: every variant's curves over its seeds, and a table with the
    paper's test error for it beside our median final test error, its verdict in the question above."""
    t = Translator(lang)
    at = open_lab(lang=lang, preset=key)
    assert not at.exception
    labels = [c.label for c in PRESETS[key].configs]
    reference = {"en": "digits · reference · median of 5 seeds", "zh": "手写数字 · 参考 · 5 种子中位数"}[lang]
    assert legend(figure(at, t("lab.train_loss"))) == {f"{label} · {reference}": 120 for label in labels}
    table = at.table[0].value
    assert list(table[t("lab.paper_table.variant")]) == labels
    assert list(table[t("lab.paper_table.paper")]) == [
        t("lab.paper_fail") if printed(name) == "fail" else printed(name) for name in PRESETS[key].paper]
    assert list(table[t("lab.paper_table.ours")]) == [row["ours"] for row in claims.paper_table_rows(t, key)]
    question = t(f"lab.preset.{key}.question", **claims.question_values(key, t))
    assert any(m.value == question for m in at.markdown) and claims.paper_rows(key)[1].label in question
    assert any(c.value.startswith(t(f"lab.preset.{key}.paper_caption", fail=printed("he2016.fail_above"))[:20]) for c in at.caption)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_table_shows_each_accuracy_with_its_wilson_interval(lang):
    """The median seed's final test accuracy, with its 95 % Wilson interval computed from the images it got right."""
    at = open_lab(lang=lang)
    t = Translator(lang)
    store = RunStore()
    table = at.dataframe[0].value
    for (_, row), head in zip(table.iterrows(), [store.get_run(i) for i in at.multiselect(key="lab.runs").value]):
        runs = [r for r in store.list_runs(source="reference") if r.label == head.label and r.config["steps"] == head.steps]
        middle = curves.median_run(runs)
        right = unpack_correct(middle.result["final_test_correct"], middle.result["test_images"])
        value, low, high = stats.wilson(sum(right), len(right))
        assert row[t("lab.col.test_acc_ci")] == f"{value:.1%} [{low * 100:.1f}, {high * 100:.1f}]"
        assert low < middle.result["final_test_acc"] < high
        accs = sorted(r.result["final_test_acc"] for r in runs)
        assert row[t("lab.col.test_acc_seeds")] == f"{accs[2]:.1%} ({accs[0]:.1%}–{accs[-1]:.1%})"


@pytest.mark.task_processes
def test_diagnostics_at_initialisation_for_each_configuration():
    at = measured(open_lab())
    specs = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    seeds = " · median of 5 seeds"  # every seed of a reference variant is measured: its median on a min–max band
    per_block = [s for s in specs if any(d["name"].endswith("· init" + seeds) for d in s["data"])]
    assert len(per_block) == 2  # activation and gradient RMS per block
    forward = {d["name"]: d for d in per_block[0]["data"] if d.get("showlegend", True)}
    assert len(forward["ResNet-56 A · digits · init" + seeds]["x"]) == 27 and len(forward["ResNet-20 A · digits · init" + seeds]["x"]) == 9
    assert all(v > 0 for v in forward["plain-56 · digits · init" + seeds]["y"])
    assert sum(d.get("fill") == "tonexty" for d in per_block[0]["data"]) == 4  # a band per variant
    assert any("needs trained weights" in i.value for i in at.info)  # Fig. 7: the references ship without weights


# ---------------------------------------------------------------------------------
# Bad input: a clear message, nothing queued
# ---------------------------------------------------------------------------------


def test_bad_settings_give_a_message_and_queue_nothing(isolated_home):
    at = open_lab(**TINY)
    at.number_input(key="lab.steps").set_value(0)
    at.number_input(key="lab.batch").set_value(1)
    at.number_input(key="lab.lr").set_value(50.0)
    at.button(key="train").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "Nothing was queued" in message
    assert "Steps must be between 1 and 20000 (got 0)" in message
    assert "Batch size must be between 2 and 1024 (got 1)" in message
    assert "Learning rate must be between 1e-06 and 10 (got 50)" in message
    assert not RunStore().list_runs(source="live")
    assert not started_pools()  # no worker was even started


def test_bad_settings_are_explained_in_chinese():
    at = open_lab(lang="zh", **TINY)
    at.number_input(key="lab.eval").set_value(60)
    at.button(key="train").click().run()
    message = " ".join(e.value for e in at.error)
    assert "没有加入队列" in message and "必须在 1 到步数（6）之间（当前为 60）" in message
    assert not RunStore().list_runs(source="live")


def test_out_of_range_url_values_fall_back_with_notices():
    at = open_lab(steps="0", lam="inf", width="999", runs="999", smooth="2", x="sideways", logy="maybe", preset="nope",
                  down="zero")
    warnings = " ".join(w.value for w in at.warning)
    for bad in ("steps=0", "lam=inf", "width=999", "runs=999", "smooth=2", "x=sideways", "logy=maybe", "preset=nope", "down=zero"):
        assert bad in warnings, bad
    assert at.radio(key="lab.down").value == "pad"
    assert at.number_input(key="lab.steps").value == 120 and at.number_input(key="lab.width").value == 16
    assert at.radio(key="lab.preset").value == "degradation" and len(at.multiselect(key="lab.runs").value) == 4
    assert not RunStore().list_runs(source="live")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_variant_from_the_link_fills_the_form_and_an_illegal_one_is_refused(lang, isolated_home):
    """``unit`` and ``rho`` in the URL are checked by the config's own rules, as every other setting; a unit for a
    plain net gets the model's coded refusal, translated, and nothing is queued."""
    t = Translator(lang)
    at = open_lab(lang=lang, unit="full_preact", rho="0.5", shortcut="exclusive_gate", **TINY)
    assert at.selectbox(key="lab.unit").value == "full_preact" and at.number_input(key="lab.rho").value == 0.5
    assert at.radio(key="lab.shortcut").value == "exclusive_gate"
    # one name per variant: the URL's value, the run label's, first in the form, the paper's name and figure as gloss
    assert at.selectbox(key="lab.unit").format_func("relu_preact") == f"relu_preact · {t('variant.unit.relu_preact')}"
    assert at.radio(key="lab.shortcut").format_func("conv1x1") == f"conv1x1 · {t('variant.shortcut.conv1x1')}"
    at.radio(key="lab.shortcut").set_value("none").run()
    at.button(key="train").click().run()
    message = " ".join(e.value for e in at.error)
    # the values as the page shows any value a visitor can send: escaped, so full_preact's "_" stays a character
    assert t("lab.bad.plain_unit", unit=safe_reason("full_preact"), shortcut="none", field=t("lab.field.unit")) in message
    assert not RunStore().list_runs(source="live") and not started_pools()
    bad = open_lab(lang=lang, unit="post", rho="9")
    warnings = " ".join(w.value for w in bad.warning)
    assert "unit=post" in warnings and "rho=9" in warnings
    assert bad.selectbox(key="lab.unit").value == "original" and bad.number_input(key="lab.rho").value == 1.0


# ---------------------------------------------------------------------------------
# A live run, from the button to the curve
# ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.task_processes
def test_tiny_live_run_appears_in_store_and_its_curve_shows(isolated_home):
    at = open_lab(**TINY)
    at.button(key="train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    store = RunStore()
    (run,) = store.list_runs(source="live")
    assert run.label == "ResNet-20 A w4" and run.config["steps"] == 6 and run.config["seed"] == 11
    assert any(f"Queued as run #{run.id}" in s.value for s in at.toast)
    assert at.multiselect(key="lab.runs").value[-1] == run.id

    done = poll(lambda: (r := store.get_run(run.id)).status == "done" and r, f"run {run.id} to finish", timeout=DEADLINE_S)
    at.run()
    measured(at)
    name = f"ResNet-20 A w4 · digits · live #{run.id}"
    assert legend(figure(at, "Training loss"))[name] == 6
    assert legend(figure(at, "Test accuracy"))[name] == 2  # evaluated at steps 3 and 6
    assert query_param(at, "runs").endswith(str(run.id))
    # its final weights were saved (for the Feature maps page) and are measured after training
    weights = Path(done.result["weights"])
    assert weights.is_file() and weights.parent == isolated_home / "trained"
    traces = [d["name"] for e in at.get("plotly_chart") for d in json.loads(e.proto.spec)["data"]]
    assert f"ResNet-20 A w4 · digits #{run.id} · trained" in traces and f"ResNet-20 A w4 · digits #{run.id}" in traces  # Fig. 7 too
    means = [c.value for c in at.caption if c.value.startswith("Mean std over the 3×3 layers, smallest first:")]
    assert len(means) == 1 and f"#{run.id} ResNet-20 A w4 · digits " in means[0]

    # the same settings again: the same run, not a second one
    at.button(key="train").click().run()
    assert any(f"Run #{run.id}" in i.value and "already (done)" in i.value for i in at.toast)  # truthfully: not "Queued"
    assert not any("Queued as run" in s.value for s in at.toast)
    assert [r.id for r in store.list_runs(source="live")] == [run.id]


def test_queue_progress_and_cancel():
    at = open_lab(**{**TINY, "steps": "20000", "eval": "5000", "seed": "12"})
    at.button(key="train").click().run()
    store = RunStore()
    (run,) = store.list_runs(source="live")
    poll(lambda: store.get_run(run.id).steps_done >= 1, "the run to start training", timeout=DEADLINE_S)
    at.run()
    bars = progress_bars(at, measuring=False)
    assert any(f"#{run.id} ResNet-20 A w4: step" in b and "/20000" in b and "left" in b for b in bars), bars
    at.button(key=f"cancel_{run.id}").click().run()
    poll(lambda: store.get_run(run.id).status == "cancelled", "the run to be cancelled", timeout=DEADLINE_S)
    at.run()
    assert not progress_bars(at, measuring=False)
    table = at.dataframe[0].value
    assert "cancelled" in table.loc[table["run"] == f"#{run.id} ResNet-20 A w4 · digits", "status"].item()


class QueueOnlyPool:
    """Stands in for ``resnet.lab.pools.pool_for``: queues in the real store, trains nothing."""

    def __init__(self, path=None) -> None:
        self.store = RunStore(path)

    def submit(self, config, owner=None) -> Submitted:
        return Submitted(*self.store.enqueue(config, owner))

    def submit_many(self, configs, owner=None) -> list[Submitted]:
        return [self.submit(c, owner) for c in configs]


def test_custom_run_says_and_picks_the_stage_start_shortcut(monkeypatch):
    """Option A (zero-pad, the paper's CIFAR nets) by default; option B (projection) on request, and the label says which."""
    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)
    at = open_lab(**TINY)
    choice = at.radio(key="lab.down")
    assert choice.value == "pad" and choice.options == ["option A (zero-pad)", "option B (projection)"]
    choice.set_value("conv").run()
    at.button(key="train").click().run()
    (run,) = RunStore().list_runs(source="live")
    assert run.label == "ResNet-20 B w4" and run.config["downsample"] == "conv"
    assert query_param(at, "down") == "conv"
    at.radio(key="lab.shortcut").set_value("none").run()
    assert at.radio(key="lab.down").disabled  # a plain net has no shortcut at all


@pytest.mark.parametrize(("lang", "queued"), [("en", "Queued 3 runs of ResNet-20 A w4, seeds 11 to 13"),
                                               ("zh", "已将 ResNet-20 A w4 的 3 个训练任务加入队列，种子 11 到 13")])
def test_the_form_trains_one_to_five_seeds_and_draws_them_as_one_band(monkeypatch, lang, queued):
    """Seeds = 3 queues the runs at seeds 11, 12, 13 (bounded: 1 to 5); they are one pick, drawn as a band."""
    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)
    at = open_lab(lang=lang, smooth="0", **TINY)
    seeds = at.number_input(key="lab.seeds")
    assert (seeds.value, seeds.min, seeds.max) == (1, 1, session.MAX_SEEDS) == (1, 1, 5)
    assert seeds.label == Translator(lang)("lab.field.seeds")
    seeds.set_value(3).run()
    at.button(key="train").click().run()
    assert not at.exception
    runs = RunStore().list_runs(source="live")
    assert [r.config["seed"] for r in runs] == [11, 12, 13] and {r.label for r in runs} == {"ResNet-20 A w4"}
    assert any(queued in m.value for m in at.toast)
    assert runs[0].id in at.multiselect(key="lab.runs").value and runs[1].id not in at.multiselect(key="lab.runs").value
    assert query_param(at, "seeds") == "3"
    store = RunStore()
    for run, losses in zip(runs, ([2.3, 2.0, 1.0], [2.3, 1.5, 0.5], [2.3, 2.5, 1.5])):  # as if trained
        store.claim_next(os.getpid())
        store.add_metrics(run.id, [StepMetrics(i + 1, 0.1 * (i + 1), v) for i, v in enumerate(losses)])
    at.run()
    spec = figure(at, Translator(lang)("lab.train_loss"))
    band = [d for d in spec["data"] if d.get("legendgroup") == f"run{runs[0].id}"]
    low, high, median = band[:3]
    assert high["fill"] == "tonexty" and median["name"].endswith(Translator(lang)("lab.seeds_band", n=3))
    assert (low["y"], high["y"], median["y"]) == ([2.3, 1.5, 0.5], [2.3, 2.5, 1.5], [2.3, 2.0, 1.0])
    table = at.dataframe[0].value
    assert len(table[table[Translator(lang)("lab.col.seeds")] == "11, 12, 13"]) == 1


@pytest.mark.parametrize("seeds", ["0", "6", "two", "1e9"])
def test_a_seed_count_outside_one_to_five_in_the_url_falls_back_with_a_notice(seeds):
    at = open_lab(seeds=seeds)
    assert any(f"seeds={seeds}" in w.value for w in at.warning)
    assert at.number_input(key="lab.seeds").value == 1


def test_a_run_of_another_seed_in_a_link_stands_for_its_variant():
    at = open_lab()
    store = RunStore()
    seed3 = next(r for r in store.list_runs(source="reference") if r.label == "plain-56" and r.config["seed"] == 3)
    head = next(r for r in store.list_runs(source="reference") if r.label == "plain-56" and r.config["seed"] == 0)
    at = open_lab(runs=str(seed3.id))
    assert at.multiselect(key="lab.runs").value == [head.id] and not at.warning


def test_rerun_live_queue_positions_and_cancel_while_queued(monkeypatch):
    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)
    at = open_lab(preset="resnet50_shortcut")
    at.button(key="rerun_live").click().run()
    store = RunStore()
    first, second = store.list_runs(source="live")
    assert {first.label, second.label} == {"ResNet-50 w8", "plain-50 w8"}
    assert any(f"Started 2 new run(s): #{min(first.id, second.id)}, #{max(first.id, second.id)}." in s.value for s in at.toast)
    assert at.multiselect(key="lab.runs").value[-2:] == [first.id, second.id]
    bars = progress_bars(at, measuring=False)
    assert bars == [f"#{first.id} {first.label}: queued, position 1", f"#{second.id} {second.label}: queued, position 2"]

    at.button(key="rerun_live").click().run()  # a second press (or a second tab) trains nothing new
    assert any("These runs already exist" in s.value for s in at.toast)
    assert len(store.list_runs(source="live")) == 2

    at.button(key=f"cancel_{first.id}").click().run()
    assert store.get_run(first.id).status == "cancelled"
    assert progress_bars(at, measuring=False) == [f"#{second.id} {second.label}: queued, position 1"]


def test_diverged_run_is_flagged_on_chart_and_in_run_list():
    from resnet.lab.config import StepMetrics, TrainConfig, TrainResult

    store = RunStore()
    run_id, _ = store.enqueue(TrainConfig(depth=20, width=4, shortcut="scaled", scale=3.0, steps=10, eval_every=5))
    store.claim_next(worker_pid=os.getpid())
    store.add_metrics(run_id, [StepMetrics(1, 0.1, 2.4), StepMetrics(2, 0.2, 80.0), StepMetrics(3, 0.3, float("nan"))])
    store.finish_run(run_id, TrainResult("diverged", 3, 0.3, 100.0, float("nan"), None, None, False, diverged_step=3))
    at = open_lab(runs=str(run_id))
    spec = figure(at, "Training loss")
    name = f"ResNet-20 A λ=3 w4 · digits · live #{run_id} ⚠ diverged"
    assert legend(spec)[name] == 3
    marker = [d for d in spec["data"] if d.get("mode") == "markers+text"]
    assert marker[0]["text"] == ["diverged at step 3 (loss NaN/∞)"] and marker[0]["y"] == [80.0]
    row = at.dataframe[0].value.iloc[0]
    assert "diverged" in row["status"] and row["flags"] == "diverged at step 3 (loss NaN/∞)"


def test_bad_data_folder_is_explained_and_queues_nothing(tmp_path, monkeypatch):
    from PIL import Image

    root = tmp_path / "datasets"
    for name in ("a.png", "b.png"):  # a "folder" data set with a single class
        (root / "one_class" / "cats").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 12), "white").save(root / "one_class" / "cats" / name)
    monkeypatch.setenv("RESNET_LAB_DATA_DIR", str(root))
    at = open_lab(**TINY, dataset="folder", folder="one_class")
    assert not at.warning, [w.value for w in at.warning]
    at.button(key="train").click().run()
    message = " ".join(e.value for e in at.error)
    assert "The data folder cannot be used" in message and "needs at least two classes" in message
    assert not RunStore().list_runs(source="live")


def image_folder(root: Path, name: str, classes: tuple[str, ...], per_class: int = 5) -> Path:
    """A tiny "folder" data set: ``per_class`` 8×8 images in one subfolder per class (each class its own shade)."""
    from PIL import Image

    for i, label in enumerate(classes):
        (root / name / label).mkdir(parents=True, exist_ok=True)
        for j in range(per_class):
            Image.new("RGB", (8, 8), (40 * i + j, 90, 200 - 40 * i)).save(root / name / label / f"{j}.png")
    return root / name


def finished_run(store: RunStore, config, losses: list[float]) -> int:
    """A done run of ``config`` with these training losses (one per step), trained by nobody."""
    from resnet.lab.config import StepMetrics, TrainResult

    run_id = store.create_run(config, status="running", source="cli")
    store.add_metrics(run_id, [StepMetrics(i + 1, 0.1 * (i + 1), v) for i, v in enumerate(losses)])
    store.finish_run(run_id, TrainResult("done", len(losses), 0.1 * len(losses), 100.0, losses[-1], None, None, False))
    return run_id


def test_runs_name_their_data_set_and_each_data_set_has_its_chance_line(tmp_path, monkeypatch):
    """A two-class folder run is not drawn under "ln 10": digits get ln 10 = 2.30, the folder ln 2 = 0.69."""
    from resnet.lab.config import TrainConfig

    root = tmp_path / "datasets"
    folder = image_folder(root, "cats_dogs", ("cats", "dogs"))
    monkeypatch.setenv("RESNET_LAB_DATA_DIR", str(root))
    store = RunStore()
    digits = finished_run(store, TrainConfig(depth=20, width=4, steps=3, eval_every=3), [2.4, 2.0, 1.5])
    pets = finished_run(store, TrainConfig(depth=20, width=4, steps=3, eval_every=3, dataset="folder", data_dir=str(folder)), [0.7, 0.6, 0.5])
    at = open_lab(runs=f"{digits},{pets}")
    spec = figure(at, "Training loss")
    assert set(legend(spec)) == {f"ResNet-20 A w4 · digits · live #{digits}", f"ResNet-20 A w4 · cats_dogs · live #{pets}"}
    chance = {a["text"]: a["y"] for a in spec["layout"]["annotations"] if a["text"].startswith("chance level")}
    assert chance == pytest.approx({"chance level ln 10 = 2.30 (digits)": math.log10(math.log(10)),  # log axis: log10(y)
                                    "chance level ln 2 = 0.69 (cats_dogs)": math.log10(math.log(2))})
    assert set(at.dataframe[0].value["run"]) == {f"#{digits} ResNet-20 A w4 · digits", f"#{pets} ResNet-20 A w4 · cats_dogs"}
    assert [o for o in at.multiselect(key="lab.runs").options if "cats_dogs" in o] == [f"#{pets} ResNet-20 A w4 · cats_dogs (command line)"]


def test_the_custom_form_stays_open_when_the_data_set_changes(tmp_path, monkeypatch):
    image_folder(tmp_path / "datasets", "cats_dogs", ("cats", "dogs"))
    monkeypatch.setenv("RESNET_LAB_DATA_DIR", str(tmp_path / "datasets"))
    at = open_lab()
    assert not at.expander[0].proto.expanded  # a plain link opens on the presets, the form closed
    at.session_state["lab_custom_open"] = True  # the visitor opens it
    at.run()
    at.selectbox(key="lab.dataset").set_value("folder").run()
    assert at.expander[0].proto.expanded and at.session_state["lab_custom_open"]
    assert at.number_input(key="lab.size").value == 32  # the new data set's image size, in the form still open
    at.selectbox(key="lab.dataset").set_value("digits").run()  # back to the defaults: the link has no form settings now
    assert at.expander[0].proto.expanded


def test_a_custom_run_opens_the_form_from_its_link():
    assert open_lab(depth="56").expander[0].proto.expanded


def test_lambda_above_one_says_where_it_fails_and_sets_that_up():
    at = open_lab(shortcut="scaled", lam="2", depth="20", down="conv")
    note = " ".join(i.value for i in at.info)
    assert Translator("en")("lab.lambda_big.conv") in note  # no shipped run has option B with λ > 1: nothing claimed
    at.button(key="lab_blow_up").click().run()
    assert at.selectbox(key="lab.depth").value == 56 and at.radio(key="lab.down").value == "pad"
    t = Translator("en")  # option A: what the shipped λ = 2 runs measured (resnet.lab.claims)
    assert t("lab.lambda_big.pad", **claims.lambda_big_values(t)) in " ".join(i.value for i in at.info)
    assert not [b for b in at.button if b.key == "lab_blow_up"]  # already the failing setup
    at.number_input(key="lab.lam").set_value(1.0).run()
    assert not any("λ > 1" in i.value for i in at.info)


def test_past_twelve_runs_the_oldest_picks_leave_the_chart_and_the_page_says_so(monkeypatch):
    from resnet.lab.config import TrainConfig

    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)
    store = RunStore()
    # twelve variants (seeds of one variant would be one pick)
    ids = [finished_run(store, TrainConfig(depth=20, width=4, steps=2, eval_every=2, lr=0.01 * (k + 1)), [2.3, 2.2]) for k in range(12)]
    at = open_lab(runs=",".join(map(str, ids)), **TINY)
    assert at.multiselect(key="lab.runs").value == ids and "up to 12" in at.multiselect(key="lab.runs").label
    at.button(key="train").click().run()  # a 13th run
    (new,) = store.list_runs(source="live")
    assert at.multiselect(key="lab.runs").value == [*ids[1:], new.id]
    assert len(legend(figure(at, "Training loss"))) == 12
    assert any(f"at most 12 runs, so the oldest picks left it: #{ids[0]}." in m.value for m in at.toast)


# ---------------------------------------------------------------------------------
# URL round trip, and a store that cannot be written
# ---------------------------------------------------------------------------------


def test_url_round_trip():
    at = open_lab()
    at.radio(key="lab.preset").set_value("why_not_2x").run()
    chosen = at.multiselect(key="lab.runs").value[:2]
    at.multiselect(key="lab.runs").set_value(chosen).run()
    at.slider(key="lab.smooth").set_value(0.3).run()
    at.radio(key="lab.x").set_value("wall").run()
    at.toggle(key="lab.logy").set_value(False).run()
    at.number_input(key="lab.steps").set_value(300).run()
    at.radio(key="lab.shortcut").set_value("scaled").run()
    at.pills(key="lab_lam_pick").set_value(0.5).run()  # a λ preset fills the λ field
    assert at.number_input(key="lab.lam").value == 0.5
    params = {name: query_param(at, name) for name in ("preset", "runs", "smooth", "x", "logy", "steps", "shortcut", "lam")}
    assert params == {"preset": "why_not_2x", "runs": f"{chosen[0]},{chosen[1]}", "smooth": "0.3", "x": "wall",
                      "logy": "0", "steps": "300", "shortcut": "scaled", "lam": "0.5"}
    assert "width" not in at.query_params  # defaults stay out of the link

    shared = open_lab(**params)
    assert not shared.warning, [w.value for w in shared.warning]
    assert shared.radio(key="lab.preset").value == "why_not_2x" and shared.multiselect(key="lab.runs").value == chosen
    assert shared.slider(key="lab.smooth").value == 0.3 and shared.radio(key="lab.x").value == "wall"
    assert shared.toggle(key="lab.logy").value is False
    assert shared.number_input(key="lab.steps").value == 300 and shared.radio(key="lab.shortcut").value == "scaled"
    assert shared.number_input(key="lab.lam").value == 0.5 and shared.pills(key="lab_lam_pick").value == 0.5
    spec = figure(shared, "Training loss")
    assert spec["layout"]["xaxis"]["title"]["text"] == "wall time (s)" and spec["layout"]["yaxis"].get("type") != "log"


def test_unwritable_store_is_reported_and_curves_still_show(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("RESNET_LAB_HOME", str(blocker / "home"))
    at = open_lab(**TINY)
    assert any("run store cannot be written" in e.value for e in at.error)
    assert len(legend(figure(at, "Training loss"))) == 4  # from a private, temporary copy
    assert at.button(key="train").disabled and at.button(key="rerun_live").disabled  # nothing can be queued
    at.slider(key="lab.smooth").set_value(0.0).run()  # the view still works
    assert not at.exception and not progress_bars(at, measuring=False)


def test_the_lab_is_opened_once_per_process(monkeypatch):
    """Every page run used to open the store again (a schema transaction, the reference import)."""
    imported = []
    real = session.import_reference_runs
    monkeypatch.setattr(session, "import_reference_runs", lambda store: imported.append(store.address) or real(store))
    at = open_lab()
    at.radio(key="lab.preset").set_value("why_not_2x").run()
    open_lab(preset="resnet50_shortcut")  # another session of the same server
    assert imported == [RunStore().address]


def test_the_lab_page_loads_no_paddle():
    """The page builds no model, so a server that shows only the lab never imports Paddle (a fresh
    interpreter runs the page; the task processes it would start are not started)."""
    setup = ("from resnet.lab import tasks\n"
             "tasks._dispatcher = lambda: type('Line', (), {'submit': lambda self, task: None})()\n")
    checks = "assert at.get('plotly_chart'), 'the page drew no chart'\n"
    assert paddle_modules_after("pages/lab.py", {"lang": "en"}, checks, setup, timeout=120) == []


def test_damaged_reference_file_is_reported_not_fatal(tmp_path, monkeypatch):
    from resnet.lab import presets as reference

    (tmp_path / "degradation.json").write_text('{"preset": "degradation", "runs": [')  # cut short
    monkeypatch.setattr(reference, "REFERENCE_DIR", tmp_path)
    at = open_lab()
    assert any("reference runs could not be read" in w.value for w in at.warning)
    assert any("No runs selected" in i.value for i in at.info)


# ---------------------------------------------------------------------------------
# resnet.plots.curves
# ---------------------------------------------------------------------------------


def test_ema_smoothing():
    assert curves.ema([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    smoothed = curves.ema([2.0, 2.0, None, 2.0, float("nan")], 0.9)
    assert smoothed[:2] == pytest.approx([2.0, 2.0]) and smoothed[2] is None and smoothed[4] is None  # debiased, gaps kept
    noisy = curves.ema([0.0, 10.0] * 50, 0.9)
    assert 3 < noisy[-1] < 7 and max(noisy[50:]) - min(noisy[50:]) < 3
    with pytest.raises(ValueError):
        curves.ema([1.0], 1.0)


def test_log_ticks_are_fully_labelled():
    assert curves.log_ticks([1.2, 3.0]) == [1.0, 2.0, 5.0]  # within a decade: 1-2-5
    assert curves.log_ticks([0.1, 63.0]) == [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0]  # a few decades: 1-3
    assert curves.log_ticks([0.004, 2.3]) == [0.001, 0.01, 0.1, 1.0, 10.0]
    assert curves.log_ticks([None, 0.0, -1.0]) == []


def test_diverged_run_is_marked_on_the_chart():
    t = lambda key, **v: key + (json.dumps(v, sort_keys=True) if v else "")  # noqa: E731
    metrics = {"step": [1, 2, 3], "wall_s": [0.1, 0.2, 0.3], "train_loss": [2.0, 40.0, None],
               "test_loss": [None, None, None], "test_acc": [None, None, None]}
    fig = curves.train_loss_figure([curves.Curve(7, "ResNet-56 λ=3 · live #7", "#000", metrics, diverged_step=3)], t,
                                   log_y=True, smoothing=0.5)
    marker = [d for d in fig.data if d.mode == "markers+text"]
    assert len(marker) == 1 and list(marker[0].x) == [3] and list(marker[0].y) == [40.0]
    assert marker[0].text[0] == 'lab.flag_diverged_at{"step": 3}'
    assert all(v is None or math.isfinite(v) for d in fig.data for v in d.y)


@pytest.mark.parametrize("log_y", [False, True])
def test_notes_sit_on_their_curve_on_linear_and_log_axes(log_y):
    t = lambda key, **v: key  # noqa: E731
    losses = [2.3, 60.0] + [2.3] * 18
    metrics = {"step": list(range(1, 21)), "wall_s": [0.1 * i for i in range(1, 21)], "train_loss": losses,
               "test_loss": [None] * 20, "test_acc": [None] * 20}
    fig = curves.train_loss_figure([curves.Curve(1, "λ=2", "#000", metrics, stuck=True, chance=2.3)], t, log_y=log_y,
                                   chance=[(2.3, "lab.chance")])
    notes = {a.text: a for a in fig.layout.annotations}
    expected = math.log10(2.3) if log_y else 2.3  # Plotly puts annotations on a log axis by log10(y)
    stuck = notes["lab.flag_blew_up,<br>lab.flag_stuck_from"]
    assert stuck.x == 3 and stuck.y == pytest.approx(expected)  # where the loss came back to chance and stayed
    assert notes["lab.chance"].y == pytest.approx(expected)
    (marks,) = [d for d in fig.data if d.mode == "markers"]
    assert list(marks.x) == [2, 3] and list(marks.y) == [60.0, 2.3]  # ▲ the blow-up, ○ settled at chance


def test_diagnostics_are_measured_in_task_processes_never_in_the_server(monkeypatch):
    """``lab?runs=…`` used to build every chosen configuration's model in the server (issue 12)."""
    started = []

    def start_task(store_path, run_id, kind, key, target, kwargs, **options):
        started.append((run_id, kind, target))
        return Artifact(run_id, kind, key, "running", 0.4, None, None, 0.0)

    def built_here(*args, **kwargs):
        raise AssertionError("a model was built or run in the server process")

    monkeypatch.setattr(tasks, "start_task", start_task)
    for module, name in (("resnet.lab.train", "build_model"), ("resnet.model.weights", "load_trained"),
                         ("resnet.inference.diagnostics", "measure_signal"), ("resnet.inference.diagnostics", "response_std")):
        monkeypatch.setattr(importlib.import_module(module), name, built_here)
    open_lab()  # imports the reference runs
    ids = [r.id for r in RunStore().list_runs()][:3]
    at = open_lab(runs=",".join(map(str, ids)))
    assert {(r, k, t) for r, k, t in started} >= {(i, "signals_init", "resnet.lab.measure:signals_at_init") for i in ids}
    measuring = [p.proto for p in at.get("progress") if p.proto.text in progress_bars(at, measuring=True)]
    assert len(measuring) == len(ids) and {p.value for p in measuring} == {40}
