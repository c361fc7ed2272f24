"""Wall time of the "Degradation" preset, end to end through the job pool, as the app runs it.

    .venv/bin/python bench/training.py [--workers 2] [--threads 1] [--steps N] [--batch-size B]

Starts a fresh pool on a throw-away store (so nothing is deduplicated against earlier
runs), submits the preset, waits for it and prints each model's training throughput,
its final training loss and, last, ``degradation_preset_wall_s=<seconds>`` (from
starting the pool, worker start-up included, to the last run finishing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet.lab.jobs import JobPool  # noqa: E402
from resnet.lab.presets import PRESETS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    parser.add_argument("--threads", type=int, default=1, help="compute threads per worker")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    args = parser.parse_args()

    configs = PRESETS["degradation"].configs
    overrides = {k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v is not None}
    configs = [replace(c, **overrides) for c in configs]

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pool = JobPool(Path(tmp) / "runs.sqlite", workers=args.workers, threads=args.threads).start()
        try:
            runs = pool.wait([s.run_id for s in pool.submit_many(configs)], timeout=1800)
            wall = time.perf_counter() - start
        finally:
            pool.shutdown()

    c = configs[0]
    print(f"Degradation preset: {len(configs)} runs × {c.steps} steps × batch {c.batch_size}, "
          f"{pool.workers} worker(s) × {args.threads} thread(s)")
    final = {}
    for run in runs:
        result = run.result or {}
        final[run.label] = result.get("final_train_loss")
        print(f"  {run.label:10s} {run.status:9s} {result.get('images_per_s', 0):7.0f} images/s  "
              f"run {result.get('wall_s', 0):5.1f} s  final train loss {final[run.label]:.3f}  "
              f"test acc {result.get('final_test_acc', 0):.3f}")
    if final.get("plain-56") is not None and final.get("plain-20") is not None:
        print(f"  plain-56 − plain-20 final training loss gap: {final['plain-56'] - final['plain-20']:.2f}")
    print(f"degradation_preset_wall_s={wall:.1f}")
    return 0 if all(r.status == "done" for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
