"""One rank of the data-parallel test (tests/lab/test_data_parallel.py), started by Paddle's launcher.

    python -m paddle.distributed.launch --nproc_per_node 2 tests/lab/dp_rank.py OUT_DIR [train flags]

Trains with ``resnet.lab.train.train`` (the lab's one loop) and writes, per rank,
``rank<r>.npz``: the losses rank 0 reports (its slice of each global batch, and the
test-set loss at each evaluation: ``evaluate`` on the whole test set) and the final
trainable parameters by name. The model is caught where the loop builds it, so the loop
itself runs exactly as the lab runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import paddle.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from resnet.lab import train as lab_train  # noqa: E402
from resnet.lab.config import TrainConfig  # noqa: E402


def main() -> None:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    settings, _ = lab_train._parse_args(argv)
    config = TrainConfig(**settings)
    built = []
    build = lab_train.build_model
    lab_train.build_model = lambda *args: built.append(build(*args)) or built[-1]
    metrics = []
    lab_train.train(config, on_step=metrics.append)
    # Trainable parameters only: BatchNorm's running statistics are per rank by design.
    params = {name: p.numpy() for name, p in built[0].named_parameters() if not p.stop_gradient}
    rank = dist.get_rank()
    np.savez(
        out / f"rank{rank}.npz",
        losses=np.asarray([m.train_loss for m in metrics]),
        test_loss=np.asarray([m.test_loss for m in metrics if m.test_loss is not None]),
        world=dist.get_world_size(),
        **{f"p:{k}": v for k, v in params.items()})


if __name__ == "__main__":
    main()
