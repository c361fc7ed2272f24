"""Data-parallel training: the lab's loop on 2 CPU processes (Paddle's launcher, gloo).

``python -m paddle.distributed.launch --nproc_per_node 2 <python> …`` runs
``resnet.lab.train.train`` on each rank (tests/lab/dp_rank.py) against one run of the same
global batch in a single process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # two launches of a 30-step training
RANK_SCRIPT = Path(__file__).with_name("dp_rank.py")
# ResNet-20 on digits, global batch 64 (32 a rank), 30 steps, one evaluation at the end.
FLAGS = ["--depth", "20", "--steps", "30", "--batch-size", "64", "--eval-every", "30", "--seed", "0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """rank0 / rank1 of a 2-process run and single: the same config in one process."""
    two, one = tmp_path_factory.mktemp("dp2"), tmp_path_factory.mktemp("dp1")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", str(two / "log"),
              str(RANK_SCRIPT), str(two), *FLAGS]
    done = subprocess.run(launch, cwd=two, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    single = subprocess.run([sys.executable, str(RANK_SCRIPT), str(one), *FLAGS], env=env, capture_output=True,
                            text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    load = lambda path: dict(np.load(path))  # noqa: E731
    return {"rank0": load(two / "rank0.npz"), "rank1": load(two / "rank1.npz"), "single": load(one / "rank0.npz")}


def _params(run: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k[2:]: v for k, v in run.items() if k.startswith("p:")}


def test_both_ranks_end_with_identical_parameters(runs):
    assert int(runs["rank0"]["world"]) == int(runs["rank1"]["world"]) == 2
    p0, p1 = _params(runs["rank0"]), _params(runs["rank1"])
    assert p0.keys() == p1.keys() and len(p0) > 50  # every conv, BN and fc weight of ResNet-20
    for name in p0:
        np.testing.assert_allclose(p0[name], p1[name], rtol=0, atol=1e-6, err_msg=name)


def test_loss_matches_a_single_process_run_of_the_same_global_batch(runs):
    """Within BatchNorm's difference: each rank normalises by its own 32 images, not all 64.

    Step 1 starts from the same weights, so the only difference is BN's batch statistics
    (within 5 %); after 30 steps the two runs are different trajectories of the same
    optimisation, so their last-10-step mean losses are only required to be within 25 %.
    """
    dp, single = runs["rank0"]["losses"], runs["single"]["losses"]
    assert len(dp) == len(single) == 30
    assert abs(dp[0] - single[0]) / single[0] < 0.05
    dp_tail, single_tail = dp[-10:].mean(), single[-10:].mean()
    assert abs(dp_tail - single_tail) / single_tail < 0.25
    assert dp_tail < 0.25 * dp[0]  # and the two-process run really learned
