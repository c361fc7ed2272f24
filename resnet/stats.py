"""How much of a measured difference is noise: intervals for accuracies and paired differences.

On the 359 digit test images one image is 0.28 pp, so a lesion that costs "0.56 pp" may be
two unlucky images. Every accuracy the app shows carries a 95 % interval, and every
difference between two nets on the same test images a paired one:

    wilson(k=340, n=359)                  # → Interval(low, high) of the accuracy
    paired_difference(right_a, right_b)   # → Interval of acc_b − acc_a, exact (McNemar)

Both are deterministic (no resampling). No Paddle, no Streamlit: pages, plots and the
catalog tests use them alike.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

Z95 = 1.959963984540054  # two-sided 95 %: the normal quantile at 0.975
ALPHA = 0.05


class Interval(NamedTuple):
    """A point estimate with its 95 % interval (all fractions, not percent)."""

    value: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def half_width(self) -> float:
        """The larger distance from the estimate to an end: the "± x" a sentence quotes."""
        return max(self.value - self.low, self.high - self.value)


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion k/n (Wilson 1927): stays inside [0, 1], right near 0 and 1."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


class Discordant(NamedTuple):
    """Paired outcomes of two nets on the same n images: only the images they disagree on matter."""

    only_a: int  # images net A gets right and net B wrong
    only_b: int  # images net B gets right and net A wrong
    n: int  # images in all


def discordant(right_a: Sequence[bool], right_b: Sequence[bool]) -> Discordant:
    """Count the disagreements of two per-image correctness vectors of the same images."""
    if len(right_a) != len(right_b) or not right_a:
        raise ValueError("both nets must be scored on the same, non-empty list of images")
    only_a = sum(1 for a, b in zip(right_a, right_b) if a and not b)
    only_b = sum(1 for a, b in zip(right_a, right_b) if b and not a)
    return Discordant(only_a, only_b, len(right_a))


def paired_difference(right_a: Sequence[bool], right_b: Sequence[bool]) -> Interval:
    """acc_b − acc_a with an exact 95 % interval that excludes 0 exactly when McNemar's exact test rejects.

    Given the d = only_a + only_b discordant images, only_b ~ Binomial(d, π) and the
    difference is (d / n)·(2π − 1); the Clopper–Pearson interval of π (the inversion of the
    exact binomial test) maps onto it.
    """
    return difference_from_counts(discordant(right_a, right_b))


@functools.lru_cache(maxsize=65536)  # scipy's exact quantiles cost ~1 ms; a page asks for the same counts on every run
def difference_from_counts(counts: Discordant) -> Interval:
    """``paired_difference`` from the discordant counts alone."""
    only_a, only_b, n = counts
    d = only_a + only_b
    value = (only_b - only_a) / n
    if d == 0:
        return Interval(0.0, 0.0, 0.0)
    from scipy.stats import beta  # scipy costs ~1.5 s to import: only when an interval is asked for

    pi_low = 0.0 if only_b == 0 else float(beta.ppf(ALPHA / 2, only_b, d - only_b + 1))
    pi_high = 1.0 if only_b == d else float(beta.ppf(1 - ALPHA / 2, only_b + 1, d - only_b))
    scale = d / n
    return Interval(value, scale * (2 * pi_low - 1), scale * (2 * pi_high - 1))


@functools.lru_cache(maxsize=65536)
def mcnemar_p(counts: Discordant) -> float:
    """Exact two-sided McNemar p-value: the binomial test of only_b among the discordant images at ½."""
    from scipy.stats import binomtest

    d = counts.only_a + counts.only_b
    return 1.0 if d == 0 else float(binomtest(counts.only_b, d, 0.5).pvalue)
