"""The plots' common vocabulary: the translator type, colours, shape text (Plotly only)."""

from __future__ import annotations

from typing import Callable, Sequence

STAGE_COLORS = ["#636efa", "#00cc96", "#ef553b", "#ab63fa", "#ffa15a"]
HIGHLIGHT = "#ffd400"

Text = Callable[..., str]  # a translator: t(key, **values) -> str


def short_name(block: str) -> str:
    """A block's label on a crowded axis: "layer3.4" → "3.4" (other names as they are)."""
    return block.removeprefix("layer")


def shape_text(shape: Sequence[int]) -> str:
    """[10, 64, 56, 56] → "10×64×56×56"."""
    return "×".join(str(d) for d in shape)
