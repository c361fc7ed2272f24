"""The lab's memory estimate (``resnet.lab.config.estimate_memory``) against measured peak RSS.

Each configuration trains a few steps in a fresh process: its RSS just before the model
is built (Paddle imported, data loaded) is the baseline, the peak RSS after the steps
minus that baseline is what the run itself took. Prints both and their ratio
(measured / estimated) per configuration, then ``worst_ratio=<value>``: the budget check
is only as good as that ratio is close to (or below) 1.

    .venv/bin/python bench/train_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Small runs on the digits (nothing to download), both stems, a training-heavy and an
# evaluation-heavy one; big enough that they dominate Paddle's own allocations.
CONFIGS = (
    {"depth": 20, "width": 16, "image_size": 32, "batch_size": 256, "steps": 3, "eval_every": 3},
    {"depth": 18, "width": 32, "stem": "imagenet", "image_size": 128, "batch_size": 64, "steps": 3, "eval_every": 3},
    {"depth": 20, "width": 16, "image_size": 64, "batch_size": 32, "steps": 3, "eval_every": 3},  # evaluation-heavy
)

CHILD = r"""
import json, resource, sys
from resnet.lab.config import TrainConfig, estimate_memory
from resnet.lab.data import load_dataset
from resnet.lab.train import train

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

config = TrainConfig(**json.loads(sys.argv[1]))
data = load_dataset(config.dataset, image_size=config.image_size)
base = rss_mb()
train(config, data=data)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
print(json.dumps({"label": config.label, "estimate_mb": estimate_memory(config).megabytes, "base_mb": base, "peak_mb": peak}))
"""


def main() -> None:
    ratios = []
    for settings in CONFIGS:
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(settings)], cwd=REPO, capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        row = json.loads(out.stdout.strip().splitlines()[-1])
        used = row["peak_mb"] - row["base_mb"]
        ratios.append(used / row["estimate_mb"])
        print(f"{row['label']:<22} batch {settings['batch_size']:>4} size {settings['image_size']:>3}: "
              f"estimate {row['estimate_mb']:>5} MB, measured peak − baseline {used:7.0f} MB "
              f"(baseline {row['base_mb']:.0f} MB), ratio {ratios[-1]:.2f}")
    print(f"worst_ratio={max(ratios):.2f}")


if __name__ == "__main__":
    main()
