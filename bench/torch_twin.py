"""The lab's training workload in torch eager: the yardstick for ``lab_train_images_per_s``.

    python3.11 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy scikit-learn
    /tmp/torchvenv/bin/python bench/torch_twin.py [--depth 56] [--steps 60] [--threads 1] [--no-mkldnn]

Torch is not a dependency of the app (it never enters requirements*.txt): this script runs
from its own venv and imports nothing from ``resnet``. It rebuilds the same workload as
``bench/training.py``'s ``lab_train_images_per_s``: CIFAR-style ResNet (3×3 stem, widths
16/32/64, option A shortcuts: subsample + zero channels appended), scikit-learn digits 8×8
standardised, batch 64, SGD momentum 0.9, weight decay 1e-4, lr 0.1, one thread. It prints
``torch_train_images_per_s=<value>`` over ``--steps`` timed steps after a warm-up.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    """y = ReLU(BN(conv(ReLU(BN(conv(x))))) + s(x)); s = identity or option A's subsample + zeros."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x[:, :, :: self.stride, :: self.stride] if self.stride != 1 else x
        if self.extra:  # [N, C_in, H', W'] → [N, C_out, H', W'], zeros after x's channels
            s = F.pad(s, (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + s)


class Net(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(1, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        blocks, c_in = [], width
        for stage in range(3):
            planes = width * 2**stage
            for j in range(n):
                blocks.append(Block(c_in, planes, 2 if stage and not j else 1))
                c_in = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None] / 16.0  # [1797, 1, 8, 8]
    return (x - x.mean()) / x.std(), bunch.target.astype(np.int64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=56)
    parser.add_argument("--steps", type=int, default=60, help="timed steps after the warm-up")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-mkldnn", action="store_true", help="torch.backends.mkldnn.enabled = False")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.enabled = not args.no_mkldnn
    torch.manual_seed(0)
    x, y = digits()
    net = Net(args.depth).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)

    def step() -> float:
        idx = rng.choice(len(y), args.batch_size, replace=False)
        loss = F.cross_entropy(net(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()  # read the loss every step, as the lab does

    for _ in range(args.warmup):
        step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    images = args.steps * args.batch_size
    rate, cpu_rate = images / (time.perf_counter() - t0), images / (time.process_time() - c0)
    print(f"torch {torch.__version__}, depth {args.depth}, batch {args.batch_size}, {args.threads} thread(s), "
          f"mkldnn {'off' if args.no_mkldnn else 'on'}")
    print(f"torch_train_images_per_s={rate:.0f}")
    # per CPU second of this process: steadier than wall time on a loaded machine
    print(f"torch_train_images_per_cpu_s={cpu_rate:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
