"""Local workers vs a local Ray cluster: runs per minute of the Degradation preset ×N, and Ray's start-up.

    .venv/bin/python bench/cluster.py [--copies 10] [--steps N] [--cpus 2]

Each backend trains the preset's 4 configurations ``--copies`` times (seeds 0…N−1, so
nothing is deduplicated) on a fresh throw-away store, the way the app would: the local
``JobPool`` (one worker per core) and a ``RayPool`` on ``ray.init(num_cpus=--cpus)`` on this
machine. Prints each backend's wall time and runs per minute, Ray's start-up
(``ray.init`` + the pool's actor), the ratio, and last ``ray_overhead_ratio=<local/ray runs per min>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet.lab import cluster  # noqa: E402
from resnet.lab.pools import JobPool  # noqa: E402
from resnet.lab.presets import PRESETS  # noqa: E402


def configs(copies: int, steps: int | None) -> list:
    """The preset ``copies`` times, each copy with its own seed."""
    base = PRESETS["degradation"].configs
    return [replace(c, seed=seed, **({"steps": steps} if steps else {})) for seed in range(copies) for c in base]


def run(pool, todo: list) -> float:
    """Seconds from submitting ``todo`` to the last run ending (all must end "done")."""
    start = time.perf_counter()
    runs = pool.wait([s.run_id for s in pool.submit_many(todo)], timeout=3600)
    wall = time.perf_counter() - start
    bad = [(r.label, r.status, r.error) for r in runs if r.status != "done"]
    if bad:
        raise SystemExit(f"runs did not finish: {bad}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    todo = configs(args.copies, args.steps)

    import ray

    with tempfile.TemporaryDirectory() as tmp:
        local = JobPool(Path(tmp) / "local.sqlite", workers=args.cpus).start()
        try:
            local_s = run(local, todo)
        finally:
            local.shutdown()

        t0 = time.perf_counter()
        cluster.init_local(args.cpus)
        on_ray = cluster.RayPool(Path(tmp) / "ray.sqlite", address="auto").start()
        startup_s = time.perf_counter() - t0
        try:
            ray_s = run(on_ray, todo)
        finally:
            on_ray.shutdown()
            ray.shutdown()

    n = len(todo)
    print(f"Degradation preset ×{args.copies}: {n} runs of {todo[0].steps} steps, {args.cpus} CPUs")
    print(f"  local workers   {local_s:7.1f} s  {n / local_s * 60:6.1f} runs/min")
    print(f"  local Ray       {ray_s:7.1f} s  {n / ray_s * 60:6.1f} runs/min  (start-up {startup_s:.1f} s, not included)")
    print(f"ray_startup_s={startup_s:.1f}")
    print(f"ray_overhead_ratio={ray_s / local_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
