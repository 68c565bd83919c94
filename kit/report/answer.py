"""The run's answer in the terminal: one line per claim after the tables, in the words of the
markdown and HTML reports (`Claim N <verdict>: <figure against its bar, or the reason>`), wrapped
between words at the terminal's width with the verdict on the first line."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from kit.report import seed001
from kit.report.verdicts import claims
from kit.results.records import StrategyRecord
from kit.results.summary import summarize


def verdict_lines(records: Sequence[StrategyRecord], concurrency: Mapping[str, Any],
                  workload: Mapping[str, Any], width: int) -> list[str]:
    """The study's three claims for an images run; seed 001's for pi, count and payload."""
    groups = summarize([r for r in records if not r.warmup])
    if not groups:
        return []
    name = str(workload.get("name") or "images")
    if name == "images":
        return [line for claim in claims(groups, concurrency.get("gil_probe")) for line in claim.lines(width)]
    found = seed001.claims(groups, name, workload)
    return [line for claim in found
            for line in textwrap.wrap(f"Seed 001 claim {claim.number} {claim.verdict}: {claim.summary}",
                                      width=max(width, 40), subsequent_indent="  ", break_long_words=False,
                                      break_on_hyphens=False)]
