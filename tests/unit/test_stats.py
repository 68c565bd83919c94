"""kit/results/stats.py on samples whose answers are known by hand (or by exhaustive enumeration),
so the tests check the statistics, not just that scipy was called."""

from __future__ import annotations

import itertools
import math

import pytest

from kit.results.stats import (
    MIN_REPETITIONS,
    NOT_SIGNIFICANT,
    SIGNIFICANT,
    TOO_FEW,
    bootstrap_ci,
    coefficient_of_variation,
    oversubscribed,
    run_warnings,
    significance,
    spread,
)


def exact_mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided exact p by enumerating every split of the pooled ranks (no ties): the textbook
    definition, independent of scipy."""
    pooled = sorted(a + b)
    rank = {v: i + 1 for i, v in enumerate(pooled)}
    n, m = len(a), len(b)

    def u(ranks: tuple[int, ...]) -> float:
        return sum(ranks) - n * (n + 1) / 2

    observed = u(tuple(rank[v] for v in a))
    centre = n * m / 2
    splits = list(itertools.combinations(range(1, n + m + 1), n))
    extreme = sum(1 for split in splits if abs(u(split) - centre) >= abs(observed - centre))
    return extreme / len(splits)


def test_spread_median_range_and_cv() -> None:
    s = spread([4.0, 1.0, 3.0, 100.0, 2.0])
    assert s is not None
    assert (s.median, s.low, s.high, s.n) == (3.0, 1.0, 100.0, 5)
    # mean 22, squared deviations 441+400+361+324+6084 = 7610, sample variance 7610/4
    assert s.cv == pytest.approx(math.sqrt(7610 / 4) / 22)
    assert s.noisy and s.spread


def test_spread_skips_missing_values_and_is_none_for_none() -> None:
    assert spread([None, None]) is None
    s = spread([2.0, None, 4.0])
    assert s is not None and (s.median, s.n) == (3.0, 2)
    assert s.ci_low is None and s.ci_high is None  # below 5 values: no interval


def test_single_value_has_no_spread_and_no_cv() -> None:
    s = spread([7.5])
    assert s is not None and not s.spread and s.cv is None and not s.noisy


def test_coefficient_of_variation_textbook_sample() -> None:
    # mean 5, sum of squared deviations 32, sample stdev sqrt(32/7)
    assert coefficient_of_variation([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(math.sqrt(32 / 7) / 5)
    assert coefficient_of_variation([3.0]) is None
    assert coefficient_of_variation([0.0, 0.0]) is None


def test_noisy_threshold_is_five_percent() -> None:
    calm = spread([100.0, 102.0, 98.0, 101.0, 99.0])      # CV 1.6%
    noisy = spread([100.0, 110.0, 90.0, 105.0, 95.0])     # CV 7.9%
    assert calm is not None and noisy is not None
    assert not calm.noisy and noisy.noisy


def test_bootstrap_interval_of_the_median_five_values() -> None:
    # A resample's median is 10 whenever 3 of 5 draws are 10: probability 0.058 > 2.5%, so the
    # 2.5th percentile is 10; symmetrically the 97.5th is 50.
    assert bootstrap_ci([30.0, 10.0, 50.0, 20.0, 40.0]) == (10.0, 50.0)


def test_bootstrap_interval_of_the_median_seven_values() -> None:
    # P(resampled median <= 1) = 0.010 < 2.5% < P(median <= 2) = 0.108: the interval is (2, 6).
    assert bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == (2.0, 6.0)


def test_bootstrap_needs_five_values_and_handles_constant_samples() -> None:
    assert bootstrap_ci([1.0, 2.0, 3.0, 4.0]) is None
    assert bootstrap_ci([3.0] * 5) == (3.0, 3.0)
    s = spread([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert s is not None and (s.ci_low, s.ci_high) == (2.0, 6.0)


def test_bootstrap_is_deterministic() -> None:
    values = [9.1, 9.7, 10.2, 10.0, 9.4, 11.3]
    assert bootstrap_ci(values) == bootstrap_ci(values)


def test_separated_samples_are_significant_with_the_exact_p() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]
    result = significance(a, b)
    assert result.p_value == pytest.approx(2 / 252)  # 2 of the C(10,5) = 252 splits are this extreme
    assert result.p_value == pytest.approx(exact_mann_whitney_p(a, b))
    assert result.verdict == SIGNIFICANT
    assert result.ratio == pytest.approx(8 / 3)
    assert result.text == "2.67x (p=0.0079)"


def test_interleaved_samples_are_not_significant() -> None:
    a, b = [1.0, 3.0, 5.0, 7.0, 9.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    result = significance(a, b)
    assert result.p_value == pytest.approx(exact_mann_whitney_p(a, b))
    assert result.p_value is not None and result.p_value > 0.5
    assert result.verdict == NOT_SIGNIFICANT
    assert "no significant difference" in result.text


def test_three_against_three_is_too_few_whatever_the_values() -> None:
    # Even perfectly separated, 3 vs 3 has an exact two-sided p of 2/20 = 0.1: it can never
    # reach 0.05, so the kit says so instead of printing a p-value.
    assert exact_mann_whitney_p([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)
    result = significance([1.0, 2.0, 3.0], [40.0, 50.0, 60.0])
    assert result.verdict == TOO_FEW and result.p_value is None
    assert result.ratio == pytest.approx(25.0)
    assert "too few repetitions: 3 vs 3" in result.text
    assert MIN_REPETITIONS == 5


def test_identical_samples_are_not_significant() -> None:
    result = significance([2.0] * 5, [2.0] * 6)
    assert result.verdict == NOT_SIGNIFICANT and result.ratio == 1.0


def test_oversubscription_warning() -> None:
    assert oversubscribed(2, 2.0) is None
    warning = oversubscribed(12, 2.0)
    assert warning is not None and warning.startswith("12 workers on 2 allowed CPUs")


def test_pyperf_style_warnings() -> None:
    short = spread([0.4, 0.5])
    long = spread([10.0, 10.1])
    noisy = spread([10.0, 12.0, 8.0])
    calm = spread([10.0, 10.1, 10.2])
    assert run_warnings("x", long, calm) == []
    [too_short] = run_warnings("x", short, calm)
    assert "x: the work took only 0.45 s" in too_short
    [too_noisy] = run_warnings("x", long, noisy)
    assert "too noisy" in too_noisy and "20%" in too_noisy
    [stolen] = run_warnings("x", long, calm, steal_seconds=2.0, wall_seconds=10.0)
    assert "stole 2.0 s" in stolen
    assert run_warnings("x", long, calm, steal_seconds=0.1, wall_seconds=10.0) == []
