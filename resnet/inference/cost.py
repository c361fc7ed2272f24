"""Compute cost: MACs and parameters by stage and kernel, ResNet vs VGG, the course's
estimate vs the truth, bottleneck vs basic block, and measured latency.

Conventions, said once and used everywhere: a MAC is one multiply-accumulate and
FLOPs = 2 × MACs. Counts cover convolutions and fully connected layers (BatchNorm folds
into the conv before it at inference; pooling and ReLU are negligible), for the whole
batch unless a name says ``per_image``.

The analytic tables are built from real Paddle layers (``anatomy.layer_row`` reads their
weight shapes, strides and paddings) created under ``paddle.LazyGuard``: the networks
exist with their true shapes, but no weights are allocated or initialised, so a VGG-19
table does not cost 575 MB and four seconds of random numbers.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

import paddle
from paddle import nn
from paddle.vision.models import vgg16, vgg19

from .anatomy import LayerRow, block_summary, check_int, group_rows, layer_row, model_rows, totals
from .fastpath import BATCH_RANGE, IMAGE_SIZE_RANGE, fast_forward_features, fast_model
from ..model.network import STAGES, BasicBlock, BottleneckBlock, ResNet, ResNetConfig, eval_mode, resnet

KERNELS = ("1×1", "3×3", "7×7", "fc")
RESNET_DEPTHS = (18, 34, 50, 101, 152)
VGG_DEPTHS = (16, 19)
ARCHITECTURES = tuple(f"ResNet-{d}" for d in RESNET_DEPTHS) + tuple(f"VGG-{d}" for d in VGG_DEPTHS)
# He et al. 2015, Table 1 ("FLOPs", i.e. multiply-adds, ×10⁹, 224×224) and Sec. 4.1 for VGG
PAPER_GMACS = {
    "ResNet-18": 1.8, "ResNet-34": 3.6, "ResNet-50": 3.8, "ResNet-101": 7.6, "ResNet-152": 11.3,
    "VGG-16": 15.3, "VGG-19": 19.6,
}
# The course: one 56×56 stage-1 bottleneck (layer1.1, no projection) × 48, batch of 10.
COURSE_BLOCK = "layer1.1"
COURSE_MULTIPLIER = 48
COURSE_BATCH = 10

Progress = Callable[[float, str], None]  # (fraction done 0..1, step id)


def _check(batch: int, image_size: int) -> None:
    # the page measures what it tabulates, so tables take only what a forward pass may
    check_int("batch", batch, *BATCH_RANGE)
    check_int("image_size", image_size, *IMAGE_SIZE_RANGE)


def _check_depth(depth: int, allowed: tuple[int, ...]) -> None:
    if depth not in allowed:
        raise ValueError(f"depth must be one of {list(allowed)}, got {depth!r}")


# ---------------------------------------------------------------------------------
# Rows for any architecture
# ---------------------------------------------------------------------------------


def resnet_rows(depth: int = 50, batch: int = 1, image_size: int = 224, **model_kwargs: Any) -> list[LayerRow]:
    """``anatomy.model_rows`` of a ResNet built without weights (shapes only)."""
    _check_depth(depth, tuple(STAGES))
    _check(batch, image_size)
    with paddle.LazyGuard():
        model = resnet(depth, **model_kwargs)
    return model_rows(model, batch, image_size)


def vgg_rows(depth: int = 16, batch: int = 1, image_size: int = 224) -> list[LayerRow]:
    """One row per conv, max-pool, avg-pool and fc of Paddle's VGG-16/19 (no batch norm).

    Stages are the five groups of 3×3 convs, each ending in a 2×2 max-pool; the head is
    the 7×7 adaptive average pool and the three fc layers.
    """
    _check_depth(depth, VGG_DEPTHS)
    _check(batch, image_size)
    with paddle.LazyGuard():
        model = (vgg16 if depth == 16 else vgg19)(pretrained=False)
    rows: list[LayerRow] = []
    shape: tuple[int, ...] = (batch, 3, image_size, image_size)
    stage = 1
    for index, layer in enumerate(model.features):
        if isinstance(layer, nn.ReLU):
            continue
        name = f"stage {stage}"
        role = "conv3x3" if isinstance(layer, nn.Conv2D) else "maxpool"
        rows.append(layer_row(f"features.{index}", layer, shape, name, name, role))
        shape = rows[-1].output_shape
        stage += isinstance(layer, nn.MaxPool2D)
    # anatomy's avg-pool row assumes ResNet's global pool; VGG's pools to a fixed 7×7
    out_h, out_w = model.avgpool._output_size
    pooled = (batch, shape[1], out_h, out_w)
    rows.append(LayerRow("avgpool", "head", "head", "avgpool", "avgpool", None, None, None, 0, shape, pooled, 0))
    shape = (batch, shape[1] * out_h * out_w)
    for index, layer in enumerate(model.classifier):
        if isinstance(layer, nn.Linear):
            rows.append(layer_row(f"classifier.{index}", layer, shape, "head", "head", "classifier"))
            shape = rows[-1].output_shape
    return rows


def architecture_rows(name: str, batch: int = 1, image_size: int = 224) -> list[LayerRow]:
    """Rows for one of ``ARCHITECTURES`` ("ResNet-50", "VGG-16", …)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}, got {name!r}")
    family, depth = name.split("-")
    return (resnet_rows if family == "ResNet" else vgg_rows)(int(depth), batch, image_size)


# ---------------------------------------------------------------------------------
# Breakdowns
# ---------------------------------------------------------------------------------


def kernel_kind(row: LayerRow) -> str | None:
    """"1×1", "3×3", "7×7" for convs, "fc" for fully connected layers, None otherwise."""
    if row.kind == "conv":
        return f"{row.kernel_shape[2]}×{row.kernel_shape[3]}"
    return "fc" if row.kind == "fc" else None


def kernel_totals(rows: list[LayerRow], of: str = "macs") -> dict[str, int]:
    """MACs (or ``of="params"``) of the rows by kernel kind (every kind in ``KERNELS``, zeros included)."""
    by_kind = dict.fromkeys(KERNELS, 0)
    for row in rows:
        if (kind := kernel_kind(row)) is not None:
            by_kind[kind] = by_kind.get(kind, 0) + getattr(row, of)
    return by_kind


def stage_costs(rows: list[LayerRow]) -> list[dict[str, Any]]:
    """One entry per stage (stem, stage 1…, head), in network order.

    Keys: ``stage``, ``blocks`` (residual blocks; 0 for stem, head and VGG stages),
    ``params``, ``macs``, ``macs_per_image``, ``macs_per_block`` (None without blocks),
    ``macs_by_kernel`` and ``params_by_kernel`` (dicts keyed by ``KERNELS``; the latter
    also has "BN", so each sums to the stage total).
    """
    batch = rows[0].input_shape[0]
    result = []
    for stage, group in group_rows(rows, "stage").items():
        macs = sum(r.macs for r in group)
        params = sum(r.params for r in group)
        # residual blocks are named after their state-dict prefix, "layer<stage>.<index>"
        blocks = len({r.block for r in group if r.block.startswith("layer")})
        macs_by_kernel = kernel_totals(group)
        params_by_kernel = kernel_totals(group, "params")
        params_by_kernel["BN"] = sum(r.params for r in group if r.kind == "bn")
        result.append({
            "stage": stage, "blocks": blocks, "params": params, "macs": macs,
            "macs_per_image": macs // batch, "macs_per_block": macs // blocks if blocks else None,
            "macs_by_kernel": macs_by_kernel, "params_by_kernel": params_by_kernel,
        })
    return result


def _stride_on_reduce_macs(rows: list[LayerRow]) -> int:
    """Total MACs if each downsampling bottleneck had its stride on the first 1×1 conv.

    That is the original ResNet (the paper's Table 1); Paddle and torchvision put it on
    the 3×3 ("ResNet v1.5"), so their reduce 1×1 runs on 4× more pixels.
    """
    by_block: dict[str, dict[str, LayerRow]] = {}
    for row in rows:
        by_block.setdefault(row.block, {})[row.role] = row
    total = sum(r.macs for r in rows)
    for roles in by_block.values():
        reduce, conv3 = roles.get("reduce"), roles.get("conv3x3")
        if reduce is not None and conv3.stride > 1:
            _, _, h, w = reduce.output_shape
            _, _, h2, w2 = conv3.output_shape
            total -= reduce.macs - reduce.macs // (h * w) * (h2 * w2)
    return total


def compare_architectures(batch: int = 1, image_size: int = 224) -> list[dict[str, Any]]:
    """ResNet-18…152, VGG-16 and VGG-19 side by side, with the paper's figures.

    Keys: ``name``, ``params`` (trainable), ``macs`` (batch), ``gmacs_per_image``,
    ``gflops_per_image`` (= 2 × GMACs), ``paper_gmacs`` (Table 1, only at 224×224,
    else None), ``gmacs_paper_layout`` (ours with the downsampling stride on the first
    1×1 conv, as in the paper's ResNets). Ours is every conv and fc as Paddle builds
    them; the paper's bottleneck nets stride on the 1×1 and its figures are rounded,
    which together explain the small gaps (e.g. ResNet-50: 4.09 → 3.86 → "3.8").
    """
    _check(batch, image_size)
    result = []
    for name in ARCHITECTURES:
        rows = architecture_rows(name, batch, image_size)
        t = totals(rows)
        result.append({
            "name": name, "params": t.params, "macs": t.macs_per_batch,
            "gmacs_per_image": t.macs_per_image / 1e9, "gflops_per_image": 2 * t.macs_per_image / 1e9,
            "paper_gmacs": PAPER_GMACS[name] if image_size == 224 else None,
            "gmacs_paper_layout": _stride_on_reduce_macs(rows) / batch / 1e9,
        })
    return result


def course_estimate(batch: int = COURSE_BATCH, image_size: int = 224) -> dict[str, Any]:
    """The course's ResNet-50 estimate next to the true count, block by block.

    The course took one 56×56 stage-1 block (layer1.1: reduce 1×1, 3×3, expand 1×1)
    and multiplied it by 48, the number of conv layers inside the 16 blocks, as if each
    layer cost a whole block. Every later block costs about the same as that one (twice
    the channels, a quarter of the pixels), so the truth is near 16 blocks' worth plus
    the stem, projections and fc.

    Keys: ``batch``, ``image_size``, ``block`` (the course's block), ``block_macs``,
    ``block_convs`` (name, role, kernel, macs of its convs), ``multiplier`` (48),
    ``course_total``, ``true_total``, ``overestimate`` (ratio), ``residual_blocks`` (16),
    ``block_macs_x_blocks``, ``per_block`` (block, stage, macs, projection) and
    ``per_stage`` (stage, blocks, channels, spatial, macs_per_block of a block without
    projection, first_block_macs, macs).
    """
    _check(batch, image_size)
    rows = resnet_rows(50, batch, image_size)
    blocks = [b for b in block_summary(rows) if b["block"].startswith("layer")]
    by_name = {b["block"]: b for b in blocks}
    block_macs = by_name[COURSE_BLOCK]["macs"]
    true_total = totals(rows).macs_per_batch
    per_stage = []
    for stage in dict.fromkeys(b["stage"] for b in blocks):
        members = [b for b in blocks if b["stage"] == stage]
        _, channels, h, w = members[-1]["output_shape"]
        per_stage.append({
            "stage": stage, "blocks": len(members), "channels": channels, "spatial": f"{h}×{w}",
            "macs_per_block": members[-1]["macs"], "first_block_macs": members[0]["macs"],
            "macs": sum(b["macs"] for b in members),
        })
    return {
        "batch": batch, "image_size": image_size, "block": COURSE_BLOCK, "block_macs": block_macs,
        "block_convs": [
            {"name": r.name, "role": r.role, "kernel": kernel_kind(r), "macs": r.macs}
            for r in rows if r.block == COURSE_BLOCK and r.kind == "conv"
        ],
        "multiplier": COURSE_MULTIPLIER, "course_total": block_macs * COURSE_MULTIPLIER,
        "true_total": true_total, "overestimate": block_macs * COURSE_MULTIPLIER / true_total,
        "residual_blocks": len(blocks), "block_macs_x_blocks": block_macs * len(blocks),
        "per_block": [{k: b[k] for k in ("block", "stage", "macs", "projection")} for b in blocks],
        "per_stage": per_stage,
    }


def bottleneck_vs_basic(width: int = 64, image_size: int = 56, batch: int = 1) -> list[dict[str, Any]]:
    """Q3: a bottleneck block vs basic blocks, on a ``image_size``² feature map.

    Three entries: the bottleneck of a stage of ``width`` (4·width → width → 4·width:
    its 3×3 runs on 4× fewer channels), a basic block (two 3×3 convs) at the same
    4·width in and out, and a basic block at ``width`` (the paper's Fig. 5 pairing, of
    about the bottleneck's cost). Keys: ``block``, ``channels`` (in, 3×3, out), ``params``
    (convs + BN), ``macs``, ``convs`` (kernel, kernel_shape, params, macs).
    """
    check_int("width", width, 1, 1024)
    check_int("image_size", image_size, 1, IMAGE_SIZE_RANGE[1])  # a feature map, not an image
    check_int("batch", batch, *BATCH_RANGE)
    config = ResNetConfig()
    wide = 4 * width
    with paddle.LazyGuard():
        variants = [
            ("bottleneck", BottleneckBlock(wide, width, 1, config), (wide, width, wide)),
            ("basic, same in/out", BasicBlock(wide, wide, 1, config), (wide, wide, wide)),
            ("basic, inner width", BasicBlock(width, width, 1, config), (width, width, width)),
        ]
    result = []
    for label, block, channels in variants:
        shape: tuple[int, ...] = (batch, channels[0], image_size, image_size)
        convs, params, macs = [], 0, 0
        for index in (1, 2, 3):
            if not hasattr(block, f"conv{index}"):
                break
            conv = layer_row(f"conv{index}", getattr(block, f"conv{index}"), shape, label, label, "conv")
            bn = layer_row(f"bn{index}", getattr(block, f"bn{index}"), conv.output_shape, label, label, "bn")
            convs.append({"kernel": kernel_kind(conv), "kernel_shape": list(conv.kernel_shape), "params": conv.params, "macs": conv.macs})
            params += conv.params + bn.params
            macs += conv.macs
            shape = conv.output_shape
        result.append({"block": label, "channels": channels, "params": params, "macs": macs, "convs": convs})
    return result


# ---------------------------------------------------------------------------------
# Measured latency
# ---------------------------------------------------------------------------------


def measure_latency(
    model: ResNet | int = 50, batch: int = 1, image_size: int = 224, *, repeats: int = 7, warmup: int = 2,
    progress: Progress | None = None, cache_dir: str | os.PathLike | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Time ``forward_features`` by dygraph and by the fast path, on this machine.

    ``model`` is a built ResNet or a depth (random weights, seeded). The fast path is
    timed as a page calls it, through ``fast_forward_features`` (weights check
    included). Runs alternate between the two paths so that load from other processes
    hits both alike.

    Returns ``depth``, ``batch``, ``image_size``, ``macs`` (batch), ``dygraph_ms`` and
    ``fast_ms`` (medians), ``dygraph_gflops`` and ``fast_gflops`` (2 · MACs / time),
    ``speedup``, the fast path's ``backend``, ``notice``, ``threads`` and
    ``build_seconds`` (its export, load and self-check; a cached one reports its
    original build), and the raw ``dygraph_times`` and ``fast_times`` in seconds.

    ``progress(fraction, step)`` is called with step ids "build", "export", "warmup",
    "measure" and "done", so a page can show its own words.
    """
    if isinstance(model, int):
        _check_depth(model, tuple(STAGES))
    elif not isinstance(model, ResNet):
        raise TypeError(f"model must be a ResNet or a depth, got {type(model).__name__}")
    _check(batch, image_size)
    check_int("repeats", repeats, 1, 100)
    check_int("warmup", warmup, 0, 10)
    report = progress or (lambda fraction, step: None)

    report(0.0, "build")
    if isinstance(model, int):
        paddle.seed(seed)
        model = resnet(model)
    x = paddle.randn([batch, model.config.in_channels, image_size, image_size])
    report(0.05, "export")
    fast = fast_model(model, cache_dir)  # export, load and self-check now, not in the first timed run

    def dygraph() -> None:
        with paddle.no_grad():
            model.forward_features(x)

    def fast_path() -> None:
        fast_forward_features(model, x, cache_dir=cache_dir)

    steps = 2 * (warmup + repeats)
    done = 0
    times: dict[Callable[[], None], list[float]] = {dygraph: [], fast_path: []}
    with eval_mode(model):  # both paths measured with inference semantics
        for i in range(warmup + repeats):
            for run in (dygraph, fast_path):
                start = time.perf_counter()
                run()
                if i >= warmup:
                    times[run].append(time.perf_counter() - start)
                done += 1
                report(0.1 + 0.9 * done / steps, "warmup" if i < warmup else "measure")
    macs = totals(model_rows(model, batch, image_size)).macs_per_batch
    dygraph_s, fast_s = statistics.median(times[dygraph]), statistics.median(times[fast_path])
    report(1.0, "done")
    return {
        "depth": model.config.depth, "batch": batch, "image_size": image_size, "macs": macs,
        "dygraph_ms": dygraph_s * 1e3, "fast_ms": fast_s * 1e3,
        "dygraph_gflops": 2 * macs / dygraph_s / 1e9, "fast_gflops": 2 * macs / fast_s / 1e9,
        "speedup": dygraph_s / fast_s, "backend": fast.backend, "notice": fast.notice,
        "build_seconds": fast.build_seconds, "threads": fast.threads,
        "dygraph_times": times[dygraph], "fast_times": times[fast_path],
    }


__all__ = [
    "KERNELS", "ARCHITECTURES", "PAPER_GMACS", "RESNET_DEPTHS", "VGG_DEPTHS", "IMAGE_SIZE_RANGE", "BATCH_RANGE",
    "COURSE_BLOCK", "COURSE_MULTIPLIER", "COURSE_BATCH",
    "resnet_rows", "vgg_rows", "architecture_rows", "kernel_kind", "kernel_totals", "stage_costs",
    "compare_architectures", "course_estimate", "bottleneck_vs_basic", "measure_latency",
]
