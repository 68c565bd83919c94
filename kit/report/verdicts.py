"""The report's verdicts: headline findings and the study's three claims, by stated rules.

Rules (issue 6; product.md section 1 for the claims):
- claim 1, threads are GIL-bound: refuted when python-threads at W >= 2 workers reaches at least
  0.8 x W x the one-thread throughput at the same cap; confirmed when it falls short. The
  one-thread point is python-threads at 1 worker when measured, else python-sequential (the same
  pipeline on one thread, without the pool: the default run has it, so it decides the claim);
  not measured without a W >= 2 point and a one-thread point.
- claim 2, processes die in a pod: confirmed only when python-processes is OOM-killed at a cap
  where go-gocv (or, in a run without go-gocv, python-threads) survives at the same workers;
  refuted when python-processes survives a cap; otherwise not measured.
- claim 3, GoCV 3.7x the best Python: the throughput ratio go-gocv / best Python strategy at the
  same workers and cap, paired by repetition, median and min-max beside 3.7; confirmed when the
  measured range reaches 3.7, refuted when all of it is below.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kit.report import fmt
from kit.report.layout import Axes
from kit.summary import Summary

CONFIRMED, REFUTED, NOT_MEASURED = "confirmed", "refuted", "not measured"
STUDY_RATIO = 3.7
SCALING_BAR = 0.8


@dataclass(frozen=True, slots=True)
class Claim:
    """One of the study's claims with this run's verdict and the figures that decide it."""

    number: int
    title: str
    study: str        # what seed 000 says, in short
    verdict: str      # CONFIRMED, REFUTED or NOT_MEASURED
    summary: str      # one sentence
    figures: tuple[str, ...]
    rule: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A headline: 'Fastest' -> 'python-processes ×2', with the figure that makes it so."""

    label: str
    value: str
    detail: str
    tone: str = "neutral"   # neutral, good, bad


def _by(groups: Sequence[Summary], strategy: str) -> list[Summary]:
    return [g for g in groups if g.strategy == strategy]


def _find(groups: Sequence[Summary], strategy: str, workers: int, cap: int | None) -> Summary | None:
    for g in groups:
        if g.key == (strategy, workers, cap):
            return g
    return None


def headlines(groups: Sequence[Summary], axes: Axes, unit: str) -> list[Finding]:
    """Fastest, most memory-efficient, and who the cap killed."""
    found: list[Finding] = []
    measured = [g for g in groups if g.throughput]
    if measured:
        best = max(measured, key=lambda g: g.throughput.median if g.throughput else 0.0)
        work = best.timed_stat(lambda r: r.work_seconds)
        found.append(Finding("Fastest", axes.label(best),
                             f"{fmt.stat_text(best.throughput)} {unit}/s · "
                             f"{fmt.seconds(work.median if work else None)} for "
                             f"{best.records[0].items_total} {unit}", "good"))
        efficient = max(measured, key=lambda g: g.per_mib.median if g.per_mib else 0.0)
        peak = efficient.all_stat(lambda r: r.peak_memory_bytes)
        found.append(Finding("Most memory-efficient", axes.label(efficient),
                             f"{fmt.stat_text(efficient.per_mib, fmt.small)} {unit}/s per MiB · "
                             f"peak {fmt.mib(peak.median if peak else None)}", "good"))
    else:
        found.append(Finding("Fastest", "none completed", "no strategy finished its batch", "bad"))
    killed = [g for g in groups if g.oom_killed]
    if killed:
        parts = []
        for g in killed:
            reps = f" ({len(g.oom_killed)} of {len(g.records)} runs)" if len(g.records) > 1 else ""
            parts.append(f"{axes.label(g)} under {fmt.cap(g.memory_limit_bytes)}{reps}")
        found.append(Finding("OOM-killed", ", ".join(sorted({g.strategy for g in killed})),
                             "; ".join(parts), "bad"))
    else:
        capped = any(g.memory_limit_bytes for g in groups)
        found.append(Finding("OOM-killed", "none",
                             "every strategy stayed under its cap" if capped
                             else "no memory cap was set (--mem-limit)", "good" if capped else "neutral"))
    return found


def claim_threads(groups: Sequence[Summary]) -> Claim:
    """Claim 1, with the GIL probe's figure: the ceiling the pipeline's GIL-held share puts on
    threads on any machine, beside the speedup measured on this one."""
    claim = _claim_threads(groups)
    fractions = [r.gil_free_fraction for g in groups if g.strategy.startswith("python-") for r in g.records
                 if r.gil_free_fraction is not None]
    if not fractions:
        return claim
    fraction = statistics.median(fractions)
    ceiling = "unbounded" if fraction >= 1 else f"{1 / (1 - fraction):.1f}×"
    figure = (f"GIL-free fraction of the Python worker's per-item pipeline f = {fraction:.2f} (untimed probe): "
              f"Amdahl's ceiling for threads 1/(1−f) = {ceiling} one thread, on any number of cores")
    return replace(claim, figures=(*claim.figures, figure))


def _claim_threads(groups: Sequence[Summary]) -> Claim:
    """Claim 1: python-threads scaling against its own one-worker throughput."""
    title = "Python threads are GIL-bound"
    study = "threads 49.56 s vs 11.76 s for Go+GoCV on 6C/12T: 'the GIL bottleneck'"
    rule = (f"refuted when python-threads at W ≥ 2 workers reaches ≥ {SCALING_BAR} × W × the one-thread "
            "throughput at the same cap (python-threads ×1 when measured, else python-sequential); "
            "not measured without both points")
    threads = [g for g in _by(groups, "python-threads") if g.throughput]
    sequential = [g for g in _by(groups, "python-sequential") if g.throughput]
    pairs = []
    for many in threads:
        one = (_find(threads, "python-threads", 1, many.memory_limit_bytes)
               or _find(sequential, "python-sequential", 1, many.memory_limit_bytes))
        if many.workers >= 2 and one and one.throughput and many.throughput:
            pairs.append((many, one, many.throughput.median / one.throughput.median))
    if not pairs:
        have = sorted({g.workers for g in threads})
        figures = [f"python-threads measured at workers: {', '.join(map(str, have)) or 'none'}"]
        if not any(g.workers >= 2 for g in threads):
            needs = "python-threads at 2 or more workers (-s python-threads --workers 2)"
        else:
            needs = "a one-thread point at the same cap: python-sequential (-s python-sequential) or python-threads ×1"
        return Claim(1, title, study, NOT_MEASURED, f"Needs {needs}.", tuple(figures), rule)
    figures = []
    refuting = []
    for many, one, scaling in pairs:
        bar = SCALING_BAR * many.workers
        assert many.throughput and one.throughput
        figures.append(f"×{many.workers} at {fmt.cap(many.memory_limit_bytes)}: "
                       f"{fmt.rate(many.throughput.median)} vs {fmt.rate(one.throughput.median)} items/s "
                       f"for {one.strategy} ×1 = {scaling:.2f}× (bar {bar:.1f}×)")
        if scaling >= bar:
            refuting.append((many, scaling))
    if refuting:
        many, scaling = max(refuting, key=lambda p: p[0].workers)
        return Claim(1, title, study, REFUTED,
                     f"Threads scaled {scaling:.2f}× at {many.workers} workers: OpenCV releases the GIL.",
                     tuple(figures), rule)
    many, _, scaling = max(pairs, key=lambda p: p[0].workers)
    return Claim(1, title, study, CONFIRMED,
                 f"Threads reached only {scaling:.2f}× at {many.workers} workers "
                 f"(below {SCALING_BAR * many.workers:.1f}×).", tuple(figures), rule)


def claim_processes(groups: Sequence[Summary]) -> Claim:
    """Claim 2: python-processes OOM-killed at a cap its rival survives."""
    title = "Python multiprocessing dies in a pod"
    study = "processes 'consumed over 2 GB' and 'would likely crash (OOM)' in a Kubernetes pod"
    rival = "go-gocv" if _by(groups, "go-gocv") else "python-threads"
    rule = ("confirmed only when python-processes is OOM-killed at a cap where go-gocv (without Go: "
            "python-threads) survives at the same workers; refuted when python-processes survives a cap")
    capped = [g for g in _by(groups, "python-processes") if g.memory_limit_bytes]
    if not capped:
        ran = bool(_by(groups, "python-processes"))
        return Claim(2, title, study, NOT_MEASURED,
                     "python-processes ran without a memory cap (set --mem-limit)." if ran
                     else "python-processes did not run.", (), rule)
    figures, confirming, surviving = [], [], []
    for g in capped:
        other = _find(groups, rival, g.workers, g.memory_limit_bytes)
        peak = g.all_stat(lambda r: r.peak_memory_bytes)
        rss = g.all_stat(lambda r: r.peak_rss_sum_bytes)
        state = (f"killed in {len(g.oom_killed)} of {len(g.records)}" if g.oom_killed
                 else "survived" if g.survived else g.outcome)
        other_state = ("not run" if other is None else "survived" if other.survived
                       else f"killed in {len(other.oom_killed)} of {len(other.records)}" if other.oom_killed
                       else other.outcome)
        figures.append(f"cap {fmt.cap(g.memory_limit_bytes)}, ×{g.workers}: python-processes {state} "
                       f"(peak working set {fmt.mib(peak.median if peak else None)}, RSS sum "
                       f"{fmt.mib(rss.median if rss else None)}); {rival} {other_state}")
        if g.oom_killed and other is not None and other.survived:
            confirming.append(g)
        elif g.survived:
            surviving.append(g)
    if confirming:
        g = min(confirming, key=lambda g: g.memory_limit_bytes or 0)
        return Claim(2, title, study, CONFIRMED,
                     f"At {fmt.cap(g.memory_limit_bytes)} with {g.workers} workers python-processes was "
                     f"OOM-killed while {rival} survived.", tuple(figures), rule)
    if surviving:
        g = min(surviving, key=lambda g: g.memory_limit_bytes or 0)
        peak = g.all_stat(lambda r: r.peak_memory_bytes)
        return Claim(2, title, study, REFUTED,
                     f"python-processes survived {fmt.cap(g.memory_limit_bytes)} with {g.workers} workers "
                     f"(peak working set {fmt.mib(peak.median if peak else None)}).", tuple(figures), rule)
    # issue 26: a rival that did not run at those workers and caps cannot have "not survived"
    if not any(_find(groups, rival, g.workers, g.memory_limit_bytes) for g in capped):
        return Claim(2, title, study, NOT_MEASURED,
                     f"python-processes was killed, but {rival} did not run beside it at the same workers and "
                     f"cap: add -s {rival} to measure the claim.", tuple(figures), rule)
    return Claim(2, title, study, NOT_MEASURED,
                 f"No cap separated them: python-processes was killed but {rival} did not survive "
                 "beside it (`kit floor` finds each strategy's cap).", tuple(figures), rule)


def _paired_ratios(gocv: Summary, python: Summary) -> list[float]:
    """go-gocv / Python throughput per repetition (interleaved rounds), else the ratio of medians."""
    mine = {r.repetition: r.throughput_items_per_second for r in gocv.ok if r.throughput_items_per_second}
    theirs = {r.repetition: r.throughput_items_per_second for r in python.ok
              if r.throughput_items_per_second}
    common = sorted(set(mine) & set(theirs))
    if common:
        return [mine[k] / theirs[k] for k in common]
    assert gocv.throughput and python.throughput
    return [gocv.throughput.median / python.throughput.median]


def claim_gocv(groups: Sequence[Summary]) -> Claim:
    """Claim 3: go-gocv's throughput over the best Python strategy's, same workers and cap."""
    title = "Go + GoCV is 3.7× faster than the best Python"
    study = "11.76 s vs 43.54 s for the best Python (processes): 3.7×"
    rule = ("go-gocv / best Python throughput at the same workers and cap, paired by repetition; "
            f"confirmed when the measured range reaches {STUDY_RATIO}×, refuted when all of it is below")
    gocv_groups = [g for g in _by(groups, "go-gocv") if g.throughput]
    if not gocv_groups:
        why = ("go-gocv did not complete on this run" if _by(groups, "go-gocv")
               else "go-gocv did not run on this run: add -s go-gocv (`sudo .venv/bin/kit setup --with-deps` "
                    "prepares it once)")
        return Claim(3, title, study, NOT_MEASURED, f"The strategy {why}.", (), rule)
    comparisons = []
    for gocv in gocv_groups:
        pythons = [g for g in groups if g.strategy.startswith("python-") and g.throughput
                   and g.workers == gocv.workers and g.memory_limit_bytes == gocv.memory_limit_bytes]
        if pythons:
            best = max(pythons, key=lambda g: g.throughput.median if g.throughput else 0.0)
            comparisons.append((gocv, best, _paired_ratios(gocv, best)))
    if not comparisons:
        return Claim(3, title, study, NOT_MEASURED,
                     "No Python strategy completed at go-gocv's workers and cap: run one beside it "
                     "(e.g. -s python-threads) at the same --workers and --mem-limit.", (), rule)
    figures = []
    for gocv, best, ratios in comparisons:
        spread = (f" (range {min(ratios):.2f}–{max(ratios):.2f}, {len(ratios)} pairs)"
                  if len(ratios) > 1 else "")
        figures.append(f"×{gocv.workers} at {fmt.cap(gocv.memory_limit_bytes)}: go-gocv / {best.strategy} = "
                       f"{statistics.median(ratios):.2f}×{spread} vs the study's {STUDY_RATIO}×")
    gocv, best, ratios = max(comparisons, key=lambda c: (c[0].workers, len(c[2])))
    median = statistics.median(ratios)
    verdict = CONFIRMED if max(ratios) >= STUDY_RATIO else REFUTED
    return Claim(3, title, study, verdict,
                 f"go-gocv was {median:.2f}× the best Python ({best.strategy}) at {gocv.workers} workers, "
                 f"against the study's {STUDY_RATIO}×.", tuple(figures), rule)


def claims(groups: Sequence[Summary]) -> list[Claim]:
    return [claim_threads(groups), claim_processes(groups), claim_gocv(groups)]
