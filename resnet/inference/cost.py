"""Compute cost: MACs and parameters by stage and kernel, ResNet vs VGG, the course's
estimate vs the truth, what the shortcuts cost, bottleneck vs basic block, and measured
latency.

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

import math
import os
import statistics
import time
from typing import Any, Callable, TypeVar

import paddle
from paddle import nn
from paddle.vision.models import vgg16, vgg19

from ..model.rows import LayerRow, totals
from .anatomy import block_summary, check_int, group_rows, layer_row, model_rows
from .fastpath import BATCH_RANGE, IMAGE_SIZE_RANGE, fast_forward_features, fast_model
from ..model.modes import ensure_dygraph, eval_mode, shapes_only
from ..model.network import STAGES, BasicBlock, BottleneckBlock, ResNet, ResNetConfig, resnet

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
COURSE_IMAGE_SIZE = 224
COURSE_DECIMALS = 2  # it prints each conv's cost in G to two decimals: 0.51, 1.16, 0.51
# The course's own printed totals for a batch of 10 at 224×224, in its unit 亿 (10⁸):
# ResNet-50's one block × 48 (multiplications), that doubled into FLOPs, and VGG-16's FLOPs.
COURSE_FIGURES = {"resnet50_multiplications": 1046e8, "resnet50_flops": 2092e8, "vgg16_flops": 3069e8}

Progress = Callable[[float, str], None]  # (fraction done 0..1, step id)


def _check(batch: int, image_size: int) -> None:
    # the page measures what it tabulates, so tables take only what a forward pass may
    check_int("batch", batch, *BATCH_RANGE)
    check_int("image_size", image_size, *IMAGE_SIZE_RANGE)


T = TypeVar("T")


def _without_weights(build: Callable[[], T]) -> T:
    """``build()`` under ``shapes_only``, this thread left in dygraph mode, where the layers are then read.

    The guard gives the thread back in the mode it found it, and a Streamlit script thread
    may start in static mode, where reading a layer's parameters fails (PIR value sets).
    """
    ensure_dygraph()
    with shapes_only():
        return build()


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
    model = _without_weights(lambda: resnet(depth, **model_kwargs))
    return model_rows(model, batch, image_size)


def vgg_rows(depth: int = 16, batch: int = 1, image_size: int = 224) -> list[LayerRow]:
    """One row per conv, max-pool, avg-pool and fc of Paddle's VGG-16/19 (no batch norm).

    Stages are the five groups of 3×3 convs, each ending in a 2×2 max-pool; the head is
    the 7×7 adaptive average pool and the three fc layers.
    """
    _check_depth(depth, VGG_DEPTHS)
    _check(batch, image_size)
    model = _without_weights(lambda: (vgg16 if depth == 16 else vgg19)(pretrained=False))
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


def course_estimate(batch: int = COURSE_BATCH, image_size: int = COURSE_IMAGE_SIZE) -> dict[str, Any]:
    """The course's ResNet-50 estimate next to the true count, block by block.

    The course took one 56×56 stage-1 block (layer1.1: reduce 1×1, 3×3, expand 1×1)
    and multiplied it by 48, the number of conv layers inside the 16 blocks, as if each
    layer cost a whole block. Every later block costs about the same as that one (twice
    the channels, a quarter of the pixels), so the truth is near 16 blocks' worth plus
    the stem, projections and fc.

    Keys: ``batch``, ``image_size``, ``block`` (the course's block), ``block_macs``,
    ``block_convs`` (name, role, kernel, macs of its convs), ``multiplier`` (48),
    ``course_total``, ``course_total_rounded`` (the same from per-conv costs rounded to
    0.01 G, as the course printed them: its 1046亿), ``true_total``, ``overestimate``
    (ratio), ``residual_blocks`` (16), ``convs_in_blocks`` (48: the conv layers inside the
    blocks, projections not counted), ``stem_bias`` (scalars the stem conv holds beyond its
    weights: 0, it has none), ``stem_bn_channels`` (64: BN's scale and shift each),
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
    block_convs = [r for r in rows if r.block == COURSE_BLOCK and r.kind == "conv"]
    rounded_block = sum(round(r.macs / 1e9, COURSE_DECIMALS) for r in block_convs) * 1e9
    stem, stem_bn = rows[0], rows[1]  # conv1 [64, 3, 7, 7], bn1
    return {
        "batch": batch, "image_size": image_size, "block": COURSE_BLOCK, "block_macs": block_macs,
        "block_convs": [{"name": r.name, "role": r.role, "kernel": kernel_kind(r), "macs": r.macs} for r in block_convs],
        "multiplier": COURSE_MULTIPLIER, "course_total": block_macs * COURSE_MULTIPLIER,
        "course_total_rounded": round(rounded_block * COURSE_MULTIPLIER),
        "true_total": true_total, "overestimate": block_macs * COURSE_MULTIPLIER / true_total,
        "residual_blocks": len(blocks),
        "convs_in_blocks": sum(1 for r in rows if r.kind == "conv" and r.block.startswith("layer") and r.role != "projection"),
        "stem_bias": stem.params - math.prod(stem.kernel_shape), "stem_bn_channels": stem_bn.params // 2,
        "block_macs_x_blocks": block_macs * len(blocks),
        "per_block": [{k: b[k] for k in ("block", "stage", "macs", "projection")} for b in blocks],
        "per_stage": per_stage,
    }


def course_vs_vgg(batch: int = COURSE_BATCH, image_size: int = COURSE_IMAGE_SIZE) -> dict[str, Any]:
    """The course's ResNet-50 vs VGG-16 comparison next to ours, in FLOPs (2 × MACs) per batch.

    The course doubles its one-block-× 48 figure (1046亿 → 2092亿 FLOPs) and sets it
    against 3069亿 for VGG-16, which is VGG-16's conv layers counted right (its fc layers
    left out). Keys: ``course_resnet_flops``, ``course_vgg_flops``, ``course_ratio``
    (what the course's figures make of VGG-16 / ResNet-50), ``resnet_flops``, ``vgg_flops``
    (every conv and fc), ``vgg_conv_flops`` (convs only, the course's scope) and ``ratio``
    (VGG-16 / ResNet-50, ours).
    """
    _check(batch, image_size)
    resnet_macs = totals(resnet_rows(50, batch, image_size)).macs_per_batch
    vgg = vgg_rows(16, batch, image_size)
    vgg_macs = totals(vgg).macs_per_batch
    return {
        "course_resnet_flops": COURSE_FIGURES["resnet50_flops"], "course_vgg_flops": COURSE_FIGURES["vgg16_flops"],
        "course_ratio": COURSE_FIGURES["vgg16_flops"] / COURSE_FIGURES["resnet50_flops"],
        "resnet_flops": 2 * resnet_macs, "vgg_flops": 2 * vgg_macs,
        "vgg_conv_flops": 2 * sum(r.macs for r in vgg if r.kind == "conv"), "ratio": vgg_macs / resnet_macs,
    }


def shortcut_costs(rows: list[LayerRow]) -> dict[str, Any]:
    """What a ResNet's shortcuts cost, from its rows (whole batch).

    Identity and option-A shortcuts hold no parameters and do no MACs; projections (1×1
    conv + BN, ``<block>.downsample.*``) do. ``scale_multiplies`` is what y = F(x) + λx adds
    over y = F(x) + x: one multiply per element of every block's shortcut output, which
    has the block output's shape. Keys: ``projections`` (block names),
    ``projection_params`` (conv + BN), ``projection_macs``, ``scale_multiplies``,
    ``params`` and ``macs`` (the whole net's, for shares).
    """
    projections = [r.block for r in rows if r.role == "projection"]
    layers = [r for r in rows if r.block in projections and ".downsample." in r.name]
    blocks = [b for b in block_summary(rows) if b["block"].startswith("layer")]
    total = totals(rows)
    return {
        "projections": projections,
        "projection_params": sum(r.params for r in layers), "projection_macs": sum(r.macs for r in layers),
        "scale_multiplies": sum(math.prod(b["output_shape"]) for b in blocks),
        "params": total.params, "macs": total.macs_per_batch,
    }


def cost_by_resolution(image_size: int = 224) -> dict[str, Any]:
    """Where VGG-16 spends its MACs next to ResNet-50, split at ResNet's first block (per image).

    ResNet's stem (7×7/2 conv, 3×3/2 max-pool) shrinks 224×224 to 56×56 before its first
    block; VGG-16 runs 3×3 convs at 224² and 112² before it gets there. Keys: ``side``
    (the first block's input side, 56 at 224) and, for "ResNet-50" and "VGG-16",
    ``above`` (MACs of layers whose output is larger than side × side), ``below`` and
    ``total``.
    """
    _check(1, image_size)
    resnet50 = resnet_rows(50, 1, image_size)
    side = next(r.input_shape[2] for r in resnet50 if r.block.startswith("layer"))
    result: dict[str, Any] = {"side": side}
    for name, rows in (("ResNet-50", resnet50), ("VGG-16", vgg_rows(16, 1, image_size))):
        above = sum(r.macs for r in rows if len(r.output_shape) == 4 and r.output_shape[2] > side)
        total = totals(rows).macs_per_batch
        result[name] = {"above": above, "below": total - above, "total": total}
    return result


def bottleneck_vs_basic(width: int = 64, image_size: int = 56, batch: int = 1) -> list[dict[str, Any]]:
    """Q3: a bottleneck block vs basic blocks, on a ``image_size``² feature map.

    Three entries: the bottleneck of a stage of ``width`` (4·width → width → 4·width:
    its 3×3 runs on 4× fewer channels), a basic block (two 3×3 convs) at the same
    4·width in and out, and a basic block at ``width`` (the paper's Fig. 5 pairing, of
    about the bottleneck's cost). Keys: ``block``, ``channels`` (in, 3×3, out), ``weights``
    (conv weights only), ``params`` (convs + BN's scale and shift), ``macs``, ``convs``
    (kernel, kernel_shape, params, macs).
    """
    check_int("width", width, 1, 1024)
    check_int("image_size", image_size, 1, IMAGE_SIZE_RANGE[1])  # a feature map, not an image
    check_int("batch", batch, *BATCH_RANGE)
    config = ResNetConfig()
    wide = 4 * width
    variants = _without_weights(lambda: [
        ("bottleneck", BottleneckBlock(wide, width, 1, config), (wide, width, wide)),
        ("basic, same in/out", BasicBlock(wide, wide, 1, config), (wide, wide, wide)),
        ("basic, inner width", BasicBlock(width, width, 1, config), (width, width, width)),
    ])
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
        weights = sum(c["params"] for c in convs)
        result.append({"block": label, "channels": channels, "weights": weights, "params": params, "macs": macs, "convs": convs})
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
    "COURSE_BLOCK", "COURSE_MULTIPLIER", "COURSE_BATCH", "COURSE_IMAGE_SIZE", "COURSE_FIGURES",
    "resnet_rows", "vgg_rows", "architecture_rows", "kernel_kind", "kernel_totals", "stage_costs",
    "compare_architectures", "course_estimate", "course_vs_vgg", "shortcut_costs", "cost_by_resolution",
    "bottleneck_vs_basic", "measure_latency",
]
