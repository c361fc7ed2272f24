"""The anatomy of a built network: one row per layer with shapes, parameters and MACs.

Everything is read from the live Paddle layers (weight shapes, strides, paddings) and
the output shapes are propagated analytically with

    out = floor((in + 2·pad − kernel) / stride) + 1

``traced_layers`` runs a real forward pass with temporary hooks so tests and the page
can check every analytic row against what Paddle actually produced.

MACs are multiply-accumulates of convolutions and the fc layer (FLOPs ≈ 2 × MACs).
BatchNorm is not counted: at inference it folds into the preceding conv.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import paddle
from paddle import nn

from ..model.modes import eval_mode
from ..model.network import MIN_IMAGE_SIZE, ResNet, block_stage, resnet
from ..model.rows import LayerRow, Shape

# What a table may describe. Its shapes are arithmetic, not a forward pass, so it takes
# batches and sizes that running the network would not (``fastpath.IMAGE_SIZE_RANGE``).
TABLE_BATCH_RANGE = (1, 1024)
TABLE_SIZE_RANGE = (MIN_IMAGE_SIZE, 1024)


def check_int(name: str, value: int, lo: int, hi: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) in ``lo..hi``."""
    if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False) -> int:
    """floor((size + 2·padding − kernel) / stride) + 1 (ceil instead of floor if asked)."""
    span = size + 2 * padding - kernel
    if span < 0:
        raise ValueError(f"input {size} too small for kernel {kernel} with padding {padding}")
    steps = math.ceil(span / stride) if ceil_mode else span // stride
    return steps + 1


def _first(value: int | Iterable[int]) -> int:
    return value if isinstance(value, int) else int(list(value)[0])


def layer_row(name: str, layer: nn.Layer, in_shape: Shape, block: str, stage: str, role: str) -> LayerRow:
    """The row for one Paddle layer given its input shape [N, C, H, W] (or [N, F])."""
    params = sum(int(p.size) for p in layer.parameters() if not p.stop_gradient)
    n = in_shape[0]
    if isinstance(layer, nn.Conv2D):
        out_c, in_per_group, kh, kw = (int(d) for d in layer.weight.shape)
        stride, padding = _first(layer._stride), _first(layer._padding)
        h = conv_output_size(in_shape[2], kh, stride, padding)
        w = conv_output_size(in_shape[3], kw, stride, padding)
        out = (n, out_c, h, w)
        # each output element needs C/groups · kh · kw multiply-adds
        macs = n * out_c * h * w * in_per_group * kh * kw
        return LayerRow(name, block, stage, "conv", role, (out_c, in_per_group, kh, kw), padding, stride, params, in_shape, out, macs)
    if isinstance(layer, nn.BatchNorm2D):
        return LayerRow(name, block, stage, "bn", role, None, None, None, params, in_shape, in_shape, 0)
    if isinstance(layer, nn.MaxPool2D):
        k, s, p = _first(layer.ksize), _first(layer.stride), _first(layer.padding)
        h = conv_output_size(in_shape[2], k, s, p, ceil_mode=bool(layer.ceil_mode))
        w = conv_output_size(in_shape[3], k, s, p, ceil_mode=bool(layer.ceil_mode))
        return LayerRow(name, block, stage, "maxpool", role, None, p, s, 0, in_shape, (n, in_shape[1], h, w), 0)
    if isinstance(layer, nn.AdaptiveAvgPool2D):
        return LayerRow(name, block, stage, "avgpool", role, None, None, None, 0, in_shape, (n, in_shape[1], 1, 1), 0)
    if isinstance(layer, nn.Linear):
        f_in, f_out = (int(d) for d in layer.weight.shape)  # Paddle stores [in, out]
        return LayerRow(name, block, stage, "fc", role, (f_in, f_out), None, None, params, (n, f_in), (n, f_out), n * f_in * f_out)
    raise TypeError(f"no table row for layer type {type(layer).__name__}")


_RESIDUAL_ROLES = {
    "bottleneck": {"conv1": "reduce", "conv2": "conv3x3", "conv3": "expand"},
    "basic": {"conv1": "conv3x3", "conv2": "conv3x3"},
}


def model_rows(model: ResNet, batch: int, image_size: int) -> list[LayerRow]:
    """Rows for every layer of ``model`` in network order, for a [batch, C, size, size] input."""
    check_int("batch", batch, *TABLE_BATCH_RANGE)
    check_int("image_size", image_size, *TABLE_SIZE_RANGE)
    cfg = model.config
    rows: list[LayerRow] = []

    def add(name: str, layer: nn.Layer, shape: Shape, block: str, stage: str, role: str) -> Shape:
        row = layer_row(name, layer, shape, block, stage, role)
        rows.append(row)
        return row.output_shape

    shape: Shape = (batch, cfg.in_channels, image_size, image_size)
    shape = add("conv1", model.conv1, shape, "stem", "stem", "stem")
    shape = add("bn1", model.bn1, shape, "stem", "stem", "bn")
    if model.maxpool is not None:
        shape = add("maxpool", model.maxpool, shape, "stem", "stem", "maxpool")

    roles = _RESIDUAL_ROLES[cfg.block]
    for block_name, block in model.named_blocks():
        stage = f"stage {block_stage(block_name)}"
        x_shape = shape
        for conv_name, role in roles.items():
            index = conv_name[-1]
            shape = add(f"{block_name}.{conv_name}", getattr(block, conv_name), shape, block_name, stage, role)
            shape = add(f"{block_name}.bn{index}", getattr(block, f"bn{index}"), shape, block_name, stage, "bn")
        if block.downsample is not None:
            proj = add(f"{block_name}.downsample.0", block.downsample[0], x_shape, block_name, stage, "projection")
            add(f"{block_name}.downsample.1", block.downsample[1], proj, block_name, stage, "bn")
        elif block.shortcut_kind == "pad":
            rows.append(pad_row(block_name, block.stride, block.c_out, x_shape, stage))
    shape = add("avgpool", model.avgpool, shape, "head", "head", "avgpool")
    add("fc", model.fc, (shape[0], shape[1]), "head", "head", "classifier")
    return rows


def pad_row(block: str, stride: int, c_out: int, in_shape: Shape, stage: str) -> LayerRow:
    """Option A's shortcut (subsample + zero-pad) as a row: no layer, 0 parameters, 0 MACs.

    Named ``<block>.shortcut``, a name in no state dict. Its grid is a 1×1 kernel's at the
    block's stride: ⌈H/stride⌉ × ⌈W/stride⌉, the size of F(x) it is added to.
    """
    n, _, h, w = in_shape
    out = (n, c_out, conv_output_size(h, 1, stride, 0), conv_output_size(w, 1, stride, 0))
    return LayerRow(f"{block}.shortcut", block, stage, "shortcut", "subsample_pad", None, None, stride, 0, in_shape, out, 0)


def layer_table(depth: int = 50, batch: int = 10, image_size: int = 224, **model_kwargs: Any) -> list[dict[str, Any]]:
    """One dict per layer (name, kind, kernel_shape, padding, stride, params, output_shape, macs…)."""
    return [row.as_dict() for row in model_rows(resnet(depth, **model_kwargs), batch, image_size)]


def traced_layers(model: nn.Layer, x: paddle.Tensor) -> dict[str, tuple[Shape, int]]:
    """Run ``model(x)`` once and record each leaf layer's (output shape, MACs) by name.

    The hooks are removed before returning, whatever happens. MACs here come from the
    shapes Paddle really produced, independently of ``model_rows``'s arithmetic.
    """
    seen: dict[str, tuple[Shape, int]] = {}
    handles = []

    def make_hook(name: str):
        def hook(layer: nn.Layer, inputs: tuple, output: paddle.Tensor) -> None:
            out_shape = tuple(int(d) for d in output.shape)
            macs = 0
            if isinstance(layer, nn.Conv2D):
                _, c_per_group, kh, kw = layer.weight.shape
                macs = math.prod(out_shape) * int(c_per_group) * int(kh) * int(kw)
            elif isinstance(layer, nn.Linear):
                macs = math.prod(out_shape) * int(layer.weight.shape[0])
            seen[name] = (out_shape, macs)
        return hook

    try:
        for name, layer in model.named_sublayers():
            if isinstance(layer, (nn.Conv2D, nn.BatchNorm2D, nn.MaxPool2D, nn.AdaptiveAvgPool2D, nn.Linear)):
                handles.append(layer.register_forward_post_hook(make_hook(name)))
        with paddle.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def cross_check(model: ResNet, rows: list[LayerRow], seed: int = 0) -> list[str]:
    """Compare analytic rows with a real forward pass; return mismatches (empty = all agree)."""
    n, c, h, w = rows[0].input_shape
    paddle.seed(seed)
    with eval_mode(model):
        seen = traced_layers(model, paddle.randn([n, c, h, w]))
    problems = []
    for i, row in enumerate(rows):
        # option A's shortcut runs no layer: to be added to F(x) it must have the shape of
        # the row before it, the block's last BN (whose traced MACs are 0, as its own)
        traced = rows[i - 1].name if row.kind == "shortcut" else row.name
        if traced not in seen:
            problems.append(f"{row.name}: not reached by the forward pass")
            continue
        shape, macs = seen[traced]
        if shape != tuple(row.output_shape):
            problems.append(f"{row.name}: table says {row.output_shape}, forward gave {shape}")
        if macs != row.macs:
            problems.append(f"{row.name}: table says {row.macs} MACs, forward gave {macs}")
    extra = set(seen) - {row.name for row in rows}
    problems += [f"{name}: ran in the forward pass but missing from the table" for name in sorted(extra)]
    return problems


def group_rows(rows: list[LayerRow], by: str) -> dict[str, list[LayerRow]]:
    """The rows by their ``by`` field ("block" or "stage"), groups in network order."""
    grouped: dict[str, list[LayerRow]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, by), []).append(row)
    return grouped


def block_summary(rows: list[LayerRow]) -> list[dict[str, Any]]:
    """One entry per block (stem, every residual block, head): params, MACs, output shape."""
    summary = []
    for name, group in group_rows(rows, "block").items():
        main = [r for r in group if r.role not in ("bn", "projection", "subsample_pad")]
        summary.append({
            "block": name,
            "stage": group[0].stage,
            "input_shape": list(group[0].input_shape),
            "output_shape": list(main[-1].output_shape),
            "params": sum(r.params for r in group),
            "macs": sum(r.macs for r in group),
            "projection": any(r.role == "projection" for r in group),
        })
    return summary


def pooling_rounding(size: int = 112) -> dict[str, int]:
    """What Paddle's 3×3/2 max-pool (padding 1) really gives, measured, with floor and ceil."""
    x = paddle.zeros([1, 1, size, size])
    return {
        "input": size,
        "paddle_default": int(nn.MaxPool2D(3, 2, 1)(x).shape[-1]),
        "paddle_ceil_mode": int(nn.MaxPool2D(3, 2, 1, ceil_mode=True)(x).shape[-1]),
        "formula_floor": conv_output_size(size, 3, 2, 1),
        "formula_ceil": conv_output_size(size, 3, 2, 1, ceil_mode=True),
    }
