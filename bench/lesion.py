"""Veit et al.'s lesion study of the shipped ResNet-56, as the Feature maps page's "Recompute live" measures it.

    .venv/bin/python bench/lesion.py [--key resnet56_digits16] [--no-dygraph]

One compute thread, as ``resnet.lab.tasks`` gives a task process (TASK_THREADS). Times the
whole study (1 + 27 + 50 deletion sets on the 359 held-out digits) on compiled blocks
(``resnet.lab.lesion``, what the task runs: program build included) and, for the ratio, by
the dygraph definition (``resnet.inference.ablation``, what the server ran before), on the
same machine at the same time; checks that both give the same study. Prints the load
average before and after (this machine is shared: other processes slow both paths alike)
and the CPU time of each (about its wall time on a free core), and ends with
``lesion_live_s=<seconds>``, ``lesion_dygraph_s=<seconds>`` and ``lesion_speedup=<dygraph / live>`` (wall).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resnet.lab.procs import limit_threads  # noqa: E402  (no Paddle yet)
from resnet.lab.tasks import TASK_THREADS  # noqa: E402

limit_threads(TASK_THREADS)  # before Paddle is imported, as in a task process

from resnet.inference import ablation  # noqa: E402
from resnet.lab import lesion  # noqa: E402
from resnet.lab.shipped import DEFAULT_KEY, held_out_split, lab_label, shipped_path  # noqa: E402
from resnet.model.weights import load_trained  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default=DEFAULT_KEY, help="a shipped model (default: the ResNet-56)")
    parser.add_argument("--no-dygraph", action="store_true", help="time only the compiled study")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (2 cores)")
    lab = load_trained(shipped_path(args.key))
    data, label = held_out_split(lab), lab_label(lab)

    start, cpu_start = time.perf_counter(), time.process_time()
    live = lesion.lesion_study(lab.model, data, label)
    live_s, live_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"{label}: compiled study {live_s:.1f} s wall, {live_cpu_s:.1f} s of CPU, {len(data.y_test)} test images, "
          f"{TASK_THREADS} thread")
    if not args.no_dygraph:
        start, cpu_start = time.perf_counter(), time.process_time()
        reference = ablation.lesion_study(lab.model, data, label)
        dygraph_s, dygraph_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        print(f"{label}: dygraph study {dygraph_s:.1f} s wall, {dygraph_cpu_s:.1f} s of CPU; the same study: {live == reference}")
        print(f"CPU time: compiled {live_cpu_s:.1f} s, dygraph {dygraph_cpu_s:.1f} s ({dygraph_cpu_s / live_cpu_s:.1f}×: "
              "about the wall times on a free core)")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"lesion_live_s={live_s:.1f}")
    if not args.no_dygraph:
        print(f"lesion_dygraph_s={dygraph_s:.1f}")
        print(f"lesion_speedup={dygraph_s / live_s:.1f}")


if __name__ == "__main__":
    main()
