"""The lab's training speed: one run's images/s, then the "Degradation" preset's wall time.

    .venv/bin/python bench/training.py [--workers 2] [--threads 1] [--steps N] [--batch-size B]
        [--rate-steps 60] [--engine static|eager] [--torch /tmp/torchvenv/bin/python] [--no-preset]

First ``lab_train_images_per_s=<value>``: ``resnet.lab.train.train`` in this process on one
thread, ResNet-56 with identity shortcuts (option A) on the 8×8 digits, batch 64, timed
over ``--rate-steps`` steps after a 10-step warm-up (the program build and oneDNN's first
primitives), one evaluation after the timed steps. ``lab_train_images_per_cpu_s`` is the
same per CPU second of this process: steadier than wall time on a loaded machine. With
``--torch`` the torch twin of the workload (bench/torch_twin.py, run by that interpreter:
torch is no dependency of the app) runs next, and ``lab_vs_torch`` is the ratio of the two
figures per CPU second.

Then the preset: a fresh pool on a throw-away store (so nothing is deduplicated against
earlier runs), the preset submitted, waited for, each model's training throughput and
final training loss, and last ``degradation_preset_wall_s=<seconds>`` (from starting the
pool, worker start-up included, to the last run finishing).

Measured on 2 cores (AMD EPYC, CPU family 26, AVX-512, KVM), one session (30 Nov, load
average 15–18 from other processes, so per CPU second: wall figures were 2–5× lower and
erratic), ResNet-56 as above, each row next to the torch twin's runs of that session:

    torch 2.14 eager, one thread (bench/torch_twin.py)                  1,281 / 1,347 / 1,548 / 1,457
    torch eager, oneDNN off (--no-mkldnn)                                 571
    Paddle eager loop (dygraph: Paddle's plain CPU conv, 96 % of a step)  239
    eager with FLAGS_use_onednn=1 (eager mode creates no oneDNN
      primitive; FLAGS_use_mkldnn likewise)                               247
    static program, PIR executor (Paddle 3's default)                     255
    the same with FLAGS_use_mkldnn (oneDNN for every op: BN/ReLU grads
      fall back to oneDNN's reference kernels on mixed layouts)           407
    static NHWC, PIR, plain kernels                                       256
      (NHWC with FLAGS_use_mkldnn fails: a broadcast error in a oneDNN kernel)
    legacy-IR static program, oneDNN for conv2d/conv2d_grad only (kept,
      resnet.lab.fast_step)                                             1,090
      … + oneDNN BatchNorm and its grad                                   564
      … + oneDNN ReLU and its grad                                        816
    Earlier runs, within noise of the kept row: + oneDNN BN forward only,
    + oneDNN add, merged momentum, fused optimizer passes, in-place, the executor's
    host-thread pool instead of serial runs.

With less load (7), the same day: lab 1,344 per CPU second against torch's 1,777
(0.76); wall 897 against 936; the preset's workers used 26.4 CPU seconds (so on an
idle machine its wall time is ≥ 13.2 s: more while one worker trains the last run).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # the rate is one thread's; Paddle reads it on import (workers set their own)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet.lab.config import StepMetrics  # noqa: E402
from resnet.lab.data import load_digits  # noqa: E402
from resnet.lab.pools import JobPool  # noqa: E402
from resnet.lab.presets import BASE, PRESETS  # noqa: E402
from resnet.lab.train import ENGINES, train  # noqa: E402

WARMUP_STEPS = 10
TWIN = Path(__file__).with_name("torch_twin.py")


def lab_train_rate(timed_steps: int, engine: str | None = None) -> tuple[float, float]:
    """(images per wall second, per CPU second) of the lab's loop on ResNet-56, after the warm-up."""
    steps = WARMUP_STEPS + timed_steps + 1  # the last step evaluates: left out of the timing
    config = replace(BASE, depth=56, shortcut="identity", batch_size=64, steps=steps, eval_every=steps)
    clocks: dict[int, tuple[float, float]] = {}

    def on_step(m: StepMetrics) -> None:
        clocks[m.step] = (time.perf_counter(), time.process_time())

    result = train(config, on_step=on_step, data=load_digits(), engine=engine)
    if result.status != "done":
        raise SystemExit(f"the timed run ended {result.status}")
    (wall0, cpu0), (wall1, cpu1) = clocks[WARMUP_STEPS], clocks[WARMUP_STEPS + timed_steps]
    images = timed_steps * config.batch_size
    return images / (wall1 - wall0), images / (cpu1 - cpu0)


def torch_rate(python: str, timed_steps: int) -> float:
    """The torch twin's images per CPU second (its own process, one thread)."""
    out = subprocess.run([python, str(TWIN), "--steps", str(timed_steps), "--warmup", str(WARMUP_STEPS)],
                         capture_output=True, text=True, check=True).stdout
    print(out.strip())
    return float(next(line for line in out.splitlines() if line.startswith("torch_train_images_per_cpu_s=")).split("=")[1])


def degradation_preset(workers: int | None, threads: int, overrides: dict[str, int]) -> bool:
    """Train the preset through a fresh job pool; print each run and the wall time. True if all finished."""
    configs = [replace(c, **overrides) for c in PRESETS["degradation"].configs]
    children_cpu = _children_cpu_s()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pool = JobPool(Path(tmp) / "runs.sqlite", workers=workers, threads=threads).start()
        try:
            runs = pool.wait([s.run_id for s in pool.submit_many(configs)], timeout=1800)
            wall = time.perf_counter() - start
        finally:
            pool.shutdown()
    workers_cpu = _children_cpu_s() - children_cpu  # the workers have been joined: counted now

    c = configs[0]
    print(f"Degradation preset: {len(configs)} runs × {c.steps} steps × batch {c.batch_size}, "
          f"{pool.workers} worker(s) × {threads} thread(s)")
    final = {}
    for run in runs:
        result = run.result or {}
        final[run.label] = result.get("final_train_loss")
        print(f"  {run.label:10s} {run.status:9s} {result.get('images_per_s', 0):7.0f} images/s  "
              f"run {result.get('wall_s', 0):5.1f} s  final train loss {final[run.label]:.3f}  "
              f"test acc {result.get('final_test_acc', 0):.3f}")
    if final.get("plain-56") is not None and final.get("plain-20") is not None:
        print(f"  plain-56 − plain-20 final training loss gap: {final['plain-56'] - final['plain-20']:.2f}")
    # what the workers computed, start-up and shutdown included: on an idle machine the wall
    # time is at least this divided by the workers (more when their shares are uneven)
    print(f"degradation_preset_workers_cpu_s={workers_cpu:.1f}")
    print(f"degradation_preset_wall_s={wall:.1f}")
    return all(r.status == "done" for r in runs)


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's finished, joined child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--threads", type=int, default=1, help="compute threads per worker")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    parser.add_argument("--rate-steps", type=int, default=60, help="timed steps of the images/s figure")
    parser.add_argument("--engine", choices=ENGINES, default=None, help="the loop's step (default: train()'s choice)")
    parser.add_argument("--torch", default=None, help="a Python with torch: also run bench/torch_twin.py")
    parser.add_argument("--no-preset", action="store_true", help="only the images/s figures")
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    wall_rate, cpu_rate = lab_train_rate(args.rate_steps, args.engine)
    print(f"lab_train_images_per_cpu_s={cpu_rate:.0f}")
    print(f"lab_train_images_per_s={wall_rate:.0f}")
    if args.torch:
        print(f"lab_vs_torch={cpu_rate / torch_rate(args.torch, args.rate_steps):.2f}")
    if args.no_preset:
        return 0
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v is not None}
    ok = degradation_preset(args.workers, args.threads, overrides)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
