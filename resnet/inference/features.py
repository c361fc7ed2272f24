"""What every block does to one image: the numbers behind the Feature maps page (its figures: ``resnet.plots.features``).

    prepared = preprocess(load_image(data).image, lab.preprocess)
    analysis = run(lab.model, prepared.array, labels=lab.classes)
    ablated = run(lab.model, prepared.array, labels=lab.classes, drop_blocks={"layer3.2"})
    comparison = compare(analysis, ablated)

``run`` does one forward pass (``model.forward_features``, or the fast path if given as
``forward``) and keeps batch item 0 of every block's x, F(x), shortcut term and output as
numpy ([C, H, W] float32), with the per-block numbers the page charts. It never changes
the model: a shared model must already be in eval mode.

Which x channel goes with output channel c? When x and the output have the same channel
count (identity shortcut), channel c of x is exactly what the shortcut adds to channel
c. Where the shape changes (the first block of a stage) it depends on the shortcut:

- option A (``x_how == "pad"``, the CIFAR nets): the shortcut keeps every second pixel of
  x's channel c for output channel c < C_in, and adds zeros to the others (the panel's x
  is then all zeros, ``ChannelPanel.x_how == "padded"``);
- option B (``"projection"``): output channel c is a 1×1 projection of *all* input
  channels, so the panel shows the input channel with the largest |weight| in it;
- a plain net has no shortcut there, and the panel shows the mean over all input
  channels (``"mean"``).

Colour scales (as CNN Explainer): ``"channel"`` gives each map its own range, ``"block"``
one range for every map of the block (x, F(x), shortcut, output, all channels),
``"shared"`` one range for the whole network. x and the output are ≥ 0 (after ReLU) and
use a sequential scale from 0; F(x) and the shortcut are signed and use a diverging
scale centred on 0, with the same magnitude, so the panels compare directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
import paddle
from PIL import Image

from ..model.modes import ensure_dygraph
from ..model.network import Features, ResidualBlock, ResNet, block_stage

ForwardFeatures = Callable[..., Features]  # (model, x, *, drop_blocks, shortcuts_off) -> Features

SCALE_MODES = ("channel", "block", "shared")
MAPS = ("x", "residual", "shortcut", "out")
TOP_CAMS = 5  # class-activation maps are kept for this many top classes
CHANGE_TOL = 1e-4  # relative change below this is float32 noise (the fast path vs dygraph differ by ~1e-6)


@dataclass
class BlockView:
    """One block's maps (batch item 0) and numbers."""

    name: str  # "layer2.0"
    stage: int  # 1-based
    x: np.ndarray  # [C_in, H, W], the previous block's output (the stem's for the first)
    residual: np.ndarray  # F(x)      [C_out, H', W']
    shortcut: np.ndarray  # λ·s(x)    [C_out, H', W'] (zeros when off)
    out: np.ndarray  # ReLU(F(x) + shortcut)
    shortcut_kind: str  # network.SHORTCUT_KINDS: "identity" | "pad" | "projection" | "off" (also when ablated)
    scale: float  # λ
    x_how: str  # "same" | "pad" | "projection" | "mean": which x channel goes with an output channel
    x_source: np.ndarray | None  # for "projection": the input channel shown for each output channel
    residual_ratio: float  # ‖F(x)‖ / ‖x‖ (Frobenius norms over all channels and pixels)
    out_ratio: float  # ‖out‖ / ‖x‖
    channel_means: np.ndarray  # [C_out] mean activation of each output channel
    absmax: float  # largest |value| over x, F(x), shortcut and output
    dropped: bool  # F(x) was zeroed (ablation)


@dataclass
class Prediction:
    index: int
    label: str | None
    prob: float


@dataclass
class Analysis:
    """Everything the page draws for one image, one set of weights, one ablation."""

    stem: np.ndarray  # [C, H, W] input of the first block
    blocks: list[BlockView]
    logits: np.ndarray  # [num_classes]
    probs: np.ndarray  # softmax of the logits
    labels: tuple[str, ...] | None
    cams: dict[int, np.ndarray]  # class index → raw class-activation map [h, w], top classes
    drop_blocks: frozenset[str]
    shortcuts_off: bool
    backend: str  # "dygraph", or the fast path's backend

    def block(self, name: str) -> BlockView:
        for view in self.blocks:
            if view.name == name:
                return view
        raise ValueError(f"no block {name!r}; blocks are {self.blocks[0].name} … {self.blocks[-1].name}")

    @cached_property
    def absmax(self) -> float:
        """The ``"shared"`` colour range: the largest |value| anywhere in the network."""
        return max([float(np.abs(self.stem).max())] + [v.absmax for v in self.blocks])


# ---------------------------------------------------------------------------------
# Running and reading the network
# ---------------------------------------------------------------------------------


def run(
    model: ResNet,
    array: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    drop_blocks: frozenset[str] | set[str] = frozenset(),
    shortcuts_off: bool = False,
    forward: ForwardFeatures | None = None,
) -> Analysis:
    """One forward pass of ``array`` ([1, C, H, W] float32, preprocessed) and its analysis.

    ``forward`` may be ``fastpath.fast_forward_features``; by default the model's own
    ``forward_features`` runs under ``no_grad``.
    """
    ensure_dygraph()
    drop = frozenset(drop_blocks)
    if forward is not None:
        features = forward(model, array, drop_blocks=drop, shortcuts_off=shortcuts_off)
    else:
        if model.training:  # a training-mode forward would update BatchNorm stats of a shared model
            raise ValueError("the model is in training mode: call model.eval() once when loading it")
        with paddle.no_grad():
            features = model.forward_features(paddle.to_tensor(array), drop_blocks=drop, shortcuts_off=shortcuts_off)
    return analyse(model, features, labels, drop_blocks=drop, shortcuts_off=shortcuts_off)


def analyse(
    model: ResNet,
    features: Features,
    labels: Sequence[str] | None = None,
    *,
    drop_blocks: frozenset[str] = frozenset(),
    shortcuts_off: bool = False,
) -> Analysis:
    """Numpy maps and numbers of batch item 0 of ``features`` (from ``model``)."""
    modules = dict(model.named_blocks())
    stem = features.stem[0].numpy()
    x = stem
    views = []
    for trace in features.blocks:
        # forward_features feeds each block the previous output, so x is shared, not copied
        residual, shortcut, out = (t[0].numpy() for t in (trace.residual, trace.shortcut, trace.out))
        views.append(_view(trace.name, modules[trace.name], x, residual, shortcut, out,
                           shortcuts_off, trace.name in drop_blocks))
        x = out
    logits = features.logits[0].numpy().astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    fc = model.fc.weight.numpy()  # [C_last, num_classes]
    top = np.argsort(-probs)[:TOP_CAMS]
    cams = np.einsum("chw,ck->khw", views[-1].out, fc[:, top])
    return Analysis(
        stem=stem, blocks=views, logits=logits, probs=probs,
        labels=tuple(labels) if labels is not None else None,
        cams={int(k): cams[i] for i, k in enumerate(top)},
        drop_blocks=frozenset(drop_blocks), shortcuts_off=shortcuts_off,
        backend=getattr(features, "backend", "dygraph"),
    )


def _view(name: str, module: ResidualBlock, x: np.ndarray, residual: np.ndarray, shortcut: np.ndarray, out: np.ndarray,
          shortcuts_off: bool, dropped: bool) -> BlockView:
    projection = module.downsample
    scale = float(module.scale)
    kind = "off" if shortcuts_off else module.shortcut_kind
    if module.shortcut_kind == "pad":
        x_how, source = "pad", None
    elif projection is not None:
        weight = projection[0].weight.numpy()[:, :, 0, 0]  # [C_out, C_in] of the 1×1 conv
        x_how, source = "projection", np.abs(weight).argmax(axis=1)
    elif x.shape[0] == out.shape[0]:
        x_how, source = "same", None
    else:
        x_how, source = "mean", None
    norm_x = float(np.linalg.norm(x))
    return BlockView(
        name=name, stage=block_stage(name),
        x=x, residual=residual, shortcut=shortcut, out=out,
        shortcut_kind=kind, scale=scale, x_how=x_how, x_source=source,
        residual_ratio=float(np.linalg.norm(residual)) / norm_x if norm_x else math.nan,
        out_ratio=float(np.linalg.norm(out)) / norm_x if norm_x else math.nan,
        channel_means=out.mean(axis=(1, 2)),
        absmax=max(float(np.abs(a).max()) for a in (x, residual, shortcut, out)),
        dropped=dropped,
    )


def top_channels(view: BlockView, k: int) -> list[int]:
    """The ``k`` output channels with the largest mean activation, strongest first."""
    return [int(c) for c in np.argsort(-view.channel_means, kind="stable")[:k]]


def top_k(analysis: Analysis, k: int = 5) -> list[Prediction]:
    """The ``k`` most probable classes, with names when the weights have them."""
    order = np.argsort(-analysis.probs, kind="stable")[:k]
    return [Prediction(int(i), analysis.labels[i] if analysis.labels else None, float(analysis.probs[i])) for i in order]


@dataclass
class ChannelPanel:
    """The four maps of one output channel of one block."""

    block: str
    channel: int
    x: np.ndarray  # [H, W]
    x_channel: int | None  # None when x is the mean over all input channels
    x_how: str  # "same" | "pad" | "padded" (a zero channel of option A) | "projection" | "mean"
    residual: np.ndarray  # [H', W']
    shortcut: np.ndarray
    out: np.ndarray


def channel_panel(view: BlockView, channel: int) -> ChannelPanel:
    """x, F(x), shortcut and output for output channel ``channel`` (see the module doc for x)."""
    if not 0 <= channel < view.out.shape[0]:
        raise ValueError(f"{view.name} has channels 0 … {view.out.shape[0] - 1}, got {channel}")
    how = view.x_how
    if how == "same" or (how == "pad" and channel < view.x.shape[0]):
        x_channel = channel
    elif how == "projection":
        x_channel = int(view.x_source[channel])
    else:
        x_channel = None
    if x_channel is not None:
        x = view.x[x_channel]
    elif how == "pad":  # one of option A's zero channels: nothing of x reaches it
        how, x = "padded", np.zeros_like(view.x[0])
    else:
        x = view.x.mean(axis=0)
    return ChannelPanel(view.name, channel, x, x_channel, how,
                        view.residual[channel], view.shortcut[channel], view.out[channel])


def color_limit(analysis: Analysis, view: BlockView, values: np.ndarray, mode: str) -> float:
    """The |value| a map's colour scale reaches in ``mode`` (``SCALE_MODES``)."""
    if mode == "channel":
        limit = float(np.abs(values).max())
    elif mode == "block":
        limit = view.absmax
    elif mode == "shared":
        limit = analysis.absmax
    else:
        raise ValueError(f"colour-scale mode must be one of {SCALE_MODES}, got {mode!r}")
    return limit or 1.0  # an all-zero map (a dropped F(x)) still needs a non-empty range


def class_activation_map(analysis: Analysis, size: int | None = None, cls: int | None = None) -> np.ndarray:
    """CAM (Zhou et al. 2016) of class ``cls`` (default: the top one), scaled to 0…1.

    Σ_c w[c, cls] · out_c over the last block's output channels; its spatial mean plus
    the fc bias is the class's logit. Min–max scaled; with ``size``, bilinearly upsampled
    to [size, size] to lie over the center crop, else at the last block's resolution.
    """
    cls = int(np.argmax(analysis.probs)) if cls is None else cls
    if cls not in analysis.cams:
        raise ValueError(f"class-activation maps are kept for the top {TOP_CAMS} classes {sorted(analysis.cams)}")
    cam = analysis.cams[cls]
    span = float(cam.max() - cam.min())
    cam = ((cam - cam.min()) / span if span > 0 else np.zeros_like(cam)).astype(np.float32)
    if size is None:
        return cam
    return np.asarray(Image.fromarray(cam, mode="F").resize((size, size), Image.BILINEAR))


@dataclass
class Comparison:
    """How an ablation changed the network's maps and answer."""

    names: list[str]
    change: np.ndarray  # per block ‖out − out₀‖ / ‖out₀‖ (0: untouched)
    first_changed: str | None  # the first block whose change exceeds CHANGE_TOL
    top1_same: bool
    base: list[Prediction]
    ablated: list[Prediction]
    base_top_prob: tuple[float, float]  # the original top class's probability: before, after


def compare(base: Analysis, ablated: Analysis, k: int = 5) -> Comparison:
    """Block by block, how far the ablated outputs moved from the original ones."""
    names = [v.name for v in base.blocks]
    change = np.array([
        float(np.linalg.norm(a.out - b.out)) / (float(np.linalg.norm(b.out)) or 1.0)
        for b, a in zip(base.blocks, ablated.blocks)
    ])
    changed = np.flatnonzero(change > CHANGE_TOL)
    top = int(np.argmax(base.probs))
    return Comparison(
        names=names, change=change,
        first_changed=names[changed[0]] if len(changed) else None,
        top1_same=top == int(np.argmax(ablated.probs)),
        base=top_k(base, k), ablated=top_k(ablated, k),
        base_top_prob=(float(base.probs[top]), float(ablated.probs[top])),
    )


__all__ = [
    "SCALE_MODES", "MAPS", "BlockView", "Prediction", "Analysis", "ChannelPanel", "Comparison", "ForwardFeatures",
    "run", "analyse", "top_channels", "top_k", "channel_panel", "color_limit", "class_activation_map", "compare",
]
