"""`kit report RUN_DIR --format markdown|csv|json`: the results as text for a pull request, an
issue, a spreadsheet or another tool, from results.json alone (like report.html)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.core.errors import ConfigError
from kit.report import fmt
from kit.report.render import contended_mark, read_results
from kit.report.verdicts import claims
from kit.results.records import StrategyRecord, record_from_json, to_csv
from kit.results.summary import no_oom_lines, summarize

MARKDOWN_COLUMNS = ("strategy", "workers", "cap", "n", "work s", "rate", "peak working set", "CPU (cores)",
                    "verified", "outcome")


def _records(data: dict[str, Any]) -> list[StrategyRecord]:
    try:
        return [record_from_json(r) for r in data.get("results", [])]
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"not a kit results file ({type(exc).__name__}: {exc})") from None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(data: dict[str, Any]) -> str:
    """The study table (medians, min-max over repetitions) and the claims' verdicts, in Markdown."""
    records = [r for r in _records(data) if not r.warmup]
    groups = summarize(records)
    unit = records[0].unit if records else "images"
    header = [f"{unit}/s" if name == "rate" else name for name in MARKDOWN_COLUMNS]
    lines = [f"**Concurrency Wars** run `{data.get('run_id', '?')}`: workload "
             f"{records[0].workload if records else '?'}, throughput in {unit}/s (median, min–max over n)", "",
             "| " + " | ".join(header) + " |",
             "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for g in groups:
        work = g.timed_stat(lambda r: r.work_seconds)
        peak = g.all_stat(lambda r: r.peak_memory_bytes)
        cpu = g.timed_stat(lambda r: r.cpu_utilization)
        verified = "–" if not g.ok else "yes" if all(r.verified for r in g.ok) else "NO"
        cells = [g.strategy, str(g.workers), fmt.cap(g.memory_limit_bytes), str(len(g.records)),
                 fmt.stat_text(work), fmt.stat_text(g.throughput), fmt.stat_text(peak, fmt.mib),
                 fmt.stat_text(cpu), verified, g.outcome + (f", {busy}" if (busy := contended_mark(g)) else "")]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if no_oom := no_oom_lines(records):   # a cap that killed nobody: the highest peak against it
        lines += ["", *no_oom]
    if data.get("workload", {}).get("name", "images") == "images" and groups:
        lines.append("")
        for claim in claims(groups, (data.get("concurrency") or {}).get("gil_probe")):
            lines.append(f"- **Claim {claim.number} {claim.verdict}**: {claim.summary} ({claim.title})")
    return "\n".join(lines) + "\n"


def render_text(run_dir: Path, output_format: str) -> str:
    """One of markdown, csv, json for RUN_DIR's results.json."""
    _, data = read_results(run_dir)
    if output_format == "json":
        return json.dumps(data, indent=1) + "\n"
    if output_format == "csv":
        return to_csv(_records(data))
    if output_format == "markdown":
        return markdown(data)
    raise ConfigError(f"--format {output_format!r}: choose html, markdown, csv or json")
