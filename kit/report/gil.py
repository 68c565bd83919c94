"""Issue 16's verdicts on the free-threaded build (python-threads-ft), each by a stated rule:

- "Threads scale once the GIL is gone": python-threads-ft's speedup at W >= 2 workers over its own
  one-worker throughput, same cap; confirmed when it reaches SCALES x W (parallel efficiency), refuted
  below. Without a one-worker point the sandbox's cores busy (CPU seconds from the cgroup / wall)
  decide instead, by the same bar (SCALES x W cores). python-threads (the GIL build) is shown beside
  it, as are python-processes and go-native when the run has them.
- "The free-threaded build is substantially slower single-threaded" (the Python 3.13 docs: "expect
  ... a substantial single-threaded performance hit"): cost = 1 - python-threads-ft's one-worker
  throughput / the GIL build's (python-threads at one worker, else python-sequential), same cap;
  confirmed when the cost is at least SUBSTANTIAL, refuted below. The two interpreters' versions are
  shown: when they differ, the figure includes what changed between the versions too.
Not measured when the run has no python-threads-ft records: the verdicts say what would measure them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kit.report import fmt
from kit.report.verdicts import CONFIRMED, NOT_MEASURED, REFUTED, Claim
from kit.results.summary import Summary

FT, GIL, SEQUENTIAL = "python-threads-ft", "python-threads", "python-sequential"
OTHERS = ("python-processes", "go-native")
SCALES = 0.75        # parallel efficiency that counts as scaling (1.5x / 1.5 cores at 2 workers)
SUBSTANTIAL = 0.10   # a single-thread cost at least this large is "substantial"
WORKLOADS = ("pi", "count", "images")


def _at(groups: Sequence[Summary], strategy: str, workers: int, cap: int | None) -> Summary | None:
    return next((g for g in groups if g.key == (strategy, workers, cap) and g.throughput), None)


def _busy(group: Summary | None) -> float | None:
    return group.cpu_utilization.median if group and group.cpu_utilization else None


def _speedup(groups: Sequence[Summary], strategy: str, workers: int, cap: int | None) -> float | None:
    many, one = _at(groups, strategy, workers, cap), _at(groups, strategy, 1, cap)
    if many is None or one is None or not many.throughput or not one.throughput or not one.throughput.median:
        return None
    return many.throughput.median / one.throughput.median


def _line(groups: Sequence[Summary], strategy: str, workers: int, cap: int | None) -> str | None:
    """'python-threads: 1.02× over 1 worker, 1.00 → 1.01 cores busy' (what the run has of it)."""
    many = _at(groups, strategy, workers, cap)
    if many is None:
        return None
    speedup = _speedup(groups, strategy, workers, cap)
    one = _busy(_at(groups, strategy, 1, cap))
    busy = _busy(many)
    parts = [f"{fmt.ratio(speedup)} over 1 worker" if speedup is not None else "no one-worker point",
             f"cores busy {'' if one is None else f'{one:.2f} → '}{'–' if busy is None else f'{busy:.2f}'}"]
    return f"{strategy} ×{workers}: " + ", ".join(parts)


def _python(concurrency: Mapping[str, Any], strategy: str) -> str:
    workers = concurrency.get("workers") if isinstance(concurrency.get("workers"), Mapping) else {}
    info = workers.get(strategy) if isinstance(workers, Mapping) else None
    if not isinstance(info, Mapping):
        return "?"
    gil = info.get("gil_enabled")
    return f"Python {info.get('python', '?')}" + ("" if gil is None else f", GIL {'on' if gil else 'off'}")


def _absent(workload: str) -> str:
    return ("This run has no python-threads-ft records: kit setup --free-threaded builds the interpreter, "
            f"then kit sweep --workload {workload} -s python-threads-ft -s python-threads --workers 1,2 "
            "measures both verdicts" + (" (images: with --library pillow)" if workload == "images" else "") + ".")


def claim_threads_scale(groups: Sequence[Summary], concurrency: Mapping[str, Any], workload: str) -> Claim:
    title = "Threads scale once the GIL is gone"
    study = ("PEP 703 / issue 16: without the GIL, threads running pure Python use one core each; with it "
             "(python-threads) they share one")
    rule = (f"speedup = python-threads-ft's throughput at W ≥ 2 workers / its own at 1 worker, same cap; "
            f"confirmed when ≥ {SCALES:g} × W, refuted below; without a one-worker point, its cores busy "
            f"(cgroup CPU seconds / wall) against {SCALES:g} × W instead. The GIL build and the others at the "
            "same W are shown beside it")
    points = sorted((g for g in groups if g.strategy == FT and g.workers >= 2 and g.throughput),
                    key=lambda g: (g.workers, -(g.memory_limit_bytes or 0)))
    if not points:
        return Claim(1, title, study, NOT_MEASURED, _absent(workload), (), rule)
    many = points[-1]
    workers, cap = many.workers, many.memory_limit_bytes
    figures = [line for name in (FT, GIL, *OTHERS) if (line := _line(groups, name, workers, cap))]
    figures.append(f"interpreters: python-threads-ft {_python(concurrency, FT)}; python-threads "
                   f"{_python(concurrency, GIL)}")
    speedup, busy = _speedup(groups, FT, workers, cap), _busy(many)
    bar = SCALES * workers
    if speedup is not None:
        measured, figure = speedup, f"sped up {speedup:.2f}× at {workers} workers"
    elif busy is not None:
        measured, figure = busy, f"kept {busy:.2f} cores busy at {workers} workers (no one-worker point)"
    else:
        return Claim(1, title, study, NOT_MEASURED, "No throughput or CPU figure for python-threads-ft.",
                     tuple(figures), rule)
    gil = _line(groups, GIL, workers, cap)
    contrast = f" (python-threads: {gil.split(': ', 1)[1]})" if gil else ""
    if measured >= bar:
        return Claim(1, title, study, CONFIRMED, f"python-threads-ft {figure}, at least {bar:g}{contrast}.",
                     tuple(figures), rule)
    return Claim(1, title, study, REFUTED, f"python-threads-ft only {figure}, below {bar:g}{contrast}.",
                 tuple(figures), rule)


def claim_single_thread_cost(groups: Sequence[Summary], concurrency: Mapping[str, Any], workload: str) -> Claim:
    title = "The free-threaded build is substantially slower single-threaded"
    study = ("Python 3.13 docs (free threading HOWTO): “expect some bugs and a substantial single-threaded "
             "performance hit”")
    rule = (f"cost = 1 − python-threads-ft's throughput at 1 worker / the GIL build's (python-threads at 1 "
            f"worker, else python-sequential), same cap; confirmed when ≥ {SUBSTANTIAL:.0%}, refuted below")
    for ft in sorted((g for g in groups if g.strategy == FT and g.workers == 1 and g.throughput),
                     key=lambda g: g.memory_limit_bytes or 0):
        base = _at(groups, GIL, 1, ft.memory_limit_bytes) or _at(groups, SEQUENTIAL, 1, ft.memory_limit_bytes)
        if base is None or not base.throughput or not ft.throughput or not base.throughput.median:
            continue
        ratio = ft.throughput.median / base.throughput.median
        cost = 1 - ratio
        versions = (f"python-threads-ft {_python(concurrency, FT)}; {base.strategy} "
                    f"{_python(concurrency, base.strategy)}")
        figures = (f"1 worker at {fmt.cap(ft.memory_limit_bytes)}: python-threads-ft {fmt.rate(ft.throughput.median)}"
                   f" {'tasks' if workload != 'images' else 'images'}/s, {base.strategy} "
                   f"{fmt.rate(base.throughput.median)}: {ratio:.2f}× its throughput", f"interpreters: {versions}")
        differ = _python(concurrency, FT).split(",")[0] != _python(concurrency, base.strategy).split(",")[0]
        note = " (the two interpreters are different Python versions: the figure includes that change)" \
            if differ else ""
        if cost >= SUBSTANTIAL:
            return Claim(2, title, study, CONFIRMED, f"One free-threaded worker ran {cost:.0%} slower than one "
                         f"{base.strategy} worker{note}.", figures, rule)
        return Claim(2, title, study, REFUTED, f"One free-threaded worker ran only {cost:.0%} slower than one "
                     f"{base.strategy} worker (below {SUBSTANTIAL:.0%}){note}." if cost > 0 else
                     f"One free-threaded worker was not slower than one {base.strategy} worker "
                     f"({ratio:.2f}× its throughput){note}.", figures, rule)
    return Claim(2, title, study, NOT_MEASURED,
                 _absent(workload) if not any(g.strategy == FT for g in groups) else
                 "Needs python-threads-ft at 1 worker and python-threads at 1 worker (or python-sequential) at "
                 "the same cap.", (), rule)


def claims(groups: Sequence[Summary], workload: str, concurrency: Mapping[str, Any]) -> list[Claim]:
    """The two cards for pi and count always; for images only when the run has python-threads-ft
    (with OpenCV it cannot run: no free-threaded OpenCV wheel)."""
    if workload not in WORKLOADS or (workload == "images" and not any(g.strategy == FT for g in groups)):
        return []
    return [claim_threads_scale(groups, concurrency, workload),
            claim_single_thread_cost(groups, concurrency, workload)]
