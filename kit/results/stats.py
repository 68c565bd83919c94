"""The statistics every summary and comparison uses: spread, confidence, significance, warnings.

No hand-written estimators: medians and deviations come from `statistics`, the bootstrap
interval and the Mann-Whitney U test from scipy (as Go's benchstat uses Mann-Whitney).

    >>> spread([10.0, 11.0, 12.0]).median
    11.0
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Below this per side: no interval and no significance test (3 vs 3 can never reach p < 0.05).
MIN_REPETITIONS = 5
NOISY_CV = 0.05              # coefficient of variation above which a figure is flagged as noisy
SHORT_WORK_SECONDS = 1.0     # a run shorter than this is mostly startup and sampling granularity
ALPHA = 0.05                 # significance level of the two-sided Mann-Whitney U test
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 20241123    # fixed: the same results file always gives the same interval

SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "no significant difference"
TOO_FEW = "too few repetitions"


@dataclass(frozen=True, slots=True)
class Spread:
    """One figure over repetitions: median, min-max, CV, and a 95% bootstrap CI of the median
    when there are at least MIN_REPETITIONS values (ci_low/ci_high None otherwise)."""

    median: float
    low: float
    high: float
    n: int
    cv: float | None = None          # sample stdev / mean; None below 2 values or at mean 0
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def spread(self) -> bool:
        """True when repetitions differ (min-max worth showing)."""
        return self.n > 1 and self.high > self.low

    @property
    def noisy(self) -> bool:
        return self.cv is not None and self.cv > NOISY_CV


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Sample standard deviation over the mean; None when it is undefined."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if mean == 0:
        return None
    return statistics.stdev(values) / abs(mean)


def bootstrap_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the median; None below MIN_REPETITIONS values.

    Percentile rather than BCa: with a handful of values the median's bootstrap distribution is
    lumpy and BCa's acceleration estimate degenerates (scipy then warns and returns NaN)."""
    if len(values) < MIN_REPETITIONS:
        return None
    if min(values) == max(values):  # scipy refuses a degenerate sample; the interval is the point
        return (float(values[0]), float(values[0]))
    import numpy as np
    from scipy.stats import bootstrap

    result = bootstrap((np.asarray(values, dtype=float),), np.median, confidence_level=confidence,
                       n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                       rng=np.random.default_rng(BOOTSTRAP_SEED))
    return (float(result.confidence_interval.low), float(result.confidence_interval.high))


def spread(values: Iterable[float | int | None], with_ci: bool = True) -> Spread | None:
    """Median, min-max, CV and (N >= 5, `with_ci`) CI of the values present; None when there are none."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    ci = bootstrap_ci(present) if with_ci else None
    return Spread(median=statistics.median(present), low=min(present), high=max(present), n=len(present),
                  cv=coefficient_of_variation(present), ci_low=ci[0] if ci else None,
                  ci_high=ci[1] if ci else None)


@dataclass(frozen=True, slots=True)
class Significance:
    """B against A: ratio of medians (B / A), the two-sided Mann-Whitney p-value, a verdict."""

    ratio: float | None
    p_value: float | None
    verdict: str             # SIGNIFICANT, NOT_SIGNIFICANT or TOO_FEW
    n_a: int
    n_b: int

    @property
    def text(self) -> str:
        """'1.42x (p=0.008)', '1.02x (no significant difference, p=0.69)', '1.10x (too few ...)'."""
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else "-"
        if self.verdict == TOO_FEW:
            return f"{ratio} ({TOO_FEW}: {self.n_a} vs {self.n_b}, need {MIN_REPETITIONS} each)"
        if self.verdict == NOT_SIGNIFICANT:
            return f"{ratio} ({NOT_SIGNIFICANT}, p={self.p_value:.2g})"
        return f"{ratio} (p={self.p_value:.2g})"


    @property
    def verdict_text(self) -> str:
        """The verdict without the ratio: 'p=0.0079', 'no significant difference (p=0.69)', ..."""
        if self.verdict == TOO_FEW:
            return f"{TOO_FEW} ({self.n_a} vs {self.n_b})"
        if self.verdict == NOT_SIGNIFICANT:
            return f"{NOT_SIGNIFICANT} (p={self.p_value:.2g})"
        return f"p={self.p_value:.2g}"


def significance(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Significance:
    """Is B different from A? Mann-Whitney U (two-sided), only with MIN_REPETITIONS per side."""
    ratio = None
    if a and b and statistics.median(a) != 0:
        ratio = statistics.median(b) / statistics.median(a)
    if len(a) < MIN_REPETITIONS or len(b) < MIN_REPETITIONS:
        return Significance(ratio, None, TOO_FEW, len(a), len(b))
    if len(set(a) | set(b)) == 1:  # every value equal: no difference, and scipy would return NaN
        return Significance(ratio, 1.0, NOT_SIGNIFICANT, len(a), len(b))
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return Significance(ratio, p_value, SIGNIFICANT if p_value < alpha else NOT_SIGNIFICANT, len(a), len(b))


def oversubscribed(workers: int, allowed_cpus: float) -> str | None:
    """The warning when workers exceed the CPUs the run may use (None when they do not)."""
    if workers <= allowed_cpus:
        return None
    return (f"{workers} workers on {allowed_cpus:g} allowed CPUs: more workers than CPUs measure memory "
            "and contention, not speed")


def run_warnings(label: str, work: Spread | None, throughput: Spread | None,
                 steal_seconds: float | None = None, wall_seconds: float | None = None) -> list[str]:
    """pyperf-style warnings for one summary: too short, too noisy, CPU time stolen by a hypervisor."""
    found = []
    if work is not None and work.median < SHORT_WORK_SECONDS:
        found.append(f"{label}: the work took only {work.median:.2f} s (under {SHORT_WORK_SECONDS:g} s): "
                     "startup and sampling dominate; use more --images")
    if throughput is not None and throughput.noisy:
        assert throughput.cv is not None
        found.append(f"{label}: too noisy to trust: throughput varies {throughput.cv:.0%} over repetitions "
                     f"(CV above {NOISY_CV:.0%}); close other programs, add --warmup, or raise --repeat")
    if steal_seconds and wall_seconds and steal_seconds > 0.05 * wall_seconds:
        found.append(f"{label}: the hypervisor stole {steal_seconds:.1f} s of CPU in {wall_seconds:.1f} s: "
                     "a noisy neighbour; figures are slower than this machine can do")
    return found
