"""The lab's training step as a Paddle static program whose convolutions run on oneDNN.

Why (measured on the lab's workload, ResNet-56 on 8×8 digits, batch 64, one thread;
numbers in bench/training.py's docstring): 96 % of an eager (dygraph) step is Paddle's
plain CPU conv kernels, and eager mode never picks oneDNN (``FLAGS_use_onednn`` leaves it
on the plain kernels: no oneDNN primitive is created). oneDNN is reachable from a static
program. The PIR executor (Paddle 3's default) turns oneDNN on for every op or none, and
its oneDNN BatchNorm/ReLU gradients get the conv's blocked layout next to a channels-last
forward and fall back to reference kernels (≈ 1.6× eager). A legacy-IR program honours a
per-op ``use_mkldnn``: oneDNN for ``conv2d``/``conv2d_grad`` only, Paddle's own kernels for
the rest, ≈ 4.5× eager.

``StaticStep`` builds that program from the same ``ResNet`` class (so the ops and the
parameter names are the dygraph model's), starts from the dygraph model's weights, and
writes the trained weights and BatchNorm statistics back into it (``write_back``).
The program lives in its own scope: runs in one process never share a variable.
"""

from __future__ import annotations

import numpy as np
import paddle
from paddle import nn

from ..model.modes import legacy_static
from ..model.network import ResNet
from ..model.spec import GATED_SHORTCUTS
from .config import EVAL_BATCH, TrainConfig
from .data import Dataset

# The ops that run on oneDNN (legacy op types); the rest stay on Paddle's CPU kernels.
ONEDNN_OPS = frozenset({"conv2d", "conv2d_grad"})
# Shortcuts this program cannot build: the gates' sigmoid (``F.sigmoid`` is a bare ``_C_ops`` call in
# Paddle 3.3, PIR and dygraph only) refuses a legacy-IR variable. Their runs train with the dygraph
# step instead (``runs_static``; same model, same weights and batches, slower).
NOT_STATIC_SHORTCUTS = GATED_SHORTCUTS


def runs_static(config: TrainConfig) -> bool:
    """Whether ``StaticStep`` can train ``config`` (else the loop falls back to the dygraph step)."""
    return config.shortcut not in NOT_STATIC_SHORTCUTS


class _LoopRate(paddle.optimizer.lr.LRScheduler):
    """The learning rate the training loop sets before each step (its warm-up schedule)."""

    def get_lr(self) -> float:
        return self.last_lr


class StaticStep:
    """One run's training step, evaluation and weights, as a legacy-IR static program.

    Single process only (data-parallel runs use the eager loop). Every call switches this
    thread to the legacy IR and static mode and back (``modes.legacy_static``), so the
    process stays in dygraph between steps; the guard flips process-wide switches, so it
    holds the modes lock: another thread's guard waits for the step to end.
    """

    def __init__(self, model: ResNet, config: TrainConfig, data: Dataset) -> None:
        self.model = model
        self.scope = paddle.static.Scope()
        self.place = paddle.CPUPlace()
        with legacy_static(), paddle.utils.unique_name.guard():
            main, startup = paddle.static.Program(), paddle.static.Program()
            with paddle.static.program_guard(main, startup):
                shape = [None, data.in_channels, data.image_size, data.image_size]
                x = paddle.static.data("x", shape, "float32")  # [N, C, H, W]
                y = paddle.static.data("y", [None], "int64")  # [N]
                # The same class as the dygraph model: same ops, same structured parameter names.
                net = ResNet(model.config)
                logits = net(x)  # [N, classes]
                # Paddle's own cross-entropy, as evaluate() (its −64 logit clip included). Batch
                # means, not sums: a sum reduction does not build in a legacy-IR program in Paddle 3.3.
                loss = nn.functional.cross_entropy(logits, y)
                self.test_program = main.clone(for_test=True)  # BatchNorm on running statistics
                self.rate = _LoopRate(config.lr)
                paddle.optimizer.Momentum(
                    learning_rate=self.rate, momentum=config.momentum, weight_decay=config.weight_decay
                ).minimize(loss)
            for program in (main, self.test_program):
                for op in program.global_block().ops:
                    if op.type in ONEDNN_OPS:
                        op._set_attr("use_mkldnn", True)
                        # An is_test oneDNN conv keeps the filter it reordered at its first run
                        # (inference weights never change); here they change every step, and the
                        # test program's second evaluation saw the first one's filters. The
                        # test program's BatchNorm stays is_test (running statistics).
                        if op.has_attr("is_test"):
                            op._set_attr("is_test", False)
            self.exe = paddle.static.Executor(self.place)
            self.exe.run(startup, scope=self.scope)
        self.main = main
        self.fetch_train = [loss.name]
        self.fetch_test = [loss.name, logits.name]
        # structured name ("layer1.0.conv1.weight") → the static variable's name ("conv2d_1.w_0")
        self.names = {name: var.name for name, var in net.state_dict().items()}
        for name, tensor in model.state_dict().items():
            self._tensor(name).set(tensor.numpy(), self.place)

    def _tensor(self, name: str) -> paddle.base.libpaddle.DenseTensor:
        """The scope's tensor behind the model's ``name`` (a view: ``set`` writes the program's copy)."""
        return self.scope.find_var(self.names[name]).get_tensor()

    def __call__(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on images ``x`` [N, C, H, W], labels ``y`` [N]; the batch's mean loss."""
        self.rate.last_lr = lr  # the executor writes it into the program's rate variable
        with legacy_static():
            (loss,) = self.exe.run(self.main, feed={"x": x, "y": y}, fetch_list=self.fetch_train, scope=self.scope)
        return float(loss)

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        """``resnet.lab.train.evaluate`` on the program's current weights: (mean cross-entropy, accuracy)."""
        loss, right = self.evaluate_each(data)
        return loss, int(right.sum()) / len(right)

    def evaluate_each(self, data: Dataset) -> tuple[float, np.ndarray]:
        """``resnet.lab.train.evaluate_each`` on the program's current weights: (mean cross-entropy,
        which test images it gets right: bool [n], test-set order)."""
        total_loss, right = 0.0, []
        with legacy_static():
            for start in range(0, len(data.y_test), EVAL_BATCH):
                y = data.y_test[start : start + EVAL_BATCH]
                feed = {"x": data.x_test[start : start + EVAL_BATCH], "y": y}
                mean_loss, logits = self.exe.run(self.test_program, feed=feed, fetch_list=self.fetch_test,
                                                 scope=self.scope)
                total_loss += float(mean_loss) * len(y)
                right.append(logits.argmax(axis=1) == y)  # logits [N, classes]
        return total_loss / len(data.y_test), np.concatenate(right)

    def write_back(self) -> None:
        """Copy the program's weights and BatchNorm statistics into the dygraph model."""
        for name, tensor in self.model.state_dict().items():
            tensor.set_value(np.array(self._tensor(name)))
