"""Issue 26: warnings that concern the user's request, once; `kit doctor`'s optional extras apart
from what is wrong; a cap that killed nobody says so, with the highest peak against it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from kit.report.console import after_table_warnings, doctor_lines
from kit.report.formats import markdown
from kit.report.render import render_html
from kit.report.verdicts import claim_processes
from kit.results.summary import no_oom_lines, summarize
from kit.run.choose import availability_lines, gist
from kit.worker.programs import NAMES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_compare import rec, results  # noqa: E402

MIB = 2**20
FREE_THREADED = ("no free-threaded (cp313t) OpenCV wheel exists: PyPI's opencv-python-headless ships cp37-abi3 "
                 "wheels only, which a free-threaded CPython cannot load; use --library pillow")


def test_naming_the_strategies_silences_the_others(tmp_path: Path) -> None:
    assert availability_lines("cgroup", tmp_path, asked=("python-processes",)) == []
    lines = availability_lines("cgroup", tmp_path)
    unavailable = [line for line in lines[1:] if "not available" in line]
    assert len({line.split()[0] for line in unavailable}) == len(unavailable)     # one line each
    assert any(line.startswith("  python-threads-ft not available:") for line in unavailable)


def test_a_reason_before_a_run_is_its_gist_unless_it_names_the_fix() -> None:
    assert gist(FREE_THREADED) == "no free-threaded (cp313t) OpenCV wheel exists"
    fix = "not built for these Go sources yet: run `kit setup` (or `kit build --target host`)"
    assert gist(fix) == fix
    assert gist("go-gocv does not run pi") == "go-gocv does not run pi"


def test_skipped_strategies_are_not_repeated_after_the_table() -> None:
    warnings = [f"python-threads-ft skipped: {FREE_THREADED}", "python-processes x2: the work took only 0.9 s"]
    assert after_table_warnings(warnings) == warnings[1:]
    assert all(after_table_warnings([f"{name} skipped: x"]) == [] for name in NAMES)


def test_doctor_puts_optional_extras_apart_and_only_needed_checks_fail() -> None:
    lines, failed = doctor_lines([("cgroup v2: a child group with a memory cap", None)],
                                 [("free-threaded CPython (for python-threads-ft)", "run `kit setup --free-threaded`")],
                                 [("virtual machine", "a hypervisor may take CPU time")])
    text = "\n".join(lines)
    assert not failed
    assert text.index("needed for runs") < text.index("optional extras") < text.index("what can skew figures")
    extra = next(line for line in lines if "free-threaded" in line)
    assert extra.startswith("[dim] -- [/dim]") and "not set up" in extra and "warn" not in extra
    assert doctor_lines([("metrics port free", "port 9464 is taken")], [], [])[1]


def test_a_cap_that_killed_nobody_gives_the_highest_peak_against_it() -> None:
    records = [rec("python-sequential", workers=1, cap=2**30, peak=80 * MIB),
               rec("python-processes", cap=2**30, peak=160 * MIB)]
    lines = no_oom_lines(records)
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("no strategy was OOM-killed under the 1.00 GiB cap")
    assert "python-processes x2 at 160 MiB (16% of the cap)" in line
    assert "more workers raise the peak" in line and "`kit floor`" in line
    assert no_oom_lines([replace(r, memory_limit_bytes=None) for r in records]) == []     # no cap: nothing
    killed = [*records, rec("python-processes", cap=2**30, status="oom_killed", repetition=1)]
    assert no_oom_lines(killed) == []
    data = json.loads(json.dumps(results(records)))
    assert line in markdown(data) and "no strategy was OOM-killed under the 1.00 GiB cap" in render_html(data)


def test_claim_2_does_not_say_an_unrun_rival_did_not_survive() -> None:
    killed = [rec("python-processes", cap=256 * MIB, status="oom_killed")]
    claim = claim_processes(summarize(killed))
    assert "did not survive" not in claim.summary and "python-threads did not run" in claim.summary
    assert "-s python-threads" in claim.summary
    beside = [*killed, rec("python-threads", cap=256 * MIB, status="oom_killed")]
    assert "did not survive" in claim_processes(summarize(beside)).summary


def test_the_runs_warnings_follow_its_table_on_stdout_and_stderr_stays_for_the_commands_troubles(
        tmp_path: Path) -> None:
    """A short run's and an oversubscribed run's warnings qualify the table: they are printed with it,
    on stdout (the report keeps them too), so a clean command's stderr is empty."""
    import io

    from kit.plan.config import RunConfig
    from kit.report.console import Consoles, WordConsole
    from kit.results.records import RunResults, save
    from kit.run.race import _after, run_race

    said = Consoles(out=WordConsole(file=io.StringIO(), width=200), err=WordConsole(file=io.StringIO(), width=200))
    short = ("python-sequential x1: the work took only 0.06 s (under 1 s): startup and sampling dominate; "
             "use more --images")
    results = RunResults(run_id="r", command=["kit", "run"], config={}, environment={}, concurrency={}, inputs={},
                         records=[rec("python-sequential", workers=1)],
                         warnings=["12 workers on 0.5 allowed CPUs: more workers than CPUs measure memory", short])
    save(results, tmp_path)
    _after(results, tmp_path, run_race(RunConfig()), said)
    out, err = (console.file.getvalue() for console in (said.out, said.err))   # type: ignore[attr-defined]
    assert err == ""
    assert f"warning: {short}\n" in out and "warning: 12 workers on 0.5 allowed CPUs" in out
    assert out.index("python-sequential") < out.index("warning:") < out.index("report: ")
