"""The layers of a ResNet counted from its block plan (``resnet.model.plan``), without Paddle.

One row per layer, in the order a forward pass runs them, with its kernel, stride, output
shape, parameters and MACs for a batch, and where it sits in its block (``position``): before
the split (a pre-activation block that changes shape normalises x once, for both paths), on
the residual branch, on the shortcut, in the gate, or after the addition. The Architecture
page draws its table and block diagram from these rows for every unit and shortcut; the rows
name their layers as the Paddle network does (``layer2.0.conv1``, ``layer2.0.gate``,
``final_bn``), so tests/model/test_plan_table.py compares them, layer by layer, with a built
network's parameters and with ``resnet.inference.anatomy``'s MAC counter, and the page checks
them against a real forward pass in the inference service (``check_rows``).

Counting conventions are anatomy's: a MAC is one multiply-accumulate of a conv (its bias, the
gate's, is not a MAC) or of the fc layer; BatchNorm, ReLU, sigmoid, the gate's products and
dropout are not counted. Parameters are trainable ones; BatchNorm's running mean and
variance (2 per channel) are counted apart (``Totals.with_bn_statistics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model.plan import BlockPlan, default_width, network_plan
from ..model.rows import LayerRow, Shape, Totals, totals
from ..model.spec import IMAGENET_DEPTHS, DownsampleKind, ShortcutVariant, Unit, default_downsample

# Where a row sits in its block (the Architecture page's "position" column)
POSITIONS = ("stem", "before_split", "branch", "gate", "shortcut", "after_add", "head")
ROLES = {
    "bottleneck": ("reduce", "conv3x3", "expand"),
    "basic": ("conv3x3", "conv3x3"),
}


@dataclass(frozen=True)
class PlanRow(LayerRow):
    """A layer as the plan counts it, and where it sits in its block."""

    position: str  # one of POSITIONS

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "position": self.position}


@dataclass(frozen=True)
class BlockSummary:
    """One entry of the network diagram: a block (or the stem, or the head) in total."""

    block: str
    stage: str
    input_shape: Shape
    output_shape: Shape
    params: int
    macs: int
    projection: bool  # its shortcut is a 1×1 conv + BN projection (the shape changes here)
    plan: BlockPlan | None  # None for the stem and the head

    def as_dict(self) -> dict[str, Any]:
        """The keys ``plots.architecture.network_diagram`` reads."""
        return {"block": self.block, "stage": self.stage, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "params": self.params, "macs": self.macs,
                "projection": self.projection}


def _out(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2·padding − kernel) / stride) + 1, as Paddle's conv and max-pool (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def _conv(name: str, block: str, stage: str, role: str, position: str, shape: Shape, c_out: int, kernel: int,
          stride: int, padding: int, bias: bool = False) -> PlanRow:
    n, c_in, h, w = shape
    out = (n, c_out, _out(h, kernel, stride, padding), _out(w, kernel, stride, padding))
    params = c_out * c_in * kernel * kernel + (c_out if bias else 0)
    macs = out[0] * out[1] * out[2] * out[3] * c_in * kernel * kernel
    return PlanRow(name, block, stage, "conv", role, (c_out, c_in, kernel, kernel), padding, stride, params, shape, out,
                   macs, position)


def _bn(name: str, block: str, stage: str, position: str, shape: Shape) -> PlanRow:
    return PlanRow(name, block, stage, "bn", "bn", None, None, None, 2 * shape[1], shape, shape, 0, position)


def block_rows(plan: BlockPlan, shape: Shape, stage: str, *, dropout: bool = False) -> list[PlanRow]:
    """The rows of one block for its input ``shape`` [N, C_in, H, W], in the order they run;
    ``dropout``: the shortcut runs through dropout (Fig. 2(f)), a layer without parameters."""
    name = plan.name
    rows: list[PlanRow] = []
    x = shape
    if plan.shared_preact and "bn" in plan.convs[0].before:  # BN → ReLU on x, before the split
        rows.append(_bn(f"{name}.bn1", name, stage, "before_split", x))
    roles = ROLES[plan.kind]
    after_add_bn = "bn" in plan.after_add
    f = x
    for step in plan.convs:
        if "bn" in step.before and not (plan.shared_preact and step.index == 1):
            rows.append(_bn(f"{name}.bn{step.index}", name, stage, "branch", f))
        conv = _conv(f"{name}.conv{step.index}", name, stage, roles[step.index - 1], "branch", f, step.c_out,
                     step.kernel, step.stride, step.kernel // 2)
        rows.append(conv)
        f = conv.output_shape
        if "bn" in step.after:
            rows.append(_bn(f"{name}.bn{step.index}", name, stage, "branch", f))
    if plan.gate:  # g(x) = sigmoid(1×1 conv(x) + b): one value per output element
        rows.append(_conv(f"{name}.gate", name, stage, "gate", "gate", x, plan.c_out, 1, plan.stride, 0, bias=True))
    if plan.shortcut_kind == "projection":
        proj = _conv(f"{name}.downsample.0", name, stage, "projection", "shortcut", x, plan.c_out, 1, plan.stride, 0)
        rows += [proj, _bn(f"{name}.downsample.1", name, stage, "shortcut", proj.output_shape)]
    elif plan.shortcut_kind == "conv1x1":
        rows.append(_conv(f"{name}.shortcut_conv", name, stage, "shortcut_conv", "shortcut", x, plan.c_out, 1,
                          plan.stride, 0))
    elif plan.shortcut_kind == "pad":  # option A: no layer; a 1×1 kernel's grid at the block's stride
        n, _, h, w = x
        out = (n, plan.c_out, _out(h, 1, plan.stride, 0), _out(w, 1, plan.stride, 0))
        rows.append(PlanRow(f"{name}.shortcut", name, stage, "shortcut", "subsample_pad", None, None, plan.stride, 0,
                            x, out, 0, "shortcut"))
    if dropout and plan.shortcut_kind != "off":
        rows.append(PlanRow(f"{name}.dropout", name, stage, "dropout", "dropout", None, None, None, 0, f, f, 0,
                            "shortcut"))
    if after_add_bn:  # BN after the addition (Fig. 4(b)): the last conv's BN, on the sum
        rows.append(_bn(f"{name}.bn{len(plan.convs)}", name, stage, "after_add", f))
    return rows


def network_rows(
    depth: int, batch: int, size: int, *, unit: Unit = "original", shortcut: ShortcutVariant = "identity",
    scale: float = 1.0, width: int | None = None, downsample: DownsampleKind | None = None,
    in_channels: int = 3, num_classes: int = 1000,
) -> tuple[list[PlanRow], list[BlockSummary]]:
    """Every layer of ``resnet(depth, unit=…, shortcut=…)`` for a [batch, in_channels, size, size]
    input, and one summary per block; the network's defaults (width, stem, downsample) by depth."""
    width = width if width is not None else default_width(depth)
    plan = network_plan(depth, width, unit=unit, shortcut=shortcut, scale=scale,
                                     downsample=downsample if downsample is not None else default_downsample(depth))
    imagenet = depth in IMAGENET_DEPTHS
    rows: list[PlanRow] = []
    summaries: list[BlockSummary] = []
    x: Shape = (batch, in_channels, size, size)
    stem = [_conv("conv1", "stem", "stem", "stem", "stem", x, width, 7 if imagenet else 3, 2 if imagenet else 1,
                  3 if imagenet else 1)]
    if plan.stem_bn:
        stem.append(_bn("bn1", "stem", "stem", "stem", stem[-1].output_shape))
    if imagenet:  # 3×3/2 max-pool, padding 1, floor rounding (Paddle 3's default)
        n, c, h, w = stem[-1].output_shape
        stem.append(PlanRow("maxpool", "stem", "stem", "maxpool", "maxpool", None, 1, 2, 0, stem[-1].output_shape,
                            (n, c, _out(h, 3, 2, 1), _out(w, 3, 2, 1)), 0, "stem"))
    rows += stem
    summaries.append(_summary("stem", "stem", stem, stem[-1].output_shape, None))
    x = stem[-1].output_shape
    for block in plan.blocks:
        stage = f"stage {int(block.name.removeprefix('layer').split('.')[0])}"
        mine = block_rows(block, x, stage, dropout=shortcut == "dropout")
        n, _, h, w = x
        out = (n, block.c_out, _out(h, 1, block.stride, 0), _out(w, 1, block.stride, 0))
        rows += mine
        summaries.append(_summary(block.name, stage, mine, out, block, x))
        x = out
    head: list[PlanRow] = []
    if plan.final_bn:  # full pre-activation: BN → ReLU before pooling
        head.append(_bn("final_bn", "head", "head", "head", x))
    n, c = x[0], x[1]
    head.append(PlanRow("avgpool", "head", "head", "avgpool", "avgpool", None, None, None, 0, x, (n, c, 1, 1), 0, "head"))
    head.append(PlanRow("fc", "head", "head", "fc", "classifier", (c, num_classes), None, None, c * num_classes + num_classes,
                        (n, c), (n, num_classes), n * c * num_classes, "head"))
    rows += head
    summaries.append(_summary("head", "head", head, head[-1].output_shape, None, x))
    return rows, summaries


def _summary(name: str, stage: str, rows: list[PlanRow], out: Shape, plan: BlockPlan | None,
             x: Shape | None = None) -> BlockSummary:
    return BlockSummary(name, stage, x if x is not None else rows[0].input_shape, out, sum(r.params for r in rows),
                        sum(r.macs for r in rows), plan is not None and plan.shortcut_kind == "projection", plan)


def check_rows(rows: list[PlanRow], traced: dict[str, tuple[list[int], int]]) -> list[str]:
    """Compare the rows (batch 1) with what a forward pass recorded per layer, {name: (output
    shape, MACs)} (``resnet.inference.served:traced_table``); the mismatches, [] when all agree.
    Rows of no Paddle layer that records (option A's shortcut, dropout) are not compared."""
    problems = []
    for row in rows:
        if row.kind in ("shortcut", "dropout"):
            continue
        if row.name not in traced:
            problems.append(f"{row.name}: not reached by the forward pass")
            continue
        shape, macs = traced[row.name]
        if tuple(shape) != row.output_shape:
            problems.append(f"{row.name}: table says {list(row.output_shape)}, forward gave {list(shape)}")
        if macs != row.macs:
            problems.append(f"{row.name}: table says {row.macs} MACs, forward gave {macs}")
    names = {row.name for row in rows}
    problems += [f"{name}: ran in the forward pass but missing from the table" for name in sorted(set(traced) - names)]
    return problems


__all__ = ["PlanRow", "BlockSummary", "Totals", "POSITIONS", "block_rows", "network_rows", "totals", "check_rows"]
