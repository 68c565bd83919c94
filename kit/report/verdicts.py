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
  same workers and cap, paired by repetition, median and min-max beside 3.7; confirmed when every
  pair reaches 3.7, refuted when every pair is below.
Each verdict is stamped only when its records can carry it (kit/report/evidence.py): otherwise it is
inconclusive, with the reason (contended, too short, spread across the bar, unlike builds) and the
option that would decide it. Claim 1 rests on the measured speedup; the GIL probe only adds its
Amdahl figures, and none when it ran on a busy machine.
"""

from __future__ import annotations

import statistics
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kit.report import evidence, fmt
from kit.report.layout import Axes
from kit.results.summary import Summary

CONFIRMED, REFUTED, INCONCLUSIVE, NOT_MEASURED = "confirmed", "refuted", "inconclusive", "not measured"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE, NOT_MEASURED)
PROBE_DRIFT_BUSY = 0.1   # the probe's counter ran >10% slower after than before: the machine was busy
STUDY_RATIO = 3.7
SCALING_BAR = 0.8


@dataclass(frozen=True, slots=True)
class Claim:
    """One of the study's claims with this run's verdict and the figures that decide it."""

    number: int
    title: str
    study: str        # what seed 000 says, in short
    verdict: str      # one of VERDICTS
    summary: str      # the figure against its bar, or the reason (and what would decide it)
    figures: tuple[str, ...]
    rule: str

    def line(self) -> str:
        """`Claim N <verdict>: <summary>`: what `kit run` prints and the markdown report says."""
        return f"Claim {self.number} {self.verdict}: {self.summary}"

    def lines(self, width: int) -> list[str]:
        """`line()` wrapped between words at `width`, the verdict on the first line."""
        return textwrap.wrap(self.line(), width=max(width, 40), subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False)


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


def claim_threads(groups: Sequence[Summary], probe: Mapping[str, Any] | None = None) -> Claim:
    """Claim 1, with the GIL probe beside it: Amdahl's speedup the probe predicts at the run's
    workers next to the measured one, and its ceiling on any number of cores. A probe that ran on a
    busy machine keeps its number but gives no ceiling; it never decides the claim."""
    claim = _claim_threads(groups)
    fraction, rounds, busy = _probe(groups, probe)
    if fraction is None:
        return claim
    spread = f", rounds {min(rounds):.2f}–{max(rounds):.2f}" if len(rounds) > 1 else ""
    head = f"GIL-free fraction of the Python worker's per-item pipeline f = {fraction:.2f} (untimed probe{spread})"
    if busy:
        figure = f"{head}: the probe ran on a busy machine, so no ceiling is derived from it"
        return replace(claim, figures=(*claim.figures, figure))
    ceiling = "unbounded" if fraction >= 1 else f"{1 / (1 - fraction):.1f}×"
    figures = [f"{head}: Amdahl's ceiling for threads 1/(1−f) = {ceiling} one thread, on any number of cores"]
    for workers, measured in _threads_speedups(groups):
        predicted = 1 / ((1 - fraction) + fraction / workers)
        figures.append(f"at ×{workers} Amdahl predicts {predicted:.2f}×; measured {measured:.2f}×")
    return replace(claim, figures=(*claim.figures, *figures))


def _probe(groups: Sequence[Summary], probe: Mapping[str, Any] | None) -> tuple[float | None, list[float], bool]:
    """(f, its rounds' fractions, ran on a busy machine) from concurrency.gil_probe, else the records'."""
    if probe and isinstance(probe.get("fraction"), int | float):
        rounds = [float(x) for x in probe.get("round_fractions") or [] if isinstance(x, int | float)]
        busy = bool(probe.get("contended")) or float(probe.get("counter_drift") or 0.0) > PROBE_DRIFT_BUSY
        return float(probe["fraction"]), rounds, busy
    fractions = [r.gil_free_fraction for g in groups if g.strategy.startswith("python-") for r in g.records
                 if r.gil_free_fraction is not None]
    return (statistics.median(fractions), [], False) if fractions else (None, [], False)


def _threads_speedups(groups: Sequence[Summary]) -> list[tuple[int, float]]:
    return [(many.workers, statistics.median(ratios)) for many, _, ratios in _thread_pairs(groups)]


def _thread_pairs(groups: Sequence[Summary]) -> list[tuple[Summary, Summary, list[float]]]:
    """(python-threads ×W ≥ 2, its one-thread point at the same cap, paired throughput ratios)."""
    threads = [g for g in _by(groups, "python-threads") if g.throughput]
    sequential = [g for g in _by(groups, "python-sequential") if g.throughput]
    pairs = []
    for many in threads:
        one = (_find(threads, "python-threads", 1, many.memory_limit_bytes)
               or _find(sequential, "python-sequential", 1, many.memory_limit_bytes))
        if many.workers >= 2 and one:
            pairs.append((many, one, _paired_ratios(many, one)))
    return pairs


def _did_not_complete(unfinished: Sequence[Summary]) -> str:
    """python-threads ran at 2+ workers but no repetition finished: why, and what gives it room."""
    worst = max(unfinished, key=lambda g: g.workers)
    outcomes = sorted({r.status for r in worst.records})
    advice = " (raise --mem-limit)" if "oom_killed" in outcomes else ""
    return (f"python-threads ×{worst.workers} did not complete ({', '.join(outcomes)}){advice}: "
            "no throughput to compare")


def _claim_threads(groups: Sequence[Summary]) -> Claim:
    """Claim 1: python-threads scaling against its own one-worker throughput."""
    title = "Python threads are GIL-bound"
    study = "threads 49.56 s vs 11.76 s for Go+GoCV on 6C/12T: 'the GIL bottleneck'"
    rule = (f"refuted when python-threads at W ≥ 2 workers reaches ≥ {SCALING_BAR} × W × the one-thread "
            "throughput at the same cap (python-threads ×1 when measured, else python-sequential); "
            f"confirmed when it falls short; inconclusive on contended records, under "
            f"{evidence.MIN_WORK_SECONDS:g} s of work or repetitions on both sides of the bar")
    pairs = _thread_pairs(groups)
    if not pairs:
        threads = [g for g in _by(groups, "python-threads") if g.throughput]
        measured = ", ".join(map(str, sorted({g.workers for g in threads}))) or "none"
        shown = (f"python-threads measured at workers: {measured}",)
        unfinished = [g for g in _by(groups, "python-threads") if g.workers >= 2 and not g.throughput]
        if unfinished and not any(g.workers >= 2 for g in threads):
            return Claim(1, title, study, NOT_MEASURED, _did_not_complete(unfinished), shown, rule)
        if not any(g.workers >= 2 for g in threads):
            needs = "python-threads at 2 or more workers (-s python-threads --workers 2)"
        else:
            needs = "a one-thread point at the same cap: python-sequential (-s python-sequential) or python-threads ×1"
        return Claim(1, title, study, NOT_MEASURED, f"needs {needs}", shown, rule)
    judged = []
    for many, one, ratios in pairs:
        bar = SCALING_BAR * many.workers
        judged.append((many, one, ratios, bar,
                       evidence.doubt([many, one], ratios, bar, f"python-threads ×{many.workers} / {one.strategy}")))
    figures = tuple(_scaling_figure(many, one, ratios, bar) for many, one, ratios, bar, _ in judged)
    refuting = [j for j in judged if j[4] is None and min(j[2]) >= j[3]]
    if refuting:
        many, one, ratios, bar, _ = max(refuting, key=lambda j: j[0].workers)
        return Claim(1, title, study, REFUTED,
                     f"python-threads ×{many.workers} reached {statistics.median(ratios):.2f}× "
                     f"{one.strategy} ×1's "
                     f"throughput, at or above the {bar:.1f}× bar: OpenCV releases the GIL", figures, rule)
    many, one, ratios, bar, doubt = max(judged, key=lambda j: j[0].workers)
    if doubt is not None:
        return Claim(1, title, study, INCONCLUSIVE, doubt.text(), figures, rule)
    return Claim(1, title, study, CONFIRMED,
                 f"python-threads ×{many.workers} reached only {statistics.median(ratios):.2f}× "
                 f"{one.strategy} ×1's "
                 f"throughput, below the {bar:.1f}× bar", figures, rule)


def _scaling_figure(many: Summary, one: Summary, ratios: list[float], bar: float) -> str:
    assert many.throughput and one.throughput
    spread = f" (range {min(ratios):.2f}–{max(ratios):.2f}, {len(ratios)} pairs)" if len(ratios) > 1 else ""
    return (f"×{many.workers} at {fmt.cap(many.memory_limit_bytes)}: {fmt.rate(many.throughput.median)} vs "
            f"{fmt.rate(one.throughput.median)} items/s for {one.strategy} ×1 = "
            f"{statistics.median(ratios):.2f}×{spread} (bar {bar:.1f}×)")


def claim_processes(groups: Sequence[Summary]) -> Claim:
    """Claim 2: python-processes OOM-killed at a cap its rival survives."""
    title = "Python multiprocessing dies in a pod"
    study = "processes 'consumed over 2 GB' and 'would likely crash (OOM)' in a Kubernetes pod"
    rival = "go-gocv" if _by(groups, "go-gocv") else "python-threads"
    rule = ("confirmed only when python-processes is OOM-killed in every repetition at a cap where go-gocv "
            "(without Go: python-threads) survives at the same workers; refuted when python-processes "
            "survives a cap; inconclusive when it is killed in some repetitions only")
    capped = [g for g in _by(groups, "python-processes") if g.memory_limit_bytes]
    if not capped:
        ran = bool(_by(groups, "python-processes"))
        return Claim(2, title, study, NOT_MEASURED,
                     "python-processes ran without a memory cap: set --mem-limit" if ran
                     else "python-processes did not run: add -s python-processes", (), rule)
    figures, confirming, surviving, mixed = [], [], [], []
    for g in capped:
        other = _find(groups, rival, g.workers, g.memory_limit_bytes)
        figures.append(_cap_figure(g, other, rival))
        if g.oom_killed and len(g.oom_killed) < len(g.records):
            mixed.append(g)
        elif g.oom_killed and other is not None and other.survived:
            confirming.append(g)
        elif g.survived:
            surviving.append(g)
    if confirming:
        g = min(confirming, key=lambda g: g.memory_limit_bytes or 0)
        return Claim(2, title, study, CONFIRMED,
                     f"at {fmt.cap(g.memory_limit_bytes)} with {g.workers} workers python-processes was "
                     f"OOM-killed while {rival} survived", tuple(figures), rule)
    if surviving:
        g = min(surviving, key=lambda g: g.memory_limit_bytes or 0)
        peak = g.all_stat(lambda r: r.peak_memory_bytes)
        return Claim(2, title, study, REFUTED,
                     f"python-processes survived {fmt.cap(g.memory_limit_bytes)} with {g.workers} workers "
                     f"(peak working set {fmt.mib(peak.median if peak else None)})", tuple(figures), rule)
    if mixed:
        g = mixed[0]
        return Claim(2, title, study, INCONCLUSIVE,
                     f"spread across the bar: python-processes was killed in {len(g.oom_killed)} of "
                     f"{len(g.records)} repetitions at {fmt.cap(g.memory_limit_bytes)}, which sits at its floor; "
                     "find the floor with kit floor -s python-processes", tuple(figures), rule)
    ran = bool(_by(groups, rival))
    return Claim(2, title, study, NOT_MEASURED,
                 f"no cap separated them: python-processes was killed but {rival} "
                 + ("did not survive beside it" if ran else f"did not run (add -s {rival})")
                 + "; kit floor finds each strategy's cap", tuple(figures), rule)


def _cap_figure(g: Summary, other: Summary | None, rival: str) -> str:
    peak = g.all_stat(lambda r: r.peak_memory_bytes)
    rss = g.all_stat(lambda r: r.peak_rss_sum_bytes)
    state = (f"killed in {len(g.oom_killed)} of {len(g.records)}" if g.oom_killed
             else "survived" if g.survived else g.outcome)
    other_state = ("not run" if other is None else "survived" if other.survived
                   else f"killed in {len(other.oom_killed)} of {len(other.records)}" if other.oom_killed
                   else other.outcome)
    return (f"cap {fmt.cap(g.memory_limit_bytes)}, ×{g.workers}: python-processes {state} "
            f"(peak working set {fmt.mib(peak.median if peak else None)}, RSS sum "
            f"{fmt.mib(rss.median if rss else None)}); {rival} {other_state}")


def _paired_ratios(mine: Summary, theirs: Summary) -> list[float]:
    """Throughput ratio per repetition (interleaved rounds), else the ratio of medians."""
    a = {r.repetition: r.throughput_items_per_second for r in mine.ok if r.throughput_items_per_second}
    b = {r.repetition: r.throughput_items_per_second for r in theirs.ok if r.throughput_items_per_second}
    common = sorted(set(a) & set(b))
    if common:
        return [a[k] / b[k] for k in common]
    assert mine.throughput and theirs.throughput
    return [mine.throughput.median / theirs.throughput.median]


def claim_gocv(groups: Sequence[Summary]) -> Claim:
    """Claim 3: go-gocv's throughput over the best Python strategy's, same workers and cap, same
    OpenCV build on both sides."""
    title = "Go + GoCV is 3.7× faster than the best Python"
    study = "11.76 s vs 43.54 s for the best Python (processes): 3.7×"
    rule = ("go-gocv / best Python throughput at the same workers and cap, paired by repetition, on the same "
            f"OpenCV version and JPEG library; confirmed when every pair reaches {STUDY_RATIO}×, refuted when "
            "every pair is below; inconclusive on contended records, under "
            f"{evidence.MIN_WORK_SECONDS:g} s of work, unlike builds or pairs on both sides of {STUDY_RATIO}×")
    gocv_groups = [g for g in _by(groups, "go-gocv") if g.throughput]
    if not gocv_groups:
        why = ("go-gocv did not complete on this run" if _by(groups, "go-gocv")
               else "go-gocv did not run on this run: add -s go-gocv")
        return Claim(3, title, study, NOT_MEASURED, why, (), rule)
    comparisons = []
    for gocv in gocv_groups:
        pythons = [g for g in groups if g.strategy.startswith("python-") and g.throughput
                   and g.workers == gocv.workers and g.memory_limit_bytes == gocv.memory_limit_bytes]
        if pythons:
            best = max(pythons, key=lambda g: g.throughput.median if g.throughput else 0.0)
            comparisons.append((gocv, best, _paired_ratios(gocv, best)))
    if not comparisons:
        return Claim(3, title, study, NOT_MEASURED,
                     "no Python strategy completed at go-gocv's workers and cap: run one beside it "
                     "(e.g. -s python-threads) at the same --workers and --mem-limit", (), rule)
    figures = [_gocv_figure(gocv, best, ratios) for gocv, best, ratios in comparisons]
    gocv, best, ratios = max(comparisons, key=lambda c: (c[0].workers, len(c[2])))
    figures.append(f"builds: go-gocv {evidence.describe_build(evidence.build_of(gocv))}; {best.strategy} "
                   f"{evidence.describe_build(evidence.build_of(best))}")
    if stages := _stages_side_by_side(gocv, best):
        figures.append(stages)
    median = statistics.median(ratios)
    doubt = evidence.doubt([gocv, best], ratios, STUDY_RATIO, f"go-gocv / {best.strategy}",
                           extra=evidence.unlike_builds(gocv, best))
    if doubt is not None:
        return Claim(3, title, study, INCONCLUSIVE, doubt.text(), tuple(figures), rule)
    verdict = CONFIRMED if min(ratios) >= STUDY_RATIO else REFUTED
    return Claim(3, title, study, verdict,
                 f"go-gocv ×{gocv.workers} was {median:.2f}× the best Python ({best.strategy}), "
                 f"{'at or above' if verdict == CONFIRMED else 'below'} the study's {STUDY_RATIO}×",
                 tuple(figures), rule)


def _per_item_stages(group: Summary) -> dict[str, float]:
    """Median CPU milliseconds per finished item of each stage, and of the rest of the record's CPU."""
    found: dict[str, list[float]] = {}
    for r in group.ok:
        if not r.stage_seconds or not r.items_ok:
            continue
        for stage, seconds in [*r.stage_seconds.items(), ("rest", r.cpu_seconds - sum(r.stage_seconds.values()))]:
            found.setdefault(stage, []).append(1000 * seconds / r.items_ok)
    return {stage: statistics.median(values) for stage, values in found.items()}


def _stages_side_by_side(gocv: Summary, python: Summary) -> str | None:
    """Where each side's CPU goes per item: the same C++ decode shows as the same decode time."""
    ours, theirs = _per_item_stages(gocv), _per_item_stages(python)
    shared = [stage for stage in ours if stage in theirs]
    if not shared:
        return None
    parts = ", ".join(f"{stage} {ours[stage]:.1f} vs {theirs[stage]:.1f}" for stage in shared)
    return f"CPU ms per image, go-gocv vs {python.strategy}: {parts} (rest: start-up, pools, the kit's own work)"


def _gocv_figure(gocv: Summary, best: Summary, ratios: list[float]) -> str:
    spread = f" (range {min(ratios):.2f}–{max(ratios):.2f}, {len(ratios)} pairs)" if len(ratios) > 1 else ""
    return (f"×{gocv.workers} at {fmt.cap(gocv.memory_limit_bytes)}: go-gocv / {best.strategy} = "
            f"{statistics.median(ratios):.2f}×{spread} vs the study's {STUDY_RATIO}×")


def claims(groups: Sequence[Summary], probe: Mapping[str, Any] | None = None) -> list[Claim]:
    """The study's three claims; `probe` is results.json's concurrency.gil_probe."""
    return [claim_threads(groups, probe), claim_processes(groups), claim_gocv(groups)]
