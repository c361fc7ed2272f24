"""ResNet-50 at 224×224, every block's intermediates: dygraph vs the fast path.

    .venv/bin/python bench/fastpath.py [--repeats 9] [--batch-repeats 7]

Prints batch-1 latency (median after warm-up) and batch-16 throughput for both paths,
and ends with ``fastpath_speedup_batch1=<ratio>``. Random (seeded) weights: speed does
not depend on their values, and nothing is downloaded. The exported program goes to a
temporary directory, so the first export is timed too and nothing is left behind.
Runs alternate between the paths, so load from other processes hits both alike; the
share of CPU time other processes used during the runs is printed for context (this
machine is shared: with others busy, medians double and ratios shrink).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paddle  # noqa: E402

from resnet.inference.cost import measure_latency  # noqa: E402
from resnet.model import resnet  # noqa: E402


def cpu_sample() -> tuple[int, int, float]:
    """(all jiffies, busy jiffies) of the machine from /proc/stat, and our own CPU seconds."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]  # guest time is already in user
    total = sum(values)
    return total, total - values[3] - values[4], time.process_time()  # minus idle and iowait


def others_share(since: tuple[int, int, float]) -> float:
    """Share of the machine's CPU time used by other processes since ``since``."""
    total0, busy0, own0 = since
    total1, busy1, own1 = cpu_sample()
    seconds_per_jiffy = 1 / os.sysconf("SC_CLK_TCK")
    others = (busy1 - busy0) * seconds_per_jiffy - (own1 - own0)
    return max(0.0, others / max(1e-9, (total1 - total0) * seconds_per_jiffy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed batch-1 runs per path (≥ 7)")
    parser.add_argument("--batch-repeats", type=int, default=7, help="timed batch-16 runs per path")
    args = parser.parse_args()
    if args.repeats < 7:
        parser.error("--repeats must be at least 7")

    paddle.seed(0)
    model = resnet(50)
    model.eval()
    with tempfile.TemporaryDirectory(prefix="resnet_lab_bench_") as cache:
        start = cpu_sample()
        one = measure_latency(model, batch=1, image_size=224, repeats=args.repeats, warmup=3, cache_dir=cache)
        load_one, start = others_share(start), cpu_sample()
        many = measure_latency(model, batch=16, image_size=224, repeats=args.batch_repeats, warmup=1, cache_dir=cache)
        load_many = others_share(start)
    print(f"paddle {paddle.__version__}; CPU time used by other processes meanwhile: "
          f"{load_one:.0%} (batch 1), {load_many:.0%} (batch 16)")
    print(f"fast path: backend={one['backend']} threads={one['threads']} "
          f"export+load+self-check {one['build_seconds']:.1f} s" + (f"  NOTICE: {one['notice']}" if one["notice"] else ""))
    print(f"ResNet-50, 224×224, forward_features with all 16 blocks' x/F(x)/shortcut/out; "
          f"{one['macs'] / 1e9:.2f} GMACs per image")
    print(f"{'':28s}{'dygraph':>14s}{'fast path':>14s}{'ratio':>8s}")
    print(f"{'batch 1 latency (median)':28s}{one['dygraph_ms']:11.1f} ms{one['fast_ms']:11.1f} ms"
          f"{one['speedup']:7.2f}x")
    print(f"{'batch 1 GFLOP/s':28s}{one['dygraph_gflops']:14.1f}{one['fast_gflops']:14.1f}")
    dy_ips, fast_ips = 16e3 / many["dygraph_ms"], 16e3 / many["fast_ms"]
    print(f"{'batch 16 throughput':28s}{dy_ips:9.1f} img/s{fast_ips:9.1f} img/s{fast_ips / dy_ips:7.2f}x")
    print(f"{'batch 16 GFLOP/s':28s}{many['dygraph_gflops']:14.1f}{many['fast_gflops']:14.1f}")
    print(f"batch-1 runs (ms): dygraph {sorted(round(t * 1e3, 1) for t in one['dygraph_times'])}")
    print(f"                   fast    {sorted(round(t * 1e3, 1) for t in one['fast_times'])}")
    print(f"fastpath_speedup_batch1={one['speedup']:.2f}")


if __name__ == "__main__":
    main()
