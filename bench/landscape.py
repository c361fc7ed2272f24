"""A 21×21 loss landscape of ResNet-56 on 512 digits (8×8), as a task process computes it.

    .venv/bin/python bench/landscape.py [--size 21] [--dygraph-points 3]

One compute thread, as ``resnet.lab.tasks`` gives a task process (TASK_THREADS). Prints
the time to build the loss program, the per-point time of the static oneDNN program and,
for context on the same machine at the same time, of the plain dygraph forward
(``set_state_dict`` + ``model(x)``) on a few points; the load average before and after
and the grid's CPU time, about its wall time on a free core (this machine is shared: other
processes slow both paths alike). Ends with
``landscape_21x21_s=<seconds>``: program build + the whole grid. Seeded (untrained)
weights: the time does not depend on their values.
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

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from resnet.lab.config import TrainConfig  # noqa: E402
from resnet.lab.data import load_digits  # noqa: E402
from resnet.lab.landscape import Grid, LossProgram, cross_entropy, filter_normalised_directions, loss_surface, state_arrays, training_subset  # noqa: E402
from resnet.lab.train import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=21)
    parser.add_argument("--dygraph-points", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (2 cores)")
    data = load_digits(8)
    model = build_model(TrainConfig(dataset="digits", depth=56, shortcut="identity"), data)
    subset = training_subset(data)

    start = time.perf_counter()
    program = LossProgram(model, subset)
    build_s = time.perf_counter() - start
    grid = Grid(args.size)
    start, cpu_start = time.perf_counter(), time.process_time()
    surface = loss_surface(model, subset, grid, seed=0, program=program)
    grid_s, grid_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    assert surface is not None
    per_point = grid_s / args.size**2

    # the dygraph forward on a few of the same points, for the ratio
    theta = state_arrays(model)
    d1, _ = filter_normalised_directions(theta, 0)
    model.eval()
    times = []
    for alpha in np.linspace(-1, 1, args.dygraph_points):
        t0 = time.perf_counter()
        model.set_state_dict({k: theta[k] + np.float32(alpha) * d1[k] for k in theta})
        with paddle.no_grad():
            cross_entropy(model(paddle.to_tensor(subset.x)).numpy(), subset.y)
        times.append(time.perf_counter() - t0)
    dygraph = float(np.median(times))

    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"program build {build_s:.1f} s; {args.size}×{args.size} grid {grid_s:.1f} s wall, {grid_cpu_s:.1f} s of CPU "
          f"({grid_cpu_s / args.size**2 * 1000:.0f} ms a point: about what a point takes on a free core)")
    print(f"per point: static oneDNN program {per_point * 1000:.0f} ms, dygraph {dygraph * 1000:.0f} ms "
          f"({dygraph / per_point:.1f}× slower), {subset.n} images, {TASK_THREADS} thread")
    print(f"landscape_{args.size}x{args.size}_s={build_s + grid_s:.1f}")


if __name__ == "__main__":
    main()
