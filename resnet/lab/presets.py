"""Classroom presets and the reference runs that ship with the app.

    python -m resnet.lab reference                 # all presets → assets/reference_runs/*.json
    python -m resnet.lab reference --preset degradation

The reference runs are trained by exactly the lab's code path (``JobPool`` → worker →
``resnet.lab.train.train``) on a throw-away store, then exported; the page imports them with
``import_reference_runs(store)`` so curves show the moment it opens. "Rerun live" is
``pool.submit_many(preset.configs)``: the same configurations as live runs.

Seeds: one seed is an anecdote, so every variant is trained at each of ``REFERENCE_SEEDS``.
A seed fixes the initial weights and the batch order; the variants of one seed share both
(``resnet.lab.train``), so they differ only in the network. A file holds under ``runs`` the
runs of ``preset.configs`` (seed 0: what ``reference_runs`` and the pages' sentences read) and under ``other_seeds``
those of the other seeds (``import_reference_runs`` loads both into the lab's store); ``variant_runs`` groups
them all by variant, for the summaries over seeds of ``resnet.lab.seeds`` (median and band,
intervals, "k of n seeds").

All presets train on digits (8×8) with the paper's optimiser (SGD, momentum 0.9,
weight decay 1e-4, lr 0.1) and the CIFAR depths' default shortcuts, option A (He et al.
2015, Sec. 4.2). The 20-step linear warm-up is our choice for short runs, not the
paper's: He et al. warmed up only ResNet-110, with a constant lr 0.01 until the training
error fell below 80 % (about 400 iterations), then 0.1 (Sec. 4.2). Measured here without
it, ResNet-56 (option A) is still at a training loss ≈ 0.5 (81 % test accuracy) at step
120, against ≈ 0.1 (94 %) with it: the short classroom runs would hide that it trains.

Measured on the reference runs (``python -m resnet.lab reference``, five seeds; figures are
"median [min, max]" over the seeds): see the comments at ``BASE`` and ``LAMBDA_BASE``;
tests/lab/test_presets.py checks the shipped files still show each preset's effect.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

from ..paths import ASSETS, RUN_STORE_FILE
from .config import TrainConfig, config_key
from .pools import JobPool
from .store import RunStore

REFERENCE_DIR = ASSETS / "reference_runs"
# Degradation: the gap (final training loss plain-56 2.23 [2.20, 2.31] vs plain-20 0.11
# [0.09, 0.14]) is clear by step 100, and 120 steps keep the runs short. With shortcuts
# ResNet-20 ends at 0.004 [0.001, 0.011] and ResNet-56 at 0.09 [0.009, 2.1] (single-batch
# values): ResNet-56 starts higher (step-1 loss 5.7 [5.4, 6.6] vs 3.6 [3.2, 4.0]: option A's
# identity shortcuts add up, nothing resets the scale), its last 20 steps average above
# ResNet-20's in every seed, and seed 1 has not left chance by step 120 (2.1). The paper's
# "deeper ResNet ends lower" (Fig. 6: 64k iterations on CIFAR-10) needs a task the
# 20-layer net cannot fit; it fits 1,438 digits. Tried, and none made ResNet-56's tail
# lower: 300 steps, lr 0.05 or 0.02, a 60-step warm-up. So the page claims only that
# depth stops hurting with shortcuts.
BASE = TrainConfig(dataset="digits", batch_size=64, lr=0.1, warmup_steps=20, steps=120, eval_every=20, seed=0)
# λ = 2 (option A) has exploded at initialisation: step-1 loss 58 (seed 0), 27 to 51 steps
# up there, then at chance (ln 10). The 58 is a cap, not the value: Paddle's softmax
# clips shifted logits at −64 (ValueClip, paddle/phi/kernels/funcs/softmax_impl.h), so an
# image's loss is at most 64 and 58 = 64 × 58 of 64 images wrong; the uncapped
# cross-entropy of that batch is ≈ 9·10⁷ (tests/lab/test_train.py checks the cap). 200 steps
# give the stuck-at-chance check its 50 steps of rest, and λ = 0.5 room to show it learns
# only slowly (final 1.52 [1.26, 1.61], against 0.03 [0.0005, 1.2] for λ = 1 and 2.18 [1.65,
# 2.24] for λ = 0). Over five seeds λ = 2 sits at chance in three and diverges (the loss
# leaves float32 within 5 steps) in two.
LAMBDA_BASE = replace(BASE, steps=200, eval_every=25)
# He et al. 2016 (Identity Mappings)' two ablations, on ResNet-20 (option A, BASE's recipe), not the paper's
# ResNet-110 nor ResNet-56: the two presets are 12 variants × 5 seeds (55 runs: their baselines are one
# configuration, the degradation preset's ResNet-20 A), and with ResNet-56 (30-60 s a run here, three times
# ResNet-20's blocks) the reference command would take well over 40 minutes on two shared cores, the more so
# as the gated shortcuts train on the slower dygraph step (``fast_step.runs_static``). ResNet-20's 9 blocks
# still multiply a shortcut variant's factor 9 times over the net. The gates start at the model's b_g = 0,
# so each variant is one row of Table 1 (exclusive gating's "fail" row for b_g 0 to −5, shortcut-only
# gating's b_g 0 row). What the runs show against the paper is computed from them (``claims.paper_rows``):
# on 120 steps of digits no variant fails, and most differences are beyond noise in some seeds only.
IDENTITY_BASE = replace(BASE, depth=20)
# Each variant: (config, the FIGURES entry of its test error in He et al. 2016 (Identity Mappings), Table 1)
SHORTCUT_VARIANTS = (
    (IDENTITY_BASE, "he2016.shortcut.identity"),
    (replace(IDENTITY_BASE, shortcut="scaled", scale=0.5), "he2016.shortcut.scaling_shortcut"),
    (replace(IDENTITY_BASE, shortcut="scaled", scale=0.5, residual_scale=0.5), "he2016.shortcut.scaling_both"),
    (replace(IDENTITY_BASE, shortcut="exclusive_gate"), "he2016.shortcut.exclusive_gating_0_to_-5"),
    (replace(IDENTITY_BASE, shortcut="shortcut_gate"), "he2016.shortcut.shortcut_gating_0"),
    (replace(IDENTITY_BASE, shortcut="conv1x1"), "he2016.shortcut.conv1x1"),
    (replace(IDENTITY_BASE, shortcut="dropout"), "he2016.shortcut.dropout"),
)
# Table 2's units, with its ResNet-110 column (basic blocks, as ResNet-20's; ResNet-164 is a bottleneck net)
ACTIVATION_ORDERS = tuple(
    (replace(IDENTITY_BASE, unit=unit), f"he2016.unit.{unit}.110")
    for unit in ("original", "bn_after_add", "relu_before_add", "relu_preact", "full_preact")
)
# The seeds every variant of a preset ships with; the first is the presets' own (BASE.seed).
REFERENCE_SEEDS = (0, 1, 2, 3, 4)


def seeded(configs: Iterable[TrainConfig], seeds: Iterable[int]) -> tuple[TrainConfig, ...]:
    """Every configuration at every seed, seed by seed: the variants of one seed start from the
    same weights (for the parameters they share) and see the same batches."""
    configs = tuple(configs)
    return tuple(replace(config, seed=seed) for seed in seeds for config in configs)


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    question: str  # what the preset answers, for the page's caption
    configs: tuple[TrainConfig, ...]  # one per variant, seed 0
    # per variant, the resnet.papers.FIGURES entry of the paper's result for it (or no paper figure: ())
    paper: tuple[str, ...] = ()

    def paper_figures(self) -> dict[str, str]:
        """Each variant's label → the FIGURES name of the paper's test error for it ({} when none is quoted)."""
        return {config.label: name for config, name in zip(self.configs, self.paper)}

    @property
    def reference_configs(self) -> tuple[TrainConfig, ...]:
        """What its reference file holds: every variant at every one of ``REFERENCE_SEEDS``."""
        return seeded(self.configs, REFERENCE_SEEDS)


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            "degradation",
            "Degradation",
            "Does a deeper plain net train worse? plain-56 vs plain-20, and the same depths with shortcuts.",
            tuple(replace(BASE, depth=d, shortcut=s) for s in ("none", "identity") for d in (20, 56)),
        ),
        Preset(
            "why_not_2x",
            "Why not 2x?",
            "ResNet-56 with y = F(x) + λx for λ = 0, 0.5, 1, 2: with option A, λ = 2 doubles the forward signal at"
            " each identity block (≈ 2^25 over the net) and has exploded at initialisation.",
            tuple(
                replace(LAMBDA_BASE, depth=56, shortcut="identity" if lam == 1 else "scaled", scale=lam)
                for lam in (0.0, 0.5, 1.0, 2.0)
            ),
        ),
        Preset(
            "resnet50_shortcut",
            "ResNet-50: shortcut on/off",
            "The ResNet-50 topology (16 bottleneck blocks, small stem, width 8) with and without shortcuts.",
            tuple(replace(LAMBDA_BASE, depth=50, width=8, shortcut=s) for s in ("identity", "none")),
        ),
        Preset(
            "shortcut_variants",
            "Shortcut variants",
            "He et al. 2016 (Identity Mappings), Table 1 on ResNet-20: the identity shortcut against scaling, gating,"
            " a 1×1 conv and dropout on the shortcut.",
            tuple(config for config, _ in SHORTCUT_VARIANTS),
            tuple(name for _, name in SHORTCUT_VARIANTS),
        ),
        Preset(
            "activation_order",
            "Activation order",
            "He et al. 2016 (Identity Mappings), Table 2 on ResNet-20: where BN and ReLU sit in the residual unit.",
            tuple(config for config, _ in ACTIVATION_ORDERS),
            tuple(name for _, name in ACTIVATION_ORDERS),
        ),
    )
}


def reference_path(key: str) -> Path:
    return REFERENCE_DIR / f"{key}.json"


def _reference_file(key: str) -> dict[str, Any] | None:
    path = reference_path(key)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def reference_runs(key: str) -> list[dict] | None:
    """The preset's shipped reference runs of ``preset.configs`` (seed 0), one per variant (the
    export format of ``RunStore.export_run``), or None without a file."""
    payload = _reference_file(key)
    return payload["runs"] if payload is not None else None


def reference_seed_runs(key: str) -> list[dict] | None:
    """Every seed's shipped reference runs of the preset (seed 0's first), or None without a file."""
    payload = _reference_file(key)
    return [*payload["runs"], *payload.get("other_seeds", [])] if payload is not None else None


def variant_runs(key: str) -> dict[str, list[dict]] | None:
    """The preset's shipped runs by variant (its label), in the preset's order; each variant's
    runs ordered by seed. None without a file."""
    runs = reference_seed_runs(key)
    if runs is None:
        return None
    grouped: dict[str, list[dict]] = {config.label: [] for config in PRESETS[key].configs}
    for run in sorted(runs, key=lambda r: r["config"]["seed"]):
        grouped.setdefault(run["label"], []).append(run)
    return grouped


def import_reference_runs(store: RunStore, keys: list[str] | None = None) -> dict[str, list[int]]:
    """Load the shipped reference runs of every seed into ``store`` (idempotent); run ids per preset,
    seed 0's (``preset.configs``, in order) first: the oldest run of each variant is its seed 0.

    Presets without a reference file are left out.
    """
    imported = {}
    for key in keys or list(PRESETS):
        if (runs := reference_seed_runs(key)) is not None:
            imported[key] = [store.import_run(run, source="reference") for run in runs]
    return imported


def _rounded(value: float | None, digits: int = 5) -> float | None:
    """Five significant digits: the files stay small, the curves look the same."""
    if value is None or not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def _compact(run: dict) -> dict:
    run["metrics"] = {name: [_rounded(v) for v in values] for name, values in run["metrics"].items()}
    run["metrics"]["step"] = [int(s) for s in run["metrics"]["step"]]
    # a diverged run's last loss is NaN or inf, which JSON has no word for: null, as in its curve
    run["result"] = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in run["result"].items()}
    return run


def make_reference_runs(keys: list[str], *, workers: int | None = None, out_dir: Path = REFERENCE_DIR) -> list[Path]:
    """Train the presets at every reference seed through a fresh ``JobPool``; one JSON file per preset."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        pool = JobPool(Path(tmp) / RUN_STORE_FILE, workers=workers)
        try:
            for key in keys:
                preset = PRESETS[key]
                start = time.perf_counter()
                run_ids = [run.run_id for run in pool.submit_many(preset.reference_configs)]
                for run in pool.wait(run_ids, timeout=6 * 3600):
                    loss = run.result["final_train_loss"] if run.result else None
                    print(f"{key}: {run.label:16s} seed {run.config['seed']}  {run.status:9s} final train loss {loss}  "
                          f"stuck={run.stuck_at_chance}")
                print(f"{key}: {time.perf_counter() - start:.1f} s")
                runs = [_compact(pool.store.export_run(r)) for r in run_ids]
                shown = {config_key(c) for c in preset.configs}
                payload = {
                    "preset": key,
                    "seeds": list(REFERENCE_SEEDS),
                    "runs": [r for r in runs if config_key(r["config"]) in shown],
                    "other_seeds": [r for r in runs if config_key(r["config"]) not in shown],
                }
                path = out_dir / f"{key}.json"
                path.write_text(json.dumps(payload, separators=(",", ":"), allow_nan=False) + "\n")
                written.append(path)
        finally:
            pool.shutdown()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet.lab reference", description="Write the presets' reference runs.")
    parser.add_argument("--preset", action="append", choices=sorted(PRESETS), help="default: all")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    args = parser.parse_args(argv)
    for path in make_reference_runs(args.preset or list(PRESETS), workers=args.workers):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
