"""ResNet-50 at 224×224, every block's intermediates: dygraph vs the fast path vs ONNX Runtime.

    .venv/bin/python bench/fastpath.py [--repeats 9] [--batch-repeats 7] [--onnx-repeats 5]
    /tmp/onnxvenv/bin/python bench/fastpath.py      # with onnxruntime + paddle2onnx importable

Prints batch-1 latency (median after warm-up) and batch-16 throughput for both paths,
then the batch-16 comparison with ONNX Runtime on the very same exported program
(converted by paddle2onnx, the same outputs, the same thread count), skipped when
onnxruntime or paddle2onnx is not installed (they stay out of the requirements). Ends
with ``fastpath_batch16_images_per_s=`` (and ``onnxruntime_batch16_images_per_s=``) and
``fastpath_speedup_batch1=<ratio>``. Random (seeded) weights: speed does not depend on
their values, and nothing is downloaded. The exported program goes to a temporary
directory, so the first export is timed too and nothing is left behind. Runs alternate
between the paths, so load from other processes hits both alike; the share of CPU time
other processes used during the runs is printed for context (this machine is shared:
with others busy, medians double and ratios shrink), and so is each path's CPU time per
batch, which load does not inflate the way it does wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paddle  # noqa: E402

from resnet.inference.cost import measure_latency  # noqa: E402
from resnet.inference.fastpath import FastModel  # noqa: E402
from resnet.model import resnet  # noqa: E402

ONNX_BATCH = 16


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


def timed(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float]]:
    """(median wall s, median CPU s of this process) per run, after one warm-up each, interleaved."""
    for run in runs.values():
        run()
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            w, c = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in runs}


def onnx_comparison(model: Any, cache: str, repeats: int) -> dict[str, tuple[float, float]] | None:
    """Batch 16 by the fast path and by ONNX Runtime on the same exported program; None without ORT."""
    try:
        import onnxruntime
        import paddle2onnx
    except ImportError as exc:
        print(f"ONNX Runtime comparison skipped ({exc.name} is not installed; install onnxruntime and "
              "paddle2onnx into a separate venv, never into the requirements)")
        return None
    fast = FastModel.from_model(model, cache)
    if fast.program_dir is None:
        print(f"ONNX Runtime comparison skipped: no exported program ({fast.notice})")
        return None
    onnx_file = Path(cache) / "model.onnx"
    paddle2onnx.export(str(fast.program_dir / "model.json"), str(fast.program_dir / "model.pdiparams"),
                       str(onnx_file), opset_version=13, enable_onnx_checker=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = fast.threads, 1
    session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((ONNX_BATCH, 3, 224, 224), dtype=np.float32)
    xt = paddle.to_tensor(x)
    ours = [t.numpy() for t in fast._predictor.run([xt])]  # the program's flat outputs, in order
    theirs = session.run(None, {session.get_inputs()[0].name: x})
    worst = max(float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12)) for a, b in zip(ours, theirs, strict=True))
    print(f"ONNX Runtime {onnxruntime.__version__} (paddle2onnx {paddle2onnx.__version__}), {len(theirs)} outputs, "
          f"{fast.threads} threads; largest relative difference from the fast path {worst:.1e}")
    return timed({
        "fast path (forward_features)": lambda: fast.forward_features(xt),
        "  of which predictor.run": lambda: fast._predictor.run([xt]),  # without the copy the contract needs
        "ONNX Runtime": lambda: session.run(None, {session.get_inputs()[0].name: x}),
    }, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed batch-1 runs per path (≥ 7)")
    parser.add_argument("--batch-repeats", type=int, default=7, help="timed batch-16 runs per path")
    parser.add_argument("--onnx-repeats", type=int, default=5, help="timed batch-16 runs per path vs ONNX Runtime")
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
        load_many, start = others_share(start), cpu_sample()
        onnx = onnx_comparison(model, cache, args.onnx_repeats)
        load_onnx = others_share(start)
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
    if onnx is not None:
        print(f"batch {ONNX_BATCH} vs ONNX Runtime (CPU time used by other processes meanwhile: {load_onnx:.0%}):")
        for name, (wall, cpu) in onnx.items():
            print(f"  {name:30s}{ONNX_BATCH / wall:7.1f} img/s  ({wall:.2f} s wall, {cpu:.2f} CPU-s per batch)")
        ours, theirs = onnx["fast path (forward_features)"], onnx["ONNX Runtime"]
        print(f"  fast path / ONNX Runtime: {theirs[0] / ours[0]:.2f}x in wall time, {theirs[1] / ours[1]:.2f}x in CPU time")
        print(f"fastpath_batch16_images_per_s={ONNX_BATCH / ours[0]:.1f}")
        print(f"onnxruntime_batch16_images_per_s={ONNX_BATCH / theirs[0]:.1f}")
    else:
        print(f"fastpath_batch16_images_per_s={fast_ips:.1f}")
    print(f"fastpath_speedup_batch1={one['speedup']:.2f}")


if __name__ == "__main__":
    main()
