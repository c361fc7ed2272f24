"""One row per layer of a ResNet, and their totals, without Paddle.

Two counters fill these rows: ``resnet.inference.anatomy`` reads a built Paddle network's
layers, ``resnet.plots.plan_table`` walks the block plan (every unit and shortcut, no model
built); tests/model/test_plan_table.py checks that both agree field by field. A MAC is one
multiply-accumulate of a conv or the fc layer; BatchNorm is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerRow:
    """One layer of the table. ``macs`` and the shapes are for the whole batch."""

    name: str  # the layer's name in the Paddle network: "layer1.0.conv2", "layer2.0.gate", "fc"
    block: str  # "stem", "layer1.0", …, "head"
    stage: str  # "stem", "stage 1", …, "head"
    kind: str  # conv | bn | maxpool | avgpool | fc | shortcut (option A's: no layer) | dropout
    role: str  # stem | bn | maxpool | reduce | conv3x3 | expand | projection | shortcut_conv | gate |
    #            subsample_pad | dropout | avgpool | classifier
    kernel_shape: Shape | None  # [M, C, kh, kw] for convs, [in, out] for fc
    padding: int | None
    stride: int | None
    params: int  # trainable scalars
    input_shape: Shape
    output_shape: Shape
    macs: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "block": self.block, "stage": self.stage, "kind": self.kind, "role": self.role,
            "kernel_shape": list(self.kernel_shape) if self.kernel_shape else None,
            "padding": self.padding, "stride": self.stride, "params": self.params,
            "input_shape": list(self.input_shape), "output_shape": list(self.output_shape), "macs": self.macs,
        }


@dataclass(frozen=True)
class Totals:
    params: int  # trainable
    bn_statistics: int  # BatchNorm's running mean and variance: in Paddle's parameters(), not trained
    macs_per_batch: int
    macs_per_image: int
    batch: int

    @property
    def with_bn_statistics(self) -> int:
        """What ``network.count_parameters(model, trainable_only=False)`` says."""
        return self.params + self.bn_statistics


def totals(rows: list[LayerRow]) -> Totals:
    """Parameters (trainable, and BatchNorm's statistics apart: as many as its γ and β) and MACs of ``rows``,
    per batch and per image."""
    batch = rows[0].input_shape[0]
    macs = sum(r.macs for r in rows)
    return Totals(params=sum(r.params for r in rows), bn_statistics=sum(r.params for r in rows if r.kind == "bn"),
                  macs_per_batch=macs, macs_per_image=macs // batch, batch=batch)
