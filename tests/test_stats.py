"""Intervals of resnet.stats against textbook values and against the exact McNemar test."""

from __future__ import annotations

import itertools
import math

import pytest

from resnet.stats import Z95, Discordant, difference_from_counts, discordant, mcnemar_p, paired_difference, wilson


def test_wilson_ends_are_where_the_score_test_reaches_z():
    # Wilson's interval is the set of p0 the score test |p̂ − p0| / sqrt(p0(1 − p0)/n) < z keeps
    for k, n in ((81, 263), (340, 359), (3, 359)):
        iv = wilson(k, n)
        for end in (iv.low, iv.high):
            assert abs(k / n - end) / math.sqrt(end * (1 - end) / n) == pytest.approx(Z95, rel=1e-9)


def test_wilson_stays_inside_zero_one_and_covers_the_estimate():
    for k in (0, 1, 179, 358, 359):
        iv = wilson(k, 359)
        assert 0.0 <= iv.low <= iv.value <= iv.high <= 1.0
    assert wilson(0, 359).low == 0.0 and wilson(359, 359).high == 1.0
    with pytest.raises(ValueError):
        wilson(5, 0)


def test_one_image_in_359_is_within_noise():
    counts = Discordant(only_a=0, only_b=1, n=359)
    iv = difference_from_counts(counts)
    assert iv.value == pytest.approx(1 / 359)
    assert not iv.excludes_zero


def test_interval_excludes_zero_exactly_when_mcnemar_rejects():
    for only_a, only_b in itertools.product(range(0, 16), repeat=2):
        counts = Discordant(only_a, only_b, 359)
        iv = difference_from_counts(counts)
        assert iv.low <= iv.value <= iv.high
        assert iv.excludes_zero == (mcnemar_p(counts) < 0.05), (only_a, only_b)


def test_paired_difference_counts_only_disagreements():
    right_a = [True, True, False, False, True]
    right_b = [True, False, True, True, True]
    assert discordant(right_a, right_b) == Discordant(1, 2, 5)
    assert paired_difference(right_a, right_b).value == pytest.approx(1 / 5)
    with pytest.raises(ValueError):
        discordant([True], [True, False])
