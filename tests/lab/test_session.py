"""The lab session: open (with the read-only fallback), submit (run id, created?, problems), data folders, signals.

No training worker starts here: ``pools.pool_for`` is replaced by a pool that only queues; the
diagnostics are measured in task processes (``resnet.lab.tasks``), as on the page.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.helpers import poll
from resnet.lab import pools, session
from resnet.lab.config import TrainConfig
from resnet.lab.presets import PRESETS
from resnet.lab.queued import Submitted
from resnet.lab.store import RunStore

TINY = dict(depth=20, width=4, batch_size=16, steps=4, eval_every=2, warmup_steps=0, seed=7)


class QueueOnlyPool:
    """Stands in for the process-wide pool: queues in the real store, trains nothing."""

    def __init__(self, path=None) -> None:
        self.store = RunStore(path)

    def submit(self, config: TrainConfig, owner: str | None = None) -> Submitted:
        return Submitted(*self.store.enqueue(config, owner))

    def submit_many(self, configs, owner: str | None = None) -> list[Submitted]:
        return [self.submit(c, owner) for c in configs]


@pytest.fixture
def lab(monkeypatch) -> session.Lab:
    monkeypatch.setattr(pools, "pool_for", QueueOnlyPool)
    return session.open_lab()


def image_folder(root, name: str, classes: dict[str, int]) -> None:
    """``root/name/<class>/<i>.png``: tiny solid images, ``n`` per class."""
    for cls, n in classes.items():
        (root / name / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (12, 12), (40 * i, 100, 200)).save(root / name / cls / f"{i}.png")


def test_open_imports_the_references_and_a_preset_shows_them_then_its_live_runs(lab):
    assert lab.writable and lab.reference_problem is None
    shown = lab.preset_runs("degradation")
    # every seed imported, seed 0's first; the preset shows each variant once, by its seed-0 run
    assert len(lab.references["degradation"]) == len(PRESETS["degradation"].reference_configs)
    assert shown == lab.references["degradation"][:len(PRESETS["degradation"].configs)]
    assert [lab.store.get_run(i).config["seed"] for i in shown] == [0] * len(shown)
    (first, *_), (again, *_) = lab.rerun_preset("degradation"), lab.rerun_preset("degradation")
    assert first.created and again == (first.run_id, False)  # a second press queues nothing new
    assert lab.preset_runs("degradation")[len(shown):] == sorted(s.run_id for s in lab.rerun_preset("degradation"))


def test_groups_put_the_seeds_of_a_variant_together_by_source(lab):
    groups = {(g.head.label, g.reference): g for g in lab.groups() if g.head.config["steps"] == 120}
    plain = groups[("plain-56", True)]
    assert plain.seeds == [0, 1, 2, 3, 4] and plain.id == min(r.id for r in plain.runs)
    assert {r.label for r in plain.runs} == {"plain-56"} and len({r.id for r in plain.runs}) == 5
    # a live rerun at seed 0 is its own group, and its variant's reference band is drawn under it
    rerun = {lab.store.get_run(s.run_id).label: s.run_id for s in lab.rerun_preset("degradation")}
    groups = {(g.head.label, g.reference): g for g in lab.groups() if g.head.config["steps"] == 120}
    live = groups[("plain-56", False)]
    assert live.id == rerun["plain-56"] and live.seeds == [0] and live.variant == plain.variant
    assert session.reference_bands([live], lab.groups()) == [plain]
    assert session.reference_bands([live, plain], lab.groups()) == []  # picked already


def test_submit_with_seeds_queues_one_run_per_seed(lab):
    done = lab.submit(TINY, seeds=3)
    assert not done.problems and [s.created for s in done.runs] == [True] * 3 and done.run_id == done.runs[0].run_id
    runs = [lab.store.get_run(s.run_id) for s in done.runs]
    assert [r.config["seed"] for r in runs] == [7, 8, 9] and {r.label for r in runs} == {"ResNet-20 A w4"}
    (group,) = [g for g in lab.groups() if not g.reference]
    assert group.seeds == [7, 8, 9] and group.id == done.run_id  # one variant: one pick, one band
    more = lab.submit(TINY, seeds=5)  # seeds 7–9 are there already: only 10 and 11 are new
    assert [s.created for s in more.runs] == [False] * 3 + [True] * 2
    assert len(lab.store.list_runs(source="live")) == 5


@pytest.mark.parametrize("seeds", [0, 6, -1, 2.5, True, "3"])
def test_a_seed_count_out_of_range_is_a_problem_and_queues_nothing(lab, seeds):
    done = lab.submit(TINY, seeds=seeds)
    assert [(p.code, p.field) for p in done.problems] == [("range", "seeds")] and done.run_id is None
    assert not lab.store.list_runs(source="live")


def test_seeds_past_the_last_seed_are_refused_before_any_is_queued(lab):
    done = lab.submit({**TINY, "seed": 2**31 - 2}, seeds=3)  # 2**31 - 2, 2**31 - 1, then one too many
    assert [(p.code, p.field) for p in done.problems] == [("range", "seed")]
    assert not lab.store.list_runs(source="live")


def test_submit_says_whether_it_created_the_run(lab):
    first = lab.submit(TINY)
    assert (first.created, first.status, first.label, first.problems) == (True, "queued", "ResNet-20 A w4", ())
    again = lab.submit(TINY)  # another tab, the same settings
    assert (again.run_id, again.created, again.status) == (first.run_id, False, "queued")
    assert lab.cancel(first.run_id) == "cancelled"
    rerun = lab.submit(TINY)  # a cancelled run is trained anew
    assert rerun.created and rerun.run_id != first.run_id


def test_submit_with_problems_queues_nothing(lab):
    done = lab.submit({**TINY, "steps": 0, "shortcut": "scaled", "scale": float("nan")})
    assert done.run_id is None and not done.created
    assert [(p.code, p.field) for p in done.problems] == [("number", "scale"), ("range", "steps")]
    assert not lab.store.list_runs(source="live")


def test_data_folders_are_only_read_inside_the_operators_directory(lab, tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    image_folder(root, "shapes", {"a": 8, "b": 8})
    image_folder(tmp_path, "outside", {"a": 8, "b": 8})
    monkeypatch.setenv("RESNET_LAB_DATA_DIR", str(root))
    assert session.data_folders() == ["shapes"] and session.datasets_offered(["shapes"]) == ("digits", "folder", "ichallenge_pm")
    outside = lab.submit({**TINY, "dataset": "folder", "image_size": 8}, folder="../outside")
    assert [p.code for p in outside.problems] == ["no_folder"]
    too_big = lab.submit({**TINY, "dataset": "folder", "image_size": 8, "batch_size": 64}, folder="shapes")
    assert [(p.code, dict(p.values)) for p in too_big.problems] == [("batch_vs_data", {"batch": 64, "n": 12})]
    fits = lab.submit({**TINY, "dataset": "folder", "image_size": 8, "batch_size": 8}, folder="shapes")
    assert fits.created and lab.store.get_run(fits.run_id).config["data_dir"] == str((root / "shapes").resolve())
    monkeypatch.delenv("RESNET_LAB_DATA_DIR")
    assert session.data_folders() == [] and session.datasets_offered([]) == ("digits",)


def test_a_store_that_cannot_be_written_falls_back_to_a_view(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("where the data folder should be")
    monkeypatch.setenv("RESNET_LAB_HOME", str(tmp_path / "file" / "home"))
    lab = session.open_lab()
    assert not lab.writable and "cannot be created" in lab.store_problem
    assert len(lab.preset_runs("why_not_2x")) == len(PRESETS["why_not_2x"].configs)  # the curves still show


def _measured(lab: session.Lab, runs) -> session.BlockReport:
    """The diagnostics of ``runs`` once the task processes have computed them all."""
    return poll(lambda: not (report := session.block_signals(lab.store, runs)).pending and report,
                "the task processes to measure", timeout=300)


def test_block_signals_once_per_configuration_at_initialisation(lab):
    run_id = lab.submit(TINY).run_id
    twin = lab.store.get_run(run_id)
    report = _measured(lab, [twin, twin])
    assert report.failures == [] and report.configs_left_out == 0
    (measured,) = report.measured
    assert not measured.trained and [s.name for s in measured.signals][:2] == ["layer1.0", "layer1.1"]
    assert len(measured.signals) == 9 and all(s.out_rms > 0 and s.grad_rms > 0 for s in measured.signals)
    assert TrainConfig.from_dict(twin.config) == TrainConfig(**TINY).canonical()  # stored as its config_key


def test_the_diagnostics_the_page_reads_out_for_why_not_2x(lab):
    """What lab.diag_reading and the preset's question say, measured as the page measures it (option A, at init)."""
    report = _measured(lab, [lab.store.get_run(i) for i in lab.preset_runs("why_not_2x")])
    signals = {m.run.label: m.signals for m in report.measured}

    def identity_ratios(label: str, attr: str, backward: bool) -> np.ndarray:
        s = signals[label]
        values = np.array([getattr(b, attr) for b in s])
        ids = [i for i in range(1, len(s)) if s[i].shortcut_kind == "identity"]
        return values[[i - 1 for i in ids]] / values[ids] if backward else values[ids] / values[[i - 1 for i in ids]]

    doubled = signals["ResNet-56 A λ=2"]
    assert np.median(identity_ratios("ResNet-56 A λ=2", "out_rms", False)) == pytest.approx(2.0, rel=0.02)
    assert np.log2(doubled[-1].out_rms / doubled[0].out_rms) == pytest.approx(25, abs=0.5)  # ≈ 2^25, block 1 → 27
    assert [round(doubled[i].out_rms / doubled[i - 1].out_rms, 1) for i in (9, 18)] == [1.4, 1.3]  # ≈ √2 at stage starts
    # λ = 0.5: level forward, and the gradient grows ≈ 1.26× per block going back (it does not fade)
    assert np.median(identity_ratios("ResNet-56 A λ=0.5", "out_rms", False)) == pytest.approx(1.0, abs=0.05)
    assert np.median(identity_ratios("ResNet-56 A λ=0.5", "grad_rms", True)) == pytest.approx(1.26, abs=0.03)
    half = signals["ResNet-56 A λ=0.5"]
    assert 200 < half[0].grad_rms / half[-1].grad_rms < 400  # ≈ 290× from the last block to the first
    identity = signals["ResNet-56 A"]
    assert 3 < identity[-1].out_rms / identity[0].out_rms < 5  # λ = 1: ≈ 4× over the 27 blocks
