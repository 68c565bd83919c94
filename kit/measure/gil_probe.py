"""How much of the per-item pipeline runs without the GIL: the figure behind claim 1.

While one thread runs the pipeline over a sample of the batch, a second thread runs a pure-Python
counter, which can only count while it holds the GIL. The counter keeps a share c of its solo rate,
and the pipeline a share p of its solo throughput. The counter always wants the GIL, so the GIL is
held all the time, by one of them: c + g * p = 1, where g is the share of the pipeline's solo time
that needs the GIL. The GIL-free fraction is f = 1 - g = 1 - (1 - c) / p; by Amdahl's law threads
can scale to at most 1 / (1 - f) times one thread, on any number of cores. (c alone is not f: a
pure-Python pipeline and the counter take turns, and the counter keeps half its rate.)

Run by the controller in its own untimed pass, in a fresh interpreter (`python -m kit.measure.gil_probe`)
with no other thread of the kit's, never inside a strategy's sandbox. Limits (docs/measurement.md): both threads
need a core each (a busy machine adds noise; the solo rates are measured before and after, which
absorbs steady load, not bursts); the GIL hand-over interval is cut to 0.5 ms during the probe, so
the pipeline waits less for the GIL after each OpenCV call and the probe disturbs it less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

SKIP_ENV = "KIT_GIL_PROBE"         # "off": no probe (see skipped)
SWITCH_INTERVAL_SECONDS = 0.0005   # how soon the counter hands the GIL back to a pipeline that asks
SOLO_SECONDS = 0.6                 # the counter's solo measurements, over all rounds
MIN_PIPELINE_SECONDS = 2.4         # the pipeline's passes alone, over all rounds
MIN_ITEMS = 4                      # per round
ROUNDS = 3


def skipped(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the probe is not run, or None. KIT_GIL_PROBE=off turns it off where its figure would mean
    nothing and cost minutes: on an emulated CPU (the cgroup v2 test VM, .ci/cgroup-v2-vm) it
    measures the emulator, at 10-50 times the native cost. Claim 1 then stands on the measured
    speedup alone, as it does when the probe fails."""
    value = (os.environ if environ is None else environ).get(SKIP_ENV, "").strip().lower()
    return f"{SKIP_ENV}={value}" if value in ("off", "0", "no", "false") else None


@dataclass(frozen=True, slots=True)
class GilProbe:
    """What the probe measured; `fraction` is recorded as `gil_free_fraction`."""

    fraction: float                    # f: 0 (holds the GIL throughout) to 1 (never holds it)
    counter_share: float               # c: the counter's rate beside the pipeline / alone
    pipeline_share: float              # p: the pipeline's throughput beside the counter / alone
    items: int                         # items of each pipeline pass (alone, then beside the counter)
    pipeline_seconds: float            # the pass alone
    counter_drift: float = 0.0         # |solo rate before - after| / mean: above ~0.1 the machine was busy
    switch_interval_seconds: float = SWITCH_INTERVAL_SECONDS
    round_fractions: tuple[float, ...] = ()   # every round's f, the reported one their median

    @property
    def thread_ceiling(self) -> float | None:
        """Amdahl's bound on threads' speedup over one thread: 1 / (1 - f); None when f is 1."""
        return None if self.fraction >= 1 else 1 / (1 - self.fraction)

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "thread_ceiling": self.thread_ceiling}


def _count_until(stop: threading.Event, counts: list[int]) -> None:
    """Pure Python: every step needs the GIL."""
    n = 0
    while not stop.is_set():
        for _ in range(2000):
            n += 1
    counts.append(n)


def _beside_counter(run: Callable[[], None]) -> tuple[float, float]:
    """(counts per second of a counter thread, seconds of `run`) while `run` runs in this thread."""
    stop, counts = threading.Event(), list[int]()
    counter = threading.Thread(target=_count_until, args=(stop, counts), daemon=True)
    started = time.perf_counter()
    counter.start()
    run()
    elapsed = time.perf_counter() - started
    stop.set()
    counter.join()
    return counts[0] / (time.perf_counter() - started), elapsed


def gil_free_fraction(counter_share: float, pipeline_share: float) -> float:
    """f = 1 - (1 - c) / p, clamped to 0..1 (noise can push it a little outside)."""
    if pipeline_share <= 0:
        return 0.0
    return min(1.0, max(0.0, 1 - (1 - counter_share) / pipeline_share))


def measure(process: Callable[[int], None], count: int, min_seconds: float = MIN_PIPELINE_SECONDS,
            solo_seconds: float = SOLO_SECONDS, rounds: int = ROUNDS) -> GilProbe:
    """Probe `process(i)`, i cycling over 0..count-1, in `rounds` rounds sharing `min_seconds`: each
    round runs the pipeline alone (MIN_ITEMS at least), then the same items beside the counter,
    with the counter alone before and after. The round with the median fraction is reported: a
    burst of other work on a small machine spoils one round, not the figure."""
    found = [_round(process, count, min_seconds / rounds, solo_seconds / rounds) for _ in range(rounds)]
    median = sorted(found, key=lambda probe: probe.fraction)[len(found) // 2]
    return replace(median, round_fractions=tuple(probe.fraction for probe in found))


def _round(process: Callable[[int], None], count: int, min_seconds: float, solo_seconds: float) -> GilProbe:
    passes: list[float] = []
    planned = [0]

    def alone() -> None:
        started = time.perf_counter()
        while planned[0] < MIN_ITEMS or time.perf_counter() - started < min_seconds:
            process(planned[0] % count)
            planned[0] += 1
        passes.append(time.perf_counter() - started)

    def again() -> None:
        for i in range(planned[0]):
            process(i % count)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        solo_before, _ = _beside_counter(lambda: time.sleep(solo_seconds))
        alone()
        beside, beside_seconds = _beside_counter(again)
        solo_after, _ = _beside_counter(lambda: time.sleep(solo_seconds))
    finally:
        sys.setswitchinterval(previous)
    solo = (solo_before + solo_after) / 2
    counter_share = beside / solo if solo > 0 else 0.0
    pipeline_share = passes[0] / beside_seconds if beside_seconds > 0 else 0.0
    return GilProbe(fraction=round(gil_free_fraction(counter_share, pipeline_share), 4),
                    counter_share=round(counter_share, 4), pipeline_share=round(pipeline_share, 4),
                    items=planned[0], pipeline_seconds=round(passes[0], 3),
                    counter_drift=round(abs(solo_before - solo_after) / solo, 4) if solo > 0 else 0.0)


def probe_worker_pipeline(input_root: Path, inputs: Sequence[str], library: str = "opencv") -> GilProbe:
    """The probe over the Python worker's own per-item path: the strategies' `run_item` (read,
    decode, resize, encode, write, timing) and the progress line it prints, as in a sandbox."""
    import io

    from kit.worker.protocol import format_event
    from kit.worker.strategies.base import run_item
    from kit.worker.workloads import workload_for
    from kit.worker.workloads.base import Item

    workload = workload_for("images", library)
    workload.setup()
    sink = io.StringIO()
    origin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kit-gil-probe-") as scratch:
        items = [Item(index=i, name=name, input_path=str(input_root / name), output_path=f"{scratch}/{i}.jpg")
                 for i, name in enumerate(inputs)]

        def process(i: int) -> None:
            sink.write(format_event(run_item(workload, items[i], origin)) + "\n")
            sink.seek(0)
            sink.truncate()

        return measure(process, len(items))


def main(argv: list[str] | None = None) -> int:
    """`python -m kit.measure.gil_probe --input-root DIR NAME...`: the probe as one JSON line on stdout."""
    parser = argparse.ArgumentParser(prog="kit.measure.gil_probe")
    parser.add_argument("--input-root", required=True, type=Path)
    parser.add_argument("--library", default="opencv", choices=("opencv", "pillow"))
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    print(json.dumps(probe_worker_pipeline(args.input_root, args.inputs, args.library).to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
